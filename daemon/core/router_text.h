// SPDX-License-Identifier: MIT
//
// Text(): the router's parts build error messages from ids (which print
// as ":42") and numbers with it. Internal to daemon/core.
#ifndef SWITCHBOARD_DAEMON_CORE_ROUTER_TEXT_H_
#define SWITCHBOARD_DAEMON_CORE_ROUTER_TEXT_H_

#include <sstream>
#include <string>

namespace switchboard::core {

template <typename... Parts>
std::string Text(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_ROUTER_TEXT_H_
