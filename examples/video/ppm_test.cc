// SPDX-License-Identifier: MIT
#include "ppm.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace switchboard::examples::video {
namespace {

TEST(PpmTest, EncodesHeaderAndDropsAlpha) {
  const std::string rgba("\x01\x02\x03\xff\x04\x05\x06\x80", 8);
  EXPECT_EQ(EncodePpm(2, 1, rgba),
            std::string("P6\n2 1\n255\n\x01\x02\x03\x04\x05\x06"));
}

TEST(PpmTest, WritePpmWritesTheEncodedFile) {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string path =
      std::string(tmpdir != nullptr ? tmpdir : "/tmp") + "/ppm_test_XXXXXX";
  const int fd = mkstemp(path.data());
  ASSERT_GE(fd, 0);
  close(fd);
  const std::string rgba("\x0a\x0b\x0c\x00", 4);
  ASSERT_TRUE(WritePpm(path, 1, 1, rgba).ok());

  std::string contents(64, '\0');
  const int in = open(path.c_str(), O_RDONLY);
  ASSERT_GE(in, 0);
  const ssize_t n = read(in, contents.data(), contents.size());
  close(in);
  unlink(path.c_str());
  ASSERT_GE(n, 0);
  contents.resize(static_cast<size_t>(n));
  EXPECT_EQ(contents, EncodePpm(1, 1, rgba));
}

TEST(PpmTest, WriteToMissingFolderFailsNamingThePath) {
  const absl::Status status =
      WritePpm("/nonexistent-folder/frame.ppm", 1, 1, std::string(4, '\0'));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find("/nonexistent-folder/frame.ppm"),
            std::string::npos);
}

}  // namespace
}  // namespace switchboard::examples::video
