// SPDX-License-Identifier: MIT
#include "daemon/server/heap_trimmer.h"

#include "gtest/gtest.h"

namespace switchboard::server {
namespace {

// A heap that holds `free` bytes free and `resident` resident; a trim
// gives the free bytes back.
struct FakeHeap {
  size_t free = 0;
  size_t resident = 100 << 20;
  int trims = 0;

  HeapTrimmer::Heap AsHeap() {
    return HeapTrimmer::Heap{[this] { return free; },
                             [this] {
                               ++trims;
                               resident -= free;
                               free = 0;
                             },
                             [this] { return resident; }};
  }
};

TEST(HeapTrimmerTest, TrimsOnlyAboveTheThresholdAndAtMostOncePerInterval) {
  FakeHeap heap;
  HeapTrimmer trimmer(heap.AsHeap(), /*free_threshold=*/10 << 20,
                      absl::Seconds(5));
  const absl::Time start = absl::UnixEpoch() + absl::Hours(1);
  heap.free = 10 << 20;  // at the threshold: kept for reuse
  EXPECT_FALSE(trimmer.MaybeTrim(start));
  heap.free = 40 << 20;
  EXPECT_TRUE(trimmer.MaybeTrim(start + absl::Seconds(1)));
  EXPECT_EQ(heap.trims, 1);
  EXPECT_EQ(trimmer.trims(), 1u);
  EXPECT_EQ(trimmer.bytes_returned(), uint64_t{40} << 20);
  // Another burst within the interval waits for it.
  heap.free = 40 << 20;
  EXPECT_FALSE(trimmer.MaybeTrim(start + absl::Seconds(3)));
  EXPECT_EQ(heap.trims, 1);
  EXPECT_TRUE(trimmer.MaybeTrim(start + absl::Seconds(6)));
  EXPECT_EQ(heap.trims, 2);
  EXPECT_EQ(trimmer.bytes_returned(), uint64_t{80} << 20);
}

TEST(HeapTrimmerTest, TheSystemHeapAnswers) {
  HeapTrimmer::Heap heap = HeapTrimmer::SystemHeap();
  EXPECT_GT(heap.resident_bytes(), 0u);
  heap.trim();  // must not fail or crash, whatever the allocator
  (void)heap.free_bytes();
}

}  // namespace
}  // namespace switchboard::server
