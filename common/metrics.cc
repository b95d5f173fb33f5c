#include "common/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace acme_signer {
namespace {

void AddDouble(std::atomic<double>& target, double amount) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + amount, std::memory_order_relaxed)) {
  }
}

// Metric names are constants in the code: a bad one is a bug, reported loudly at first use.
[[noreturn]] void MetricsBug(absl::string_view what) {
  std::cerr << "acme-signer: metrics registry misuse: " << what << std::endl;
  std::abort();
}

bool IsMetricName(absl::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    const bool ok = absl::ascii_isalpha(c) || c == '_' || (allow_colon && c == ':') ||
                    (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

// HELP text escaping: backslash and newline (the format does not escape quotes there).
std::string EscapeHelp(absl::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

absl::string_view TypeName(MetricsRegistry::Type type) {
  switch (type) {
    case MetricsRegistry::Type::kCounter:
      return "counter";
    case MetricsRegistry::Type::kGauge:
      return "gauge";
    case MetricsRegistry::Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"}` (with `extra` appended, e.g. le), or "" when there are no labels.
std::string LabelText(const std::vector<std::pair<std::string, std::string>>& labels,
                      absl::string_view extra_name = "", absl::string_view extra_value = "") {
  if (labels.empty() && extra_name.empty()) return "";
  std::string out = "{";
  bool first = true;
  auto add = [&](absl::string_view name, absl::string_view value) {
    if (!first) out += ",";
    first = false;
    absl::StrAppend(&out, name, "=\"", EscapeLabelValue(value), "\"");
  };
  for (const auto& [name, value] : labels) add(name, value);
  if (!extra_name.empty()) add(extra_name, extra_value);
  out += "}";
  return out;
}

}  // namespace

void Counter::Increment(double amount) {
  if (!(amount > 0)) return;
  AddDouble(value_, amount);
}

void Gauge::Add(double amount) { AddDouble(value_, amount); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end()) {
    MetricsBug("histogram bounds must be strictly ascending");
  }
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  // The first bucket whose upper bound is >= value ("le" is inclusive); +Inf otherwise.
  const size_t index = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                           bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  AddDouble(sum_, value);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::bucket_counts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrFormat("%.0f", value);
  }
  // The shortest of 15 or 17 significant digits that reads back as the same double ("0.1",
  // not "0.10000000000000001").
  std::string shortest = absl::StrFormat("%.15g", value);
  if (std::strtod(shortest.c_str(), nullptr) == value) return shortest;
  return absl::StrFormat("%.17g", value);
}

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  Type type = Type::kCounter;
  std::vector<std::string> label_names;
  std::vector<double> bounds;
  // Exactly one of these is used, by type (or none: a collector family).
  std::map<LabelValues, std::unique_ptr<Counter>> counters;
  std::map<LabelValues, std::unique_ptr<Gauge>> gauges;
  std::map<LabelValues, std::unique_ptr<Histogram>> histograms;
  std::function<std::vector<CollectedSample>()> collect;
  std::unique_ptr<MetricFamily<Counter>> counter_handle;
  std::unique_ptr<MetricFamily<Gauge>> gauge_handle;
  std::unique_ptr<MetricFamily<Histogram>> histogram_handle;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Family& MetricsRegistry::FindOrAdd(absl::string_view name, absl::string_view help,
                                                    Type type, std::vector<std::string> label_names,
                                                    std::vector<double> bounds) {
  if (!IsMetricName(name, /*allow_colon=*/true)) {
    MetricsBug(absl::StrCat("bad metric name \"", name, "\""));
  }
  for (const std::string& label : label_names) {
    if (!IsMetricName(label, /*allow_colon=*/false) || label == "le") {
      MetricsBug(absl::StrCat("bad label name \"", label, "\" in ", name));
    }
  }
  absl::MutexLock lock(&mutex_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    Family& family = *it->second;
    if (family.type != type || family.label_names != label_names || family.bounds != bounds ||
        family.collect) {
      MetricsBug(absl::StrCat("metric ", name, " declared twice with different shapes"));
    }
    return family;
  }
  auto family = std::make_unique<Family>();
  family->name = std::string(name);
  family->help = std::string(help);
  family->type = type;
  family->label_names = std::move(label_names);
  family->bounds = std::move(bounds);
  Family* raw = family.get();
  raw->counter_handle.reset(new MetricFamily<Counter>(this, raw));
  raw->gauge_handle.reset(new MetricFamily<Gauge>(this, raw));
  raw->histogram_handle.reset(new MetricFamily<Histogram>(this, raw));
  families_.emplace(raw->name, std::move(family));
  return *raw;
}

MetricFamily<Counter>& MetricsRegistry::CounterFamily(absl::string_view name,
                                                      absl::string_view help,
                                                      std::vector<std::string> label_names) {
  return *FindOrAdd(name, help, Type::kCounter, std::move(label_names), {}).counter_handle;
}

MetricFamily<Gauge>& MetricsRegistry::GaugeFamily(absl::string_view name, absl::string_view help,
                                                  std::vector<std::string> label_names) {
  return *FindOrAdd(name, help, Type::kGauge, std::move(label_names), {}).gauge_handle;
}

MetricFamily<Histogram>& MetricsRegistry::HistogramFamily(absl::string_view name,
                                                          absl::string_view help,
                                                          std::vector<double> bounds,
                                                          std::vector<std::string> label_names) {
  return *FindOrAdd(name, help, Type::kHistogram, std::move(label_names), std::move(bounds))
              .histogram_handle;
}

void MetricsRegistry::AddCollector(absl::string_view name, absl::string_view help, Type type,
                                   std::function<std::vector<CollectedSample>()> collect) {
  if (!IsMetricName(name, /*allow_colon=*/true) || type == Type::kHistogram) {
    MetricsBug(absl::StrCat("bad collector \"", name, "\""));
  }
  auto family = std::make_unique<Family>();
  family->name = std::string(name);
  family->help = std::string(help);
  family->type = type;
  family->collect = std::move(collect);
  absl::MutexLock lock(&mutex_);
  auto it = families_.find(name);
  if (it != families_.end() && !it->second->collect) {
    MetricsBug(absl::StrCat("collector ", name, " has the name of a family"));
  }
  families_[std::string(name)] = std::move(family);
}

void MetricsRegistry::RemoveCollector(absl::string_view name) {
  absl::MutexLock lock(&mutex_);
  auto it = families_.find(name);
  if (it != families_.end() && it->second->collect) families_.erase(it);
}

std::string MetricsRegistry::Render() const {
  std::string out;
  absl::MutexLock lock(&mutex_);
  for (const auto& [name, family] : families_) {
    absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(family->help), "\n# TYPE ", name, " ",
                    TypeName(family->type), "\n");
    // Captured by name: clang 14 (the fuzz build) cannot capture a structured binding.
    const std::vector<std::string>& label_names = family->label_names;
    auto labels_of = [&label_names](const LabelValues& values) {
      std::vector<std::pair<std::string, std::string>> labels;
      for (size_t i = 0; i < values.size(); ++i) {
        labels.emplace_back(label_names[i], values[i]);
      }
      return labels;
    };
    if (family->collect) {
      for (const CollectedSample& sample : family->collect()) {
        absl::StrAppend(&out, name, LabelText(sample.labels), " ", FormatMetricValue(sample.value),
                        "\n");
      }
      continue;
    }
    for (const auto& [values, counter] : family->counters) {
      absl::StrAppend(&out, name, LabelText(labels_of(values)), " ",
                      FormatMetricValue(counter->value()), "\n");
    }
    for (const auto& [values, gauge] : family->gauges) {
      absl::StrAppend(&out, name, LabelText(labels_of(values)), " ",
                      FormatMetricValue(gauge->value()), "\n");
    }
    for (const auto& [values, histogram] : family->histograms) {
      const auto labels = labels_of(values);
      // Read the buckets first and derive _count from them, so that a scrape racing an
      // Observe still shows _count equal to the +Inf bucket.
      const std::vector<uint64_t> buckets = histogram->bucket_counts();
      uint64_t cumulative = 0;
      for (size_t i = 0; i < buckets.size(); ++i) {
        cumulative += buckets[i];
        const std::string le =
            i < histogram->bounds().size() ? FormatMetricValue(histogram->bounds()[i]) : "+Inf";
        absl::StrAppend(&out, name, "_bucket", LabelText(labels, "le", le), " ", cumulative, "\n");
      }
      absl::StrAppend(&out, name, "_sum", LabelText(labels), " ",
                      FormatMetricValue(histogram->sum()), "\n", name, "_count", LabelText(labels),
                      " ", cumulative, "\n");
    }
  }
  return out;
}

template <typename T>
T& MetricFamily<T>::WithLabels(const LabelValues& values) {
  if (values.size() != family_->label_names.size()) {
    MetricsBug(absl::StrCat("metric ", family_->name, " takes ", family_->label_names.size(),
                            " label value(s), got ", values.size()));
  }
  absl::MutexLock lock(&registry_->mutex_);
  if constexpr (std::is_same_v<T, Counter>) {
    if (family_->type != MetricsRegistry::Type::kCounter) MetricsBug(family_->name);
    auto& slot = family_->counters[values];
    if (slot == nullptr) slot = std::make_unique<Counter>();
    return *slot;
  } else if constexpr (std::is_same_v<T, Gauge>) {
    if (family_->type != MetricsRegistry::Type::kGauge) MetricsBug(family_->name);
    auto& slot = family_->gauges[values];
    if (slot == nullptr) slot = std::make_unique<Gauge>();
    return *slot;
  } else {
    if (family_->type != MetricsRegistry::Type::kHistogram) MetricsBug(family_->name);
    auto& slot = family_->histograms[values];
    if (slot == nullptr) slot = std::make_unique<Histogram>(family_->bounds);
    return *slot;
  }
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

MetricsRegistry& ProcessMetrics() {
  static MetricsRegistry* const registry = new MetricsRegistry();
  return *registry;
}

}  // namespace acme_signer
