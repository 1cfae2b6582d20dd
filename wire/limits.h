// SPDX-License-Identifier: MIT
//
// Size limits a receiver enforces on every frame before allocating for it.
// The broker announces its limits to each client in WELCOME.
#ifndef SWITCHBOARD_WIRE_LIMITS_H_
#define SWITCHBOARD_WIRE_LIMITS_H_

#include <cstdint>

namespace switchboard::wire {

struct Limits {
  uint32_t max_header_bytes = 64 * 1024;
  uint32_t max_payload_bytes = 64 * 1024 * 1024;
  uint8_t max_fds_per_frame = 0;
};

}  // namespace switchboard::wire

#endif  // SWITCHBOARD_WIRE_LIMITS_H_
