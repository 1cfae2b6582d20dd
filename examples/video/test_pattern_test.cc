// SPDX-License-Identifier: MIT
#include "test_pattern.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace switchboard::examples::video {
namespace {

std::string Frame(uint32_t width, uint32_t height, uint64_t frame_number) {
  std::string rgba(FrameBytes(width, height), '\0');
  FillPattern(width, height, frame_number,
              reinterpret_cast<uint8_t*>(rgba.data()));
  return rgba;
}

TEST(TestPatternTest, FourKFrameIs33MillionBytes) {
  EXPECT_EQ(FrameBytes(3840, 2160), 33'177'600u);
}

TEST(TestPatternTest, PixelFollowsTheDocumentedFormula) {
  // Frame 0x0807060504030201, pixel (300, 600): tile (1, 2), (x + y) % 8 = 4.
  const uint64_t n = 0x0807060504030201;
  const std::array<uint8_t, 4> expected = {
      static_cast<uint8_t>((300 + 0x01) & 0xFF),
      static_cast<uint8_t>((600 + 0x01) & 0xFF),
      static_cast<uint8_t>((1 + 16 * 2) ^ 0x05), 0xFF};
  EXPECT_EQ(PatternPixel(300, 600, n), expected);
}

TEST(TestPatternTest, FilledFrameMatchesPatternPixelEverywhere) {
  const uint32_t width = 600, height = 300;
  const uint64_t n = 77;
  const std::string rgba = Frame(width, height, n);
  for (uint32_t y = 0; y < height; ++y) {
    for (uint32_t x = 0; x < width; ++x) {
      const std::array<uint8_t, 4> want = PatternPixel(x, y, n);
      const char* got =
          rgba.data() + (uint64_t{y} * width + x) * kBytesPerPixel;
      for (int c = 0; c < 4; ++c) {
        ASSERT_EQ(static_cast<uint8_t>(got[c]), want[c])
            << "pixel (" << x << ", " << y << ") channel " << c;
      }
    }
  }
}

TEST(TestPatternTest, CorrectFrameVerifies) {
  EXPECT_TRUE(VerifyPattern(640, 480, 12, Frame(640, 480, 12)).ok());
}

TEST(TestPatternTest, EveryChangedByteIsDetected) {
  const uint32_t width = 40, height = 30;
  std::string rgba = Frame(width, height, 5);
  for (size_t i = 0; i < rgba.size(); ++i) {
    rgba[i] ^= 0x10;
    EXPECT_EQ(VerifyPattern(width, height, 5, rgba).code(),
              absl::StatusCode::kDataLoss)
        << "byte " << i;
    rgba[i] ^= 0x10;
  }
}

TEST(TestPatternTest, ErrorNamesTheFirstWrongPixel) {
  std::string rgba = Frame(16, 16, 3);
  rgba[(2 * 16 + 5) * kBytesPerPixel + 1] ^= 0x01;
  const absl::Status status = VerifyPattern(16, 16, 3, rgba);
  EXPECT_NE(status.message().find("pixel (5, 2)"), std::string::npos) << status;
}

TEST(TestPatternTest, FramesWithAnyOtherNumberFail) {
  const uint64_t n = 1000;
  const std::string rgba = Frame(64, 8, n);
  const std::vector<uint64_t> others = {n + 1,
                                        n - 1,
                                        n + 256,
                                        n + (uint64_t{1} << 16),
                                        n + (uint64_t{1} << 32),
                                        n ^ (uint64_t{1} << 63)};
  for (uint64_t other : others) {
    EXPECT_FALSE(VerifyPattern(64, 8, other, rgba).ok()) << "frame " << other;
  }
}

TEST(TestPatternTest, ShiftedFramesFail) {
  const uint32_t width = 1024, height = 600;
  const std::string rgba = Frame(width, height, 9);
  const uint64_t row_bytes = uint64_t{width} * kBytesPerPixel;
  for (uint64_t shift :
       {uint64_t{1}, uint64_t{kBytesPerPixel}, uint64_t{256} * kBytesPerPixel,
        row_bytes, 256 * row_bytes}) {
    const std::string shifted = rgba.substr(shift) + std::string(shift, '\0');
    EXPECT_FALSE(VerifyPattern(width, height, 9, shifted).ok())
        << "shift by " << shift << " bytes";
  }
}

TEST(TestPatternTest, WrongSizeIsDataLoss) {
  const std::string rgba = Frame(8, 8, 0);
  EXPECT_EQ(VerifyPattern(8, 9, 0, rgba).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyPattern(8, 8, 0, rgba.substr(1)).code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace switchboard::examples::video
