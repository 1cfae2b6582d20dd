// SPDX-License-Identifier: MIT
//
// AsyncCall: one call made with Client::CallAsync(), as its PendingCall and
// the library share it. The library keeps the call's callback as an
// AsyncCallCallback wherever the call waits (the pending-request table, the
// calls parked while disconnected, the dispatch thread's queue), and that
// callback hands the outcome on only if PendingCall::Cancel() has not taken
// the application's callback first. So the application's callback runs
// exactly once, with the outcome or with CANCELLED, whichever claims it
// first, and the call's request id is known to Cancel() even after a
// reconnect sends a parked call under a new one.
//
// Thread-safe. Its lock is never held while Client::Impl's is.
#ifndef SWITCHBOARD_CLIENT_SRC_ASYNC_CALL_H_
#define SWITCHBOARD_CLIENT_SRC_ASYNC_CALL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "switchboard/client.h"
#include "switchboard/payload.h"

namespace switchboard::client {

class AsyncCall {
 public:
  explicit AsyncCall(CallCallback done) : done_(std::move(done)) {}
  AsyncCall(const AsyncCall&) = delete;
  AsyncCall& operator=(const AsyncCall&) = delete;

  // The library has the call's outcome: the application's callback to hand
  // it to, or null if Cancel() took it.
  CallCallback TakeForOutcome();

  struct Cancelled {
    CallCallback done;  // to run with kCancelled
    // The id the call was last sent under; 0 if it never was (parked).
    uint64_t request_id = 0;
  };
  // PendingCall::Cancel(): the application's callback and where to find the
  // call; nullopt if the outcome (or an earlier Cancel()) took it.
  std::optional<Cancelled> TakeForCancel();

  // The call was sent as `request_id`. False if Cancel() came first, which
  // then could not know the id: whoever sent it must take it back.
  bool Sent(uint64_t request_id);
  // Cancel() took the callback.
  bool cancelled() const;

 private:
  mutable absl::Mutex mu_;
  CallCallback done_ ABSL_GUARDED_BY(mu_);  // null once taken
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t request_id_ ABSL_GUARDED_BY(mu_) = 0;
};

// The CallCallback the library keeps for an AsyncCall.
struct AsyncCallCallback {
  std::shared_ptr<AsyncCall> call;
  void operator()(absl::StatusOr<Payload> result) const;
};

// The AsyncCall behind `callback` if Client::CallAsync() made it (an
// AsyncCallCallback), else null (the library's own async calls).
std::shared_ptr<AsyncCall> AsyncCallOf(const CallCallback& callback);

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_ASYNC_CALL_H_
