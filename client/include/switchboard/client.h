// SPDX-License-Identifier: MIT
//
// libswitchboard: connect to the Switchboard broker, serve named services and
// call methods on other programs.
//
//   absl::StatusOr<std::unique_ptr<switchboard::Client>> client =
//       switchboard::Client::Connect();  // $SWITCHBOARD_ADDRESS or default
//   absl::StatusOr<switchboard::Payload> reply =
//       (*client)->Call("video.frames", "GetFrame", request_bytes);
//
// Threads. A Client runs one background thread, its dispatch thread, from
// the first time it needs one (see "What a client costs"). It
// reads from the broker and runs every handler (Service methods) and every
// CallAsync() callback, one at a time, in the order their frames arrived. A
// handler that takes long delays the others: hand slow work to your own
// threads. A handler's reply is written when the handler returns, before
// the next handler starts, so a slow handler delays only the calls behind
// it, never the replies of those before it. Every public method is
// thread-safe and may be called from any thread, including from handlers
// and callbacks (except WaitForService(), which waits for what the dispatch
// thread delivers); a synchronous Call() made inside a handler reads its own
// reply, and frames that arrive meanwhile wait until the handler returns.
// The destructor must not run on the dispatch thread (not from a handler or
// callback), nor on a stream handler's thread.
// Stream handlers (Service::AddStreamMethod) are the exception to "one at a
// time": each runs on a thread of its own. The dispatch thread also
// reconnects (see "Reconnect") and runs the OnConnectionChange() callback.
//
// Your own loop (ConnectOptions::threading = Threading::kOwnLoop). The
// client starts no thread. Poll fd() for input (POLLIN; it is an epoll
// descriptor) with a timeout of at most ProcessTimeout(), and call
// Process() when it is readable or the timeout passed: Process() runs, on
// the calling thread, everything the dispatch thread would run (reading,
// handlers, callbacks, call deadlines, writing queued messages, reconnect
// attempts), never waiting for input, and returns. "The dispatch thread"
// in this header then means "the thread inside Process()". Synchronous
// calls (Call, Serve, Subscribe, ...) work from any thread, inside or
// outside Process(); published messages are written by the next Process()
// (or once 64 KiB are queued), so call it soon after publishing;
// ReplyStream::Next() never waits (it returns kFailedPrecondition until a
// message is there: take messages after Process()); WaitForService() is
// refused (use WatchName()). A reconnect attempt runs inside Process() and
// may take up to ConnectOptions::timeout; requests made while disconnected
// fail kUnavailable at once instead of waiting (CallAsync() still parks its
// call until its deadline). Stream handlers still run on threads of their
// own.
//
// What a client costs. A client that only makes synchronous requests
// (Call, PublishConfirmed, Ping, Release, connected()) holds 1 descriptor,
// its socket, and no thread: each caller reads its own reply. The first
// use of anything delivered later (Serve, Subscribe, WatchName,
// WaitForService, Publish, CallAsync, CallStream, OnNameChange,
// OnConnectionChange) starts the dispatch thread, which then runs until the
// client is destroyed, and 3 more descriptors (a duplicate of the socket
// for the write watch, an epoll set and an eventfd): 4 descriptors and 1
// thread. So does a reconnect. Own-loop mode: 4 descriptors from Connect()
// on, no thread. Each running stream handler adds a thread. A client
// without its dispatch thread notices a broken connection at its next
// request, which then waits for the reconnect as usual; connected() asks
// the socket. Should the dispatch thread fail to start (EAGAIN, EMFILE),
// the operation that needed it fails with kResourceExhausted (CallAsync()
// runs `done` with it on the calling thread) and the client closes.
//
// Signals and fork(). The library's threads (named sb-dispatch and
// sb-stream, as `top -H` shows them) block every signal, so a
// signal sent to the process is delivered to one of the application's
// threads. A Client does not survive fork(): the child has none of its
// threads, so in the child neither use nor destroy a Client made before the
// fork (exec, or leave it be); connect a new one. The parent's Client is
// unaffected. The connection's descriptors are close-on-exec.
//
// Reconnect. When the connection to the broker breaks (a broker that
// stopped, crashed or restarted, including a clean stop that announced
// itself with `shutting_down`), the client reconnects to the same address
// with backoff (ReconnectOptions; on by default) and restores, in order:
// the names it serves, with the ServeOptions they were served with; its
// subscriptions, under the same ids, patterns, limits and policies (name
// watches too); and the message types it has published. Then it reports
// kConnected. Across the gap:
//   - calls and streams in flight when the connection broke end once, with
//     kUnavailable (the callee may or may not have run the call);
//   - requests made while disconnected (Call, Serve, Subscribe, Publish,
//     ...) wait for the reconnect, up to their timeout, then fail
//     kUnavailable; CallAsync() returns at once and its call waits the
//     same way. Made on the dispatch thread, which does the reconnecting,
//     they fail kUnavailable at once. Unsubscribe() and Release() while
//     disconnected take effect locally at once;
//   - every subscription gets a DropReport with reason "reconnected" and
//     count 0 (the number missed is unknown): messages published meanwhile
//     are lost, never silently;
//   - a name another connection took meanwhile is reported to the
//     OnNameChange() callback as lost (owned == false), and no longer
//     served; a queued name that came to this client is reported gained.
// Connection ids change with each connection (connection_id()). A
// connection the broker closed on purpose, with an error other than
// kUnavailable (a limit, such as a subscription's kDisconnect policy, or a
// protocol error), is not reopened: the client closes with that error.
//
// Handles. Subscribe() and WatchName() return a Subscription, which ends
// the subscription when it is dropped (switchboard/subscription.h);
// CallAsync() returns a PendingCall, with which the call can be cancelled
// (switchboard/pending_call.h). A handle may be dropped on any thread,
// including the dispatch thread inside a callback, even its own
// subscription's. Neither kind keeps the Client alive, and both may outlive
// it: they do nothing then. If ~Client runs while another thread drops a
// handle, ~Client waits for that unsubscribe to finish first.
//
// Errors. Every call ends with exactly one result: the callee's reply or
// status, or one of these from the broker or the library:
//   kNotFound           no connection owns the service name
//   kUnavailable        the callee went away mid-call, or the broker did,
//                       or no connection came back within the timeout
//   kDeadlineExceeded   no reply within the timeout
//   kResourceExhausted  the callee's queue is full, or a size limit was hit
//   kInvalidArgument    a malformed service or method name
//   kCancelled          this Client was closed while the call was pending,
//                       or CallAsync()'s PendingCall::Cancel() gave it up
//   kFailedPrecondition an attached SharedBuffer is not size-sealed
#ifndef SWITCHBOARD_CLIENT_H_
#define SWITCHBOARD_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "switchboard/export.h"
#include "switchboard/message.h"
#include "switchboard/payload.h"
#include "switchboard/pending_call.h"
#include "switchboard/service.h"
#include "switchboard/shared_buffer.h"
#include "switchboard/stream.h"
#include "switchboard/subscription.h"
#include "switchboard/v1/identity.pb.h"

