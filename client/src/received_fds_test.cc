// SPDX-License-Identifier: MIT
#include "client/src/received_fds.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace switchboard::client {
namespace {

void SendWithFds(int socket, absl::string_view bytes,
                 const std::vector<int>& fds) {
  alignas(cmsghdr) char control[CMSG_SPACE(16 * sizeof(int))];
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), fds.data(), fds.size() * sizeof(int));
  }
  ASSERT_EQ(::sendmsg(socket, &msg, 0), static_cast<ssize_t>(bytes.size()));
}

TEST(ReceivedFdsTest, KeepsDescriptorsInArrivalOrder) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  Fd writer(pair[0]);
  Fd reader(pair[1]);
  Fd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  Fd b(::open("/dev/zero", O_RDONLY | O_CLOEXEC));
  SendWithFds(writer.get(), "x", {a.get(), b.get()});
  SendWithFds(writer.get(), "y", {a.get()});
  SendWithFds(writer.get(), "z", {});

  ReceivedFds received;
  EXPECT_TRUE(received.empty());
  char buffer[16];
  std::string bytes;
  while (bytes.size() < 3) {
    absl::StatusOr<io::Received> got =
        received.Receive(reader.get(), absl::MakeSpan(buffer), /*block=*/true);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_GT(got->bytes, 0u);
    EXPECT_FALSE(got->fds_truncated);
    bytes.append(buffer, got->bytes);
  }
  EXPECT_EQ(bytes, "xyz");
  ASSERT_EQ(received.size(), 3u);
  std::vector<Fd> first = received.Take(2);
  ASSERT_EQ(first.size(), 2u);
  // Received descriptors are close-on-exec (MSG_CMSG_CLOEXEC).
  EXPECT_NE(::fcntl(first[0].get(), F_GETFD) & FD_CLOEXEC, 0);
  std::vector<Fd> second = received.Take(1);
  EXPECT_TRUE(received.empty());
  char c;
  EXPECT_EQ(::read(first[1].get(), &c, 1), 1);  // /dev/zero
  EXPECT_EQ(c, 0);
  EXPECT_EQ(::read(second[0].get(), &c, 1), 0);  // /dev/null
}

}  // namespace
}  // namespace switchboard::client
