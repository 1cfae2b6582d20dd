// SPDX-License-Identifier: MIT
#include "test_pattern.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace switchboard::examples::video {
namespace {

uint8_t FrameNumberByte(uint64_t frame_number, uint32_t index) {
  return static_cast<uint8_t>(frame_number >> (8 * index));
}

uint8_t TileIndex(uint32_t x, uint32_t y) {
  return static_cast<uint8_t>(((x >> 8) & 0xF) | (((y >> 8) & 0xF) << 4));
}

}  // namespace

std::array<uint8_t, 4> PatternPixel(uint32_t x, uint32_t y,
                                    uint64_t frame_number) {
  return {static_cast<uint8_t>(x + frame_number),
          static_cast<uint8_t>(y + frame_number),
          static_cast<uint8_t>(TileIndex(x, y) ^
                               FrameNumberByte(frame_number, (x + y) % 8)),
          0xFF};
}

void FillPatternRow(uint32_t width, uint32_t y, uint64_t frame_number,
                    uint8_t* row) {
  // The same arithmetic as PatternPixel, with the per-row terms hoisted: this
  // runs for 8 million pixels per 4K frame on both sides of every call.
  const uint8_t green = static_cast<uint8_t>(y + frame_number);
  const uint8_t tile_row = static_cast<uint8_t>(((y >> 8) & 0xF) << 4);
  uint8_t frame_bytes[8];
  for (uint32_t i = 0; i < 8; ++i)
    frame_bytes[i] = FrameNumberByte(frame_number, i);
  const uint8_t red_offset = static_cast<uint8_t>(frame_number);
  for (uint32_t x = 0; x < width; ++x) {
    uint8_t* pixel = row + uint64_t{x} * kBytesPerPixel;
    pixel[0] = static_cast<uint8_t>(x + red_offset);
    pixel[1] = green;
    pixel[2] = static_cast<uint8_t>((tile_row | ((x >> 8) & 0xF)) ^
                                    frame_bytes[(x + y) % 8]);
    pixel[3] = 0xFF;
  }
}

void FillPattern(uint32_t width, uint32_t height, uint64_t frame_number,
                 uint8_t* rgba) {
  const uint64_t row_bytes = uint64_t{width} * kBytesPerPixel;
  for (uint32_t y = 0; y < height; ++y) {
    FillPatternRow(width, y, frame_number, rgba + y * row_bytes);
  }
}

absl::Status VerifyPattern(uint32_t width, uint32_t height,
                           uint64_t frame_number, absl::string_view rgba) {
  if (rgba.size() != FrameBytes(width, height)) {
    return absl::DataLossError(absl::StrCat(
        "frame ", frame_number, " holds ", rgba.size(), " bytes of RGBA, but ",
        width, "x", height, " needs ", FrameBytes(width, height)));
  }
  // Render each expected row and compare it whole; only a mismatching row is
  // searched pixel by pixel, to name the first wrong pixel.
  const uint64_t row_bytes = uint64_t{width} * kBytesPerPixel;
  std::vector<uint8_t> expected(row_bytes);
  const auto* received = reinterpret_cast<const uint8_t*>(rgba.data());
  for (uint32_t y = 0; y < height; ++y) {
    FillPatternRow(width, y, frame_number, expected.data());
    const uint8_t* row = received + y * row_bytes;
    if (std::memcmp(row, expected.data(), row_bytes) == 0) continue;
    for (uint32_t x = 0; x < width; ++x) {
      const uint8_t* want = expected.data() + uint64_t{x} * kBytesPerPixel;
      const uint8_t* got = row + uint64_t{x} * kBytesPerPixel;
      if (std::memcmp(want, got, kBytesPerPixel) == 0) continue;
      return absl::DataLossError(absl::StrFormat(
          "frame %d: pixel (%d, %d) is RGBA %02x%02x%02x%02x, expected "
          "%02x%02x%02x%02x",
          frame_number, x, y, got[0], got[1], got[2], got[3], want[0], want[1],
          want[2], want[3]));
    }
  }
  return absl::OkStatus();
}

}  // namespace switchboard::examples::video
