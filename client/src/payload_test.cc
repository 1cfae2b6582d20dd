// SPDX-License-Identifier: MIT
#include "switchboard/payload.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace switchboard {
namespace {

TEST(PayloadTest, TakesAStringWithoutCopyingIt) {
  std::string bytes(1 << 20, 'x');
  const char* data = bytes.data();
  Payload payload(std::move(bytes));
  EXPECT_EQ(payload.data(), data);
  EXPECT_EQ(payload.size(), 1u << 20);
}

TEST(PayloadTest, SharesABufferAndKeepsItAlive) {
  auto buffer = std::make_shared<const std::string>("frame");
  Payload a(buffer);
  Payload b = a;
  buffer.reset();
  EXPECT_EQ(a.data(), b.data());
  EXPECT_EQ(b.view(), "frame");
}

TEST(PayloadTest, EmptyAndCopy) {
  EXPECT_TRUE(Payload().empty());
  EXPECT_TRUE(Payload(std::string()).empty());
  std::string source = "abc";
  Payload copy = Payload::Copy(source);
  source[0] = 'z';
  EXPECT_EQ(copy.ToString(), "abc");
  EXPECT_TRUE(copy == "abc");
  Payload shared = copy;  // copies of a Payload share its bytes
  EXPECT_EQ(shared.data(), copy.data());
  EXPECT_TRUE(Payload::Copy("").empty());
}

}  // namespace
}  // namespace switchboard