namespace switchboard {

inline constexpr absl::Duration kDefaultCallTimeout = absl::Seconds(30);

// What the client does when its connection to the broker breaks (the broker
// stopped, crashed or restarted). See "Reconnect" above.
struct ReconnectOptions {
  // Off: a lost connection stays lost; every later request fails
  // kUnavailable, as connected() says.
  bool enabled = true;
  // Wait before the second attempt (the first is made at once); each
  // further wait doubles, up to max_delay. Each wait is shortened by a
  // random part of up to half, so that the clients of a restarted broker do
  // not all come back at the same instant.
  absl::Duration first_delay = absl::Milliseconds(10);
  absl::Duration max_delay = absl::Milliseconds(500);
  // Gives up after this long without a connection: the client is then
  // closed for good (ConnectionState::kClosed) and requests fail
  // kUnavailable at once. Infinite by default: a bus started at login comes
  // back.
  absl::Duration give_up_after = absl::InfiniteDuration();
};

// Who runs the client's handlers and callbacks.
enum class Threading {
  // A thread of the client's own, its dispatch thread (see "Threads").
  kDispatchThread,
  // No thread: the application polls fd() in its own loop (a GUI's main
  // loop, an event library's) and calls Process(), which does on the
  // calling thread what the dispatch thread would (see "Your own loop").
  kOwnLoop,
};

struct ConnectOptions {
  // Shown by admin tools; defaults to the program's name.
  std::string client_name;
  // TCP only: file holding the broker's token. Default:
  // $SWITCHBOARD_TOKEN_FILE, else the "token" file in the runtime folder
  // ($XDG_RUNTIME_DIR/switchboard or /tmp/switchboard-$UID). Read again for
  // each reconnect, so a restarted broker's new token is picked up.
  std::string token_file;
  // Limit for connecting plus the HELLO/WELCOME handshake (also for each
  // reconnect attempt).
  absl::Duration timeout = absl::Seconds(5);
  ReconnectOptions reconnect;
  Threading threading = Threading::kDispatchThread;
};

// The connection's life, as Client::OnConnectionChange() reports it.
enum class ConnectionState {
  kDisconnected,  // the connection broke; `reason` says how
  kReconnecting,  // an attempt failed (`reason`); another follows
  kConnected,     // connected again, names and subscriptions restored
  kClosed,        // for good: reconnect is off or gave up
};
struct ConnectionEvent {
  ConnectionState state = ConnectionState::kConnected;
  // Why the connection broke or the attempt failed; OK for kConnected.
  absl::Status reason;
  // kConnected: the new connection's id. Otherwise the last one's.
  uint64_t connection_id = 0;
  // Attempts made since the connection broke.
  int attempts = 0;
};
using ConnectionCallback = std::function<void(const ConnectionEvent&)>;

// How Serve() claims a name that another connection may own.
enum class NameClaim {
  kFailIfOwned,  // kAlreadyExists if owned (default)
  kReplace,  // take it, if the owner allowed replacement; else kAlreadyExists
  kQueue,    // wait in line; become owner when the owner releases it
};

struct ServeOptions {
  NameClaim claim = NameClaim::kFailIfOwned;
  // Whether a later Serve() with kReplace may take the name from us.
  bool allow_replacement = false;
};

enum class NameState {
  kOwner,   // calls to the name now reach this client
  kQueued,  // waiting in line for the name
};

// Called on the dispatch thread when this client gains (owned == true) or
// loses (owned == false) a name after Serve() returned.
using NameCallback = std::function<void(absl::string_view name, bool owned)>;

using CallCallback = std::function<void(absl::StatusOr<Payload>)>;

// One report of a name-owner watch (Client::WatchName()).
struct NameOwner {
  std::string name;
  // The owner's connection id (":ID"); 0 when the name has no owner.
  uint64_t owner = 0;
  // The owner the watch's previous report gave (0 in the first report, or
  // when the name had none). Changes the watch did not see one by one (see
  // WatchName()) are folded into one report.
  uint64_t previous_owner = 0;
  // True for the first report: the owner when the watch started.
  bool initial = false;
};
using NameOwnerCallback = std::function<void(const NameOwner&)>;

struct WaitForServiceOptions {
  // Whether to start the program of an activatable name nobody owns (as a
  // call to the name would, switchboard.Broker/StartService) instead of
  // only waiting. Off by default: a program that waits for a peer usually
  // expects it to come up by itself (started by the session, systemd or a
  // test), and asking a question should not start programs as a side
  // effect. `switchboard wait` turns it on, so that it never waits for a
  // program nobody will start.
  bool start_activatable = false;
};

class SWITCHBOARD_EXPORT Client {
 public:
  // Connects and performs the handshake. `address` is "unix:PATH" or
  // "tcp:127.0.0.1:PORT"; empty means $SWITCHBOARD_ADDRESS, else the
  // default ($XDG_RUNTIME_DIR/switchboard/bus or /tmp/switchboard-$UID/bus).
  // Errors: kUnavailable if no broker answers; kInvalidArgument for a bad
  // address; kPermissionDenied for a wrong TCP token; kUnimplemented if the
  // broker speaks another protocol version; kDeadlineExceeded on timeout;
  // kResourceExhausted when the process lacks the descriptors, memory or
  // thread a client needs (EMFILE, ENOMEM, EAGAIN): never an abort.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(
      absl::string_view address = "", const ConnectOptions& options = {});

