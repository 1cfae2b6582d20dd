// SPDX-License-Identifier: MIT
//
// SharedBuffers through the real broker with the real client library
// (docs/PROTOCOL.md section 2.5, issue 4): buffers of every awkward size as
// request and reply, raw and typed, verified byte for byte; on Unix sockets
// they arrive as sealed, read-only memfds, on TCP inline, with the same
// application code. Then what the broker refuses (unsealed buffers, non-memfd
// descriptors, too many or too few descriptors, descriptors where none may
// go), the inline fallback and its size limit, --require-write-seal, and
// descriptor counts in the broker and in this process that must return to
// their baseline after thousands of buffers, refusals, dropped calls,
// expired deadlines and clients that vanish in the middle of a frame.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/payload.h"
#include "switchboard/service.h"
#include "switchboard/shared_buffer.h"
#include "switchboard/testing/buffers.pb.h"
#include "switchboard/v1/header.pb.h"
#include "tests/testing/async_results.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/broker_status.h"
#include "tests/testing/child_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/raw_connection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/transport.h"
#include "tests/testing/wait_for.h"
#include "wire/frame.h"
#include "wire/prefix.h"

namespace switchboard {
namespace {

using ::switchboard::testing::AsyncResults;
using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::BufferCheck;
using ::switchboard::testing::BufferReport;
using ::switchboard::testing::BufferRequest;
using ::switchboard::testing::ChildProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::EncodeFrame;
using ::switchboard::testing::GetBrokerStatus;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::RawConnection;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::Transport;
using ::switchboard::testing::TransportTestName;
using ::switchboard::testing::WaitFor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kTimeout = absl::Seconds(20);
constexpr absl::Duration kPromptly = absl::Seconds(5);
// Descriptors close asynchronously (the broker's loop, the library's
// dispatch thread); counts must settle within this.
constexpr absl::Duration kSettle = absl::Seconds(10);

// One 4K RGBA frame, the headline size.
constexpr size_t kFrameBytes = 3840 * 2160 * 4;
const std::vector<size_t> kAwkwardSizes = {0, 1, 4095, 4096, kFrameBytes};

constexpr int kSizeSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

int Code(absl::StatusCode code) { return static_cast<int>(code); }

// Byte `i` of the pattern with `seed`. The page number takes part, so a
// page delivered in the wrong place is caught too.
char PatternByte(size_t i, uint32_t seed) {
  return static_cast<char>((i * 7 + (i >> 12) * 13 + seed) & 0xff);
}

void FillPattern(absl::Span<char> bytes, uint32_t seed) {
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = PatternByte(i, seed);
}

// Index of the first byte that is not the pattern's, or -1.
int64_t FirstMismatch(absl::string_view bytes, uint32_t seed) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] != PatternByte(i, seed)) return static_cast<int64_t>(i);
  }
  return -1;
}

// A buffer of `size` bytes holding the pattern, sealed with `sealing`
// (unsealed if nullopt).
absl::StatusOr<SharedBuffer> MakeBuffer(
    size_t size, uint32_t seed,
    std::optional<SharedBuffer::Sealing> sealing =
        SharedBuffer::Sealing::kImmutable) {
  absl::StatusOr<SharedBuffer> buffer = SharedBuffer::Create(size, "test");
  if (!buffer.ok()) return buffer.status();
  if (buffer->size() != size) {
    return absl::InternalError(
        absl::StrCat("Create(", size, ") made ", buffer->size(), " bytes"));
  }
  if (size > 0 && buffer->mutable_data().size() != size) {
    return absl::InternalError("a new buffer is not writable");
  }
  FillPattern(buffer->mutable_data(), seed);
  if (sealing.has_value()) {
    if (absl::Status sealed = buffer->Seal(*sealing); !sealed.ok()) {
      return sealed;
    }
  }
  return buffer;
}

absl::StatusOr<std::vector<SharedBuffer>> MakeBuffers(
    const std::vector<size_t>& sizes, uint32_t seed,
    SharedBuffer::Sealing sealing = SharedBuffer::Sealing::kImmutable) {
  std::vector<SharedBuffer> buffers;
  for (size_t size : sizes) {
    absl::StatusOr<SharedBuffer> buffer = MakeBuffer(size, seed, sealing);
    if (!buffer.ok()) return buffer.status();
    buffers.push_back(*std::move(buffer));
  }
  return buffers;
}

// Whether the mapping that holds `address` lacks write permission, from
// /proc/self/maps; nullopt if no mapping holds it.
std::optional<bool> MappingIsReadOnly(const void* address) {
  const auto wanted = reinterpret_cast<uintptr_t>(address);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // "start-end perms offset dev inode path"
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 2) continue;
    std::vector<absl::string_view> range = absl::StrSplit(fields[0], '-');
    uint64_t start = 0;
    uint64_t end = 0;
    if (range.size() != 2 || !absl::SimpleHexAtoi(range[0], &start) ||
        !absl::SimpleHexAtoi(range[1], &end)) {
      continue;
    }
    if (wanted >= start && wanted < end) {
      return fields[1].size() >= 2 && fields[1][1] == '-';
    }
  }
  return std::nullopt;
}

// What a receiver can find out about a buffer it got.
BufferCheck Inspect(SharedBuffer buffer, uint32_t seed) {
  BufferCheck check;
  check.set_size(buffer.size());
  check.set_first_mismatch(FirstMismatch(buffer.data(), seed));
  check.set_fd(buffer.fd());
  check.set_seals(buffer.fd() >= 0 ? ::fcntl(buffer.fd(), F_GET_SEALS) : -1);
  check.set_mutable_data_empty(buffer.mutable_data().empty());
  if (buffer.size() > 0) {
    check.set_mapping_read_only(
        MappingIsReadOnly(buffer.data().data()).value_or(false));
  }
  if (buffer.fd() >= 0 && buffer.size() > 0 && check.seals() >= 0 &&
      (check.seals() & F_SEAL_WRITE) != 0) {
    const char byte = 'x';
    check.set_pwrite_failed(::pwrite(buffer.fd(), &byte, 1, 0) < 0);
  }
  return check;
}

enum class Arrival { kAsFd, kInline };

// Checks what a receiver reported about one buffer of `size` bytes.
void ExpectReceived(const BufferCheck& check, size_t size, Arrival arrival,
                    bool immutable, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(check.size(), size);
  EXPECT_EQ(check.first_mismatch(), -1) << "content differs";
  EXPECT_TRUE(check.mutable_data_empty())
      << "a received buffer must not be writable";
  if (arrival == Arrival::kInline) {
    EXPECT_EQ(check.fd(), -1) << "expected the buffer inline";
    return;
  }
  EXPECT_GE(check.fd(), 0) << "expected the buffer as a descriptor";
  ASSERT_GE(check.seals(), 0) << "F_GET_SEALS failed on the received fd";
  EXPECT_EQ(check.seals() & kSizeSeals, kSizeSeals)
      << "seals " << check.seals();
  EXPECT_EQ((check.seals() & F_SEAL_WRITE) != 0, immutable)
      << "seals " << check.seals();
  if (size > 0) {
    EXPECT_TRUE(check.mapping_read_only()) << "the mapping is writable";
    if (immutable) {
      EXPECT_TRUE(check.pwrite_failed()) << "pwrite through a sealed fd";
    }
  }
}

