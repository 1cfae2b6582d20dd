// SPDX-License-Identifier: MIT
//
// Service names through the real broker: claiming with each NameClaim,
// replacement, queueing and promotion, release, names that go with a
// disconnecting owner, and malformed or reserved names. Calls show who owns
// a name: every test service answers "Who" with its own tag.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "switchboard/v1/header.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/raw_clients.h"
#include "tests/testing/raw_connection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/transport.h"
#include "tests/testing/wait_for.h"
#include "wire/frame.h"
#include "wire/prefix.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::ConnectRaw;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::RawConnection;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::Transport;
using ::switchboard::testing::TransportTestName;
using ::switchboard::testing::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(20);

// A service whose "Who" method answers `tag`, so a call shows which client
// owns the name.
Service TaggedService(const std::string& name, const std::string& tag) {
  Service service(name);
  service.AddMethod(
      "Who", [tag](const CallInfo&, const Payload&) -> absl::StatusOr<Payload> {
        return Payload(tag);
      });
  return service;
}

ServeOptions Claim(NameClaim claim, bool allow_replacement = false) {
  ServeOptions options;
  options.claim = claim;
  options.allow_replacement = allow_replacement;
  return options;
}

// Records a client's OnNameChange callbacks. `client` must outlive it.
class NameEvents {
 public:
  explicit NameEvents(Client& client) : client_(client) {
    client_.OnNameChange([this](absl::string_view name, bool owned) {
      absl::MutexLock lock(&mu_);
      events_.push_back(absl::StrCat(owned ? "gained " : "lost ", name));
    });
  }
  ~NameEvents() { client_.OnNameChange(nullptr); }
  NameEvents(const NameEvents&) = delete;
  NameEvents& operator=(const NameEvents&) = delete;

  // Waits until `event` ("gained a.b" or "lost a.b") was reported.
  bool WaitFor(const std::string& event) {
    return testing::WaitFor(
        [&] {
          absl::MutexLock lock(&mu_);
          for (const std::string& e : events_) {
            if (e == event) return true;
          }
          return false;
        },
        kTimeout);
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  Client& client_;
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

class NamesTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    caller_ = ConnectOrDie(broker_, "caller");
  }

  // Which client owns `name`, by calling it.
  absl::StatusOr<Payload> Who(const std::string& name) {
    return caller_->Call(name, "Who", "", kTimeout);
  }

  // Sends REGISTER_NAME and returns the state from the broker's REPLY, or
  // the REPLY's error code as a status.
  absl::StatusOr<v1::RegisterNameResult::State> RegisterRaw(
      RawConnection& raw, const std::string& name, v1::NameFlag flag) {
    v1::Header header;
    header.mutable_register_name()->set_name(name);
    header.mutable_register_name()->set_flag(flag);
    const uint64_t id = ++raw_request_id_;
    if (absl::Status sent =
            raw.SendFrame(wire::Kind::kRegisterName, id, header);
        !sent.ok()) {
      return sent;
    }
    absl::StatusOr<wire::Frame> reply = raw.ReadFrame(kTimeout);
    if (!reply.ok()) return reply.status();
    if (reply->kind() != wire::Kind::kReply || reply->request_id() != id) {
      return absl::InternalError(absl::StrCat("expected REPLY ", id, ", got ",
                                              wire::KindName(reply->kind()),
                                              " ", reply->request_id()));
    }
    absl::StatusOr<v1::Header> reply_header = reply->ParseHeader();
    if (!reply_header.ok()) return reply_header.status();
    if (reply_header->reply().code() != 0) {
      return absl::Status(
          static_cast<absl::StatusCode>(reply_header->reply().code()),
          reply_header->reply().message());
    }
    v1::RegisterNameResult result;
    if (!result.ParseFromString(std::string(reply->payload()))) {
      return absl::InternalError("REPLY payload is not a RegisterNameResult");
    }
    return result.state();
  }

  BrokerProcess broker_{GetParam()};
  std::unique_ptr<Client> caller_;
  uint64_t raw_request_id_ = 0;
};

