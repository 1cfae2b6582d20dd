// SPDX-License-Identifier: MIT
#include "daemon/server/token.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "io/private_file.h"

namespace switchboard::server {
namespace {

class TokenTest : public testing::Test {
 protected:
  TokenTest() {
    char pattern[] = "/tmp/sb-token-test-XXXXXX";
    EXPECT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  ~TokenTest() override {
    EXPECT_EQ(std::system(absl::StrCat("rm -rf '", dir_, "'").c_str()), 0);
  }
  std::string dir_;
};

bool IsLowerHex(absl::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST_F(TokenTest, MissingTokenIsCreatedAs64HexCharsMode0600InAPrivateFolder) {
  const std::string path = dir_ + "/run/token";
  absl::StatusOr<std::string> token = LoadOrCreateToken(path);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->size(), 64u);
  EXPECT_TRUE(IsLowerHex(*token)) << *token;
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_size, 64);
  ASSERT_EQ(::stat((dir_ + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  // The next start reads the same token back.
  EXPECT_EQ(*LoadOrCreateToken(path), *token);
}

TEST_F(TokenTest, TokensAreRandom) { EXPECT_NE(*NewToken(), *NewToken()); }

TEST_F(TokenTest, ExistingTokenLosesATrailingNewline) {
  const std::string path = dir_ + "/token";
  ASSERT_TRUE(io::CreatePrivateFile(path, "abc123\n").ok());
  EXPECT_EQ(*LoadOrCreateToken(path), "abc123");
}

TEST_F(TokenTest, TokenFileOthersCanReadIsRefused) {
  const std::string path = dir_ + "/token";
  ASSERT_TRUE(io::CreatePrivateFile(path, std::string(64, 'a')).ok());
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  EXPECT_EQ(LoadOrCreateToken(path).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(TokenTest, EmptyOrBlankTokenFileIsRefused) {
  const std::string empty = dir_ + "/empty";
  ASSERT_TRUE(io::CreatePrivateFile(empty, "").ok());
  EXPECT_EQ(LoadOrCreateToken(empty).status().code(),
            absl::StatusCode::kFailedPrecondition);
  const std::string spaced = dir_ + "/spaced";
  ASSERT_TRUE(io::CreatePrivateFile(spaced, "a b").ok());
  EXPECT_EQ(LoadOrCreateToken(spaced).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace switchboard::server
