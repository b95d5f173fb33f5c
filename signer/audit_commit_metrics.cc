#include "signer/audit_commit_metrics.h"

#include <string>

#include "common/metrics.h"

namespace acme_signer::signer {

void RecordAuditCommit(absl::string_view backend, absl::Duration elapsed, uint64_t records) {
  static MetricFamily<Histogram>& latency = ProcessMetrics().HistogramFamily(
      "acme_signer_audit_commit_duration_seconds",
      "Time of one audit group commit (file: write + fdatasync; database: the transaction).",
      LatencyBuckets(), {"backend"});
  static MetricFamily<Histogram>& batch = ProcessMetrics().HistogramFamily(
      "acme_signer_audit_commit_batch_records",
      "Records made durable by one audit group commit (0: the commit failed).",
      {0, 1, 2, 4, 8, 16, 32, 64, 128, 256}, {"backend"});
  latency.WithLabels({std::string(backend)}).ObserveDuration(elapsed);
  batch.WithLabels({std::string(backend)}).Observe(static_cast<double>(records));
}

}  // namespace acme_signer::signer
