// SPDX-License-Identifier: MIT
//
// libFuzzer target for core::CheckHello, the broker's check of a
// connection's first frame, and core::SecretsEqual, its token comparison.
// The input is: a flags byte (bit 0: the token is required, as on TCP), the
// expected token (length byte + bytes), the frame's kind byte, then the
// header bytes (length byte + bytes, arbitrary protobuf) and the rest as
// payload. Properties, besides no crash, leak or sanitizer report:
//   - SecretsEqual(a, b) == (a == b), for the token against the expected one
//     and for arbitrary pairs taken from the input;
//   - CheckHello succeeds exactly when the kind is HELLO, the header parses
//     as a Header holding a hello, and (when required) the token is
//     non-empty and equal to the expected one; the HELLO it returns is the
//     header's, field for field;
//   - a refusal is kInvalidArgument for a frame that is not a HELLO or does
//     not hold one, kPermissionDenied for a missing or wrong token, each with
//     a message.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/core/handshake.h"
#include "google/protobuf/stubs/logging.h"
#include "switchboard/v1/header.pb.h"
#include "tests/fuzz/fuzz_check.h"
#include "wire/frame.h"
#include "wire/prefix.h"

namespace switchboard::core {
namespace {

void CheckOne(fuzz::InputReader& in) {
  const uint8_t flags = in.Byte();
  const bool token_required = (flags & 1) != 0;
  const std::string expected(in.ShortString());
  wire::Prefix prefix;
  prefix.kind = static_cast<wire::Kind>(1 + in.Byte() % wire::kMaxKind);
  prefix.request_id = in.Byte();
  const absl::string_view header_bytes = in.ShortString();
  const wire::Frame frame = wire::Frame::Build(prefix, header_bytes, in.Rest());

  v1::Header header;
  const bool parses = header.ParseFromArray(
      header_bytes.data(), static_cast<int>(header_bytes.size()));
  const bool is_hello = prefix.kind == wire::Kind::kHello && parses &&
                        header.body_case() == v1::Header::kHello;
  const bool token_ok = !token_required || (!header.hello().token().empty() &&
                                            header.hello().token() == expected);
  SB_FUZZ_CHECK(SecretsEqual(header.hello().token(), expected) ==
                (header.hello().token() == expected));

  const absl::StatusOr<v1::Hello> hello =
      CheckHello(frame, token_required, expected);
  SB_FUZZ_CHECK(hello.ok() == (is_hello && token_ok));
  if (hello.ok()) {
    SB_FUZZ_CHECK(hello->SerializeAsString() ==
                  header.hello().SerializeAsString());
    return;
  }
  SB_FUZZ_CHECK(!hello.status().message().empty());
  if (is_hello) {
    SB_FUZZ_CHECK(hello.status().code() == absl::StatusCode::kPermissionDenied);
  } else {
    SB_FUZZ_CHECK(hello.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace switchboard::core

// Hostile headers make protobuf log a line per parse; keep the run readable.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  switchboard::fuzz::InputReader in(data, size);
  {
    // Arbitrary pairs for SecretsEqual, from a copy of the input.
    switchboard::fuzz::InputReader pairs(data, size);
    const absl::string_view a = pairs.ShortString();
    const absl::string_view b = pairs.ShortString();
    SB_FUZZ_CHECK(switchboard::core::SecretsEqual(a, b) == (a == b));
    SB_FUZZ_CHECK(switchboard::core::SecretsEqual(a, a));
  }
  switchboard::core::CheckOne(in);
  return 0;
}
