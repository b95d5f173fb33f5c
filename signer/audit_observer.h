// AuditObserver: what else happens once a decision is in the audit chain. The decision log
// lines on stderr/journald and the Prometheus counters both follow the audit records, so that
// the three can never disagree about what was decided: a decision that could not be audited
// was refused (fail closed) and is neither logged as a decision nor counted as one.
//
// ObservedAuditAppender wraps the signer's AuditAppender (the file log or the database chain)
// and calls every observer after each successful Append, in the order they were added, on the
// appending thread. Observers must be quick and must not append to the audit log themselves.
//
// Thread-safety: AddObserver before the first Append (serve wires everything up before it
// starts listening); Append and Close are thread-safe as the wrapped appender's.
#ifndef ACME_SIGNER_SIGNER_AUDIT_OBSERVER_H_
#define ACME_SIGNER_SIGNER_AUDIT_OBSERVER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "signer/audit_appender.h"
#include "signer/audit_record.h"

namespace acme_signer::signer {

class AuditObserver {
 public:
  virtual ~AuditObserver() = default;
  // `record` is durable in the chain with sequence number `seq`.
  virtual void OnAudited(const AuditRecord& record, uint64_t seq) = 0;
};

class ObservedAuditAppender : public AuditAppender {
 public:
  explicit ObservedAuditAppender(std::unique_ptr<AuditAppender> inner);

  // Not owned; must outlive this appender.
  void AddObserver(AuditObserver* observer);

  absl::StatusOr<uint64_t> Append(const AuditRecord& record) override;
  absl::Status Close() override;

 private:
  std::unique_ptr<AuditAppender> inner_;
  std::vector<AuditObserver*> observers_;
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AUDIT_OBSERVER_H_
