// SPDX-License-Identifier: MIT
//
// Service activation with real programs: the real switchboardd reads
// activation files from a temporary folder (--activation-dir) that name
// real programs, mostly switchboard_test_callee behind a small /bin/sh
// wrapper that first appends its pid to a file, so a test can count the
// starts. (The broker never uses a shell itself: the files name /bin/sh as
// the program.) Programs the broker started keep running when it stops, so
// every test kills them while the broker still runs to reap them, and
// waits until they are gone.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/stream.h"
#include "switchboard/v1/broker.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/child_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait_for.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerOptions;
using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::WaitFor;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(20);

class ActivationTest : public ::testing::Test {
 protected:
  ActivationTest() {
    services_ = dir_ + "/services";
    ::mkdir(services_.c_str(), 0700);
    pids_file_ = dir_ + "/pids";
    fifo_ = dir_ + "/go";
  }

  ~ActivationTest() override {
    KillStarted();
    broker_.reset();
  }

  void StartBroker(std::vector<std::string> flags = {}) {
    flags.push_back(absl::StrCat("--activation-dir=", services_));
    BrokerOptions options;
    options.flags = std::move(flags);
    broker_.emplace(options);
    ASSERT_TRUE(broker_->started());
  }

  static void WriteFile(const std::string& path, absl::string_view text) {
    std::ofstream(path) << text;
  }

  // An activation file for `name` running `argv`.
  void WriteActivation(const std::string& name,
                       const std::vector<std::string>& argv) {
    std::string text = absl::StrCat("name: \"", name, "\"\ncommand {\n");
    for (const std::string& arg : argv) {
      absl::StrAppend(&text, "  argv: \"", absl::CEscape(arg), "\"\n");
    }
    absl::StrAppend(&text, "}\n");
    WriteFile(absl::StrCat(services_, "/", name, ".activation"), text);
  }

  // /bin/sh appends its pid to pids_file_, runs `before` (shell), then
  // becomes the test callee serving `name` (at SWITCHBOARD_ADDRESS).
  std::vector<std::string> CountedCallee(const std::string& name,
                                         const std::string& before = "") {
    return {
        "/bin/sh", "-c",
        absl::StrCat("echo $$ >> '", pids_file_, "'; ", before,
                     before.empty() ? "" : "; ", "exec '",
                     testing::TestCalleePath(), "' --service '", name, "'")};
  }

  // A callee that waits for Release() before it connects.
  std::vector<std::string> HeldBackCallee(const std::string& name) {
    if (::access(fifo_.c_str(), F_OK) != 0) {
      EXPECT_EQ(::mkfifo(fifo_.c_str(), 0600), 0);
    }
    return CountedCallee(name, absl::StrCat("read line < '", fifo_, "'"));
  }
  // Lets every HeldBackCallee waiting on the fifo go on.
  void Release() { WriteFile(fifo_, "go\n"); }

  // The pids the started programs wrote, in start order.
  std::vector<pid_t> Started() const {
    std::ifstream in(pids_file_);
    std::vector<pid_t> pids;
    std::string line;
    while (std::getline(in, line)) {
      int pid = 0;
      if (absl::SimpleAtoi(line, &pid)) pids.push_back(pid);
    }
    return pids;
  }

  // Kills every started program and waits until the broker reaped it.
  void KillStarted() {
    for (pid_t pid : Started()) {
      ::kill(pid, SIGKILL);
      EXPECT_TRUE(WaitFor(
          [pid] { return ::kill(pid, 0) != 0 && errno == ESRCH; }, kWait))
          << "started program " << pid << " was not reaped";
    }
  }

  absl::StatusOr<v1::NameList> ListNames(Client& client) {
    return client.Call<v1::NameList>("switchboard.Broker", "ListNames",
                                     v1::ListNamesRequest());
  }

  testing::TempDir temp_{"sb-act"};  // outlives the broker that runs in it
  const std::string dir_ = temp_.path();
  std::string services_;
  std::string pids_file_;
  std::string fifo_;
  std::optional<BrokerProcess> broker_;
};

TEST_F(ActivationTest, ACallStartsTheServiceAndReachesIt) {
  WriteActivation("test.activated", CountedCallee("test.activated"));
  StartBroker();
  std::unique_ptr<Client> caller = ConnectOrDie(*broker_, "caller");
  absl::StatusOr<Payload> reply =
      caller->Call("test.activated", "Echo", Payload("hello"), kWait);
  ASSERT_THAT(reply.status(), IsOk()) << broker_->ReadStderr();
  EXPECT_EQ(reply->view(), "hello");
  EXPECT_EQ(Started().size(), 1u);
  // Running now: the next call goes straight to it.
  EXPECT_THAT(
      caller->Call("test.activated", "Echo", Payload("again"), kWait).status(),
      IsOk());
  EXPECT_EQ(Started().size(), 1u);
}

