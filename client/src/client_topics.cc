// SPDX-License-Identifier: MIT
//
// Client::Impl's topics (docs/PROTOCOL.md 5.5): publishing, subscriptions,
// and the MESSAGE frames and drop reports that arrive for them.
//
// Publishing is fire and forget and batched. A small message is copied into
// the FrameWriter's current batch block (prefix, header and payload side by
// side), and the dispatch thread writes the blocks in large sendmsg() calls.
// The publisher wakes the dispatch thread only when no flush is pending
// already, so under load a burst of Publish() calls costs one eventfd write
// per flush, not one wakeup per message; and a publisher that fills a whole
// block writes it itself, so a tight loop of Publish() calls costs about
// one sendmsg() per 64 KiB. While the broker lags and the socket is full,
// Publish() only copies: the dispatch thread's writability watch writes the
// queue as soon as the socket takes more; and while the publisher bursts,
// the dispatch thread lingers a few microseconds before a small flush, so
// batches stay large (kLinger in client_impl.cc). Larger messages and messages
// with buffers are queued by reference instead (never copied). Calls still
// write at once, and take the queued messages along, in order.
#include <poll.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "client/src/buffer_transport.h"
#include "client/src/client_impl.h"
#include "client/src/schema.h"
#include "switchboard/status_macros.h"
#include "switchboard/v1/broker.pb.h"
#include "wire/topic.h"

namespace switchboard {
namespace {

// Publish() waits for room when more than this waits to be written.
constexpr size_t kPublishQueueBytes = 4u << 20;
// Messages up to this size are copied into batch blocks; larger ones are
// queued by reference.
constexpr size_t kCopyBytes = 16u << 10;

v1::OverflowPolicy ToWire(OverflowPolicy policy) {
  switch (policy) {
    case OverflowPolicy::kDropOldest:
      return v1::OVERFLOW_POLICY_DROP_OLDEST;
    case OverflowPolicy::kDropNewest:
      return v1::OVERFLOW_POLICY_DROP_NEWEST;
    case OverflowPolicy::kDisconnect:
      return v1::OVERFLOW_POLICY_DISCONNECT;
  }
  return v1::OVERFLOW_POLICY_UNSPECIFIED;
}

OverflowPolicy FromWire(v1::OverflowPolicy policy) {
  switch (policy) {
    case v1::OVERFLOW_POLICY_DROP_NEWEST:
      return OverflowPolicy::kDropNewest;
    case v1::OVERFLOW_POLICY_DISCONNECT:
      return OverflowPolicy::kDisconnect;
    default:
      return OverflowPolicy::kDropOldest;
  }
}

}  // namespace

absl::Status Client::Impl::CheckPublishTopic(absl::string_view topic) {
  SB_RETURN_IF_ERROR(wire::ValidateTopic(topic));
  if (wire::IsReservedTopic(topic)) {
    return absl::PermissionDeniedError(
        absl::StrCat("topic ", topic,
                     " is reserved for the broker; clients may not publish "
                     "on switchboard.*"));
  }
  return absl::OkStatus();
}

void Client::Impl::RequestFlush() {
  if (OnDispatchThread()) {
    // Written before the dispatch thread runs its next task or sleeps.
    output_held_ = true;
    return;
  }
  // Read first: a publisher in a loop mostly finds a flush requested
  // already, and a plain load does not take the cache line from the
  // dispatch thread the way exchange() does. A message queued after the
  // dispatch thread cleared the flag is seen with the flag cleared (both
  // pass through the writer's lock), so it is never left unflushed.
  if (flush_requested_.load(std::memory_order_acquire)) return;
  if (!flush_requested_.exchange(true)) Wake();
}

absl::Status Client::Impl::WaitForPublishRoom(absl::Duration timeout) {
  if (writer_.queued_bytes() <= kPublishQueueBytes) return absl::OkStatus();
  const absl::Time deadline = absl::Now() + timeout;
  const absl::Status full = absl::ResourceExhaustedError(
      absl::StrCat("more than ", kPublishQueueBytes,
                   " bytes of this client's output still wait for the broker"));
  if (!OnDispatchThread() && !own_loop_) {
    RequestFlush();
    return writer_.WaitForRoom(kPublishQueueBytes, deadline) ? absl::OkStatus()
                                                             : full;
  }
  // The dispatch thread cannot wait for its own flush, and in own-loop mode
  // nobody else flushes until the next Process(): write here, waiting for
  // the socket to take more.
  while (true) {
    SB_RETURN_IF_ERROR(writer_.Flush());
    if (writer_.queued_bytes() <= kPublishQueueBytes) return absl::OkStatus();
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return full;
    pollfd p{fd_.get(), POLLOUT, 0};
    ::poll(&p, 1,
           static_cast<int>(
               std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1000)));
  }
}

