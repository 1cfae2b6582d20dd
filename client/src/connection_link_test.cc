// SPDX-License-Identifier: MIT
#include "client/src/connection_link.h"

#include <optional>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace switchboard::client {
namespace {

using State = ConnectionLink::State;

const absl::Time kT0 = absl::FromUnixSeconds(1000);

ReconnectOptions Options(absl::Duration give_up = absl::InfiniteDuration()) {
  ReconnectOptions options;
  options.first_delay = absl::Milliseconds(10);
  options.max_delay = absl::Milliseconds(40);
  options.give_up_after = give_up;
  return options;
}

// No jitter: the waits are exactly 10, 20, 40, 40, ... ms.
double NoJitter() { return 0.0; }

absl::Status Lost() { return absl::UnavailableError("connection reset"); }

TEST(ConnectionLinkTest, ABreakGoesDownWithTheFirstAttemptAtOnce) {
  ConnectionLink link(Options(), NoJitter);
  EXPECT_TRUE(link.up());
  EXPECT_EQ(link.next_attempt(), absl::InfiniteFuture());
  EXPECT_FALSE(link.AttemptDue(kT0));

  EXPECT_EQ(link.Break(Lost(), kT0), ConnectionState::kDisconnected);
  EXPECT_EQ(link.state(), State::kDown);
  EXPECT_TRUE(link.reconnecting());
  EXPECT_TRUE(link.AttemptDue(kT0));
  EXPECT_EQ(link.next_attempt(), kT0);
  // A second report of the same break changes nothing and says nothing.
  EXPECT_EQ(link.Break(Lost(), kT0), std::nullopt);
}

TEST(ConnectionLinkTest, FailedAttemptsBackOffAndTheNextBreakStartsOver) {
  ConnectionLink link(Options(), NoJitter);
  link.Break(Lost(), kT0);
  absl::Status gave_up;
  for (absl::Duration wait : {absl::Milliseconds(10), absl::Milliseconds(20),
                              absl::Milliseconds(40), absl::Milliseconds(40)}) {
    link.StartAttempt();
    EXPECT_EQ(link.AttemptFailed(kT0, Lost(), "unix:/bus", gave_up),
              ConnectionState::kReconnecting);
    EXPECT_EQ(link.next_attempt(), kT0 + wait);
    EXPECT_FALSE(link.AttemptDue(kT0 + wait - absl::Milliseconds(1)));
    EXPECT_TRUE(link.AttemptDue(kT0 + wait));
  }
  EXPECT_EQ(link.attempts(), 4);
  EXPECT_TRUE(gave_up.ok());

  link.StartAttempt();
  link.Adopted();
  EXPECT_EQ(link.state(), State::kRestoring);
  EXPECT_TRUE(link.reconnecting());
  EXPECT_FALSE(link.AttemptDue(kT0 + absl::Hours(1)));
  EXPECT_EQ(link.Restored(), 5) << "four failures and the attempt that worked";
  EXPECT_TRUE(link.up());

  // The next break counts from zero again.
  const absl::Time t1 = kT0 + absl::Minutes(1);
  EXPECT_EQ(link.Break(Lost(), t1), ConnectionState::kDisconnected);
  link.StartAttempt();
  EXPECT_EQ(link.attempts(), 0);
  link.AttemptFailed(t1, Lost(), "unix:/bus", gave_up);
  EXPECT_EQ(link.next_attempt(), t1 + absl::Milliseconds(10));
}

TEST(ConnectionLinkTest, ABreakWhileRestoringCountsAsAFailedAttempt) {
  ConnectionLink link(Options(), NoJitter);
  link.Break(Lost(), kT0);
  link.StartAttempt();
  link.Adopted();
  // No second kDisconnected: the application saw no kConnected in between.
  EXPECT_EQ(link.Break(Lost(), kT0), std::nullopt);
  EXPECT_EQ(link.state(), State::kDown);
  link.RestoreFailed(kT0);
  EXPECT_EQ(link.attempts(), 1);
  EXPECT_EQ(link.next_attempt(), kT0 + absl::Milliseconds(10));
}

TEST(ConnectionLinkTest, GivesUpAfterGiveUpAfterAndSaysSo) {
  ConnectionLink link(Options(absl::Milliseconds(100)), NoJitter);
  link.Break(Lost(), kT0);
  link.StartAttempt();
  absl::Status gave_up;
  EXPECT_EQ(link.AttemptFailed(kT0 + absl::Milliseconds(50), Lost(),
                               "unix:/bus", gave_up),
            ConnectionState::kReconnecting);
  EXPECT_EQ(link.AttemptFailed(kT0 + absl::Milliseconds(150),
                               absl::UnavailableError("connection refused"),
                               "unix:/bus", gave_up),
            ConnectionState::kClosed);
  EXPECT_TRUE(link.closed());
  EXPECT_EQ(gave_up.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(gave_up.message(),
                                "gave up reconnecting to the broker at "
                                "unix:/bus after 2 attempts"))
      << gave_up;
  EXPECT_TRUE(absl::StrContains(gave_up.message(), "connection refused"))
      << gave_up;
  EXPECT_FALSE(link.AttemptDue(kT0 + absl::Hours(1)));
}

TEST(ConnectionLinkTest, AnErrorOnPurposeClosesForGood) {
  ConnectionLink link(Options(), NoJitter);
  link.ClosedByBroker();
  EXPECT_EQ(
      link.Break(absl::ResourceExhaustedError("too many connections"), kT0),
      ConnectionState::kClosed);
  EXPECT_TRUE(link.closed());
  EXPECT_EQ(link.Break(Lost(), kT0), std::nullopt) << "closed stays closed";
}

TEST(ConnectionLinkTest, ABrokerShuttingDownIsReconnectedTo) {
  ConnectionLink link(Options(), NoJitter);
  link.ClosedByBroker();  // its ERROR says UNAVAILABLE: going away
  EXPECT_EQ(
      link.Break(absl::UnavailableError("the broker is shutting down"), kT0),
      ConnectionState::kDisconnected);
  EXPECT_EQ(link.state(), State::kDown);
  // Once connected again, an earlier ERROR no longer counts.
  link.StartAttempt();
  link.Adopted();
  link.Restored();
  EXPECT_EQ(link.Break(absl::InternalError("a bug"), kT0),
            ConnectionState::kDisconnected);
}

TEST(ConnectionLinkTest, ReconnectOffOrClosingClosesAtTheFirstBreak) {
  ReconnectOptions off = Options();
  off.enabled = false;
  ConnectionLink without(off, NoJitter);
  EXPECT_EQ(without.Break(Lost(), kT0), ConnectionState::kClosed);
  EXPECT_TRUE(without.closed());

  ConnectionLink closing(Options(), NoJitter);
  EXPECT_EQ(closing.Break(absl::CancelledError("the client was closed"), kT0),
            ConnectionState::kClosed);

  ConnectionLink destroyed(Options(), NoJitter);
  destroyed.Close();
  EXPECT_EQ(destroyed.Break(Lost(), kT0), std::nullopt);
}

}  // namespace
}  // namespace switchboard::client
