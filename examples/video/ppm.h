// SPDX-License-Identifier: MIT
//
// Writes RGBA frames as binary PPM (P6) images, the simplest format common
// image viewers open. PPM has no alpha channel, so alpha is dropped.
#ifndef SWITCHBOARD_EXAMPLES_VIDEO_PPM_H_
#define SWITCHBOARD_EXAMPLES_VIDEO_PPM_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace switchboard::examples::video {

// The P6 file for a width x height RGBA image: "P6\nW H\n255\n" then 3 bytes
// per pixel. `rgba` must hold width * height * 4 bytes.
std::string EncodePpm(uint32_t width, uint32_t height, absl::string_view rgba);

// Writes EncodePpm(...) to `path`, replacing the file. Errors: the errno of
// the failed open/write/close as a Status naming `path`.
absl::Status WritePpm(const std::string& path, uint32_t width, uint32_t height,
                      absl::string_view rgba);

}  // namespace switchboard::examples::video

#endif  // SWITCHBOARD_EXAMPLES_VIDEO_PPM_H_
