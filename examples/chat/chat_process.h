// SPDX-License-Identifier: MIT
//
// ChatProcess: one `chat` program started by chat_test.cc against a test
// broker, whose stdin the test writes (through a FIFO in the broker's
// temporary folder) and whose stdout it reads line by line under a
// deadline. The destructor kills and reaps a chat that is still running.
#ifndef SWITCHBOARD_EXAMPLES_CHAT_CHAT_PROCESS_H_
#define SWITCHBOARD_EXAMPLES_CHAT_CHAT_PROCESS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/fd.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/child_process.h"

namespace switchboard::examples::chat {

class ChatProcess {
 public:
  // Starts `chat --room=ROOM --nick=NICK` on `broker` and waits up to
  // `timeout` for its "chat: joined ..." line, which gives id().
  static absl::StatusOr<ChatProcess> Join(const testing::BrokerProcess& broker,
                                          absl::string_view room,
                                          absl::string_view nick,
                                          absl::Duration timeout);

  ChatProcess(ChatProcess&&) = default;
  ChatProcess& operator=(ChatProcess&&) = default;

  // The connection id the chat printed when it joined.
  uint64_t id() const { return id_; }
  const std::string& nick() const { return nick_; }
  testing::ChildProcess& process() { return process_; }

  // Writes `bytes` to the chat's stdin as they are (at most PIPE_BUF).
  absl::Status Type(absl::string_view bytes);
  // Type()s `line` and a newline.
  absl::Status Say(absl::string_view line);
  // Closes the chat's stdin: it sees end of input.
  void CloseInput() { input_.reset(); }

  // Reads stdout lines until one contains `text`, and returns it.
  // `skipped`, if not null, gets the lines read before it. Errors as
  // ChildProcess::ReadLine().
  absl::StatusOr<std::string> ReadLineContaining(
      absl::string_view text, absl::Duration timeout,
      std::vector<std::string>* skipped = nullptr);

 private:
  ChatProcess(testing::ChildProcess process, Fd input, std::string nick)
      : process_(std::move(process)),
        input_(std::move(input)),
        nick_(std::move(nick)) {}

  testing::ChildProcess process_;
  Fd input_;  // the FIFO that is the chat's stdin, opened for writing
  std::string nick_;
  uint64_t id_ = 0;
};

}  // namespace switchboard::examples::chat

#endif  // SWITCHBOARD_EXAMPLES_CHAT_CHAT_PROCESS_H_
