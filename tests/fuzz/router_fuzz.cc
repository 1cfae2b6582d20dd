// SPDX-License-Identifier: MIT
//
// libFuzzer target for core::Router, the broker's handling of every frame an
// established session sends (docs/PROTOCOL.md sections 4-7), including the
// switchboard.Broker admin service. Four sessions of two uids (uid 1000 is
// the broker's, so its sessions may Monitor; sessions 1 and 3 take
// descriptors) send frames built from the input, interleaved with time steps,
// closes and publish runs. The input is a config byte, then steps, each an
// op byte and its operands (RouterFuzzer::Step()):
//   0-2 a raw frame: session, kind, flags, request id, descriptors, header
//       bytes (arbitrary protobuf) and payload
//   3-5 a structured frame: a kind and its header's fields from small
//       dictionaries (names, methods incl. the admin ones, patterns,
//       topics), admin requests (Describe, RegisterTypes with real
//       descriptor sets, Monitor, StartService) and schemas as payloads
//   6   time passes (ExpireCalls)
//   7   a session goes (ForgetSession) and a new one takes its place
//   8   a publish run (wire::PublishRun) from one session
//   9   other: a session's socket takes all it has queued, buffer checks
//       pass or fail, an activation fails, FailAllCalls, GetStatus
// The fake Outbox checks every call the router makes, besides no crash,
// leak or sanitizer report:
//   - frames and messages go only to sessions that are open or closing
//     (never to one the router was told is gone or never knew); those for
//     a closing session are dropped, as the server drops them;
//   - a frame's encoded prefix decodes to its prefix(); its descriptors
//     number fd_count, are open, and go only to sessions that take them;
//   - a frame's sender is the broker (0) or a session with its own uid and
//     pid: what a client writes as its identity is overwritten;
//   - the broker sends clients only CALL, REPLY, CANCEL, CREDIT, EVENT and
//     ERROR frames, and MESSAGE frames only as messages;
//   - CloseWithError()/Disconnect() carry an error; as the server does,
//     the session is forgotten (ForgetSession()) only after the router
//     call that closed it returned, never from inside it;
//   - after ExpireCalls(now), NextDeadline() is later than now;
//   - after FailAllCalls(), no call, monitor or held call is left;
//   - at the end, once every session is forgotten, the router holds no
//     name, call, subscription, monitor, held call or schema.
#include <fcntl.h>
#include <sys/eventfd.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "daemon/core/router.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/header.pb.h"
#include "switchboard/v1/schema.pb.h"
#include "tests/fuzz/fuzz_check.h"
#include "wire/descriptor_files.h"
#include "wire/frame.h"
#include "wire/frame_decoder.h"
#include "wire/prefix.h"
#include "wire/publish_run.h"

namespace switchboard::core {
namespace {

constexpr size_t kSlots = 4;
constexpr uint32_t kBrokerUid = 1000;

bool BrokerMaySend(wire::Kind kind) {
  switch (kind) {
    case wire::Kind::kCall:
    case wire::Kind::kReply:
    case wire::Kind::kCancel:
    case wire::Kind::kCredit:
    case wire::Kind::kEvent:
    case wire::Kind::kError:
      return true;
    default:
      return false;
  }
}

// The Outbox the router acts through, checking every call. Queues are
// modelled only as far as the router asks about them.
class CheckingOutbox : public Outbox {
 public:
  void set_router(Router* router) { router_ = router; }
  void Open(const Peer& peer) {
    SB_FUZZ_CHECK(peers_.emplace(peer.id, peer).second);
    live_.insert(peer.id);
  }
  // The server forgets `session` (it closed).
  void Gone(SessionId session) {
    live_.erase(session);
    closing_.erase(session);
    DropQueues(session);
  }
  // Tells the router about the sessions it closed, once its call returned;
  // forgetting one can close more.
  void ForgetClosed() {
    while (!closed_.empty()) {
      const auto [session, reason] = closed_.front();
      closed_.pop_front();
      closing_.erase(session);
      router_->ForgetSession(session, reason);
    }
  }
  bool live(SessionId session) const { return live_.contains(session); }
  // The session's socket took everything queued.
  void Write(SessionId session) { DropQueues(session); }
  void set_write_now_drains(bool drains) { write_now_drains_ = drains; }
  // Whether CheckUidRoom() refuses everything, as at a uid's quota.
  void set_uid_room_full(bool full) { uid_room_full_ = full; }