// The buffer test service. "Exchange" (raw) and "TypedExchange" (typed,
// WithBuffers) parse a BufferRequest, report on the request's buffers and
// answer with the buffers the request asks for. "Unsealed" answers with a
// buffer whose size is not sealed. Counts the calls that reach a handler.
Service BufferService(const std::string& name,
                      std::shared_ptr<std::atomic<int>> calls =
                          std::make_shared<std::atomic<int>>(0)) {
  auto report_and_answer = [](const BufferRequest& request,
                              absl::string_view message,
                              const std::vector<SharedBuffer>& received)
      -> absl::StatusOr<WithBuffers<BufferReport>> {
    WithBuffers<BufferReport> out;
    out.message.set_message(std::string(message));
    for (const SharedBuffer& buffer : received) {
      *out.message.add_buffers() = Inspect(buffer, request.request_seed());
    }
    std::vector<size_t> sizes(request.reply_sizes().begin(),
                              request.reply_sizes().end());
    absl::StatusOr<std::vector<SharedBuffer>> buffers = MakeBuffers(
        sizes, request.reply_seed(),
        request.reply_immutable() ? SharedBuffer::Sealing::kImmutable
                                  : SharedBuffer::Sealing::kSizeOnly);
    if (!buffers.ok()) return buffers.status();
    out.buffers = *std::move(buffers);
    return out;
  };
  Service service(name);
  service.AddMethod(
      "Exchange",
      [calls, report_and_answer](
          const CallInfo&, const Payload& payload) -> absl::StatusOr<Payload> {
        ++*calls;
        BufferRequest request;
        if (!request.ParseFromArray(payload.data(),
                                    static_cast<int>(payload.size()))) {
          return absl::InvalidArgumentError("not a BufferRequest");
        }
        absl::StatusOr<WithBuffers<BufferReport>> out =
            report_and_answer(request, payload.view(), payload.buffers());
        if (!out.ok()) return out.status();
        return Payload(out->message.SerializeAsString(),
                       std::move(out->buffers));
      });
  service.AddMethod<BufferRequest, BufferReport>(
      "TypedExchange",
      [calls, report_and_answer](const CallInfo& call,
                                 const BufferRequest& request)
          -> absl::StatusOr<WithBuffers<BufferReport>> {
        ++*calls;
        return report_and_answer(request, request.SerializeAsString(),
                                 call.buffers);
      });
  service.AddMethod(
      "Unsealed",
      [calls](const CallInfo&, const Payload&) -> absl::StatusOr<Payload> {
        ++*calls;
        absl::StatusOr<SharedBuffer> buffer = MakeBuffer(4096, 1, std::nullopt);
        if (!buffer.ok()) return buffer.status();
        return Payload("unsealed", {*buffer});
      });
  return service;
}

BufferRequest Request(uint32_t request_seed,
                      const std::vector<size_t>& reply_sizes = {},
                      uint32_t reply_seed = 0, bool reply_immutable = true) {
  BufferRequest request;
  request.set_request_seed(request_seed);
  for (size_t size : reply_sizes) request.add_reply_sizes(size);
  request.set_reply_seed(reply_seed);
  request.set_reply_immutable(reply_immutable);
  return request;
}

absl::StatusOr<BufferReport> ParseReport(const Payload& payload) {
  BufferReport report;
  if (!report.ParseFromArray(payload.data(),
                             static_cast<int>(payload.size()))) {
    return absl::InternalError("reply is not a BufferReport");
  }
  return report;
}

// Open descriptors of `pid` (0: this process), from /proc/PID/fd.
int CountFds(pid_t pid = 0) {
  const std::string path =
      pid == 0 ? "/proc/self/fd" : absl::StrCat("/proc/", pid, "/fd");
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return pid == 0 ? count - 1 : count;  // not the directory's own fd
}

// "FD->TARGET" for every open descriptor of `pid` (0: this process), for
// failure messages.
std::string DescribeFds(pid_t pid = 0) {
  const std::string path =
      pid == 0 ? "/proc/self/fd" : absl::StrCat("/proc/", pid, "/fd");
  std::vector<std::string> names;
  if (DIR* dir = ::opendir(path.c_str())) {
    while (dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      char target[256] = {};
      const std::string link = absl::StrCat(path, "/", entry->d_name);
      const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
      names.push_back(absl::StrCat(entry->d_name, "->",
                                   n > 0 ? absl::string_view(target, n) : "?"));
    }
    ::closedir(dir);
  }
  return absl::StrJoin(names, " ");
}

// A memfd of `size` bytes with `seals` added (0: none).
Fd MakeMemfd(size_t size, int seals) {
  Fd fd(::memfd_create("raw-test", MFD_ALLOW_SEALING | MFD_CLOEXEC));
  if (!fd.valid()) return fd;
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return Fd();
  if (seals != 0 && ::fcntl(fd.get(), F_ADD_SEALS, seals) != 0) return Fd();
  return fd;
}

// An encoded frame with fd_count set to `fd_count`.
std::string EncodeFrameWithFdCount(wire::Kind kind, uint64_t request_id,
                                   const v1::Header& header,
                                   absl::string_view payload,
                                   uint8_t fd_count) {
  std::string bytes = EncodeFrame(kind, request_id, header, payload);
  bytes[wire::kOffsetFdCount] = static_cast<char>(fd_count);
  return bytes;
}

v1::Header CallHeader(absl::string_view service, absl::string_view method) {
  v1::Header header;
  header.mutable_call()->set_service(std::string(service));
  header.mutable_call()->set_method(std::string(method));
  header.mutable_call()->set_timeout_us(20'000'000);
  return header;
}

// The REPLY's header, or an error if the frame is something else.
absl::StatusOr<v1::Reply> ReadReply(RawConnection& connection,
                                    uint64_t request_id) {
  absl::StatusOr<wire::Frame> frame = connection.ReadFrame(kTimeout);
  if (!frame.ok()) return frame.status();
  if (frame->kind() != wire::Kind::kReply) {
    return absl::InternalError(
        absl::StrCat("expected REPLY, got ", wire::KindName(frame->kind())));
  }
  if (frame->request_id() != request_id) {
    return absl::InternalError(absl::StrCat("REPLY for ", frame->request_id(),
                                            ", expected ", request_id));
  }
  absl::StatusOr<v1::Header> header = frame->ParseHeader();
  if (!header.ok()) return header.status();
  return header->reply();
}

// The checks above must be able to fail: on the creator's side of a buffer
// the same inspection sees a writable mapping and, until kImmutable, no
// write seal.
TEST(BufferInspectTest, SeesWhatTheCreatorMayDo) {
  absl::StatusOr<SharedBuffer> pooled =
      MakeBuffer(8192, 3, SharedBuffer::Sealing::kSizeOnly);
  ASSERT_THAT(pooled, IsOk());
  BufferCheck check = Inspect(*pooled, 3);
  EXPECT_EQ(check.first_mismatch(), -1);
  EXPECT_EQ(Inspect(*pooled, 4).first_mismatch(), 0);
  EXPECT_GE(check.fd(), 0);
  EXPECT_EQ(check.seals(), kSizeSeals);
  EXPECT_FALSE(check.mutable_data_empty());
  EXPECT_FALSE(check.mapping_read_only());
  EXPECT_FALSE(check.pwrite_failed());  // not tried: no write seal
  pooled->mutable_data()[5000] = 'x';
  EXPECT_EQ(Inspect(*pooled, 3).first_mismatch(), 5000);

  absl::StatusOr<SharedBuffer> frozen = MakeBuffer(8192, 3);
  ASSERT_THAT(frozen, IsOk());
  check = Inspect(*frozen, 3);
  EXPECT_EQ(check.seals(), kSizeSeals | F_SEAL_WRITE);
  EXPECT_TRUE(check.mutable_data_empty());
  EXPECT_TRUE(check.mapping_read_only());
  EXPECT_TRUE(check.pwrite_failed());
  EXPECT_EQ(check.first_mismatch(), -1);
}

// ---------------------------------------------------------------------------
// Round trips, over both transports with the same code.

class BufferTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    service_ = ConnectOrDie(broker_, "service");
    ASSERT_THAT(service_->Serve(BufferService("test.buffers", calls_)), IsOk());
    caller_ = ConnectOrDie(broker_, "caller");
  }

  Arrival ExpectedArrival() const {
    return GetParam() == Transport::kUnix ? Arrival::kAsFd : Arrival::kInline;
  }

  std::shared_ptr<std::atomic<int>> calls_ =
      std::make_shared<std::atomic<int>>(0);
  BrokerProcess broker_{GetParam()};
  std::unique_ptr<Client> service_;
  std::unique_ptr<Client> caller_;
};

