// SPDX-License-Identifier: MIT
//
// Tests for the chat example's names and printed lines (chat_format.h).
#include "chat_format.h"

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace switchboard::examples::chat {
namespace {

// 2026-01-02 03:04:05 UTC.
absl::Time SomeTime() {
  return absl::FromCivil(absl::CivilSecond(2026, 1, 2, 3, 4, 5),
                         absl::UTCTimeZone());
}

ChatMessage FromAlice() {
  ChatMessage message;
  message.set_nick("alice");
  return message;
}

TEST(ChatFormatTest, ARoomIsATopicUnderChatRoom) {
  EXPECT_EQ(RoomTopic("lobby"), "chat.room.lobby");
}

TEST(ChatFormatTest, RoomNamesAreOneTopicToken) {
  EXPECT_TRUE(ValidateRoom("lobby").ok());
  EXPECT_TRUE(ValidateRoom("Team_42-b").ok());
  EXPECT_EQ(ValidateRoom("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateRoom("a.b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateRoom(">").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateRoom("two words").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateRoom(std::string(kMaxRoomBytes + 1, 'r')).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ChatFormatTest, NicksAreShortAndPrintable) {
  EXPECT_TRUE(ValidateNick("Ada L.").ok());
  EXPECT_EQ(ValidateNick("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateNick("bell\a").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateNick(std::string(kMaxNickBytes + 1, 'n')).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ChatFormatTest, ALineShowsTimeNickAndSender) {
  ChatMessage message = FromAlice();
  message.set_text("hello");
  EXPECT_EQ(FormatChatMessage(message, 3, SomeTime(), absl::UTCTimeZone()),
            "[03:04:05] alice (:3): hello");
}

TEST(ChatFormatTest, JoinsAndLeavesAreAnnounced) {
  ChatMessage joined = FromAlice();
  joined.mutable_joined();
  EXPECT_EQ(FormatChatMessage(joined, 7, SomeTime(), absl::UTCTimeZone()),
            "[03:04:05] * alice (:7) joined");
  ChatMessage left = FromAlice();
  left.mutable_left();
  EXPECT_EQ(FormatChatMessage(left, 7, SomeTime(), absl::UTCTimeZone()),
            "[03:04:05] * alice (:7) left");
}

TEST(ChatFormatTest, ControlCharactersFromPeersAreNotPrinted) {
  ChatMessage message;
  message.set_nick("evil\x1b[2J");
  message.set_text("a\rb\tc\x7f");
  EXPECT_EQ(FormatChatMessage(message, 9, SomeTime(), absl::UTCTimeZone()),
            "[03:04:05] evil?[2J (:9): a?b\tc?");
}

TEST(ChatFormatTest, AMessageWithoutBodyIsShownAsUnknown) {
  EXPECT_EQ(FormatChatMessage(FromAlice(), 3, SomeTime(), absl::UTCTimeZone()),
            "[03:04:05] * alice (:3) sent a message this chat does not know");
}

}  // namespace
}  // namespace switchboard::examples::chat