TEST_P(NamesTest, FirstClaimOwnsTheName) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  EXPECT_THAT(a->Serve(TaggedService("test.name", "a")),
              IsOkAndHolds(NameState::kOwner));
  EXPECT_THAT(Who("test.name"), IsOkAndHolds("a"));
}

TEST_P(NamesTest, OneClientMayServeSeveralNames) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  ASSERT_THAT(a->Serve(TaggedService("test.one", "one")), IsOk());
  ASSERT_THAT(a->Serve(TaggedService("test.two", "two")), IsOk());
  EXPECT_THAT(Who("test.one"), IsOkAndHolds("one"));
  EXPECT_THAT(Who("test.two"), IsOkAndHolds("two"));
}

TEST_P(NamesTest, ClaimOfAnOwnedNameFailsWithAlreadyExists) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  ASSERT_THAT(a->Serve(TaggedService("test.name", "a")), IsOk());
  std::unique_ptr<Client> b = ConnectOrDie(broker_, "b");
  EXPECT_THAT(b->Serve(TaggedService("test.name", "b")),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(
      b->Serve(TaggedService("test.name", "b"), Claim(NameClaim::kFailIfOwned)),
      StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(Who("test.name"), IsOkAndHolds("a"));
}

TEST_P(NamesTest, ClaimingANameOneAlreadyOwnsFailsWithAlreadyExists) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  ASSERT_THAT(a->Serve(TaggedService("test.name", "a")), IsOk());
  EXPECT_THAT(a->Serve(TaggedService("test.name", "a2")),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(Who("test.name"), IsOkAndHolds("a"));
}

TEST_P(NamesTest, ReplaceTakesTheNameWhenTheOwnerAllowsIt) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  NameEvents a_events(*a);
  ASSERT_THAT(a->Serve(TaggedService("test.name", "a"),
                       Claim(NameClaim::kFailIfOwned,
                             /*allow_replacement=*/true)),
              IsOkAndHolds(NameState::kOwner));
  std::unique_ptr<Client> b = ConnectOrDie(broker_, "b");
  EXPECT_THAT(
      b->Serve(TaggedService("test.name", "b"), Claim(NameClaim::kReplace)),
      IsOkAndHolds(NameState::kOwner));
  EXPECT_THAT(Who("test.name"), IsOkAndHolds("b"));
  EXPECT_TRUE(a_events.WaitFor("lost test.name"))
      << "events: " << ::testing::PrintToString(a_events.events());
}

TEST_P(NamesTest, ReplaceFailsWhenTheOwnerDoesNotAllowIt) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  NameEvents a_events(*a);
  ASSERT_THAT(a->Serve(TaggedService("test.name", "a")), IsOk());
  std::unique_ptr<Client> b = ConnectOrDie(broker_, "b");
  EXPECT_THAT(
      b->Serve(TaggedService("test.name", "b"), Claim(NameClaim::kReplace)),
      StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(Who("test.name"), IsOkAndHolds("a"));
  // A round trip on a's connection: a name_lost would have arrived first.
  EXPECT_THAT(a->Ping(kTimeout), IsOk());
  EXPECT_THAT(a_events.events(), ::testing::IsEmpty());
}

