// SPDX-License-Identifier: MIT
//
// What a Client does to its host process (client.h, "Signals and fork()"):
// its descriptors are close-on-exec, and its threads block every signal, so
// signals reach the application's threads. Checked from /proc against a
// real broker.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/status_matchers.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::IsOk;

// Names of the entries of a /proc folder that are numbers.
std::set<int> NumberedEntries(const char* path) {
  std::set<int> out;
  DIR* dir = ::opendir(path);
  if (dir == nullptr) return out;
  while (dirent* entry = ::readdir(dir)) {
    int number;
    if (absl::SimpleAtoi(entry->d_name, &number)) out.insert(number);
  }
  ::closedir(dir);
  return out;
}

// The "SigBlk:" mask of thread `tid` of this process.
uint64_t BlockedSignals(int tid) {
  std::ifstream status("/proc/self/task/" + std::to_string(tid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "SigBlk:")) {
      uint64_t mask = 0;
      if (absl::SimpleHexAtoi(absl::StripAsciiWhitespace(rest), &mask)) {
        return mask;
      }
    }
  }
  ADD_FAILURE() << "no SigBlk for thread " << tid;
  return 0;
}

uint64_t Bit(int signal) { return uint64_t{1} << (signal - 1); }

TEST(ClientThreadsTest, DescriptorsAreCloseOnExec) {
  BrokerProcess broker;
  ASSERT_TRUE(broker.started());
  const std::set<int> before = NumberedEntries("/proc/self/fd");
  std::unique_ptr<Client> client = ConnectOrDie(broker, "cloexec");
  // A served name turns the read watch on: every descriptor is in use.
  ASSERT_THAT(client->Serve(Service("test.cloexec")), IsOk());
  int added = 0;
  for (int fd : NumberedEntries("/proc/self/fd")) {
    if (before.count(fd) != 0) continue;
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0) continue;  // the folder listing's own descriptor
    ++added;
    EXPECT_NE(flags & FD_CLOEXEC, 0) << "descriptor " << fd;
  }
  EXPECT_GT(added, 0);
}

TEST(ClientThreadsTest, LibraryThreadsBlockSignalsTheApplicationTakes) {
  BrokerProcess broker;
  ASSERT_TRUE(broker.started());
  // This thread blocks nothing; the client's threads must block all the
  // same.
  sigset_t none;
  sigemptyset(&none);
  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, &none, nullptr), 0);
  const std::set<int> before = NumberedEntries("/proc/self/task");
  std::unique_ptr<Client> client = ConnectOrDie(broker, "signals");
  // Serving a name starts the dispatch thread.
  ASSERT_THAT(client->Serve(Service("test.signals")), IsOk());
  int library_threads = 0;
  int named_dispatch = 0;
  for (int tid : NumberedEntries("/proc/self/task")) {
    if (before.count(tid) != 0) continue;
    ++library_threads;
    std::ifstream comm("/proc/self/task/" + std::to_string(tid) + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name == "sb-dispatch") ++named_dispatch;
    const uint64_t blocked = BlockedSignals(tid);
    for (int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
                       SIGCHLD, SIGPIPE, SIGALRM, SIGWINCH}) {
      EXPECT_NE(blocked & Bit(signal), 0u)
          << "thread " << tid << " takes signal " << signal;
    }
  }
  EXPECT_GE(library_threads, 1);
  EXPECT_EQ(named_dispatch, 1) << "the dispatch thread says what it is";
  // The caller's own mask is as it was.
  EXPECT_EQ(BlockedSignals(static_cast<int>(::gettid())) &
                (Bit(SIGINT) | Bit(SIGTERM) | Bit(SIGUSR1)),
            0u);
}

}  // namespace
}  // namespace switchboard
