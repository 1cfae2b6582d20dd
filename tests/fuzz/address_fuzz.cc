// SPDX-License-Identifier: MIT
//
// libFuzzer target for io::Address::Parse, which reads --listen and
// SWITCHBOARD_ADDRESS. The input is the address text. Properties, besides no
// crash or sanitizer report:
//   - a refusal is kInvalidArgument, and its message quotes the text's start;
//   - what parses formats (ToString) to text that parses back to the same
//     address, and formatting that gives the same text again;
//   - a Unix address has a non-empty path shorter than sun_path, without
//     NUL bytes (a NUL would make bind() use a shorter path than the one
//     shown);
//   - a TCP address has a host that is a whole numeric loopback address
//     (inet_pton of the entire host, so no NUL or trailing garbage hides
//     behind one), and its port is the one written.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "io/address.h"
#include "tests/fuzz/fuzz_check.h"

namespace switchboard::io {
namespace {

bool IsWholeLoopback(const std::string& host) {
  if (host.find('\0') != std::string::npos) return false;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 &&
         IN6_IS_ADDR_LOOPBACK(&v6);
}

bool SameAddress(const Address& a, const Address& b) {
  return a.transport == b.transport && a.path == b.path && a.host == b.host &&
         a.port == b.port;
}

void CheckParse(absl::string_view text) {
  const absl::StatusOr<Address> address = Address::Parse(text);
  if (!address.ok()) {
    SB_FUZZ_CHECK(address.status().code() ==
                  absl::StatusCode::kInvalidArgument);
    SB_FUZZ_CHECK(!address.status().message().empty());
    return;
  }
  if (address->transport == Transport::kUnix) {
    SB_FUZZ_CHECK(absl::StartsWith(text, "unix:"));
    SB_FUZZ_CHECK(!address->path.empty());
    SB_FUZZ_CHECK(address->path.size() < sizeof(sockaddr_un{}.sun_path));
    SB_FUZZ_CHECK(address->path.find('\0') == std::string::npos);
  } else {
    SB_FUZZ_CHECK(absl::StartsWith(text, "tcp:"));
    SB_FUZZ_CHECK(IsWholeLoopback(address->host));
  }
  const std::string formatted = address->ToString();
  const absl::StatusOr<Address> again = Address::Parse(formatted);
  SB_FUZZ_CHECK(again.ok());
  SB_FUZZ_CHECK(SameAddress(*address, *again));
  SB_FUZZ_CHECK(again->ToString() == formatted);
}

}  // namespace
}  // namespace switchboard::io

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  switchboard::io::CheckParse(text);
  return 0;
}
