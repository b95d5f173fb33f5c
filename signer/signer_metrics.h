// SignerMetrics: the signer's own Prometheus families (acme_signer_*), what serve shows on its
// [metrics] listener together with the process metrics that hsm/, acme/ and the audit logs
// record (common/metrics.h ProcessMetrics()). docs/signer.md "Metrics" lists them all.
//
// - It is an AuditObserver (signer/audit_observer.h): the RPC counters follow the audit chain,
//   so /metrics, the decision log and `audit query` agree. A folded refusal record (AuditRepeat)
//   counts as the refusals it stands for. The time to issue is measured between the audit
//   record of an allowed CreateOrder and that of the first allowed GetCertificate of the same
//   order that returned a certificate ("new order to certificate", as the signer saw it).
// - Collectors read the StateStore at scrape time: certificates in the inventory and agent
//   certificates by days to expiry (only the newest certificate of each lineage, revoked ones
//   left out, so a renewed certificate stops counting when its successor is recorded).
// - RecordReload counts SIGHUP reloads by result.
//
// Label values are bounded: RPC names (at most kMaxRpcLabels distinct, then "other", since
// front-door request paths name the rpc), decisions, expiry buckets, reload results. Never DNS
// names, serials or agent input.
//
// Thread-safety: thread-safe. The store must outlive this object and be thread-safe.
#ifndef ACME_SIGNER_SIGNER_SIGNER_METRICS_H_
#define ACME_SIGNER_SIGNER_SIGNER_METRICS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "http/http01_responder.h"
#include "signer/audit_observer.h"
#include "signer/audit_record.h"
#include "signer/config.h"
#include "signer/state_store.h"

namespace acme_signer::signer {

// The expiry bucket of a certificate valid until `not_after`: "expired", "<7d", "<30d", "<90d"
// or ">=90d". Every bucket is always rendered (0 when empty) so alerts see a value.
std::string ExpiryBucket(absl::Time not_after, absl::Time now);

class SignerMetrics : public AuditObserver {
 public:
  static constexpr size_t kMaxRpcLabels = 64;
  // Orders waiting for their certificate are remembered up to this many (older ones go first).
  static constexpr size_t kMaxPendingOrders = 10000;

  struct Options {
    std::string version;  // acme_signer_build_info{version}
    absl::Time start_time = absl::Now();
    std::function<absl::Time()> now = [] { return absl::Now(); };
  };

  // `store` may be null (no inventory collectors: unit tests of the counters).
  SignerMetrics(Options options, const StateStore* store);
  SignerMetrics(const SignerMetrics&) = delete;
  SignerMetrics& operator=(const SignerMetrics&) = delete;

  void OnAudited(const AuditRecord& record, uint64_t seq) override;

  // A SIGHUP reload that was put in force (ok = true) or refused.
  void RecordReload(bool ok);

  // This registry's families followed by the process metrics, in the text format.
  std::string Render() const;

  // The [metrics] listener's answer for `path`: 200 with Render() on `metrics_path`, 404
  // otherwise.
  http::PlainResponse Serve(absl::string_view path, absl::string_view metrics_path) const;

  const MetricsRegistry& registry() const { return registry_; }

 private:
  std::string RpcLabel(const std::string& rpc) ABSL_LOCKS_EXCLUDED(mu_);
  void TrackIssuance(const AuditRecord& record) ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  MetricsRegistry registry_;
  MetricFamily<Counter>& rpcs_;
  MetricFamily<Histogram>& time_to_issue_;
  MetricFamily<Counter>& reloads_;
  Counter& collector_errors_;

  absl::Mutex mu_;
  absl::flat_hash_set<std::string> rpc_labels_ ABSL_GUARDED_BY(mu_);
  // order URL -> when its CreateOrder was audited.
  absl::flat_hash_map<std::string, absl::Time> pending_orders_ ABSL_GUARDED_BY(mu_);
};

// Starts the [metrics] listener: plain HTTP on config.listen, `metrics` answering GET/HEAD of
// config.path (http/http01_responder.h: one answer per connection, at most 16 connections, 10 s
// to send a request head of at most 8 KiB). Errors: InvalidArgument for a listen address that
// is not "address:port" / "[v6]:port", Unavailable when it cannot be bound (naming it).
absl::StatusOr<std::unique_ptr<http::Http01Responder>> StartMetricsListener(
    const MetricsConfig& config, const SignerMetrics* metrics);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_SIGNER_METRICS_H_
