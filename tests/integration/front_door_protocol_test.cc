// The ACME front door (signer/frontdoor/acme_server.h) end to end for the protocol features
// stock clients rely on but the client tests (front_door_clients_test) do not exercise:
// renewal information (RFC 9773), account key rollover, account reads, contact updates and
// deactivation, onlyReturnExisting, authorization deactivation, revocation by the
// certificate's key, and `acme-signer agents revoke` while serve runs.
//
// The client is a stock-client stand-in: acme::AcmeClient with an in-memory key
// (tests/acme/openssl_signers.h) and a per-host EAB credential from `acme-signer enroll-client`,
// answering http-01 itself on the lab's port (as in front_door_slow_ca_test). Requests the
// AcmeClient has no method for (contact update, deactivations, crafted key changes, requests
// signed by a key the client no longer holds) are built with acme/jws.h and sent as they are,
// so the test sees the HTTP status and headers the server answers.
//
// One lab for the suite. Every test but the last uses host web3; the last revokes host web1
// (`acme-signer agents revoke`), which touches nothing the others use.
#include <unistd.h>

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
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "acme/ari.h"
#include "acme/certificate_chain.h"
#include "acme/client.h"
#include "acme/identifier.h"
#include "acme/jws.h"
#include "acme/key_authorization.h"
#include "acme/problem.h"
#include "acme/resources.h"
#include "acme/revocation_reason.h"
#include "agent/challenge_solver.h"
#include "agent/standalone_solver.h"
#include "common/base64url.h"
#include "common/status_macros.h"
#include "common/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/curl_http_client.h"
#include "nlohmann/json.hpp"
#include "tests/acme/openssl_signers.h"
#include "tests/testing/lab_orders.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;
using testing::SignerLab;
using Json = nlohmann::json;

constexpr char kJoseJson[] = "application/jose+json";
constexpr char kProblemJson[] = "application/problem+json";
// Bounds on the waits of one issuance.
constexpr absl::Duration kValidationBound = absl::Seconds(30);
constexpr absl::Duration kIssuanceBound = absl::Seconds(60);

// A stock client of the front door: its HTTP client, account key and AcmeClient.
struct StockClient {
  std::unique_ptr<http::CurlHttpClient> http;
  std::unique_ptr<acme::testing::OpenSslJwsSigner> key;
  std::unique_ptr<acme::AcmeClient> acme;
  acme::Directory directory;
  std::string account_url;  // empty until registered
  std::string thumbprint;   // of the key it registered with
};

// A client for the lab's front door with a fresh ES256 key; no account yet.
absl::StatusOr<std::unique_ptr<StockClient>> NewStockClient(const SignerLab& lab) {
  auto client = std::make_unique<StockClient>();
  http::CurlHttpClientOptions http_options;
  http_options.ca_bundle_path = lab.front_door_ca_path();
  http_options.total_timeout = absl::Seconds(30);
  ASSIGN_OR_RETURN(client->http, http::CurlHttpClient::Create(http_options));
  client->key = acme::testing::OpenSslJwsSigner::GenerateEs256();
  acme::AcmeClientOptions options;
  options.directory_url = lab.front_door_directory_url();
  ASSIGN_OR_RETURN(client->acme, acme::AcmeClient::Create(*client->http, *client->key, options));
  ASSIGN_OR_RETURN(client->directory, client->acme->GetDirectory());
  return client;
}

// Registers `client` with a fresh front-door credential of `host` (newAccount with EAB).
absl::Status Register(const SignerLab& lab, StockClient& client, absl::string_view host) {
  ASSIGN_OR_RETURN(testing::FrontDoorCredential credential, lab.EnrollFrontDoorClient(host));
  ASSIGN_OR_RETURN(std::string hmac_key,
                   DecodeBase64Url(credential.eab_hmac_key, "the EAB HMAC key"));
  acme::testing::OpenSslMacSigner eab_mac(hmac_key);
  acme::NewAccountOptions options;
  options.terms_of_service_agreed = true;
  options.eab_kid = credential.eab_kid;
  options.eab_mac = &eab_mac;
  ASSIGN_OR_RETURN(acme::Account account, client.acme->CreateAccount(options));
  if (account.url.empty()) return absl::InternalError("newAccount gave no account URL");
  client.account_url = account.url;
  ASSIGN_OR_RETURN(client.thumbprint, client.acme->AccountThumbprint());
  return absl::OkStatus();
}

// A new registered client of `host`.
absl::StatusOr<std::unique_ptr<StockClient>> RegisteredClient(const SignerLab& lab,
                                                              absl::string_view host) {
  ASSIGN_OR_RETURN(std::unique_ptr<StockClient> client, NewStockClient(lab));
  RETURN_IF_ERROR(Register(lab, *client, host));
  return client;
}

