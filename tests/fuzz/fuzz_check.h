// SPDX-License-Identifier: MIT
//
// What the fuzz targets share: SB_FUZZ_CHECK, which aborts with the broken
// property (libFuzzer then saves the input), and a reader that takes bytes
// and numbers off the front of the fuzz input. Test-only.
#ifndef SWITCHBOARD_TESTS_FUZZ_FUZZ_CHECK_H_
#define SWITCHBOARD_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"

namespace switchboard::fuzz {

[[noreturn]] inline void Fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "%s:%d: fuzz property broken: %s\n", file, line, what);
  std::abort();
}

// Checks a property of the code under test (not an assumption about the
// input).
#define SB_FUZZ_CHECK(condition)                                 \
  do {                                                           \
    if (!(condition)) {                                          \
      ::switchboard::fuzz::Fail(__FILE__, __LINE__, #condition); \
    }                                                            \
  } while (false)

// Takes values off the front of the input; once it runs out, every read
// gives zeros or empty strings, so a target never reads past the end.
class InputReader {
 public:
  InputReader(const uint8_t* data, size_t size)
      : rest_(reinterpret_cast<const char*>(data), size) {}
  explicit InputReader(absl::string_view input) : rest_(input) {}

  bool empty() const { return rest_.empty(); }
  size_t remaining() const { return rest_.size(); }

  uint8_t Byte() {
    if (rest_.empty()) return 0;
    const auto byte = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return byte;
  }
  uint16_t U16() { return static_cast<uint16_t>(Byte() | (Byte() << 8)); }
  uint32_t U32() { return U16() | (static_cast<uint32_t>(U16()) << 16); }
  // `size` bytes, or what is left.
  absl::string_view Bytes(size_t size) {
    const absl::string_view taken = rest_.substr(0, size);
    rest_.remove_prefix(taken.size());
    return taken;
  }
  // A length byte, then that many bytes.
  absl::string_view ShortString() { return Bytes(Byte()); }
  // A two-byte length, then that many bytes.
  absl::string_view LongString() { return Bytes(U16()); }
  absl::string_view Rest() { return Bytes(rest_.size()); }

 private:
  absl::string_view rest_;
};

}  // namespace switchboard::fuzz

#endif  // SWITCHBOARD_TESTS_FUZZ_FUZZ_CHECK_H_
