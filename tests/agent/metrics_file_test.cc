#include "agent/metrics_file.h"

#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/lineage.h"
#include "agent/private_key.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"
#include "tests/agent/test_certs.h"

namespace acme_signer::agent {
namespace {

using ::acme_signer::agent::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

class MetricsFileTest : public ::testing::Test {
 protected:
  // A real lineage on disk: a certificate from the test CA valid until `not_after`.
  void Install(const std::string& name, absl::Time not_before, absl::Time not_after) {
    auto key = PrivateKey::Generate(KeySpec());
    ASSERT_THAT(key, IsOk());
    LineageFiles files;
    files.privkey_pem = *key->ToPem();
    files.cert_pem = ca_.Issue(key->get(), {name}, not_before, not_after, ++serial_);
    files.chain_pem = ca_.cert_pem();
    files.fullchain_pem = files.cert_pem + files.chain_pem;
    ASSERT_THAT(store_.InstallNewVersion(name, files), IsOk());
  }
  std::string Read() {
    absl::StatusOr<std::string> text = ReadFile(path_);
    EXPECT_THAT(text, IsOk());
    return text.ok() ? *text : "";
  }

  testing::TempDir dir_;
  testing::TestCa ca_;
  std::string config_dir_ = dir_.path() + "/etc";
  LineageStore store_{config_dir_};
  std::string path_ = dir_.path() + "/acme-agent.prom";
  long serial_ = 1000;
};

TEST_F(MetricsFileTest, WritesExpiryRenewalAndRunTimeForEveryLineage) {
  const absl::Time not_before = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) - 3600);
  const absl::Time not_after = not_before + absl::Hours(24 * 90);
  ASSERT_NO_FATAL_FAILURE(Install("a.example", not_before, not_after));
  ASSERT_NO_FATAL_FAILURE(Install("b.example", not_before, not_after));
  const absl::Time now = absl::FromUnixSeconds(1900000000);
  ASSERT_THAT(WriteAgentMetricsFile(path_, config_dir_,
                                    {{"a.example", true, true}, {"b.example", false, false}}, now),
              IsOk());
  const std::string text = Read();
  EXPECT_THAT(text, HasSubstr(absl::StrCat(
                        "acme_agent_certificate_expiry_timestamp_seconds{cert_name=\"a.example\"} ",
                        absl::ToUnixSeconds(not_after), "\n")));
  EXPECT_THAT(text, HasSubstr("acme_agent_last_renewal_success{cert_name=\"a.example\"} 1\n"
                              "acme_agent_last_renewal_success{cert_name=\"b.example\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("acme_agent_last_renewal_timestamp_seconds{cert_name=\"a.example\"} "
                              "1900000000\n"));
  // b was not renewed and nothing was recorded before: its certificate's notBefore.
  EXPECT_THAT(text, HasSubstr(absl::StrCat(
                        "acme_agent_last_renewal_timestamp_seconds{cert_name=\"b.example\"} ",
                        absl::ToUnixSeconds(not_before), "\n")));
  EXPECT_THAT(text, HasSubstr("# TYPE acme_agent_last_run_timestamp_seconds gauge\n"
                              "acme_agent_last_run_timestamp_seconds 1900000000\n"));
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(MetricsFileTest, KeepsThePreviousResultOfLineagesThisRunDidNotLookAt) {
  const absl::Time not_before = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) - 3600);
  ASSERT_NO_FATAL_FAILURE(Install("a.example", not_before, not_before + absl::Hours(24 * 90)));
  ASSERT_NO_FATAL_FAILURE(Install("b.example", not_before, not_before + absl::Hours(24 * 90)));
  ASSERT_THAT(WriteAgentMetricsFile(path_, config_dir_,
                                    {{"a.example", false, false}, {"b.example", true, true}},
                                    absl::FromUnixSeconds(1900000000)),
              IsOk());
  // renew --cert-name b.example, not due this time.
  ASSERT_THAT(WriteAgentMetricsFile(path_, config_dir_, {{"b.example", true, false}},
                                    absl::FromUnixSeconds(1900000100)),
              IsOk());
  const std::string text = Read();
  EXPECT_THAT(text, HasSubstr("acme_agent_last_renewal_success{cert_name=\"a.example\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("acme_agent_last_renewal_timestamp_seconds{cert_name=\"b.example\"} "
                              "1900000000\n"));
  EXPECT_THAT(text, HasSubstr("acme_agent_last_run_timestamp_seconds 1900000100\n"));
}

TEST_F(MetricsFileTest, AFirstIssuanceThatFailedShowsOnlyTheFailure) {
  ASSERT_THAT(WriteAgentMetricsFile(path_, config_dir_, {{"new.example", false, false}},
                                    absl::FromUnixSeconds(1900000000)),
              IsOk());
  const std::string text = Read();
  EXPECT_THAT(text, HasSubstr("acme_agent_last_renewal_success{cert_name=\"new.example\"} 0\n"));
  EXPECT_THAT(text, Not(HasSubstr("acme_agent_certificate_expiry_timestamp_seconds{")));
}

}  // namespace
}  // namespace acme_signer::agent
