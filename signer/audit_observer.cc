#include "signer/audit_observer.h"

#include <utility>

namespace acme_signer::signer {

ObservedAuditAppender::ObservedAuditAppender(std::unique_ptr<AuditAppender> inner)
    : inner_(std::move(inner)) {}

void ObservedAuditAppender::AddObserver(AuditObserver* observer) {
  observers_.push_back(observer);
}

absl::StatusOr<uint64_t> ObservedAuditAppender::Append(const AuditRecord& record) {
  absl::StatusOr<uint64_t> seq = inner_->Append(record);
  if (!seq.ok()) return seq;
  for (AuditObserver* observer : observers_) observer->OnAudited(record, *seq);
  return seq;
}

absl::Status ObservedAuditAppender::Close() { return inner_->Close(); }

}  // namespace acme_signer::signer
