// SPDX-License-Identifier: MIT
#include "daemon/server/buffer_seals.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace switchboard::server {
namespace {

std::string SealNames(int seals) {
  std::vector<std::string> names;
  if (seals & F_SEAL_SHRINK) names.push_back("F_SEAL_SHRINK");
  if (seals & F_SEAL_GROW) names.push_back("F_SEAL_GROW");
  if (seals & F_SEAL_SEAL) names.push_back("F_SEAL_SEAL");
  if (seals & F_SEAL_WRITE) names.push_back("F_SEAL_WRITE");
  return absl::StrJoin(names, "|");
}

}  // namespace

absl::Status CheckBufferSeals(const std::vector<Fd>& fds,
                              bool require_write_seal) {
  int required = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
  if (require_write_seal) required |= F_SEAL_WRITE;
  for (size_t i = 0; i < fds.size(); ++i) {
    const int seals = ::fcntl(fds[i].get(), F_GET_SEALS);
    if (seals < 0) {
      // EINVAL: the file does not support seals, i.e. it is no memfd.
      return absl::InvalidArgumentError(
          absl::StrCat("buffer ", i, " is not a sealable memfd (F_GET_SEALS: ",
                       std::strerror(errno), ")"));
    }
    if (const int missing = required & ~seals; missing != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "buffer ", i, " is not sealed: it lacks ", SealNames(missing)));
    }
  }
  return absl::OkStatus();
}

}  // namespace switchboard::server
