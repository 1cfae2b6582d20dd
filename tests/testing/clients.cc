// SPDX-License-Identifier: MIT
#include "tests/testing/clients.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/escaping.h"

namespace switchboard {

void PrintTo(const Payload& payload, std::ostream* out) {
  constexpr size_t kMaxShown = 200;
  const absl::string_view bytes = payload.view();
  *out << "Payload(\"" << absl::CHexEscape(bytes.substr(0, kMaxShown))
       << (bytes.size() > kMaxShown ? "\"..." : "\"") << ", " << bytes.size()
       << " bytes)";
}

void PrintTo(NameState state, std::ostream* out) {
  switch (state) {
    case NameState::kOwner:
      *out << "kOwner";
      return;
    case NameState::kQueued:
      *out << "kQueued";
      return;
  }
  *out << "NameState(" << static_cast<int>(state) << ")";
}

namespace testing {

absl::StatusOr<std::unique_ptr<Client>> Connect(
    const BrokerProcess& broker, const std::string& client_name) {
  return Client::Connect(broker.address(), broker.connect_options(client_name));
}

std::unique_ptr<Client> ConnectOrDie(const BrokerProcess& broker,
                                     const std::string& client_name) {
  absl::StatusOr<std::unique_ptr<Client>> client = Connect(broker, client_name);
  if (!client.ok()) {
    std::cerr << "ConnectOrDie(" << broker.address() << ", \"" << client_name
              << "\") failed: " << client.status()
              << "\n--- switchboardd stderr ---\n"
              << broker.ReadStderr() << "--- end of stderr ---" << std::endl;
    std::abort();
  }
  return *std::move(client);
}

}  // namespace testing
}  // namespace switchboard