  // Closes the connection; pending calls and streams end with kCancelled.
  // Running stream handlers see Write() fail with kUnavailable; the
  // destructor waits for them to return. Published messages still queued
  // are written first if the socket takes them at once (it does not wait:
  // PublishConfirmed() is the way to know a message reached the broker).
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // This connection's id as the broker assigned it (shown as ":ID").
  uint64_t connection_id() const;
  // The address connected to, in canonical form.
  const std::string& address() const;
  // Largest payload the broker accepts, announced in its WELCOME.
  uint64_t max_payload_bytes() const;
  // False while the connection to the broker is lost (until a reconnect
  // restored it) and once the client is closed.
  bool connected() const;
  // Replaces the callback for changes of the connection's state. It runs on
  // the dispatch thread, in order: kDisconnected, then kReconnecting for
  // each failed attempt, then kConnected or kClosed.
  void OnConnectionChange(ConnectionCallback callback);

  // Own-loop mode (see "Your own loop"). The descriptor to poll for POLLIN;
  // -1 for a client with a dispatch thread.
  int fd() const;
  // How long the application may wait for fd() before it must call
  // Process() anyway (a call's deadline, a reconnect attempt): zero when
  // work is ready now, absl::InfiniteDuration() when nothing is due.
  absl::Duration ProcessTimeout() const;
  // Runs what is ready on the calling thread and returns without waiting.
  // Errors: kFailedPrecondition for a client with a dispatch thread, when
  // called from a handler or callback that Process() runs, or while
  // another thread is inside Process().
  absl::Status Process();

