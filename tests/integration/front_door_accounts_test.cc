// The ACME front door with several signer accounts (issue 15): a host credential belongs to one
// account (`acme-signer enroll-client --account NAME`, else the host's default_account), and
// everything a stock client does with the ACME account it registered with that credential goes
// upstream through that account: the order is created at the CA by that account (the stored
// order's upstream URL is under that account's directory URL), the inventory entry and the
// audit records carry its name. enroll-client refuses an account the host may not use, and a
// host whose [[agents]] entry no longer allows its credential's account is refused.
//
// The lab has two accounts at the lab's Pebble: dept-a (https://127.0.0.1:...) and dept-b
// (https://localhost:...), so which account created an upstream order shows in its URL.
// The client is acme::AcmeClient with an in-memory key (tests/acme/openssl_signers.h) that
// answers http-01 itself on the lab's port, as in front_door_protocol_test.
#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "acme/certificate_chain.h"
#include "acme/client.h"
#include "acme/identifier.h"
#include "acme/key_authorization.h"
#include "acme/problem.h"
#include "acme/resources.h"
#include "agent/challenge_solver.h"
#include "agent/standalone_solver.h"
#include "common/base64url.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/curl_http_client.h"
#include "http/url.h"
#include "nlohmann/json.hpp"
#include "signer/state_store.h"
#include "tests/acme/openssl_signers.h"
#include "tests/testing/lab_orders.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;
using testing::SignerLab;
using Json = nlohmann::json;

constexpr absl::Duration kValidationBound = absl::Seconds(30);
constexpr absl::Duration kIssuanceBound = absl::Seconds(60);

// A stock client of the front door registered with one credential.
struct StockClient {
  std::unique_ptr<http::CurlHttpClient> http;
  std::unique_ptr<acme::testing::OpenSslJwsSigner> key;
  std::unique_ptr<acme::AcmeClient> acme;
};

// A new client of the lab's front door registered (newAccount with EAB) with `credential`.
absl::StatusOr<std::unique_ptr<StockClient>> RegisteredClient(
    const SignerLab& lab, const testing::FrontDoorCredential& credential) {
  auto client = std::make_unique<StockClient>();
  http::CurlHttpClientOptions http_options;
  http_options.ca_bundle_path = lab.front_door_ca_path();
  http_options.total_timeout = absl::Seconds(30);
  ASSIGN_OR_RETURN(client->http, http::CurlHttpClient::Create(http_options));
  client->key = acme::testing::OpenSslJwsSigner::GenerateEs256();
  acme::AcmeClientOptions options;
  options.directory_url = credential.directory_url;
  ASSIGN_OR_RETURN(client->acme, acme::AcmeClient::Create(*client->http, *client->key, options));
  ASSIGN_OR_RETURN(std::string hmac_key,
                   DecodeBase64Url(credential.eab_hmac_key, "the EAB HMAC key"));
  acme::testing::OpenSslMacSigner eab_mac(hmac_key);
  acme::NewAccountOptions account_options;
  account_options.terms_of_service_agreed = true;
  account_options.eab_kid = credential.eab_kid;
  account_options.eab_mac = &eab_mac;
  RETURN_IF_ERROR(client->acme->CreateAccount(account_options).status());
  return client;
}

struct Issued {
  std::string order_url;  // the front door's order
  acme::CertificateChain chain;
};

