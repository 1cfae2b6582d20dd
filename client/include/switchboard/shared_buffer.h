// SPDX-License-Identifier: MIT
//
// SharedBuffer: a block of shared memory (a sealed memfd) that travels between
// programs as a file descriptor, so sending it costs the same for 1 KB or
// 1 GB: nothing is copied, the receiver maps the same pages read-only.
//
//   absl::StatusOr<SharedBuffer> frame = SharedBuffer::Create(33177600);
//   Render(frame->mutable_data());
//   frame->Seal(SharedBuffer::Sealing::kImmutable);
//   return Payload(header.SerializeAsString(), {*frame});
//
// Where descriptors cannot travel (TCP, or a receiver that does not take
// them) the library copies the buffer into the frame instead, and the
// receiver still gets a SharedBuffer (fd() is then -1); application code is
// the same either way (docs/PROTOCOL.md, section 2.5).
//
// Copies of a SharedBuffer share one buffer; the mapping is removed and the
// descriptor closed when the last copy goes. Thread-safe like a shared_ptr:
// different copies may be used from different threads.
#ifndef SWITCHBOARD_SHARED_BUFFER_H_
#define SWITCHBOARD_SHARED_BUFFER_H_

#include <cstddef>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "switchboard/export.h"

namespace switchboard {

class SWITCHBOARD_EXPORT SharedBuffer {
 public:
  // How Seal() protects the buffer. Both fix its size (F_SEAL_SHRINK,
  // F_SEAL_GROW, F_SEAL_SEAL), which every buffer needs before it is sent.
  enum class Sealing {
    // Only the size is fixed. The creator keeps its writable mapping and may
    // refill the buffer later, as a decoder's frame pool does; receivers may
    // then see the new contents, so the creator must reuse a buffer only when
    // the receivers are done with it.
    kSizeOnly,
    // Size and contents are fixed for good (F_SEAL_WRITE): nobody can change
    // the bytes again. The creator's writable mapping becomes read-only.
    kImmutable,
  };

  // A new buffer of `size` bytes (memfd_create with MFD_ALLOW_SEALING),
  // zero-filled, mapped writable. `name` shows in /proc/PID/fd for debugging.
  // Errors: kResourceExhausted if the memory cannot be had; kInternal for
  // other failures of the system calls, naming the call.
  static absl::StatusOr<SharedBuffer> Create(
      size_t size, absl::string_view name = "switchboard");

  // An empty buffer (size 0, no descriptor).
  SharedBuffer() = default;

  size_t size() const;
  // The bytes, readable for as long as this SharedBuffer (or a copy) lives.
  absl::string_view data() const;
  // The bytes, writable: only for a buffer this program created and has not
  // sealed kImmutable; empty otherwise.
  absl::Span<char> mutable_data();

  // Seals the buffer. Sealing again with kSizeOnly after kImmutable is a no-op.
  // Errors: kFailedPrecondition for a buffer this program did not create (a
  // received one is already sealed), or for kImmutable while another writable
  // mapping of the memfd exists elsewhere (the kernel refuses F_SEAL_WRITE).
  absl::Status Seal(Sealing sealing);

  // Whether the size is sealed (required to send it).
  bool size_sealed() const;
  // Whether the contents are sealed too (F_SEAL_WRITE).
  bool immutable() const;

  // The memfd, still owned by this buffer; -1 for a buffer that arrived
  // inline or is empty.
  int fd() const;

  class Impl;  // client/src/shared_buffer.cc; public so the library can build
               // one

  explicit SharedBuffer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  const std::shared_ptr<Impl>& impl() const { return impl_; }

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SHARED_BUFFER_H_