  // Outbox
  void Send(SessionId session, wire::Frame frame) override {
    CheckFrame(session, frame);
    if (closing_.contains(session)) return;
    SB_FUZZ_CHECK(BrokerMaySend(frame.kind()));
    queues_[session].frames.push_back(std::move(frame));
  }
  void SendMessage(SessionId session, uint64_t subscription,
                   std::shared_ptr<const wire::Frame> message) override {
    SB_FUZZ_CHECK(message != nullptr);
    CheckFrame(session, *message);
    SB_FUZZ_CHECK(message->kind() == wire::Kind::kMessage);
    if (closing_.contains(session)) return;
    queues_[session].messages[subscription].push_back(std::move(message));
  }
  void SendRun(SessionId session, uint64_t subscription,
               std::shared_ptr<const wire::PublishRun> run) override {
    SB_FUZZ_CHECK(run != nullptr && run->count() >= 2);
    const absl::string_view bytes = run->bytes();
    size_t count = 0;
    for (size_t offset = 0; offset < bytes.size();
         offset += wire::PublishRun::FrameBytesAt(bytes.data() + offset)) {
      SendMessage(session, subscription,
                  std::make_shared<const wire::Frame>(run->CopyFrame(offset)));
      ++count;
    }
    SB_FUZZ_CHECK(count == run->count());
  }
  void SendDropReport(SessionId session, uint64_t subscription,
                      wire::Frame report) override {
    CheckFrame(session, report);
    SB_FUZZ_CHECK(report.kind() == wire::Kind::kEvent);
    SB_FUZZ_CHECK(report.fds().empty());
    if (closing_.contains(session)) return;
    Queue& queue = queues_[session];
    auto unsent = queue.unsent_reports.find(subscription);
    if (unsent != queue.unsent_reports.end()) {
      queue.frames[unsent->second] = std::move(report);
      return;
    }
    queue.unsent_reports[subscription] = queue.frames.size();
    queue.frames.push_back(std::move(report));
  }
  bool HasUnsentDropReport(SessionId session,
                           uint64_t subscription) const override {
    auto it = queues_.find(session);
    return it != queues_.end() &&
           it->second.unsent_reports.contains(subscription);
  }
  Queued QueuedMessages(SessionId session,
                        uint64_t subscription) const override {
    Queued result;
    auto it = queues_.find(session);
    if (it == queues_.end()) return result;
    auto messages = it->second.messages.find(subscription);
    if (messages == it->second.messages.end()) return result;
    for (const auto& message : messages->second) {
      ++result.messages;
      result.bytes += message->bytes().size();
    }
    return result;
  }
  size_t DropOldestMessage(SessionId session, uint64_t subscription) override {
    auto it = queues_.find(session);
    if (it == queues_.end()) return 0;
    auto messages = it->second.messages.find(subscription);
    if (messages == it->second.messages.end() || messages->second.empty()) {
      return 0;
    }
    const size_t bytes = messages->second.front()->bytes().size();
    messages->second.pop_front();
    return bytes;
  }
  void WriteNow(SessionId session) override {
    SB_FUZZ_CHECK(live_.contains(session) || closing_.contains(session));
    if (write_now_drains_) Write(session);
  }
  size_t QueuedBytes(SessionId session) const override {
    size_t bytes = 0;
    auto it = queues_.find(session);
    if (it == queues_.end()) return 0;
    for (const wire::Frame& frame : it->second.frames) {
      bytes += frame.bytes().size();
    }
    for (const auto& [id, messages] : it->second.messages) {
      for (const auto& message : messages) bytes += message->bytes().size();
    }
    return bytes;
  }
  size_t QueuedFds(SessionId session) const override {
    size_t fds = 0;
    auto it = queues_.find(session);
    if (it == queues_.end()) return 0;
    for (const wire::Frame& frame : it->second.frames) {
      fds += frame.fds().size();
    }
    for (const auto& [id, messages] : it->second.messages) {
      for (const auto& message : messages) fds += message->fds().size();
    }
    return fds;
  }
  absl::Status CheckUidRoom(SessionId session, size_t, size_t) override {
    SB_FUZZ_CHECK(live_.contains(session) || closing_.contains(session));
    return uid_room_full_ ? absl::ResourceExhaustedError("uid quota (fuzz)")
                          : absl::OkStatus();
  }
  Traffic SessionTraffic(SessionId) const override { return Traffic(); }
  Traffic TotalTraffic() const override { return Traffic(); }
  bool AcceptsFds(SessionId session) const override {
    return live_.contains(session) && peers_.at(session).accepts_fds;
  }
  void CloseWithError(SessionId session, const absl::Status& reason) override {
    Close(session, reason);
  }
  void Disconnect(SessionId session, const absl::Status& reason) override {
    Close(session, reason);
  }

