// A hostile or failing CA, driven through the real processes: acme-signer talks to Pebble
// only through a FaultProxy (tests/testing/fault_proxy.h) that answers chosen requests itself
// with 503 + Retry-After, 500 + a problem document, garbage, a dropped connection or
// silence. For each fault:
//  - the agent gets a clear error over gRPC naming what the CA did (or the signer rides it
//    out, for a short Retry-After);
//  - nothing is issued twice (the inventory has exactly one entry per certificate);
//  - the signer keeps serving, its audit log verifies, and a later attempt succeeds once
//    the fault is lifted.
// A second suite starts Pebble with PEBBLE_WFE_NONCEREJECT=50 (half of all nonces rejected)
// and issues several certificates through the signer with agent::IssueThroughSigner.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/csr.h"
#include "agent/private_key.h"
#include "agent/relay_issuer.h"
#include "agent/signer_client.h"
#include "agent/standalone_solver.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/fault_proxy.h"
#include "tests/testing/lab_orders.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

using ::testing::AllOf;
using testing::Fault;
using testing::FaultProxy;
using ::testing::HasSubstr;
using testing::SignerLab;

namespace pb = ::acmesigner::v1;

// Pebble's paths (pebble 2.4 wfe.go).
constexpr char kNewOrderPath[] = "/order-plz";
constexpr char kOrderPath[] = "/my-order/";
constexpr char kAuthzPath[] = "/authZ/";
constexpr char kFinalizePath[] = "/finalize-order/";

// Attempts gRPC makes of a read (GetOrder) the signer answers UNAVAILABLE: one, since this lab
// has one signer (agent/signer_channel.h retries reads on another replica only when the target
// names several).
constexpr int kReadAttempts = 1;

// The signer's bound on each request to the CA in these labs ([acme] request_timeout_ms):
// short, so that the hang test takes seconds, not the 30 s default.
constexpr char kRequestTimeoutToml[] = "request_timeout_ms = 3000\n";

// A SignerLabSuite whose signer reaches Pebble only through a FaultProxy (proxy()).
template <typename Suite>
class ProxiedLabSuite : public testing::SignerLabSuite<Suite> {
 protected:
  using Base = testing::SignerLabSuite<Suite>;

  static SignerLab::Options ProxiedLabOptions(
      std::vector<std::pair<std::string, std::string>> pebble_env) {
    SignerLab::Options options;
    for (testing::LabAgentPolicy& agent : options.agents) agent.orders_per_hour = 1000;
    options.pebble_env = std::move(pebble_env);
    options.acme_endpoint = [](testing::PebbleEnv& pebble,
                               testing::LabAcmeEndpoint& acme) -> absl::Status {
      FaultProxy::Options proxy_options;
      std::string origin = pebble.directory_url();
      origin.resize(origin.size() - std::string("/dir").size());
      proxy_options.upstream_origin = origin;
      proxy_options.upstream_ca_bundle = pebble.ca_bundle_path();
      ASSIGN_OR_RETURN(proxy_, FaultProxy::Start(proxy_options));
      acme.directory_url = proxy_->directory_url();
      acme.ca_bundle = proxy_->ca_bundle_path();
      acme.extra_toml = kRequestTimeoutToml;
      return absl::OkStatus();
    };
    return options;
  }

  static void TearDownTestSuite() {
    Base::TearDownTestSuite();  // The signer goes first: nothing talks to the proxy then.
    proxy_.reset();
  }

  void SetUp() override {
    Base::SetUp();
    if (::testing::Test::IsSkipped() || ::testing::Test::HasFatalFailure()) return;
    ASSERT_NE(proxy_, nullptr);
  }

  // Every test lifts its faults, whatever happened.
  void TearDown() override {
    if (proxy_ == nullptr) return;
    proxy_->ClearFaults();
    proxy_->ReleaseHangs();
  }

  static FaultProxy& proxy() { return *proxy_; }

  static inline std::unique_ptr<FaultProxy> proxy_;
};