// POSTs `payload` ("" for POST-as-GET) to `url` as a JWS signed by `key`: kid form with `kid`,
// jwk form when `kid` is empty. The nonce comes from the client's pool. The response as is.
absl::StatusOr<http::HttpResponse> PostSigned(StockClient& client, const hsm::JwsSigner& key,
                                              absl::string_view url, absl::string_view kid,
                                              absl::string_view payload) {
  ASSIGN_OR_RETURN(std::string nonce, client.acme->TakeNonce());
  ASSIGN_OR_RETURN(std::string body, acme::SignJws(key, url, nonce, kid, payload));
  http::HttpRequest request;
  request.method = http::HttpMethod::kPost;
  request.url = std::string(url);
  request.body = std::move(body);
  request.content_type = kJoseJson;
  return client.http->Do(request);
}

// The response body as JSON (discarded on a parse error: is_discarded()).
Json BodyJson(const http::HttpResponse& response) {
  return Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
}

// The problem type of a problem response, without the ACME prefix ("" when it is none).
std::string ProblemType(const http::HttpResponse& response) {
  if (response.Header("content-type") != kProblemJson) return "";
  Json body = BodyJson(response);
  if (!body.is_object()) return "";
  return std::string(absl::StripPrefix(body.value("type", ""), acme::kAcmeErrorPrefix));
}

// The ACME problem type carried by `status` ("" when none).
std::string ProblemType(const absl::Status& status) {
  std::optional<acme::Problem> problem = acme::GetProblem(status);
  return problem.has_value() ? problem->ShortType() : "";
}
std::string ProblemDetail(const absl::Status& status) {
  std::optional<acme::Problem> problem = acme::GetProblem(status);
  return problem.has_value() ? problem->detail : "";
}

std::string Describe(const http::HttpResponse& response) {
  return absl::StrCat("HTTP ", response.status, " ", response.body);
}

// Orders `name`, answers its http-01 on the lab's port, finalizes with `csr_der` and downloads
// the certificate. Every wait is bounded.
absl::StatusOr<acme::CertificateChain> Issue(const SignerLab& lab, StockClient& client,
                                             const std::string& name, const std::string& csr_der) {
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
  return download.chains[0];
}

class FrontDoorProtocolTest : public testing::SignerLabSuite<FrontDoorProtocolTest> {
 protected:
  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    for (testing::LabAgentPolicy& agent : options.agents) {
      agent.orders_per_hour = 1000;
      agent.front_door = agent.name == "web1";
    }
    testing::LabAgentPolicy web3;
    web3.name = "web3";
    web3.allowed_names = {"web3.example.test", "*.web3.example.test"};
    web3.orders_per_hour = 1000;
    web3.front_door = true;
    options.agents.push_back(web3);
    options.front_door = testing::LabFrontDoorOptions();  // with the challtestsrv dns-01 hook
    options.pebble_env = {{"PEBBLE_WFE_NONCEREJECT", "0"}};
    return options;
  }

  void TearDown() override {
    if (HasFailure() && lab_started()) std::cerr << lab().SignerLogTail(8192);
  }
};

