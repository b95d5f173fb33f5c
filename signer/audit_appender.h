// AuditAppender: where the signer's audit records go. Two homes implement it:
//  - AuditLog (signer/audit_log.h): the hash-chained JSON Lines files of one signer
//    ([state] backend = "sqlite");
//  - the database chain shared by every replica ([state] backend = "postgresql").
// Both give the same promise: Append returns OK only once the record is durable and chained,
// and the caller must refuse to act on any error (fail closed).
//
// Thread-safety: implementations are thread-safe.
#ifndef ACME_SIGNER_SIGNER_AUDIT_APPENDER_H_
#define ACME_SIGNER_SIGNER_AUDIT_APPENDER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "signer/audit_record.h"

namespace acme_signer::signer {

class AuditAppender {
 public:
  virtual ~AuditAppender() = default;

  // Appends `record` and returns once it is durable, with the sequence number it got.
  virtual absl::StatusOr<uint64_t> Append(const AuditRecord& record) = 0;

  // Signs a closing checkpoint where the implementation has one, makes everything durable and
  // refuses later Appends. Idempotent.
  virtual absl::Status Close() = 0;
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AUDIT_APPENDER_H_
