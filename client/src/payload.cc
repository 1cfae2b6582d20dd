// SPDX-License-Identifier: MIT
#include "switchboard/payload.h"

#include <cstring>
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

Payload Payload::Copy(absl::string_view bytes) {
  if (bytes.empty()) return Payload();
  std::shared_ptr<char[]> owned =
      std::make_shared_for_overwrite<char[]>(bytes.size());
  std::memcpy(owned.get(), bytes.data(), bytes.size());
  const absl::string_view view(owned.get(), bytes.size());
  return Payload(std::shared_ptr<const void>(std::move(owned)), view);
}

Payload::Payload(std::shared_ptr<const std::string> bytes) {
  if (bytes == nullptr) return;
  view_ = *bytes;
  owner_ = std::move(bytes);
}

}  // namespace switchboard