 private:
  struct Queue {
    std::vector<wire::Frame> frames;
    std::map<uint64_t, std::deque<std::shared_ptr<const wire::Frame>>> messages;
    // Subscription -> index in `frames` of its unwritten drop report.
    std::map<uint64_t, size_t> unsent_reports;
  };

  void CheckFrame(SessionId to, const wire::Frame& frame) const {
    SB_FUZZ_CHECK(live_.contains(to) || closing_.contains(to));
    const absl::StatusOr<wire::Prefix> prefix =
        wire::DecodePrefix(frame.bytes().substr(0, wire::kPrefixBytes));
    SB_FUZZ_CHECK(prefix.ok() && *prefix == frame.prefix());
    SB_FUZZ_CHECK(frame.bytes().size() == frame.prefix().frame_bytes());
    SB_FUZZ_CHECK(frame.fds().size() == frame.prefix().fd_count);
    for (const Fd& fd : frame.fds()) {
      SB_FUZZ_CHECK(fd.valid() && ::fcntl(fd.get(), F_GETFD) != -1);
    }
    if (!frame.fds().empty()) SB_FUZZ_CHECK(peers_.at(to).accepts_fds);
    const uint64_t sender = frame.prefix().sender;
    if (sender == 0) return;
    auto peer = peers_.find(SessionId(sender));
    SB_FUZZ_CHECK(peer != peers_.end());
    SB_FUZZ_CHECK(frame.prefix().sender_uid == peer->second.uid);
    SB_FUZZ_CHECK(frame.prefix().sender_pid == peer->second.pid);
  }

  void Close(SessionId session, const absl::Status& reason) {
    SB_FUZZ_CHECK(!reason.ok());
    SB_FUZZ_CHECK(peers_.contains(session));
    if (!live_.contains(session)) return;  // closing already
    live_.erase(session);
    DropQueues(session);
    closing_.insert(session);
    closed_.emplace_back(session, std::string(reason.message()));
  }

  void DropQueues(SessionId session) { queues_.erase(session); }

