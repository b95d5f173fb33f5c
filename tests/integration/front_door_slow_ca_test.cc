// The ACME front door (signer/frontdoor/) in front of a CA that stays `processing` for a
// bounded time (issue 13, "Upstream modes"): acme-signer reaches Pebble only through a
// FaultProxy (tests/testing/fault_proxy.h) which, once the host has finalized, rewrites
// "status": "valid" to "status": "processing" in Pebble's order answers for kSlowFor. Pebble
// runs with PEBBLE_VA_ALWAYS_VALID=1 (a CA with pre-validated domains); its authorizations
// still start pending, and the signer answers their dns-01 through the lab's challtestsrv hook.
//
// A stock-client stand-in (acme::AcmeClient with an in-memory key and a per-host EAB
// credential from `acme-signer enroll-client`) drives the front door like certbot would:
// account with EAB, order, its own http-01 answered on the lab's http-01 port (the front door
// validates it), finalize, then polls the order as told by Retry-After. The test asserts that
//  - while the CA is slow the front door's order answers `processing` with a Retry-After;
//  - the signer really saw the CA's `processing` (the proxy rewrote its order answers) and
//    kept polling;
//  - the certificate comes after the slow period, well within a minute, verifies against
//    Pebble's root and names the ordered name;
//  - the audit log has the FrontDoor/issue record for it (host web1, the serial).
// The signer has two accounts at Pebble, `default` and `dept-b`; web1's default is `dept-b`, so
// its credentials belong to `dept-b` and every upstream step (also the finalize of an order
// resumed after a restart) must be `dept-b`'s: Pebble refuses another account's order.
// A second test runs a stock certbot (certonly --standalone, EAB) through the same slow CA:
// certbot 2.1 polls the order every second after finalize (it gives it about 90 s) and must
// get the certificate once the CA is done.
#include <openssl/bn.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "acme/client.h"
#include "acme/identifier.h"
#include "acme/key_authorization.h"
#include "acme/resources.h"
#include "agent/challenge_solver.h"
#include "agent/standalone_solver.h"
#include "common/base64url.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/curl_http_client.h"
#include "nlohmann/json.hpp"
#include "tests/acme/openssl_signers.h"
#include "tests/testing/certificate_reading.h"
#include "tests/testing/child_process.h"
#include "tests/testing/fault_proxy.h"
#include "tests/testing/lab_orders.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

using ::testing::ElementsAre;
using testing::Fault;
using testing::FaultProxy;
using testing::SignerLab;

// Pebble 2.4's order and finalize paths (wfe.go) and how it writes an order's status
// (json.MarshalIndent: a space after the colon).
constexpr char kOrderPath[] = "/my-order/";
constexpr char kFinalizePath[] = "/finalize-order/";
constexpr char kValid[] = R"("status": "valid")";
constexpr char kProcessing[] = R"("status": "processing")";

// How long the CA stays processing after the host's finalize, and the bound on the whole
// wait for the certificate.
constexpr absl::Duration kSlowFor = absl::Seconds(8);
constexpr absl::Duration kIssuanceBound = absl::Seconds(60);

// "" when `leaf` verifies against `root_pem` with `untrusted` as intermediates, else why not.
std::string VerifyChain(X509* leaf, const std::vector<X509*>& untrusted,
                        absl::string_view root_pem) {
  std::vector<SslUniquePtr<X509>> roots = testing::ParseChain(root_pem);
  if (roots.empty()) return "root PEM holds no certificate";
  SslUniquePtr<X509_STORE> store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), roots[0].get());
  struct StackFree {  // the stack borrows the certificates
    void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
  };
  std::unique_ptr<STACK_OF(X509), StackFree> chain(sk_X509_new_null());
  for (X509* cert : untrusted) sk_X509_push(chain.get(), cert);
  SslUniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, chain.get());
  if (X509_verify_cert(ctx.get()) == 1) return "";
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

// The FrontDoor/issue records of the audit log for certificate `serial`.
std::vector<nlohmann::json> IssueRecords(const SignerLab& lab, const std::string& serial) {
  absl::StatusOr<std::vector<nlohmann::json>> records = lab.ReadAuditRecords();
  EXPECT_TRUE(records.ok()) << records.status();
  std::vector<nlohmann::json> issued;
  if (!records.ok()) return issued;
  for (const nlohmann::json& record : *records) {
    if (record.value("rpc", "") == "FrontDoor/issue" &&
        record["outcome"].value("serial", "") == serial) {
      issued.push_back(record);
    }
  }
  return issued;
}

