// SPDX-License-Identifier: MIT
//
// Tests for ChatRoom: own messages are skipped, members are remembered
// until they leave, and a member whose connection closed is reported once.
#include "chat_room.h"

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace switchboard::examples::chat {
namespace {

constexpr uint64_t kOwnId = 2;

absl::Time RoomTime() {
  return absl::FromCivil(absl::CivilSecond(2026, 1, 2, 3, 4, 5),
                         absl::UTCTimeZone());
}

ChatMessage Said(const std::string& nick, const std::string& text) {
  ChatMessage message;
  message.set_nick(nick);
  message.set_text(text);
  return message;
}

ChatMessage Left(const std::string& nick) {
  ChatMessage message;
  message.set_nick(nick);
  message.mutable_left();
  return message;
}

TEST(ChatRoomTest, OwnMessagesAreNotPrinted) {
  ChatRoom room(kOwnId, absl::UTCTimeZone());
  EXPECT_EQ(room.OnMessage(Said("me", "hi"), kOwnId, RoomTime()), std::nullopt);
  EXPECT_EQ(room.OnMessage(Said("bob", "hi"), 3, RoomTime()),
            "[03:04:05] bob (:3): hi");
}

TEST(ChatRoomTest, AMemberWhoseConnectionClosedIsReportedOnce) {
  ChatRoom room(kOwnId, absl::UTCTimeZone());
  ASSERT_TRUE(room.OnMessage(Said("bob", "hi"), 3, RoomTime()).has_value());
  EXPECT_EQ(room.OnConnectionClosed(3, RoomTime()),
            "[03:04:05] * bob (:3) disconnected without leaving");
  EXPECT_EQ(room.OnConnectionClosed(3, RoomTime()), std::nullopt);
}

TEST(ChatRoomTest, AMemberWhoLeftOrWasNeverSeenIsNotReported) {
  ChatRoom room(kOwnId, absl::UTCTimeZone());
  ASSERT_TRUE(room.OnMessage(Said("bob", "hi"), 3, RoomTime()).has_value());
  EXPECT_EQ(room.OnMessage(Left("bob"), 3, RoomTime()),
            "[03:04:05] * bob (:3) left");
  EXPECT_EQ(room.OnConnectionClosed(3, RoomTime()), std::nullopt);
  EXPECT_EQ(room.OnConnectionClosed(9, RoomTime()), std::nullopt);
}

TEST(ChatRoomTest, ForeignMessagesNameTheirSender) {
  ChatRoom room(kOwnId, absl::UTCTimeZone());
  EXPECT_EQ(room.OnForeignMessage(7, RoomTime()),
            "[03:04:05] * (:7) sent something that is not a chat message");
}

}  // namespace
}  // namespace switchboard::examples::chat
