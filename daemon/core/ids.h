// SPDX-License-Identifier: MIT
//
// Strong ids for what the broker refers to without owning: sessions
// (connections, written ":42") and requests (a caller's or the broker's
// request id from a frame prefix). Distinct types, so a request id can never
// be passed where a session id is expected.
#ifndef SWITCHBOARD_DAEMON_CORE_IDS_H_
#define SWITCHBOARD_DAEMON_CORE_IDS_H_

#include <compare>
#include <cstdint>
#include <ostream>
#include <utility>

namespace switchboard::core {

template <typename Tag>
class Id {
 public:
  constexpr Id() = default;
  constexpr explicit Id(uint64_t value) : value_(value) {}

  constexpr uint64_t value() const { return value_; }
  // 0 is never assigned: it means "none" (the broker itself as a sender).
  constexpr bool valid() const { return value_ != 0; }

  friend constexpr auto operator<=>(const Id&, const Id&) = default;

  template <typename H>
  friend H AbslHashValue(H h, Id id) {
    return H::combine(std::move(h), id.value_);
  }

 private:
  uint64_t value_ = 0;
};

struct SessionIdTag {};
struct RequestIdTag {};

// A connection's id, unique for the broker's lifetime; also its WELCOME
// connection_id and the sender stamped on what it sends.
using SessionId = Id<SessionIdTag>;
// A request id as it appears in a frame prefix.
using RequestId = Id<RequestIdTag>;

inline std::ostream& operator<<(std::ostream& out, SessionId id) {
  return out << ':' << id.value();
}
inline std::ostream& operator<<(std::ostream& out, RequestId id) {
  return out << id.value();
}

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_IDS_H_