TEST_P(BufferTest, RequestBuffersOfEverySizeArriveIntactAndReadOnly) {
  absl::StatusOr<std::vector<SharedBuffer>> buffers =
      MakeBuffers(kAwkwardSizes, 11);
  ASSERT_THAT(buffers, IsOk());
  const std::string message = Request(11).SerializeAsString();
  absl::StatusOr<Payload> reply =
      caller_->Call("test.buffers", "Exchange",
                    Payload(message, *std::move(buffers)), kTimeout);
  ASSERT_THAT(reply, IsOk());
  absl::StatusOr<BufferReport> report = ParseReport(*reply);
  ASSERT_THAT(report, IsOk());
  // The message is only the message, whichever way the buffers went.
  EXPECT_EQ(report->message(), message);
  ASSERT_EQ(report->buffers_size(), static_cast<int>(kAwkwardSizes.size()));
  for (size_t i = 0; i < kAwkwardSizes.size(); ++i) {
    ExpectReceived(report->buffers(static_cast<int>(i)), kAwkwardSizes[i],
                   ExpectedArrival(), /*immutable=*/true,
                   absl::StrCat("request buffer ", i));
  }
  EXPECT_TRUE(reply->buffers().empty());
}

TEST_P(BufferTest, ReplyBuffersOfEverySizeArriveIntactAndReadOnly) {
  absl::StatusOr<Payload> reply = caller_->Call(
      "test.buffers", "Exchange",
      Request(0, kAwkwardSizes, 23).SerializeAsString(), kTimeout);
  ASSERT_THAT(reply, IsOk());
  absl::StatusOr<BufferReport> report = ParseReport(*reply);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->buffers_size(), 0);
  ASSERT_EQ(reply->buffers().size(), kAwkwardSizes.size());
  for (size_t i = 0; i < kAwkwardSizes.size(); ++i) {
    SharedBuffer buffer = reply->buffers()[i];
    ExpectReceived(Inspect(buffer, 23), kAwkwardSizes[i], ExpectedArrival(),
                   /*immutable=*/true, absl::StrCat("reply buffer ", i));
    // A received buffer is sealed already; only its creator may seal.
    EXPECT_THAT(buffer.Seal(SharedBuffer::Sealing::kImmutable),
                StatusIs(absl::StatusCode::kFailedPrecondition));
  }
}

TEST_P(BufferTest, TypedCallWithBuffersCarriesBuffersBothWays) {
  const std::vector<size_t> request_sizes = kAwkwardSizes;
  const std::vector<size_t> reply_sizes(kAwkwardSizes.rbegin(),
                                        kAwkwardSizes.rend());
  absl::StatusOr<std::vector<SharedBuffer>> buffers =
      MakeBuffers(request_sizes, 31);
  ASSERT_THAT(buffers, IsOk());
  const BufferRequest request = Request(31, reply_sizes, 37);
  absl::StatusOr<WithBuffers<BufferReport>> reply =
      caller_->CallWithBuffers<BufferReport>("test.buffers", "TypedExchange",
                                             request, *std::move(buffers),
                                             kTimeout);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->message.message(), request.SerializeAsString());
  ASSERT_EQ(reply->message.buffers_size(),
            static_cast<int>(request_sizes.size()));
  for (size_t i = 0; i < request_sizes.size(); ++i) {
    ExpectReceived(reply->message.buffers(static_cast<int>(i)),
                   request_sizes[i], ExpectedArrival(), true,
                   absl::StrCat("request buffer ", i));
  }
  ASSERT_EQ(reply->buffers.size(), reply_sizes.size());
  for (size_t i = 0; i < reply_sizes.size(); ++i) {
    ExpectReceived(Inspect(reply->buffers[i], 37), reply_sizes[i],
                   ExpectedArrival(), true, absl::StrCat("reply buffer ", i));
  }
}

