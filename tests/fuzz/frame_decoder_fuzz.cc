// SPDX-License-Identifier: MIT
//
// libFuzzer target for wire::FrameDecoder, the first code that touches every
// byte a client sends. The same input is decoded three ways: appended at
// once, appended in uneven chunks, and read through the zero-copy
// WritableSpan()/Commit() path in uneven chunks. No input may crash, leak or
// trip a sanitizer, and all three ways must produce the same frames and end
// in the same state, so a bug in the staging-buffer or large-frame
// bookkeeping shows up as a mismatch even when it corrupts no memory. The
// two chunked ways also take runs (TakePublishRun, of PUBLISH and of
// MESSAGE frames) before each Next(), as the broker and the library do:
// a run must hold exactly the frames Next() would have returned.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/stubs/logging.h"
#include "wire/frame_decoder.h"

namespace switchboard::wire {
namespace {

struct Decoded {
  std::vector<std::string> frames;               // each frame's full bytes
  absl::StatusCode end = absl::StatusCode::kOk;  // kOk: waiting for more
};

void Check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "frame_decoder_fuzz: %s\n", what);
  std::abort();
}

// Small limits, so lengths in the input often exceed them, but a payload
// limit above FrameDecoder::kStagingBytes, so the large-frame path runs.
Limits FuzzLimits() {
  Limits limits;
  limits.max_header_bytes = 4096;
  limits.max_payload_bytes = 1 << 20;
  limits.max_fds_per_frame = 0;
  return limits;
}

// Takes every complete frame out of `decoder`, with `take_runs` runs
// first where they form. Returns false once the decoder has failed.
bool Drain(FrameDecoder& decoder, Decoded& out, bool take_runs = false) {
  while (true) {
    if (take_runs) {
      std::optional<PublishRun> run = decoder.TakePublishRun(Kind::kPublish);
      if (!run) run = decoder.TakePublishRun(Kind::kMessage);
      if (run) {
        Check(run->count() >= PublishRun::kMinFrames, "a run of one frame");
        const absl::string_view bytes = run->bytes();
        size_t offset = 0;
        size_t count = 0;
        while (offset < bytes.size()) {
          const size_t size = PublishRun::FrameBytesAt(bytes.data() + offset);
          Check(size <= PublishRun::kMaxFrameBytes, "a run frame too large");
          Check(run->CopyFrame(offset).bytes() == bytes.substr(offset, size),
                "a run frame differs from its copy");
          out.frames.emplace_back(bytes.substr(offset, size));
          offset += size;
          ++count;
        }
        Check(offset == bytes.size() && count == run->count(),
              "a run's frames do not add up");
        continue;
      }
    }
    absl::StatusOr<std::optional<Frame>> next = decoder.Next();
    if (!next.ok()) {
      out.end = next.status().code();
      // A failed decoder stays failed.
      Check(decoder.Next().status() == next.status(), "decoder recovered");
      return false;
    }
    if (!next->has_value()) return true;
    const Frame& frame = **next;
    Check(frame.bytes().size() == frame.prefix().frame_bytes(),
          "frame size differs from its prefix");
    Check(frame.header_bytes().size() == frame.prefix().header_length,
          "header length differs from the prefix");
    Check(frame.payload().size() == frame.prefix().payload_length,
          "payload length differs from the prefix");
    // Parsing a hostile header must be safe too; its result does not matter.
    (void)frame.ParseHeader();
    out.frames.emplace_back(frame.bytes());
  }
}

// Chunk sizes derived from the input, so the fuzzer also explores how the
// bytes are split: 1 to 97 bytes, now and then a large one.
size_t ChunkSize(uint32_t& state) {
  state = state * 1103515245u + 12345u;
  const uint32_t r = state >> 16;
  return (r % 8 == 0) ? 1 + r % 70000 : 1 + r % 97;
}

Decoded DecodeWhole(absl::string_view input) {
  Decoded out;
  FrameDecoder decoder(FuzzLimits());
  decoder.Append(input);
  Drain(decoder, out);
  return out;
}

Decoded DecodeAppendedChunks(absl::string_view input, uint32_t seed) {
  Decoded out;
  FrameDecoder decoder(FuzzLimits());
  while (!input.empty()) {
    const size_t n = std::min(ChunkSize(seed), input.size());
    decoder.Append(input.substr(0, n));
    input.remove_prefix(n);
    if (!Drain(decoder, out, /*take_runs=*/true)) return out;
  }
  return out;
}

Decoded DecodeZeroCopy(absl::string_view input, uint32_t seed) {
  Decoded out;
  FrameDecoder decoder(FuzzLimits());
  while (!input.empty()) {
    absl::Span<char> span = decoder.WritableSpan();
    if (span.empty()) {
      // Only when complete frames wait; Drain must take at least one.
      const size_t before = out.frames.size();
      if (!Drain(decoder, out, /*take_runs=*/true)) return out;
      Check(out.frames.size() > before, "empty WritableSpan with no frame");
      continue;
    }
    const size_t n = std::min({ChunkSize(seed), input.size(), span.size()});
    std::memcpy(span.data(), input.data(), n);
    decoder.Commit(n);
    input.remove_prefix(n);
    if (!Drain(decoder, out, /*take_runs=*/true)) return out;
  }
  return out;
}

}  // namespace
}  // namespace switchboard::wire

// Hostile headers make protobuf log a line per parse; keep the run readable.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using switchboard::wire::Decoded;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  uint32_t seed = 0;
  for (size_t i = 0; i < std::min<size_t>(size, 4); ++i) {
    seed = seed * 256 + data[i];
  }
  const Decoded whole = switchboard::wire::DecodeWhole(input);
  const Decoded chunked = switchboard::wire::DecodeAppendedChunks(input, seed);
  const Decoded zero_copy = switchboard::wire::DecodeZeroCopy(input, seed);
  switchboard::wire::Check(whole.frames == chunked.frames,
                           "chunked Append() decoded different frames");
  switchboard::wire::Check(whole.end == chunked.end,
                           "chunked Append() ended differently");
  switchboard::wire::Check(whole.frames == zero_copy.frames,
                           "WritableSpan()/Commit() decoded different frames");
  switchboard::wire::Check(whole.end == zero_copy.end,
                           "WritableSpan()/Commit() ended differently");
  return 0;
}