absl::Status Client::Impl::Publish(absl::string_view topic, Payload message,
                                   absl::string_view message_type,
                                   absl::Duration timeout) {
  const uint64_t connection = writer_.generation();
  absl::Status published =
      PublishOn(topic, std::move(message), message_type, timeout);
  // A failed write: the connection is broken. The message is lost (its
  // subscribers hear of the gap); the next publish waits for the reconnect.
  if (published.code() == absl::StatusCode::kUnavailable) {
    FailAll(published, connection);
  }
  return published;
}

absl::Status Client::Impl::PublishOn(absl::string_view topic, Payload message,
                                     absl::string_view message_type,
                                     absl::Duration timeout) {
  // Reused per thread: a publish in a loop allocates nothing here. The
  // header stays built (and its topic checked) for the topic and type of
  // this thread's last publish, since a publisher mostly repeats them.
  thread_local v1::Header header;
  thread_local std::string header_bytes;
  thread_local bool header_current = false;
  if (!header_current || header.publish().topic() != topic ||
      header.publish().message_type() != message_type) {
    header_current = false;
    SB_RETURN_IF_ERROR(CheckPublishTopic(topic));
    header.Clear();
    v1::Publish* publish = header.mutable_publish();
    publish->set_topic(topic.data(), topic.size());
    publish->set_message_type(message_type.data(), message_type.size());
    header.SerializeToString(&header_bytes);
    header_current = true;
  }
  // The dispatch thread writes queued messages in batches.
  SB_RETURN_IF_ERROR(NeedDispatch());
  if (closed_flag_.load(std::memory_order_relaxed)) {
    // Disconnected: wait for the reconnect (or fail) rather than drop it.
    absl::MutexLock lock(&mu_);
    SB_RETURN_IF_ERROR(AwaitUpLocked(absl::Now() + timeout));
  }
  SB_RETURN_IF_ERROR(WaitForPublishRoom(timeout));
  if (message.buffers().empty() && message.size() <= kCopyBytes) {
    if (message.size() > max_payload_bytes()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("message of ", message.size(),
                       " bytes exceeds the broker's max_payload_bytes (",
                       max_payload_bytes(), ")"));
    }
    wire::Prefix prefix;
    prefix.kind = wire::Kind::kPublish;
    prefix.header_length = static_cast<uint32_t>(header_bytes.size());
    prefix.payload_length = static_cast<uint32_t>(message.size());
    char head[wire::kPrefixBytes];
    wire::EncodePrefix(prefix, head);
    SB_RETURN_IF_ERROR(writer_.SendCopy(
        {absl::string_view(head, sizeof head), header_bytes, message.view()}));
  } else {
    // Descriptors on a Unix socket, inline on TCP: the broker cannot
    // inline buffers for a subscriber that takes no descriptors (it drops
    // the message for that subscription and reports it).
    v1::Header inline_header;
    SB_ASSIGN_OR_RETURN(client::FrameWriter::Buffers buffers,
                        PlanBuffers(message, /*receiver_takes_fds=*/true,
                                    header, "message", inline_header));
    const bool inline_buffers =
        !message.buffers().empty() &&
        buffers == client::FrameWriter::Buffers::kInline;
    SB_RETURN_IF_ERROR(SendFrame(wire::Kind::kPublish, /*request_id=*/0,
                                 inline_buffers ? inline_header : header,
                                 std::move(message), buffers,
                                 /*defer=*/true));
  }
  // While the socket is full, the dispatch thread's writability watch
  // flushes as soon as the broker reads: neither a flush here nor a wakeup
  // would do more than meet EAGAIN (a sendmsg() per publish, measured). The
  // watch flushes everything queued by then, this message included.
  if (writer_.waiting_for_socket()) return absl::OkStatus();
  // A full block is written at once, from this thread, as one large
  // sendmsg(); the rest waits for the dispatch thread's flush.
  if (writer_.queued_bytes() >= client::FrameWriter::kBatchBytes) {
    SB_RETURN_IF_ERROR(writer_.Flush());
  }
  if (writer_.has_queued() && !writer_.waiting_for_socket()) RequestFlush();
  return absl::OkStatus();
}

absl::StatusOr<PublishResult> Client::Impl::PublishConfirmed(
    absl::string_view topic, Payload message, absl::string_view message_type,
    absl::Duration timeout) {
  SB_RETURN_IF_ERROR(CheckPublishTopic(topic));
  v1::Header header;
  header.mutable_publish()->set_topic(std::string(topic));
  header.mutable_publish()->set_message_type(std::string(message_type));
  SB_ASSIGN_OR_RETURN(Payload reply,
                      Request(wire::Kind::kPublish, header, std::move(message),
                              timeout, /*is_call=*/false));
  v1::PublishResult result;
  if (!result.ParseFromArray(reply.data(), static_cast<int>(reply.size()))) {
    return absl::InternalError("broker sent a malformed PublishResult");
  }
  return PublishResult{result.delivered(), result.dropped()};
}

