// The agent's node_exporter textfile-collector file (--metrics-file FILE): the usual way for a
// timer-driven job to reach Prometheus. node_exporter --collector.textfile.directory=DIR reads
// every DIR/*.prom; the file is replaced atomically (temp + rename, mode 0644) so a scrape never
// sees half of it. The format is common/metrics.h's (Prometheus text format 0.0.4):
//
//   acme_agent_certificate_expiry_timestamp_seconds{cert_name}  the live certificate's notAfter
//   acme_agent_last_renewal_timestamp_seconds{cert_name}       the last successful issuance
//       (this run's, else the one the previous file recorded, else the live certificate's
//       notBefore)
//   acme_agent_last_renewal_success{cert_name}                 1 when the last attempt (or
//       check: "not due" is a success) worked, 0 when it failed; kept from the previous file
//       for lineages this run did not look at (renew --cert-name)
//   acme_agent_last_run_timestamp_seconds                      when this run wrote the file
//
// cert_name is the lineage name ([A-Za-z0-9._-], agent/lineage.h): bounded by the lineages on
// disk. Nothing secret is written.
//
// Thread-safety: free functions, thread-compatible.
#ifndef ACME_SIGNER_AGENT_METRICS_FILE_H_
#define ACME_SIGNER_AGENT_METRICS_FILE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/lineage.h"

namespace acme_signer::agent {

// What one run did with one lineage.
struct RenewalAttempt {
  std::string cert_name;
  bool ok = false;       // renewed/issued, or not due
  bool renewed = false;  // a new certificate was installed
};

// The file's text for `lineages` (broken ones are left out), this run's `attempts` and the
// `previous` text of the file ("" when there was none).
std::string RenderAgentMetrics(const std::vector<LineageInfo>& lineages,
                               const std::vector<RenewalAttempt>& attempts,
                               absl::string_view previous, absl::Time now);

// Reads the lineages under `config_dir` and the previous file at `path`, and replaces `path`.
// Errors name the file (a lineage directory that cannot be listed, a write that fails).
absl::Status WriteAgentMetricsFile(const std::string& path, const std::string& config_dir,
                                   const std::vector<RenewalAttempt>& attempts, absl::Time now);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_METRICS_FILE_H_
