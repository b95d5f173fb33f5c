#include "hsm/sign_metrics.h"

#include <string>

#include "common/metrics.h"

namespace acme_signer::hsm {

void RecordHsmSign(absl::string_view operation, absl::Duration elapsed,
                   const absl::Status& result) {
  static MetricFamily<Histogram>& latency = ProcessMetrics().HistogramFamily(
      "acme_signer_hsm_sign_duration_seconds",
      "Time of one signature in the HSM (session, C_SignInit, C_Sign), by operation.",
      LatencyBuckets(), {"operation"});
  static MetricFamily<Counter>& errors = ProcessMetrics().CounterFamily(
      "acme_signer_hsm_sign_errors_total",
      "Signatures the HSM refused or failed, by operation and status code.", {"operation", "code"});
  latency.WithLabels({std::string(operation)}).ObserveDuration(elapsed);
  if (!result.ok()) {
    errors.WithLabels({std::string(operation), absl::StatusCodeToString(result.code())})
        .Increment();
  }
}

}  // namespace acme_signer::hsm
