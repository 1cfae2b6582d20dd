// SPDX-License-Identifier: MIT
//
// OutputQueue: the frames waiting to be written to one session's socket, in
// the order queued. An entry is either
//   - an owned wire::Frame (replies, calls, events, errors), or
//   - a shared MESSAGE: a std::shared_ptr<const wire::Frame> that every
//     subscription the message goes to holds, plus the entry's own 40-byte
//     prefix, a copy of the message's with request_id = the subscription id.
//     One published frame thus reaches N subscribers without copying its
//     header or payload: the entry writes its own prefix, then the shared
//     frame's bytes after the prefix.
//   - a run (wire::PublishRun): small messages from one publisher, back to
//     back in one buffer that every subscription the run goes to shares.
//     It counts as that many messages of its subscription; the writer
//     copies each into the staging buffer (below) and stamps the copy's
//     request id. Dropping a run's oldest message moves its start past it.
//     A write that ends inside a run takes the messages it wrote out of
//     the run, and a message it wrote only in part into an owned frame
//     pushed in front of the run, so a run never has a message partly
//     written: its messages stay counted and can be dropped until the
//     writer starts them, exactly like single messages.
//
// Writing: Write() gathers the queue into one sendmsg of up to IOV_MAX
// iovecs. Pieces of at most 256 bytes (a shared message's own prefix, a
// small frame) are copied into a 64 KiB per-thread staging buffer and go as
// one iovec, because the kernel copies a few long iovecs much faster than
// hundreds of tiny ones; larger pieces get an iovec of their own and are
// never copied, except the messages of a run (at most 1 KiB each), which
// are always copied so their request ids can be stamped. The descriptors of the
// frames in a batch that have not passed theirs yet go with it as one
// SCM_RIGHTS message (at most io::kMaxFdsPerMessage; a frame's descriptors are
// never split, and a batch ends before a frame whose descriptors would not
// fit). The kernel delivers them with the batch's first byte, so every frame of
// a batch that wrote anything has passed its descriptors, and never passes them
// again. A frame keeps its descriptors (they count in fds()) until it is fully
// written; a shared message's count for every entry that holds it, since the
// kernel dups them for each sendmsg.
//
// Per subscription: a MESSAGE is "queued" for its subscription while it is
// uncommitted: neither a byte of it written nor its descriptors passed. Only
// uncommitted messages count in Queued() and only they can be dropped: a
// partly written frame must be finished, and one whose descriptors the
// client already holds must follow them.
//
// Dropping from the middle: DropOldest() turns the entry into a tombstone
// in place (releasing the shared frame at once); the writer skips
// tombstones, and they are popped when they reach the front. When
// tombstones outnumber live entries (and are more than a few), the queue is
// compacted, which is O(entries) but paid for by at least as many drops, so
// a subscriber that never reads while drops go on forever holds at most
// about twice its live entries.
//
// Finding a subscription's oldest message: every entry has a position,
// counted from the queue's start (the front entry's is base_, the next
// one's base_ + 1, ...), so the entry at a position is found by arithmetic.
// Each subscription's uncommitted messages are linked oldest to newest by
// position (the subscription keeps its first and last); a compaction
// renumbers the entries it keeps and rebuilds the links in the same pass.
// The entries live in a Ring (ring.h), which allocates nothing in the
// steady state and gives memory back as the queue drains.
//
// Drop reports: the position of each subscription's last messages_dropped
// EVENT is kept, and while that entry is unwritten a new report for the
// subscription replaces it in place rather than queueing behind it
// (docs/ARCHITECTURE.md, "Drop reports"). A compaction renumbers those
// positions along with the links.
//
// Single-threaded, as the session that owns it.
#ifndef SWITCHBOARD_DAEMON_SERVER_OUTPUT_QUEUE_H_
#define SWITCHBOARD_DAEMON_SERVER_OUTPUT_QUEUE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "base/fd.h"
#include "daemon/core/outbox.h"
#include "daemon/server/ring.h"
#include "wire/frame.h"
#include "wire/prefix.h"
#include "wire/publish_run.h"

namespace switchboard::server {

class OutputQueue {
 public:
  // Compaction waits until at least this many tombstones exist, so a queue
  // of a few entries is not rebuilt on every drop.
  static constexpr size_t kMinTombstonesToCompact = 64;

  OutputQueue() = default;
  OutputQueue(const OutputQueue&) = delete;
  OutputQueue& operator=(const OutputQueue&) = delete;

  // Appends an owned frame.
  void Push(wire::Frame frame);
  // Appends `message` for `subscription`, written with request_id =
  // `subscription`. `message` must not be null.
  void PushMessage(uint64_t subscription,
                   std::shared_ptr<const wire::Frame> message);
  // Appends `run`'s messages for `subscription`, each written with
  // request_id = `subscription`. `run` must not be null; its frames must be
  // MESSAGEs.
  void PushRun(uint64_t subscription,
               std::shared_ptr<const wire::PublishRun> run);

  // Queues `report`, an EVENT messages_dropped for `subscription` (no
  // descriptors): in place of the report pushed last for `subscription` if
  // that one is still wholly unwritten (HasUnsentDropReport()), else at the
  // end. Returns true if it took an earlier report's place.
  bool PushDropReport(uint64_t subscription, wire::Frame report);
  // Whether the report pushed last for `subscription` has not had a byte
  // written yet.
  bool HasUnsentDropReport(uint64_t subscription) const;

  // Writes to `socket` until the queue is empty or the socket is full.
  // Returns the bytes written (0 if the socket was full at once). Errors:
  // the socket failed (the peer is gone), with the bytes of the batches
  // written before lost to the count.
  absl::StatusOr<size_t> Write(int socket);

