// SPDX-License-Identifier: MIT
//
// The library never aborts its host for a resource failure: a Connect
// that runs out of descriptors part-way (the socket, then the client's own
// epoll, eventfd and write watch) returns RESOURCE_EXHAUSTED, the process
// lives, and once descriptors are free again Connect works.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/status_matchers.h"

namespace switchboard::testing {
namespace {

TEST(ClientResourcesTest, ConnectWithoutDescriptorsToSpareFailsWithAStatus) {
  BrokerProcess broker(Transport::kUnix);
  ASSERT_TRUE(broker.started());
  const ConnectOptions options = broker.connect_options("starved");

  // Fill the holes below the highest open descriptor, so that a limit of
  // `next + k` leaves exactly k descriptors free.
  std::vector<Fd> fillers;
  int next = -1;
  for (;;) {
    Fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    const int number = fd.get();
    fillers.push_back(std::move(fd));
    // Holes are filled lowest first; once a new one lands past every
    // descriptor open before, none is left.
    if (::fcntl(number + 1, F_GETFD) == -1 && number > next) {
      bool holes_left = false;
      for (int i = 0; i < number; ++i) {
        if (::fcntl(i, F_GETFD) == -1) holes_left = true;
      }
      if (!holes_left) {
        next = number + 1;
        break;
      }
    }
  }
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);

  int setup_failures = 0;
  bool connected_at_last = false;
  for (int spare = 0; spare <= 10; ++spare) {
    rlimit lowered = saved;
    lowered.rlim_cur = static_cast<rlim_t>(next + spare);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Connect(broker.address(), options);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
    if (client.ok()) {
      connected_at_last = true;
      EXPECT_THAT((*client)->Ping(), IsOk());
      continue;
    }
    EXPECT_EQ(client.status().code(), absl::StatusCode::kResourceExhausted)
        << "with " << spare << " descriptors free: " << client.status();
    if (absl::StrContains(client.status().message(), "setting up the client")) {
      ++setup_failures;
    }
  }
  // The client's own descriptors ran out at least once after its socket
  // was made, and with enough of them it connects.
  EXPECT_GT(setup_failures, 0);
  EXPECT_TRUE(connected_at_last);
  EXPECT_THAT(ConnectOrDie(broker, "after")->Ping(), IsOk());
}

}  // namespace
}  // namespace switchboard::testing
