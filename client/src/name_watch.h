// SPDX-License-Identifier: MIT
//
// NameWatch: the state of one name-owner watch (Client::WatchName). It turns
// the broker's answers to "who owns NAME?" (switchboard.Broker/Describe) and
// the NameOwnerChanged events of switchboard.name.NAME into the reports the
// application gets: the owner when the watch started, then each change, in
// order, each once.
//
// Ordering. The broker writes a connection's messages and replies in the
// order it produced them (daemon/core/outbox.h), and the client runs
// subscription callbacks and CallAsync() callbacks in the order their frames
// arrived. So an event that reaches the watch while a question is pending
// happened before the broker answered it, and the answer already counts it:
// such events are skipped. Events after the answer are the changes since.
// When the broker dropped events (the subscription's queue was full), the
// watch asks again and reports the answer if it differs from the last
// report.
//
// Not thread-safe: the client's dispatch thread drives it, inside the
// subscription's callbacks, so that Unsubscribe() keeps its promise.
#ifndef SWITCHBOARD_CLIENT_SRC_NAME_WATCH_H_
#define SWITCHBOARD_CLIENT_SRC_NAME_WATCH_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "switchboard/client.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard::client {

class NameWatch {
 public:
  // Generation of the question sent with the watch's subscription: pending
  // from construction.
  static constexpr uint64_t kFirstQuestion = 1;

  // `report` gets every report; `on_error` (may be null) every failed
  // question.
  NameWatch(std::string name, NameOwnerCallback report,
            std::function<void(const absl::Status&)> on_error);

  const std::string& name() const { return name_; }

  // An event of the broker. Events for other names (a watch of a long name
  // subscribes to all of them) are ignored.
  void OnChange(const v1::NameOwnerChanged& change);
  // The broker dropped events: returns the generation of the question to
  // ask now; earlier questions' answers are ignored from now on.
  uint64_t OnDrops();
  // The answer to question `generation`: the owner (0: none) or why there
  // is none. After an error the owner is unknown until the next event.
  void OnAnswer(uint64_t generation, const absl::StatusOr<uint64_t>& owner);

 private:
  // Reports `owner` unless it is the owner reported last (the first report
  // is always made).
  void Report(uint64_t owner);

  const std::string name_;
  const NameOwnerCallback report_;
  const std::function<void(const absl::Status&)> on_error_;
  uint64_t pending_ = kFirstQuestion;  // question awaited; 0: none
  uint64_t next_question_ = kFirstQuestion + 1;
  bool reported_ = false;
  uint64_t owner_ = 0;  // as reported last
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_NAME_WATCH_H_
