// SPDX-License-Identifier: MIT
#include "io/address.h"

#include <arpa/inet.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace switchboard::io {
namespace {

bool IsLoopback(absl::string_view host) {
  std::string h(host);
  in_addr v4;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

absl::StatusOr<Address> ParseTcp(absl::string_view rest,
                                 absl::string_view text) {
  const size_t colon = rest.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "address '", text, "' has no port; write tcp:127.0.0.1:PORT"));
  }
  absl::string_view host = rest.substr(0, colon);
  absl::string_view port_text = rest.substr(colon + 1);
  if (absl::ConsumePrefix(&host, "[") && !absl::ConsumeSuffix(&host, "]")) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", text, "': unbalanced '[' in host"));
  }
  Address address;
  address.transport = Transport::kTcp;
  address.host = host == "localhost" ? "127.0.0.1" : std::string(host);
  uint32_t port;
  if (!absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "address '", text, "': port '", port_text, "' is not 0..65535"));
  }
  address.port = static_cast<uint16_t>(port);
  if (!IsLoopback(address.host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "address '", text,
        "': TCP is allowed only on a loopback address "
        "(127.0.0.1, [::1] or localhost), so the bus is never reachable from "
        "another machine"));
  }
  return address;
}

}  // namespace

const char* TransportName(Transport transport) {
  return transport == Transport::kUnix ? "unix" : "tcp";
}

absl::StatusOr<Address> Address::Parse(absl::string_view text) {
  // The path and host go to the kernel and inet_pton() as C strings, which
  // end at a NUL: "unix:/a\0b" would bind /a, and "tcp:127.0.0.1\0x:1"
  // would pass the loopback check while showing another host.
  if (const size_t nul = text.find('\0'); nul != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", text.substr(0, nul),
                     "...' has a NUL byte at offset ", nul));
  }
  absl::string_view rest = text;
  if (absl::ConsumePrefix(&rest, "unix:")) {
    if (rest.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "address '", text, "' has an empty path; write unix:/path/to/bus"));
    }
    if (rest.size() >= sizeof(sockaddr_un{}.sun_path)) {
      return absl::InvalidArgumentError(
          absl::StrCat("address '", text, "': socket path is ", rest.size(),
                       " bytes; Unix socket paths must be shorter than ",
                       sizeof(sockaddr_un{}.sun_path)));
    }
    Address address;
    address.path = std::string(rest);
    return address;
  }
  if (absl::ConsumePrefix(&rest, "tcp:")) return ParseTcp(rest, text);
  return absl::InvalidArgumentError(
      absl::StrCat("address '", text,
                   "' must start with unix: or tcp: (e.g. unix:/run/user/1000/"
                   "switchboard/bus or tcp:127.0.0.1:7000)"));
}

std::string Address::ToString() const {
  if (transport == Transport::kUnix) return absl::StrCat("unix:", path);
  if (absl::StrContains(host, ':')) {
    return absl::StrCat("tcp:[", host, "]:", port);
  }
  return absl::StrCat("tcp:", host, ":", port);
}

std::string RuntimeDirectory() {
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && xdg[0] != '\0') {
    return absl::StrCat(xdg, "/switchboard");
  }
  return absl::StrCat("/tmp/switchboard-", ::getuid());
}

std::string DefaultAddress() {
  const char* env = std::getenv("SWITCHBOARD_ADDRESS");
  if (env != nullptr && env[0] != '\0') return env;
  return absl::StrCat("unix:", RuntimeDirectory(), "/bus");
}

std::string TokenPathBeside(absl::string_view unix_socket_path) {
  if (unix_socket_path.empty())
    return absl::StrCat(RuntimeDirectory(), "/token");
  const size_t slash = unix_socket_path.rfind('/');
  if (slash == absl::string_view::npos) return "token";
  return absl::StrCat(unix_socket_path.substr(0, slash + 1), "token");
}

}  // namespace switchboard::io