  Router* router_ = nullptr;
  std::map<SessionId, Peer> peers_;  // every session ever opened
  std::set<SessionId> live_;
  // Closed by the router, not forgotten yet (closed_ holds them in order).
  std::set<SessionId> closing_;
  std::deque<std::pair<SessionId, std::string>> closed_;
  std::map<SessionId, Queue> queues_;
  bool write_now_drains_ = false;
  bool uid_room_full_ = false;
};

// A small file with one message type, for schemas and RegisterTypes.
google::protobuf::FileDescriptorProto VideoFile() {
  google::protobuf::FileDescriptorProto file;
  file.set_name("video/frame.proto");
  file.set_package("video");
  file.set_syntax("proto3");
  google::protobuf::DescriptorProto* message = file.add_message_type();
  message->set_name("Frame");
  google::protobuf::FieldDescriptorProto* field = message->add_field();
  field->set_name("number");
  field->set_number(1);
  field->set_type(google::protobuf::FieldDescriptorProto::TYPE_UINT64);
  field->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
  return file;
}

const char* const kNames[] = {"video.frames",       "audio",   "act.svc",
                              "switchboard.Broker", "a.b-c_d", ""};
const char* const kMethods[] = {
    "GetFrame",      "GetStatus", "ListNames",    "ListConnections", "Describe",
    "RegisterTypes", "Monitor",   "StartService", "bad method"};
// ListNames and ListConnections page tokens: ones the broker makes (names
// listed or not, gone or never there), and ones it must refuse.
const char* const kPageTokens[] = {"",
                                   "owned:",
                                   "owned:audio",
                                   "owned:video.frames",
                                   "owned:zzz",
                                   "activatable:",
                                   "activatable:act.svc",
                                   "owned:bad..name",
                                   "activatable:/x",
                                   "2",
                                   "18446744073709551615",
                                   "18446744073709551616",
                                   "-1",
                                   "garbage"};
const char* const kPatterns[] = {">",   "video.*", "video.>", "switchboard.>",
                                 "a.b", "*.*",     "bad..p"};
const char* const kTopics[] = {"video.a",       "video.a.b", "a.b",
                               "switchboard.x", "bad..t",    "video"};
const char* const kTypes[] = {"video.Frame", "switchboard.v1.Header",
                              "google.protobuf.FileDescriptorProto", "nope",
                              "bad type"};

class RouterFuzzer {
 public:
  explicit RouterFuzzer(fuzz::InputReader& in)
      : in_(in),
        config_byte_(in.Byte()),
        router_(Config(), outbox_, [this](const std::vector<Fd>&) {
          return buffers_pass_ ? absl::OkStatus()
                               : absl::InvalidArgumentError("not sealed");
        }) {
    outbox_.set_router(&router_);
    outbox_.set_write_now_drains((config_byte_ & 4) != 0);
    router_.set_activation_start([this](const ActivatableService& service,
                                        uint64_t attempt) {
      attempts_.emplace_back(service.name, attempt);
      return (config_byte_ & 8) != 0 ? absl::UnavailableError("cannot start")
                                     : absl::OkStatus();
    });
    if ((config_byte_ & 2) != 0) {
      ActivatableService service;
      service.name = "act.svc";
      service.command = {"/bin/act-svc"};
      service.file = "/fuzz/act.svc.activation";
      router_.SetActivatableServices({service});
    }
    for (size_t slot = 0; slot < kSlots; ++slot) OpenSlot(slot);
  }

  void Run() {
    for (int steps = 0; steps < 256 && !in_.empty(); ++steps) {
      Step();
      outbox_.ForgetClosed();
    }
    // Every session goes, as at the end of the broker.
    for (size_t slot = 0; slot < kSlots; ++slot) {
      outbox_.Gone(slots_[slot].id);
      router_.ForgetSession(slots_[slot].id, "end of input");
    }
    SB_FUZZ_CHECK(router_.names().name_count() == 0);
    SB_FUZZ_CHECK(router_.calls().size() == 0);
    SB_FUZZ_CHECK(router_.subscriptions().size() == 0);
    SB_FUZZ_CHECK(router_.monitors().empty());
    SB_FUZZ_CHECK(router_.activations().held_calls() == 0);
    SB_FUZZ_CHECK(router_.schemas().session_count() == 0);
  }

 private:
  RouterConfig Config() const {
    RouterConfig config;
    config.max_pending_calls = 3;
    // Small quotas now and then, so the refusals and drops run too.
    config.max_queued_bytes = (config_byte_ & 1) != 0 ? 2000 : 1 << 20;
    config.max_fds_in_flight = 3;
    config.subscription_default_messages = 4;
    config.subscription_max_messages = 8;
    config.max_subscriptions = 4;
    config.broker_version = "0.0.0-fuzz";
    config.started = now_;
    config.broker_uid = kBrokerUid;
    config.activation.max_held_calls = 3;
    return config;
  }

