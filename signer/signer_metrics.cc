#include "signer/signer_metrics.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "http/host_port.h"

namespace acme_signer::signer {
namespace {

constexpr const char* kExpiryBuckets[] = {"expired", "<7d", "<30d", "<90d", ">=90d"};

// Seconds from order to certificate: a CA that validates at once answers in seconds, one that
// is slow or retried in minutes.
std::vector<double> IssueBuckets() { return {1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}; }

// Samples for every bucket, counting `not_afters`.
std::vector<CollectedSample> ExpirySamples(const std::vector<absl::Time>& not_afters,
                                           absl::Time now) {
  std::map<std::string, double> counts;
  for (const char* bucket : kExpiryBuckets) counts[bucket] = 0;
  for (absl::Time t : not_afters) counts[ExpiryBucket(t, now)] += 1;
  std::vector<CollectedSample> out;
  for (const char* bucket : kExpiryBuckets) out.push_back({{{"expiry", bucket}}, counts[bucket]});
  return out;
}

}  // namespace

std::string ExpiryBucket(absl::Time not_after, absl::Time now) {
  const absl::Duration left = not_after - now;
  if (left <= absl::ZeroDuration()) return "expired";
  if (left < absl::Hours(24 * 7)) return "<7d";
  if (left < absl::Hours(24 * 30)) return "<30d";
  if (left < absl::Hours(24 * 90)) return "<90d";
  return ">=90d";
}

SignerMetrics::SignerMetrics(Options options, const StateStore* store)
    : options_(std::move(options)),
      rpcs_(registry_.CounterFamily(
          "acme_signer_rpcs_total",
          "Audited requests by RPC and decision (allow/deny); folded refusals count each.",
          {"rpc", "decision"})),
      time_to_issue_(registry_.HistogramFamily(
          "acme_signer_time_to_issue_seconds",
          "Seconds from an allowed CreateOrder to the first GetCertificate of that order "
          "that returned the certificate.",
          IssueBuckets())),
      reloads_(registry_.CounterFamily("acme_signer_reloads_total",
                                       "SIGHUP reloads by result (ok/refused).", {"result"})),
      collector_errors_(
          registry_
              .CounterFamily("acme_signer_metrics_collector_errors_total",
                             "Scrapes whose state-store read for the expiry gauges failed.")
              .Get()) {
  registry_.GaugeFamily("acme_signer_build_info", "The running acme-signer's version.", {"version"})
      .WithLabels({options_.version})
      .Set(1);
  registry_
      .GaugeFamily("acme_signer_process_start_time_seconds",
                   "Start time of the process since the Unix epoch, in seconds.")
      .Get()
      .Set(absl::ToDoubleSeconds(options_.start_time - absl::UnixEpoch()));
  // Created at zero so that rate() and alerts see both series from the start.
  reloads_.WithLabels({"ok"});
  reloads_.WithLabels({"refused"});
  time_to_issue_.Get();
  if (store == nullptr) return;
  Counter* errors = &collector_errors_;
  const std::function<absl::Time()> now = options_.now;
  registry_.AddCollector(
      "acme_signer_certificates",
      "Certificates in the inventory by time to expiry (newest of "
      "each agent and name set, revoked ones left out).",
      MetricsRegistry::Type::kGauge, [store, errors, now] {
        absl::StatusOr<std::vector<CertificateRecord>> inventory = store->ListInventory();
        if (!inventory.ok()) {
          errors->Increment();
          return std::vector<CollectedSample>();
        }
        // The lineage: agent and name set; a renewal supersedes what it renews.
        std::map<std::string, absl::Time> newest;
        for (const CertificateRecord& cert : *inventory) {
          if (cert.revoked) continue;
          std::vector<std::string> names = cert.names;
          std::sort(names.begin(), names.end());
          const std::string key = absl::StrCat(cert.agent, "\n", absl::StrJoin(names, ","));
          auto [it, inserted] = newest.emplace(key, cert.not_after);
          if (!inserted) it->second = std::max(it->second, cert.not_after);
        }
        std::vector<absl::Time> not_afters;
        for (const auto& [key, t] : newest) not_afters.push_back(t);
        return ExpirySamples(not_afters, now());
      });
  registry_.AddCollector("acme_signer_agent_certificates",
                         "Agents by the time to expiry of their newest mTLS "
                         "client certificate (revoked ones left out).",
                         MetricsRegistry::Type::kGauge, [store, errors, now] {
                           absl::StatusOr<std::vector<AgentCertificateRecord>> certs =
                               store->ListAgentCertificates();
                           if (!certs.ok()) {
                             errors->Increment();
                             return std::vector<CollectedSample>();
                           }
                           std::map<std::string, absl::Time> newest;
                           for (const AgentCertificateRecord& cert : *certs) {
                             if (cert.revoked) continue;
                             auto [it, inserted] = newest.emplace(cert.agent, cert.not_after);
                             if (!inserted) it->second = std::max(it->second, cert.not_after);
                           }
                           std::vector<absl::Time> not_afters;
                           for (const auto& [agent, t] : newest) not_afters.push_back(t);
                           return ExpirySamples(not_afters, now());
                         });
}

std::string SignerMetrics::RpcLabel(const std::string& rpc) {
  absl::MutexLock lock(&mu_);
  if (rpc_labels_.contains(rpc)) return rpc;
  if (rpc_labels_.size() >= kMaxRpcLabels) return "other";
  rpc_labels_.insert(rpc);
  return rpc;
}

void SignerMetrics::OnAudited(const AuditRecord& record, uint64_t /*seq*/) {
  const std::string decision = record.decision == AuditDecision::kAllow ? "allow" : "deny";
  const double count = record.repeated.count > 0 ? static_cast<double>(record.repeated.count) : 1;
  rpcs_.WithLabels({RpcLabel(record.rpc), decision}).Increment(count);
  TrackIssuance(record);
}

void SignerMetrics::TrackIssuance(const AuditRecord& record) {
  if (record.decision != AuditDecision::kAllow || record.request.order_url.empty()) return;
  const absl::Time now = options_.now();
  if (record.rpc == "CreateOrder") {
    absl::MutexLock lock(&mu_);
    if (pending_orders_.size() >= kMaxPendingOrders) {
      // Orders never fetched (abandoned, or fetched through another replica): forget the
      // oldest day first, then refuse new ones rather than grow.
      absl::erase_if(pending_orders_,
                     [now](const auto& entry) { return now - entry.second > absl::Hours(24); });
      if (pending_orders_.size() >= kMaxPendingOrders) return;
    }
    pending_orders_.emplace(record.request.order_url, now);
    return;
  }
  if (record.rpc != "GetCertificate" || record.outcome.serial.empty()) return;
  absl::Time created;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_orders_.find(record.request.order_url);
    if (it == pending_orders_.end()) return;
    created = it->second;
    pending_orders_.erase(it);
  }
  time_to_issue_.Get().ObserveDuration(now - created);
}