// RFC 9773: the front door answers renewalInfo for a certificate it issued with a window inside
// the certificate's validity (the CA's, else the last third of the lifetime), and 404 problems
// for ids it does not know.
TEST_F(FrontDoorProtocolTest, RenewalInfoGivesAWindowInsideTheValidityAndUnknownIdsAre404) {
  absl::StatusOr<std::unique_ptr<StockClient>> client = RegisteredClient(lab(), "web3");
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_FALSE((*client)->directory.renewal_info.empty());
  const std::string name = "ari.web3.example.test";
  absl::StatusOr<std::string> csr = testing::NewCsrDer({name});
  ASSERT_TRUE(csr.ok()) << csr.status();
  absl::StatusOr<acme::CertificateChain> chain = Issue(lab(), **client, name, *csr);
  ASSERT_TRUE(chain.ok()) << chain.status();

  absl::StatusOr<SslUniquePtr<X509>> leaf = ParseCertificateDer(chain->leaf_der);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  absl::StatusOr<absl::Time> not_before = NotBefore(**leaf);
  absl::StatusOr<absl::Time> not_after = NotAfter(**leaf);
  ASSERT_TRUE(not_before.ok() && not_after.ok());

  absl::StatusOr<acme::RenewalInfo> info = (*client)->acme->GetRenewalInfo(chain->leaf_der);
  ASSERT_TRUE(info.ok()) << info.status();
  std::cout << "certificate " << absl::FormatTime(*not_before) << " .. "
            << absl::FormatTime(*not_after) << "; renewal window "
            << absl::FormatTime(info->window_start) << " .. " << absl::FormatTime(info->window_end)
            << std::endl;
  EXPECT_GE(info->window_start, *not_before);
  EXPECT_LT(info->window_start, info->window_end);
  EXPECT_LE(info->window_end, *not_after);
  absl::StatusOr<std::string> ari_id = acme::AriCertificateId(chain->leaf_der);
  ASSERT_TRUE(ari_id.ok()) << ari_id.status();
  EXPECT_EQ(info->certificate_id, *ari_id);
  EXPECT_TRUE(info->retry_after.has_value());

  // Does the lab's Pebble offer ARI itself? Without it the front door's window starts at two
  // thirds of the lifetime.
  http::CurlHttpClientOptions pebble_options;
  pebble_options.ca_bundle_path = lab().pebble().ca_bundle_path();
  pebble_options.total_timeout = absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<http::CurlHttpClient>> pebble_http =
      http::CurlHttpClient::Create(pebble_options);
  ASSERT_TRUE(pebble_http.ok()) << pebble_http.status();
  http::HttpRequest directory_request;
  directory_request.url = lab().pebble().directory_url();
  absl::StatusOr<http::HttpResponse> pebble_directory = (*pebble_http)->Do(directory_request);
  ASSERT_TRUE(pebble_directory.ok()) << pebble_directory.status();
  const Json pebble_json = BodyJson(*pebble_directory);
  ASSERT_TRUE(pebble_json.is_object()) << pebble_directory->body;
  if (!pebble_json.contains("renewalInfo")) {
    const absl::Time two_thirds = *not_before + (*not_after - *not_before) * 2 / 3;
    EXPECT_LE(absl::AbsDuration(info->window_start - two_thirds), absl::Minutes(1))
        << "window start " << absl::FormatTime(info->window_start) << ", two thirds "
        << absl::FormatTime(two_thirds);
  }

  // Ids it did not issue: a malformed one, and a well-formed one with a serial it never issued.
  const std::string aki = ari_id->substr(0, ari_id->find('.'));
  for (const std::string& bogus : {std::string("not-a-certificate-id"),
                                   absl::StrCat(aki, ".", Base64Url("\x7f\x01\x02\x03"))}) {
    http::HttpRequest request;
    request.url = absl::StrCat((*client)->directory.renewal_info, "/", bogus);
    absl::StatusOr<http::HttpResponse> response = (*client)->http->Do(request);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 404) << bogus << ": " << Describe(*response);
    EXPECT_EQ(ProblemType(*response), "malformed") << bogus << ": " << Describe(*response);
  }
}

