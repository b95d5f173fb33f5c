#include "signer/signer_metrics.h"

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signer/state_store.h"

namespace acme_signer::signer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

AuditRecord Record(absl::string_view rpc, AuditDecision decision) {
  AuditRecord record;
  record.agent = "web1";
  record.rpc = std::string(rpc);
  record.decision = decision;
  return record;
}

SignerMetrics::Options FixedClock(absl::Time* now) {
  SignerMetrics::Options options;
  options.version = "1.2.3";
  options.start_time = absl::FromUnixSeconds(1700000000);
  options.now = [now] { return *now; };
  return options;
}

TEST(SignerMetricsTest, CountsAuditedRpcsByMethodAndDecision) {
  absl::Time now = absl::FromUnixSeconds(1800000000);
  SignerMetrics metrics(FixedClock(&now), nullptr);
  metrics.OnAudited(Record("CreateOrder", AuditDecision::kAllow), 1);
  metrics.OnAudited(Record("CreateOrder", AuditDecision::kAllow), 2);
  metrics.OnAudited(Record("CreateOrder", AuditDecision::kDeny), 3);
  const std::string text = metrics.Render();
  EXPECT_THAT(text,
              HasSubstr("acme_signer_rpcs_total{rpc=\"CreateOrder\",decision=\"allow\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("acme_signer_rpcs_total{rpc=\"CreateOrder\",decision=\"deny\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("acme_signer_build_info{version=\"1.2.3\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("acme_signer_process_start_time_seconds 1700000000\n"));
}

TEST(SignerMetricsTest, AFoldedRefusalRecordCountsEveryRefusalItStandsFor) {
  absl::Time now = absl::FromUnixSeconds(1800000000);
  SignerMetrics metrics(FixedClock(&now), nullptr);
  AuditRecord folded = Record("SignJws", AuditDecision::kDeny);
  folded.repeated.count = 41;
  folded.repeated.folded = "identical";
  metrics.OnAudited(folded, 7);
  EXPECT_THAT(metrics.Render(),
              HasSubstr("acme_signer_rpcs_total{rpc=\"SignJws\",decision=\"deny\"} 41\n"));
}

TEST(SignerMetricsTest, CapsDistinctRpcLabelValues) {
  absl::Time now = absl::FromUnixSeconds(1800000000);
  SignerMetrics metrics(FixedClock(&now), nullptr);
  for (size_t i = 0; i < SignerMetrics::kMaxRpcLabels + 10; ++i) {
    metrics.OnAudited(Record(absl::StrCat("FrontDoor/junk", i), AuditDecision::kDeny), i);
  }
  const std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("acme_signer_rpcs_total{rpc=\"other\",decision=\"deny\"} 10\n"));
  EXPECT_THAT(text, Not(HasSubstr(absl::StrCat("junk", SignerMetrics::kMaxRpcLabels, "\""))));
}

TEST(SignerMetricsTest, MeasuresTimeFromCreateOrderToTheCertificate) {
  absl::Time now = absl::FromUnixSeconds(1800000000);
  SignerMetrics metrics(FixedClock(&now), nullptr);
  AuditRecord create = Record("CreateOrder", AuditDecision::kAllow);
  create.request.order_url = "https://ca/order/1";
  metrics.OnAudited(create, 1);
  now += absl::Seconds(4);
  AuditRecord not_yet = Record("GetCertificate", AuditDecision::kDeny);
  not_yet.request.order_url = "https://ca/order/1";
  metrics.OnAudited(not_yet, 2);
  AuditRecord fetched = Record("GetCertificate", AuditDecision::kAllow);
  fetched.request.order_url = "https://ca/order/1";
  fetched.outcome.serial = "0abc";
  metrics.OnAudited(fetched, 3);
  metrics.OnAudited(fetched, 4);  // a second download is not a second issuance
  const std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("acme_signer_time_to_issue_seconds_bucket{le=\"2.5\"} 0\n"
                              "acme_signer_time_to_issue_seconds_bucket{le=\"5\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("acme_signer_time_to_issue_seconds_sum 4\n"
                              "acme_signer_time_to_issue_seconds_count 1\n"));
}

TEST(SignerMetricsTest, CountsReloadsByResultFromZero) {
  absl::Time now = absl::FromUnixSeconds(1800000000);
  SignerMetrics metrics(FixedClock(&now), nullptr);
  EXPECT_THAT(metrics.Render(), HasSubstr("acme_signer_reloads_total{result=\"ok\"} 0\n"));
  metrics.RecordReload(false);
  metrics.RecordReload(true);
  metrics.RecordReload(false);
  const std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("acme_signer_reloads_total{result=\"ok\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("acme_signer_reloads_total{result=\"refused\"} 2\n"));
}

TEST(SignerMetricsTest, ServesTheMetricsPathAndNothingElse) {
  absl::Time now = absl::FromUnixSeconds(1800000000);
  SignerMetrics metrics(FixedClock(&now), nullptr);
  http::PlainResponse ok = metrics.Serve("/metrics", "/metrics");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(ok.body, HasSubstr("# TYPE acme_signer_rpcs_total counter\n"));
  EXPECT_EQ(metrics.Serve("/", "/metrics").status, 404);
}

TEST(ExpiryBucketTest, SortsIntoFiveBuckets) {
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  EXPECT_EQ(ExpiryBucket(now, now), "expired");
  EXPECT_EQ(ExpiryBucket(now + absl::Hours(24 * 7) - absl::Seconds(1), now), "<7d");
  EXPECT_EQ(ExpiryBucket(now + absl::Hours(24 * 7), now), "<30d");
  EXPECT_EQ(ExpiryBucket(now + absl::Hours(24 * 60), now), "<90d");
  EXPECT_EQ(ExpiryBucket(now + absl::Hours(24 * 90), now), ">=90d");
}

class SignerMetricsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/signer_metrics_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(dir_ + "/state.db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void AddCertificate(absl::string_view serial, absl::string_view agent,
                      std::vector<std::string> names, absl::Time not_after, bool revoked = false) {
    CertificateRecord cert;
    cert.serial = std::string(serial);
    cert.agent = std::string(agent);
    cert.account = "default";
    cert.names = std::move(names);
    cert.not_before = not_after - absl::Hours(24 * 90);
    cert.not_after = not_after;
    cert.order_url = absl::StrCat("https://ca/order/", serial);
    cert.certificate_sha256 = std::string(64, serial[0]);
    ASSERT_TRUE(store_->RecordCertificate(cert).ok());
    if (revoked) {
      ASSERT_TRUE(store_->MarkRevoked(cert.serial, 1, not_after).ok());
    }
  }
  void AddAgentCertificate(absl::string_view sha, absl::string_view agent, absl::Time not_after) {
    AgentCertificateRecord cert;
    cert.sha256 = std::string(64, sha[0]);
    cert.agent = std::string(agent);
    cert.serial = std::string(sha);
    cert.not_before = not_after - absl::Hours(24 * 30);
    cert.not_after = not_after;
    cert.issued_at = cert.not_before;
    cert.source = "enroll-agent";
    ASSERT_TRUE(store_->RecordAgentCertificate(cert).ok());
  }

  std::string dir_;
  std::unique_ptr<StateStore> store_;
};

TEST_F(SignerMetricsStoreTest, CountsTheNewestCertificateOfEachLineageByExpiry) {
  absl::Time now = absl::FromUnixSeconds(1800000000);
  const absl::Duration day = absl::Hours(24);
  AddCertificate("a1", "web1", {"a.example", "b.example"}, now - day);       // renewed by a2
  AddCertificate("a2", "web1", {"b.example", "a.example"}, now + 60 * day);  // <90d
  AddCertificate("b1", "web1", {"c.example"}, now + 3 * day);                // <7d
  AddCertificate("c1", "web2", {"c.example"}, now - 2 * day);                // expired
  AddCertificate("d1", "web2", {"d.example"}, now + 2 * day, /*revoked=*/true);
  AddAgentCertificate("e", "web1", now + 20 * day);
  AddAgentCertificate("f", "web1", now + 200 * day);
  AddAgentCertificate("9", "web2", now + 5 * day);
  SignerMetrics metrics(FixedClock(&now), store_.get());
  const std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("acme_signer_certificates{expiry=\"expired\"} 1\n"
                              "acme_signer_certificates{expiry=\"<7d\"} 1\n"
                              "acme_signer_certificates{expiry=\"<30d\"} 0\n"
                              "acme_signer_certificates{expiry=\"<90d\"} 1\n"
                              "acme_signer_certificates{expiry=\">=90d\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("acme_signer_agent_certificates{expiry=\"expired\"} 0\n"
                              "acme_signer_agent_certificates{expiry=\"<7d\"} 1\n"
                              "acme_signer_agent_certificates{expiry=\"<30d\"} 0\n"
                              "acme_signer_agent_certificates{expiry=\"<90d\"} 0\n"
                              "acme_signer_agent_certificates{expiry=\">=90d\"} 1\n"));
}

}  // namespace
}  // namespace acme_signer::signer