void SignerMetrics::RecordReload(bool ok) {
  reloads_.WithLabels({ok ? "ok" : "refused"}).Increment();
}

std::string SignerMetrics::Render() const {
  return absl::StrCat(registry_.Render(), ProcessMetrics().Render());
}

http::PlainResponse SignerMetrics::Serve(absl::string_view path,
                                         absl::string_view metrics_path) const {
  http::PlainResponse response;
  if (path != metrics_path) {
    response.status = 404;
    response.body = absl::StrCat("not found: metrics are at ", metrics_path, "\n");
    return response;
  }
  response.content_type = std::string(kMetricsContentType);
  response.body = Render();
  return response;
}

absl::StatusOr<std::unique_ptr<http::Http01Responder>> StartMetricsListener(
    const MetricsConfig& config, const SignerMetrics* metrics) {
  absl::StatusOr<http::HostPort> listen = http::SplitHostPort(config.listen);
  if (!listen.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("metrics.listen \"", config.listen,
                                                   "\": ", listen.status().message(),
                                                   "; expected \"address:port\" or \"[v6]:port\""));
  }
  http::Http01Responder::Options options;
  options.address = listen->host;
  options.port = static_cast<uint16_t>(listen->port);
  options.max_connections = 16;
  const std::string path = config.path;
  options.handler = [metrics, path](absl::string_view requested) {
    return metrics->Serve(requested, path);
  };
  auto listener = std::make_unique<http::Http01Responder>(std::move(options));
  if (absl::Status started = listener->Start(); !started.ok()) {
    return absl::Status(started.code(), absl::StrCat("metrics listener: ", started.message()));
  }
  return listener;
}

}  // namespace acme_signer::signer