TEST_P(BufferTest, SizeOnlyBuffersArriveWithSizeSealsButNoWriteSeal) {
  const std::vector<size_t> sizes = {1, 4096, 65536};
  absl::StatusOr<std::vector<SharedBuffer>> buffers =
      MakeBuffers(sizes, 41, SharedBuffer::Sealing::kSizeOnly);
  ASSERT_THAT(buffers, IsOk());
  for (const SharedBuffer& buffer : *buffers) {
    EXPECT_TRUE(buffer.size_sealed());
    EXPECT_FALSE(buffer.immutable());
  }
  absl::StatusOr<WithBuffers<BufferReport>> reply =
      caller_->CallWithBuffers<BufferReport>(
          "test.buffers", "TypedExchange",
          Request(41, sizes, 43, /*reply_immutable=*/false), *buffers,
          kTimeout);
  ASSERT_THAT(reply, IsOk());
  ASSERT_EQ(reply->message.buffers_size(), static_cast<int>(sizes.size()));
  ASSERT_EQ(reply->buffers.size(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    ExpectReceived(reply->message.buffers(static_cast<int>(i)), sizes[i],
                   ExpectedArrival(), /*immutable=*/false,
                   absl::StrCat("request buffer ", i));
    ExpectReceived(Inspect(reply->buffers[i], 43), sizes[i], ExpectedArrival(),
                   /*immutable=*/false, absl::StrCat("reply buffer ", i));
  }
}

TEST_P(BufferTest, UnsealedBufferIsRefusedLocallyWithFailedPrecondition) {
  absl::StatusOr<SharedBuffer> unsealed = MakeBuffer(4096, 5, std::nullopt);
  ASSERT_THAT(unsealed, IsOk());
  EXPECT_FALSE(unsealed->size_sealed());
  EXPECT_THAT(
      caller_->Call("test.buffers", "Exchange",
                    Payload(Request(5).SerializeAsString(), {*unsealed}),
                    kTimeout),
      StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(
      caller_->CallWithBuffers<BufferReport>("test.buffers", "TypedExchange",
                                             Request(5), {*unsealed}, kTimeout),
      StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(calls_->load(), 0) << "an unsealed buffer reached the callee";
  // The same buffer goes once sealed, and the client kept working.
  ASSERT_THAT(unsealed->Seal(SharedBuffer::Sealing::kSizeOnly), IsOk());
  absl::StatusOr<Payload> reply = caller_->Call(
      "test.buffers", "Exchange",
      Payload(Request(5).SerializeAsString(), {*unsealed}), kTimeout);
  ASSERT_THAT(reply, IsOk());
  absl::StatusOr<BufferReport> report = ParseReport(*reply);
  ASSERT_THAT(report, IsOk());
  ASSERT_EQ(report->buffers_size(), 1);
  ExpectReceived(report->buffers(0), 4096, ExpectedArrival(), false,
                 "sealed later");
}

TEST_P(BufferTest, UnsealedReplyBufferReachesTheCallerAsAnError) {
  EXPECT_THAT(caller_->Call("test.buffers", "Unsealed", "", kTimeout),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(service_->connected());
  EXPECT_THAT(caller_->Ping(kTimeout), IsOk());
}

INSTANTIATE_TEST_SUITE_P(AllTransports, BufferTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

// ---------------------------------------------------------------------------
// A small payload limit: descriptors are not payload, inline buffers are.

class BufferLimitTest : public ::testing::TestWithParam<Transport> {
 protected:
  static constexpr size_t kMaxPayloadBytes = 1 << 20;
  static constexpr size_t kOverLimit = 2 * kMaxPayloadBytes;

  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    service_ = ConnectOrDie(broker_, "service");
    ASSERT_THAT(service_->Serve(BufferService("test.buffers")), IsOk());
    caller_ = ConnectOrDie(broker_, "caller");
  }

  BrokerProcess broker_{
      GetParam(), {absl::StrCat("--max-payload-bytes=", kMaxPayloadBytes)}};
  std::unique_ptr<Client> service_;
  std::unique_ptr<Client> caller_;
};

TEST_P(BufferLimitTest, RequestBufferOverThePayloadLimitGoesOnlyAsAnFd) {
  absl::StatusOr<SharedBuffer> big = MakeBuffer(kOverLimit, 3);
  ASSERT_THAT(big, IsOk());
  absl::StatusOr<Payload> reply =
      caller_->Call("test.buffers", "Exchange",
                    Payload(Request(3).SerializeAsString(), {*big}), kTimeout);
  if (GetParam() == Transport::kTcp) {
    EXPECT_THAT(reply, StatusIs(absl::StatusCode::kResourceExhausted));
  } else {
    ASSERT_THAT(reply, IsOk());
    absl::StatusOr<BufferReport> report = ParseReport(*reply);
    ASSERT_THAT(report, IsOk());
    ASSERT_EQ(report->buffers_size(), 1);
    ExpectReceived(report->buffers(0), kOverLimit, Arrival::kAsFd, true,
                   "big request buffer");
  }
  // Either way the client keeps working.
  EXPECT_TRUE(caller_->connected());
  EXPECT_THAT(caller_->Call("test.buffers", "Exchange",
                            Request(3).SerializeAsString(), kTimeout),
              IsOk());
}

TEST_P(BufferLimitTest, ReplyBufferOverThePayloadLimitGoesOnlyAsAnFd) {
  absl::StatusOr<Payload> reply =
      caller_->Call("test.buffers", "Exchange",
                    Request(0, {kOverLimit}, 9).SerializeAsString(), kTimeout);
  if (GetParam() == Transport::kTcp) {
    EXPECT_THAT(reply, StatusIs(absl::StatusCode::kResourceExhausted));
  } else {
    ASSERT_THAT(reply, IsOk());
    ASSERT_EQ(reply->buffers().size(), 1u);
    ExpectReceived(Inspect(reply->buffers()[0], 9), kOverLimit, Arrival::kAsFd,
                   true, "big reply buffer");
  }
  EXPECT_TRUE(service_->connected());
  EXPECT_THAT(caller_->Ping(kTimeout), IsOk());
}

INSTANTIATE_TEST_SUITE_P(AllTransports, BufferLimitTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

// ---------------------------------------------------------------------------
// Fallback between a Unix client and a TCP client of the same broker.

class BufferFallbackTest : public ::testing::Test {
 protected:
  static constexpr size_t kMaxPayloadBytes = 1 << 20;

  void SetUp() override { ASSERT_TRUE(broker_.started()); }

  std::unique_ptr<Client> ConnectTo(const std::string& address,
                                    const std::string& name) {
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Connect(address, broker_.connect_options(name));
    if (!client.ok()) {
      ADD_FAILURE() << "connect " << address << ": " << client.status();
      return nullptr;
    }
    return *std::move(client);
  }

  BrokerProcess broker_{
      Transport::kTcp,
      {absl::StrCat("--max-payload-bytes=", kMaxPayloadBytes)}};
};

TEST_F(BufferFallbackTest, TcpCalleeGetsAUnixCallersBuffersInline) {
  std::unique_ptr<Client> callee = ConnectTo(broker_.tcp_address(), "callee");
  ASSERT_NE(callee, nullptr);
  ASSERT_THAT(callee->Serve(BufferService("test.buffers")), IsOk());
  std::unique_ptr<Client> caller = ConnectTo(broker_.unix_address(), "caller");
  ASSERT_NE(caller, nullptr);

  const std::vector<size_t> sizes = {0, 1, 4095, 4096, 300000};
  absl::StatusOr<std::vector<SharedBuffer>> buffers = MakeBuffers(sizes, 51);
  ASSERT_THAT(buffers, IsOk());
  const BufferRequest request = Request(51, sizes, 53);
  absl::StatusOr<WithBuffers<BufferReport>> reply =
      caller->CallWithBuffers<BufferReport>("test.buffers", "TypedExchange",
                                            request, *buffers, kTimeout);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->message.message(), request.SerializeAsString());
  ASSERT_EQ(reply->message.buffers_size(), static_cast<int>(sizes.size()));
  ASSERT_EQ(reply->buffers.size(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    ExpectReceived(reply->message.buffers(static_cast<int>(i)), sizes[i],
                   Arrival::kInline, true, absl::StrCat("request buffer ", i));
    // The callee on TCP cannot pass descriptors: its reply comes inline.
    ExpectReceived(Inspect(reply->buffers[i], 53), sizes[i], Arrival::kInline,
                   true, absl::StrCat("reply buffer ", i));
  }
}

TEST_F(BufferFallbackTest, UnixCalleeAnswersATcpCallerInline) {
  std::unique_ptr<Client> callee = ConnectTo(broker_.unix_address(), "callee");
  ASSERT_NE(callee, nullptr);
  ASSERT_THAT(callee->Serve(BufferService("test.buffers")), IsOk());
  std::unique_ptr<Client> caller = ConnectTo(broker_.tcp_address(), "caller");
  ASSERT_NE(caller, nullptr);

  const std::vector<size_t> sizes = {1, 4096, 300000};
  absl::StatusOr<std::vector<SharedBuffer>> buffers = MakeBuffers(sizes, 61);
  ASSERT_THAT(buffers, IsOk());
  absl::StatusOr<WithBuffers<BufferReport>> reply =
      caller->CallWithBuffers<BufferReport>("test.buffers", "TypedExchange",
                                            Request(61, sizes, 63), *buffers,
                                            kTimeout);
  ASSERT_THAT(reply, IsOk());
  ASSERT_EQ(reply->message.buffers_size(), static_cast<int>(sizes.size()));
  ASSERT_EQ(reply->buffers.size(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    ExpectReceived(reply->message.buffers(static_cast<int>(i)), sizes[i],
                   Arrival::kInline, true, absl::StrCat("request buffer ", i));
    ExpectReceived(Inspect(reply->buffers[i], 63), sizes[i], Arrival::kInline,
                   true, absl::StrCat("reply buffer ", i));
  }
}

TEST_F(BufferFallbackTest, InlineFallbackBeyondThePayloadLimitFails) {
  std::unique_ptr<Client> tcp_callee =
      ConnectTo(broker_.tcp_address(), "tcp-callee");
  ASSERT_NE(tcp_callee, nullptr);
  ASSERT_THAT(tcp_callee->Serve(BufferService("test.tcp")), IsOk());
  std::unique_ptr<Client> unix_callee =
      ConnectTo(broker_.unix_address(), "unix-callee");
  ASSERT_NE(unix_callee, nullptr);
  ASSERT_THAT(unix_callee->Serve(BufferService("test.unix")), IsOk());
  std::unique_ptr<Client> caller = ConnectTo(broker_.unix_address(), "caller");
  ASSERT_NE(caller, nullptr);

  absl::StatusOr<SharedBuffer> big = MakeBuffer(2 * kMaxPayloadBytes, 71);
  ASSERT_THAT(big, IsOk());
  // To a callee that takes descriptors the buffer goes as one ...
  EXPECT_THAT(caller->CallWithBuffers<BufferReport>(
                  "test.unix", "TypedExchange", Request(71), {*big}, kTimeout),
              IsOk());
  // ... to one that does not, it would have to go inline, and cannot.
  EXPECT_THAT(caller->CallWithBuffers<BufferReport>(
                  "test.tcp", "TypedExchange", Request(71), {*big}, kTimeout),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_TRUE(caller->connected());
  EXPECT_THAT(caller->CallWithBuffers<BufferReport>("test.tcp", "TypedExchange",
                                                    Request(71), {}, kTimeout),
              IsOk());
}

// ---------------------------------------------------------------------------
// What the broker checks, seen through raw connections on a Unix socket.

class BufferWireTest : public ::testing::Test {
 protected:
  static constexpr int kMaxFdsPerFrame = 4;

  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    service_ = ConnectOrDie(broker_, "service");
    ASSERT_THAT(service_->Serve(BufferService("test.buffers", calls_)), IsOk());
    caller_ = ConnectOrDie(broker_, "caller");
  }

  void TearDown() override {
    if (caller_ == nullptr) return;  // SetUp failed
    // Whatever a raw connection did, the broker still carries buffers for
    // the clients that behave.
    absl::StatusOr<SharedBuffer> buffer = MakeBuffer(4096, 99);
    ASSERT_THAT(buffer, IsOk());
    absl::StatusOr<WithBuffers<BufferReport>> reply =
        caller_->CallWithBuffers<BufferReport>(
            "test.buffers", "TypedExchange", Request(99), {*buffer}, kTimeout);
    ASSERT_THAT(reply, IsOk());
    ASSERT_EQ(reply->message.buffers_size(), 1);
    ExpectReceived(reply->message.buffers(0), 4096, Arrival::kAsFd, true,
                   "after the test");
    EXPECT_TRUE(service_->connected());
  }

  absl::StatusOr<RawConnection> ConnectRaw(
      const std::vector<std::string>& features = {}) {
    absl::StatusOr<RawConnection> connection =
        RawConnection::Connect(broker_.address());
    if (!connection.ok()) return connection.status();
    absl::StatusOr<v1::Welcome> welcome =
        connection->Handshake("", kTimeout, features);
    if (!welcome.ok()) return welcome.status();
    return connection;
  }

  // A CALL of test.buffers/Exchange claiming `fd_count` descriptors.
  static std::string ExchangeCall(uint64_t request_id, uint8_t fd_count,
                                  uint32_t seed = 0) {
    return EncodeFrameWithFdCount(wire::Kind::kCall, request_id,
                                  CallHeader("test.buffers", "Exchange"),
                                  Request(seed).SerializeAsString(), fd_count);
  }

  std::shared_ptr<std::atomic<int>> calls_ =
      std::make_shared<std::atomic<int>>(0);
  BrokerProcess broker_{
      Transport::kUnix,
      {absl::StrCat("--max-fds-per-frame=", kMaxFdsPerFrame)}};
  std::unique_ptr<Client> service_;
  std::unique_ptr<Client> caller_;
};

TEST_F(BufferWireTest, SealedMemfdFromARawCallerReachesTheCallee) {
  absl::StatusOr<RawConnection> raw = ConnectRaw();
  ASSERT_THAT(raw, IsOk());
  absl::StatusOr<SharedBuffer> buffer = MakeBuffer(4096, 7);
  ASSERT_THAT(buffer, IsOk());
  ASSERT_THAT(raw->SendWithFds(ExchangeCall(1, 1, 7), {buffer->fd()}), IsOk());
  absl::StatusOr<wire::Frame> frame = raw->ReadFrame(kTimeout);
  ASSERT_THAT(frame, IsOk());
  ASSERT_EQ(frame->kind(), wire::Kind::kReply);
  absl::StatusOr<v1::Header> header = frame->ParseHeader();
  ASSERT_THAT(header, IsOk());
  ASSERT_EQ(header->reply().code(), 0) << header->reply().message();
  BufferReport report;
  ASSERT_TRUE(report.ParseFromArray(frame->payload().data(),
                                    static_cast<int>(frame->payload().size())));
  ASSERT_EQ(report.buffers_size(), 1);
  ExpectReceived(report.buffers(0), 4096, Arrival::kAsFd, true, "raw buffer");
  EXPECT_EQ(calls_->load(), 1);
}

TEST_F(BufferWireTest, UnsealedMemfdIsAnsweredInvalidArgumentNamingTheSeals) {
  absl::StatusOr<RawConnection> raw = ConnectRaw();
  ASSERT_THAT(raw, IsOk());
  Fd unsealed = MakeMemfd(4096, 0);
  ASSERT_TRUE(unsealed.valid());
  ASSERT_THAT(raw->SendWithFds(ExchangeCall(1, 1), {unsealed.get()}), IsOk());
  absl::StatusOr<v1::Reply> reply = ReadReply(*raw, 1);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(reply->message(), HasSubstr("buffer 0"));
  EXPECT_THAT(reply->message(), HasSubstr("F_SEAL_SHRINK"));
  EXPECT_THAT(reply->message(), HasSubstr("F_SEAL_GROW"));
  EXPECT_THAT(reply->message(), HasSubstr("F_SEAL_SEAL"));

  // Partly sealed: the message names just what is missing.
  Fd shrink_only = MakeMemfd(4096, F_SEAL_SHRINK);
  ASSERT_TRUE(shrink_only.valid());
  ASSERT_THAT(raw->SendWithFds(ExchangeCall(2, 1), {shrink_only.get()}),
              IsOk());
  reply = ReadReply(*raw, 2);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(reply->message(), HasSubstr("F_SEAL_GROW"));
  EXPECT_THAT(reply->message(), Not(HasSubstr("F_SEAL_SHRINK")));

  // The connection stays open, and the refused calls never reached the
  // callee.
  ASSERT_THAT(raw->SendFrame(wire::Kind::kPing, 3, v1::Header()), IsOk());
  reply = ReadReply(*raw, 3);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->code(), 0);
  EXPECT_EQ(calls_->load(), 0);
}

TEST_F(BufferWireTest, PipeIsRefusedAsABuffer) {
  absl::StatusOr<RawConnection> raw = ConnectRaw();
  ASSERT_THAT(raw, IsOk());
  int ends[2];
  ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
  Fd read_end(ends[0]);
  Fd write_end(ends[1]);
  ASSERT_THAT(raw->SendWithFds(ExchangeCall(1, 1), {read_end.get()}), IsOk());
  absl::StatusOr<v1::Reply> reply = ReadReply(*raw, 1);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(reply->message(), HasSubstr("memfd"));
  // A memfd among the descriptors does not make a pipe acceptable.
  Fd sealed = MakeMemfd(4096, kSizeSeals);
  ASSERT_TRUE(sealed.valid());
  ASSERT_THAT(
      raw->SendWithFds(ExchangeCall(2, 2), {sealed.get(), write_end.get()}),
      IsOk());
  reply = ReadReply(*raw, 2);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(reply->message(), HasSubstr("buffer 1"));

  ASSERT_THAT(raw->SendFrame(wire::Kind::kPing, 3, v1::Header()), IsOk());
  reply = ReadReply(*raw, 3);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->code(), 0);
  EXPECT_EQ(calls_->load(), 0);
}

TEST_F(BufferWireTest, MoreFdsThanThePerFrameLimitGetResourceExhausted) {
  absl::StatusOr<RawConnection> raw = ConnectRaw();
  ASSERT_THAT(raw, IsOk());
  std::vector<Fd> memfds;
  std::vector<int> fds;
  for (int i = 0; i < kMaxFdsPerFrame + 1; ++i) {
    memfds.push_back(MakeMemfd(4096, kSizeSeals));
    ASSERT_TRUE(memfds.back().valid());
    fds.push_back(memfds.back().get());
  }
  ASSERT_THAT(raw->SendWithFds(ExchangeCall(1, kMaxFdsPerFrame + 1), fds),
              IsOk());
  absl::StatusOr<v1::Error> error = raw->ReadErrorAndClose(kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(error->limit_name(), "max_fds_per_frame");
  EXPECT_EQ(error->limit_value(), static_cast<uint64_t>(kMaxFdsPerFrame));
  EXPECT_EQ(calls_->load(), 0);
}

TEST_F(BufferWireTest, ExactlyThePerFrameLimitIsAccepted) {
  absl::StatusOr<RawConnection> raw = ConnectRaw();
  ASSERT_THAT(raw, IsOk());
  std::vector<SharedBuffer> buffers;
  std::vector<int> fds;
  for (int i = 0; i < kMaxFdsPerFrame; ++i) {
    absl::StatusOr<SharedBuffer> buffer = MakeBuffer(4096, 13);
    ASSERT_THAT(buffer, IsOk());
    fds.push_back(buffer->fd());
    buffers.push_back(*std::move(buffer));
  }
  ASSERT_THAT(raw->SendWithFds(ExchangeCall(1, kMaxFdsPerFrame, 13), fds),
              IsOk());
  absl::StatusOr<v1::Reply> reply = ReadReply(*raw, 1);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->code(), 0) << reply->message();
  EXPECT_EQ(calls_->load(), 1);
}

TEST_F(BufferWireTest, FdCountLargerThanTheFdsSentGetsInvalidArgument) {
  absl::StatusOr<RawConnection> raw = ConnectRaw();
  ASSERT_THAT(raw, IsOk());
  Fd sealed = MakeMemfd(4096, kSizeSeals);
  ASSERT_TRUE(sealed.valid());
  ASSERT_THAT(raw->SendWithFds(ExchangeCall(1, 2), {sealed.get()}), IsOk());
  absl::StatusOr<v1::Error> error = raw->ReadErrorAndClose(kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(calls_->load(), 0);
}

TEST_F(BufferWireTest, FdCountWithoutAnyFdsGetsInvalidArgument) {
  absl::StatusOr<RawConnection> raw = ConnectRaw();
  ASSERT_THAT(raw, IsOk());
  ASSERT_THAT(raw->Send(ExchangeCall(1, 1)), IsOk());
  absl::StatusOr<v1::Error> error = raw->ReadErrorAndClose(kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(calls_->load(), 0);
}

TEST_F(BufferWireTest, FdsOnAPingGetInvalidArgument) {
  absl::StatusOr<RawConnection> raw = ConnectRaw();
  ASSERT_THAT(raw, IsOk());
  Fd sealed = MakeMemfd(4096, kSizeSeals);
  ASSERT_TRUE(sealed.valid());
  ASSERT_THAT(raw->SendWithFds(EncodeFrameWithFdCount(wire::Kind::kPing, 1,
                                                      v1::Header(), "", 1),
                               {sealed.get()}),
              IsOk());
  absl::StatusOr<v1::Error> error = raw->ReadErrorAndClose(kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
}

TEST_F(BufferWireTest, FdsOnAFrameThatClaimsNoneGetInvalidArgument) {
  absl::StatusOr<RawConnection> raw = ConnectRaw();
  ASSERT_THAT(raw, IsOk());
  Fd sealed = MakeMemfd(4096, kSizeSeals);
  ASSERT_TRUE(sealed.valid());
  ASSERT_THAT(raw->SendWithFds(ExchangeCall(1, 0), {sealed.get()}), IsOk());
  absl::StatusOr<std::vector<wire::Frame>> frames =
      raw->ReadUntilClosed(kTimeout);
  ASSERT_THAT(frames, IsOk());
  ASSERT_FALSE(frames->empty());
  EXPECT_EQ(frames->back().kind(), wire::Kind::kError);
  absl::StatusOr<v1::Header> header = frames->back().ParseHeader();
  ASSERT_THAT(header, IsOk());
  EXPECT_EQ(header->error().code(), Code(absl::StatusCode::kInvalidArgument));
}

TEST_F(BufferWireTest, RawCalleeWithoutTheFdsFeatureGetsBuffersInline) {
  absl::StatusOr<RawConnection> callee = ConnectRaw();  // no "fds"
  ASSERT_THAT(callee, IsOk());
  v1::Header claim;
  claim.mutable_register_name()->set_name("test.raw");
  ASSERT_THAT(callee->SendFrame(wire::Kind::kRegisterName, 1, claim), IsOk());
  absl::StatusOr<v1::Reply> claimed = ReadReply(*callee, 1);
  ASSERT_THAT(claimed, IsOk());
  ASSERT_EQ(claimed->code(), 0) << claimed->message();

  const std::vector<size_t> sizes = {1, 4095, 4096};
  absl::StatusOr<std::vector<SharedBuffer>> buffers = MakeBuffers(sizes, 81);
  ASSERT_THAT(buffers, IsOk());
  AsyncResults results;
  caller_->CallAsync("test.raw", "Take", Payload("message", *buffers), kTimeout,
                     results.Callback());

  absl::StatusOr<wire::Frame> call = callee->ReadFrame(kTimeout);
  ASSERT_THAT(call, IsOk());
  ASSERT_EQ(call->kind(), wire::Kind::kCall);
  EXPECT_EQ(call->prefix().fd_count, 0);
  // The caller is a library client on a Unix socket: it takes descriptors.
  EXPECT_NE(call->prefix().flags & wire::kFlagSenderAcceptsFds, 0);
  absl::StatusOr<v1::Header> header = call->ParseHeader();
  ASSERT_THAT(header, IsOk());
  EXPECT_THAT(header->inline_buffer_sizes(), ElementsAre(1, 4095, 4096));
  absl::string_view payload = call->payload();
  ASSERT_EQ(payload.size(), 7u + 1 + 4095 + 4096);
  EXPECT_EQ(payload.substr(0, 7), "message");
  size_t offset = 7;
  for (size_t size : sizes) {
    EXPECT_EQ(FirstMismatch(payload.substr(offset, size), 81), -1)
        << "inline buffer of " << size << " bytes";
    offset += size;
  }

  v1::Header reply;
  reply.mutable_reply()->set_code(0);
  ASSERT_THAT(
      callee->SendFrame(wire::Kind::kReply, call->request_id(), reply, "taken"),
      IsOk());
  ASSERT_TRUE(results.WaitForCount(1, kTimeout));
  EXPECT_THAT(results.Results(), ElementsAre(IsOk()));
}

TEST_F(BufferWireTest, RawCallerWithoutTheFdsFeatureGetsReplyBuffersInline) {
  absl::StatusOr<RawConnection> raw = ConnectRaw();  // no "fds"
  ASSERT_THAT(raw, IsOk());
  const std::string message = Request(0, {1, 4096}, 91).SerializeAsString();
  ASSERT_THAT(raw->SendFrame(wire::Kind::kCall, 1,
                             CallHeader("test.buffers", "Exchange"), message),
              IsOk());
  absl::StatusOr<wire::Frame> frame = raw->ReadFrame(kTimeout);
  ASSERT_THAT(frame, IsOk());
  ASSERT_EQ(frame->kind(), wire::Kind::kReply);
  EXPECT_EQ(frame->prefix().fd_count, 0);
  absl::StatusOr<v1::Header> header = frame->ParseHeader();
  ASSERT_THAT(header, IsOk());
  ASSERT_EQ(header->reply().code(), 0) << header->reply().message();
  ASSERT_THAT(header->inline_buffer_sizes(), ElementsAre(1, 4096));
  absl::string_view payload = frame->payload();
  ASSERT_GE(payload.size(), 4097u);
  absl::string_view report_bytes = payload.substr(0, payload.size() - 4097);
  BufferReport report;
  EXPECT_TRUE(report.ParseFromArray(report_bytes.data(),
                                    static_cast<int>(report_bytes.size())));
  EXPECT_EQ(FirstMismatch(payload.substr(report_bytes.size(), 1), 91), -1);
  EXPECT_EQ(FirstMismatch(payload.substr(report_bytes.size() + 1), 91), -1);
}

TEST_F(BufferWireTest, ReplyWithFdsToACallerWithoutTheFeatureIsReplaced) {
  // A raw callee that ignores the flag and answers with a descriptor.
  absl::StatusOr<RawConnection> callee = ConnectRaw({"fds"});
  ASSERT_THAT(callee, IsOk());
  v1::Header claim;
  claim.mutable_register_name()->set_name("test.raw");
  ASSERT_THAT(callee->SendFrame(wire::Kind::kRegisterName, 1, claim), IsOk());
  absl::StatusOr<v1::Reply> claimed = ReadReply(*callee, 1);
  ASSERT_THAT(claimed, IsOk());
  ASSERT_EQ(claimed->code(), 0) << claimed->message();
  absl::StatusOr<RawConnection> caller = ConnectRaw();  // no "fds"
  ASSERT_THAT(caller, IsOk());
  ASSERT_THAT(caller->SendFrame(wire::Kind::kCall, 7,
                                CallHeader("test.raw", "Take"), "x"),
              IsOk());

  absl::StatusOr<wire::Frame> call = callee->ReadFrame(kTimeout);
  ASSERT_THAT(call, IsOk());
  ASSERT_EQ(call->kind(), wire::Kind::kCall);
  EXPECT_EQ(call->prefix().flags & wire::kFlagSenderAcceptsFds, 0);
  Fd sealed = MakeMemfd(4096, kSizeSeals);
  ASSERT_TRUE(sealed.valid());
  ASSERT_THAT(callee->SendWithFds(
                  EncodeFrameWithFdCount(wire::Kind::kReply, call->request_id(),
                                         v1::Header(), "answer", 1),
                  {sealed.get()}),
              IsOk());
  absl::StatusOr<v1::Reply> reply = ReadReply(*caller, 7);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->code(), Code(absl::StatusCode::kFailedPrecondition));
  // Both raw connections stay open.
  ASSERT_THAT(caller->SendFrame(wire::Kind::kPing, 8, v1::Header()), IsOk());
  EXPECT_THAT(ReadReply(*caller, 8), IsOk());
  ASSERT_THAT(callee->SendFrame(wire::Kind::kPing, 9, v1::Header()), IsOk());
  EXPECT_THAT(ReadReply(*callee, 9), IsOk());
}

// ---------------------------------------------------------------------------
// --require-write-seal: only immutable buffers may travel as descriptors.

class RequireWriteSealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    service_ = ConnectOrDie(broker_, "service");
    ASSERT_THAT(service_->Serve(BufferService("test.buffers", calls_)), IsOk());
    caller_ = ConnectOrDie(broker_, "caller");
  }

  std::shared_ptr<std::atomic<int>> calls_ =
      std::make_shared<std::atomic<int>>(0);
  BrokerProcess broker_{Transport::kUnix, {"--require-write-seal"}};
  std::unique_ptr<Client> service_;
  std::unique_ptr<Client> caller_;
};

TEST_F(RequireWriteSealTest, SizeOnlyRequestBufferIsRefusedNamingTheSeal) {
  absl::StatusOr<SharedBuffer> pooled =
      MakeBuffer(4096, 1, SharedBuffer::Sealing::kSizeOnly);
  ASSERT_THAT(pooled, IsOk());
  EXPECT_THAT(
      caller_->CallWithBuffers<BufferReport>("test.buffers", "TypedExchange",
                                             Request(1), {*pooled}, kTimeout),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("F_SEAL_WRITE")));
  EXPECT_EQ(calls_->load(), 0);
  EXPECT_TRUE(caller_->connected());
}

TEST_F(RequireWriteSealTest, ImmutableRequestBufferPasses) {
  absl::StatusOr<SharedBuffer> frozen = MakeBuffer(4096, 2);
  ASSERT_THAT(frozen, IsOk());
  absl::StatusOr<WithBuffers<BufferReport>> reply =
      caller_->CallWithBuffers<BufferReport>("test.buffers", "TypedExchange",
                                             Request(2), {*frozen}, kTimeout);
  ASSERT_THAT(reply, IsOk());
  ASSERT_EQ(reply->message.buffers_size(), 1);
  ExpectReceived(reply->message.buffers(0), 4096, Arrival::kAsFd, true,
                 "immutable");
}

TEST_F(RequireWriteSealTest, SizeOnlyReplyBufferReachesTheCallerAsAnError) {
  EXPECT_THAT(
      caller_->CallWithBuffers<BufferReport>(
          "test.buffers", "TypedExchange",
          Request(0, {4096}, 3, /*reply_immutable=*/false), {}, kTimeout),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("F_SEAL_WRITE")));
  // An immutable reply passes.
  absl::StatusOr<WithBuffers<BufferReport>> reply =
      caller_->CallWithBuffers<BufferReport>(
          "test.buffers", "TypedExchange", Request(0, {4096}, 3), {}, kTimeout);
  ASSERT_THAT(reply, IsOk());
  ASSERT_EQ(reply->buffers.size(), 1u);
  ExpectReceived(Inspect(reply->buffers[0], 3), 4096, Arrival::kAsFd, true,
                 "immutable reply");
}

// ---------------------------------------------------------------------------
// --max-fds-in-flight: descriptors the broker holds for one receiver.

class FdsInFlightTest : public ::testing::Test {
 protected:
  static constexpr int kMaxFdsInFlight = 4;

  void SetUp() override { ASSERT_TRUE(broker_.started()); }

  BrokerProcess broker_{
      Transport::kUnix,
      {absl::StrCat("--max-fds-in-flight=", kMaxFdsInFlight)}};
};

TEST_F(FdsInFlightTest, BuffersBeyondTheQuotaOfAStalledCalleeAreRefused) {
  const int broker_baseline = CountFds(broker_.pid());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  {
    // A callee that takes descriptors and reads nothing.
    absl::StatusOr<RawConnection> callee =
        RawConnection::Connect(broker_.address());
    ASSERT_THAT(callee, IsOk());
    ASSERT_THAT(callee->Handshake("", kTimeout, {"fds"}), IsOk());
    v1::Header claim;
    claim.mutable_register_name()->set_name("test.stalled");
    ASSERT_THAT(callee->SendFrame(wire::Kind::kRegisterName, 1, claim), IsOk());
    absl::StatusOr<v1::Reply> claimed = ReadReply(*callee, 1);
    ASSERT_THAT(claimed, IsOk());
    ASSERT_EQ(claimed->code(), 0) << claimed->message();

    // 8 MiB of calls fill the callee's socket, so what follows stays in
    // the broker's queue for it. The broker handles the caller's frames in
    // order.
    AsyncResults results;
    for (int i = 0; i < 2; ++i) {
      caller->CallAsync("test.stalled", "Big",
                        Payload(std::string(4 << 20, 'b')), kTimeout,
                        results.Callback());
    }
    absl::StatusOr<std::vector<SharedBuffer>> three =
        MakeBuffers({4096, 4096, 4096}, 1);
    ASSERT_THAT(three, IsOk());
    // The first buffers fit: the broker holds none for the callee yet.
    caller->CallAsync("test.stalled", "Take", Payload("1", *three), kTimeout,
                      results.Callback());
    // Three more would make six held descriptors, over the quota of four.
    EXPECT_THAT(
        caller->Call("test.stalled", "Take", Payload("2", *three), kTimeout),
        StatusIs(absl::StatusCode::kResourceExhausted));
    // The callee answered nothing: the other calls are still pending.
    EXPECT_EQ(results.Results().size(), 0u);
    callee->Close();
    ASSERT_TRUE(results.WaitForCount(3, kPromptly));
    for (const absl::Status& status : results.Results()) {
      EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
    }
  }
  EXPECT_TRUE(WaitFor(
      [&] { return CountFds(broker_.pid()) == broker_baseline + 1; }, kSettle))
      << "broker has " << CountFds(broker_.pid()) << " descriptors open, "
      << broker_baseline
      << " + the caller's before: " << DescribeFds(broker_.pid());
}

// ---------------------------------------------------------------------------
// Descriptor leaks: the broker's and this process's open descriptors return
// to their baseline after many buffers and every way a buffer can be lost.

class BufferLeakTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    service_ = ConnectOrDie(broker_, "service");
    ASSERT_THAT(service_->Serve(BufferService("test.buffers")), IsOk());
    caller_ = ConnectOrDie(broker_, "caller");
    // The caller's CallAsync()s start its dispatch thread and the
    // descriptors that go with it (client.h, "What a client costs"): they
    // are started here, before the baseline, as a callback needs them.
    caller_->OnConnectionChange([](const ConnectionEvent&) {});
  }

  // Records the counts before any buffer has travelled: a count taken
  // right after a call could still include descriptors the broker or the
  // callee is about to close.
  void RecordBaseline() {
    broker_baseline_ = CountFds(broker_.pid());
    self_baseline_ = CountFds();
    broker_fds_before_ = DescribeFds(broker_.pid());
    self_fds_before_ = DescribeFds();
    ASSERT_GT(broker_baseline_, 0);
    ASSERT_GT(self_baseline_, 0);
  }

  // Waits for both counts to come back to the baseline.
  void ExpectBaseline() {
    EXPECT_TRUE(WaitFor(
        [&] { return CountFds(broker_.pid()) == broker_baseline_; }, kSettle))
        << "broker has " << CountFds(broker_.pid()) << " descriptors open, "
        << broker_baseline_ << " before.\nBefore: " << broker_fds_before_
        << "\nAfter:  " << DescribeFds(broker_.pid());
    EXPECT_TRUE(WaitFor([&] { return CountFds() == self_baseline_; }, kSettle))
        << "this process has " << CountFds() << " descriptors open, "
        << self_baseline_ << " before.\nBefore: " << self_fds_before_
        << "\nAfter:  " << DescribeFds();
  }

  std::vector<std::string> CalleeArgv() const {
    std::vector<std::string> argv = {
        testing::TestCalleePath(),
        absl::StrCat("--address=", broker_.address()), "--service=test.callee"};
    if (GetParam() == Transport::kTcp) {
      argv.push_back(absl::StrCat("--token-file=", broker_.token_file()));
    }
    return argv;
  }

  BrokerProcess broker_{GetParam()};
  std::unique_ptr<Client> service_;
  std::unique_ptr<Client> caller_;
  int broker_baseline_ = -1;
  int self_baseline_ = -1;
  std::string broker_fds_before_;
  std::string self_fds_before_;
};

