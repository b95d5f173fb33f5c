#include "agent/metrics_file.h"

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/metrics.h"

namespace acme_signer::agent {
namespace {

constexpr absl::string_view kLastRenewal = "acme_agent_last_renewal_timestamp_seconds";
constexpr absl::string_view kLastSuccess = "acme_agent_last_renewal_success";

// The per-lineage values of `metric` in a file this code wrote: lines
// `metric{cert_name="NAME"} VALUE` (lineage names need no escaping). Other lines are ignored.
std::map<std::string, double> PreviousValues(absl::string_view previous, absl::string_view metric) {
  std::map<std::string, double> out;
  for (absl::string_view line : absl::StrSplit(previous, '\n')) {
    if (!absl::ConsumePrefix(&line, metric) || !absl::ConsumePrefix(&line, "{cert_name=\"")) {
      continue;
    }
    const size_t end = line.find("\"} ");
    double value = 0;
    if (end == absl::string_view::npos || !absl::SimpleAtod(line.substr(end + 3), &value)) continue;
    out[std::string(line.substr(0, end))] = value;
  }
  return out;
}

double UnixSeconds(absl::Time t) { return absl::ToDoubleSeconds(t - absl::UnixEpoch()); }

}  // namespace

std::string RenderAgentMetrics(const std::vector<LineageInfo>& lineages,
                               const std::vector<RenewalAttempt>& attempts,
                               absl::string_view previous, absl::Time now) {
  MetricsRegistry registry;
  auto& expiry =
      registry.GaugeFamily("acme_agent_certificate_expiry_timestamp_seconds",
                           "notAfter of the live certificate of each lineage.", {"cert_name"});
  auto& last_renewal = registry.GaugeFamily(
      kLastRenewal, "When the lineage's certificate was last issued or renewed successfully.",
      {"cert_name"});
  auto& last_success = registry.GaugeFamily(
      kLastSuccess,
      "1 when the last renewal attempt or check of the lineage worked, 0 when it "
      "failed.",
      {"cert_name"});
  registry
      .GaugeFamily("acme_agent_last_run_timestamp_seconds", "When acme-agent last wrote this file.")
      .Get()
      .Set(UnixSeconds(now));
  const std::map<std::string, double> previous_renewal = PreviousValues(previous, kLastRenewal);
  const std::map<std::string, double> previous_success = PreviousValues(previous, kLastSuccess);
  std::map<std::string, const RenewalAttempt*> attempted;
  for (const RenewalAttempt& attempt : attempts) attempted[attempt.cert_name] = &attempt;

  for (const LineageInfo& lineage : lineages) {
    if (!lineage.status.ok()) continue;
    expiry.WithLabels({lineage.name}).Set(UnixSeconds(lineage.certificate.not_after));
    auto it = attempted.find(lineage.name);
    auto renewal = previous_renewal.find(lineage.name);
    if (it != attempted.end() && it->second->renewed) {
      last_renewal.WithLabels({lineage.name}).Set(UnixSeconds(now));
    } else if (renewal != previous_renewal.end()) {
      last_renewal.WithLabels({lineage.name}).Set(renewal->second);
    } else {
      last_renewal.WithLabels({lineage.name}).Set(UnixSeconds(lineage.certificate.not_before));
    }
    auto success = previous_success.find(lineage.name);
    last_success.WithLabels({lineage.name})
        .Set(it != attempted.end()               ? (it->second->ok ? 1 : 0)
             : success != previous_success.end() ? success->second
                                                 : 1);
  }
  // A lineage whose first issuance failed has nothing on disk, only the failure.
  for (const RenewalAttempt& attempt : attempts) {
    bool on_disk = false;
    for (const LineageInfo& lineage : lineages) {
      on_disk = on_disk || (lineage.status.ok() && lineage.name == attempt.cert_name);
    }
    if (!on_disk && ValidateLineageName(attempt.cert_name).ok()) {
      last_success.WithLabels({attempt.cert_name}).Set(attempt.ok ? 1 : 0);
    }
  }
  return registry.Render();
}

absl::Status WriteAgentMetricsFile(const std::string& path, const std::string& config_dir,
                                   const std::vector<RenewalAttempt>& attempts, absl::Time now) {
  absl::StatusOr<std::vector<LineageInfo>> lineages = LineageStore(config_dir).List();
  if (!lineages.ok()) {
    return absl::Status(lineages.status().code(),
                        absl::StrCat("--metrics-file ", path, ": ", lineages.status().message()));
  }
  absl::StatusOr<std::string> previous = ReadFile(path);
  const std::string text =
      RenderAgentMetrics(*lineages, attempts, previous.ok() ? *previous : "", now);
  if (absl::Status written = WriteFileAtomically(path, text, 0644); !written.ok()) {
    return absl::Status(written.code(),
                        absl::StrCat("--metrics-file ", path, ": ", written.message()));
  }
  return absl::OkStatus();
}

}  // namespace acme_signer::agent