TEST_F(ActivationTest, AStreamedCallStartsTheServiceToo) {
  WriteActivation("test.activated", CountedCallee("test.activated"));
  StartBroker();
  std::unique_ptr<Client> caller = ConnectOrDie(*broker_, "caller");
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
      caller->CallStream("test.activated", "Stream", Payload(""));
  ASSERT_THAT(stream.status(), IsOk());
  for (const char* expected : {"0", "1", "2"}) {
    absl::StatusOr<std::optional<Payload>> next = (*stream)->Next();
    ASSERT_THAT(next.status(), IsOk()) << broker_->ReadStderr();
    ASSERT_TRUE(next->has_value());
    EXPECT_EQ((*next)->view(), expected);
  }
  (*stream)->Cancel();
  EXPECT_EQ(Started().size(), 1u);
}

TEST_F(ActivationTest, AProgramThatExitsEndsTheCallsAndTheNextCallTriesAgain) {
  WriteActivation(
      "test.broken",
      {"/bin/sh", "-c", absl::StrCat("echo $$ >> '", pids_file_, "'; exit 3")});
  StartBroker();
  std::unique_ptr<Client> caller = ConnectOrDie(*broker_, "caller");
  EXPECT_THAT(
      caller->Call("test.broken", "Echo", Payload("x"), kWait).status(),
      StatusIs(absl::StatusCode::kUnavailable,
               "activation of test.broken failed: /bin/sh exited with status "
               "3 before claiming the name"));
  EXPECT_EQ(Started().size(), 1u);
  EXPECT_THAT(caller->Call("test.broken", "Echo", Payload("x"), kWait).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(Started().size(), 2u);
}

TEST_F(ActivationTest, TheProgramGetsTheBusAddressButNotTheNotifySocket) {
  const std::string env_file = dir_ + "/env";
  WriteActivation("test.env",
                  {"/bin/sh", "-c",
                   absl::StrCat("echo \"notify=${NOTIFY_SOCKET-unset} "
                                "address=$SWITCHBOARD_ADDRESS\" > '",
                                env_file, "'; exit 3")});
  // As if systemd started the broker: the program it starts is not the
  // service systemd knows, and must not report readiness for it.
  ::setenv("NOTIFY_SOCKET", (dir_ + "/notify").c_str(), 1);
  StartBroker();
  ::unsetenv("NOTIFY_SOCKET");
  std::unique_ptr<Client> caller = ConnectOrDie(*broker_, "caller");
  EXPECT_THAT(caller->Call("test.env", "Echo", Payload("x"), kWait).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  std::ifstream in(env_file);
  std::string line;
  ASSERT_TRUE(std::getline(in, line)) << "the program did not run";
  EXPECT_EQ(line,
            absl::StrCat("notify=unset address=", broker_->unix_address()));
}

TEST_F(ActivationTest, AProgramThatCannotRunFailsTheCall) {
  WriteActivation("test.missing", {dir_ + "/no-such-program"});
  StartBroker();
  std::unique_ptr<Client> caller = ConnectOrDie(*broker_, "caller");
  EXPECT_THAT(
      caller->Call("test.missing", "Echo", Payload("x"), kWait).status(),
      StatusIs(absl::StatusCode::kUnavailable,
               HasSubstr(absl::StrCat("activation of test.missing failed: "
                                      "cannot run ",
                                      dir_, "/no-such-program"))));
}

TEST_F(ActivationTest, ASlowStartMissesTheDeadlineButLaterCallsWork) {
  WriteActivation("test.slow", HeldBackCallee("test.slow"));
  StartBroker();
  std::unique_ptr<Client> caller = ConnectOrDie(*broker_, "caller");
  EXPECT_THAT(
      caller->Call("test.slow", "Echo", Payload("x"), absl::Milliseconds(300))
          .status(),
      StatusIs(absl::StatusCode::kDeadlineExceeded));
  Release();
  EXPECT_THAT(caller->Call("test.slow", "Echo", Payload("y"), kWait).status(),
              IsOk())
      << broker_->ReadStderr();
  EXPECT_EQ(Started().size(), 1u);
}

TEST_F(ActivationTest, AHundredConcurrentCallersCauseOneStart) {
  WriteActivation("test.activated", HeldBackCallee("test.activated"));
  StartBroker();
  constexpr int kClients = 4;
  constexpr int kCallsEach = 25;
  std::vector<std::unique_ptr<Client>> callers;
  for (int i = 0; i < kClients; ++i) {
    callers.push_back(ConnectOrDie(*broker_, absl::StrCat("caller", i)));
  }
  absl::Mutex mu;
  int ok = 0;
  int done = 0;
  std::vector<std::string> errors;
  for (int i = 0; i < kClients; ++i) {
    for (int j = 0; j < kCallsEach; ++j) {
      callers[i]->CallAsync(
          "test.activated", "Echo", Payload(absl::StrCat(i, "/", j)), kWait,
          [&,
           expected = absl::StrCat(i, "/", j)](absl::StatusOr<Payload> reply) {
            absl::MutexLock lock(&mu);
            ++done;
            if (reply.ok() && reply->view() == expected) {
              ++ok;
            } else {
              errors.push_back(reply.status().ToString());
            }
          });
    }
  }
  // All hundred are held before the program may go on.
  std::unique_ptr<Client> observer = ConnectOrDie(*broker_, "observer");
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<v1::NameList> names = ListNames(*observer);
        return names.ok() && names->activatable_size() == 1 &&
               names->activatable(0).held_calls() == kClients * kCallsEach;
      },
      kWait));
  Release();
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return done == kClients * kCallsEach;
      },
      kWait));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(ok, kClients * kCallsEach) << absl::StrJoin(errors, "\n");
  EXPECT_EQ(Started().size(), 1u);
}