  // Claims `service.name()` and serves its methods. Calls for methods the
  // service lacks are answered kUnimplemented. Errors: kAlreadyExists if the
  // name is owned and `options` do not allow taking it, or if this client
  // already serves (or queues for) the name, whatever `options` say:
  // Release() it first to serve other methods under it; kInvalidArgument for
  // a malformed or reserved name; kUnavailable if the broker is gone.
  absl::StatusOr<NameState> Serve(Service service,
                                  const ServeOptions& options = {});
  // Gives up a name (or leaves its queue) and stops serving it.
  // Errors: kNotFound if this client neither owns nor queues for it.
  absl::Status Release(absl::string_view name);
  // Replaces the callback for later name gains and losses.
  void OnNameChange(NameCallback callback);

  // Waiting for services (the broker's switchboard.name.NAME events,
  // docs/PROTOCOL.md 6.2).
  //
  // Returns the connection id of `name`'s owner as soon as it has one: at
  // once if it has one now. Race-free: it subscribes to the name's events
  // before it asks for the current owner, so an owner that arrives in
  // between is never missed. `timeout` bounds the wait for an owner to
  // appear (absl::InfiniteDuration() waits as long as it takes); the answer
  // about the current owner is always awaited, so a zero timeout checks
  // without waiting. See WaitForServiceOptions for starting activatable
  // services. Errors: kInvalidArgument for a malformed name or one under
  // "switchboard." (the broker's); kDeadlineExceeded, naming the name, when
  // no owner came within `timeout`; kFailedPrecondition on the dispatch
  // thread (inside a handler or callback), which must stay free to deliver
  // the events waited for (use WatchName() there); the connection's error
  // (kUnavailable) if it drops; with start_activatable, the errors of a
  // failed start (kUnavailable naming why).
  absl::StatusOr<uint64_t> WaitForService(
      absl::string_view name, absl::Duration timeout,
      const WaitForServiceOptions& options = {});

  // Watches who owns `name`. `callback` runs on the dispatch thread: first
  // with the owner when the watch started (owner 0 if none, initial true),
  // then once per change, in the order the broker made them: a claim, a
  // release, a replacement (kReplace), a queued connection taking over, an
  // owner that disconnected. Returns the watch's handle once the broker
  // confirmed the subscription; dropping the handle (or its Unsubscribe())
  // ends the watch, after which the callback does not run (as for
  // Subscribe()). The first report comes shortly after this returns, so it
  // can be called from handlers and callbacks too. If the broker drops events
  // for the watch (its queue full), the watch asks for the owner again and
  // reports it if it changed: a report is never wrong for long, but changes in
  // between are folded into one. If the broker cannot answer the question
  // (other than for lack of an owner), the next change is the first report. The
  // watch ends with the connection. Errors: kInvalidArgument as
  // WaitForService(); those of Subscribe().
  absl::StatusOr<Subscription> WatchName(absl::string_view name,
                                         NameOwnerCallback callback);

