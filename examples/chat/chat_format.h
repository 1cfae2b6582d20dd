// SPDX-License-Identifier: MIT
//
// The chat example's rules for names and what it prints: which topic a room
// is, which room names and nicks are allowed, and how a received ChatMessage
// shows on the terminal. chat.cc does the I/O; this is pure, and tested in
// chat_format_test.cc.
#ifndef SWITCHBOARD_EXAMPLES_CHAT_CHAT_FORMAT_H_
#define SWITCHBOARD_EXAMPLES_CHAT_CHAT_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "chat.pb.h"

namespace switchboard::examples::chat {

inline constexpr size_t kMaxRoomBytes = 64;
inline constexpr size_t kMaxNickBytes = 32;

// "chat.room.ROOM".
std::string RoomTopic(absl::string_view room);

// A room name is one topic token: 1 to kMaxRoomBytes of A-Z a-z 0-9 _ -.
// Errors: kInvalidArgument saying so.
absl::Status ValidateRoom(absl::string_view room);
// A nick is 1 to kMaxNickBytes bytes without control characters.
// Errors: kInvalidArgument saying so.
absl::Status ValidateNick(absl::string_view nick);

// `text` with every control character (other than tab) replaced by '?', so
// a peer cannot send terminal escape sequences.
std::string Printable(absl::string_view text);

// How a message from connection `sender` received at `at` shows:
//   [14:02:07] alice (:3): hello
//   [14:02:07] * alice (:3) joined
//   [14:02:09] * alice (:3) left
// Times are in `zone`.
std::string FormatChatMessage(const ChatMessage& message, uint64_t sender,
                              absl::Time at, absl::TimeZone zone);

}  // namespace switchboard::examples::chat

#endif  // SWITCHBOARD_EXAMPLES_CHAT_CHAT_FORMAT_H_