absl::StatusOr<uint64_t> Client::Impl::Subscribe(
    absl::string_view pattern, MessageCallback on_message,
    const SubscribeOptions& options) {
  return SubscribeAs(subscriptions_.NextId(), pattern, std::move(on_message),
                     options);
}

absl::StatusOr<uint64_t> Client::Impl::SubscribeAs(
    uint64_t id, absl::string_view pattern, MessageCallback on_message,
    const SubscribeOptions& options) {
  SB_RETURN_IF_ERROR(wire::ValidatePattern(pattern));
  // Messages are delivered on the dispatch thread.
  SB_RETURN_IF_ERROR(NeedDispatch());
  // Added before the broker confirms: MESSAGE frames for it may follow the
  // REPLY closely, and they are handled on the dispatch thread.
  subscriptions_.Add(id, std::string(pattern), std::move(on_message),
                     options.on_drop);
  {
    absl::MutexLock lock(&mu_);
    subscribed_ = true;  // messages arrive unasked from now on
    UpdateReadWatchLocked();
  }
  absl::Status subscribed = SendSubscribe(id, pattern, options.max_messages,
                                          options.max_bytes, options.policy);
  if (!subscribed.ok()) {
    subscriptions_.Remove(id);
    return subscribed;
  }
  return id;
}

absl::Status Client::Impl::SendSubscribe(uint64_t id, absl::string_view pattern,
                                         uint32_t max_messages,
                                         uint64_t max_bytes,
                                         OverflowPolicy policy) {
  v1::Header header;
  v1::Subscribe* subscribe = header.mutable_subscribe();
  subscribe->set_subscription_id(id);
  subscribe->set_pattern(std::string(pattern));
  subscribe->set_max_messages(max_messages);
  subscribe->set_max_bytes(max_bytes);
  subscribe->set_policy(ToWire(policy));
  absl::StatusOr<Payload> reply =
      Request(wire::Kind::kSubscribe, header, Payload(), kDefaultCallTimeout,
              /*is_call=*/false);
  v1::SubscribeResult result;
  if (reply.ok() &&
      !result.ParseFromArray(reply->data(), static_cast<int>(reply->size()))) {
    reply = absl::InternalError("broker sent a malformed SubscribeResult");
  }
  if (!reply.ok()) return reply.status();
  subscriptions_.SetLimits(id, result.max_messages(), result.max_bytes(),
                           FromWire(result.policy()));
  return absl::OkStatus();
}

absl::Status Client::Impl::Unsubscribe(uint64_t subscription) {
  // Removed first, so no callback of it starts once this returns, whatever
  // the broker still has in flight.
  bool down;
  {
    absl::MutexLock lock(&mu_);
    // The broker forgot it with the connection; the restore must not
    // subscribe it again.
    down = link_.state() == client::ConnectionLink::State::kDown;
    if (down) unsubscribed_while_down_.push_back(subscription);
  }
  if (!subscriptions_.Remove(subscription)) {
    return absl::NotFoundError(
        absl::StrCat("this client has no subscription ", subscription));
  }
  if (down) return absl::OkStatus();
  v1::Header header;
  header.mutable_unsubscribe()->set_subscription_id(subscription);
  return Request(wire::Kind::kUnsubscribe, header, Payload(),
                 kDefaultCallTimeout, /*is_call=*/false)
      .status();
}

absl::StatusOr<SubscriptionStats> Client::Impl::GetSubscriptionStats(
    uint64_t subscription) const {
  std::optional<SubscriptionStats> stats = subscriptions_.Stats(subscription);
  if (!stats.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("this client has no subscription ", subscription));
  }
  return *std::move(stats);
}

void Client::Impl::HandleMessages(MessageBatch& batch) {
  std::vector<MessageBatch::Entry>& entries = batch.entries;
  auto subscription_of = [](const Received& item) {
    if (const auto* run = std::get_if<wire::PublishRun>(&item)) {
      return run->request_id();
    }
    return std::get<wire::Frame>(item).request_id();
  };
  size_t i = 0;
  while (i < entries.size()) {
    // Entries for one subscription go to it in one DeliverEach(); an
    // unknown id is a subscription that ended: its late messages go.
    const uint64_t id = subscription_of(entries[i].item);
    size_t end = i + 1;
    while (end < entries.size() && subscription_of(entries[end].item) == id) {
      ++end;
    }
    size_t next = i;
    size_t offset = 0;  // of the next message in entries[next], if a run
    subscriptions_.DeliverEach(id, [&]() -> const Message* {
      while (next < end) {
        MessageBatch::Entry& entry = entries[next];
        if (auto* run = std::get_if<wire::PublishRun>(&entry.item)) {
          const absl::string_view bytes = run->bytes();
          if (offset == bytes.size()) {
            ++next;
            offset = 0;
            continue;
          }
          const size_t at = offset;
          offset += wire::PublishRun::FrameBytesAt(bytes.data() + at);
          if (ReadRunMessage(*run, at, entry.received)) return &message_;
          continue;
        }
        ++next;
        if (ReadMessage(std::get<wire::Frame>(entry.item), entry.received)) {
          return &message_;
        }
      }
      return nullptr;
    });
    i = end;
  }
  // The last message's payload (the frame, any buffers) is not kept.
  message_.payload = Payload();
}