  // Uncommitted messages of `subscription` and their whole frames' bytes.
  core::Outbox::Queued Queued(uint64_t subscription) const;
  // Removes the oldest uncommitted message of `subscription`; returns its
  // bytes, or 0 if there is none.
  size_t DropOldest(uint64_t subscription);

  // Removes every uncommitted message, of every subscription: the session
  // is closing for an error, and its ERROR must not wait behind messages
  // for subscriptions that end with it. Owned frames stay, drop reports
  // among them, and an unsent report stays replaceable.
  void DropMessages();

  // Drops every entry, closing owned descriptors and releasing shared
  // frames.
  void Clear();

  // Bytes not yet written.
  size_t bytes() const { return bytes_; }
  // The memory the queue holds for its session, which its quota is
  // charged: the bytes not yet written plus each entry's bookkeeping (a
  // 40-byte PING reply costs several times its bytes in the queue). 0 when
  // nothing waits, so "one frame always fits an empty queue" holds.
  size_t memory() const;
  // What each entry, tombstones included, adds to memory().
  static size_t EntryBytes();
  // Descriptors of entries not fully written.
  size_t fds() const { return fds_; }
  bool empty() const { return entries_.size() == tombstones_; }
  // Entries held, tombstones included, and the slots allocated for them:
  // what memory the queue holds.
  size_t EntryCountForTest() const { return entries_.size(); }
  size_t TombstoneCountForTest() const { return tombstones_; }
  size_t SlotCountForTest() const { return entries_.capacity(); }

 private:
  struct Message {
    std::shared_ptr<const wire::Frame> frame;
    uint64_t subscription = 0;
    // Position of the subscription's next uncommitted message, 0 for none.
    uint64_t next = 0;
    std::array<char, wire::kPrefixBytes> prefix;
  };
  struct Run {
    std::shared_ptr<const wire::PublishRun> run;
    uint64_t subscription = 0;
    uint64_t next = 0;    // as Message::next
    size_t begin = 0;     // the first message not written or dropped
    size_t messages = 0;  // from begin to the end
  };
  struct Entry {
    // A byte of it was written or its descriptors were passed: it can no
    // longer be dropped and passes no descriptors again. Committed entries
    // always form a prefix of the queue (tombstones aside).
    bool committed = false;
    // std::monostate marks a tombstone (and an unused ring slot).
    std::variant<std::monostate, wire::Frame, Message, Run> body;
  };
  struct Subscription {
    size_t messages = 0;
    size_t bytes = 0;
    uint64_t first = 0;  // positions of the oldest and newest
    uint64_t last = 0;
  };

  static size_t EntryBytes(const Entry& entry);
  static const std::vector<Fd>& EntryFds(const Entry& entry);
  static bool IsTombstone(const Entry& entry) {
    return std::holds_alternative<std::monostate>(entry.body);
  }
  // The link to its subscription's next message in `entry`, a message or
  // a run.
  static uint64_t* NextOf(Entry& entry);
  // The entry at `position`, which must be in the queue.
  Entry& At(uint64_t position);
  // Marks `entry` committed, taking a message out of its subscription's
  // accounting (it is always the subscription's oldest).
  void CommitEntry(Entry& entry);
  // Takes the first message of `run`, held by `entry`, out of the run and
  // out of its subscription's accounting (the run is the subscription's
  // oldest entry); returns its size. The caller buries a run left empty.
  size_t TakeFromRun(Entry& entry, Run& run);
  // A write ended `written` bytes into the front entry, an uncommitted run:
  // see the file comment.
  void SplitFrontRun(size_t written);
  // Commits the first `count` entries (a batch that passed descriptors
  // after them was written).
  void CommitFront(size_t count);
  void Consume(size_t bytes);
  void PopFront();
  void PopFrontTombstones();
  void CompactIfSparse();
  // Rebuilds every subscription's links after a compaction.
  void Relink();
  // The accounting of `subscription`, or null if it has no uncommitted
  // message. Remembers the answer: a burst of messages is mostly for one
  // subscription.
  Subscription* FindSubscription(uint64_t subscription);
  const Subscription* FindSubscription(uint64_t subscription) const;
  // The accounting of `subscription`, made if it has none.
  Subscription& AddSubscription(uint64_t subscription);
  // Forgets the accounting of a subscription whose messages are all
  // committed or dropped.
  void RemoveSubscription(uint64_t subscription);
  // The index in entries_ of the drop report pushed last for
  // `subscription`, if it is still wholly unwritten.
  std::optional<size_t> UnsentDropReport(uint64_t subscription) const;
  // Before the tombstones go: moves each drop report's position to where
  // the entry will be once they are gone, and forgets those written.
  void RenumberDropReports();

  Ring<Entry> entries_;
  uint64_t base_ = 1;        // position of entries_[0]; 0 means "none"
  size_t front_offset_ = 0;  // bytes of the front entry already written
  size_t bytes_ = 0;
  size_t fds_ = 0;
  size_t tombstones_ = 0;
  absl::flat_hash_map<uint64_t, Subscription> subscriptions_;
  // The record FindSubscription() or AddSubscription() returned last (null
  // for none). The record of a subscription that just ran out of messages
  // stays while it is the remembered one, so a subscription whose queue
  // fills and drains every loop cycle is not erased and re-added each
  // time; a record is erased for real once another one is remembered.
  // Such an empty record counts as no accounting everywhere.
  uint64_t cached_id_ = 0;
  Subscription* cached_ = nullptr;
  // Subscription id -> position of the drop report pushed for it last. An
  // entry may be stale (written since); UnsentDropReport() checks.
  absl::flat_hash_map<uint64_t, uint64_t> drop_reports_;
};

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_OUTPUT_QUEUE_H_
