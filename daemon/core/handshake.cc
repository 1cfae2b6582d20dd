// SPDX-License-Identifier: MIT
#include "daemon/core/handshake.h"

#include "absl/strings/str_cat.h"

namespace switchboard::core {

bool SecretsEqual(absl::string_view a, absl::string_view b) {
  // Like CRYPTO_memcmp: touch every byte and accumulate differences, with
  // no early exit. `volatile` keeps the compiler from adding one.
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = a.size() < b.size() ? a.size() : b.size();
  for (size_t i = 0; i < n; ++i) {
    diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

absl::StatusOr<v1::Hello> CheckHello(const wire::Frame& frame,
                                     bool token_required,
                                     absl::string_view expected_token) {
  if (frame.kind() != wire::Kind::kHello) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the first frame must be HELLO, got ", wire::KindName(frame.kind())));
  }
  absl::StatusOr<v1::Header> header = frame.ParseHeader();
  if (!header.ok()) return header.status();
  if (header->body_case() != v1::Header::kHello) {
    return absl::InvalidArgumentError(
        "HELLO frame header does not hold a hello");
  }
  v1::Hello hello = std::move(*header->mutable_hello());
  if (token_required) {
    if (hello.token().empty()) {
      return absl::PermissionDeniedError(
          "TCP connections must send the broker's token in HELLO (read it "
          "from the broker's token file)");
    }
    if (!SecretsEqual(hello.token(), expected_token)) {
      return absl::PermissionDeniedError("wrong token in HELLO");
    }
  }
  return hello;
}

}  // namespace switchboard::core
