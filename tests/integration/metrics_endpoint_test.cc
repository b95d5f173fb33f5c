// The signer's Prometheus endpoint ([metrics], signer/signer_metrics.h) end to end: a real
// issuance and a real refusal through the mTLS API show up in the counters a plain-HTTP scrape
// returns, and a real `prometheus` server (Debian package) scrapes the signer and answers a
// query with the value the test caused.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/csr.h"
#include "agent/private_key.h"
#include "agent/relay_issuer.h"
#include "agent/signer_client.h"
#include "agent/standalone_solver.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/curl_http_client.h"
#include "nlohmann/json.hpp"
#include "tests/testing/pebble_env.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;

constexpr char kPrometheus[] = "/usr/bin/prometheus";

absl::StatusOr<http::HttpResponse> PlainGet(const std::string& url) {
  http::CurlHttpClient::Options options;
  options.require_https = false;
  ASSIGN_OR_RETURN(auto client, http::CurlHttpClient::Create(options));
  http::HttpRequest request;
  request.url = url;
  return client->Do(request);
}

// The value of the sample written exactly `series` (name{labels}) in `text`, or -1.
double SampleValue(const std::string& text, absl::string_view series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, series) || !absl::ConsumePrefix(&line, " ")) continue;
    double value = 0;
    if (absl::SimpleAtod(line, &value)) return value;
  }
  return -1;
}

class MetricsTest : public testing::SignerLabSuite<MetricsTest> {
 protected:
  static testing::SignerLab::Options LabOptions() {
    testing::SignerLab::Options options;
    options.metrics_listener = true;
    return options;
  }

  // One real issuance (web1) and one real refusal (web1 asking for web2's name), done by the
  // first test that needs them.
  static void IssueAndRefuseOnce() {
    if (done_) return;
    done_ = true;
    std::unique_ptr<agent::SignerClient> client = Client("web1");
    ASSERT_NE(client, nullptr);
    absl::StatusOr<agent::PrivateKey> key = agent::PrivateKey::Generate(agent::KeySpec());
    ASSERT_TRUE(key.ok()) << key.status();
    const std::vector<std::string> names = {"web1.example.test"};
    absl::StatusOr<std::string> csr = agent::BuildCsrDer(*key, names);
    ASSERT_TRUE(csr.ok()) << csr.status();
    agent::StandaloneSolver solver("127.0.0.1", lab().http_port());
    agent::RelayIssueOptions options;
    options.domains = names;
    options.csr_der = *csr;
    options.validation_timeout = absl::Minutes(2);
    options.processing_timeout = absl::Minutes(2);
    options.min_poll = absl::Milliseconds(200);
    options.max_poll = absl::Seconds(2);
    absl::StatusOr<agent::IssuedChain> chain = agent::IssueThroughSigner(*client, solver, options);
    ASSERT_TRUE(chain.ok()) << chain.status() << "\n" << lab().SignerLogTail();
    EXPECT_FALSE(client->CreateOrder({"web2.example.test"}, "").ok());
  }

  static std::string Scrape() {
    absl::StatusOr<http::HttpResponse> response = PlainGet(lab().metrics_url());
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return "";
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    return response->body;
  }

  static inline bool done_ = false;
};

TEST_F(MetricsTest, AScrapeCountsARealIssuanceAndARealRefusal) {
  ASSERT_NO_FATAL_FAILURE(IssueAndRefuseOnce());
  const std::string text = Scrape();
  EXPECT_GE(SampleValue(text, "acme_signer_rpcs_total{rpc=\"CreateOrder\",decision=\"allow\"}"), 1)
      << text;
  EXPECT_GE(SampleValue(text, "acme_signer_rpcs_total{rpc=\"GetCertificate\",decision=\"allow\"}"),
            1);
  EXPECT_GE(SampleValue(text, "acme_signer_rpcs_total{rpc=\"CreateOrder\",decision=\"deny\"}"), 1);
  EXPECT_EQ(SampleValue(text, "acme_signer_time_to_issue_seconds_count"), 1);
  // The certificate is in the inventory, counted in one of the expiry buckets.
  double certificates = 0;
  for (const char* bucket : {"expired", "<7d", "<30d", "<90d", ">=90d"}) {
    certificates +=
        SampleValue(text, absl::StrCat("acme_signer_certificates{expiry=\"", bucket, "\"}"));
  }
  EXPECT_EQ(certificates, 1) << text;
  // The process metrics: the CA answered, the HSM signed, the audit log committed.
  EXPECT_GE(SampleValue(text, "acme_signer_ca_responses_total{status=\"201\"}"), 1) << text;
  EXPECT_GE(SampleValue(text, "acme_signer_hsm_sign_duration_seconds_count{operation=\"jws\"}"), 1);
  EXPECT_GE(SampleValue(text, "acme_signer_audit_commit_duration_seconds_count{backend=\"file\"}"),
            1);
  EXPECT_THAT(text, HasSubstr("acme_signer_build_info{version=\""));
  // No names or serials in labels.
  EXPECT_THAT(text, ::testing::Not(HasSubstr("example.test")));
}

TEST_F(MetricsTest, AnswersOnlyItsPath) {
  const std::string base(absl::StripSuffix(lab().metrics_url(), "/metrics"));
  absl::StatusOr<http::HttpResponse> other = PlainGet(absl::StrCat(base, "/"));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->status, 404);
}