class CaFaultTest : public ProxiedLabSuite<CaFaultTest> {
 public:
  // No rejected nonces: request counts below are exact. (Public: the base calls it.)
  static SignerLab::Options LabOptions() {
    return ProxiedLabOptions({{"PEBBLE_WFE_NONCEREJECT", "0"}});
  }

 protected:
  static std::unique_ptr<agent::SignerClient> Client() { return Base::Client("web1"); }

  static std::string Csr(const std::vector<std::string>& names) {
    absl::StatusOr<std::string> csr = testing::NewCsrDer(names);
    EXPECT_TRUE(csr.ok()) << csr.status();
    return csr.ok() ? *csr : "";
  }

  // Takes a pending `order` to a certificate: answers the challenges, finalizes, waits and
  // downloads. Returns the serial (empty and a test failure otherwise).
  static std::string Complete(agent::SignerClient& client, const pb::Order& order,
                              const std::vector<std::string>& names) {
    agent::StandaloneSolver solver("127.0.0.1", lab().http_port());
    absl::Status answered = testing::AnswerHttp01Challenges(client, solver, order);
    EXPECT_TRUE(answered.ok()) << answered;
    absl::StatusOr<pb::Order> ready =
        testing::PollOrderWhile(client, order, pb::ORDER_STATUS_PENDING);
    EXPECT_TRUE(ready.ok()) << ready.status();
    if (!ready.ok()) return "";
    EXPECT_EQ(ready->status(), pb::ORDER_STATUS_READY);
    return FinalizeAndDownload(client, *ready, names);
  }

  static std::string FinalizeAndDownload(agent::SignerClient& client, const pb::Order& ready,
                                         const std::vector<std::string>& names) {
    absl::StatusOr<pb::Order> finalized = client.FinalizeOrder(ready.url(), Csr(names));
    EXPECT_TRUE(finalized.ok()) << finalized.status() << "\n" << lab().SignerLogTail();
    if (!finalized.ok()) return "";
    return Download(client, *finalized);
  }

  static std::string Download(agent::SignerClient& client, const pb::Order& order) {
    absl::StatusOr<pb::Order> valid =
        testing::PollOrderWhile(client, order, pb::ORDER_STATUS_PROCESSING);
    EXPECT_TRUE(valid.ok()) << valid.status();
    if (!valid.ok()) return "";
    EXPECT_EQ(valid->status(), pb::ORDER_STATUS_VALID);
    absl::StatusOr<pb::GetCertificateResponse> cert = client.GetCertificate(order.url(), "");
    EXPECT_TRUE(cert.ok()) << cert.status();
    if (!cert.ok()) return "";
    EXPECT_FALSE(cert->serial().empty());
    return cert->serial();
  }

  // The error text of the latest audit record of `rpc` by web1 ("" when none).
  static std::string LastAuditedError(absl::string_view rpc) {
    std::string error;
    for (const nlohmann::json& record : AuditRecords()) {
      if (record.value("rpc", "") == rpc && record.value("agent", "") == "web1" &&
          record.contains("outcome")) {
        error = record["outcome"].value("error", "");
      }
    }
    return error;
  }

  void ExpectSignerStillServes() {
    EXPECT_TRUE(lab().signer_running()) << lab().SignerLogTail();
    std::unique_ptr<agent::SignerClient> client = Client();
    ASSERT_NE(client, nullptr);
    absl::StatusOr<pb::GetAccountResponse> account = client->GetAccount();
    EXPECT_TRUE(account.ok()) << account.status();
  }
};

