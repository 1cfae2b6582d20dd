// SPDX-License-Identifier: MIT
#include "ppm.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "test_pattern.h"

namespace switchboard::examples::video {

std::string EncodePpm(uint32_t width, uint32_t height, absl::string_view rgba) {
  std::string ppm = absl::StrCat("P6\n", width, " ", height, "\n255\n");
  const size_t header_bytes = ppm.size();
  const uint64_t pixels = uint64_t{width} * height;
  ppm.resize(header_bytes + pixels * 3);
  char* out = ppm.data() + header_bytes;
  for (uint64_t i = 0; i < pixels; ++i) {
    const char* pixel = rgba.data() + i * kBytesPerPixel;
    out[i * 3 + 0] = pixel[0];
    out[i * 3 + 1] = pixel[1];
    out[i * 3 + 2] = pixel[2];
  }
  return ppm;
}

absl::Status WritePpm(const std::string& path, uint32_t width, uint32_t height,
                      absl::string_view rgba) {
  const std::string ppm = EncodePpm(width, height, rgba);
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  size_t written = 0;
  while (written < ppm.size()) {
    const ssize_t n = write(fd, ppm.data() + written, ppm.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int write_errno = errno;
      close(fd);
      return absl::ErrnoToStatus(write_errno, absl::StrCat("write ", path));
    }
    written += static_cast<size_t>(n);
  }
  if (close(fd) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("close ", path));
  return absl::OkStatus();
}

}  // namespace switchboard::examples::video
