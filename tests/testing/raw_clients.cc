// SPDX-License-Identifier: MIT
#include "tests/testing/raw_clients.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "switchboard/v1/header.pb.h"
#include "wire/frame.h"
#include "wire/prefix.h"

namespace switchboard::testing {

absl::StatusOr<RawConnection> ConnectRaw(const BrokerProcess& broker) {
  absl::StatusOr<std::string> token = broker.ReadToken();
  if (!token.ok()) return token.status();
  absl::StatusOr<RawConnection> raw = RawConnection::Connect(broker.address());
  if (!raw.ok()) return raw.status();
  if (absl::StatusOr<v1::Welcome> welcome = raw->Handshake(*token);
      !welcome.ok()) {
    return welcome.status();
  }
  return raw;
}

absl::StatusOr<RawConnection> ConnectRawCallee(const BrokerProcess& broker,
                                               const std::string& name,
                                               absl::Duration timeout) {
  absl::StatusOr<RawConnection> callee = ConnectRaw(broker);
  if (!callee.ok()) return callee.status();
  v1::Header claim;
  claim.mutable_register_name()->set_name(name);
  if (absl::Status sent =
          callee->SendFrame(wire::Kind::kRegisterName, 1, claim);
      !sent.ok()) {
    return sent;
  }
  absl::StatusOr<wire::Frame> reply = callee->ReadFrame(timeout);
  if (!reply.ok()) return reply.status();
  if (reply->kind() != wire::Kind::kReply) {
    return absl::InternalError(absl::StrCat("claiming ", name, ": got ",
                                            wire::KindName(reply->kind())));
  }
  absl::StatusOr<v1::Header> header = reply->ParseHeader();
  if (!header.ok()) return header.status();
  if (header->reply().code() != 0) {
    return absl::InternalError(
        absl::StrCat("claiming ", name, ": ", header->reply().message()));
  }
  return callee;
}

}  // namespace switchboard::testing