  // Calls `service`/`method` and waits for the reply. See "Errors" above.
  absl::StatusOr<Payload> Call(absl::string_view service,
                               absl::string_view method, Payload request,
                               absl::Duration timeout = kDefaultCallTimeout);

  // Typed call: serializes `request`, parses the reply as Response
  // (kInternal if it does not parse).
  template <typename Response>
  absl::StatusOr<Response> Call(absl::string_view service,
                                absl::string_view method,
                                const google::protobuf::Message& request,
                                absl::Duration timeout = kDefaultCallTimeout) {
    absl::StatusOr<Payload> reply =
        CallWithType(service, method, Payload(request.SerializeAsString()),
                     request.GetTypeName(), timeout);
    if (!reply.ok()) return reply.status();
    Response response;
    if (!response.ParseFromArray(reply->data(),
                                 static_cast<int>(reply->size()))) {
      return absl::InternalError("reply from " + std::string(service) + "/" +
                                 std::string(method) + " is not a valid " +
                                 response.GetTypeName());
    }
    return response;
  }

  // Typed call with buffers both ways: `buffers` travel with `request`, and
  // the reply's buffers come back with the parsed Response. Buffers must be
  // size-sealed. Errors as Call(), plus kFailedPrecondition for an unsealed
  // buffer and kResourceExhausted when buffers must go inline (TCP, or a
  // callee that does not take descriptors) and exceed max_payload_bytes().
  template <typename Response>
  absl::StatusOr<WithBuffers<Response>> CallWithBuffers(
      absl::string_view service, absl::string_view method,
      const google::protobuf::Message& request,
      std::vector<SharedBuffer> buffers,
      absl::Duration timeout = kDefaultCallTimeout) {
    absl::StatusOr<Payload> reply =
        CallWithType(service, method,
                     Payload(request.SerializeAsString(), std::move(buffers)),
                     request.GetTypeName(), timeout);
    if (!reply.ok()) return reply.status();
    WithBuffers<Response> out;
    if (!out.message.ParseFromArray(reply->data(),
                                    static_cast<int>(reply->size()))) {
      return absl::InternalError("reply from " + std::string(service) + "/" +
                                 std::string(method) + " is not a valid " +
                                 out.message.GetTypeName());
    }
    out.buffers = reply->buffers();
    return out;
  }

  // Starts a call; `done` runs exactly once on the dispatch thread with the
  // reply or the error (see "Errors" above), or with kCancelled once the
  // returned handle's Cancel() gave up on the call. Returns immediately. The
  // handle may be ignored: dropping it does not cancel the call. If the call
  // cannot start (kUnavailable, a payload too large, ...), `done` gets that
  // error on the dispatch thread (on the calling thread if the dispatch
  // thread could not start) and the handle is empty.
  PendingCall CallAsync(absl::string_view service, absl::string_view method,
                        Payload request, absl::Duration timeout,
                        CallCallback done);

  // Round trip to the broker. Errors: kUnavailable, kDeadlineExceeded.
  absl::Status Ping(absl::Duration timeout = absl::Seconds(5));

  // Who connection `connection_id` is, as the kernel told the broker when
  // it connected (switchboard.v1.Identity: uid, gid, groups, pid with the
  // process's start time, executable, systemd unit; docs/SECURITY.md,
  // "Identity"). A handler asks about its caller with CallInfo::caller.
  // Answers are kept (an id is never reused), so asking again costs no
  // round trip. Errors: kNotFound once that connection is gone;
  // kUnavailable, kDeadlineExceeded.
  absl::StatusOr<v1::Identity> GetIdentity(
      uint64_t connection_id, absl::Duration timeout = kDefaultCallTimeout);

