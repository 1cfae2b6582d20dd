// SPDX-License-Identifier: MIT
#include "io/peer_identity.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/fd.h"
#include "gtest/gtest.h"

namespace switchboard::io {
namespace {

std::string SelfExecutable() {
  char target[4096];
  const ssize_t n = ::readlink("/proc/self/exe", target, sizeof target);
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : "";
}

std::string SelfCgroup() {
  std::ifstream in("/proc/self/cgroup");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A listening Unix socket in a fresh folder.
class Listening {
 public:
  Listening() {
    char pattern[] = "/tmp/sb-peer-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    path_ = dir_ + "/socket";
    fd_ = Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path_.copy(address.sun_path, sizeof address.sun_path - 1);
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&address),
                     sizeof address),
              0);
    EXPECT_EQ(::listen(fd_.get(), 4), 0);
  }
  ~Listening() {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  // Connects from a child process that then waits for a byte (or, with
  // `exit_at_once`, exits). Returns the child's pid.
  pid_t ConnectFromChild(bool exit_at_once, int& parent_end) {
    int pipe_fds[2];
    EXPECT_EQ(::pipe(pipe_fds), 0);
    const pid_t child = ::fork();
    if (child == 0) {
      ::close(pipe_fds[1]);
      const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      path_.copy(address.sun_path, sizeof address.sun_path - 1);
      if (::connect(s, reinterpret_cast<sockaddr*>(&address), sizeof address) !=
          0) {
        ::_exit(1);
      }
      if (!exit_at_once) {
        char byte;
        (void)!::read(pipe_fds[0], &byte, 1);
      }
      ::_exit(0);
    }
    ::close(pipe_fds[0]);
    parent_end = pipe_fds[1];
    return child;
  }
  Fd Accept() {
    return Fd(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  }

 private:
  std::string dir_;
  std::string path_;
  Fd fd_;
};

TEST(PeerIdentityTest, ThisProcessThroughASocketPair) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  Fd a(pair[0]);
  Fd b(pair[1]);
  absl::StatusOr<PeerIdentity> identity = IdentifyPeer(a.get());
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->uid, ::getuid());
  EXPECT_EQ(identity->gid, ::getgid());
  EXPECT_EQ(identity->pid, static_cast<uint32_t>(::getpid()));
  std::vector<gid_t> groups(static_cast<size_t>(::getgroups(0, nullptr)));
  ::getgroups(static_cast<int>(groups.size()), groups.data());
  std::vector<uint32_t> expected(groups.begin(), groups.end());
  std::vector<uint32_t> got = identity->groups;
  std::sort(expected.begin(), expected.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, expected);
  EXPECT_TRUE(identity->process_verified);
  EXPECT_NE(identity->start_time, 0u);
  EXPECT_EQ(identity->start_time, ProcessStartTime(::getpid()));
  EXPECT_EQ(identity->executable, SelfExecutable());
  EXPECT_EQ(identity->unit, UnitFromCgroup(SelfCgroup()));
}

TEST(PeerIdentityTest, AChildProcessIsTheOneNamed) {
  Listening listening;
  int release = -1;
  const pid_t child =
      listening.ConnectFromChild(/*exit_at_once=*/false, release);
  ASSERT_GT(child, 0);
  Fd accepted = listening.Accept();
  ASSERT_TRUE(accepted.valid());
  absl::StatusOr<PeerIdentity> identity = IdentifyPeer(accepted.get());
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->pid, static_cast<uint32_t>(child));
  EXPECT_TRUE(identity->process_verified);
  EXPECT_EQ(identity->start_time, ProcessStartTime(child));
  // A fork of this test: the same executable.
  EXPECT_EQ(identity->executable, SelfExecutable());
  ::close(release);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
}

TEST(PeerIdentityTest, APeerGoneBeforeTheLookupKeepsOnlyItsCredentials) {
  Listening listening;
  int release = -1;
  const pid_t child =
      listening.ConnectFromChild(/*exit_at_once=*/true, release);
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);  // gone, pid free
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ::close(release);
  Fd accepted = listening.Accept();
  ASSERT_TRUE(accepted.valid());
  absl::StatusOr<PeerIdentity> identity = IdentifyPeer(accepted.get());
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->uid, ::getuid());
  EXPECT_EQ(identity->pid, static_cast<uint32_t>(child));
  EXPECT_FALSE(identity->process_verified);
  EXPECT_EQ(identity->start_time, 0u);
  EXPECT_EQ(identity->executable, "");
  EXPECT_EQ(identity->unit, "");
}

TEST(PeerIdentityTest, TcpSocketsHaveNoPeerCredentials) {
  Fd tcp(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(tcp.valid());
  EXPECT_FALSE(IdentifyPeer(tcp.get()).ok());
}

TEST(PeerIdentityTest, StartTimeIsReadPastAStrangeCommandName) {
  char saved[17] = {};
  ASSERT_EQ(::prctl(PR_GET_NAME, saved), 0);
  const uint64_t before = ProcessStartTime(::getpid());
  ASSERT_EQ(::prctl(PR_SET_NAME, "a) b (c) 1 2"), 0);
  EXPECT_EQ(ProcessStartTime(::getpid()), before);
  ::prctl(PR_SET_NAME, saved);
  EXPECT_NE(before, 0u);
  EXPECT_EQ(ProcessStartTime(0), 0u) << "no such process";
}

TEST(PeerIdentityTest, TheUnitIsTheLastServiceOrScopeOfTheCgroup) {
  EXPECT_EQ(UnitFromCgroup("0::/user.slice/user-1000.slice/"
                           "user@1000.service/app.slice/switchboard.service\n"),
            "switchboard.service");
  EXPECT_EQ(UnitFromCgroup("0::/user.slice/user-1000.slice/session-2.scope\n"),
            "session-2.scope");
  EXPECT_EQ(UnitFromCgroup("0::/system.slice/cron.service/extra\n"),
            "cron.service");
  EXPECT_EQ(UnitFromCgroup("0::/\n"), "");
  // cgroup v1: the name=systemd hierarchy.
  EXPECT_EQ(UnitFromCgroup("12:cpu:/foo\n"
                           "1:name=systemd:/system.slice/ssh.service\n"),
            "ssh.service");
  EXPECT_EQ(UnitFromCgroup(""), "");
}

}  // namespace
}  // namespace switchboard::io