TEST_P(BufferLeakTest, ThousandsOfBufferCallsLeaveNoDescriptorsBehind) {
  RecordBaseline();
  constexpr int kCalls = 2000;
  for (int i = 0; i < kCalls; ++i) {
    const uint32_t seed = static_cast<uint32_t>(i);
    absl::StatusOr<SharedBuffer> buffer = MakeBuffer(4096, seed);
    ASSERT_THAT(buffer, IsOk());
    absl::StatusOr<WithBuffers<BufferReport>> reply =
        caller_->CallWithBuffers<BufferReport>(
            "test.buffers", "TypedExchange",
            Request(seed, {4096}, seed + 1, i % 2 == 0), {*buffer}, kTimeout);
    ASSERT_THAT(reply, IsOk()) << "call " << i;
    ASSERT_EQ(reply->message.buffers_size(), 1) << "call " << i;
    ASSERT_EQ(reply->message.buffers(0).first_mismatch(), -1) << "call " << i;
    ASSERT_EQ(reply->buffers.size(), 1u) << "call " << i;
    ASSERT_EQ(FirstMismatch(reply->buffers[0].data(), seed + 1), -1)
        << "call " << i;
  }
  // Local refusals of unsealed buffers cost nothing either.
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<SharedBuffer> unsealed = MakeBuffer(4096, 1, std::nullopt);
    ASSERT_THAT(unsealed, IsOk());
    ASSERT_THAT(
        caller_->CallWithBuffers<BufferReport>(
            "test.buffers", "TypedExchange", Request(1), {*unsealed}, kTimeout),
        StatusIs(absl::StatusCode::kFailedPrecondition));
  }
  ExpectBaseline();
}

