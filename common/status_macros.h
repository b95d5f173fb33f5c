// Early-return helpers for absl::Status / absl::StatusOr, shared by every component.
#ifndef ACME_SIGNER_COMMON_STATUS_MACROS_H_
#define ACME_SIGNER_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ACME_SIGNER_CONCAT_INNER_(a, b) a##b
#define ACME_SIGNER_CONCAT_(a, b) ACME_SIGNER_CONCAT_INNER_(a, b)

// RETURN_IF_ERROR(expr): evaluates an absl::Status expression and returns it when not OK.
#define RETURN_IF_ERROR(expr)                 \
  do {                                        \
    ::absl::Status _status = (expr);          \
    if (!_status.ok()) return _status;        \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates an absl::StatusOr<T>; on error returns the status,
// otherwise moves the value into lhs (which may be a declaration: `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(ACME_SIGNER_CONCAT_(_status_or_, __LINE__), lhs, expr)

#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                           \
  if (!statusor.ok()) return statusor.status();     \
  lhs = std::move(statusor).value()

#endif  // ACME_SIGNER_COMMON_STATUS_MACROS_H_