// The leaf's serial as the audit log writes it (lowercase hex, no separators).
std::string SerialHex(X509* cert) {
  SslUniquePtr<BIGNUM> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (bn == nullptr) return "";
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) return "";
  std::string out = absl::AsciiStrToLower(hex);
  OPENSSL_free(hex);
  return out;
}

// A stock-client stand-in with a fresh web1 credential and an order for `name` that the front
// door has validated (ready): what every test here starts from.
struct ReadyHost {
  std::unique_ptr<http::CurlHttpClient> http;
  std::unique_ptr<acme::testing::OpenSslJwsSigner> account_key;
  std::unique_ptr<acme::AcmeClient> client;
  std::string thumbprint;
  std::string order_url;
  std::string finalize_url;
};

class FrontDoorSlowCaTest : public testing::SignerLabSuite<FrontDoorSlowCaTest> {
 protected:
  using Base = testing::SignerLabSuite<FrontDoorSlowCaTest>;

  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    for (testing::LabAgentPolicy& agent : options.agents) {
      agent.orders_per_hour = 1000;
      agent.front_door = agent.name == "web1";
      if (agent.front_door) {
        agent.accounts = {"default", "dept-b"};
        agent.default_account = "dept-b";
      }
    }
    options.accounts = {testing::LabAccount{"default", "kid-1", "127.0.0.1", "ec-p256"},
                        testing::LabAccount{"dept-b", "kid-dept-b", "127.0.0.1", "ec-p256"}};
    options.front_door = testing::LabFrontDoorOptions();  // with the challtestsrv dns-01 hook
    options.pebble_env = {{"PEBBLE_VA_ALWAYS_VALID", "1"}};
    options.acme_endpoint = [](testing::PebbleEnv& pebble,
                               testing::LabAcmeEndpoint& acme) -> absl::Status {
      FaultProxy::Options proxy_options;
      proxy_options.upstream_origin = pebble.directory_url();
      proxy_options.upstream_origin.resize(proxy_options.upstream_origin.size() -
                                           std::string("/dir").size());
      proxy_options.upstream_ca_bundle = pebble.ca_bundle_path();
      ASSIGN_OR_RETURN(proxy_, FaultProxy::Start(proxy_options));
      acme.directory_url = proxy_->directory_url();
      acme.ca_bundle = proxy_->ca_bundle_path();
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

  void TearDown() override {
    if (proxy_ != nullptr) proxy_->ClearFaults();
    if (HasFailure() && lab_started()) std::cerr << lab().SignerLogTail(8192);
  }

  // Fills `host` (fatal failures end the calling test).
  void MakeReadyOrder(const std::string& name, ReadyHost& host) {
    // A per-host credential, as the operator would hand it to the host.
    absl::StatusOr<testing::FrontDoorCredential> credential = lab().EnrollFrontDoorClient("web1");
    ASSERT_TRUE(credential.ok()) << credential.status();
    ASSERT_EQ(credential->directory_url, lab().front_door_directory_url());
    absl::StatusOr<std::string> hmac_key =
        DecodeBase64Url(credential->eab_hmac_key, "the EAB HMAC key");
    ASSERT_TRUE(hmac_key.ok()) << hmac_key.status();

    // The client: TLS verified with the lab's agent CA, an in-memory ES256 account key.
    http::CurlHttpClientOptions http_options;
    http_options.ca_bundle_path = lab().front_door_ca_path();
    http_options.total_timeout = absl::Seconds(30);
    absl::StatusOr<std::unique_ptr<http::CurlHttpClient>> http =
        http::CurlHttpClient::Create(http_options);
    ASSERT_TRUE(http.ok()) << http.status();
    host.http = *std::move(http);
    host.account_key = acme::testing::OpenSslJwsSigner::GenerateEs256();
    acme::AcmeClientOptions client_options;
    client_options.directory_url = credential->directory_url;
    absl::StatusOr<std::unique_ptr<acme::AcmeClient>> made =
        acme::AcmeClient::Create(*host.http, *host.account_key, client_options);
    ASSERT_TRUE(made.ok()) << made.status();
    host.client = *std::move(made);
    acme::AcmeClient& client = *host.client;

    acme::testing::OpenSslMacSigner eab_mac(*hmac_key);
    acme::NewAccountOptions account_options;
    account_options.terms_of_service_agreed = true;
    account_options.eab_kid = credential->eab_kid;
    account_options.eab_mac = &eab_mac;
    absl::StatusOr<acme::Account> account = client.CreateAccount(account_options);
    ASSERT_TRUE(account.ok()) << account.status();
    absl::StatusOr<std::string> thumbprint = client.AccountThumbprint();
    ASSERT_TRUE(thumbprint.ok()) << thumbprint.status();

    acme::NewOrderOptions order_options;
    order_options.identifiers = {acme::Identifier::Dns(name)};
    absl::StatusOr<acme::Fetched<acme::Order>> order = client.CreateOrder(order_options);
    ASSERT_TRUE(order.ok()) << order.status();
    const std::string order_url = order->value.url;
    ASSERT_EQ(order->value.authorizations.size(), 1u);

    // The host's own http-01, on the port the front door validates (like certbot --standalone).
    agent::StandaloneSolver solver("127.0.0.1", lab().front_door_http_port());
    ASSERT_TRUE(solver.Start().ok());
    absl::StatusOr<acme::Fetched<acme::Authorization>> authz =
        client.GetAuthorization(order->value.authorizations[0]);
    ASSERT_TRUE(authz.ok()) << authz.status();
    const acme::Challenge* http01 = authz->value.Find("http-01");
    ASSERT_NE(http01, nullptr);
    agent::ChallengeTask task;
    task.domain = name;
    task.token = http01->token;
    absl::StatusOr<std::string> key_authorization =
        acme::KeyAuthorization(http01->token, *thumbprint);
    ASSERT_TRUE(key_authorization.ok()) << key_authorization.status();
    task.key_authorization = *key_authorization;
    task.all_domains = name;
    ASSERT_TRUE(solver.Present(task).ok());
    absl::StatusOr<acme::Fetched<acme::Challenge>> answered = client.AnswerChallenge(http01->url);
    ASSERT_TRUE(answered.ok()) << answered.status();

    // The order becomes ready once the front door validated (bounded; Retry-After is 1 s).
    const absl::Time ready_deadline = absl::Now() + absl::Seconds(30);
    while (order->value.status == acme::OrderStatus::kPending && absl::Now() < ready_deadline) {
      absl::SleepFor(order->retry_after.value_or(absl::Seconds(1)));
      order = client.GetOrder(order_url);
      ASSERT_TRUE(order.ok()) << order.status();
    }
    ASSERT_EQ(order->value.status, acme::OrderStatus::kReady) << acme::ToString(order->value.status);
    solver.CleanUp();
    host.thumbprint = *thumbprint;
    host.order_url = order_url;
    host.finalize_url = order->value.finalize;
  }

  static FaultProxy& proxy() { return *proxy_; }

 private:
  static inline std::unique_ptr<FaultProxy> proxy_;
};

TEST_F(FrontDoorSlowCaTest, ClientPollsWithRetryAfterWhileTheCaIsProcessingThenGetsTheCert) {
  const std::string name = "slow.web1.example.test";

  ReadyHost host;
  MakeReadyOrder(name, host);
  if (HasFatalFailure()) return;
  acme::AcmeClient& client = *host.client;
  const std::string& order_url = host.order_url;
  const std::string* thumbprint = &host.thumbprint;

  // From now on, for kSlowFor, the CA's order answers say processing instead of valid.
  const int rewrites_before =
      proxy().CountRewritten(kOrderPath) + proxy().CountRewritten(kFinalizePath);
  const absl::Time slow_from = absl::Now();
  proxy().InjectFor(kOrderPath, Fault::Rewrite(kValid, kProcessing), kSlowFor);
  proxy().InjectFor(kFinalizePath, Fault::Rewrite(kValid, kProcessing), kSlowFor);

  absl::StatusOr<std::string> csr = testing::NewCsrDer({name});
  ASSERT_TRUE(csr.ok()) << csr.status();
  absl::StatusOr<acme::Fetched<acme::Order>> finalized =
      client.FinalizeOrder(order_url, host.finalize_url, *csr);
  ASSERT_TRUE(finalized.ok()) << finalized.status();
  ASSERT_EQ(finalized->value.status, acme::OrderStatus::kProcessing);
  EXPECT_TRUE(finalized->retry_after.has_value());

  // Poll as a client does: wait what Retry-After says, until the order is no longer
  // processing (bounded).
  acme::Fetched<acme::Order> current = *std::move(finalized);
  int processing_answers = 0;
  int processing_with_retry_after = 0;
  while (current.value.status == acme::OrderStatus::kProcessing &&
         absl::Now() - slow_from < kIssuanceBound) {
    ++processing_answers;
    if (current.retry_after.has_value()) {
      ++processing_with_retry_after;
      EXPECT_GT(*current.retry_after, absl::ZeroDuration());
      EXPECT_LE(*current.retry_after, absl::Seconds(10));
    }
    absl::SleepFor(std::min(current.retry_after.value_or(absl::Seconds(1)), absl::Seconds(10)));
    absl::StatusOr<acme::Fetched<acme::Order>> next = client.GetOrder(order_url);
    ASSERT_TRUE(next.ok()) << next.status();
    current = *std::move(next);
  }
  const absl::Duration waited = absl::Now() - slow_from;
  ASSERT_EQ(current.value.status, acme::OrderStatus::kValid)
      << acme::ToString(current.value.status)
      << (current.value.error.has_value() ? current.value.error->detail : "");

  const int rewrites =
      proxy().CountRewritten(kOrderPath) + proxy().CountRewritten(kFinalizePath) - rewrites_before;
  std::cout << "issued after " << absl::FormatDuration(waited) << "; the front door answered "
            << processing_answers << " times processing; the proxy rewrote " << rewrites
            << " upstream order/finalize answers" << std::endl;
  // The CA really was slow: the signer polled its order and was told processing, again and
  // again, for the whole slow period; and the client was told to come back meanwhile.
  EXPECT_GE(rewrites, 3);
  EXPECT_GE(waited, kSlowFor);
  EXPECT_LT(waited, kIssuanceBound);
  EXPECT_GE(processing_answers, 3);
  EXPECT_EQ(processing_with_retry_after, processing_answers);

  // The certificate: Pebble's, for the ordered name.
  ASSERT_FALSE(current.value.certificate.empty());
  absl::StatusOr<acme::CertificateDownload> download =
      client.GetCertificate(current.value.certificate);
  ASSERT_TRUE(download.ok()) << download.status();
  ASSERT_FALSE(download->chains.empty());
  std::vector<SslUniquePtr<X509>> chain = testing::ParseChain(download->chains[0].pem_chain);
  ASSERT_GE(chain.size(), 2u);
  EXPECT_THAT(testing::DnsSans(chain[0].get()), ElementsAre(name));
  absl::StatusOr<std::string> root = lab().PebbleRootPem();
  ASSERT_TRUE(root.ok()) << root.status();
  std::vector<X509*> intermediates;
  for (size_t i = 1; i < chain.size(); ++i) intermediates.push_back(chain[i].get());
  EXPECT_EQ(VerifyChain(chain[0].get(), intermediates, *root), "");
  const std::string serial = download->chains[0].serial_hex;

  EXPECT_EQ(SerialHex(chain[0].get()), serial);

  // One FrontDoor/issue record for it, allowed, naming the host and the serial.
  std::vector<nlohmann::json> issued = IssueRecords(lab(), serial);
  ASSERT_EQ(issued.size(), 1u);
  const nlohmann::json& record = issued[0];
  EXPECT_EQ(record.value("agent", ""), "web1") << record.dump();
  EXPECT_EQ(record.value("decision", ""), "allow") << record.dump();
  EXPECT_EQ(record.value("account_thumbprint", ""), *thumbprint) << record.dump();
  EXPECT_EQ(record.value("account", ""), "dept-b") << record.dump();
  EXPECT_EQ(record["outcome"].value("status", ""), "valid") << record.dump();
  EXPECT_EQ(record["request"].value("order_url", ""), order_url) << record.dump();
  EXPECT_EQ(record["request"]["identifiers"], nlohmann::json::array({absl::StrCat("dns:", name)}))
      << record.dump();
}

// The signer is killed (SIGKILL) while its upstream order is processing, and started again:
// the front door finds the order it left `processing` and finalizes it upstream again, so the
// host's client, still polling, gets its certificate.
TEST_F(FrontDoorSlowCaTest, AnOrderLeftProcessingByAKilledSignerIsFinishedAfterTheRestart) {
  const std::string name = "restart.web1.example.test";
  ReadyHost host;
  MakeReadyOrder(name, host);
  if (HasFatalFailure()) return;
  acme::AcmeClient& client = *host.client;

  proxy().InjectFor(kOrderPath, Fault::Rewrite(kValid, kProcessing), kSlowFor);
  proxy().InjectFor(kFinalizePath, Fault::Rewrite(kValid, kProcessing), kSlowFor);
  absl::StatusOr<std::string> csr = testing::NewCsrDer({name});
  ASSERT_TRUE(csr.ok()) << csr.status();
  absl::StatusOr<acme::Fetched<acme::Order>> finalized =
      client.FinalizeOrder(host.order_url, host.finalize_url, *csr);
  ASSERT_TRUE(finalized.ok()) << finalized.status();
  ASSERT_EQ(finalized->value.status, acme::OrderStatus::kProcessing);

  // Killed mid-processing: no shutdown, nothing flushed beyond what was durable.
  absl::StatusOr<int> killed = lab().StopSigner(/*kill=*/true);
  ASSERT_TRUE(killed.ok()) << killed.status();
  ASSERT_TRUE(lab().StartSigner().ok());
  EXPECT_THAT(lab().SignerLogTail(4096),
              ::testing::HasSubstr("1 order(s) left processing by the last run finalized again"));

  const absl::Time give_up = absl::Now() + kIssuanceBound;
  acme::Fetched<acme::Order> current = *std::move(finalized);
  while (current.value.status == acme::OrderStatus::kProcessing && absl::Now() < give_up) {
    absl::SleepFor(absl::Seconds(1));
    absl::StatusOr<acme::Fetched<acme::Order>> next = client.GetOrder(host.order_url);
    ASSERT_TRUE(next.ok()) << next.status();
    current = *std::move(next);
  }
  ASSERT_EQ(current.value.status, acme::OrderStatus::kValid)
      << acme::ToString(current.value.status)
      << (current.value.error.has_value() ? current.value.error->detail : "");
  absl::StatusOr<acme::CertificateDownload> download =
      client.GetCertificate(current.value.certificate);
  ASSERT_TRUE(download.ok()) << download.status();
  ASSERT_FALSE(download->chains.empty());
  std::vector<SslUniquePtr<X509>> chain = testing::ParseChain(download->chains[0].pem_chain);
  ASSERT_GE(chain.size(), 2u);
  EXPECT_THAT(testing::DnsSans(chain[0].get()), ElementsAre(name));
  absl::StatusOr<std::string> root = lab().PebbleRootPem();
  ASSERT_TRUE(root.ok()) << root.status();
  std::vector<X509*> intermediates;
  for (size_t i = 1; i < chain.size(); ++i) intermediates.push_back(chain[i].get());
  EXPECT_EQ(VerifyChain(chain[0].get(), intermediates, *root), "");
  // Issued once, recorded once, by the restarted signer.
  std::vector<nlohmann::json> issued = IssueRecords(lab(), download->chains[0].serial_hex);
  ASSERT_EQ(issued.size(), 1u);
  EXPECT_EQ(issued[0].value("agent", ""), "web1") << issued[0].dump();
  EXPECT_EQ(issued[0].value("account_thumbprint", ""), host.thumbprint) << issued[0].dump();
  // Resumed as the account the order was created with (web1's credential's).
  EXPECT_EQ(issued[0].value("account", ""), "dept-b") << issued[0].dump();
}

TEST_F(FrontDoorSlowCaTest, CertbotGetsTheCertificateOnceTheSlowCaIsDone) {
  constexpr char kCertbot[] = "/usr/bin/certbot";
  if (::access(kCertbot, X_OK) != 0) {
    if (testing::InCi()) GTEST_FAIL() << "CI=true and certbot is not installed";
    GTEST_SKIP() << "certbot is not installed";
  }
  const std::string name = "certbot.web1.example.test";
  absl::StatusOr<testing::FrontDoorCredential> credential = lab().EnrollFrontDoorClient("web1");
  ASSERT_TRUE(credential.ok()) << credential.status();
  const std::string base = absl::StrCat(lab().dir(), "/certbot");
  // Through env(1): ChildOptions::extra_env appends to the environment, and the test's own
  // REQUESTS_CA_BUNDLE (if any) would come first.
  std::vector<std::string> args = {"/usr/bin/env",
                                   absl::StrCat("REQUESTS_CA_BUNDLE=", lab().front_door_ca_path()),
                                   kCertbot,
                                   "certonly",
                                   "--standalone",
                                   "--http-01-address",
                                   "127.0.0.1",
                                   "--http-01-port",
                                   absl::StrCat(lab().front_door_http_port()),
                                   "--server",
                                   credential->directory_url,
                                   "--eab-kid",
                                   credential->eab_kid,
                                   "--eab-hmac-key",
                                   credential->eab_hmac_key,
                                   "-d",
                                   name,
                                   "--register-unsafely-without-email",
                                   "--agree-tos",
                                   "--non-interactive",
                                   "--config-dir",
                                   absl::StrCat(base, "/config"),
                                   "--work-dir",
                                   absl::StrCat(base, "/work"),
                                   "--logs-dir",
                                   absl::StrCat(base, "/logs")};
  testing::ChildOptions child;
  child.scratch_dir = lab().dir();
  child.timeout = absl::Seconds(150);

  // certbot runs on its own thread; this one arms the slow CA as soon as the signer's
  // finalize reached Pebble (certbot's finalize is the only one during this test).
  const int finalizes_before = proxy().CountRequests(kFinalizePath);
  const int rewrites_before = proxy().CountRewritten(kOrderPath);
  testing::ChildResult result;
  std::atomic<bool> done{false};
  std::thread runner([&] {
    result = testing::RunChild(args, child);
    done = true;
  });
  std::optional<absl::Time> slow_from;
  const absl::Time give_up = absl::Now() + absl::Seconds(160);
  while (!done && absl::Now() < give_up) {
    if (!slow_from.has_value() && proxy().CountRequests(kFinalizePath) > finalizes_before) {
      slow_from = absl::Now();
      proxy().InjectFor(kOrderPath, Fault::Rewrite(kValid, kProcessing), kSlowFor);
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  runner.join();
  const absl::Time finished = absl::Now();
  ASSERT_EQ(result.exit_code, 0) << result;
  ASSERT_TRUE(slow_from.has_value()) << "the signer never finalized upstream";
  std::cout << "certbot finished " << absl::FormatDuration(finished - *slow_from)
            << " after the upstream finalize; the proxy rewrote "
            << proxy().CountRewritten(kOrderPath) - rewrites_before << " upstream order answers"
            << std::endl;
  EXPECT_GE(finished - *slow_from, kSlowFor);
  EXPECT_LT(finished - *slow_from, kIssuanceBound);
  EXPECT_GE(proxy().CountRewritten(kOrderPath) - rewrites_before, 3);

  absl::StatusOr<std::string> fullchain =
      ReadFile(absl::StrCat(base, "/config/live/", name, "/fullchain.pem"));
  ASSERT_TRUE(fullchain.ok()) << fullchain.status();
  std::vector<SslUniquePtr<X509>> chain = testing::ParseChain(*fullchain);
  ASSERT_GE(chain.size(), 2u);
  EXPECT_THAT(testing::DnsSans(chain[0].get()), ElementsAre(name));
  absl::StatusOr<std::string> root = lab().PebbleRootPem();
  ASSERT_TRUE(root.ok()) << root.status();
  std::vector<X509*> intermediates;
  for (size_t i = 1; i < chain.size(); ++i) intermediates.push_back(chain[i].get());
  EXPECT_EQ(VerifyChain(chain[0].get(), intermediates, *root), "");

  std::vector<nlohmann::json> issued = IssueRecords(lab(), SerialHex(chain[0].get()));
  ASSERT_EQ(issued.size(), 1u);
  EXPECT_EQ(issued[0].value("agent", ""), "web1") << issued[0].dump();
  EXPECT_EQ(issued[0]["outcome"].value("status", ""), "valid") << issued[0].dump();
  EXPECT_EQ(issued[0]["request"]["identifiers"],
            nlohmann::json::array({absl::StrCat("dns:", name)}))
      << issued[0].dump();

  // certbot kept polling its order while the CA was slow, and was told `processing`.
  const std::string order_url = issued[0]["request"].value("order_url", "");
  ASSERT_FALSE(order_url.empty()) << issued[0].dump();
  absl::StatusOr<std::vector<nlohmann::json>> records = lab().ReadAuditRecords();
  ASSERT_TRUE(records.ok()) << records.status();
  int processing_reads = 0;
  for (const nlohmann::json& record : *records) {
    processing_reads += record.value("rpc", "") == "FrontDoor/order" &&
                        record["request"].value("order_url", "") == order_url &&
                        record["outcome"].value("status", "") == "processing";
  }
  EXPECT_GE(processing_reads, 3);
}

}  // namespace
}  // namespace acme_signer