// The library answers a second Serve() of a name it already serves by
// itself; these go to the broker directly (docs/PROTOCOL.md 5.1).
TEST_P(NamesTest, BrokerAnswersAClaimOnOnesOwnNameAccordingToItsFlag) {
  absl::StatusOr<RawConnection> raw = ConnectRaw(broker_);
  ASSERT_THAT(raw, IsOk());
  EXPECT_THAT(RegisterRaw(*raw, "test.name", v1::NAME_FLAG_FAIL_IF_OWNED),
              IsOkAndHolds(v1::RegisterNameResult::STATE_OWNER));
  EXPECT_THAT(RegisterRaw(*raw, "test.name", v1::NAME_FLAG_FAIL_IF_OWNED),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(RegisterRaw(*raw, "test.name", v1::NAME_FLAG_UNSPECIFIED),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(RegisterRaw(*raw, "test.name", v1::NAME_FLAG_REPLACE),
              IsOkAndHolds(v1::RegisterNameResult::STATE_OWNER));
  EXPECT_THAT(RegisterRaw(*raw, "test.name", v1::NAME_FLAG_QUEUE),
              IsOkAndHolds(v1::RegisterNameResult::STATE_OWNER));
}

TEST_P(NamesTest, QueueingAgainKeepsOnesPlaceInTheQueue) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  ASSERT_THAT(a->Serve(TaggedService("test.name", "a")), IsOk());
  absl::StatusOr<RawConnection> b = ConnectRaw(broker_);
  ASSERT_THAT(b, IsOk());
  std::unique_ptr<Client> c = ConnectOrDie(broker_, "c");
  ASSERT_THAT(RegisterRaw(*b, "test.name", v1::NAME_FLAG_QUEUE),
              IsOkAndHolds(v1::RegisterNameResult::STATE_QUEUED));
  ASSERT_THAT(
      c->Serve(TaggedService("test.name", "c"), Claim(NameClaim::kQueue)),
      IsOkAndHolds(NameState::kQueued));
  EXPECT_THAT(RegisterRaw(*b, "test.name", v1::NAME_FLAG_QUEUE),
              IsOkAndHolds(v1::RegisterNameResult::STATE_QUEUED));

  // b is still first in line: it becomes owner and is told so.
  ASSERT_THAT(a->Release("test.name"), IsOk());
  absl::StatusOr<wire::Frame> event = b->ReadFrame(kTimeout);
  ASSERT_THAT(event, IsOk());
  ASSERT_EQ(event->kind(), wire::Kind::kEvent);
  absl::StatusOr<v1::Header> header = event->ParseHeader();
  ASSERT_THAT(header, IsOk());
  EXPECT_EQ(header->event().name_acquired().name(), "test.name");
}

TEST_P(NamesTest, QueuedClaimantTakesOverWhenTheOwnerReleases) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  ASSERT_THAT(a->Serve(TaggedService("test.name", "a")), IsOk());
  std::unique_ptr<Client> b = ConnectOrDie(broker_, "b");
  NameEvents b_events(*b);
  EXPECT_THAT(
      b->Serve(TaggedService("test.name", "b"), Claim(NameClaim::kQueue)),
      IsOkAndHolds(NameState::kQueued));
  EXPECT_THAT(Who("test.name"), IsOkAndHolds("a"));

  ASSERT_THAT(a->Release("test.name"), IsOk());
  EXPECT_TRUE(b_events.WaitFor("gained test.name"))
      << "events: " << ::testing::PrintToString(b_events.events());
  EXPECT_THAT(Who("test.name"), IsOkAndHolds("b"));
}

TEST_P(NamesTest, QueuedClaimantTakesOverWhenTheOwnerDisconnects) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  ASSERT_THAT(a->Serve(TaggedService("test.name", "a")), IsOk());
  std::unique_ptr<Client> b = ConnectOrDie(broker_, "b");
  NameEvents b_events(*b);
  ASSERT_THAT(
      b->Serve(TaggedService("test.name", "b"), Claim(NameClaim::kQueue)),
      IsOkAndHolds(NameState::kQueued));

  a.reset();
  EXPECT_TRUE(b_events.WaitFor("gained test.name"))
      << "events: " << ::testing::PrintToString(b_events.events());
  EXPECT_THAT(Who("test.name"), IsOkAndHolds("b"));
}

TEST_P(NamesTest, QueueIsFirstComeFirstServed) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  ASSERT_THAT(a->Serve(TaggedService("test.name", "a")), IsOk());
  std::unique_ptr<Client> b = ConnectOrDie(broker_, "b");
  std::unique_ptr<Client> c = ConnectOrDie(broker_, "c");
  ASSERT_THAT(
      b->Serve(TaggedService("test.name", "b"), Claim(NameClaim::kQueue)),
      IsOkAndHolds(NameState::kQueued));
  ASSERT_THAT(
      c->Serve(TaggedService("test.name", "c"), Claim(NameClaim::kQueue)),
      IsOkAndHolds(NameState::kQueued));

  ASSERT_THAT(a->Release("test.name"), IsOk());
  EXPECT_THAT(Who("test.name"), IsOkAndHolds("b"));
  ASSERT_THAT(b->Release("test.name"), IsOk());
  EXPECT_THAT(Who("test.name"), IsOkAndHolds("c"));
}

