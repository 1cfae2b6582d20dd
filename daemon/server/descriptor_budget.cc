// SPDX-License-Identifier: MIT
#include "daemon/server/descriptor_budget.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "io/fd_passing.h"

namespace switchboard::server {

DescriptorBudget DescriptorBudget::ForTable(size_t table) {
  DescriptorBudget budget;
  budget.table = table;
  budget.reserve = kInternalReserve + 2 * io::kMaxFdsPerMessage;
  // A table hardly larger than the reserve still gets a working broker: a
  // few connections, a few descriptors.
  const size_t usable =
      table > budget.reserve + 16 ? table - budget.reserve : 16;
  budget.max_connections = std::max<size_t>(usable * 3 / 4, 8);
  budget.max_connections_per_uid =
      std::max<size_t>(budget.max_connections * 7 / 8, 1);
  budget.max_unauthenticated =
      std::clamp<size_t>(budget.max_connections / 16, 4, 64);
  budget.max_fds_in_flight = std::max<size_t>(usable / 4, 4);
  budget.max_fds_in_flight_per_receiver =
      std::clamp<size_t>(budget.max_fds_in_flight / 4, 1, 1024);
  return budget;
}

size_t RaiseDescriptorLimit(std::string* note) {
  struct rlimit limit;
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    *note = absl::StrCat("cannot read RLIMIT_NOFILE: ", std::strerror(errno));
    return 1024;
  }
  if (limit.rlim_cur < limit.rlim_max) {
    const rlim_t before = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      *note = absl::StrCat("cannot raise RLIMIT_NOFILE from ", before, " to ",
                           limit.rlim_max, ": ", std::strerror(errno));
      limit.rlim_cur = before;
    }
  }
  return limit.rlim_cur == RLIM_INFINITY ? size_t{1} << 20
                                         : static_cast<size_t>(limit.rlim_cur);
}

}  // namespace switchboard::server