// RFC 7231 §7.1.3: a 503 with Retry-After says when the service is back. A short wait is
// ridden out inside the call (acme/client.h, max_retry_after_wait): the agent never sees it.
TEST_F(CaFaultTest, ServiceUnavailableWithAShortRetryAfterOnNewOrderIsRiddenOutByTheSigner) {
  std::unique_ptr<agent::SignerClient> client = Client();
  ASSERT_NE(client, nullptr);
  const std::vector<std::string> names = {"retry.web1.example.test"};
  const int new_orders_before = proxy().CountRequests(kNewOrderPath);
  const int faulted_before = proxy().CountFaulted(kNewOrderPath);
  const size_t inventory_before = Inventory().size();
  proxy().Inject(kNewOrderPath, Fault::Status(503, "1", "serverInternal", "back in a second"));

  absl::StatusOr<pb::Order> order = client->CreateOrder(names, "");
  ASSERT_TRUE(order.ok()) << order.status() << "\n" << lab().SignerLogTail();
  EXPECT_EQ(proxy().CountFaulted(kNewOrderPath), faulted_before + 1);
  EXPECT_EQ(proxy().CountRequests(kNewOrderPath), new_orders_before + 2)
      << "expected the 503 and one retry";

  const std::string serial = Complete(*client, *order, names);
  ASSERT_FALSE(serial.empty());
  EXPECT_EQ(InventoryEntriesWithSerial(serial), 1);
  EXPECT_EQ(Inventory().size(), inventory_before + 1);
  ExpectAuditVerifies();
}

