// SPDX-License-Identifier: MIT
//
// ChatRoom: what one chat knows about the others in its room, and so what it
// prints. It turns each message on the room's topic into a line (skipping
// this chat's own), and remembers who is in the room (everyone it heard
// join or speak, until they leave) so that when the broker reports one of
// their connections closed (topic switchboard.connection.closed) without
// a goodbye, as after a crash or kill -9, it can say so. Not thread-safe:
// chat.cc calls it only from the client's dispatch thread, which runs the
// subscription callbacks one at a time.
#ifndef SWITCHBOARD_EXAMPLES_CHAT_CHAT_ROOM_H_
#define SWITCHBOARD_EXAMPLES_CHAT_CHAT_ROOM_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "chat.pb.h"

namespace switchboard::examples::chat {

class ChatRoom {
 public:
  // `own_id` is this chat's connection id; times print in `zone`.
  ChatRoom(uint64_t own_id, absl::TimeZone zone)
      : own_id_(own_id), zone_(zone) {}

  // The line to print for `message` from connection `sender` received at
  // `at`, or nullopt for this chat's own messages.
  std::optional<std::string> OnMessage(const ChatMessage& message,
                                       uint64_t sender, absl::Time at);
  // The line for a message on the room's topic that is not a ChatMessage.
  std::string OnForeignMessage(uint64_t sender, absl::Time at) const;
  // The line to print when connection `id` closed, if it was in the room
  // and had not left; else nullopt.
  std::optional<std::string> OnConnectionClosed(uint64_t id, absl::Time at);

 private:
  uint64_t own_id_;
  absl::TimeZone zone_;
  absl::flat_hash_map<uint64_t, std::string> nicks_;  // by connection id
};

}  // namespace switchboard::examples::chat

#endif  // SWITCHBOARD_EXAMPLES_CHAT_CHAT_ROOM_H_