// Orders `name`, answers its http-01 on the lab's port, finalizes and downloads the
// certificate. Every wait is bounded.
absl::StatusOr<Issued> Issue(const SignerLab& lab, StockClient& client, const std::string& name) {
  ASSIGN_OR_RETURN(std::string csr_der, testing::NewCsrDer({name}));
  acme::NewOrderOptions order_options;
  order_options.identifiers = {acme::Identifier::Dns(name)};
  ASSIGN_OR_RETURN(acme::Fetched<acme::Order> order, client.acme->CreateOrder(order_options));
  const std::string order_url = order.value.url;
  if (order.value.authorizations.size() != 1) {
    return absl::InternalError("the order does not have one authorization");
  }
  agent::StandaloneSolver solver("127.0.0.1", lab.front_door_http_port());
  RETURN_IF_ERROR(solver.Start());
  ASSIGN_OR_RETURN(acme::Fetched<acme::Authorization> authz,
                   client.acme->GetAuthorization(order.value.authorizations[0]));
  const acme::Challenge* http01 = authz.value.Find("http-01");
  if (http01 == nullptr) return absl::InternalError("the authorization offers no http-01");
  ASSIGN_OR_RETURN(std::string thumbprint, client.acme->AccountThumbprint());
  agent::ChallengeTask task;
  task.domain = name;
  task.token = http01->token;
  ASSIGN_OR_RETURN(task.key_authorization, acme::KeyAuthorization(http01->token, thumbprint));
  task.all_domains = name;
  RETURN_IF_ERROR(solver.Present(task));
  RETURN_IF_ERROR(client.acme->AnswerChallenge(http01->url).status());
  const absl::Time ready_deadline = absl::Now() + kValidationBound;
  while (order.value.status == acme::OrderStatus::kPending && absl::Now() < ready_deadline) {
    absl::SleepFor(std::min(order.retry_after.value_or(absl::Seconds(1)), absl::Seconds(2)));
    ASSIGN_OR_RETURN(order, client.acme->GetOrder(order_url));
  }
  solver.CleanUp();
  if (order.value.status != acme::OrderStatus::kReady) {
    return absl::InternalError(
        absl::StrCat("the order is ", acme::ToString(order.value.status), ", not ready"));
  }
  ASSIGN_OR_RETURN(order, client.acme->FinalizeOrder(order_url, order.value.finalize, csr_der));
  const absl::Time issue_deadline = absl::Now() + kIssuanceBound;
  while (order.value.status == acme::OrderStatus::kProcessing && absl::Now() < issue_deadline) {
    absl::SleepFor(std::min(order.retry_after.value_or(absl::Seconds(1)), absl::Seconds(2)));
    ASSIGN_OR_RETURN(order, client.acme->GetOrder(order_url));
  }
  if (order.value.status != acme::OrderStatus::kValid || order.value.certificate.empty()) {
    return absl::InternalError(absl::StrCat(
        "the order is ", acme::ToString(order.value.status), ", not valid with a certificate",
        order.value.error.has_value() ? absl::StrCat(": ", order.value.error->detail) : ""));
  }
  ASSIGN_OR_RETURN(acme::CertificateDownload download,
                   client.acme->GetCertificate(order.value.certificate, false));
  if (download.chains.empty()) return absl::InternalError("no certificate chain");
  return Issued{order_url, download.chains[0]};
}

// scheme://host:port of `url` ("" when it does not parse).
std::string Origin(absl::string_view url) {
  absl::StatusOr<http::Url> parsed = http::ParseHttpsUrl(url);
  if (!parsed.ok()) return "";
  return absl::StrCat("https://", parsed->host(), ":", parsed->port());
}

