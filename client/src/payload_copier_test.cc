// SPDX-License-Identifier: MIT
#include "client/src/payload_copier.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace switchboard::client {
namespace {

TEST(PayloadCopierTest, CopiesTheBytes) {
  PayloadCopier copier;
  std::string source = "frame 1";
  Payload payload = copier.Copy(source);
  source[0] = 'X';
  EXPECT_EQ(payload.view(), "frame 1");
  EXPECT_NE(payload.data(), source.data());
}

TEST(PayloadCopierTest, AnEmptyPayloadHoldsNothing) {
  PayloadCopier copier;
  EXPECT_TRUE(copier.Copy("").empty());
}

TEST(PayloadCopierTest, ReusesTheBlockOnceNoPayloadHoldsIt) {
  PayloadCopier copier;
  const char* first;
  {
    Payload payload = copier.Copy("0123456789");
    first = payload.data();
  }
  Payload second = copier.Copy("abcdefgh");  // smaller: fits the block
  EXPECT_EQ(second.data(), first);
  EXPECT_EQ(second.view(), "abcdefgh");
}

TEST(PayloadCopierTest, AKeptPayloadIsNeverOverwritten) {
  PayloadCopier copier;
  std::vector<Payload> kept;
  for (int i = 0; i < 100; ++i) {
    kept.push_back(copier.Copy("message " + std::to_string(i)));
  }
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(kept[i].view(), "message " + std::to_string(i));
  }
  // Each kept payload has a block of its own.
  for (int i = 1; i < 100; ++i) {
    EXPECT_NE(kept[i].data(), kept[i - 1].data());
  }
}

TEST(PayloadCopierTest, ALargerPayloadGetsANewBlockSizedForIt) {
  PayloadCopier copier;
  const char* small_block;
  {
    Payload small = copier.Copy("tiny");
    small_block = small.data();
  }
  const std::string large(1000, 'L');
  Payload big = copier.Copy(large);
  EXPECT_EQ(big.view(), large);
  EXPECT_NE(big.data(), small_block);
  // Released, the large block takes the next small payload.
  const char* large_block = big.data();
  big = Payload();
  EXPECT_EQ(copier.Copy("tiny again").data(), large_block);
}

TEST(PayloadCopierTest, APayloadReleasedOnAnotherThreadFreesTheBlock) {
  PayloadCopier copier;
  Payload payload = copier.Copy("handed over");
  const char* block = payload.data();
  std::string seen;
  std::thread reader([held = std::move(payload), &seen]() mutable {
    seen = held.ToString();
    held = Payload();
  });
  reader.join();
  EXPECT_EQ(seen, "handed over");
  Payload next = copier.Copy("next one");
  EXPECT_EQ(next.data(), block);
  EXPECT_EQ(next.view(), "next one");
}

TEST(PayloadCopierTest, APayloadStillHeldOnAnotherThreadKeepsItsBytes) {
  PayloadCopier copier;
  Payload held = copier.Copy("still here");
  std::thread reader([copy = held] {
    // The copier writes its next payload elsewhere while this one is held.
    EXPECT_EQ(copy.view(), "still here");
  });
  Payload next = copier.Copy("the next");
  reader.join();
  EXPECT_NE(next.data(), held.data());
  EXPECT_EQ(held.view(), "still here");
  EXPECT_EQ(next.view(), "the next");
}

}  // namespace
}  // namespace switchboard::client
