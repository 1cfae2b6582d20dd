// SPDX-License-Identifier: MIT
#include "daemon/core/name_registry.h"

#include <vector>

#include "gtest/gtest.h"

namespace switchboard::core {
namespace {

using State = v1::RegisterNameResult;

const SessionId kA(1);
const SessionId kB(2);
const SessionId kC(3);

class NameRegistryTest : public testing::Test {
 protected:
  absl::StatusOr<NameRegistry::State> Register(
      SessionId session, v1::NameFlag flag = v1::NAME_FLAG_FAIL_IF_OWNED,
      bool allow_replacement = false, const char* name = "video.frames") {
    return registry_.Register(session, name, flag, allow_replacement, &events_,
                              &owners_);
  }

  NameRegistry registry_;
  std::vector<NameEvent> events_;
  std::vector<NameOwnerChange> owners_;
};

TEST_F(NameRegistryTest, UnownedNameGoesToTheFirstClaimantWhateverTheFlag) {
  for (v1::NameFlag flag :
       {v1::NAME_FLAG_UNSPECIFIED, v1::NAME_FLAG_FAIL_IF_OWNED,
        v1::NAME_FLAG_REPLACE, v1::NAME_FLAG_QUEUE}) {
    NameRegistry registry;
    EXPECT_EQ(*registry.Register(kA, "n", flag, false, &events_),
              State::STATE_OWNER);
    EXPECT_EQ(registry.OwnerOf("n"), kA);
  }
  EXPECT_TRUE(events_.empty());
}

TEST_F(NameRegistryTest, OwnerClaimingAgainFailsOnlyWithFailIfOwned) {
  ASSERT_TRUE(Register(kA).ok());
  EXPECT_EQ(Register(kA).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Register(kA, v1::NAME_FLAG_UNSPECIFIED).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*Register(kA, v1::NAME_FLAG_REPLACE), State::STATE_OWNER);
  EXPECT_EQ(*Register(kA, v1::NAME_FLAG_QUEUE), State::STATE_OWNER);
  EXPECT_TRUE(registry_.QueueOf("video.frames").empty());
  EXPECT_TRUE(events_.empty());
}

TEST_F(NameRegistryTest, RegisteringATakenNameReturnsAlreadyExists) {
  ASSERT_TRUE(Register(kA, v1::NAME_FLAG_FAIL_IF_OWNED, true).ok());
  absl::StatusOr<NameRegistry::State> state = Register(kB);
  EXPECT_EQ(state.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(state.status().message().find(":1"), absl::string_view::npos);
  EXPECT_EQ(registry_.OwnerOf("video.frames"), kA);
}

TEST_F(NameRegistryTest, ReplaceTakesTheNameWhenAllowedAndTellsTheOldOwner) {
  ASSERT_TRUE(Register(kA, v1::NAME_FLAG_FAIL_IF_OWNED, /*allow=*/true).ok());
  EXPECT_EQ(*Register(kB, v1::NAME_FLAG_REPLACE), State::STATE_OWNER);
  EXPECT_EQ(registry_.OwnerOf("video.frames"), kB);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0],
            (NameEvent{NameEvent::Type::kLost, kA, "video.frames", kB}));
  // The replaced owner is not queued.
  EXPECT_TRUE(registry_.QueueOf("video.frames").empty());
  EXPECT_TRUE(registry_.NamesOwnedBy(kA).empty());
}

TEST_F(NameRegistryTest, ReplaceFailsWhenTheOwnerDidNotAllowIt) {
  ASSERT_TRUE(Register(kA, v1::NAME_FLAG_FAIL_IF_OWNED, /*allow=*/false).ok());
  EXPECT_EQ(Register(kB, v1::NAME_FLAG_REPLACE).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry_.OwnerOf("video.frames"), kA);
  EXPECT_TRUE(events_.empty());
}

TEST_F(NameRegistryTest, QueueJoinsTheLineWhetherOrNotReplacementIsAllowed) {
  ASSERT_TRUE(Register(kA, v1::NAME_FLAG_FAIL_IF_OWNED, false).ok());
  EXPECT_EQ(*Register(kB, v1::NAME_FLAG_QUEUE), State::STATE_QUEUED);
  NameRegistry other;
  ASSERT_TRUE(
      other.Register(kA, "n", v1::NAME_FLAG_FAIL_IF_OWNED, true, &events_)
          .ok());
  EXPECT_EQ(*other.Register(kB, "n", v1::NAME_FLAG_QUEUE, false, &events_),
            State::STATE_QUEUED);
}

TEST_F(NameRegistryTest, QueueingAgainKeepsThePlaceInLine) {
  ASSERT_TRUE(Register(kA).ok());
  ASSERT_TRUE(Register(kB, v1::NAME_FLAG_QUEUE).ok());
  ASSERT_TRUE(Register(kC, v1::NAME_FLAG_QUEUE).ok());
  EXPECT_EQ(*Register(kB, v1::NAME_FLAG_QUEUE), State::STATE_QUEUED);
  EXPECT_EQ(registry_.QueueOf("video.frames"),
            (std::vector<SessionId>{kB, kC}));
}

TEST_F(NameRegistryTest, ReleasingPassesTheNameToTheFirstInLine) {
  ASSERT_TRUE(Register(kA).ok());
  ASSERT_TRUE(Register(kB, v1::NAME_FLAG_QUEUE).ok());
  ASSERT_TRUE(Register(kC, v1::NAME_FLAG_QUEUE).ok());
  ASSERT_TRUE(registry_.Release(kA, "video.frames", &events_).ok());
  EXPECT_EQ(registry_.OwnerOf("video.frames"), kB);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0], (NameEvent{NameEvent::Type::kAcquired, kB,
                                   "video.frames", SessionId()}));
  EXPECT_EQ(registry_.QueueOf("video.frames"), (std::vector<SessionId>{kC}));
}

