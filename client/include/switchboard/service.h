// SPDX-License-Identifier: MIT
//
// Service: a name plus the methods a program serves under it. Build one, add
// methods (raw bytes or typed protobuf messages), and hand it to
// Client::Serve().
//
//   switchboard::Service frames("video.frames");
//   frames.AddMethod<GetFrameRequest, GetFrameResponse>(
//       "GetFrame", [](const switchboard::CallInfo& call,
//                      const GetFrameRequest& request)
//           -> absl::StatusOr<GetFrameResponse> { ... });
#ifndef SWITCHBOARD_SERVICE_H_
#define SWITCHBOARD_SERVICE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "switchboard/export.h"
#include "switchboard/payload.h"
#include "switchboard/stream.h"

namespace google::protobuf {
class Descriptor;
}  // namespace google::protobuf

namespace switchboard {

// What a handler learns about the call it serves. The caller's identity is
// stamped by the broker and cannot be forged by the caller.
struct CallInfo {
  std::string service;
  std::string method;
  // Protobuf type the caller says the request holds; may be empty.
  std::string request_type;
  uint64_t caller = 0;  // the caller's connection id (":ID")
  uint32_t caller_uid = 0;
  uint32_t caller_pid = 0;
  // When the broker will stop waiting for the reply (estimated from the
  // call's timeout as received). Replying later is harmless but useless.
  absl::Time deadline = absl::InfiniteFuture();
  // Buffers attached to the request (also in the request Payload), for typed
  // methods, whose handlers see only the parsed message.
  std::vector<SharedBuffer> buffers;
  // Whether the caller receives file descriptors: a reply's buffers then
  // travel as descriptors, else the library copies them inline.
  bool caller_accepts_fds = false;
  // For a streaming method: the credit the caller granted up front.
  uint32_t initial_credit = 0;
};

// A typed message with SharedBuffers attached; the message says what the
// buffers are (for example "buffer 0 is the frame's RGBA pixels").
template <typename Message>
struct WithBuffers {
  Message message;
  std::vector<SharedBuffer> buffers;
};

// Serves one method. Returns the reply payload, or a status that reaches the
// caller unchanged (code and message).
using MethodHandler =
    std::function<absl::StatusOr<Payload>(const CallInfo&, const Payload&)>;

// Serves one streaming method: writes the stream's messages with
// `writer.Write()` and returns the final status the caller gets. Each call
// runs on a thread of its own (Write() waits for the caller's credit), at
// most kMaxConcurrentStreams at once per client; more are answered
// RESOURCE_EXHAUSTED. Return once Write() fails: the stream is over.
using StreamHandler = std::function<absl::Status(
    const CallInfo&, const Payload& request, StreamWriter& writer)>;

// Stream handlers one client runs at once.
inline constexpr int kMaxConcurrentStreams = 64;

class SWITCHBOARD_EXPORT Service {
 public:
  explicit Service(std::string name) : name_(std::move(name)) {}

  // Adds (or replaces) a raw-bytes method.
  Service& AddMethod(std::string method, MethodHandler handler) {
    Method entry;
    entry.handler = std::move(handler);
    methods_[std::move(method)] = std::move(entry);
    return *this;
  }

  // Adds a typed method. `fn` is callable as
  //   absl::StatusOr<Response>(const CallInfo&, const Request&)
  // or, to attach buffers to the reply, as
  //   absl::StatusOr<WithBuffers<Response>>(const CallInfo&, const Request&)
  // The request's buffers are in CallInfo::buffers. A request that does not
  // parse as Request answers INVALID_ARGUMENT without calling `fn`.
  template <typename Request, typename Response, typename Fn>
  Service& AddMethod(std::string method, Fn fn) {
    MethodHandler raw = [fn = std::move(fn)](
                            const CallInfo& call,
                            const Payload& bytes) -> absl::StatusOr<Payload> {
      Request request;
      if (!request.ParseFromArray(bytes.data(),
                                  static_cast<int>(bytes.size()))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "request for ", call.service, "/", call.method, " is not a valid ",
            Request::descriptor()->full_name()));
      }
      auto response = fn(call, request);
      if (!response.ok()) return response.status();
      if constexpr (std::is_same_v<std::decay_t<decltype(*response)>,
                                   WithBuffers<Response>>) {
        return Payload(response->message.SerializeAsString(),
                       std::move(response->buffers));
      } else {
        return Payload(response->SerializeAsString());
      }
    };
    Method entry;
    entry.handler = std::move(raw);
    entry.request = Request::descriptor();
    entry.response = Response::descriptor();
    methods_[std::move(method)] = std::move(entry);
    return *this;
  }

  // Adds (or replaces) a streaming method. A plain Call() to it is answered
  // FAILED_PRECONDITION; callers use Client::CallStream().
  Service& AddStreamMethod(std::string method, StreamHandler handler) {
    Method entry;
    entry.stream_handler = std::move(handler);
    methods_[std::move(method)] = std::move(entry);
    return *this;
  }

  // Adds a streaming method whose request is a Request and whose messages
  // are Responses. `fn` is callable as
  //   absl::Status(const CallInfo&, const Request&, StreamWriter&)
  // A request that does not parse answers INVALID_ARGUMENT without calling
  // `fn`.
  template <typename Request, typename Response, typename Fn>
  Service& AddStreamMethod(std::string method, Fn fn) {
    StreamHandler raw = [fn = std::move(fn)](const CallInfo& call,
                                             const Payload& bytes,
                                             StreamWriter& writer) {
      Request request;
      if (!request.ParseFromArray(bytes.data(),
                                  static_cast<int>(bytes.size()))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "request for ", call.service, "/", call.method, " is not a valid ",
            Request::descriptor()->full_name()));
      }
      return fn(call, request, writer);
    };
    Method entry;
    entry.stream_handler = std::move(raw);
    entry.request = Request::descriptor();
    entry.response = Response::descriptor();
    methods_[std::move(method)] = std::move(entry);
    return *this;
  }

  const std::string& name() const { return name_; }

  // Exactly one of handler and stream_handler is set. The types (null for
  // raw methods) go to the broker with the name, so that tools can describe
  // the method and build its requests (docs/PROTOCOL.md 5.1).
  struct Method {
    MethodHandler handler;
    StreamHandler stream_handler;
    const google::protobuf::Descriptor* request = nullptr;
    const google::protobuf::Descriptor* response = nullptr;
  };
  const std::map<std::string, Method>& methods() const { return methods_; }

 private:
  std::string name_;
  std::map<std::string, Method> methods_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICE_H_