TEST_F(ActivationTest, HeldCallsBeyondTheQueueLimitGetResourceExhausted) {
  WriteActivation("test.activated", HeldBackCallee("test.activated"));
  StartBroker({"--max-activation-queue=2"});
  std::unique_ptr<Client> caller = ConnectOrDie(*broker_, "caller");
  absl::Mutex mu;
  std::vector<absl::Status> results;
  for (int i = 0; i < 2; ++i) {
    caller->CallAsync("test.activated", "Echo", Payload("x"), kWait,
                      [&](absl::StatusOr<Payload> reply) {
                        absl::MutexLock lock(&mu);
                        results.push_back(reply.status());
                      });
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<v1::NameList> names = ListNames(*caller);
        return names.ok() && names->activatable_size() == 1 &&
               names->activatable(0).held_calls() == 2;
      },
      kWait));
  EXPECT_THAT(
      caller->Call("test.activated", "Echo", Payload("x"), kWait).status(),
      StatusIs(absl::StatusCode::kResourceExhausted,
               "service 'test.activated' is being started and 2 calls "
               "already wait for it, the broker's limit per name"));
  Release();
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return results.size() == 2;
      },
      kWait));
  absl::MutexLock lock(&mu);
  EXPECT_THAT(results[0], IsOk());
  EXPECT_THAT(results[1], IsOk());
}

TEST_F(ActivationTest, AFileAddedBeforeSighupBecomesActivatable) {
  StartBroker();
  std::unique_ptr<Client> caller = ConnectOrDie(*broker_, "caller");
  EXPECT_THAT(caller->Call("test.later", "Echo", Payload("x"), kWait).status(),
              StatusIs(absl::StatusCode::kNotFound));
  WriteActivation("test.later", CountedCallee("test.later"));
  ASSERT_THAT(broker_->Signal(SIGHUP), IsOk());
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<v1::NameList> names = ListNames(*caller);
        return names.ok() && names->activatable_size() == 1;
      },
      kWait));
  EXPECT_THAT(caller->Call("test.later", "Echo", Payload("x"), kWait).status(),
              IsOk());
  EXPECT_EQ(Started().size(), 1u);
  EXPECT_THAT(broker_->ReadStderr(),
              HasSubstr(absl::StrCat("activation: added test.later (/bin/sh")));
}

