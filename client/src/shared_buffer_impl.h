// SPDX-License-Identifier: MIT
//
// SharedBuffer::Impl, shared by the library's sending and receiving code:
// receiving builds buffers from descriptors or from slices of a frame, and
// sending needs the descriptor and the bytes.
#ifndef SWITCHBOARD_CLIENT_SRC_SHARED_BUFFER_IMPL_H_
#define SWITCHBOARD_CLIENT_SRC_SHARED_BUFFER_IMPL_H_

#include <cstddef>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/fd.h"
#include "switchboard/export.h"
#include "switchboard/shared_buffer.h"

namespace switchboard {

class SWITCHBOARD_NO_EXPORT SharedBuffer::Impl {
 public:
  Impl() = default;
  ~Impl();  // unmaps, then closes the descriptor (Fd member)
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // A descriptor that arrived with a frame: mapped read-only, its size from
  // fstat. Errors: as SharedBuffer::Create, naming the call.
  static absl::StatusOr<SharedBuffer> FromReceivedFd(Fd fd);
  // A buffer that arrived inline: a view of `bytes`, kept alive by `owner`.
  static SharedBuffer FromInline(std::shared_ptr<const void> owner,
                                 absl::string_view bytes);

  // The descriptor's seals (F_GET_SEALS); 0 without a descriptor.
  int seals() const;

 private:
  friend class SharedBuffer;

  Fd fd_;
  std::shared_ptr<const void> owner_;  // inline buffers: the frame
  char* mapping_ = nullptr;            // or the inline bytes
  size_t size_ = 0;
  bool writable_ = false;  // mapping_ is PROT_WRITE
  bool created_ = false;   // made by Create() in this program
  bool inline_ = false;    // mapping_ points into owner_, not an mmap
};

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENT_SRC_SHARED_BUFFER_IMPL_H_
