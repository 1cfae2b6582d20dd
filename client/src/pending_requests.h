// SPDX-License-Identifier: MIT
//
// PendingRequests: the client's requests that wait for their REPLY, by
// request id, with the deadlines of async calls in order. Each request
// leaves the table exactly once, by whichever comes first: its reply
// (Take), its deadline (TakeExpired), the caller giving up (Take), or the
// connection ending (TakeAll); whoever takes it completes it. A request
// taken by one of them is gone for the others, so a late reply or a second
// expiry finds nothing.
//
// Not thread-safe: Client::Impl keeps it under its mutex.
#ifndef SWITCHBOARD_CLIENT_SRC_PENDING_REQUESTS_H_
#define SWITCHBOARD_CLIENT_SRC_PENDING_REQUESTS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/src/reply_stream.h"
#include "switchboard/client.h"
#include "switchboard/payload.h"
#include "switchboard/v1/header.pb.h"

namespace switchboard::client {

// A synchronous requester's result slot, filled in by whoever completes the
// request (under the client's mutex).
struct Waiter {
  bool done = false;
  absl::StatusOr<Payload> result;
};

// A CALL whose buffers went as descriptors, kept so that it can be sent
// again inline if the broker answers that the callee takes none.
struct InlineRetry {
  v1::Header header;
  Payload payload;
};

// A request waiting for its REPLY: exactly one of waiter, callback and
// stream is set.
struct PendingRequest {
  std::shared_ptr<Waiter> waiter;
  CallCallback callback;
  // Async calls (callback set) only: when the library gives up on its own.
  absl::Time deadline = absl::InfiniteFuture();
  bool is_call = false;  // a CALL (cancelled on local timeout)
  // A streamed call: MORE replies go to it, and the final one ends it.
  std::shared_ptr<ReplyStream::Impl> stream;
  std::unique_ptr<InlineRetry> retry;  // only for a CALL sent with fds
};

class PendingRequests {
 public:
  // Registers `request` under a fresh id (1, 2, ...; never reused) and
  // returns it. An async call's deadline joins the order TakeExpired reads.
  uint64_t Add(PendingRequest request);
  // Registers `request` again under `id`, which it was taken from: a CALL
  // sent again inline keeps its id, and its deadline.
  void Restore(uint64_t id, PendingRequest request);

  // The request waiting under `id`, or null if there is none (it ended, or
  // never was); valid until the table next changes.
  PendingRequest* Find(uint64_t id);
  // Removes the request under `id` and returns it; nullopt if none waits.
  std::optional<PendingRequest> Take(uint64_t id);
  // Removes the async calls whose deadline is at or before `now` and
  // appends them to `expired`, earliest deadline first.
  void TakeExpired(absl::Time now,
                   std::vector<std::pair<uint64_t, PendingRequest>>& expired);
  // Removes every request and returns them (in no particular order).
  std::vector<std::pair<uint64_t, PendingRequest>> TakeAll();

  // The earliest deadline of a waiting async call; InfiniteFuture if none.
  absl::Time next_deadline() const;
  size_t size() const { return requests_.size(); }
  bool empty() const { return requests_.empty(); }

 private:
  uint64_t next_id_ = 1;
  absl::flat_hash_map<uint64_t, PendingRequest> requests_;
  // (deadline, id) of every waiting async call.
  std::set<std::pair<absl::Time, uint64_t>> deadlines_;
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_PENDING_REQUESTS_H_
