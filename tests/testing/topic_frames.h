// SPDX-License-Identifier: MIT
//
// Hand-made frames for topics and streams (docs/PROTOCOL.md 5.4, 5.5), and
// reading the broker's answers to them on a RawConnection, for tests that
// must see exactly what crosses the wire: which REPLY a SUBSCRIBE gets, how
// many MORE replies the broker forwards before a CREDIT, which frames a
// subscriber that reads nothing is sent.
//
//   ASSERT_THAT(raw.SendFrame(wire::Kind::kSubscribe, 1,
//                             SubscribeHeader(7, "video.>")), IsOk());
//   EXPECT_THAT(ReadReply(raw, 1), IsOkAndHolds(ReplyCodeIs(kOk)));
#ifndef SWITCHBOARD_TESTS_TESTING_TOPIC_FRAMES_H_
#define SWITCHBOARD_TESTS_TESTING_TOPIC_FRAMES_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "switchboard/v1/header.pb.h"
#include "tests/testing/raw_connection.h"
#include "wire/frame.h"

namespace switchboard::testing {

v1::Header SubscribeHeader(
    uint64_t subscription_id, absl::string_view pattern,
    uint32_t max_messages = 0,
    v1::OverflowPolicy policy = v1::OVERFLOW_POLICY_UNSPECIFIED,
    uint64_t max_bytes = 0);
v1::Header UnsubscribeHeader(uint64_t subscription_id);
v1::Header PublishHeader(absl::string_view topic,
                         absl::string_view message_type = "");
// A CALL header; with `initial_credit` > 0 it asks for a stream.
v1::Header CallHeader(absl::string_view service, absl::string_view method,
                      absl::Duration timeout, uint32_t initial_credit = 0);
v1::Header CreditHeader(uint32_t grant);
v1::Header RegisterNameHeader(absl::string_view name);
// A REPLY header with `code` (and a message for errors).
v1::Header ReplyHeader(absl::StatusCode code, absl::string_view message = "");

// A frame of `kind` with the given flags (e.g. wire::kFlagMore), request id,
// header and payload.
std::string EncodeFrameWithFlags(wire::Kind kind, uint16_t flags,
                                 uint64_t request_id, const v1::Header& header,
                                 absl::string_view payload = {});

// The status a REPLY frame carries (an empty header means OK). Errors:
// kInvalidArgument if `frame` is not a REPLY or its header does not parse.
absl::StatusOr<absl::Status> ReplyStatus(const wire::Frame& frame);

// Reads the next frame and requires it to be a REPLY with `request_id`.
// Errors: kFailedPrecondition naming the frame that came instead; those of
// RawConnection::ReadFrame.
absl::StatusOr<wire::Frame> ReadReply(RawConnection& connection,
                                      uint64_t request_id,
                                      absl::Duration timeout);

// Sends a request (SUBSCRIBE, UNSUBSCRIBE, PUBLISH, REGISTER_NAME, ...) and
// returns the status of the REPLY to it, which must be the next frame.
absl::StatusOr<absl::Status> Request(RawConnection& connection, wire::Kind kind,
                                     uint64_t request_id,
                                     const v1::Header& header,
                                     absl::Duration timeout);

// A RawConnection that connected to `address` and completed its handshake
// (with `token` on TCP; `features`, e.g. {"fds"}).
absl::StatusOr<RawConnection> ConnectRaw(
    absl::string_view address, absl::string_view token,
    const std::vector<std::string>& features = {});

// A RawConnection (as ConnectRaw) that subscribed to `pattern` as
// subscription 1 asking for all the broker allows (65536 messages,
// `max_bytes`, DROP_OLDEST) and got OK. The caller then never reads it: a
// subscriber that stalls.
absl::StatusOr<RawConnection> ConnectStalledSubscriber(
    absl::string_view address, absl::string_view token,
    absl::string_view pattern, uint64_t max_bytes);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_TOPIC_FRAMES_H_
