// SPDX-License-Identifier: MIT
#include "switchboard/shared_buffer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/fd.h"
#include "client/src/shared_buffer_impl.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

constexpr int kSizeSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

int OpenFdCount() {
  int count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (::readdir(dir) != nullptr) ++count;
  ::closedir(dir);
  return count;
}

void Fill(SharedBuffer& buffer) {
  absl::Span<char> bytes = buffer.mutable_data();
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<char>(i * 7 + 3);
  }
}

bool HasPattern(absl::string_view bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] != static_cast<char>(i * 7 + 3)) return false;
  }
  return true;
}

class SharedBufferSizeTest : public testing::TestWithParam<size_t> {};

TEST_P(SharedBufferSizeTest, CreateFillSealAndReceive) {
  const size_t size = GetParam();
  absl::StatusOr<SharedBuffer> buffer = SharedBuffer::Create(size, "test");
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  EXPECT_EQ(buffer->size(), size);
  EXPECT_GE(buffer->fd(), 0);
  EXPECT_EQ(buffer->mutable_data().size(), size);
  EXPECT_FALSE(buffer->size_sealed());
  Fill(*buffer);
  ASSERT_TRUE(buffer->Seal(SharedBuffer::Sealing::kImmutable).ok());
  EXPECT_TRUE(buffer->size_sealed());
  EXPECT_TRUE(buffer->immutable());
  EXPECT_TRUE(buffer->mutable_data().empty());
  EXPECT_EQ(buffer->data().size(), size);
  EXPECT_TRUE(HasPattern(buffer->data()));

  // What a receiver builds from the descriptor that arrives.
  absl::StatusOr<SharedBuffer> received =
      SharedBuffer::Impl::FromReceivedFd(Fd(::dup(buffer->fd())));
  ASSERT_TRUE(received.ok()) << received.status();
  EXPECT_EQ(received->size(), size);
  EXPECT_TRUE(HasPattern(received->data()));
  EXPECT_TRUE(received->mutable_data().empty());
  EXPECT_TRUE(received->immutable());
}

INSTANTIATE_TEST_SUITE_P(Sizes, SharedBufferSizeTest,
                         testing::Values(0, 1, 4095, 4096, 33177600));

TEST(SharedBufferTest, SizeOnlyKeepsTheWritableMappingAndHoldsSeals) {
  absl::StatusOr<SharedBuffer> buffer = SharedBuffer::Create(4096);
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  ASSERT_TRUE(buffer->Seal(SharedBuffer::Sealing::kSizeOnly).ok());
  EXPECT_EQ(::fcntl(buffer->fd(), F_GET_SEALS) & kSizeSeals, kSizeSeals);
  EXPECT_TRUE(buffer->size_sealed());
  EXPECT_FALSE(buffer->immutable());
  EXPECT_EQ(buffer->mutable_data().size(), 4096u);
  buffer->mutable_data()[0] = 'x';  // a pool refills its buffers
  EXPECT_EQ(buffer->data()[0], 'x');
  EXPECT_NE(::ftruncate(buffer->fd(), 8192), 0);
  EXPECT_NE(::ftruncate(buffer->fd(), 0), 0);
  EXPECT_NE(::fcntl(buffer->fd(), F_ADD_SEALS, F_SEAL_WRITE), 0);
  EXPECT_EQ(errno, EPERM);
  // Sealing the size again is a no-op; more seals are refused.
  EXPECT_TRUE(buffer->Seal(SharedBuffer::Sealing::kSizeOnly).ok());
  EXPECT_EQ(buffer->Seal(SharedBuffer::Sealing::kImmutable).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(SharedBufferTest, ImmutableRefusesEveryWrite) {
  absl::StatusOr<SharedBuffer> buffer = SharedBuffer::Create(4096);
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  ASSERT_TRUE(buffer->Seal(SharedBuffer::Sealing::kImmutable).ok());
  EXPECT_EQ(::fcntl(buffer->fd(), F_GET_SEALS), kSizeSeals | F_SEAL_WRITE);
  EXPECT_TRUE(buffer->mutable_data().empty());
  const char byte = 'x';
  EXPECT_EQ(::pwrite(buffer->fd(), &byte, 1, 0), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_TRUE(buffer->Seal(SharedBuffer::Sealing::kSizeOnly).ok());
  EXPECT_TRUE(buffer->Seal(SharedBuffer::Sealing::kImmutable).ok());
}

TEST(SharedBufferTest, ImmutableIsRefusedWhileAnotherWritableMappingExists) {
  absl::StatusOr<SharedBuffer> buffer = SharedBuffer::Create(4096);
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  void* other = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
                       buffer->fd(), 0);
  ASSERT_NE(other, MAP_FAILED);
  EXPECT_EQ(buffer->Seal(SharedBuffer::Sealing::kImmutable).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(buffer->mutable_data().size(), 4096u);  // still usable
  ::munmap(other, 4096);
  EXPECT_TRUE(buffer->Seal(SharedBuffer::Sealing::kImmutable).ok());
}

TEST(SharedBufferTest, ReceivedBuffersCannotBeSealed) {
  absl::StatusOr<SharedBuffer> buffer = SharedBuffer::Create(16);
  ASSERT_TRUE(buffer.ok());
  absl::StatusOr<SharedBuffer> received =
      SharedBuffer::Impl::FromReceivedFd(Fd(::dup(buffer->fd())));
  ASSERT_TRUE(received.ok());
  EXPECT_EQ(received->Seal(SharedBuffer::Sealing::kSizeOnly).code(),
            absl::StatusCode::kFailedPrecondition);
  SharedBuffer empty;
  EXPECT_EQ(empty.Seal(SharedBuffer::Sealing::kSizeOnly).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(SharedBufferTest, EmptyBufferHasNoDescriptor) {
  SharedBuffer empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.fd(), -1);
  EXPECT_TRUE(empty.data().empty());
  EXPECT_TRUE(empty.mutable_data().empty());
}

TEST(SharedBufferTest, InlineBufferIsAViewKeptAliveByItsOwner) {
  auto frame = std::make_shared<const std::string>("messagepixels");
  SharedBuffer buffer = SharedBuffer::Impl::FromInline(
      frame, absl::string_view(*frame).substr(7));
  std::weak_ptr<const std::string> weak = frame;
  frame.reset();
  ASSERT_FALSE(weak.expired());
  EXPECT_EQ(buffer.data(), "pixels");
  EXPECT_EQ(buffer.fd(), -1);
  EXPECT_TRUE(buffer.mutable_data().empty());
  EXPECT_TRUE(buffer.size_sealed());
  buffer = SharedBuffer();
  EXPECT_TRUE(weak.expired());
}

TEST(SharedBufferTest, LastCopyClosesTheDescriptor) {
  const int before = OpenFdCount();
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<SharedBuffer> buffer = SharedBuffer::Create(4096);
    ASSERT_TRUE(buffer.ok());
    ASSERT_TRUE(buffer->Seal(SharedBuffer::Sealing::kImmutable).ok());
    std::vector<SharedBuffer> copies(3, *buffer);
    absl::StatusOr<SharedBuffer> received =
        SharedBuffer::Impl::FromReceivedFd(Fd(::dup(buffer->fd())));
    ASSERT_TRUE(received.ok());
    SharedBuffer moved = std::move(*buffer);
    EXPECT_EQ(OpenFdCount(), before + 2);
  }
  EXPECT_EQ(OpenFdCount(), before);
}

}  // namespace
}  // namespace switchboard
