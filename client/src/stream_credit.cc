// SPDX-License-Identifier: MIT
#include "client/src/stream_credit.h"

#include <algorithm>

namespace switchboard::client {

CreditWindow::CreditWindow(uint32_t window)
    : window_(std::max<uint32_t>(window, 1)),
      threshold_(std::max<uint32_t>(window_ / 2, 1)) {}

uint32_t CreditWindow::Take() {
  ++taken_;
  if (taken_ < threshold_) return 0;
  const uint32_t grant = taken_;
  taken_ = 0;
  return grant;
}

}  // namespace switchboard::client
