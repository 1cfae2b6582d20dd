// SPDX-License-Identifier: MIT
//
// FrameWriter: the client's thread-safe path to the socket. Any thread may
// send; a frame goes straight to the kernel when nothing is queued ahead of
// it, and whatever does not fit waits in a bounded queue that Flush() drains
// when the socket becomes writable again. Payloads are referenced, never
// copied: a 33 MB reply is written from the application's own buffer.
//
// A payload's SharedBuffers go either inline (their bytes follow the payload
// in the stream, written straight from their mappings) or as descriptors:
// one SCM_RIGHTS control message on the sendmsg() that carries the frame's
// first byte, exactly once however the frame is split or batched
// (docs/PROTOCOL.md, section 2.5).
#ifndef SWITCHBOARD_CLIENT_SRC_FRAME_WRITER_H_
#define SWITCHBOARD_CLIENT_SRC_FRAME_WRITER_H_

#include <sys/uio.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/src/plain_mutex.h"
#include "switchboard/payload.h"

namespace switchboard::client {

class FrameWriter {
 public:
  // `fd` is a connected socket that must outlive the writer; writes never
  // block (MSG_DONTWAIT).
  // `set_want_writable(bool)` is called (under the writer's lock) when the
  // queue becomes non-empty or empty, to arm or disarm a writability watch.
  FrameWriter(int fd, size_t max_queued_bytes,
              std::function<void(bool)> set_want_writable);

  // How a payload's buffers travel.
  enum class Buffers {
    kInline,  // their bytes follow the payload's
    kAsFds,   // their descriptors ride with the frame's first byte
  };
  // Most descriptors one sendmsg() may carry (the kernel's SCM_MAX_FD).
  static constexpr size_t kMaxFdsPerSend = 253;

  // Sends `head` (prefix + header) followed by `payload`, in order with every
  // other Send(). With `defer`, the frame only joins the queue and goes out
  // with the next Flush() or immediate Send(): the dispatch thread queues
  // its handlers' replies and flushes them before it runs its next task or
  // sleeps, so a reply never waits for another handler, and the last one is
  // the last thing the thread does before blocking. Errors:
  // kResourceExhausted if the queue is over its bound (the frame is not
  // sent); kUnavailable if the socket failed earlier or now. `payload`'s
  // buffers go as `buffers` says; with kAsFds each must have a descriptor,
  // and at most kMaxFdsPerSend (else kInvalidArgument, nothing sent). The
  // buffers stay referenced, so their descriptors stay open, until written.
  //
  // `connection`, when not 0, is the generation() the frame was made for:
  // if the writer was Reset() since, the frame belongs to a connection that
  // is gone and is not sent (kUnavailable).
  absl::Status Send(std::string head, Payload payload, bool defer = false,
                    Buffers buffers = Buffers::kInline,
                    uint64_t connection = 0);

  // Moves the writer to a new socket `fd` (after a reconnect): frames still
  // queued for the old one are dropped, an earlier failure is forgotten,
  // and generation() advances. `while_locked` runs under the writer's lock,
  // so that no set_want_writable call sees a half-swapped watch.
  void Reset(int fd, absl::FunctionRef<void()> while_locked);
  // Tells set_want_writable again what it was last told, under the lock
  // its calls are made under: for a watch set up after the writer started.
  void RepeatWatch();
  // Starts at 1; Reset() adds one.
  uint64_t generation() const {
    return generation_.load(std::memory_order_acquire);
  }

  // Queues a small frame without buffers, made of `parts`, by copying it
  // into a batch block: consecutive small frames share blocks of up to
  // kBatchBytes, so a burst of them costs one iovec per block and few
  // sendmsg() calls. The frame goes out with the next Flush() or immediate
  // Send(). Errors as Send().
  absl::Status SendCopy(std::initializer_list<absl::string_view> parts);
  // Frames at most this large may go through SendCopy().
  static constexpr size_t kBatchBytes = 64 << 10;

  // Bytes queued and not yet written; lock-free.
  size_t queued_bytes() const {
    return queued_bytes_atomic_.load(std::memory_order_relaxed);
  }
  // Waits until at most `limit` bytes are queued, the writer failed, or
  // `deadline` passes; returns whether there is room (or the writer failed,
  // which the next Send() reports).
  bool WaitForRoom(size_t limit, absl::Time deadline);
  // sendmsg() calls made so far.
  uint64_t SendsForTest() const {
    return sends_.load(std::memory_order_relaxed);
  }

  // Writes queued frames until the queue is empty or the socket is full.
  // Errors: kUnavailable if the socket failed.
  absl::Status Flush();

  // Whether frames wait to be written; lock-free.
  bool has_queued() const { return queued_.load(std::memory_order_relaxed); }
  // Whether the last flush stopped at a full socket, so the writability
  // watch is armed and the next flush comes when the socket takes more:
  // flushing before then only meets EAGAIN again. Lock-free.
  bool waiting_for_socket() const {
    return waiting_for_socket_.load(std::memory_order_acquire);
  }

 private:
  struct Pending {
    std::string head;
    Payload payload;
    size_t size = 0;    // head + payload (+ inline buffers) bytes
    size_t offset = 0;  // bytes already written
    bool buffers_inline = false;
    bool batch = false;    // a block of copied frames that may grow
    std::vector<int> fds;  // owned by payload.buffers(); sent with byte 0
  };
  // Appends the not yet written parts of `frame` to `iov`, up to `max`.
  static void AddParts(const Pending& frame, iovec* iov, size_t& count,
                       size_t max);
  // Writes what the socket takes, then arms or disarms the watch.
  absl::Status FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateWatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  int fd_ ABSL_GUARDED_BY(mu_);
  const size_t max_queued_bytes_;
  const std::function<void(bool)> set_want_writable_;

  // A PlainMutex: it is taken once per published message.
  PlainMutex mu_;
  // Signalled when a write makes room or fails, if WaitForRoom() waits.
  std::condition_variable_any room_;
  size_t room_waiters_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  // A written batch block's buffer, kept for the next block: a publisher
  // in a loop fills and writes a 64 KiB block every few hundred messages,
  // and allocating and freeing each one (often on different threads) cost
  // more than copying the messages into it.
  std::string spare_block_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  bool watching_ ABSL_GUARDED_BY(mu_) = false;  // writability watch armed
  std::atomic<bool> queued_{false};  // !queue_.empty(); written under mu_
  std::atomic<bool> waiting_for_socket_{false};  // watching_; under mu_
  std::atomic<uint64_t> sends_{0};
  std::atomic<uint64_t> generation_{1};         // written under mu_
  std::atomic<size_t> queued_bytes_atomic_{0};  // queued_bytes_, for readers
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_FRAME_WRITER_H_
