// SPDX-License-Identifier: MIT
//
// HandleLink: how the handles a Client gives out (Subscription,
// PendingCall) reach it without keeping it alive. The Client and every
// handle share one link; ~Client detaches it before the connection goes,
// and a handle that uses the link afterwards finds nothing to act on.
//
// Why a count of users and not a reader-writer lock held around each use:
// a use may wait for the dispatch thread (Unsubscribe() waits for a running
// callback of the subscription to return), and that callback may drop
// another handle. With a writer (~Client) queued, a reader lock would make
// the callback wait for the writer, the writer for the first use, and that
// use for the callback. Here a use that starts after Detach() began returns
// at once, so ~Client waits only for uses that can finish.
#ifndef SWITCHBOARD_CLIENT_SRC_HANDLE_LINK_H_
#define SWITCHBOARD_CLIENT_SRC_HANDLE_LINK_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/src/async_call.h"
#include "switchboard/client.h"
#include "switchboard/message.h"

namespace switchboard::client {

class HandleLink {
 public:
  // `impl` must stay valid until Detach() returns.
  explicit HandleLink(Client::Impl* impl) : impl_(impl) {}
  HandleLink(const HandleLink&) = delete;
  HandleLink& operator=(const HandleLink&) = delete;

  // What the handles ask of their Client, from any thread. Once the Client
  // is going or gone: kCancelled, kNotFound and false.
  absl::Status Unsubscribe(uint64_t subscription);
  absl::StatusOr<SubscriptionStats> GetSubscriptionStats(uint64_t subscription);
  bool CancelCall(AsyncCall& call);

  // ~Client: later uses do nothing; waits until running ones returned. Not
  // from inside a use (nor, as ~Client, on the dispatch thread).
  void Detach();

 private:
  // Runs `use` with the Client's Impl, unless the Client is going or gone:
  // then returns false and runs nothing.
  bool Use(absl::FunctionRef<void(Client::Impl&)> use);

  absl::Mutex mu_;
  Client::Impl* impl_ ABSL_GUARDED_BY(mu_);
  int users_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_HANDLE_LINK_H_
