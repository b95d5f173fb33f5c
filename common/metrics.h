// Metrics: a small registry of counters, gauges and histograms with labels, rendered in the
// Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/). Written here rather than
// taken from prometheus-cpp because Debian 12 does not package prometheus-cpp and the format
// is a page of rules; docs/signer.md "Metrics" lists the families the signer exports.
//
// A family has a name, a HELP text, a type and a fixed list of label names; each distinct
// list of label values is one child (a Counter, Gauge or Histogram) that lives as long as the
// registry, so instrumented code may keep references. Label values must come from a bounded
// set (RPC names, decisions, HTTP status codes...): never names, serials or anything a caller
// controls, since each value is a time series kept forever.
//
// Collectors produce samples at render time (gauges computed from a database, for example).
//
// ProcessMetrics() is the process-wide registry that lower layers (hsm/, http/, the audit log)
// record into; a serving binary renders it next to its own registries.
//
// Thread-safety: everything is thread-safe. Counter/Gauge/Histogram updates are lock-free
// atomics; creating children and rendering take the registry's mutex (collectors are called
// under it: a collector must not touch the same registry).
#ifndef ACME_SIGNER_COMMON_METRICS_H_
#define ACME_SIGNER_COMMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace acme_signer {

// A value that only goes up (and resets with the process).
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;
  // Negative amounts are ignored (a counter never goes down).
  void Increment(double amount = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double amount);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into cumulative buckets (upper bounds, ascending; +Inf is implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;
  void Observe(double value);
  void ObserveDuration(absl::Duration d) { Observe(absl::ToDoubleSeconds(d)); }

  const std::vector<double>& bounds() const { return bounds_; }
  // Per bucket (not cumulative), bounds().size() + 1 entries, the last one for +Inf.
  std::vector<uint64_t> bucket_counts() const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Bucket bounds for latencies in seconds: 1 ms .. 60 s.
std::vector<double> LatencyBuckets();

// Label values in the family's label-name order.
using LabelValues = std::vector<std::string>;

template <typename T>
class MetricFamily;

// One sample a collector produces: label (name, value) pairs and the value.
struct CollectedSample {
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

class MetricsRegistry {
 public:
  enum class Type { kCounter, kGauge, kHistogram };

  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Returns the family named `name`, creating it on first use: later calls with the same name
  // return the same family (so separate files can each name the family they record into).
  // `name` must match [a-zA-Z_:][a-zA-Z0-9_:]* and label names [a-zA-Z_][a-zA-Z0-9_]*; a
  // programming error (a bad name, or the same name with another type or label list) aborts,
  // as a CHECK would: metric names are constants in the code, never input.
  MetricFamily<Counter>& CounterFamily(absl::string_view name, absl::string_view help,
                                       std::vector<std::string> label_names = {});
  MetricFamily<Gauge>& GaugeFamily(absl::string_view name, absl::string_view help,
                                   std::vector<std::string> label_names = {});
  MetricFamily<Histogram>& HistogramFamily(absl::string_view name, absl::string_view help,
                                           std::vector<double> bounds,
                                           std::vector<std::string> label_names = {});

  // A family whose samples `collect` produces at every Render (type counter or gauge).
  // Replaces an earlier collector of the same name.
  void AddCollector(absl::string_view name, absl::string_view help, Type type,
                    std::function<std::vector<CollectedSample>()> collect);
  void RemoveCollector(absl::string_view name);

  // Every family in name order, in the text format (HELP, TYPE, samples; label values
  // escaped; histograms as _bucket{le=...} (cumulative, ending with +Inf), _sum and _count).
  // A family without children renders its HELP and TYPE lines only.
  std::string Render() const;

 private:
  struct Family;
  Family& FindOrAdd(absl::string_view name, absl::string_view help, Type type,
                    std::vector<std::string> label_names, std::vector<double> bounds);

  mutable absl::Mutex mutex_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_ ABSL_GUARDED_BY(mutex_);
  friend class MetricFamily<Counter>;
  friend class MetricFamily<Gauge>;
  friend class MetricFamily<Histogram>;
};

// A family's children by label values. References stay valid as long as the registry.
template <typename T>
class MetricFamily {
 public:
  // The child for `values` (one per label name; a wrong count aborts), created at zero.
  T& WithLabels(const LabelValues& values);
  // The family without labels.
  T& Get() { return WithLabels({}); }

 private:
  friend class MetricsRegistry;
  MetricFamily(MetricsRegistry* registry, MetricsRegistry::Family* family)
      : registry_(registry), family_(family) {}
  MetricsRegistry* registry_;
  MetricsRegistry::Family* family_;
};

// The text format's escaping of a label value: backslash, double quote and newline.
std::string EscapeLabelValue(absl::string_view value);
// A sample value in the text format: integers without a fraction, "+Inf", "-Inf", "NaN".
std::string FormatMetricValue(double value);

// The process-wide registry (never destroyed).
MetricsRegistry& ProcessMetrics();

// The Content-Type of Render()'s output.
inline constexpr absl::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_METRICS_H_
