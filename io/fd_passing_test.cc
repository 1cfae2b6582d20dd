// SPDX-License-Identifier: MIT
#include "io/fd_passing.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace switchboard::io {
namespace {

size_t OpenFdCount() {
  size_t count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;  // the directory's own descriptor
}

struct SocketPair {
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
  Fd a;
  Fd b;
};

Fd MemfdHolding(const std::string& text) {
  Fd fd(::memfd_create("fd-passing-test", MFD_CLOEXEC));
  EXPECT_TRUE(fd.valid());
  EXPECT_EQ(::write(fd.get(), text.data(), text.size()),
            static_cast<ssize_t>(text.size()));
  return fd;
}

std::string ContentsOf(int fd) {
  char buffer[64];
  const ssize_t n = ::pread(fd, buffer, sizeof buffer, 0);
  return n < 0 ? "" : std::string(buffer, static_cast<size_t>(n));
}

absl::StatusOr<size_t> Send(int socket, const std::string& bytes,
                            const std::vector<int>& fds) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  return SendWithFds(socket, absl::MakeConstSpan(&iov, 1), fds);
}

TEST(FdPassingTest, DescriptorsArriveInOrderWithTheirBytes) {
  const size_t baseline = OpenFdCount();
  {
    SocketPair pair;
    Fd one = MemfdHolding("one");
    Fd two = MemfdHolding("two");
    absl::StatusOr<size_t> sent =
        Send(pair.a.get(), "hello", {one.get(), two.get()});
    ASSERT_TRUE(sent.ok()) << sent.status();
    EXPECT_EQ(*sent, 5u);

    char buffer[16];
    std::vector<Fd> fds;
    absl::StatusOr<Received> got =
        RecvWithFds(pair.b.get(), absl::MakeSpan(buffer), fds);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(std::string(buffer, got->bytes), "hello");
    EXPECT_FALSE(got->end_of_stream);
    EXPECT_FALSE(got->fds_truncated);
    ASSERT_EQ(fds.size(), 2u);
    EXPECT_EQ(ContentsOf(fds[0].get()), "one");
    EXPECT_EQ(ContentsOf(fds[1].get()), "two");
    EXPECT_EQ(::fcntl(fds[0].get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  }
  EXPECT_EQ(OpenFdCount(), baseline);
}

TEST(FdPassingTest, OneReadNeverMergesTheDescriptorsOfTwoSends) {
  SocketPair pair;
  Fd one = MemfdHolding("one");
  Fd two = MemfdHolding("two");
  ASSERT_TRUE(Send(pair.a.get(), "ab", {one.get()}).ok());
  ASSERT_TRUE(Send(pair.a.get(), "cd", {two.get()}).ok());
  ASSERT_TRUE(Send(pair.a.get(), "ef", {}).ok());

  char buffer[16];
  std::vector<Fd> fds;
  absl::StatusOr<Received> got =
      RecvWithFds(pair.b.get(), absl::MakeSpan(buffer), fds);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(std::string(buffer, got->bytes), "ab");
  ASSERT_EQ(fds.size(), 1u);
  got = RecvWithFds(pair.b.get(), absl::MakeSpan(buffer), fds);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(std::string(buffer, got->bytes), "cd");
  ASSERT_EQ(fds.size(), 2u);
  EXPECT_EQ(ContentsOf(fds[1].get()), "two");
  got = RecvWithFds(pair.b.get(), absl::MakeSpan(buffer), fds);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(std::string(buffer, got->bytes), "ef");
  EXPECT_EQ(fds.size(), 2u);
}

TEST(FdPassingTest, ThePerMessageMaximumPassesAndOneMoreIsRefused) {
  const size_t baseline = OpenFdCount();
  {
    SocketPair pair;
    Fd memfd = MemfdHolding("x");
    std::vector<int> many(kMaxFdsPerMessage, memfd.get());
    ASSERT_TRUE(Send(pair.a.get(), "m", many).ok());
    many.push_back(memfd.get());
    EXPECT_EQ(Send(pair.a.get(), "m", many).status().code(),
              absl::StatusCode::kInvalidArgument);

    char buffer[4];
    std::vector<Fd> fds;
    absl::StatusOr<Received> got =
        RecvWithFds(pair.b.get(), absl::MakeSpan(buffer), fds);
    ASSERT_TRUE(got.ok());
    EXPECT_FALSE(got->fds_truncated);
    EXPECT_EQ(fds.size(), kMaxFdsPerMessage);
  }
  EXPECT_EQ(OpenFdCount(), baseline);
}

TEST(FdPassingTest, EmptySocketAndEndOfStream) {
  SocketPair pair;
  char buffer[4];
  std::vector<Fd> fds;
  absl::StatusOr<Received> got =
      RecvWithFds(pair.b.get(), absl::MakeSpan(buffer), fds);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->bytes, 0u);
  EXPECT_FALSE(got->end_of_stream);
  pair.a.reset();
  got = RecvWithFds(pair.b.get(), absl::MakeSpan(buffer), fds);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->end_of_stream);
  EXPECT_TRUE(fds.empty());
}

TEST(FdPassingTest, FullSocketSendsNothingAndClosedPeerIsAnError) {
  SocketPair pair;
  const std::string chunk(64 * 1024, 'z');
  Fd memfd = MemfdHolding("x");
  absl::StatusOr<size_t> sent;
  do {
    sent = Send(pair.a.get(), chunk, {memfd.get()});
    ASSERT_TRUE(sent.ok()) << sent.status();
  } while (*sent > 0);
  pair.b.reset();
  EXPECT_FALSE(Send(pair.a.get(), "x", {}).ok());
}

TEST(FdPassingTest, DescriptorsTheKernelCannotInstallAreReportedTruncated) {
  SocketPair pair;
  Fd one = MemfdHolding("one");
  ASSERT_TRUE(Send(pair.a.get(), "x", {one.get(), one.get(), one.get()}).ok());
  rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  // Room for exactly one more descriptor: the lowest free number is the
  // highest allowed.
  const int lowest_free = ::dup(pair.a.get());
  ASSERT_GE(lowest_free, 0);
  ::close(lowest_free);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free) + 1;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  char buffer[4];
  std::vector<Fd> fds;
  absl::StatusOr<Received> got =
      RecvWithFds(pair.b.get(), absl::MakeSpan(buffer), fds);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->bytes, 1u);
  EXPECT_TRUE(got->fds_truncated);
  EXPECT_LT(fds.size(), 3u);  // what did arrive is owned, and closes
}

}  // namespace
}  // namespace switchboard::io
