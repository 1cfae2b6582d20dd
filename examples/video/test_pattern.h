// SPDX-License-Identifier: MIT
//
// The synthetic picture video-server sends and slideshow checks. Both sides
// compute it from (x, y, frame number) alone, so the receiver knows every
// byte a frame must hold and can verify all of them.
//
// Pixel (x, y) of frame n, with byte k of n meaning (n >> 8k) & 0xFF:
//
//   R = (x + n) mod 256                        horizontal ramp, moves with n
//   G = (y + n) mod 256                        vertical ramp, moves with n
//   B = ((x / 256) mod 16 + 16 * ((y / 256) mod 16))
//       XOR byte ((x + y) mod 8) of n          256x256 tiles, each its own blue
//   A = 255                                    opaque, so PPM loses nothing
//
// Seen as an image: a grid of red-green gradient tiles in steps of blue,
// sliding diagonally by one pixel per frame. Any 8 consecutive pixels of a
// row carry all 8 bytes of n in B, so two frames with different numbers
// differ whenever width >= 8; R and G make a frame shifted by a few pixels or
// rows fail, and the tile term makes a shift by 256 fail too.
#ifndef SWITCHBOARD_EXAMPLES_VIDEO_TEST_PATTERN_H_
#define SWITCHBOARD_EXAMPLES_VIDEO_TEST_PATTERN_H_

#include <array>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace switchboard::examples::video {

inline constexpr uint64_t kBytesPerPixel = 4;  // R, G, B, A

// Bytes of one RGBA frame of this size.
inline constexpr uint64_t FrameBytes(uint32_t width, uint32_t height) {
  return uint64_t{width} * height * kBytesPerPixel;
}

// The R, G, B, A bytes of pixel (x, y) of frame `frame_number`.
std::array<uint8_t, 4> PatternPixel(uint32_t x, uint32_t y,
                                    uint64_t frame_number);

// Writes row `y` (width * 4 bytes) of frame `frame_number` to `row`.
void FillPatternRow(uint32_t width, uint32_t y, uint64_t frame_number,
                    uint8_t* row);

// Writes the whole frame to `rgba`, which must hold FrameBytes(width, height).
void FillPattern(uint32_t width, uint32_t height, uint64_t frame_number,
                 uint8_t* rgba);

// Checks every byte of `rgba` against the pattern. Errors: kDataLoss if the
// size is not FrameBytes(width, height), or naming the first wrong pixel
// with the bytes expected and found.
absl::Status VerifyPattern(uint32_t width, uint32_t height,
                           uint64_t frame_number, absl::string_view rgba);

}  // namespace switchboard::examples::video

#endif  // SWITCHBOARD_EXAMPLES_VIDEO_TEST_PATTERN_H_