TEST_F(ActivationTest, ABadFileIsLoggedWithItsLineAndSkipped) {
  WriteFile(services_ + "/test.bad.activation",
            "name: \"test.bad\"\ncommand { argv: 3 }\n");
  WriteActivation("test.activated", CountedCallee("test.activated"));
  StartBroker();
  EXPECT_THAT(broker_->ReadStderr(),
              HasSubstr(absl::StrCat("skipping activation file ", services_,
                                     "/test.bad.activation:2:")));
  std::unique_ptr<Client> caller = ConnectOrDie(*broker_, "caller");
  EXPECT_THAT(caller->Call("test.bad", "Echo", Payload("x"), kWait).status(),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(
      caller->Call("test.activated", "Echo", Payload("x"), kWait).status(),
      IsOk());
}

TEST_F(ActivationTest, PublishingNeverActivates) {
  WriteActivation("test.activated", CountedCallee("test.activated"));
  StartBroker();
  std::unique_ptr<Client> publisher = ConnectOrDie(*broker_, "publisher");
  ASSERT_THAT(publisher->Publish("test.activated", Payload("x")), IsOk());
  // The publish went before the ping's reply came back.
  ASSERT_THAT(publisher->Ping(), IsOk());
  absl::StatusOr<v1::NameList> names = ListNames(*publisher);
  ASSERT_THAT(names.status(), IsOk());
  ASSERT_EQ(names->activatable_size(), 1);
  EXPECT_FALSE(names->activatable(0).activating());
  EXPECT_TRUE(Started().empty());
}

TEST_F(ActivationTest, ListNamesShowsActivatableNames) {
  WriteActivation("test.activated", CountedCallee("test.activated"));
  StartBroker();
  std::unique_ptr<Client> caller = ConnectOrDie(*broker_, "caller");
  absl::StatusOr<v1::NameList> names = ListNames(*caller);
  ASSERT_THAT(names.status(), IsOk());
  EXPECT_EQ(names->names_size(), 0);
  ASSERT_EQ(names->activatable_size(), 1);
  const v1::ActivatableName& entry = names->activatable(0);
  EXPECT_EQ(entry.name(), "test.activated");
  EXPECT_EQ(entry.command(0), "/bin/sh");
  EXPECT_EQ(entry.file(), services_ + "/test.activated.activation");
  EXPECT_EQ(entry.owner(), 0u);
  ASSERT_THAT(
      caller->Call("test.activated", "Echo", Payload("x"), kWait).status(),
      IsOk());
  names = ListNames(*caller);
  ASSERT_THAT(names.status(), IsOk());
  ASSERT_EQ(names->names_size(), 1);
  EXPECT_TRUE(names->names(0).activatable());
  EXPECT_NE(names->activatable(0).owner(), 0u);
}

TEST_F(ActivationTest, ShutdownEndsHeldCallsAndLeavesTheProgramRunning) {
  // Orphans of the broker become this process's children, to reap below.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  WriteActivation("test.activated", HeldBackCallee("test.activated"));
  StartBroker();
  std::unique_ptr<Client> caller = ConnectOrDie(*broker_, "caller");
  absl::Mutex mu;
  std::optional<absl::Status> result;
  caller->CallAsync("test.activated", "Echo", Payload("x"), kWait,
                    [&](absl::StatusOr<Payload> reply) {
                      absl::MutexLock lock(&mu);
                      result = reply.status();
                    });
  ASSERT_TRUE(WaitFor([&] { return Started().size() == 1; }, kWait));
  ASSERT_THAT(broker_->Signal(SIGTERM), IsOk());
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return result.has_value();
      },
      kWait));
  {
    absl::MutexLock lock(&mu);
    EXPECT_THAT(*result, StatusIs(absl::StatusCode::kUnavailable,
                                  "the broker is shutting down"));
  }
  EXPECT_THAT(broker_->Wait(kWait), testing::IsOkAndHolds(0));
  // The broker does not stop what it started.
  const pid_t pid = Started()[0];
  EXPECT_EQ(::kill(pid, 0), 0);
  ::kill(pid, SIGKILL);
  EXPECT_EQ(::waitpid(pid, nullptr, 0), pid);
  WriteFile(pids_file_, "");
}

TEST_F(ActivationTest, AUnitWithoutASystemdUserManagerFailsTheCall) {
  WriteFile(services_ + "/test.unit.activation",
            "name: \"test.unit\"\nsystemd_unit: \"test-unit.service\"\n");
  // No user bus: the broker inherits these.
  const std::string bus = absl::StrCat("unix:path=", dir_, "/no-bus");
  ::setenv("DBUS_SESSION_BUS_ADDRESS", bus.c_str(), 1);
  ::setenv("XDG_RUNTIME_DIR", dir_.c_str(), 1);
  StartBroker();
  ::unsetenv("DBUS_SESSION_BUS_ADDRESS");
  ::unsetenv("XDG_RUNTIME_DIR");
  std::unique_ptr<Client> caller = ConnectOrDie(*broker_, "caller");
  EXPECT_THAT(
      caller->Call("test.unit", "Echo", Payload("x"), kWait).status(),
      StatusIs(absl::StatusCode::kUnavailable,
               HasSubstr("activation of test.unit failed: cannot start unit "
                         "test-unit.service: no systemd user manager (")));
}

