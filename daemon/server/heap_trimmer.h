// SPDX-License-Identifier: MIT
//
// HeapTrimmer: gives memory the allocator holds free back to the kernel
// after a burst. glibc keeps freed blocks for reuse and returns only the
// top of its heap by itself; after a flood (a client that queued a million
// replies and left) most of the broker's resident memory can be free
// blocks it will not need again soon. About once a second the server asks;
// the trimmer calls malloc_trim() when the allocator holds more than a
// threshold free, at most once per interval, so an idle broker comes back
// near its baseline and a busy one does not spend its loop trimming.
#ifndef SWITCHBOARD_DAEMON_SERVER_HEAP_TRIMMER_H_
#define SWITCHBOARD_DAEMON_SERVER_HEAP_TRIMMER_H_

#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/time/time.h"

namespace switchboard::server {

class HeapTrimmer {
 public:
  static constexpr size_t kDefaultFreeThreshold = size_t{16} << 20;
  static constexpr absl::Duration kDefaultInterval = absl::Seconds(5);

  // How the trimmer sees and acts on the heap; the defaults are glibc's
  // (mallinfo2's fordblks, malloc_trim(0)) and /proc/self/statm.
  struct Heap {
    std::function<size_t()> free_bytes;
    std::function<void()> trim;
    std::function<size_t()> resident_bytes;
  };
  static Heap SystemHeap();

  explicit HeapTrimmer(Heap heap = SystemHeap(),
                       size_t free_threshold = kDefaultFreeThreshold,
                       absl::Duration interval = kDefaultInterval)
      : heap_(std::move(heap)),
        free_threshold_(free_threshold),
        interval_(interval) {}

  // Trims if the allocator holds more than the threshold free and the last
  // trim was at least an interval before `now`. Returns whether it did.
  bool MaybeTrim(absl::Time now);

  uint64_t trims() const { return trims_; }
  // Resident bytes the trims gave back, summed.
  uint64_t bytes_returned() const { return bytes_returned_; }

 private:
  Heap heap_;
  const size_t free_threshold_;
  const absl::Duration interval_;
  absl::Time last_trim_ = absl::InfinitePast();
  uint64_t trims_ = 0;
  uint64_t bytes_returned_ = 0;
};

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_HEAP_TRIMMER_H_
