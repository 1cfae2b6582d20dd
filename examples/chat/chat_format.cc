// SPDX-License-Identifier: MIT
//
// Room topics, name checks and the printed form of chat messages
// (chat_format.h).
#include "chat_format.h"

#include "absl/strings/str_cat.h"

namespace switchboard::examples::chat {
namespace {

bool IsTokenCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool IsControlCharacter(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

}  // namespace

std::string RoomTopic(absl::string_view room) {
  return absl::StrCat("chat.room.", room);
}

absl::Status ValidateRoom(absl::string_view room) {
  bool valid = !room.empty() && room.size() <= kMaxRoomBytes;
  for (const char c : room) valid = valid && IsTokenCharacter(c);
  if (valid) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "a room name is 1 to ", kMaxRoomBytes,
      " letters, digits, '_' or '-', not \"", Printable(room), "\""));
}

absl::Status ValidateNick(absl::string_view nick) {
  bool valid = !nick.empty() && nick.size() <= kMaxNickBytes;
  for (const char c : nick) valid = valid && !IsControlCharacter(c);
  if (valid) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "a nick is 1 to ", kMaxNickBytes, " bytes without control characters"));
}

std::string Printable(absl::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c != '\t' && IsControlCharacter(c)) c = '?';
  }
  return out;
}

std::string FormatChatMessage(const ChatMessage& message, uint64_t sender,
                              absl::Time at, absl::TimeZone zone) {
  const std::string who =
      absl::StrCat(Printable(message.nick()), " (:", sender, ")");
  const std::string time = absl::FormatTime("[%H:%M:%S]", at, zone);
  switch (message.body_case()) {
    case ChatMessage::kText:
      return absl::StrCat(time, " ", who, ": ", Printable(message.text()));
    case ChatMessage::kJoined:
      return absl::StrCat(time, " * ", who, " joined");
    case ChatMessage::kLeft:
      return absl::StrCat(time, " * ", who, " left");
    case ChatMessage::BODY_NOT_SET:
      break;
  }
  return absl::StrCat(time, " * ", who,
                      " sent a message this chat does "
                      "not know");
}

}  // namespace switchboard::examples::chat