  void OpenSlot(size_t slot) {
    Peer peer;
    peer.id = SessionId(next_id_++);
    peer.uid = slot < 2 ? kBrokerUid : kBrokerUid + 1;
    peer.pid = static_cast<uint32_t>(100 + peer.id.value());
    peer.accepts_fds = slot % 2 == 1;
    slots_[slot] = peer;
    outbox_.Open(peer);
    SessionInfo info;
    info.peer = peer;
    info.client_name = absl::StrCat("client", slot);
    info.transport = peer.accepts_fds ? "unix" : "tcp";
    info.connected = now_;
    router_.OnSessionOpened(info, now_);
  }

  // A slot's session; one the router closed (CloseWithError, Disconnect)
  // sends nothing more, so a new session takes its slot.
  const Peer& Slot() {
    const size_t slot = in_.Byte() % kSlots;
    if (!outbox_.live(slots_[slot].id)) OpenSlot(slot);
    return slots_[slot];
  }

  // A dictionary entry, or (for an index past it) a short string from the
  // input.
  template <size_t N>
  std::string Pick(const char* const (&dictionary)[N]) {
    const uint8_t index = in_.Byte();
    if (index < N) return dictionary[index];
    return std::string(in_.ShortString());
  }

  void Step() {
    const uint8_t op = in_.Byte() % 10;
    if (op <= 2) return RawFrame();
    if (op <= 5) return StructuredFrame();
    switch (op) {
      case 6:
        now_ += absl::Milliseconds(in_.U16());
        router_.ExpireCalls(now_);
        if (std::optional<absl::Time> next = router_.NextDeadline()) {
          SB_FUZZ_CHECK(*next > now_);
        }
        return;
      case 7: {
        const size_t slot = in_.Byte() % kSlots;
        outbox_.Gone(slots_[slot].id);
        router_.ForgetSession(slots_[slot].id, "gone");
        router_.ForgetSession(slots_[slot].id, "gone again");
        OpenSlot(slot);
        return;
      }
      case 8:
        return PublishRun();
      case 9:
        return Other();
    }
  }

  // Sends `header` and `payload` as a frame of `kind` from `from`, with the
  // identity fields a client could write (the router must overwrite them).
  void Send(const Peer& from, wire::Kind kind, uint16_t flags,
            uint64_t request_id, absl::string_view header,
            absl::string_view payload, size_t fds) {
    wire::Prefix prefix;
    prefix.kind = kind;
    prefix.flags = flags & wire::kKnownFlags;
    prefix.request_id = request_id;
    prefix.sender = 999;
    prefix.sender_uid = 999;
    prefix.sender_pid = 999;
    // Only a Unix session (one that takes them) can send descriptors.
    if (!from.accepts_fds) fds = 0;
    prefix.fd_count = static_cast<uint8_t>(fds);
    wire::Frame frame = wire::Frame::Build(prefix, header, payload);
    std::vector<Fd> attached;
    for (size_t i = 0; i < fds; ++i) {
      attached.emplace_back(::eventfd(0, EFD_CLOEXEC));
    }
    frame.set_fds(std::move(attached));
    router_.OnFrame(from, std::move(frame), now_);
  }

  void RawFrame() {
    const Peer& from = Slot();
    const auto kind = static_cast<wire::Kind>(1 + in_.Byte() % wire::kMaxKind);
    const uint8_t flags = in_.Byte();
    const uint64_t request_id = in_.Byte() % 16;
    const size_t fds = in_.Byte() % 3;
    const std::string header(in_.LongString());
    Send(from, kind, flags, request_id, header, in_.ShortString(), fds);
  }