TEST_F(NameRegistryTest, ReleasingTheLastClaimRemovesTheName) {
  ASSERT_TRUE(Register(kA).ok());
  ASSERT_TRUE(registry_.Release(kA, "video.frames", &events_).ok());
  EXPECT_FALSE(registry_.OwnerOf("video.frames").has_value());
  EXPECT_EQ(registry_.name_count(), 0u);
  EXPECT_TRUE(events_.empty());
}

TEST_F(NameRegistryTest, LeavingTheQueueDoesNotDisturbTheOwner) {
  ASSERT_TRUE(Register(kA).ok());
  ASSERT_TRUE(Register(kB, v1::NAME_FLAG_QUEUE).ok());
  ASSERT_TRUE(registry_.Release(kB, "video.frames", &events_).ok());
  EXPECT_EQ(registry_.OwnerOf("video.frames"), kA);
  EXPECT_TRUE(registry_.QueueOf("video.frames").empty());
  EXPECT_TRUE(events_.empty());
}

TEST_F(NameRegistryTest, ReleasingANameNotHeldIsNotFound) {
  EXPECT_EQ(registry_.Release(kA, "video.frames", &events_).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(Register(kA).ok());
  EXPECT_EQ(registry_.Release(kB, "video.frames", &events_).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(NameRegistryTest, ForgettingASessionReleasesItsNamesAndQueuePlaces) {
  ASSERT_TRUE(Register(kA, v1::NAME_FLAG_FAIL_IF_OWNED, false, "a.one").ok());
  ASSERT_TRUE(Register(kA, v1::NAME_FLAG_FAIL_IF_OWNED, false, "a.two").ok());
  ASSERT_TRUE(Register(kB, v1::NAME_FLAG_QUEUE, false, "a.two").ok());
  ASSERT_TRUE(Register(kC, v1::NAME_FLAG_FAIL_IF_OWNED, false, "c.one").ok());
  ASSERT_TRUE(Register(kA, v1::NAME_FLAG_QUEUE, false, "c.one").ok());
  registry_.ForgetSession(kA, &events_);
  EXPECT_FALSE(registry_.OwnerOf("a.one").has_value());
  EXPECT_EQ(registry_.OwnerOf("a.two"), kB);
  EXPECT_EQ(registry_.OwnerOf("c.one"), kC);
  EXPECT_TRUE(registry_.QueueOf("c.one").empty());
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].type, NameEvent::Type::kAcquired);
  EXPECT_EQ(events_[0].session, kB);
  registry_.ForgetSession(kA, &events_);  // idempotent
  EXPECT_EQ(events_.size(), 1u);
}

TEST_F(NameRegistryTest, QueuedClaimKeepsItsAllowReplacementWhenPromoted) {
  ASSERT_TRUE(Register(kA).ok());
  ASSERT_TRUE(Register(kB, v1::NAME_FLAG_QUEUE, /*allow=*/true).ok());
  registry_.ForgetSession(kA, &events_);
  ASSERT_EQ(registry_.OwnerOf("video.frames"), kB);
  EXPECT_EQ(*Register(kC, v1::NAME_FLAG_REPLACE), State::STATE_OWNER);
}

TEST_F(NameRegistryTest, ReplacingFromTheQueueLeavesTheQueue) {
  ASSERT_TRUE(Register(kA, v1::NAME_FLAG_FAIL_IF_OWNED, true).ok());
  ASSERT_TRUE(Register(kB, v1::NAME_FLAG_QUEUE).ok());
  ASSERT_TRUE(Register(kC, v1::NAME_FLAG_QUEUE).ok());
  ASSERT_TRUE(Register(kB, v1::NAME_FLAG_REPLACE).ok());
  EXPECT_EQ(registry_.OwnerOf("video.frames"), kB);
  EXPECT_EQ(registry_.QueueOf("video.frames"), (std::vector<SessionId>{kC}));
}

TEST_F(NameRegistryTest, MalformedReservedNamesAndUnknownFlagsAreInvalid) {
  EXPECT_EQ(Register(kA, v1::NAME_FLAG_FAIL_IF_OWNED, false, "bad..name")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      Register(kA, v1::NAME_FLAG_FAIL_IF_OWNED, false, "switchboard.admin")
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Register(kA, static_cast<v1::NameFlag>(9)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_.name_count(), 0u);
}

TEST_F(NameRegistryTest, NamesOwnedByListsOnlyOwnedNames) {
  ASSERT_TRUE(Register(kA, v1::NAME_FLAG_FAIL_IF_OWNED, false, "b.name").ok());
  ASSERT_TRUE(Register(kA, v1::NAME_FLAG_FAIL_IF_OWNED, false, "a.name").ok());
  ASSERT_TRUE(Register(kB, v1::NAME_FLAG_FAIL_IF_OWNED, false, "c.name").ok());
  ASSERT_TRUE(Register(kA, v1::NAME_FLAG_QUEUE, false, "c.name").ok());
  EXPECT_EQ(registry_.NamesOwnedBy(kA),
            (std::vector<std::string>{"a.name", "b.name"}));
}

// The ordered index behind NamesAfter follows every way a name comes and
// goes: a claim, a replacement, a promotion from the queue, a release and
// an owner's disconnect.
TEST_F(NameRegistryTest, NamesAfterPagesThroughTheOwnedNamesInOrder) {
  for (const char* name : {"d", "b", "e", "a", "c"}) {
    ASSERT_TRUE(Register(kA, v1::NAME_FLAG_FAIL_IF_OWNED, true, name).ok());
  }
  ASSERT_TRUE(Register(kB, v1::NAME_FLAG_QUEUE, false, "b").ok());
  ASSERT_TRUE(Register(kC, v1::NAME_FLAG_REPLACE, false, "c").ok());
  ASSERT_TRUE(Register(kC, v1::NAME_FLAG_FAIL_IF_OWNED, false, "f").ok());
  EXPECT_EQ(registry_.NamesAfter("", 2), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(registry_.NamesAfter("b", 2), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(registry_.NamesAfter("bb", 10),
            (std::vector<std::string>{"c", "d", "e", "f"}));
  EXPECT_TRUE(registry_.NamesAfter("f", 10).empty());
  EXPECT_TRUE(registry_.NamesAfter("", 0).empty());

  ASSERT_TRUE(registry_.Release(kA, "d", &events_).ok());
  registry_.ForgetSession(kA, &events_);  // "b" passes to kB; a, e go
  registry_.ForgetSession(kC, &events_);  // c and f go
  EXPECT_EQ(registry_.NamesAfter("", 10), (std::vector<std::string>{"b"}));
  EXPECT_EQ(registry_.Names(), (std::vector<std::string>{"b"}));
  registry_.ForgetSession(kB, &events_);
  EXPECT_TRUE(registry_.NamesAfter("", 10).empty());
  EXPECT_EQ(registry_.name_count(), 0u);
}

TEST_F(NameRegistryTest, EveryOwnerChangeIsReported) {
  const SessionId none;
  ASSERT_TRUE(Register(kA, v1::NAME_FLAG_FAIL_IF_OWNED, true).ok());  // claim
  ASSERT_TRUE(Register(kA, v1::NAME_FLAG_REPLACE).ok());  // no change
  ASSERT_TRUE(Register(kC, v1::NAME_FLAG_QUEUE).ok());    // no change
  ASSERT_TRUE(Register(kB, v1::NAME_FLAG_REPLACE).ok());  // replace
  EXPECT_FALSE(Register(kC).ok());                        // refused
  ASSERT_TRUE(registry_.Release(kB, "video.frames", &events_, &owners_)
                  .ok());                           // promotion of kC
  registry_.ForgetSession(kC, &events_, &owners_);  // owner gone, none left
  ASSERT_TRUE(Register(kA, v1::NAME_FLAG_FAIL_IF_OWNED, false, "x").ok());
  ASSERT_TRUE(registry_.Release(kA, "x", &events_, &owners_).ok());
  const std::vector<NameOwnerChange> expected = {
      {"video.frames", none, kA},
      {"video.frames", kA, kB},
      {"video.frames", kB, kC},
      {"video.frames", kC, none},
      {"x", none, kA},
      {"x", kA, none},
  };
  EXPECT_EQ(owners_, expected);
}

}  // namespace
}  // namespace switchboard::core