TEST_P(BufferLeakTest, CalleeKilledWithBuffersPendingLeavesNoDescriptors) {
  RecordBaseline();
  {
    absl::StatusOr<ChildProcess> callee = ChildProcess::Start(CalleeArgv(), "");
    ASSERT_THAT(callee, IsOk());
    ASSERT_THAT(callee->ReadLine(kTimeout), IsOkAndHolds("ready"));
    constexpr int kCalls = 50;
    AsyncResults results;
    for (int i = 0; i < kCalls; ++i) {
      absl::StatusOr<std::vector<SharedBuffer>> buffers =
          MakeBuffers({4096, 1, 65536}, static_cast<uint32_t>(i));
      ASSERT_THAT(buffers, IsOk());
      caller_->CallAsync("test.callee", "Hang",
                         Payload("x", *std::move(buffers)), kTimeout,
                         results.Callback());
    }
    // The first call blocks the callee's handler; the rest wait with their
    // buffers in the broker's queue, the socket and the callee's library.
    ASSERT_THAT(
        callee->ReadLine(kTimeout),
        IsOkAndHolds(absl::StrCat("called Hang ", caller_->connection_id())));
    // The broker reads one connection's frames in order, so once it answers
    // a call sent after the 50, it has routed all of them to the callee. On
    // TCP the caller may otherwise still be writing the last ones (about
    // 70 KiB each, inline) when the callee dies, and those would find the
    // name unowned instead.
    ASSERT_THAT(GetBrokerStatus(*caller_), IsOk());
    EXPECT_THAT(callee->Stop(SIGKILL, kTimeout),
                StatusIs(absl::StatusCode::kAborted));
    ASSERT_TRUE(results.WaitForCount(kCalls, kPromptly));
    for (const absl::Status& status : results.Results()) {
      EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
    }
  }
  ExpectBaseline();
}