// RFC 8555 §7.3.5: after a key change the new key signs for the account and the old one is
// refused; a change to another account's key is a 409 naming that account.
TEST_F(FrontDoorProtocolTest, KeyChangeMovesTheAccountToTheNewKeyAndRefusesAKeyInUse) {
  absl::StatusOr<std::unique_ptr<StockClient>> a = RegisteredClient(lab(), "web3");
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<std::unique_ptr<StockClient>> b = RegisteredClient(lab(), "web3");
  ASSERT_TRUE(b.ok()) << b.status();
  StockClient& alice = **a;
  StockClient& bob = **b;
  ASSERT_NE(alice.account_url, bob.account_url);

  std::unique_ptr<acme::testing::OpenSslJwsSigner> new_key =
      acme::testing::OpenSslJwsSigner::GenerateEs256();
  ASSERT_TRUE(alice.acme->ChangeAccountKey(*new_key).ok());
  absl::StatusOr<std::string> new_thumbprint = alice.acme->AccountThumbprint();
  ASSERT_TRUE(new_thumbprint.ok());
  EXPECT_NE(*new_thumbprint, alice.thumbprint);

  // The new key: a new order, and onlyReturnExisting finds the same account.
  acme::NewOrderOptions order_options;
  order_options.identifiers = {acme::Identifier::Dns("keychange.web3.example.test")};
  absl::StatusOr<acme::Fetched<acme::Order>> order = alice.acme->CreateOrder(order_options);
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->value.status, acme::OrderStatus::kPending);
  absl::StatusOr<acme::Account> found = alice.acme->FindAccount();
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->url, alice.account_url);

  // The old key with the account's kid: its signature no longer verifies.
  absl::StatusOr<http::HttpResponse> old_kid =
      PostSigned(alice, *alice.key, alice.directory.new_order, alice.account_url,
                 R"({"identifiers":[{"type":"dns","value":"keychange.web3.example.test"}]})");
  ASSERT_TRUE(old_kid.ok()) << old_kid.status();
  EXPECT_EQ(old_kid->status, 403) << Describe(*old_kid);
  EXPECT_EQ(ProblemType(*old_kid), "unauthorized") << Describe(*old_kid);
  EXPECT_FALSE(old_kid->Header("replay-nonce").empty());
  // The old key in jwk form: no account has it any more.
  absl::StatusOr<http::HttpResponse> old_jwk = PostSigned(
      alice, *alice.key, alice.directory.new_account, "", R"({"onlyReturnExisting":true})");
  ASSERT_TRUE(old_jwk.ok()) << old_jwk.status();
  EXPECT_EQ(old_jwk->status, 400) << Describe(*old_jwk);
  EXPECT_EQ(ProblemType(*old_jwk), "accountDoesNotExist") << Describe(*old_jwk);

  // Key changes whose inner JWS does not match the request: another account, another old key.
  std::unique_ptr<acme::testing::OpenSslJwsSigner> third_key =
      acme::testing::OpenSslJwsSigner::GenerateEs256();
  struct Mismatch {
    std::string what;
    std::string account;
    std::string old_jwk;
  };
  for (const Mismatch& mismatch :
       {Mismatch{"inner account is another account", bob.account_url, new_key->PublicJwk()},
        Mismatch{"inner oldKey is not the current key", alice.account_url,
                 alice.key->PublicJwk()}}) {
    Json payload = Json::object();
    payload["account"] = mismatch.account;
    payload["oldKey"] = Json::parse(mismatch.old_jwk);
    absl::StatusOr<std::string> inner =
        acme::SignJws(*third_key, alice.directory.key_change, std::nullopt, "", payload.dump());
    ASSERT_TRUE(inner.ok()) << inner.status();
    absl::StatusOr<http::HttpResponse> refused =
        PostSigned(alice, *new_key, alice.directory.key_change, alice.account_url, *inner);
    ASSERT_TRUE(refused.ok()) << refused.status();
    EXPECT_EQ(refused->status, 400) << mismatch.what << ": " << Describe(*refused);
    EXPECT_EQ(ProblemType(*refused), "malformed") << mismatch.what << ": " << Describe(*refused);
  }

  // Alice's account to Bob's key: the inner JWS signed by Bob's key names Alice's account and
  // her current key; the outer one is Alice's (new key, kid).
  Json inner_payload = Json::object();
  inner_payload["account"] = alice.account_url;
  inner_payload["oldKey"] = Json::parse(new_key->PublicJwk());
  absl::StatusOr<std::string> inner =
      acme::SignJws(*bob.key, alice.directory.key_change, std::nullopt, "", inner_payload.dump());
  ASSERT_TRUE(inner.ok()) << inner.status();
  absl::StatusOr<http::HttpResponse> conflict =
      PostSigned(alice, *new_key, alice.directory.key_change, alice.account_url, *inner);
  ASSERT_TRUE(conflict.ok()) << conflict.status();
  EXPECT_EQ(conflict->status, 409) << Describe(*conflict);
  EXPECT_EQ(conflict->Header("location"), bob.account_url) << Describe(*conflict);
  EXPECT_EQ(conflict->Header("content-type"), kProblemJson);
  // The same through the AcmeClient: the CA's problem, and nothing changed.
  absl::Status via_client = alice.acme->ChangeAccountKey(*bob.key);
  EXPECT_FALSE(via_client.ok());
  if (std::optional<acme::Problem> problem = acme::GetProblem(via_client); problem.has_value()) {
    EXPECT_EQ(problem->status, 409) << via_client;
  } else {
    ADD_FAILURE() << "no problem document: " << via_client;
  }

  // Both accounts still have their keys: Alice's new key and Bob's key each find their own.
  absl::StatusOr<acme::Account> alice_again = alice.acme->FindAccount();
  ASSERT_TRUE(alice_again.ok()) << alice_again.status();
  EXPECT_EQ(alice_again->url, alice.account_url);
  absl::StatusOr<acme::Account> bob_again = bob.acme->FindAccount();
  ASSERT_TRUE(bob_again.ok()) << bob_again.status();
  EXPECT_EQ(bob_again->url, bob.account_url);
  absl::StatusOr<acme::Fetched<acme::Order>> alice_order = alice.acme->GetOrder(order->value.url);
  EXPECT_TRUE(alice_order.ok()) << alice_order.status();
  // The third key (refused above) has no account.
  absl::StatusOr<http::HttpResponse> third = PostSigned(
      alice, *third_key, alice.directory.new_account, "", R"({"onlyReturnExisting":true})");
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(ProblemType(*third), "accountDoesNotExist") << Describe(*third);

  // The audit log has the key change, naming the new thumbprint.
  int key_changes = 0;
  for (const Json& record : AuditRecords()) {
    if (record.value("rpc", "") == "FrontDoor/key-change" &&
        record.value("decision", "") == "allow" &&
        absl::StrContains(record.value("reason", ""), *new_thumbprint)) {
      ++key_changes;
      EXPECT_EQ(record.value("agent", ""), "web3") << record.dump();
    }
  }
  EXPECT_EQ(key_changes, 1);
}

