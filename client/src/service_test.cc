// SPDX-License-Identifier: MIT
#include "switchboard/service.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "switchboard/shared_buffer.h"
#include "switchboard/v1/header.pb.h"

namespace switchboard {
namespace {

SharedBuffer Sealed(size_t size) {
  absl::StatusOr<SharedBuffer> buffer = SharedBuffer::Create(size);
  EXPECT_TRUE(buffer.ok()) << buffer.status();
  EXPECT_TRUE(buffer->Seal(SharedBuffer::Sealing::kImmutable).ok());
  return *std::move(buffer);
}

TEST(ServiceTest, TypedMethodAttachesTheReplyBuffers) {
  Service service("video");
  service.AddMethod<v1::Hello, v1::Welcome>(
      "Get",
      [](const CallInfo& call,
         const v1::Hello& request) -> absl::StatusOr<WithBuffers<v1::Welcome>> {
        WithBuffers<v1::Welcome> out;
        out.message.set_broker_version(request.client_name());
        out.buffers = call.buffers;  // echo the request's buffers
        out.buffers.push_back(Sealed(10));
        return out;
      });
  v1::Hello hello;
  hello.set_client_name("slideshow");
  CallInfo call;
  call.buffers.push_back(Sealed(3));
  absl::StatusOr<Payload> reply = service.methods().at("Get").handler(
      call, Payload(hello.SerializeAsString()));
  ASSERT_TRUE(reply.ok()) << reply.status();
  v1::Welcome welcome;
  ASSERT_TRUE(
      welcome.ParseFromArray(reply->data(), static_cast<int>(reply->size())));
  EXPECT_EQ(welcome.broker_version(), "slideshow");
  ASSERT_EQ(reply->buffers().size(), 2u);
  EXPECT_EQ(reply->buffers()[0].size(), 3u);
  EXPECT_EQ(reply->buffers()[1].size(), 10u);
}

TEST(ServiceTest, TypedMethodWithoutBuffersStillWorks) {
  Service service("plain");
  service.AddMethod<v1::Hello, v1::Hello>(
      "Echo",
      [](const CallInfo&, const v1::Hello& request)
          -> absl::StatusOr<v1::Hello> { return request; });
  v1::Hello hello;
  hello.set_client_name("x");
  absl::StatusOr<Payload> reply = service.methods().at("Echo").handler(
      CallInfo(), Payload(hello.SerializeAsString()));
  ASSERT_TRUE(reply.ok());
  EXPECT_TRUE(reply->buffers().empty());
  EXPECT_EQ(reply->view(), hello.SerializeAsString());
}

}  // namespace
}  // namespace switchboard
