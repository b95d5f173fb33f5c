// The audit logs' group commits in the process metrics (common/metrics.h), served on the
// signer's /metrics: acme_signer_audit_commit_duration_seconds{backend} and
// acme_signer_audit_commit_batch_records{backend}.
//
// Thread-safety: thread-safe.
#ifndef ACME_SIGNER_SIGNER_AUDIT_COMMIT_METRICS_H_
#define ACME_SIGNER_SIGNER_AUDIT_COMMIT_METRICS_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace acme_signer::signer {

// Records one group commit: `backend` "file" (signer/audit_log.h) or "database"
// (signer/db_audit_log.h), the time it took (write + fdatasync, or the transaction) and how
// many records it made durable (0 when it failed).
void RecordAuditCommit(absl::string_view backend, absl::Duration elapsed, uint64_t records);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AUDIT_COMMIT_METRICS_H_