// RFC 8555 §7.3: POST-as-GET of the account, contact update, onlyReturnExisting, deactivation.
TEST_F(FrontDoorProtocolTest, AccountReadContactUpdateLookupAndDeactivation) {
  absl::StatusOr<std::unique_ptr<StockClient>> made = RegisteredClient(lab(), "web3");
  ASSERT_TRUE(made.ok()) << made.status();
  StockClient& client = **made;

  // POST-as-GET of the account URL.
  absl::StatusOr<http::HttpResponse> read =
      PostSigned(client, *client.key, client.account_url, client.account_url, "");
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->status, 200) << Describe(*read);
  EXPECT_EQ(BodyJson(*read).value("status", ""), "valid") << read->body;
  EXPECT_EQ(read->Header("location"), client.account_url);

  // Contact update, then read back.
  const std::string contact = "mailto:ops@web3.example.test";
  absl::StatusOr<http::HttpResponse> updated =
      PostSigned(client, *client.key, client.account_url, client.account_url,
                 Json{{"contact", Json::array({contact})}}.dump());
  ASSERT_TRUE(updated.ok()) << updated.status();
  ASSERT_EQ(updated->status, 200) << Describe(*updated);
  EXPECT_EQ(BodyJson(*updated)["contact"], Json::array({contact})) << updated->body;
  read = PostSigned(client, *client.key, client.account_url, client.account_url, "");
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->status, 200) << Describe(*read);
  EXPECT_EQ(BodyJson(*read)["contact"], Json::array({contact})) << read->body;
  // A contact the server does not take.
  absl::StatusOr<http::HttpResponse> bad_contact =
      PostSigned(client, *client.key, client.account_url, client.account_url,
                 R"({"contact":["tel:+12025550100"]})");
  ASSERT_TRUE(bad_contact.ok()) << bad_contact.status();
  EXPECT_EQ(bad_contact->status, 400) << Describe(*bad_contact);
  EXPECT_EQ(ProblemType(*bad_contact), "unsupportedContact") << Describe(*bad_contact);

  // Another account's URL as kid: the request is refused.
  absl::StatusOr<std::unique_ptr<StockClient>> other = RegisteredClient(lab(), "web3");
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<http::HttpResponse> foreign =
      PostSigned(client, *client.key, (*other)->account_url, client.account_url, "");
  ASSERT_TRUE(foreign.ok()) << foreign.status();
  EXPECT_EQ(foreign->status, 403) << Describe(*foreign);
  EXPECT_EQ(ProblemType(*foreign), "unauthorized") << Describe(*foreign);

  // onlyReturnExisting for the known key: 200 and the account's Location.
  absl::StatusOr<http::HttpResponse> existing = PostSigned(
      client, *client.key, client.directory.new_account, "", R"({"onlyReturnExisting":true})");
  ASSERT_TRUE(existing.ok()) << existing.status();
  EXPECT_EQ(existing->status, 200) << Describe(*existing);
  EXPECT_EQ(existing->Header("location"), client.account_url);
  EXPECT_EQ(BodyJson(*existing).value("status", ""), "valid") << existing->body;
  // ... and for an unknown key: accountDoesNotExist (raw, and as the AcmeClient sees it).
  absl::StatusOr<std::unique_ptr<StockClient>> stranger = NewStockClient(lab());
  ASSERT_TRUE(stranger.ok()) << stranger.status();
  absl::StatusOr<http::HttpResponse> unknown =
      PostSigned(**stranger, *(*stranger)->key, (*stranger)->directory.new_account, "",
                 R"({"onlyReturnExisting":true})");
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_EQ(unknown->status, 400) << Describe(*unknown);
  EXPECT_EQ(ProblemType(*unknown), "accountDoesNotExist") << Describe(*unknown);
  EXPECT_TRUE(unknown->Header("location").empty());
  absl::StatusOr<acme::Account> not_found = (*stranger)->acme->FindAccount();
  EXPECT_TRUE(absl::IsNotFound(not_found.status())) << not_found.status();

  // Deactivation.
  absl::StatusOr<http::HttpResponse> deactivated = PostSigned(
      client, *client.key, client.account_url, client.account_url, R"({"status":"deactivated"})");
  ASSERT_TRUE(deactivated.ok()) << deactivated.status();
  ASSERT_EQ(deactivated->status, 200) << Describe(*deactivated);
  EXPECT_EQ(BodyJson(*deactivated).value("status", ""), "deactivated") << deactivated->body;

  // From then on the account is refused: orders, reads, lookups by key.
  acme::NewOrderOptions order_options;
  order_options.identifiers = {acme::Identifier::Dns("deactivated.web3.example.test")};
  absl::StatusOr<acme::Fetched<acme::Order>> order = client.acme->CreateOrder(order_options);
  ASSERT_FALSE(order.ok());
  EXPECT_EQ(ProblemType(order.status()), "unauthorized") << order.status();
  EXPECT_THAT(ProblemDetail(order.status()), HasSubstr("deactivated"));
  read = PostSigned(client, *client.key, client.account_url, client.account_url, "");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->status, 403) << Describe(*read);
  EXPECT_EQ(ProblemType(*read), "unauthorized") << Describe(*read);
  existing = PostSigned(client, *client.key, client.directory.new_account, "",
                        R"({"onlyReturnExisting":true})");
  ASSERT_TRUE(existing.ok()) << existing.status();
  EXPECT_EQ(existing->status, 403) << Describe(*existing);
  EXPECT_EQ(ProblemType(*existing), "unauthorized") << Describe(*existing);

  // The audit log: the contact update and the deactivation (allowed), then the refused order.
  bool contact_updated = false;
  bool account_deactivated = false;
  bool order_refused = false;
  for (const Json& record : AuditRecords()) {
    if (record.value("account_thumbprint", "") != client.thumbprint) continue;
    const std::string reason = record.value("reason", "");
    const bool allowed = record.value("decision", "") == "allow";
    contact_updated |= allowed && reason == "contact updated";
    account_deactivated |= allowed && reason == "account deactivated";
    order_refused |= !allowed && record.value("rpc", "") == "FrontDoor/new-order" &&
                     absl::StrContains(reason, "deactivated");
  }
  EXPECT_TRUE(contact_updated);
  EXPECT_TRUE(account_deactivated);
  EXPECT_TRUE(order_refused);
}

