// SPDX-License-Identifier: MIT
#include "switchboard/payload.h"

#include <memory>
#include <string>
#include <utility>

namespace switchboard {

Payload::Payload(std::string bytes) {
  if (bytes.empty()) return;
  auto owned = std::make_shared<const std::string>(std::move(bytes));
  view_ = *owned;
  owner_ = std::move(owned);
}

Payload::Payload(std::shared_ptr<const std::string> bytes) {
  if (bytes == nullptr) return;
  view_ = *bytes;
  owner_ = std::move(bytes);
}

}  // namespace switchboard
