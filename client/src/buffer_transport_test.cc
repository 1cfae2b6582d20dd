// SPDX-License-Identifier: MIT
#include "client/src/buffer_transport.h"

#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "switchboard/shared_buffer.h"

namespace switchboard::client {
namespace {

SharedBuffer Filled(absl::string_view bytes, bool seal) {
  absl::StatusOr<SharedBuffer> buffer = SharedBuffer::Create(bytes.size());
  EXPECT_TRUE(buffer.ok()) << buffer.status();
  std::copy(bytes.begin(), bytes.end(), buffer->mutable_data().begin());
  if (seal) {
    EXPECT_TRUE(buffer->Seal(SharedBuffer::Sealing::kImmutable).ok());
  }
  return *std::move(buffer);
}

std::shared_ptr<const wire::Frame> ReplyFrame(absl::string_view payload) {
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kReply;
  return std::make_shared<const wire::Frame>(
      wire::Frame::Build(prefix, v1::Header(), payload));
}

TEST(BufferTransportTest, UnsealedBufferIsNamedByItsIndex) {
  Payload payload("message",
                  {Filled("a", /*seal=*/true), Filled("b", /*seal=*/false)});
  absl::Status status = CheckSizesSealed(payload);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("buffer 1"), absl::string_view::npos)
      << status;
  EXPECT_TRUE(CheckSizesSealed(Payload("no buffers")).ok());
}

TEST(BufferTransportTest, InlineLengthCountsMessageAndBuffers) {
  Payload payload("msg", {Filled("12345", true), Filled("", true)});
  EXPECT_EQ(InlineLength(payload), 8u);
  EXPECT_TRUE(AllHaveFds(payload));
}

TEST(BufferTransportTest, ReceivedInlineBuffersAreSlicedFromThePayload) {
  google::protobuf::RepeatedField<uint64_t> sizes;
  sizes.Add(3);
  sizes.Add(0);
  sizes.Add(4);
  absl::StatusOr<Payload> payload =
      ReceivedPayload(ReplyFrame("messageabcwxyz"), {}, sizes);
  ASSERT_TRUE(payload.ok()) << payload.status();
  EXPECT_EQ(payload->view(), "message");
  ASSERT_EQ(payload->buffers().size(), 3u);
  EXPECT_EQ(payload->buffers()[0].data(), "abc");
  EXPECT_EQ(payload->buffers()[1].size(), 0u);
  EXPECT_EQ(payload->buffers()[2].data(), "wxyz");
  EXPECT_EQ(payload->buffers()[2].fd(), -1);
  EXPECT_FALSE(AllHaveFds(*payload));
}

TEST(BufferTransportTest, InlineSizesBeyondThePayloadAreRefused) {
  google::protobuf::RepeatedField<uint64_t> sizes;
  sizes.Add(3);
  sizes.Add(UINT64_MAX);
  absl::StatusOr<Payload> payload =
      ReceivedPayload(ReplyFrame("message"), {}, sizes);
  EXPECT_EQ(payload.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BufferTransportTest, ReceivedDescriptorsAreMappedReadOnlyInOrder) {
  SharedBuffer first = Filled("first", true);
  SharedBuffer second = Filled("second", true);
  std::vector<Fd> fds;
  fds.emplace_back(::dup(first.fd()));
  fds.emplace_back(::dup(second.fd()));
  absl::StatusOr<Payload> payload =
      ReceivedPayload(ReplyFrame("msg"), std::move(fds), {});
  ASSERT_TRUE(payload.ok()) << payload.status();
  EXPECT_EQ(payload->view(), "msg");
  ASSERT_EQ(payload->buffers().size(), 2u);
  EXPECT_EQ(payload->buffers()[0].data(), "first");
  EXPECT_EQ(payload->buffers()[1].data(), "second");
  SharedBuffer received = payload->buffers()[1];
  EXPECT_TRUE(received.mutable_data().empty());
}

TEST(BufferTransportTest, PayloadWithoutBuffersIsAViewOfTheFrame) {
  std::shared_ptr<const wire::Frame> frame = ReplyFrame("plain");
  absl::StatusOr<Payload> payload = ReceivedPayload(frame, {}, {});
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(payload->data(), frame->payload().data());
  EXPECT_TRUE(payload->buffers().empty());
}

}  // namespace
}  // namespace switchboard::client