// RFC 8555 §7.5.2: a client deactivates an authorization; its order becomes invalid.
TEST_F(FrontDoorProtocolTest, DeactivatedAuthorizationInvalidatesItsOrder) {
  absl::StatusOr<std::unique_ptr<StockClient>> made = RegisteredClient(lab(), "web3");
  ASSERT_TRUE(made.ok()) << made.status();
  StockClient& client = **made;
  acme::NewOrderOptions order_options;
  order_options.identifiers = {acme::Identifier::Dns("authz.web3.example.test")};
  absl::StatusOr<acme::Fetched<acme::Order>> order = client.acme->CreateOrder(order_options);
  ASSERT_TRUE(order.ok()) << order.status();
  ASSERT_EQ(order->value.authorizations.size(), 1u);
  const std::string authz_url = order->value.authorizations[0];

  // Another account cannot see or deactivate it: answered like a missing one.
  absl::StatusOr<std::unique_ptr<StockClient>> other = RegisteredClient(lab(), "web3");
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<http::HttpResponse> foreign = PostSigned(
      **other, *(*other)->key, authz_url, (*other)->account_url, R"({"status":"deactivated"})");
  ASSERT_TRUE(foreign.ok()) << foreign.status();
  EXPECT_EQ(foreign->status, 404) << Describe(*foreign);
  EXPECT_EQ(ProblemType(*foreign), "malformed") << Describe(*foreign);

  absl::StatusOr<http::HttpResponse> deactivated =
      PostSigned(client, *client.key, authz_url, client.account_url, R"({"status":"deactivated"})");
  ASSERT_TRUE(deactivated.ok()) << deactivated.status();
  ASSERT_EQ(deactivated->status, 200) << Describe(*deactivated);
  EXPECT_EQ(BodyJson(*deactivated).value("status", ""), "deactivated") << deactivated->body;

  absl::StatusOr<acme::Fetched<acme::Authorization>> authz =
      client.acme->GetAuthorization(authz_url);
  ASSERT_TRUE(authz.ok()) << authz.status();
  EXPECT_EQ(authz->value.status, acme::AuthorizationStatus::kDeactivated);

  absl::StatusOr<acme::Fetched<acme::Order>> read = client.acme->GetOrder(order->value.url);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->value.status, acme::OrderStatus::kInvalid) << acme::ToString(read->value.status);
  EXPECT_TRUE(read->value.error.has_value());

  // Once deactivated it stays so: a second deactivation is refused, and the order cannot be
  // finalized.
  absl::StatusOr<http::HttpResponse> again =
      PostSigned(client, *client.key, authz_url, client.account_url, R"({"status":"deactivated"})");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->status, 400) << Describe(*again);
  EXPECT_EQ(ProblemType(*again), "malformed") << Describe(*again);
  absl::StatusOr<std::string> csr = testing::NewCsrDer({"authz.web3.example.test"});
  ASSERT_TRUE(csr.ok()) << csr.status();
  absl::StatusOr<acme::Fetched<acme::Order>> finalized =
      client.acme->FinalizeOrder(order->value.url, order->value.finalize, *csr);
  ASSERT_FALSE(finalized.ok());
  EXPECT_EQ(ProblemType(finalized.status()), "orderNotReady") << finalized.status();
}

