// SPDX-License-Identifier: MIT
//
// chat: a terminal chat room on the Switchboard bus, built on topics alone.
// `chat --room=NAME --nick=NICK` subscribes to the topic chat.room.NAME,
// announces itself, publishes every line read from stdin as a ChatMessage
// (chat.proto) and prints what the others in the room say, with the time
// and the sender's connection id that the broker stamped on the message
// (chat_room.h). It leaves, announcing it, at end of input (Ctrl-D) or on
// SIGINT/SIGTERM (Ctrl-C); a member that vanishes without leaving is
// reported from the broker's switchboard.connection.closed events.
// README.md shows a few terminals talking.
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "base/flags.h"
#include "chat.pb.h"
#include "chat_format.h"
#include "chat_room.h"
#include "line_splitter.h"
#include "switchboard/client.h"
#include "switchboard/message.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard::examples::chat {
namespace {

// Longer typed lines are sent in pieces of this size.
constexpr size_t kMaxLineBytes = 4096;
// How long joining and leaving wait for the broker to confirm.
constexpr absl::Duration kAnnounceTimeout = absl::Seconds(5);
// The broker publishes a ConnectionEvent here when a connection ends.
constexpr char kConnectionClosedTopic[] = "switchboard.connection.closed";
// How often the input loop checks that the broker is still there.
constexpr int kPollIntervalMs = 250;

struct Options {
  std::string address;
  std::string room;
  std::string nick;
};

Options ParseOptions(int argc, char** argv) {
  Options options;
  if (const char* user = std::getenv("USER"); user != nullptr) {
    options.nick = user;
  }
  FlagParser flags(
      "chat",
      "Chats in a room on the Switchboard bus: joins the topic "
      "chat.room.ROOM, publishes\neach line read from stdin, and prints "
      "what the others in the room say, with\nthe time and the sender's "
      "connection id (\":ID\", stamped by the broker). Joins\nand leaves "
      "are announced. Ctrl-D (end of input) or Ctrl-C leaves the room.");
  flags.AddString("room", &options.room, "NAME",
                  "The room: 1 to 64 letters, digits, '_' or '-' (required)");
  flags.AddString("nick", &options.nick, "NICK",
                  "The name the others see (default: $USER)");
  flags.AddString("address", &options.address, "ADDRESS",
                  "Broker to connect to: unix:PATH or tcp:127.0.0.1:PORT\n"
                  "                            (empty: $SWITCHBOARD_ADDRESS, "
                  "else the default address)");
  flags.set_epilogue(
      "Once in the room it prints one line on stdout:\n"
      "  chat: joined room ROOM as NICK (:ID) on ADDRESS, N others "
      "listening\n"
      "then one line per message from the others, e.g.\n"
      "  [14:02:07] bob (:4): hello\n"
      "  [14:02:09] * bob (:4) left\n"
      "  [14:02:11] * carol (:5) disconnected without leaving\n\n"
      "Example, in two terminals:\n"
      "  chat --room=lobby --nick=alice\n"
      "  chat --room=lobby --nick=bob\n\n"
      "Exit status: 0 after end of input, SIGINT or SIGTERM; 1 if it cannot "
      "connect or\nloses the broker; 2 for a usage error.\n");
  std::vector<std::string> args = flags.ParseOrExit(argc, argv);
  std::string problem;
  if (!args.empty()) {
    problem = absl::StrCat("unexpected argument '", args[0], "'");
  } else if (options.room.empty()) {
    problem = "--room=NAME is required";
  } else if (absl::Status room = ValidateRoom(options.room); !room.ok()) {
    problem = absl::StrCat("--room: ", room.message());
  } else if (absl::Status nick = ValidateNick(options.nick); !nick.ok()) {
    problem = absl::StrCat("--nick: ", nick.message());
  }
  if (!problem.empty()) {
    absl::FPrintF(stderr, "chat: %s (see --help)\n", problem);
    std::exit(2);
  }
  return options;
}

// Blocks SIGINT and SIGTERM in this thread, and so in the client's threads
// started later, and returns a signalfd that becomes readable when one
// arrives: the input loop polls it next to stdin. The descriptor stays open
// until the process exits.
absl::StatusOr<int> StopSignalFd() {
  // A non-interactive shell starts background jobs with SIGINT ignored, and
  // an ignored signal is discarded rather than left pending.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  const int fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, "signalfd");
  return fd;
}

ChatMessage NewMessage(const Options& options) {
  ChatMessage message;
  message.set_nick(options.nick);
  return message;
}

void PrintLine(const std::optional<std::string>& line) {
  if (!line.has_value()) return;
  absl::PrintF("%s\n", *line);
  std::fflush(stdout);
}

// What a member listens to: the broker's connection events, and the room.
struct RoomSubscriptions {
  Subscription closed;
  Subscription chat;
};

// Subscribes to the broker's connection events, then to the room, so that
// a member who disconnects without leaving is reported. The subscriptions
// last as long as the handles returned. `room` must outlive them: the
// callbacks run on the client's dispatch thread, one at a time, which is
// all the locking ChatRoom needs.
absl::StatusOr<RoomSubscriptions> SubscribeToRoom(Client& client,
                                                  const Options& options,
                                                  ChatRoom& room) {
  absl::StatusOr<Subscription> closed =
      client.Subscribe(kConnectionClosedTopic, [&room](const Message& message) {
        absl::StatusOr<v1::ConnectionEvent> event =
            message.As<v1::ConnectionEvent>();
        if (!event.ok()) return;
        PrintLine(
            room.OnConnectionClosed(event->connection_id(), message.received));
      });
  if (!closed.ok()) return closed.status();
  absl::StatusOr<Subscription> chat = client.Subscribe(
      RoomTopic(options.room), [&room](const Message& message) {
        absl::StatusOr<ChatMessage> said = message.As<ChatMessage>();
        PrintLine(said.ok()
                      ? room.OnMessage(*said, message.sender, message.received)
                      : std::optional<std::string>(room.OnForeignMessage(
                            message.sender, message.received)));
      });
  if (!chat.ok()) return chat.status();
  return RoomSubscriptions{*std::move(closed), *std::move(chat)};
}

// Why the input loop ended.
enum class Leaving { kEndOfInput, kSignal };

// Publishes each non-empty line read from stdin until end of input or a stop
// signal. Errors: kUnavailable if the broker goes away; errno from poll or
// read; those of Client::Publish().
absl::StatusOr<Leaving> PublishInput(Client& client, const Options& options,
                                     int signal_fd) {
  const std::string topic = RoomTopic(options.room);
  LineSplitter splitter(kMaxLineBytes);
  const auto publish = [&](const std::vector<std::string>& lines) {
    for (const std::string& line : lines) {
      if (line.empty()) continue;
      ChatMessage message = NewMessage(options);
      message.set_text(line);
      if (absl::Status s = client.Publish(topic, message); !s.ok()) return s;
    }
    return absl::OkStatus();
  };
  std::array<char, 4096> buffer;
  while (true) {
    std::array<pollfd, 2> fds = {pollfd{STDIN_FILENO, POLLIN, 0},
                                 pollfd{signal_fd, POLLIN, 0}};
    const int ready = poll(fds.data(), fds.size(), kPollIntervalMs);
    if (ready < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "poll");
    if (!client.connected()) {
      return absl::UnavailableError("lost the connection to the broker");
    }
    if (ready <= 0) continue;
    if (fds[1].revents != 0) return Leaving::kSignal;
    if (fds[0].revents == 0) continue;
    const ssize_t n = read(STDIN_FILENO, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return absl::ErrnoToStatus(errno, "read stdin");
    }
    if (n == 0) {
      if (absl::Status s = publish(splitter.Finish()); !s.ok()) return s;
      return Leaving::kEndOfInput;
    }
    const absl::Status published = publish(splitter.Append(
        absl::string_view(buffer.data(), static_cast<size_t>(n))));
    if (!published.ok()) return published;
  }
}

// Publishes a join or leave and waits for the broker to take it, so that it
// is on its way to every subscriber before this returns. Returns how many
// subscriptions took it.
absl::StatusOr<PublishResult> Announce(Client& client, const Options& options,
                                       const ChatMessage& message) {
  return client.PublishConfirmed(RoomTopic(options.room), message,
                                 kAnnounceTimeout);
}

int Run(const Options& options) {
  absl::StatusOr<int> signal_fd = StopSignalFd();
  if (!signal_fd.ok()) {
    absl::FPrintF(stderr, "chat: %s\n", signal_fd.status().ToString());
    return 1;
  }
  // Declared before the client, whose callbacks use it until the client's
  // destructor has stopped the dispatch thread.
  std::optional<ChatRoom> room;
  ConnectOptions connect_options;
  connect_options.client_name = absl::StrCat("chat ", options.nick);
  // The room knows this member by its connection id, which a reconnect
  // would change: chat leaves when the broker goes (exit status 1).
  connect_options.reconnect.enabled = false;
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(options.address, connect_options);
  if (!client.ok()) {
    absl::FPrintF(stderr, "chat: cannot connect to the broker: %s\n",
                  client.status().ToString());
    return 1;
  }
  const uint64_t own_id = (*client)->connection_id();
  room.emplace(own_id, absl::LocalTimeZone());
  // Declared after the client: the subscriptions end before it closes.
  absl::StatusOr<RoomSubscriptions> subscriptions =
      SubscribeToRoom(**client, options, *room);
  if (!subscriptions.ok()) {
    absl::FPrintF(stderr, "chat: cannot subscribe to %s: %s\n",
                  RoomTopic(options.room), subscriptions.status().ToString());
    return 1;
  }
  ChatMessage joined = NewMessage(options);
  joined.mutable_joined();
  absl::StatusOr<PublishResult> announced = Announce(**client, options, joined);
  if (!announced.ok()) {
    absl::FPrintF(stderr, "chat: cannot join room %s: %s\n", options.room,
                  announced.status().ToString());
    return 1;
  }
  // Our own subscription took the announcement too.
  const uint32_t others =
      announced->delivered > 0 ? announced->delivered - 1 : 0;
  absl::PrintF("chat: joined room %s as %s (:%d) on %s, %d %s listening\n",
               options.room, Printable(options.nick), own_id,
               (*client)->address(), others, others == 1 ? "other" : "others");
  std::fflush(stdout);

  absl::StatusOr<Leaving> leaving = PublishInput(**client, options, *signal_fd);
  if (!leaving.ok()) {
    absl::FPrintF(stderr, "chat: %s\n", leaving.status().ToString());
    return 1;
  }
  ChatMessage left = NewMessage(options);
  left.mutable_left();
  if (absl::StatusOr<PublishResult> said = Announce(**client, options, left);
      !said.ok()) {
    absl::FPrintF(stderr, "chat: cannot announce leaving: %s\n",
                  said.status().ToString());
    return 1;
  }
  absl::PrintF("chat: left room %s (%s)\n", options.room,
               *leaving == Leaving::kSignal ? "signal" : "end of input");
  return 0;
}

}  // namespace
}  // namespace switchboard::examples::chat

int main(int argc, char** argv) {
  return switchboard::examples::chat::Run(
      switchboard::examples::chat::ParseOptions(argc, argv));
}
