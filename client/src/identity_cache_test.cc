// SPDX-License-Identifier: MIT
#include "client/src/identity_cache.h"

#include "gtest/gtest.h"

namespace switchboard::client {
namespace {

v1::Identity WithUid(uint32_t uid) {
  v1::Identity identity;
  identity.set_uid(uid);
  return identity;
}

TEST(IdentityCacheTest, KeepsWhatItWasGivenById) {
  IdentityCache cache;
  EXPECT_FALSE(cache.Find(7).has_value());
  cache.Add(7, WithUid(1000));
  cache.Add(8, WithUid(1001));
  ASSERT_TRUE(cache.Find(7).has_value());
  EXPECT_EQ(cache.Find(7)->uid(), 1000u);
  EXPECT_EQ(cache.Find(8)->uid(), 1001u);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(IdentityCacheTest, StartsAfreshWhenFull) {
  IdentityCache cache;
  for (uint64_t id = 1; id <= IdentityCache::kMaxEntries; ++id) {
    cache.Add(id, WithUid(static_cast<uint32_t>(id)));
  }
  EXPECT_EQ(cache.size(), IdentityCache::kMaxEntries);
  cache.Add(IdentityCache::kMaxEntries + 1, WithUid(1));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(cache.Find(IdentityCache::kMaxEntries + 1).has_value());
  EXPECT_FALSE(cache.Find(1).has_value());
}

}  // namespace
}  // namespace switchboard::client