// RFC 8555 §7.6: revocation signed by the certificate's own key; a second one is
// alreadyRevoked; the inventory says revoked.
TEST_F(FrontDoorProtocolTest, RevocationByCertificateKeyThenAlreadyRevoked) {
  absl::StatusOr<std::unique_ptr<StockClient>> made = RegisteredClient(lab(), "web3");
  ASSERT_TRUE(made.ok()) << made.status();
  StockClient& client = **made;
  const std::string name = "revoke.web3.example.test";
  std::unique_ptr<acme::testing::OpenSslJwsSigner> cert_key =
      acme::testing::OpenSslJwsSigner::GenerateEs256();
  const std::string csr = acme::testing::MakeCsrDer(cert_key->pkey(), {name});
  absl::StatusOr<acme::CertificateChain> chain = Issue(lab(), client, name, csr);
  ASSERT_TRUE(chain.ok()) << chain.status();

  // Neither the account nor the certificate's key: refused.
  std::unique_ptr<acme::testing::OpenSslJwsSigner> stranger =
      acme::testing::OpenSslJwsSigner::GenerateEs256();
  absl::Status by_stranger = client.acme->RevokeWithCertificateKey(
      chain->leaf_der, acme::RevocationReason::kSuperseded, *stranger);
  ASSERT_FALSE(by_stranger.ok());
  EXPECT_EQ(ProblemType(by_stranger), "unauthorized") << by_stranger;

  // Another account of the same host: refused too.
  absl::StatusOr<std::unique_ptr<StockClient>> other = RegisteredClient(lab(), "web3");
  ASSERT_TRUE(other.ok()) << other.status();
  absl::Status by_other =
      (*other)->acme->Revoke(chain->leaf_der, acme::RevocationReason::kSuperseded);
  ASSERT_FALSE(by_other.ok());
  EXPECT_EQ(ProblemType(by_other), "unauthorized") << by_other;

  // Not revoked yet in the inventory.
  bool listed = false;
  for (const Json& entry : Inventory()) {
    if (entry.value("serial", "") != chain->serial_hex) continue;
    listed = true;
    EXPECT_FALSE(entry.value("revoked", true)) << entry.dump();
  }
  ASSERT_TRUE(listed) << "serial " << chain->serial_hex << " is not in the inventory";

  absl::Status revoked = client.acme->RevokeWithCertificateKey(
      chain->leaf_der, acme::RevocationReason::kSuperseded, *cert_key);
  ASSERT_TRUE(revoked.ok()) << revoked;

  absl::Status again = client.acme->RevokeWithCertificateKey(
      chain->leaf_der, acme::RevocationReason::kSuperseded, *cert_key);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(ProblemType(again), "alreadyRevoked") << again;
  absl::Status by_account =
      client.acme->Revoke(chain->leaf_der, acme::RevocationReason::kUnspecified);
  ASSERT_FALSE(by_account.ok());
  EXPECT_EQ(ProblemType(by_account), "alreadyRevoked") << by_account;

  listed = false;
  for (const Json& entry : Inventory()) {
    if (entry.value("serial", "") != chain->serial_hex) continue;
    listed = true;
    EXPECT_TRUE(entry.value("revoked", false)) << entry.dump();
    EXPECT_EQ(entry["revocation_reason"], static_cast<int>(acme::RevocationReason::kSuperseded))
        << entry.dump();
  }
  EXPECT_TRUE(listed);

  // The CA has it revoked too (Pebble's management interface).
  http::CurlHttpClientOptions pebble_options;
  pebble_options.ca_bundle_path = lab().pebble().ca_bundle_path();
  pebble_options.total_timeout = absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<http::CurlHttpClient>> pebble_http =
      http::CurlHttpClient::Create(pebble_options);
  ASSERT_TRUE(pebble_http.ok()) << pebble_http.status();
  http::HttpRequest status_request;
  status_request.url =
      absl::StrCat(lab().pebble().management_url(), "/cert-status-by-serial/", chain->serial_hex);
  absl::StatusOr<http::HttpResponse> ca_status = (*pebble_http)->Do(status_request);
  ASSERT_TRUE(ca_status.ok()) << ca_status.status();
  ASSERT_EQ(ca_status->status, 200) << Describe(*ca_status);
  EXPECT_EQ(BodyJson(*ca_status).value("Status", ""), "Revoked") << ca_status->body;

  // One allowed revocation record for the serial.
  int revocations = 0;
  for (const Json& record : AuditRecords()) {
    if (record.value("rpc", "") == "FrontDoor/revoke-cert" &&
        record.value("decision", "") == "allow") {
      revocations += record["outcome"].value("serial", "") == chain->serial_hex;
    }
  }
  EXPECT_EQ(revocations, 1);
}

