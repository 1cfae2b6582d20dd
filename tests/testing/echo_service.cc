// SPDX-License-Identifier: MIT
#include "tests/testing/echo_service.h"

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "switchboard/payload.h"
#include "switchboard/stream.h"

namespace switchboard::testing {

Service EchoService(const std::string& name) {
  Service service(name);
  service.AddMethod(
      "Echo",
      [](const CallInfo&, const Payload& request) -> absl::StatusOr<Payload> {
        return Payload::Copy(request.view());
      });
  service.AddStreamMethod(
      "Count",
      [](const CallInfo&, const Payload&, StreamWriter& out) -> absl::Status {
        for (int i = 0; i < 3; ++i) {
          if (absl::Status s = out.Write(Payload(absl::StrCat(i))); !s.ok()) {
            return s;
          }
        }
        return absl::OkStatus();
      });
  service.AddStreamMethod(
      "Ticks",
      [](const CallInfo&, const Payload&, StreamWriter& out) -> absl::Status {
        for (int i = 0;; ++i) {
          if (absl::Status s = out.Write(Payload(absl::StrCat(i))); !s.ok()) {
            return s;
          }
        }
      });
  return service;
}

}  // namespace switchboard::testing