// A wait longer than the signer will park a thread for goes back to the agent, with the
// time the CA asked for, and nothing is ordered.
TEST_F(CaFaultTest, ServiceUnavailableWithALongRetryAfterReachesTheAgentWithTheRetryTime) {
  std::unique_ptr<agent::SignerClient> client = Client();
  ASSERT_NE(client, nullptr);
  const std::vector<std::string> names = {"later.web1.example.test"};
  const int new_orders_before = proxy().CountRequests(kNewOrderPath);
  proxy().Inject(kNewOrderPath, Fault::Status(503, "120", "serverInternal", "maintenance"));

  absl::StatusOr<pb::Order> refused = client->CreateOrder(names, "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  RecordProperty("agent_error", std::string(refused.status().message()));
  EXPECT_THAT(refused.status().message(),
              AllOf(HasSubstr("creating an order for later.web1.example.test"),
                    HasSubstr("the CA answered serverInternal (HTTP 503)"),
                    HasSubstr("maintenance"), HasSubstr("retry after 2m")));
  EXPECT_EQ(proxy().CountRequests(kNewOrderPath), new_orders_before + 1) << "no retry expected";
  EXPECT_THAT(LastAuditedError("CreateOrder"), HasSubstr("retry after 2m"));
  ExpectSignerStillServes();

  // The same without a problem document: the status and the hint still reach the agent.
  Fault bare = Fault::Status(503, "120");
  proxy().Inject(kNewOrderPath, bare);
  refused = client->CreateOrder(names, "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  RecordProperty("agent_error", std::string(refused.status().message()));
  EXPECT_THAT(refused.status().message(),
              AllOf(HasSubstr("the CA answered HTTP 503 without a problem document"),
                    HasSubstr("retry after 2m")));

  // Once the CA is back, the same request goes through.
  absl::StatusOr<pb::Order> order = client->CreateOrder(names, "");
  ASSERT_TRUE(order.ok()) << order.status();
  const std::string serial = Complete(*client, *order, names);
  ASSERT_FALSE(serial.empty());
  EXPECT_EQ(InventoryEntriesWithSerial(serial), 1);
  ExpectAuditVerifies();
}

// The CA's problem detail reaches the agent; the CA never saw the CSR, so the order is still
// ready and a second finalize issues exactly one certificate.
TEST_F(CaFaultTest, InternalErrorOnFinalizeGivesTheAgentTheCasProblemAndTheOrderFinalizesLater) {
  std::unique_ptr<agent::SignerClient> client = Client();
  ASSERT_NE(client, nullptr);
  const std::vector<std::string> names = {"final.web1.example.test"};
  absl::StatusOr<pb::Order> ready = testing::CreateReadyOrder(*client, lab().http_port(), names);
  ASSERT_TRUE(ready.ok()) << ready.status() << "\n" << lab().SignerLogTail();
  ASSERT_EQ(ready->status(), pb::ORDER_STATUS_READY);
  const size_t inventory_before = Inventory().size();
  const int faulted_before = proxy().CountFaulted(kFinalizePath);
  proxy().Inject(kFinalizePath,
                 Fault::Status(500, "", "serverInternal", "issuance backend is down"));

  absl::StatusOr<pb::Order> refused = client->FinalizeOrder(ready->url(), Csr(names));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  RecordProperty("agent_error", std::string(refused.status().message()));
  EXPECT_THAT(
      refused.status().message(),
      AllOf(HasSubstr("finalizing order"), HasSubstr("the CA answered serverInternal (HTTP 500)"),
            HasSubstr("issuance backend is down"), HasSubstr("retry later")));
  EXPECT_EQ(proxy().CountFaulted(kFinalizePath), faulted_before + 1);
  EXPECT_THAT(LastAuditedError("FinalizeOrder"), HasSubstr("issuance backend is down"));
  ExpectSignerStillServes();

  absl::StatusOr<pb::Order> still = client->GetOrder(ready->url());
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_EQ(still->status(), pb::ORDER_STATUS_READY);
  const std::string serial = FinalizeAndDownload(*client, *still, names);
  ASSERT_FALSE(serial.empty());
  EXPECT_EQ(InventoryEntriesWithSerial(serial), 1);
  EXPECT_EQ(Inventory().size(), inventory_before + 1);
  ExpectAuditVerifies();
}

// The worst case of a lost answer: the CA accepted the CSR, the connection dropped before
// the signer heard. The agent gets a transport error; the order is already processing or
// valid at the CA, so the agent's second finalize is answered with the order (not sent to
// the CA again), and exactly one certificate results.
TEST_F(CaFaultTest, FinalizeWhoseAnswerIsLostStillYieldsExactlyOneCertificate) {
  std::unique_ptr<agent::SignerClient> client = Client();
  ASSERT_NE(client, nullptr);
  const std::vector<std::string> names = {"lost.web1.example.test"};
  absl::StatusOr<pb::Order> ready = testing::CreateReadyOrder(*client, lab().http_port(), names);
  ASSERT_TRUE(ready.ok()) << ready.status() << "\n" << lab().SignerLogTail();
  ASSERT_EQ(ready->status(), pb::ORDER_STATUS_READY);
  const size_t inventory_before = Inventory().size();
  Fault dropped = Fault::Close();
  dropped.forward_first = true;
  proxy().Inject(kFinalizePath, dropped);

  const std::string csr = Csr(names);  // the agent's retry sends the same CSR
  absl::StatusOr<pb::Order> lost = client->FinalizeOrder(ready->url(), csr);
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kUnavailable) << lost.status();
  RecordProperty("agent_error", std::string(lost.status().message()));
  EXPECT_THAT(lost.status().message(),
              AllOf(HasSubstr("finalizing order"),
                    HasSubstr("the server closed the connection without answering")));
  ExpectSignerStillServes();

  absl::StatusOr<pb::Order> current = client->GetOrder(ready->url());
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_NE(current->status(), pb::ORDER_STATUS_READY) << "the CA did not get the CSR";
  const int finalizes_before = proxy().CountRequests(kFinalizePath, "POST");
  absl::StatusOr<pb::Order> again = client->FinalizeOrder(ready->url(), csr);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(again->status(), pb::ORDER_STATUS_READY);
  EXPECT_EQ(proxy().CountRequests(kFinalizePath, "POST"), finalizes_before);

  const std::string serial = Download(*client, *current);
  ASSERT_FALSE(serial.empty());
  EXPECT_EQ(InventoryEntriesWithSerial(serial), 1);
  EXPECT_EQ(Inventory().size(), inventory_before + 1);
  ExpectAuditVerifies();
}

TEST_F(CaFaultTest, GarbageForAnOrderOrAnAuthorizationIsAMalformedResponseNotACrash) {
  std::unique_ptr<agent::SignerClient> client = Client();
  ASSERT_NE(client, nullptr);
  const std::vector<std::string> names = {"garbage.web1.example.test"};
  absl::StatusOr<pb::Order> order = client->CreateOrder(names, "");
  ASSERT_TRUE(order.ok()) << order.status() << "\n" << lab().SignerLogTail();

  const int order_faults_before = proxy().CountFaulted(kOrderPath);
  const int authz_faults_before = proxy().CountFaulted(kAuthzPath);
  // The fault lasts for every attempt gRPC makes of the read (kReadAttempts).
  proxy().Inject(kOrderPath, Fault::Garbage(), kReadAttempts);
  absl::StatusOr<pb::Order> garbled = client->GetOrder(order->url());
  EXPECT_EQ(garbled.status().code(), absl::StatusCode::kUnavailable) << garbled.status();
  RecordProperty("agent_error", std::string(garbled.status().message()));
  EXPECT_THAT(garbled.status().message(),
              AllOf(HasSubstr("fetching order"), HasSubstr("malformed response from the CA"),
                    HasSubstr("order is not valid JSON")));
  EXPECT_EQ(proxy().CountFaulted(kOrderPath), order_faults_before + kReadAttempts);
  ExpectSignerStillServes();

  // GetOrder also fetches each authorization for the agent.
  proxy().Inject(kAuthzPath, Fault::Garbage(), kReadAttempts);
  garbled = client->GetOrder(order->url());
  EXPECT_EQ(garbled.status().code(), absl::StatusCode::kUnavailable) << garbled.status();
  RecordProperty("agent_error", std::string(garbled.status().message()));
  EXPECT_THAT(garbled.status().message(), AllOf(HasSubstr("fetching authorization"),
                                                HasSubstr("malformed response from the CA"),
                                                HasSubstr("authorization is not valid JSON")));
  EXPECT_EQ(proxy().CountFaulted(kAuthzPath), authz_faults_before + kReadAttempts);
  ExpectSignerStillServes();

  absl::StatusOr<pb::Order> current = client->GetOrder(order->url());
  ASSERT_TRUE(current.ok()) << current.status();
  const std::string serial = Complete(*client, *current, names);
  ASSERT_FALSE(serial.empty());
  EXPECT_EQ(InventoryEntriesWithSerial(serial), 1);
  ExpectAuditVerifies();
}

TEST_F(CaFaultTest, ConnectionClosedWithoutAnAnswerIsAClearErrorAndTheNextCallWorks) {
  std::unique_ptr<agent::SignerClient> client = Client();
  ASSERT_NE(client, nullptr);
  const std::vector<std::string> names = {"closed.web1.example.test"};
  const int faulted_before = proxy().CountFaulted(kNewOrderPath);
  proxy().Inject(kNewOrderPath, Fault::Close());

  absl::StatusOr<pb::Order> refused = client->CreateOrder(names, "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  RecordProperty("agent_error", std::string(refused.status().message()));
  EXPECT_THAT(refused.status().message(),
              AllOf(HasSubstr("creating an order for closed.web1.example.test"),
                    HasSubstr(absl::StrCat("POST ", proxy().origin(), kNewOrderPath)),
                    HasSubstr("the server closed the connection without answering")));
  EXPECT_EQ(proxy().CountFaulted(kNewOrderPath), faulted_before + 1);
  ExpectSignerStillServes();

  absl::StatusOr<pb::Order> order = client->CreateOrder(names, "");
  ASSERT_TRUE(order.ok()) << order.status();
  const std::string serial = Complete(*client, *order, names);
  ASSERT_FALSE(serial.empty());
  EXPECT_EQ(InventoryEntriesWithSerial(serial), 1);
  ExpectAuditVerifies();
}

// A CA that accepts the connection and never answers: the signer gives up after its
// request_timeout_ms (3 s here) and says so, well inside the agent's own deadline (30 s in
// the lab): the agent gets UNAVAILABLE "timed out", not DEADLINE_EXCEEDED.
TEST_F(CaFaultTest, HangingCaTimesOutInTheSignerWithAClearErrorAndTheNextCallWorks) {
  std::unique_ptr<agent::SignerClient> client = Client();
  ASSERT_NE(client, nullptr);
  const std::vector<std::string> names = {"hang.web1.example.test"};
  absl::StatusOr<pb::Order> order = client->CreateOrder(names, "");
  ASSERT_TRUE(order.ok()) << order.status() << "\n" << lab().SignerLogTail();
  const int faulted_before = proxy().CountFaulted(kOrderPath);
  proxy().Inject(kOrderPath, Fault::Hang(), kReadAttempts);  // each attempt of the read hangs

  absl::StatusOr<pb::Order> hung = client->GetOrder(order->url());
  EXPECT_EQ(hung.status().code(), absl::StatusCode::kUnavailable) << hung.status();
  RecordProperty("agent_error", std::string(hung.status().message()));
  EXPECT_THAT(hung.status().message(), AllOf(HasSubstr("fetching order"), HasSubstr("timed out")));
  EXPECT_EQ(proxy().CountFaulted(kOrderPath), faulted_before + kReadAttempts);
  EXPECT_EQ(proxy().hanging(), kReadAttempts) << "the CA's side of the connections is still open";
  proxy().ReleaseHangs();
  ExpectSignerStillServes();

  absl::StatusOr<pb::Order> current = client->GetOrder(order->url());
  ASSERT_TRUE(current.ok()) << current.status();
  const std::string serial = Complete(*client, *current, names);
  ASSERT_FALSE(serial.empty());
  EXPECT_EQ(InventoryEntriesWithSerial(serial), 1);
  ExpectAuditVerifies();
}

// Pebble rejecting half of all nonces (PEBBLE_WFE_NONCEREJECT=50): every issuance through the
// signer still succeeds, by the engine's bounded badNonce retries.
class NonceRejectTest : public ProxiedLabSuite<NonceRejectTest> {
 public:
  static SignerLab::Options LabOptions() {
    return ProxiedLabOptions({{"PEBBLE_WFE_NONCEREJECT", "50"}});
  }
};

TEST_F(NonceRejectTest, EveryIssuanceSucceedsWhilePebbleRejectsHalfOfAllNonces) {
  constexpr int kIssuances = 6;
  const int bad_nonces_at_start = proxy().CountBadNonce();  // init and enrolment
  const int posts_at_start = proxy().CountRequests("", "POST");
  const size_t inventory_before = Inventory().size();
  std::vector<std::string> serials;
  for (int i = 0; i < kIssuances; ++i) {
    std::unique_ptr<agent::SignerClient> client = Client("web1");
    ASSERT_NE(client, nullptr);
    const std::vector<std::string> names = {absl::StrCat("n", i, ".web1.example.test")};
    absl::StatusOr<agent::PrivateKey> key = agent::PrivateKey::Generate(agent::KeySpec());
    ASSERT_TRUE(key.ok()) << key.status();
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
    ASSERT_TRUE(chain.ok()) << "issuance " << i << ": " << chain.status() << "\n"
                            << lab().SignerLogTail();
    EXPECT_EQ(InventoryEntriesWithSerial(chain->serial), 1);
    serials.push_back(chain->serial);
  }
  EXPECT_EQ(Inventory().size(), inventory_before + kIssuances);
  const int bad_nonces = proxy().CountBadNonce() - bad_nonces_at_start;
  const int posts = proxy().CountRequests("", "POST") - posts_at_start;
  // With half of all nonces rejected, ~1 POST in 2 is a badNonce (chance of none: 2^-posts).
  EXPECT_GT(bad_nonces, 0);
  std::cout << "NONCEREJECT=50: " << kIssuances << " issuances, " << posts << " POSTs, "
            << bad_nonces << " badNonce rejections retried (" << proxy().CountBadNonce()
            << " including init)\n";
  RecordProperty("issuances", kIssuances);
  RecordProperty("posts", posts);
  RecordProperty("bad_nonce_retries", bad_nonces);
  ExpectAuditVerifies();
}

}  // namespace
}  // namespace acme_signer
