// SPDX-License-Identifier: MIT
//
// The room's members and the lines chat prints (chat_room.h).
#include "chat_room.h"

#include "absl/strings/str_cat.h"
#include "chat_format.h"

namespace switchboard::examples::chat {

std::optional<std::string> ChatRoom::OnMessage(const ChatMessage& message,
                                               uint64_t sender, absl::Time at) {
  if (sender == own_id_) return std::nullopt;
  if (message.body_case() == ChatMessage::kLeft) {
    nicks_.erase(sender);
  } else {
    nicks_[sender] = message.nick();
  }
  return FormatChatMessage(message, sender, at, zone_);
}

std::string ChatRoom::OnForeignMessage(uint64_t sender, absl::Time at) const {
  return absl::StrCat(absl::FormatTime("[%H:%M:%S]", at, zone_),
                      " * (:", sender,
                      ") sent something that is not a chat message");
}

std::optional<std::string> ChatRoom::OnConnectionClosed(uint64_t id,
                                                        absl::Time at) {
  auto it = nicks_.find(id);
  if (it == nicks_.end()) return std::nullopt;
  std::string line = absl::StrCat(absl::FormatTime("[%H:%M:%S]", at, zone_),
                                  " * ", Printable(it->second), " (:", id,
                                  ") disconnected without leaving");
  nicks_.erase(it);
  return line;
}

}  // namespace switchboard::examples::chat