TEST_P(NamesTest, ReleaseLeavesTheQueue) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  ASSERT_THAT(a->Serve(TaggedService("test.name", "a")), IsOk());
  std::unique_ptr<Client> b = ConnectOrDie(broker_, "b");
  ASSERT_THAT(
      b->Serve(TaggedService("test.name", "b"), Claim(NameClaim::kQueue)),
      IsOkAndHolds(NameState::kQueued));
  EXPECT_THAT(b->Release("test.name"), IsOk());
  ASSERT_THAT(a->Release("test.name"), IsOk());
  EXPECT_THAT(Who("test.name"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(NamesTest, ReleasedNameIsFreeForOthers) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  ASSERT_THAT(a->Serve(TaggedService("test.name", "a")), IsOk());
  ASSERT_THAT(a->Release("test.name"), IsOk());
  EXPECT_THAT(Who("test.name"), StatusIs(absl::StatusCode::kNotFound));
  std::unique_ptr<Client> b = ConnectOrDie(broker_, "b");
  EXPECT_THAT(b->Serve(TaggedService("test.name", "b")),
              IsOkAndHolds(NameState::kOwner));
  EXPECT_THAT(Who("test.name"), IsOkAndHolds("b"));
}

TEST_P(NamesTest, ReleasingANameNotHeldFailsWithNotFound) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  EXPECT_THAT(a->Release("test.never"), StatusIs(absl::StatusCode::kNotFound));
  std::unique_ptr<Client> b = ConnectOrDie(broker_, "b");
  ASSERT_THAT(b->Serve(TaggedService("test.name", "b")), IsOk());
  EXPECT_THAT(a->Release("test.name"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Who("test.name"), IsOkAndHolds("b"));
}

TEST_P(NamesTest, NamesAreReleasedWhenTheOwnerDisconnects) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  ASSERT_THAT(a->Serve(TaggedService("test.name", "a")), IsOk());
  a.reset();
  std::unique_ptr<Client> b = ConnectOrDie(broker_, "b");
  // The broker notices the disconnect on its own time; wait for it.
  ASSERT_TRUE(WaitFor(
      [&] {
        return b->Serve(TaggedService("test.name", "b")).status().code() !=
               absl::StatusCode::kAlreadyExists;
      },
      kTimeout));
  EXPECT_THAT(Who("test.name"), IsOkAndHolds("b"));
}

TEST_P(NamesTest, MalformedAndReservedNamesFailWithInvalidArgument) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  const std::string too_long =
      std::string(128, 'a') + "." + std::string(127, 'b');
  ASSERT_EQ(too_long.size(), 256u);
  for (const std::string& bad :
       {std::string(""), std::string("a..b"), std::string(".a"),
        std::string("a."), std::string("a b"), std::string("a/b"),
        std::string("caf\xc3\xa9"), std::string("a*"), std::string("a.>"),
        std::string("switchboard.admin"), too_long}) {
    EXPECT_THAT(a->Serve(TaggedService(bad, "a")),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << "name \"" << bad << "\"";
  }
  EXPECT_THAT(a->Ping(kTimeout), IsOk());
}

TEST_P(NamesTest, NamesUsingTheWholeAlphabetAndMaximumLengthAreAccepted) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  const std::string longest =
      std::string(127, 'a') + "." + std::string(127, 'b');
  ASSERT_EQ(longest.size(), 255u);
  for (const std::string& good :
       {std::string("x"), std::string("Az09_-.b-_9"), longest}) {
    EXPECT_THAT(a->Serve(TaggedService(good, good)),
                IsOkAndHolds(NameState::kOwner))
        << "name \"" << good << "\"";
    EXPECT_THAT(Who(good), IsOkAndHolds(good));
  }
}

INSTANTIATE_TEST_SUITE_P(AllTransports, NamesTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

}  // namespace
}  // namespace switchboard