// `acme-signer agents revoke` while serve runs: web1's existing account is refused from its next
// request (audited with the host and the account), and a credential issued before the revoke
// cannot register any more.
TEST_F(FrontDoorProtocolTest, AgentsRevokeRefusesTheHostsAccountsAndCredentials) {
  absl::StatusOr<std::unique_ptr<StockClient>> made = RegisteredClient(lab(), "web1");
  ASSERT_TRUE(made.ok()) << made.status();
  StockClient& client = **made;
  acme::NewOrderOptions order_options;
  order_options.identifiers = {acme::Identifier::Dns("before.web1.example.test")};
  absl::StatusOr<acme::Fetched<acme::Order>> before = client.acme->CreateOrder(order_options);
  ASSERT_TRUE(before.ok()) << before.status();
  // Handed out before the revoke, not used yet.
  absl::StatusOr<testing::FrontDoorCredential> unused = lab().EnrollFrontDoorClient("web1");
  ASSERT_TRUE(unused.ok()) << unused.status();

  testing::CommandResult revoke =
      Run({"agents", "revoke", "--config", lab().config_path(), "--name", "web1"});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.out << revoke.err;
  EXPECT_THAT(revoke.out, HasSubstr("2 front-door credential(s) disabled"));
  EXPECT_THAT(revoke.out, HasSubstr("1 front-door account(s) revoked"));
  ASSERT_TRUE(lab().signer_running());

  // The account's next request.
  order_options.identifiers = {acme::Identifier::Dns("after.web1.example.test")};
  absl::StatusOr<acme::Fetched<acme::Order>> after = client.acme->CreateOrder(order_options);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(ProblemType(after.status()), "unauthorized") << after.status();
  EXPECT_THAT(ProblemDetail(after.status()), HasSubstr("is revoked"));
  absl::StatusOr<acme::Fetched<acme::Order>> read = client.acme->GetOrder(before->value.url);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(ProblemType(read.status()), "unauthorized") << read.status();

  // The refusal is audited, naming the host and the account's thumbprint.
  int denials = 0;
  for (const Json& record : AuditRecords()) {
    if (record.value("rpc", "") == "FrontDoor/new-order" &&
        record.value("decision", "") == "deny" &&
        record.value("account_thumbprint", "") == client.thumbprint) {
      ++denials;
      EXPECT_EQ(record.value("agent", ""), "web1") << record.dump();
      EXPECT_THAT(record.value("reason", ""), HasSubstr("is revoked")) << record.dump();
    }
  }
  EXPECT_EQ(denials, 1);

  // The unused credential: registering with it is refused.
  absl::StatusOr<std::unique_ptr<StockClient>> late = NewStockClient(lab());
  ASSERT_TRUE(late.ok()) << late.status();
  absl::StatusOr<std::string> hmac_key = DecodeBase64Url(unused->eab_hmac_key, "the EAB HMAC key");
  ASSERT_TRUE(hmac_key.ok()) << hmac_key.status();
  acme::testing::OpenSslMacSigner eab_mac(*hmac_key);
  acme::NewAccountOptions account_options;
  account_options.terms_of_service_agreed = true;
  account_options.eab_kid = unused->eab_kid;
  account_options.eab_mac = &eab_mac;
  absl::StatusOr<acme::Account> registered = (*late)->acme->CreateAccount(account_options);
  ASSERT_FALSE(registered.ok());
  EXPECT_EQ(ProblemType(registered.status()), "unauthorized") << registered.status();
  // And the revoked account's key cannot find its account either.
  absl::StatusOr<acme::Account> found = client.acme->FindAccount();
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(ProblemType(found.status()), "unauthorized") << found.status();
}

}  // namespace
}  // namespace acme_signer
