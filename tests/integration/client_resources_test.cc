// SPDX-License-Identifier: MIT
//
// What a client costs (client.h, "What a client costs"), and what happens
// when the process cannot pay: a client that only calls synchronously holds
// its socket and no thread; the first Subscribe starts the dispatch thread
// with its epoll set, eventfd and write watch; running out of descriptors
// at either step returns RESOURCE_EXHAUSTED, the process lives, and once
// descriptors are free again all works.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait_for.h"

namespace switchboard::testing {
namespace {

// The numbered entries of a /proc folder (descriptors, threads).
int CountEntries(const char* path) {
  int count = 0;
  DIR* dir = ::opendir(path);
  if (dir == nullptr) return -1;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count;
}

int OpenFds() { return CountEntries("/proc/self/fd"); }

// The client library's dispatch threads in this process, by their name
// (the test kit and the sanitizers have threads of their own).
int DispatchThreads() {
  int count = 0;
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream comm(
        absl::StrCat("/proc/self/task/", entry->d_name, "/comm"));
    std::string name;
    std::getline(comm, name);
    if (name == "sb-dispatch") ++count;
  }
  ::closedir(dir);
  return count;
}

// Opens /dev/null until no descriptor below the highest one is free, and
// returns the lowest free number: a limit of that number + k then leaves
// exactly k descriptors free. `fillers` keeps them open.
int FillDescriptorHoles(std::vector<Fd>& fillers) {
  for (;;) {
    Fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return -1;
    const int number = fd.get();
    fillers.push_back(std::move(fd));
    if (::fcntl(number + 1, F_GETFD) != -1) continue;
    bool holes_left = false;
    for (int i = 0; i < number; ++i) {
      if (::fcntl(i, F_GETFD) == -1) holes_left = true;
    }
    if (!holes_left) return number + 1;
  }
}

TEST(ClientResourcesTest, ASynchronousClientHoldsItsSocketAndNoThread) {
  BrokerProcess broker(Transport::kUnix);
  ASSERT_TRUE(broker.started());
  std::unique_ptr<Client> service = ConnectOrDie(broker, "service");
  Service echo("test.echo");
  echo.AddMethod("Echo", [](const CallInfo&, const Payload& request) {
    return absl::StatusOr<Payload>(request);
  });
  ASSERT_THAT(service->Serve(std::move(echo)), IsOk());

  constexpr int kClients = 64;
  const int fds_before = OpenFds();
  const int threads_before = DispatchThreads();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(ConnectOrDie(broker, "caller"));
    ASSERT_NE(clients.back(), nullptr);
    EXPECT_THAT(clients.back()->Ping(), IsOk());
    EXPECT_THAT(clients.back()->Call("test.echo", "Echo", Payload("hi")),
                IsOk());
    EXPECT_TRUE(clients.back()->connected());
  }
  EXPECT_EQ(OpenFds() - fds_before, kClients) << "one socket per client";
  EXPECT_EQ(DispatchThreads(), threads_before)
      << "no thread for synchronous calls";

  // The first Subscribe starts the dispatch thread and its descriptors.
  for (std::unique_ptr<Client>& client : clients) {
    EXPECT_THAT(client->Subscribe("test.topic", [](const Message&) {}), IsOk());
  }
  EXPECT_EQ(OpenFds() - fds_before, 4 * kClients);
  EXPECT_EQ(DispatchThreads() - threads_before, kClients);

  clients.clear();
  EXPECT_EQ(OpenFds(), fds_before);
  EXPECT_EQ(DispatchThreads(), threads_before);
}

TEST(ClientResourcesTest, ASynchronousClientNoticesARestartAtItsNextCall) {
  TempDir dir("switchboard-resources");
  BrokerOptions options;
  options.dir = dir.path();
  auto broker = std::make_unique<BrokerProcess>(options);
  ASSERT_TRUE(broker->started());
  const int threads_before = DispatchThreads();
  std::unique_ptr<Client> client = ConnectOrDie(*broker, "idle");
  ASSERT_THAT(client->Ping(), IsOk());
  EXPECT_EQ(DispatchThreads(), threads_before);

  // The broker goes away while nobody reads the connection.
  EXPECT_THAT(broker->Stop(SIGKILL), StatusIs(absl::StatusCode::kAborted));
  broker.reset();
  EXPECT_TRUE(WaitFor([&] { return !client->connected(); }, absl::Seconds(5)))
      << "connected() asks the socket";
  // No broker yet: the call waits its deadline for the reconnect, then fails.
  EXPECT_THAT(client->Ping(absl::Milliseconds(100)),
              StatusIs(absl::StatusCode::kUnavailable));

  broker = std::make_unique<BrokerProcess>(options);
  ASSERT_TRUE(broker->started());
  // The dispatch thread, started to reconnect, brings the connection back;
  // the call waits for it rather than fail.
  EXPECT_THAT(client->Ping(absl::Seconds(10)), IsOk());
  EXPECT_EQ(DispatchThreads() - threads_before, 1) << "the dispatch thread";
}

TEST(ClientResourcesTest, RunningOutOfDescriptorsFailsWithAStatus) {
  BrokerProcess broker(Transport::kUnix);
  ASSERT_TRUE(broker.started());
  const ConnectOptions options = broker.connect_options("starved");
  std::vector<Fd> fillers;
  const int next = FillDescriptorHoles(fillers);
  ASSERT_GT(next, 0);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);

  int connect_failures = 0;
  int setup_failures = 0;
  bool subscribed_at_last = false;
  for (int spare = 0; spare <= 10; ++spare) {
    rlimit lowered = saved;
    lowered.rlim_cur = static_cast<rlim_t>(next + spare);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Connect(broker.address(), options);
    absl::Status subscribed = absl::UnknownError("not connected");
    if (client.ok()) {
      // Subscribing needs the dispatch thread's descriptors too.
      subscribed =
          (*client)->Subscribe("test.topic", [](const Message&) {}).status();
    }
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
    if (!client.ok()) {
      EXPECT_EQ(client.status().code(), absl::StatusCode::kResourceExhausted)
          << "with " << spare << " descriptors free: " << client.status();
      ++connect_failures;
      continue;
    }
    if (subscribed.ok()) {
      subscribed_at_last = true;
      EXPECT_THAT((*client)->Ping(), IsOk());
      continue;
    }
    ++setup_failures;
    // The client closed for good, saying why; the process lives.
    absl::Status ping = (*client)->Ping();
    EXPECT_EQ(ping.code(), absl::StatusCode::kResourceExhausted) << ping;
    EXPECT_TRUE(absl::StrContains(ping.message(), "setting up the client"))
        << ping;
    EXPECT_FALSE((*client)->connected());
  }
  // Both steps ran out of descriptors at least once, and with enough of
  // them the client connects and subscribes.
  EXPECT_GT(connect_failures, 0);
  EXPECT_GT(setup_failures, 0);
  EXPECT_TRUE(subscribed_at_last);
  EXPECT_THAT(ConnectOrDie(broker, "after")->Ping(), IsOk());
}

}  // namespace
}  // namespace switchboard::testing
