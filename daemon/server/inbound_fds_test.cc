// SPDX-License-Identifier: MIT
#include "daemon/server/inbound_fds.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "daemon/server/buffer_seals.h"
#include "gtest/gtest.h"

namespace switchboard::server {
namespace {

std::vector<Fd> SomeFds(size_t count) {
  std::vector<Fd> fds;
  for (size_t i = 0; i < count; ++i) {
    fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
    EXPECT_TRUE(fds.back().valid());
  }
  return fds;
}

wire::Frame FrameClaiming(wire::Kind kind, uint8_t fd_count) {
  wire::Prefix prefix;
  prefix.kind = kind;
  prefix.fd_count = fd_count;
  return wire::Frame::Build(prefix, "", "payload");
}

TEST(InboundFdsTest, FramesTakeDescriptorsFirstInFirstOut) {
  InboundFds inbound(16);
  std::vector<Fd> fds = SomeFds(3);
  const int first = fds[0].get();
  const int third = fds[2].get();
  ASSERT_TRUE(inbound.Add(std::move(fds)).ok());

  wire::Frame call = FrameClaiming(wire::Kind::kCall, 2);
  ASSERT_TRUE(inbound.AttachTo(call).ok());
  ASSERT_EQ(call.fds().size(), 2u);
  EXPECT_EQ(call.fds()[0].get(), first);

  wire::Frame none = FrameClaiming(wire::Kind::kPing, 0);
  EXPECT_TRUE(inbound.AttachTo(none).ok());
  EXPECT_TRUE(none.fds().empty());

  wire::Frame reply = FrameClaiming(wire::Kind::kReply, 1);
  ASSERT_TRUE(inbound.AttachTo(reply).ok());
  EXPECT_EQ(reply.fds()[0].get(), third);
  EXPECT_EQ(inbound.size(), 0u);
  EXPECT_TRUE(inbound.CheckAllClaimed().ok());
}

TEST(InboundFdsTest, FrameClaimingMoreThanArrivedIsInvalid) {
  InboundFds inbound(16);
  ASSERT_TRUE(inbound.Add(SomeFds(1)).ok());
  wire::Frame call = FrameClaiming(wire::Kind::kCall, 2);
  const absl::Status status = inbound.AttachTo(call);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "fd_count 2 but 1"))
      << status;
  EXPECT_TRUE(call.fds().empty());
}

TEST(InboundFdsTest, PublishCarriesDescriptorsLikeCallAndReply) {
  InboundFds inbound(16);
  ASSERT_TRUE(inbound.Add(SomeFds(1)).ok());
  wire::Frame publish = FrameClaiming(wire::Kind::kPublish, 1);
  ASSERT_TRUE(inbound.AttachTo(publish).ok());
  EXPECT_EQ(publish.fds().size(), 1u);
}

TEST(InboundFdsTest, OnlyCallReplyAndPublishMayCarryDescriptors) {
  InboundFds inbound(16);
  ASSERT_TRUE(inbound.Add(SomeFds(1)).ok());
  for (wire::Kind kind :
       {wire::Kind::kPing, wire::Kind::kCancel, wire::Kind::kHello,
        wire::Kind::kRegisterName, wire::Kind::kSubscribe, wire::Kind::kMessage,
        wire::Kind::kCredit}) {
    wire::Frame frame = FrameClaiming(kind, 1);
    EXPECT_EQ(inbound.AttachTo(frame).code(),
              absl::StatusCode::kInvalidArgument)
        << wire::KindName(kind);
  }
}

TEST(InboundFdsTest, UnclaimedDescriptorsAreInvalid) {
  InboundFds inbound(16);
  ASSERT_TRUE(inbound.Add(SomeFds(2)).ok());
  wire::Frame call = FrameClaiming(wire::Kind::kCall, 1);
  ASSERT_TRUE(inbound.AttachTo(call).ok());
  EXPECT_EQ(inbound.CheckAllClaimed().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(InboundFdsTest, MoreWaitingThanOneSendAndOneFrameCanClaimIsInvalid) {
  InboundFds inbound(4);
  ASSERT_TRUE(inbound.Add(SomeFds(253)).ok());
  ASSERT_TRUE(inbound.Add(SomeFds(4)).ok());
  EXPECT_EQ(inbound.Add(SomeFds(1)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(inbound.size(), 257u);
}

Fd Memfd(unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING) {
  Fd fd(::memfd_create("buffer-seals-test", flags));
  EXPECT_TRUE(fd.valid());
  EXPECT_EQ(::ftruncate(fd.get(), 4096), 0);
  return fd;
}

TEST(BufferSealsTest, SizeSealedMemfdsPass) {
  std::vector<Fd> fds;
  fds.push_back(Memfd());
  ASSERT_EQ(::fcntl(fds[0].get(), F_ADD_SEALS,
                    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
            0);
  EXPECT_TRUE(CheckBufferSeals(fds, false).ok());
  const absl::Status write = CheckBufferSeals(fds, true);
  EXPECT_EQ(write.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(write.message(), "buffer 0 is not sealed: it lacks F_SEAL_WRITE");
}

TEST(BufferSealsTest, MissingSealsAreNamedWithTheBufferIndex) {
  std::vector<Fd> fds;
  fds.push_back(Memfd());
  ASSERT_EQ(::fcntl(fds[0].get(), F_ADD_SEALS,
                    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL | F_SEAL_WRITE),
            0);
  fds.push_back(Memfd());
  ASSERT_EQ(::fcntl(fds[1].get(), F_ADD_SEALS, F_SEAL_SHRINK), 0);
  EXPECT_TRUE(CheckBufferSeals({}, true).ok());
  const absl::Status status = CheckBufferSeals(fds, true);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "buffer 1 is not sealed: it lacks "
            "F_SEAL_GROW|F_SEAL_SEAL|F_SEAL_WRITE");
}

TEST(BufferSealsTest, OtherFilesAreNotMemfds) {
  std::vector<Fd> fds;
  fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
  const absl::Status status = CheckBufferSeals(fds, false);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StartsWith(status.message(), "buffer 0 is not a sealable memfd"))
      << status;
  // A memfd made without MFD_ALLOW_SEALING carries F_SEAL_SEAL only.
  std::vector<Fd> unsealable;
  unsealable.push_back(Memfd(MFD_CLOEXEC));
  EXPECT_EQ(CheckBufferSeals(unsealable, false).message(),
            "buffer 0 is not sealed: it lacks F_SEAL_SHRINK|F_SEAL_GROW");
}

}  // namespace
}  // namespace switchboard::server
