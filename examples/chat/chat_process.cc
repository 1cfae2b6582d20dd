// SPDX-License-Identifier: MIT
//
// Starts a chat with a FIFO as its stdin (chat_process.h).
#include "chat_process.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace switchboard::examples::chat {
namespace {

// The number in "(:ID)" of a "chat: joined ..." line.
absl::StatusOr<uint64_t> ParseJoinedId(absl::string_view line) {
  const size_t open = line.find("(:");
  const size_t close =
      open == absl::string_view::npos ? open : line.find(')', open);
  uint64_t id = 0;
  if (close == absl::string_view::npos ||
      !absl::SimpleAtoi(line.substr(open + 2, close - open - 2), &id)) {
    return absl::InternalError(absl::StrCat("no (:ID) in \"", line, "\""));
  }
  return id;
}

}  // namespace

absl::StatusOr<ChatProcess> ChatProcess::Join(
    const testing::BrokerProcess& broker, absl::string_view room,
    absl::string_view nick, absl::Duration timeout) {
  const std::string fifo = absl::StrCat(broker.dir(), "/", nick, ".in");
  if (mkfifo(fifo.c_str(), 0600) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("mkfifo ", fifo));
  }
  // O_RDWR does not wait for a reader, and keeps the FIFO open for writing
  // until CloseInput(); O_CLOEXEC keeps it out of every child, so that
  // closing it here is the chat's end of input.
  Fd input(open(fifo.c_str(), O_RDWR | O_CLOEXEC));
  if (!input.valid()) {
    return absl::ErrnoToStatus(errno, absl::StrCat("open ", fifo));
  }
  // The shell opens the FIFO as stdin and becomes the chat (exec), so the
  // child's pid is the chat's.
  absl::StatusOr<testing::ChildProcess> process = testing::ChildProcess::Start(
      {"/bin/sh", "-c", "exec \"$@\" < \"$0\"", fifo, SWITCHBOARD_CHAT_PATH,
       absl::StrCat("--address=", broker.address()),
       absl::StrCat("--room=", room), absl::StrCat("--nick=", nick)},
      absl::StrCat(broker.dir(), "/", nick, ".stderr"));
  if (!process.ok()) return process.status();
  ChatProcess chat(*std::move(process), std::move(input), std::string(nick));
  absl::StatusOr<std::string> joined =
      chat.ReadLineContaining("chat: joined room", timeout);
  if (!joined.ok()) return joined.status();
  absl::StatusOr<uint64_t> id = ParseJoinedId(*joined);
  if (!id.ok()) return id.status();
  chat.id_ = *id;
  return chat;
}

absl::Status ChatProcess::Say(absl::string_view line) {
  return Type(absl::StrCat(line, "\n"));
}

absl::Status ChatProcess::Type(absl::string_view bytes) {
  // A FIFO write of at most PIPE_BUF bytes is all or nothing.
  if (write(input_.get(), bytes.data(), bytes.size()) !=
      static_cast<ssize_t>(bytes.size())) {
    return absl::ErrnoToStatus(errno, absl::StrCat("write to ", nick_));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ChatProcess::ReadLineContaining(
    absl::string_view text, absl::Duration timeout,
    std::vector<std::string>* skipped) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<std::string> line = process_.ReadLine(
        std::max(deadline - absl::Now(), absl::ZeroDuration()));
    if (!line.ok()) {
      return absl::Status(line.status().code(),
                          absl::StrCat(nick_, " never printed \"", text,
                                       "\": ", line.status().message()));
    }
    if (absl::StrContains(*line, text)) return line;
    if (skipped != nullptr) skipped->push_back(*std::move(line));
  }
}

}  // namespace switchboard::examples::chat