TEST_P(BufferLeakTest, DeadlinesExpiringWithBuffersInFlightLeaveNoDescriptors) {
  RecordBaseline();
  {
    // A callee that claims the name, takes descriptors, and never reads:
    // the calls' buffers stay queued until their deadlines pass.
    absl::StatusOr<std::string> token = broker_.ReadToken();
    ASSERT_THAT(token, IsOk());
    absl::StatusOr<RawConnection> callee =
        RawConnection::Connect(broker_.address());
    ASSERT_THAT(callee, IsOk());
    ASSERT_THAT(callee->Handshake(*token, kTimeout, {"fds"}), IsOk());
    v1::Header claim;
    claim.mutable_register_name()->set_name("test.silent");
    ASSERT_THAT(callee->SendFrame(wire::Kind::kRegisterName, 1, claim), IsOk());
    absl::StatusOr<v1::Reply> claimed = ReadReply(*callee, 1);
    ASSERT_THAT(claimed, IsOk());
    ASSERT_EQ(claimed->code(), 0) << claimed->message();

    constexpr int kCalls = 200;
    AsyncResults results;
    for (int i = 0; i < kCalls; ++i) {
      absl::StatusOr<std::vector<SharedBuffer>> buffers =
          MakeBuffers({4096, 100}, static_cast<uint32_t>(i));
      ASSERT_THAT(buffers, IsOk());
      caller_->CallAsync("test.silent", "Wait",
                         Payload("x", *std::move(buffers)),
                         absl::Milliseconds(100), results.Callback());
    }
    ASSERT_TRUE(results.WaitForCount(kCalls, kTimeout));
    for (const absl::Status& status : results.Results()) {
      EXPECT_THAT(status, StatusIs(absl::StatusCode::kDeadlineExceeded));
    }
    callee->Close();
  }
  ExpectBaseline();
}

