// The ACME front door of several replicas (issue 16): a stock client (lego) behind a round-robin
// load balancer is served by the replicas in turn, one request each, and still gets its
// certificate: its account, orders and nonces live in the shared PostgreSQL database, so a
// nonce one replica handed out is good at another, and an order made at one is finalized at
// another. The balancer is tests/testing/fault_proxy.h with one upstream per replica (one
// request per connection); every replica's [acme_server] external_url is the balancer's origin,
// as behind a real load balancer.
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/child_process.h"
#include "tests/testing/fault_proxy.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

constexpr int kReplicas = 2;
constexpr char kHost[] = "fd";
constexpr char kName[] = "lego.fd.replicas.test";

// The absolute path of `tool` on PATH, or "".
std::string Which(const std::string& tool) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path != nullptr ? path : "", ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", tool);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

class ReplicasFrontDoorTest : public testing::SignerLabSuite<ReplicasFrontDoorTest> {
 public:
  static testing::SignerLab::Options LabOptions() {
    testing::SignerLab::Options options;
    options.replicas = kReplicas;
    testing::LabAgentPolicy host;
    host.name = kHost;
    host.allowed_names = {kName};
    host.front_door = true;
    options.agents = {host};
    options.enroll = {};
    options.front_door = testing::LabFrontDoorOptions();
    // The CA side needs no answers (the front door itself validates the client's http-01).
    options.pebble_env = {{"PEBBLE_VA_ALWAYS_VALID", "1"}};
    return options;
  }

 protected:
  static void SetUpTestSuite() {
    if (!testing::PostgresCluster::Available().ok()) return;  // SetUp skips or fails
    SignerLabSuite::SetUpTestSuite();
    if (!lab_started()) return;
    absl::Status ready = []() -> absl::Status {
      testing::FaultProxy::Options options;
      options.upstream_origin = lab().front_door_origin(0);
      for (int i = 1; i < kReplicas; ++i) {
        options.more_upstream_origins.push_back(lab().front_door_origin(i));
      }
      options.upstream_ca_bundle = lab().front_door_ca_path();
      absl::StatusOr<std::unique_ptr<testing::FaultProxy>> proxy =
          testing::FaultProxy::Start(options);
      if (!proxy.ok()) return proxy.status();
      balancer_ = proxy->release();
      // Every replica names the balancer in its URLs (and checks JWS "url"s against it).
      if (absl::Status s = lab().SetFrontDoorExternalUrl(balancer_->origin()); !s.ok()) return s;
      if (absl::StatusOr<int> stopped = lab().StopSigner(); !stopped.ok()) {
        return stopped.status();
      }
      return lab().StartSigner();
    }();
    if (!ready.ok()) FailSuiteSetUp(ready);
  }

  static void TearDownTestSuite() {
    delete balancer_;
    balancer_ = nullptr;
    SignerLabSuite::TearDownTestSuite();
  }

  void SetUp() override {
    if (absl::Status pg = testing::PostgresCluster::Available(); !pg.ok()) {
      if (testing::InCi()) GTEST_FAIL() << "CI=true and PostgreSQL is missing: " << pg;
      GTEST_SKIP() << pg;
    }
    if (Which("lego").empty()) {
      if (testing::InCi()) GTEST_FAIL() << "CI=true and lego is missing";
      GTEST_SKIP() << "lego is not installed";
    }
    SignerLabSuite::SetUp();
  }

  static testing::FaultProxy* balancer_;
};

testing::FaultProxy* ReplicasFrontDoorTest::balancer_ = nullptr;

TEST_F(ReplicasFrontDoorTest, LegoIsServedByEveryReplicaInTurnWithNoncesFromAnother) {
  absl::StatusOr<testing::FrontDoorCredential> credential = lab().EnrollFrontDoorClient(kHost);
  ASSERT_TRUE(credential.ok()) << credential.status();
  const std::string work = absl::StrCat(lab().dir(), "/lego");
  std::filesystem::create_directories(work);
  testing::ChildOptions options;
  options.scratch_dir = work;
  options.timeout = absl::Minutes(3);
  options.extra_env = {absl::StrCat("LEGO_CA_CERTIFICATES=", balancer_->ca_bundle_path()),
                       // Loopback only: anything else goes to a proxy where nothing listens.
                       "HTTPS_PROXY=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9",
                       "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost"};
  testing::ChildResult run = testing::RunChild(
      {Which("lego"), "--server", absl::StrCat(balancer_->origin(), "/directory"), "--email",
       "lego@replicas.test", "--accept-tos", "--eab", "--kid", credential->eab_kid, "--hmac",
       credential->eab_hmac_key, "--domains", kName, "--http", "--http.port",
       absl::StrCat("127.0.0.1:", lab().front_door_http_port()), "--path", work, "run"},
      options);
  ASSERT_EQ(run.exit_code, 0) << run << "\nr1:\n"
                              << lab().ReplicaLogTail(0) << "\nr2:\n"
                              << lab().ReplicaLogTail(1);
  EXPECT_TRUE(std::filesystem::exists(absl::StrCat(work, "/certificates/", kName, ".crt")));

  // Every replica answered signed requests (POSTs) of this client, and no replica refused a
  // nonce the other one handed out.
  std::set<std::string> served_posts;
  int posts = 0;
  for (const testing::ProxiedRequest& request : balancer_->Requests()) {
    if (request.method != "POST" || request.upstream.empty()) continue;
    ++posts;
    served_posts.insert(request.upstream);
  }
  EXPECT_GE(posts, 4);
  EXPECT_EQ(served_posts.size(), static_cast<size_t>(kReplicas));
  EXPECT_EQ(balancer_->CountBadNonce(), 0);
}

}  // namespace
}  // namespace acme_signer