class FrontDoorAccountsTest : public testing::SignerLabSuite<FrontDoorAccountsTest> {
 protected:
  static std::vector<testing::LabAgentPolicy> Agents(bool web2_may_use_dept_b) {
    std::vector<testing::LabAgentPolicy> agents = testing::DefaultLabAgents();
    for (testing::LabAgentPolicy& agent : agents) {
      agent.orders_per_hour = 1000;
      agent.front_door = true;
      if (agent.name == "web1") {
        agent.accounts = {"dept-a"};
        agent.default_account = "dept-a";
      } else if (web2_may_use_dept_b) {
        agent.accounts = {"dept-a", "dept-b"};
        agent.default_account = "dept-b";
      } else {
        agent.accounts = {"dept-a"};
        agent.default_account = "dept-a";
      }
    }
    return agents;
  }

  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    options.agents = Agents(/*web2_may_use_dept_b=*/true);
    options.accounts = {testing::LabAccount{"dept-a", "kid-dept-a", "127.0.0.1", "ec-p256"},
                        testing::LabAccount{"dept-b", "kid-dept-b", "localhost", "ec-p256"}};
    options.front_door = testing::LabFrontDoorOptions();
    options.pebble_env = {{"PEBBLE_WFE_NONCEREJECT", "0"}};
    return options;
  }

  void TearDown() override {
    if (HasFailure() && lab_started()) std::cerr << lab().SignerLogTail(8192);
  }

  // Issues `name` for a new client of `host` registered with a new credential of `account`
  // ("" = the host's default), and checks that the credential, the upstream order, the
  // inventory entry and the audit records all name `expected_account`.
  void IssueAndExpectAccount(const std::string& host, const std::string& account,
                             const std::string& name, const std::string& expected_account) {
    SCOPED_TRACE(absl::StrCat(host, " --account '", account, "' -> ", expected_account));
    absl::StatusOr<testing::FrontDoorCredential> credential =
        lab().EnrollFrontDoorClient(host, account);
    ASSERT_TRUE(credential.ok()) << credential.status();
    EXPECT_EQ(credential->account, expected_account);
    absl::StatusOr<std::unique_ptr<StockClient>> client = RegisteredClient(lab(), *credential);
    ASSERT_TRUE(client.ok()) << client.status();
    absl::StatusOr<Issued> issued = Issue(lab(), **client, name);
    ASSERT_TRUE(issued.ok()) << issued.status();

    absl::StatusOr<std::unique_ptr<signer::StateStore>> store =
        signer::StateStore::Open(absl::StrCat(lab().state_dir(), "/signer.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    // The upstream order was created by the account: its URL is under that account's CA URL.
    const std::string order_id = issued->order_url.substr(issued->order_url.rfind('/') + 1);
    absl::StatusOr<std::optional<signer::FrontDoorObject>> order =
        (*store)->GetFrontDoorObject("order", order_id);
    ASSERT_TRUE(order.ok()) << order.status();
    ASSERT_TRUE(order->has_value()) << issued->order_url;
    const Json body = Json::parse((*order)->body, nullptr, false);
    ASSERT_TRUE(body.is_object());
    EXPECT_EQ(body.value("account", ""), expected_account);
    const std::string account_origin = Origin(lab().account_directory_url(expected_account));
    ASSERT_NE(account_origin, "");
    // The lab's two accounts are told apart by their origin.
    ASSERT_NE(Origin(lab().account_directory_url("dept-a")),
              Origin(lab().account_directory_url("dept-b")));
    EXPECT_EQ(Origin(body.value("upstream", "")), account_origin)
        << "upstream order " << body.value("upstream", "");

    // Inventory: the certificate is recorded for the host and the account.
    absl::StatusOr<std::vector<signer::CertificateRecord>> inventory =
        (*store)->ListInventory(std::nullopt, expected_account);
    ASSERT_TRUE(inventory.ok()) << inventory.status();
    EXPECT_TRUE(std::any_of(inventory->begin(), inventory->end(),
                            [&](const signer::CertificateRecord& record) {
                              return record.serial == issued->chain.serial_hex &&
                                     record.agent == host && record.account == expected_account;
                            }))
        << "serial " << issued->chain.serial_hex << " not in the inventory of " << expected_account;

    // Audit: every record of this order carries the account; the issuance is among them.
    absl::StatusOr<std::vector<Json>> records = lab().ReadAuditRecords();
    ASSERT_TRUE(records.ok()) << records.status();
    int of_order = 0;
    bool issue_seen = false;
    for (const Json& record : *records) {
      if (!record.contains("request") ||
          record["request"].value("order_url", "") != issued->order_url) {
        continue;
      }
      ++of_order;
      EXPECT_EQ(record.value("account", ""), expected_account) << record.dump();
      EXPECT_EQ(record.value("agent", ""), host) << record.dump();
      if (record.value("rpc", "") == "FrontDoor/issue") {
        issue_seen = true;
        EXPECT_EQ(record["outcome"].value("serial", ""), issued->chain.serial_hex);
      }
    }
    EXPECT_GE(of_order, 3);  // newOrder, finalize, issue (and order reads)
    EXPECT_TRUE(issue_seen);
  }
};

// enroll-client refuses an account the host's [[agents]] entry does not list, and an account
// the signer does not have; nothing is recorded for either.
TEST_F(FrontDoorAccountsTest, EnrollClientRefusesAnAccountTheHostMayNotUse) {
  absl::StatusOr<testing::CommandResult> refused = lab().RunSignerCommand(
      {"enroll-client", "--config", lab().config_path(), "--name", "web1", "--account", "dept-b"});
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->exit_code, 1);
  EXPECT_THAT(refused->err, HasSubstr("host web1 may not use account \"dept-b\""));
  EXPECT_THAT(refused->err, HasSubstr("allows: dept-a"));
  EXPECT_EQ(refused->out, "");

  absl::StatusOr<testing::CommandResult> unknown = lab().RunSignerCommand(
      {"enroll-client", "--config", lab().config_path(), "--name", "web2", "--account", "nosuch"});
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_EQ(unknown->exit_code, 1);
  EXPECT_THAT(unknown->err, HasSubstr("no [[accounts]] entry named \"nosuch\""));
  EXPECT_EQ(unknown->out, "");

  absl::StatusOr<std::unique_ptr<signer::StateStore>> store =
      signer::StateStore::Open(absl::StrCat(lab().state_dir(), "/signer.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::vector<signer::FrontDoorCredential>> web1 =
      (*store)->ListFrontDoorCredentials("web1");
  ASSERT_TRUE(web1.ok()) << web1.status();
  for (const signer::FrontDoorCredential& credential : *web1) {
    EXPECT_EQ(credential.account, "dept-a");
  }
}

// Two hosts with different default accounts, and a host pinning another account it may use:
// each certificate is ordered upstream, inventoried and audited as its credential's account.
TEST_F(FrontDoorAccountsTest, EachCredentialIssuesThroughItsOwnAccount) {
  IssueAndExpectAccount("web1", "", "a.web1.example.test", "dept-a");
  IssueAndExpectAccount("web2", "", "web2.example.test", "dept-b");
  IssueAndExpectAccount("web2", "dept-a", "web2.example.test", "dept-a");
}

// A host whose [[agents]] entry no longer allows its credential's account (config reloaded) is
// refused with a problem document naming the account; its other account still works.
TEST_F(FrontDoorAccountsTest, AHostNoLongerAllowedItsCredentialsAccountIsRefused) {
  absl::StatusOr<testing::FrontDoorCredential> dept_b = lab().EnrollFrontDoorClient("web2");
  ASSERT_TRUE(dept_b.ok()) << dept_b.status();
  ASSERT_EQ(dept_b->account, "dept-b");
  absl::StatusOr<std::unique_ptr<StockClient>> client = RegisteredClient(lab(), *dept_b);
  ASSERT_TRUE(client.ok()) << client.status();

  ASSERT_TRUE(lab().RewriteConfig(Agents(/*web2_may_use_dept_b=*/false)).ok());
  ASSERT_TRUE(lab().ReloadSigner().ok());
  acme::NewOrderOptions order_options;
  order_options.identifiers = {acme::Identifier::Dns("web2.example.test")};
  absl::StatusOr<acme::Fetched<acme::Order>> order = (*client)->acme->CreateOrder(order_options);
  ASSERT_FALSE(order.ok());
  std::optional<acme::Problem> problem = acme::GetProblem(order.status());
  ASSERT_TRUE(problem.has_value()) << order.status();
  EXPECT_EQ(problem->ShortType(), "unauthorized");
  EXPECT_THAT(problem->detail, HasSubstr("may no longer use the signer's account \"dept-b\""));

  // A credential of the account it still may use registers and orders.
  absl::StatusOr<testing::FrontDoorCredential> dept_a = lab().EnrollFrontDoorClient("web2");
  ASSERT_TRUE(dept_a.ok()) << dept_a.status();
  EXPECT_EQ(dept_a->account, "dept-a");
  absl::StatusOr<std::unique_ptr<StockClient>> other = RegisteredClient(lab(), *dept_a);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE((*other)->acme->CreateOrder(order_options).ok());

  // The refusal is audited with the account.
  absl::StatusOr<std::vector<Json>> records = lab().ReadAuditRecords();
  ASSERT_TRUE(records.ok()) << records.status();
  bool refusal_seen = false;
  for (const Json& record : *records) {
    if (record.value("rpc", "") == "FrontDoor/new-order" && record.value("agent", "") == "web2" &&
        record.value("decision", "") == "deny" &&
        absl::StrContains(record.value("reason", ""), "dept-b")) {
      refusal_seen = true;
      EXPECT_EQ(record.value("account", ""), "dept-b") << record.dump();
    }
  }
  EXPECT_TRUE(refusal_seen);

  ASSERT_TRUE(lab().RewriteConfig(Agents(/*web2_may_use_dept_b=*/true)).ok());
  ASSERT_TRUE(lab().ReloadSigner().ok());
}

}  // namespace
}  // namespace acme_signer