TEST_F(MetricsTest, CountsReloadsByResult) {
  const std::string before = Scrape();
  const double ok_before = SampleValue(before, "acme_signer_reloads_total{result=\"ok\"}");
  const double refused_before =
      SampleValue(before, "acme_signer_reloads_total{result=\"refused\"}");
  ASSERT_GE(ok_before, 0) << before;
  ASSERT_TRUE(lab().ReloadSigner().ok()) << lab().SignerLogTail();
  const absl::StatusOr<std::string> config = ReadFile(lab().config_path());
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(lab().WriteRawConfig(absl::StrCat(*config, "\n[no_such_section]\n")).ok());
  EXPECT_EQ(lab().ReloadSigner().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(lab().WriteRawConfig(*config).ok());
  ASSERT_TRUE(lab().ReloadSigner().ok()) << lab().SignerLogTail();
  const std::string after = Scrape();
  EXPECT_EQ(SampleValue(after, "acme_signer_reloads_total{result=\"ok\"}"), ok_before + 2);
  EXPECT_EQ(SampleValue(after, "acme_signer_reloads_total{result=\"refused\"}"),
            refused_before + 1);
}

// A child process killed (SIGTERM, then SIGKILL) and reaped when the test ends.
class ChildGuard {
 public:
  explicit ChildGuard(pid_t pid) : pid_(pid) {}
  ~ChildGuard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {  // at most 10 s for a clean stop
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      ::usleep(100 * 1000);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;

 private:
  pid_t pid_;
};

TEST_F(MetricsTest, ARealPrometheusScrapesTheSignerAndAnswersWithTheRefusalCount) {
  if (::access(kPrometheus, X_OK) != 0) {
    if (testing::InCi()) FAIL() << kPrometheus << " is missing (CI=true: required)";
    GTEST_SKIP() << kPrometheus << " is missing (apt install prometheus)";
  }
  ASSERT_NO_FATAL_FAILURE(IssueAndRefuseOnce());
  const double refusals =
      SampleValue(Scrape(), "acme_signer_rpcs_total{rpc=\"CreateOrder\",decision=\"deny\"}");
  ASSERT_GE(refusals, 1);

  char tmpl[] = "/tmp/metrics_test_prometheus.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  struct RemoveDir {
    std::string dir;
    ~RemoveDir() { std::filesystem::remove_all(dir); }
  } remove_dir{dir};
  const std::string target(
      absl::StripSuffix(absl::StripPrefix(lab().metrics_url(), "http://"), "/metrics"));
  ASSERT_TRUE(WriteFileAtomically(dir + "/prometheus.yml",
                                  absl::StrCat("global:\n"
                                               "  scrape_interval: 1s\n"
                                               "scrape_configs:\n"
                                               "  - job_name: acme-signer\n"
                                               "    metrics_path: /metrics\n"
                                               "    static_configs:\n"
                                               "      - targets: ['",
                                               target, "']\n"),
                                  0644)
                  .ok());
  absl::StatusOr<uint16_t> port = testing::FreeLoopbackPort();
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string listen = absl::StrCat("127.0.0.1:", *port);
  const std::string log_path = dir + "/prometheus.log";
  std::vector<std::string> args = {kPrometheus,
                                   absl::StrCat("--config.file=", dir, "/prometheus.yml"),
                                   absl::StrCat("--storage.tsdb.path=", dir, "/data"),
                                   absl::StrCat("--web.listen-address=", listen)};
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(kPrometheus, argv.data());
    ::_exit(127);
  }
  ChildGuard guard(pid);

  // Ask until Prometheus has scraped the counter (scrape_interval 1 s; start-up takes a few
  // seconds): at most 60 s.
  const std::string query_url = absl::StrCat(
      "http://", listen,
      "/api/v1/"
      "query?query=acme_signer_rpcs_total%7Brpc%3D%22CreateOrder%22%2Cdecision%3D%22deny%22%7D");
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  double answered = -1;
  std::string last;
  const absl::Time started = absl::Now();
  while (absl::Now() < deadline) {
    absl::StatusOr<http::HttpResponse> response = PlainGet(query_url);
    if (response.ok() && response->status == 200) {
      last = response->body;
      nlohmann::json json = nlohmann::json::parse(response->body, nullptr, false);
      // {"status":"success","data":{"resultType":"vector","result":[{"metric":{...},
      //  "value":[<time>,"<value>"]}]}}
      if (json.is_object() && json["data"]["result"].is_array() &&
          !json["data"]["result"].empty() && json["data"]["result"][0]["value"][1].is_string()) {
        answered = std::stod(json["data"]["result"][0]["value"][1].get<std::string>());
        if (answered >= refusals) break;
      }
    } else if (response.ok()) {
      last = absl::StrCat("HTTP ", response->status, ": ", response->body);
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  EXPECT_GE(answered, refusals) << "last answer: " << last << "\nprometheus log:\n"
                                << ReadFile(log_path).value_or("");
  std::cerr << "prometheus answered with the scraped value after "
            << absl::FormatDuration(absl::Now() - started) << std::endl;
}

}  // namespace
}  // namespace acme_signer