  // Streams (switchboard/stream.h). Starts a streamed call and returns at
  // once; the stream's messages and its end come from ReplyStream::Next().
  // Errors here: kInvalidArgument (malformed names, window 0),
  // kUnavailable, and those of Call() for the request's size and buffers.
  absl::StatusOr<std::unique_ptr<ReplyStream>> CallStream(
      absl::string_view service, absl::string_view method, Payload request,
      const StreamOptions& options = {});
  absl::StatusOr<std::unique_ptr<ReplyStream>> CallStream(
      absl::string_view service, absl::string_view method,
      const google::protobuf::Message& request,
      const StreamOptions& options = {});

  // Topics (switchboard/message.h).
  //
  // Publishes `message` on `topic` and returns without waiting for the
  // broker: frames are batched, so a burst of Publish() calls costs few
  // system calls. Messages from one client reach each subscriber in the
  // order published. When more than 4 MiB of this client's output waits to
  // be written, Publish() waits for room, up to `timeout`. Errors:
  // kInvalidArgument (malformed topic), kPermissionDenied (a topic under
  // "switchboard."), kResourceExhausted (over max_payload_bytes, or no room
  // within `timeout`), kFailedPrecondition (an unsealed SharedBuffer),
  // kUnavailable (not connected). Buffers travel as descriptors on Unix
  // sockets; a subscriber that takes none drops the message and is told
  // (DropReport), so publish buffers inline (SharedBuffer copies) where such
  // subscribers matter.
  absl::Status Publish(absl::string_view topic, Payload message,
                       absl::string_view message_type = "",
                       absl::Duration timeout = kDefaultCallTimeout);
  // Serializes `message` and publishes it with its type name. The first
  // publish of each type also sends the broker the files defining it
  // (switchboard.Broker/RegisterTypes), so that tools such as
  // `switchboard subscribe` can decode it.
  absl::Status Publish(absl::string_view topic,
                       const google::protobuf::Message& message,
                       absl::Duration timeout = kDefaultCallTimeout);
  // Publishes and waits for the broker to say how many subscriptions took
  // the message. Errors as Publish(), plus kDeadlineExceeded.
  absl::StatusOr<PublishResult> PublishConfirmed(
      absl::string_view topic, Payload message,
      absl::string_view message_type = "",
      absl::Duration timeout = kDefaultCallTimeout);
  // Serializes `message` and publishes it with its type name (registered as
  // by the typed Publish()), waiting as above.
  absl::StatusOr<PublishResult> PublishConfirmed(
      absl::string_view topic, const google::protobuf::Message& message,
      absl::Duration timeout = kDefaultCallTimeout);

  // Subscribes to the topics `pattern` matches; `on_message` runs on the
  // dispatch thread for each message. Returns the subscription's handle
  // once the broker has confirmed it: a message published after
  // Subscribe() returns reaches it. The subscription lives as long as the
  // handle (switchboard/subscription.h): keep it for as long as the
  // messages matter, or Release() it and end it with Unsubscribe(id).
  // Errors: kInvalidArgument (malformed pattern), kResourceExhausted (too
  // many subscriptions), kUnavailable.
  absl::StatusOr<Subscription> Subscribe(absl::string_view pattern,
                                         MessageCallback on_message,
                                         const SubscribeOptions& options = {});
  // Ends the subscription with id `subscription` (one a handle released,
  // or any handle's id(): the handle then finds it ended); its callback is
  // not called after this returns (unless Unsubscribe() runs on the
  // dispatch thread inside that very callback). Errors: kNotFound for an
  // unknown id, kUnavailable.
  absl::Status Unsubscribe(uint64_t subscription);
  // Counters of a live subscription (also Subscription::stats()); kNotFound
  // for an unknown id.
  absl::StatusOr<SubscriptionStats> GetSubscriptionStats(
      uint64_t subscription) const;

 private:
  class Impl;
  friend class client::HandleLink;
  explicit Client(std::unique_ptr<Impl> impl);
  absl::StatusOr<Payload> CallWithType(absl::string_view service,
                                       absl::string_view method,
                                       Payload request,
                                       absl::string_view request_type,
                                       absl::Duration timeout);

  std::unique_ptr<Impl> impl_;
  // Shared with the handles given out; detached by ~Client before impl_
  // goes.
  std::shared_ptr<client::HandleLink> link_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENT_H_