  void StructuredFrame() {
    const Peer& from = Slot();
    const uint8_t which = in_.Byte();
    const uint64_t request_id = in_.Byte() % 16;
    v1::Header header;
    std::string payload;
    wire::Kind kind = wire::Kind::kPing;
    uint16_t flags = 0;
    size_t fds = 0;
    switch (which % 11) {
      case 0: {
        kind = wire::Kind::kCall;
        v1::Call& call = *header.mutable_call();
        call.set_service(Pick(kNames));
        call.set_method(Pick(kMethods));
        call.set_timeout_us(uint64_t{in_.U16()} * 1000);
        if ((which & 0x10) != 0) {
          call.mutable_stream()->set_initial_credit(in_.Byte() % 4);
        }
        payload = AdminRequest(call.method());
        fds = in_.Byte() % 3;
        break;
      }
      case 1: {
        kind = wire::Kind::kReply;
        if ((which & 0x10) != 0) {
          header.mutable_reply()->set_code(in_.Byte() % 17);
          header.mutable_reply()->set_message("failed");
        }
        flags = (which & 0x20) != 0 ? wire::kFlagMore : 0;
        payload = std::string(in_.ShortString());
        fds = in_.Byte() % 3;
        break;
      }
      case 2:
        kind = wire::Kind::kCancel;
        break;
      case 3:
        kind = wire::Kind::kCredit;
        header.mutable_credit()->set_grant(in_.Byte() % 5);
        break;
      case 4: {
        kind = wire::Kind::kRegisterName;
        v1::RegisterName& name = *header.mutable_register_name();
        name.set_name(Pick(kNames));
        name.set_flag(static_cast<v1::NameFlag>(in_.Byte() % 4));
        name.set_allow_replacement((which & 0x10) != 0);
        if ((which & 0x20) != 0) payload = Schema();
        break;
      }
      case 5:
        kind = wire::Kind::kReleaseName;
        header.mutable_release_name()->set_name(Pick(kNames));
        break;
      case 6: {
        kind = wire::Kind::kSubscribe;
        v1::Subscribe& subscribe = *header.mutable_subscribe();
        subscribe.set_subscription_id(in_.Byte() % 8);
        subscribe.set_pattern(Pick(kPatterns));
        subscribe.set_max_messages(in_.Byte() % 6);
        subscribe.set_max_bytes(uint64_t{in_.U16()});
        subscribe.set_policy(static_cast<v1::OverflowPolicy>(in_.Byte() % 5));
        break;
      }
      case 7:
        kind = wire::Kind::kUnsubscribe;
        header.mutable_unsubscribe()->set_subscription_id(in_.Byte() % 8);
        break;
      case 8:
        kind = wire::Kind::kPublish;
        header.mutable_publish()->set_topic(Pick(kTopics));
        if ((which & 0x10) != 0) {
          header.mutable_publish()->set_message_type(Pick(kTypes));
        }
        payload = std::string(in_.ShortString());
        fds = in_.Byte() % 3;
        break;
      case 9:
        kind = wire::Kind::kPing;
        break;
      case 10:
        kind = wire::Kind::kError;
        header.mutable_error()->set_code(in_.Byte() % 17);
        header.mutable_error()->set_message("client error");
        break;
    }
    const std::string bytes =
        kind == wire::Kind::kCancel || kind == wire::Kind::kPing
            ? std::string()
            : header.SerializeAsString();
    Send(from, kind, flags, request_id, bytes, payload, fds);
  }

  // A request for switchboard.Broker's `method`, or input bytes.
  std::string AdminRequest(const std::string& method) {
    const uint8_t shape = in_.Byte();
    if (shape % 4 == 0) return std::string(in_.LongString());
    if (method == "Describe") {
      v1::DescribeRequest request;
      if ((shape & 0x10) != 0) {
        request.set_name(Pick(kNames));
      } else {
        request.set_type(Pick(kTypes));
      }
      return request.SerializeAsString();
    }
    if (method == "RegisterTypes") {
      v1::RegisterTypesRequest request;
      if ((shape & 0x10) != 0) {
        wire::AppendWithImports(v1::BrokerStatus::descriptor()->file(),
                                *request.mutable_files());
      } else {
        *request.mutable_files()->add_file() = VideoFile();
      }
      return request.SerializeAsString();
    }
    if (method == "Monitor") {
      v1::MonitorRequest request;
      request.set_pattern((shape & 0x10) != 0 ? Pick(kPatterns) : "");
      request.set_max_payload_bytes(in_.Byte());
      return request.SerializeAsString();
    }
    if (method == "ListNames" || method == "ListConnections") {
      // Page sizes 0 (the default) to 3, so pages end inside the tables.
      const uint32_t page_size = in_.Byte() % 4;
      const std::string token = Pick(kPageTokens);
      if (method == "ListNames") {
        v1::ListNamesRequest request;
        request.set_page_size(page_size);
        request.set_page_token(token);
        return request.SerializeAsString();
      }
      v1::ListConnectionsRequest request;
      request.set_page_size(page_size);
      request.set_page_token(token);
      return request.SerializeAsString();
    }
    if (method == "StartService") {
      v1::StartServiceRequest request;
      request.set_name(Pick(kNames));
      return request.SerializeAsString();
    }
    return std::string(in_.ShortString());
  }