bool Client::Impl::ReadRunMessage(const wire::PublishRun& run, size_t offset,
                                  absl::Time received) {
  // Every message of a run has the same header: read at its first.
  if (offset == 0) {
    absl::string_view topic, message_type;
    run_header_plain_ =
        wire::ReadPlainPublish(run.header_bytes(), topic, message_type);
    if (run_header_plain_) {
      message_.topic.assign(topic.data(), topic.size());
      message_.message_type.assign(message_type.data(), message_type.size());
    }
  }
  if (!run_header_plain_) {
    // Any other header (one listing inline buffers, say): as a frame.
    wire::Frame copy = run.CopyFrame(offset);
    return ReadMessage(copy, received);
  }
  const char* frame = run.bytes().data() + offset;
  const wire::Prefix prefix = wire::PublishRun::PrefixAt(frame);
  message_.sender = prefix.sender;
  message_.sender_uid = prefix.sender_uid;
  message_.sender_pid = prefix.sender_pid;
  message_.received = received;
  // Released first, so the copier may reuse its block.
  message_.payload = Payload();
  message_.payload = run_payloads_.Copy(
      absl::string_view(frame + wire::kPrefixBytes + prefix.header_length,
                        prefix.payload_length));
  return true;
}

bool Client::Impl::ReadMessage(wire::Frame& frame, absl::Time received) {
  absl::string_view header_bytes = frame.header_bytes();
  // The usual header (topic and type only) is read in place; any other is
  // parsed, e.g. one that lists inline buffers.
  static const google::protobuf::RepeatedField<uint64_t> kNoInlineBuffers;
  const google::protobuf::RepeatedField<uint64_t>* inline_sizes =
      &kNoInlineBuffers;
  absl::string_view topic, message_type;
  if (!wire::ReadPlainPublish(header_bytes, topic, message_type)) {
    if (!message_header_.ParseFromArray(
            header_bytes.data(), static_cast<int>(header_bytes.size())) ||
        !message_header_.has_publish()) {
      SB_LOG(WARNING) << "client :" << connection_id()
                      << " dropped a MESSAGE without a publish header";
      return false;
    }
    topic = message_header_.publish().topic();
    message_type = message_header_.publish().message_type();
    inline_sizes = &message_header_.inline_buffer_sizes();
  }
  message_.topic.assign(topic.data(), topic.size());
  message_.message_type.assign(message_type.data(), message_type.size());
  message_.sender = frame.prefix().sender;
  message_.sender_uid = frame.prefix().sender_uid;
  message_.sender_pid = frame.prefix().sender_pid;
  message_.received = received;
  std::vector<Fd> fds = frame.take_fds();
  absl::StatusOr<Payload> payload = client::ReceivedPayload(
      std::make_shared<const wire::Frame>(std::move(frame)), std::move(fds),
      *inline_sizes);
  if (!payload.ok()) {
    SB_LOG(WARNING) << "client :" << connection_id() << " dropped a message on "
                    << message_.topic << ": " << payload.status();
    return false;
  }
  message_.payload = *std::move(payload);
  return true;
}

void Client::Impl::HandleDrops(const v1::Event::MessagesDropped& drops) {
  DropReport report;
  report.subscription = drops.subscription_id();
  report.count = drops.count();
  report.total = drops.total();
  report.reason = drops.reason();
  subscriptions_.ReportDrop(report);
}

void Client::Impl::RegisterPublishedType(
    const google::protobuf::Descriptor* type) {
  if (!published_types_.First(type)) return;
  v1::RegisterTypesRequest request;
  *request.mutable_files() = client::FilesDefining({type});
  CallAsync("switchboard.Broker", "RegisterTypes",
            Payload(request.SerializeAsString()), kDefaultCallTimeout,
            [name = std::string(type->full_name())](
                const absl::StatusOr<Payload>& reply) {
              // Only tools that decode messages miss it; publishing goes on.
              if (!reply.ok()) {
                SB_LOG(WARNING) << "the broker did not take the schema of "
                                << name << ": " << reply.status();
              }
            });
}

}  // namespace switchboard