INSTANTIATE_TEST_SUITE_P(AllTransports, BufferLeakTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

// Leak checks that need raw descriptors on a Unix socket.
class BufferRawLeakTest : public BufferWireTest {};

TEST_F(BufferRawLeakTest, BrokerRefusalsLeaveNoDescriptors) {
  absl::StatusOr<RawConnection> raw = ConnectRaw();
  ASSERT_THAT(raw, IsOk());
  const int broker_baseline = CountFds(broker_.pid());
  const int self_baseline = CountFds();
  constexpr int kCalls = 1000;
  for (int i = 0; i < kCalls; ++i) {
    const uint64_t id = static_cast<uint64_t>(i) + 1;
    int ends[2] = {-1, -1};
    Fd bad;
    Fd other;
    if (i % 2 == 0) {
      bad = MakeMemfd(4096, i % 4 == 0 ? 0 : F_SEAL_SHRINK);
    } else {
      ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
      bad = Fd(ends[0]);
      other = Fd(ends[1]);
    }
    ASSERT_TRUE(bad.valid());
    ASSERT_THAT(raw->SendWithFds(ExchangeCall(id, 1), {bad.get()}), IsOk());
    absl::StatusOr<v1::Reply> reply = ReadReply(*raw, id);
    ASSERT_THAT(reply, IsOk()) << "call " << i;
    ASSERT_EQ(reply->code(), Code(absl::StatusCode::kInvalidArgument))
        << "call " << i;
  }
  EXPECT_EQ(calls_->load(), 0);
  EXPECT_TRUE(WaitFor(
      [&] { return CountFds(broker_.pid()) == broker_baseline; }, kSettle))
      << "broker has " << CountFds(broker_.pid()) << " descriptors open, "
      << broker_baseline << " before: " << DescribeFds(broker_.pid());
  EXPECT_TRUE(WaitFor([&] { return CountFds() == self_baseline; }, kSettle))
      << "this process has " << CountFds() << " descriptors open, "
      << self_baseline << " before: " << DescribeFds();
}

TEST_F(BufferRawLeakTest, ClientsVanishingMidFrameAfterSendingFdsLeaveNone) {
  const int broker_baseline = CountFds(broker_.pid());
  const int self_baseline = CountFds();
  constexpr int kClients = 200;
  for (int i = 0; i < kClients; ++i) {
    absl::StatusOr<RawConnection> raw = ConnectRaw();
    ASSERT_THAT(raw, IsOk());
    Fd first = MakeMemfd(4096, kSizeSeals);
    Fd second = MakeMemfd(65536, kSizeSeals | F_SEAL_WRITE);
    ASSERT_TRUE(first.valid() && second.valid());
    const std::string call = ExchangeCall(1, 2);
    // Cut inside the prefix, the header or the payload.
    const size_t cut = std::vector<size_t>{1, 20, 45, call.size() - 1}[i % 4];
    ASSERT_THAT(raw->SendWithFds(absl::string_view(call).substr(0, cut),
                                 {first.get(), second.get()}),
                IsOk());
    if (i % 2 == 0) {
      raw->Close();
    } else {
      raw->ShutdownWrite();
      absl::StatusOr<std::vector<wire::Frame>> frames =
          raw->ReadUntilClosed(kTimeout);
      ASSERT_THAT(frames, IsOk()) << "client " << i;
    }
  }
  EXPECT_EQ(calls_->load(), 0);
  EXPECT_TRUE(WaitFor(
      [&] { return CountFds(broker_.pid()) == broker_baseline; }, kSettle))
      << "broker has " << CountFds(broker_.pid()) << " descriptors open, "
      << broker_baseline << " before: " << DescribeFds(broker_.pid());
  EXPECT_TRUE(WaitFor([&] { return CountFds() == self_baseline; }, kSettle))
      << "this process has " << CountFds() << " descriptors open, "
      << self_baseline << " before: " << DescribeFds();
}

}  // namespace
}  // namespace switchboard