  // A REGISTER_NAME payload: a ServiceSchema with a method of video.Frame.
  std::string Schema() {
    v1::ServiceSchema schema;
    v1::MethodSchema& method = *schema.add_methods();
    method.set_name(Pick(kMethods));
    method.set_request_type(Pick(kTypes));
    method.set_response_type("video.Frame");
    *schema.mutable_files()->add_file() = VideoFile();
    return schema.SerializeAsString();
  }

  // Two to five small PUBLISH frames of one topic, taken as a run the way
  // the server's decoder does.
  void PublishRun() {
    const Peer& from = Slot();
    v1::Header header;
    header.mutable_publish()->set_topic(Pick(kTopics));
    const size_t count = 2 + in_.Byte() % 4;
    std::string bytes;
    for (size_t i = 0; i < count; ++i) {
      wire::Prefix prefix;
      prefix.kind = wire::Kind::kPublish;
      prefix.sender = 999;
      absl::StrAppend(
          &bytes,
          wire::Frame::Build(prefix, header, in_.ShortString()).bytes());
    }
    wire::Limits limits;
    wire::FrameDecoder decoder(limits);
    decoder.Append(bytes);
    std::optional<wire::PublishRun> run = decoder.TakePublishRun();
    if (!run.has_value()) return;  // frames too large for a run
    SB_FUZZ_CHECK(run->count() == count);
    router_.OnPublishRun(from, std::move(*run), now_);
  }

  void Other() {
    switch (in_.Byte() % 6) {
      case 0:
        outbox_.Write(Slot().id);
        return;
      case 1:
        buffers_pass_ = !buffers_pass_;
        return;
      case 2: {
        if (attempts_.empty()) return;
        const auto& [name, attempt] = attempts_[in_.Byte() % attempts_.size()];
        router_.OnActivationFailed(name, attempt, "exited with status 1");
        return;
      }
      case 3:
        router_.FailAllCalls(absl::UnavailableError("shutting down"));
        SB_FUZZ_CHECK(router_.calls().size() == 0);
        SB_FUZZ_CHECK(router_.monitors().empty());
        SB_FUZZ_CHECK(router_.activations().held_calls() == 0);
        return;
      case 4:
        router_.SampleTraffic(now_);
        (void)router_.Status(now_);
        return;
      case 5:
        outbox_.set_write_now_drains((in_.Byte() & 1) != 0);
        outbox_.set_uid_room_full((in_.Byte() & 1) != 0);
        return;
    }
  }

  fuzz::InputReader& in_;
  const uint8_t config_byte_;
  absl::Time now_ = absl::FromUnixSeconds(5000);
  bool buffers_pass_ = true;
  std::vector<std::pair<std::string, uint64_t>> attempts_;
  uint64_t next_id_ = 1;
  Peer slots_[kSlots];
  // Declared before the router, which holds a reference to it.
  CheckingOutbox outbox_;
  Router router_;
};

}  // namespace
}  // namespace switchboard::core

// Hostile headers make protobuf log a line per parse; keep the run readable.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  switchboard::fuzz::InputReader in(data, size);
  switchboard::core::RouterFuzzer(in).Run();
  return 0;
}
