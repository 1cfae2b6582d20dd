// SPDX-License-Identifier: MIT
#include "tests/testing/transport.h"

namespace switchboard::testing {

const char* TransportName(Transport transport) {
  switch (transport) {
    case Transport::kUnix:
      return "Unix";
    case Transport::kTcp:
      return "Tcp";
  }
  return "Unknown";
}

void PrintTo(Transport transport, std::ostream* out) {
  *out << TransportName(transport);
}

std::string TransportTestName(const ::testing::TestParamInfo<Transport>& info) {
  return TransportName(info.param);
}

}  // namespace switchboard::testing
