// SPDX-License-Identifier: MIT
//
// `switchboard top`: samples the broker every --interval and redraws the
// view (or prints a JSON snapshot), while watching standard input for 'q'
// and the signal watcher for Ctrl-C, in one poll().
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "broker.h"
#include "commands.h"
#include "listings.h"
#include "signals.h"
#include "switchboard/status_macros.h"
#include "terminal.h"
#include "top_view.h"

namespace switchboard::cli {
namespace {

// Lines of the summary above the table, plus its header.
constexpr int kHeaderLines = 5;

// --timeout is how long top runs, so each sample has the usual limit.
absl::StatusOr<std::unique_ptr<TopSample>> TakeSample(Client& client) {
  auto sample = std::make_unique<TopSample>();
  SB_ASSIGN_OR_RETURN(
      sample->status,
      client.Call<v1::BrokerStatus>(kBrokerService, "GetStatus",
                                    v1::GetStatusRequest(), kDefaultTimeout));
  SB_ASSIGN_OR_RETURN(sample->connections,
                      ListEveryConnection(client, kDefaultTimeout));
  sample->time = absl::Now();
  return sample;
}

void Show(const TopSample* older, const TopSample& newer, bool draw,
          const Options& options) {
  const TopSnapshot snapshot = ComputeSnapshot(older, newer);
  if (options.json) {
    if (older != nullptr) PrintLine(RenderTopJson(snapshot));
    return;
  }
  const int rows = TerminalRows();
  std::string screen = RenderTopText(
      snapshot, rows > kHeaderLines ? rows - kHeaderLines - 1 : 0);
  // Home, clear the screen, draw; a pipe gets plain text between form feeds.
  std::fputs(draw ? "\x1b[H\x1b[2J" : "\f\n", stdout);
  std::fputs(screen.c_str(), stdout);
  std::fflush(stdout);
}

// What woke the loop.
enum class Input { kNothing, kQuit, kEndOfInput };

Input ReadKeys(int fd) {
  char keys[64];
  const ssize_t n = read(fd, keys, sizeof keys);
  if (n == 0) return Input::kEndOfInput;
  if (n < 0)
    return errno == EINTR || errno == EAGAIN ? Input::kNothing
                                             : Input::kEndOfInput;
  for (ssize_t i = 0; i < n; ++i) {
    if (keys[i] == 'q' || keys[i] == 'Q') return Input::kQuit;
  }
  return Input::kNothing;
}

}  // namespace

absl::Status RunTop(const Options& options) {
  static int wake_pipe[2] = {-1, -1};
  if (pipe(wake_pipe) != 0) {
    return absl::ErrnoToStatus(errno, "pipe for the signal watcher");
  }
  WatchTerminationSignals([](int) {
    const char byte = 's';
    static_cast<void>(write(wake_pipe[1], &byte, 1));
  });
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, ConnectToBroker(options));
  RawTerminal terminal;
  const bool draw = !options.json && isatty(STDOUT_FILENO) == 1;
  const absl::Time deadline = options.timeout.has_value()
                                  ? absl::Now() + *options.timeout
                                  : absl::InfiniteFuture();
  SB_ASSIGN_OR_RETURN(std::unique_ptr<TopSample> older, TakeSample(*client));
  Show(nullptr, *older, draw, options);
  absl::Time next_sample = older->time + options.interval;
  bool stdin_open = true;
  while (true) {
    const absl::Time now = absl::Now();
    if (now >= deadline) return absl::OkStatus();
    // Never negative: poll() takes that as "wait forever".
    const absl::Duration wait =
        std::max(absl::ZeroDuration(), std::min(next_sample, deadline) - now);
    struct pollfd fds[2] = {{wake_pipe[0], POLLIN, 0},
                            {stdin_open ? STDIN_FILENO : -1, POLLIN, 0}};
    const int ready =
        poll(fds, 2, static_cast<int>(absl::ToInt64Milliseconds(wait)) + 1);
    if (ready < 0 && errno != EINTR) {
      return absl::ErrnoToStatus(errno, "poll");
    }
    if (ready > 0 && fds[0].revents != 0) return absl::OkStatus();  // signal
    if (ready > 0 && fds[1].revents != 0) {
      const Input input = ReadKeys(STDIN_FILENO);
      if (input == Input::kQuit) return absl::OkStatus();
      // At the end of a terminal there is no one left to press 'q'.
      if (input == Input::kEndOfInput) {
        if (terminal.active()) return absl::OkStatus();
        stdin_open = false;
      }
    }
    if (absl::Now() < next_sample) continue;
    SB_ASSIGN_OR_RETURN(std::unique_ptr<TopSample> newer, TakeSample(*client));
    Show(older.get(), *newer, draw, options);
    older = std::move(newer);
    next_sample += options.interval;
    if (next_sample < absl::Now()) next_sample = absl::Now() + options.interval;
  }
}

}  // namespace switchboard::cli
