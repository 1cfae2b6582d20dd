// SPDX-License-Identifier: MIT
//
// SharedBuffer's three shapes behind one Impl: a memfd this program created
// (mapped writable until sealed kImmutable), a memfd that arrived with a
// frame (mapped read-only), and an inline buffer that arrived inside a
// frame's payload (a view kept alive by the frame; no descriptor).
#include "switchboard/shared_buffer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/fd.h"
#include "client/src/shared_buffer_impl.h"

namespace switchboard {
namespace {

constexpr int kSizeSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

absl::Status SyscallError(int error, absl::string_view call) {
  if (error == ENOMEM || error == ENOSPC || error == EMFILE ||
      error == ENFILE || error == EFBIG) {
    return absl::ResourceExhaustedError(
        absl::StrCat("SharedBuffer: ", call, ": ", std::strerror(error)));
  }
  return absl::InternalError(
      absl::StrCat("SharedBuffer: ", call, ": ", std::strerror(error)));
}

// Maps `size` bytes of `fd`; nullptr (no mapping) for size 0.
absl::StatusOr<char*> Map(int fd, size_t size, int protection) {
  if (size == 0) return nullptr;
  void* address = ::mmap(nullptr, size, protection, MAP_SHARED, fd, 0);
  if (address == MAP_FAILED) return SyscallError(errno, "mmap");
  return static_cast<char*>(address);
}

}  // namespace

SharedBuffer::Impl::~Impl() {
  if (!inline_ && mapping_ != nullptr && size_ > 0) ::munmap(mapping_, size_);
}

int SharedBuffer::Impl::seals() const {
  if (!fd_.valid()) return 0;
  const int seals = ::fcntl(fd_.get(), F_GET_SEALS);
  return seals < 0 ? 0 : seals;
}

absl::StatusOr<SharedBuffer> SharedBuffer::Impl::FromReceivedFd(Fd fd) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return SyscallError(errno, "fstat");
  auto impl = std::make_shared<Impl>();
  impl->size_ = static_cast<size_t>(st.st_size);
  absl::StatusOr<char*> mapping = Map(fd.get(), impl->size_, PROT_READ);
  if (!mapping.ok()) return mapping.status();
  impl->mapping_ = *mapping;
  impl->fd_ = std::move(fd);
  return SharedBuffer(std::move(impl));
}

SharedBuffer SharedBuffer::Impl::FromInline(std::shared_ptr<const void> owner,
                                            absl::string_view bytes) {
  auto impl = std::make_shared<Impl>();
  impl->owner_ = std::move(owner);
  impl->mapping_ = const_cast<char*>(bytes.data());
  impl->size_ = bytes.size();
  impl->inline_ = true;
  return SharedBuffer(std::move(impl));
}

absl::StatusOr<SharedBuffer> SharedBuffer::Create(size_t size,
                                                  absl::string_view name) {
  Fd fd(::memfd_create(std::string(name).c_str(),
                       MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return SyscallError(errno, "memfd_create");
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    return SyscallError(errno, "ftruncate");
  }
  absl::StatusOr<char*> mapping = Map(fd.get(), size, PROT_READ | PROT_WRITE);
  if (!mapping.ok()) return mapping.status();
  auto impl = std::make_shared<Impl>();
  impl->mapping_ = *mapping;
  impl->size_ = size;
  impl->fd_ = std::move(fd);
  impl->writable_ = true;
  impl->created_ = true;
  return SharedBuffer(std::move(impl));
}

size_t SharedBuffer::size() const {
  return impl_ == nullptr ? 0 : impl_->size_;
}

absl::string_view SharedBuffer::data() const {
  if (impl_ == nullptr || impl_->size_ == 0) return {};
  return absl::string_view(impl_->mapping_, impl_->size_);
}

absl::Span<char> SharedBuffer::mutable_data() {
  if (impl_ == nullptr || !impl_->writable_ || impl_->size_ == 0) return {};
  return absl::Span<char>(impl_->mapping_, impl_->size_);
}

absl::Status SharedBuffer::Seal(Sealing sealing) {
  if (impl_ == nullptr || !impl_->created_) {
    return absl::FailedPreconditionError(
        "SharedBuffer::Seal: only a buffer this program created can be "
        "sealed (a received one is sealed already)");
  }
  Impl& impl = *impl_;
  const int have = impl.seals();
  if (sealing == Sealing::kSizeOnly) {
    if ((have & kSizeSeals) == kSizeSeals) return absl::OkStatus();
    if (::fcntl(impl.fd_.get(), F_ADD_SEALS, kSizeSeals) != 0) {
      return SyscallError(errno, "fcntl(F_ADD_SEALS)");
    }
    return absl::OkStatus();
  }
  if ((have & F_SEAL_WRITE) != 0) return absl::OkStatus();
  if ((have & F_SEAL_SEAL) != 0) {
    return absl::FailedPreconditionError(
        "SharedBuffer::Seal(kImmutable): the buffer was already sealed "
        "kSizeOnly, which forbids adding seals");
  }
  // F_SEAL_WRITE is refused while any writable shared mapping exists, ours
  // included, so drop ours first and map again read-only.
  if (impl.mapping_ != nullptr) {
    ::munmap(impl.mapping_, impl.size_);
    impl.mapping_ = nullptr;
  }
  impl.writable_ = false;
  absl::Status status;
  if (::fcntl(impl.fd_.get(), F_ADD_SEALS, kSizeSeals | F_SEAL_WRITE) != 0) {
    status = errno == EBUSY
                 ? absl::FailedPreconditionError(
                       "SharedBuffer::Seal(kImmutable): another writable "
                       "mapping of the buffer exists")
                 : SyscallError(errno, "fcntl(F_ADD_SEALS)");
  }
  absl::StatusOr<char*> mapping =
      Map(impl.fd_.get(), impl.size_,
          status.ok() ? PROT_READ : PROT_READ | PROT_WRITE);
  if (!mapping.ok()) return mapping.status();
  impl.mapping_ = *mapping;
  impl.writable_ = !status.ok();
  return status;
}

bool SharedBuffer::size_sealed() const {
  // Without a descriptor (empty, or arrived inline) nobody can resize it.
  if (impl_ == nullptr || !impl_->fd_.valid()) return true;
  return (impl_->seals() & kSizeSeals) == kSizeSeals;
}

bool SharedBuffer::immutable() const {
  if (impl_ == nullptr || !impl_->fd_.valid()) return true;
  return (impl_->seals() & F_SEAL_WRITE) != 0;
}

int SharedBuffer::fd() const {
  return impl_ == nullptr ? -1 : impl_->fd_.get();
}

}  // namespace switchboard
