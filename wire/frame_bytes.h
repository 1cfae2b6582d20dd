// SPDX-License-Identifier: MIT
//
// FrameBytes: the buffer a Frame owns. It comes from malloc() rather than
// new[] so that a buffer filled as a large frame's bytes arrive can grow
// with realloc(): the allocator extends it in place or moves its pages
// (mremap) where it can, instead of copying what arrived into fresh memory
// that must be faulted in again. Allocation never throws here; running out
// of memory is the caller's error to report.
#ifndef SWITCHBOARD_WIRE_FRAME_BYTES_H_
#define SWITCHBOARD_WIRE_FRAME_BYTES_H_

#include <cstddef>
#include <cstdlib>
#include <memory>

namespace switchboard::wire {

struct FreeFrameBytes {
  void operator()(char* bytes) const { std::free(bytes); }
};
using FrameBytes = std::unique_ptr<char[], FreeFrameBytes>;

// `size` uninitialized bytes (at least one), or null if memory ran out.
inline FrameBytes AllocateFrameBytes(size_t size) {
  return FrameBytes(static_cast<char*>(std::malloc(size > 0 ? size : 1)));
}

// Resizes `bytes` to `size` (at least one), keeping what it held up to the
// smaller size. False, with `bytes` unchanged, if memory ran out.
inline bool ResizeFrameBytes(FrameBytes& bytes, size_t size) {
  void* resized = std::realloc(bytes.get(), size > 0 ? size : 1);
  if (resized == nullptr) return false;
  (void)bytes.release();
  bytes.reset(static_cast<char*>(resized));
  return true;
}

}  // namespace switchboard::wire

#endif  // SWITCHBOARD_WIRE_FRAME_BYTES_H_
