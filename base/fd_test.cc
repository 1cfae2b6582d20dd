// SPDX-License-Identifier: MIT
#include "base/fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include "gtest/gtest.h"

namespace switchboard {
namespace {

Fd OpenNull() { return Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(FdTest, OpenCountFollowsOwnership) {
  const int64_t before = Fd::OpenCount();
  {
    Fd a = OpenNull();
    ASSERT_TRUE(a.valid());
    EXPECT_EQ(Fd::OpenCount(), before + 1);
    Fd b = std::move(a);  // a move is not a second descriptor
    EXPECT_EQ(Fd::OpenCount(), before + 1);
    Fd c;
    c = std::move(b);
    EXPECT_EQ(Fd::OpenCount(), before + 1);
    c.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));  // closes, takes one
    EXPECT_EQ(Fd::OpenCount(), before + 1);
    Fd d = OpenNull();
    EXPECT_EQ(Fd::OpenCount(), before + 2);
    const int raw = d.release();  // no longer ours to count
    EXPECT_EQ(Fd::OpenCount(), before + 1);
    EXPECT_TRUE(IsOpen(raw));
    ::close(raw);
  }
  EXPECT_EQ(Fd::OpenCount(), before);
}

TEST(FdTest, ClosesOnDestruction) {
  int raw = -1;
  {
    Fd fd = OpenNull();
    raw = fd.get();
    EXPECT_TRUE(IsOpen(raw));
  }
  EXPECT_FALSE(IsOpen(raw));
}

}  // namespace
}  // namespace switchboard
