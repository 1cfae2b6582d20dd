// SPDX-License-Identifier: MIT
#include "daemon/server/heap_trimmer.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

namespace switchboard::server {
namespace {

size_t ResidentBytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "re");
  if (statm == nullptr) return 0;
  unsigned long size = 0;
  unsigned long resident = 0;
  const int read = std::fscanf(statm, "%lu %lu", &size, &resident);
  std::fclose(statm);
  if (read != 2) return 0;
  return static_cast<size_t>(resident) *
         static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

HeapTrimmer::Heap HeapTrimmer::SystemHeap() {
  return Heap{[] { return static_cast<size_t>(::mallinfo2().fordblks); },
              [] { ::malloc_trim(0); }, &ResidentBytes};
}

bool HeapTrimmer::MaybeTrim(absl::Time now) {
  if (now - last_trim_ < interval_) return false;
  if (heap_.free_bytes() <= free_threshold_) return false;
  last_trim_ = now;
  const size_t before = heap_.resident_bytes();
  heap_.trim();
  const size_t after = heap_.resident_bytes();
  ++trims_;
  if (after < before) bytes_returned_ += before - after;
  return true;
}

}  // namespace switchboard::server
