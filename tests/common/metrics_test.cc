#include "common/metrics.h"

#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;

TEST(MetricsRegistryTest, RendersCountersWithHelpTypeAndLabelsInNameOrder) {
  MetricsRegistry registry;
  auto& rpcs = registry.CounterFamily("test_rpcs_total", "RPCs by method.", {"rpc", "decision"});
  rpcs.WithLabels({"CreateOrder", "allow"}).Increment();
  rpcs.WithLabels({"CreateOrder", "allow"}).Increment(2);
  rpcs.WithLabels({"CreateOrder", "deny"}).Increment();
  registry.GaugeFamily("test_a_gauge", "A gauge.").Get().Set(-2.5);
  EXPECT_EQ(registry.Render(),
            "# HELP test_a_gauge A gauge.\n"
            "# TYPE test_a_gauge gauge\n"
            "test_a_gauge -2.5\n"
            "# HELP test_rpcs_total RPCs by method.\n"
            "# TYPE test_rpcs_total counter\n"
            "test_rpcs_total{rpc=\"CreateOrder\",decision=\"allow\"} 3\n"
            "test_rpcs_total{rpc=\"CreateOrder\",decision=\"deny\"} 1\n");
}

TEST(MetricsRegistryTest, EscapesLabelValuesAndHelpText) {
  MetricsRegistry registry;
  registry.CounterFamily("test_total", "line one\nback\\slash \"quoted\"", {"v"})
      .WithLabels({"a\\b\"c\nd"})
      .Increment();
  EXPECT_EQ(registry.Render(),
            "# HELP test_total line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE test_total counter\n"
            "test_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(MetricsRegistryTest, RendersHistogramBucketsCumulativeWithInfSumAndCount) {
  MetricsRegistry registry;
  auto& h = registry.HistogramFamily("test_seconds", "Latency.", {0.1, 1}, {"op"});
  h.WithLabels({"sign"}).Observe(0.05);
  h.WithLabels({"sign"}).Observe(0.1);  // le is inclusive
  h.WithLabels({"sign"}).Observe(0.5);
  h.WithLabels({"sign"}).Observe(7);
  EXPECT_EQ(registry.Render(),
            "# HELP test_seconds Latency.\n"
            "# TYPE test_seconds histogram\n"
            "test_seconds_bucket{op=\"sign\",le=\"0.1\"} 2\n"
            "test_seconds_bucket{op=\"sign\",le=\"1\"} 3\n"
            "test_seconds_bucket{op=\"sign\",le=\"+Inf\"} 4\n"
            "test_seconds_sum{op=\"sign\"} 7.65\n"
            "test_seconds_count{op=\"sign\"} 4\n");
}

TEST(MetricsRegistryTest, HistogramWithoutLabelsPutsOnlyLeInBraces) {
  MetricsRegistry registry;
  registry.HistogramFamily("test_batch", "Batch.", {1, 2}).Get().Observe(2);
  EXPECT_THAT(registry.Render(), HasSubstr("test_batch_bucket{le=\"1\"} 0\n"
                                           "test_batch_bucket{le=\"2\"} 1\n"
                                           "test_batch_bucket{le=\"+Inf\"} 1\n"
                                           "test_batch_sum 2\n"
                                           "test_batch_count 1\n"));
}

TEST(MetricsRegistryTest, SameNameReturnsTheSameFamily) {
  MetricsRegistry registry;
  registry.CounterFamily("test_total", "x", {"a"}).WithLabels({"1"}).Increment();
  registry.CounterFamily("test_total", "x", {"a"}).WithLabels({"1"}).Increment();
  EXPECT_EQ(registry.CounterFamily("test_total", "x", {"a"}).WithLabels({"1"}).value(), 2);
}

TEST(MetricsRegistryTest, CounterIgnoresNegativeIncrements) {
  Counter counter;
  counter.Increment(-5);
  EXPECT_EQ(counter.value(), 0);
}

TEST(MetricsRegistryTest, CollectorsProduceSamplesAtRenderTime) {
  MetricsRegistry registry;
  int calls = 0;
  registry.AddCollector(
      "test_certs", "Certificates by expiry.", MetricsRegistry::Type::kGauge, [&calls] {
        ++calls;
        return std::vector<CollectedSample>{{{{"expiry", "<7d"}}, 3}, {{{"expiry", "expired"}}, 0}};
      });
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(registry.Render(),
            "# HELP test_certs Certificates by expiry.\n"
            "# TYPE test_certs gauge\n"
            "test_certs{expiry=\"<7d\"} 3\n"
            "test_certs{expiry=\"expired\"} 0\n");
  EXPECT_EQ(calls, 1);
  registry.RemoveCollector("test_certs");
  EXPECT_EQ(registry.Render(), "");
}

TEST(MetricsRegistryTest, FormatsSpecialValues) {
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(FormatMetricValue(1700000000), "1700000000");
  EXPECT_EQ(FormatMetricValue(0.25), "0.25");
}

TEST(MetricsRegistryDeathTest, RejectsBadNamesAndWrongLabelCounts) {
  MetricsRegistry registry;
  EXPECT_DEATH(registry.CounterFamily("bad-name", "x"), "bad metric name");
  EXPECT_DEATH(registry.CounterFamily("ok_total", "x", {"le"}), "bad label name");
  auto& family = registry.CounterFamily("ok_total", "x", {"a"});
  EXPECT_DEATH(family.WithLabels({}), "takes 1 label value");
  EXPECT_DEATH(registry.GaugeFamily("ok_total", "x", {"a"}), "different shapes");
}

}  // namespace
}  // namespace acme_signer
