// SPDX-License-Identifier: MIT
//
// The pure parts of moving a Payload's SharedBuffers over the wire
// (docs/PROTOCOL.md, section 2.5): checks before sending, the inline
// encoding's sizes, and rebuilding a received Payload from a frame and the
// descriptors that came with it. The socket side is FrameWriter (sending)
// and ReceivedFds (receiving).
#ifndef SWITCHBOARD_CLIENT_SRC_BUFFER_TRANSPORT_H_
#define SWITCHBOARD_CLIENT_SRC_BUFFER_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/fd.h"
#include "google/protobuf/repeated_field.h"
#include "switchboard/payload.h"
#include "wire/frame.h"

namespace switchboard::client {

// Errors: kFailedPrecondition naming the first buffer whose size is not
// sealed.
absl::Status CheckSizesSealed(const Payload& payload);

// Whether every buffer has a descriptor (a buffer that arrived inline has
// none, so it can only be sent inline).
bool AllHaveFds(const Payload& payload);

// The payload's length on the wire when its buffers go inline: the message
// followed by every buffer.
uint64_t InlineLength(const Payload& payload);

// The Payload a received CALL or REPLY frame carries: the message, plus
// buffers from `fds` (mapped read-only, in order) and then from the inline
// bytes that `inline_sizes` describes at the end of the payload. The frame
// stays alive as long as the message or an inline buffer is referenced.
// Errors: kInvalidArgument if the inline sizes add up to more than the
// payload; kInternal (or kResourceExhausted) if a descriptor cannot be
// mapped, naming the buffer.
absl::StatusOr<Payload> ReceivedPayload(
    std::shared_ptr<const wire::Frame> frame, std::vector<Fd> fds,
    const google::protobuf::RepeatedField<uint64_t>& inline_sizes);

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_BUFFER_TRANSPORT_H_
