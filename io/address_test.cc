// SPDX-License-Identifier: MIT
#include "io/address.h"

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace switchboard::io {
namespace {

TEST(AddressTest, ParsesUnixAndTcpAndPrintsThemBack) {
  absl::StatusOr<Address> unix_address = Address::Parse("unix:/run/x/bus");
  ASSERT_TRUE(unix_address.ok());
  EXPECT_EQ(unix_address->transport, Transport::kUnix);
  EXPECT_EQ(unix_address->path, "/run/x/bus");
  EXPECT_EQ(unix_address->ToString(), "unix:/run/x/bus");

  absl::StatusOr<Address> tcp = Address::Parse("tcp:127.0.0.1:7000");
  ASSERT_TRUE(tcp.ok());
  EXPECT_EQ(tcp->transport, Transport::kTcp);
  EXPECT_EQ(tcp->host, "127.0.0.1");
  EXPECT_EQ(tcp->port, 7000);
  EXPECT_EQ(tcp->ToString(), "tcp:127.0.0.1:7000");

  absl::StatusOr<Address> v6 = Address::Parse("tcp:[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "tcp:[::1]:0");
  EXPECT_EQ(Address::Parse("tcp:localhost:5")->host, "127.0.0.1");
}

TEST(AddressTest, RefusesNonLoopbackTcp) {
  for (const char* text : {"tcp:0.0.0.0:7000", "tcp:192.168.1.2:7000",
                           "tcp:[::]:7000", "tcp:example.com:1"}) {
    absl::StatusOr<Address> address = Address::Parse(text);
    EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument)
        << text;
  }
  EXPECT_NE(
      Address::Parse("tcp:0.0.0.0:7000").status().message().find("loopback"),
      absl::string_view::npos);
}

// Issue 12: found by address_fuzz. A NUL ended the path or host early
// where the kernel and inet_pton() read them, so the address used was not
// the one shown.
TEST(AddressTest, Issue12RefusesNulBytes) {
  using std::string_literals::operator""s;
  for (const std::string& text :
       {"unix:/tmp/a\0b"s, "tcp:127.0.0.1\0.example.com:7000"s,
        "tcp:[::1\0]:7000"s, "unix:\0"s}) {
    absl::StatusOr<Address> address = Address::Parse(text);
    EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(address.status().message().find("NUL"), absl::string_view::npos);
  }
}

TEST(AddressTest, RefusesMalformedAddresses) {
  for (const char* text :
       {"", "bus", "unix:", "tcp:127.0.0.1", "tcp:127.0.0.1:70000",
        "tcp:127.0.0.1:x", "tcp:[::1:5"}) {
    EXPECT_EQ(Address::Parse(text).status().code(),
              absl::StatusCode::kInvalidArgument)
        << text;
  }
  EXPECT_FALSE(Address::Parse("unix:/" + std::string(200, 'a')).ok());
}

TEST(AddressTest, DefaultFollowsTheEnvironment) {
  ::setenv("SWITCHBOARD_ADDRESS", "unix:/somewhere/bus", 1);
  EXPECT_EQ(DefaultAddress(), "unix:/somewhere/bus");
  ::unsetenv("SWITCHBOARD_ADDRESS");
  ::setenv("XDG_RUNTIME_DIR", "/run/user/77", 1);
  EXPECT_EQ(DefaultAddress(), "unix:/run/user/77/switchboard/bus");
  ::unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(RuntimeDirectory().rfind("/tmp/switchboard-", 0), 0u);
}

TEST(AddressTest, TokenLivesBesideTheSocket) {
  EXPECT_EQ(TokenPathBeside("/run/user/1/switchboard/bus"),
            "/run/user/1/switchboard/token");
  EXPECT_EQ(TokenPathBeside("bus"), "token");
}

}  // namespace
}  // namespace switchboard::io