// Unit activation against a stand-in for the systemd user manager
// (switchboard_test_fake_systemd) on a private dbus-daemon: the broker's
// side of the exchange (StartUnit "replace", JobRemoved, errors) is real;
// systemd itself is not, since none runs in the test machine.
class ActivationUnitTest : public ActivationTest {
 protected:
  // What the fake manager ran is its child: killed while it can reap it.
  ~ActivationUnitTest() override { KillStarted(); }

  void SetUp() override {
    absl::StatusOr<testing::ChildProcess> bus = testing::ChildProcess::Start(
        {"/usr/bin/dbus-daemon", "--session", "--nofork", "--print-address",
         absl::StrCat("--address=unix:path=", dir_, "/dbus")},
        dir_ + "/dbus.stderr");
    ASSERT_THAT(bus.status(), IsOk());
    bus_.emplace(*std::move(bus));
    absl::StatusOr<std::string> address = bus_->ReadLine(kWait);
    ASSERT_THAT(address.status(), IsOk());
    bus_address_ = *address;
  }

  // Starts the broker and the fake manager, both on the private bus.
  void StartBrokerAndManager() {
    ::setenv("DBUS_SESSION_BUS_ADDRESS", bus_address_.c_str(), 1);
    StartBroker();
    ::setenv("SWITCHBOARD_ADDRESS", broker_->address().c_str(), 1);
    absl::StatusOr<testing::ChildProcess> manager =
        testing::ChildProcess::Start(
            {SWITCHBOARD_FAKE_SYSTEMD_PATH,
             absl::StrCat("--run=", CountedCallee("test.unit")[2])},
            dir_ + "/manager.stderr");
    ::unsetenv("SWITCHBOARD_ADDRESS");
    ::unsetenv("DBUS_SESSION_BUS_ADDRESS");
    ASSERT_THAT(manager.status(), IsOk());
    manager_.emplace(*std::move(manager));
    EXPECT_THAT(manager_->ReadLine(kWait), testing::IsOkAndHolds("ready"));
  }

  void WriteUnitActivation(const std::string& name, const std::string& unit) {
    WriteFile(
        absl::StrCat(services_, "/", name, ".activation"),
        absl::StrCat("name: \"", name, "\"\nsystemd_unit: \"", unit, "\"\n"));
  }

  std::string bus_address_;
  std::optional<testing::ChildProcess> bus_;
  std::optional<testing::ChildProcess> manager_;
};

TEST_F(ActivationUnitTest, AUnitIsStartedThroughTheUserManager) {
  WriteUnitActivation("test.unit", "ok-callee.service");
  StartBrokerAndManager();
  std::unique_ptr<Client> caller = ConnectOrDie(*broker_, "caller");
  absl::StatusOr<Payload> reply =
      caller->Call("test.unit", "Echo", Payload("hi"), kWait);
  ASSERT_THAT(reply.status(), IsOk()) << broker_->ReadStderr();
  EXPECT_EQ(reply->view(), "hi");
  EXPECT_THAT(manager_->ReadLine(kWait),
              testing::IsOkAndHolds("StartUnit ok-callee.service replace"));
  EXPECT_EQ(Started().size(), 1u);
}

TEST_F(ActivationUnitTest, AFailedJobFailsTheCalls) {
  WriteUnitActivation("test.unit", "fail-callee.service");
  StartBrokerAndManager();
  std::unique_ptr<Client> caller = ConnectOrDie(*broker_, "caller");
  EXPECT_THAT(caller->Call("test.unit", "Echo", Payload("hi"), kWait).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       "activation of test.unit failed: systemd's job to "
                       "start unit fail-callee.service ended with result "
                       "'failed'"));
  EXPECT_TRUE(Started().empty());
}

TEST_F(ActivationUnitTest, AnUnknownUnitFailsTheCalls) {
  WriteUnitActivation("test.unit", "nope.service");
  StartBrokerAndManager();
  std::unique_ptr<Client> caller = ConnectOrDie(*broker_, "caller");
  EXPECT_THAT(caller->Call("test.unit", "Echo", Payload("hi"), kWait).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       "activation of test.unit failed: systemd could not "
                       "start unit nope.service: Unit nope.service not "
                       "found."));
}

}  // namespace
}  // namespace switchboard
