// SPDX-License-Identifier: MIT
//
// SB_RETURN_IF_ERROR and SB_ASSIGN_OR_RETURN: early returns on a failed
// absl::Status or absl::StatusOr, which our Abseil does not provide.
// Public, so applications can use them with the library's StatusOr results;
// the project's own code includes this same header.
#ifndef SWITCHBOARD_STATUS_MACROS_H_
#define SWITCHBOARD_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SB_RETURN_IF_ERROR(expr)                              \
  do {                                                        \
    if (absl::Status sb_status_ = (expr); !sb_status_.ok()) { \
      return sb_status_;                                      \
    }                                                         \
  } while (false)

#define SB_STATUS_CONCAT_INNER_(a, b) a##b
#define SB_STATUS_CONCAT_(a, b) SB_STATUS_CONCAT_INNER_(a, b)

#define SB_ASSIGN_OR_RETURN(lhs, expr)                                      \
  SB_ASSIGN_OR_RETURN_IMPL_(SB_STATUS_CONCAT_(sb_statusor_, __LINE__), lhs, \
                            expr)

#define SB_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)     \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)

#endif  // SWITCHBOARD_STATUS_MACROS_H_
