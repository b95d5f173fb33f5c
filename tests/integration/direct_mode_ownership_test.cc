// Direct mode (SignJws) reaches only the calling agent's own orders, challenges and
// certificates, through the REAL signer (SignerLab: acme-signer serve, SoftHSM2, Pebble, gRPC
// over mutual TLS). Issue 11 items 3-5:
//   - the account's orders list and any URL the signer does not know are refused;
//   - another agent's order, authorization and challenge are refused (no read of other
//     departments' names, no `{}` that makes the CA fail someone else's validation);
//   - a bogus finalize cannot adopt (and so lock out) another agent's unfinalized order;
//   - a revokeCert is signed only for a certificate in the caller's own inventory, even when
//     the names overlap; an allowed one is attributed in the audit log (serial, hash, reason)
//     and marks the inventory entry;
//   - a certificate issued in direct mode lands in the issuing agent's inventory.
//
// Agents: web1 (web1.example.test and one label under it) and "wide" (every name under
// example.test: its names overlap web1's), both with allow_sign_jws. Tests run in order.
#include <memory>
#include <string>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "acme/client.h"
#include "acme/jwk.h"
#include "agent/csr.h"
#include "agent/direct_issuer.h"
#include "agent/private_key.h"
#include "agent/remote_kid_signer.h"
#include "agent/standalone_solver.h"
#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/curl_http_client.h"
#include "nlohmann/json.hpp"
#include "tests/testing/certificate_reading.h"
#include "tests/testing/lab_orders.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;
namespace pb = ::acmesigner::v1;

// The same steps the agent's direct mode takes (agent/direct_issuer.cc), one at a time: an ACME
// client talking to Pebble whose every JWS the signer makes for `agent` (RemoteKidSigner),
// naming the order set with SetOrder.
class DirectClient {
 public:
  static std::unique_ptr<DirectClient> Connect(testing::SignerLab& lab, const std::string& agent) {
    auto out = std::unique_ptr<DirectClient>(new DirectClient());
    absl::StatusOr<std::unique_ptr<agent::SignerClient>> signer = lab.Client(agent);
    EXPECT_TRUE(signer.ok()) << signer.status();
    if (!signer.ok()) return nullptr;
    out->signer_ = *std::move(signer);
    absl::StatusOr<std::unique_ptr<agent::RemoteKidSigner>> account =
        agent::RemoteKidSigner::Create(*out->signer_);
    EXPECT_TRUE(account.ok()) << account.status();
    if (!account.ok()) return nullptr;
    out->account_ = *std::move(account);
    out->account_url_ = out->account_->account().account_url();
    http::CurlHttpClient::Options http_options;
    http_options.ca_bundle_path = lab.pebble().ca_bundle_path();
    absl::StatusOr<std::unique_ptr<http::CurlHttpClient>> http =
        http::CurlHttpClient::Create(http_options);
    EXPECT_TRUE(http.ok()) << http.status();
    if (!http.ok()) return nullptr;
    out->http_ = *std::move(http);
    acme::AcmeClientOptions options;
    options.directory_url = out->account_->account().directory_url();
    options.account_url = out->account_url_;
    absl::StatusOr<std::unique_ptr<acme::AcmeClient>> client =
        acme::AcmeClient::Create(*out->http_, *out->account_, std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return nullptr;
    out->client_ = *std::move(client);
    return out;
  }

  acme::AcmeClient& acme() { return *client_; }
  agent::SignerClient& signer() { return *signer_; }
  const std::string& account_url() const { return account_url_; }

  // The order the requests name (SignJws order_url); set it after CreateOrder.
  void SetOrder(std::string order_url) { account_->SetOrder(std::move(order_url)); }

 private:
  DirectClient() = default;
  std::unique_ptr<agent::SignerClient> signer_;
  std::unique_ptr<agent::RemoteKidSigner> account_;
  std::unique_ptr<http::CurlHttpClient> http_;
  std::unique_ptr<acme::AcmeClient> client_;
  std::string account_url_;
};

class DirectModeOwnershipTest : public testing::SignerLabSuite<DirectModeOwnershipTest> {
 public:
  static testing::SignerLab::Options LabOptions() {
    testing::SignerLab::Options options;
    testing::LabAgentPolicy web1;
    web1.name = "web1";
    web1.allowed_names = {"web1.example.test", "*.web1.example.test"};
    web1.allow_sign_jws = true;
    testing::LabAgentPolicy wide;
    wide.name = "wide";
    wide.allowed_names = {"**.example.test"};
    wide.allow_sign_jws = true;
    options.agents = {web1, wide};
    options.enroll = {"web1", "wide"};
    return options;
  }

 protected:
  // `status` is PermissionDenied naming `what`, and exactly one deny record of SignJws by
  // `agent` followed `mark`.
  static void ExpectDenied(const absl::Status& status, absl::string_view what,
                           absl::string_view agent, size_t mark) {
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
    EXPECT_THAT(status.message(), HasSubstr(what)) << status;
    std::vector<Json> events = AuditEvents();
    ASSERT_EQ(events.size(), mark + 1) << Json(events).dump(1);
    EXPECT_EQ(events.back().value("rpc", ""), "SignJws");
    EXPECT_EQ(events.back().value("agent", ""), agent);
    EXPECT_EQ(events.back().value("decision", ""), "deny");
  }

  static absl::StatusOr<pb::SignJwsResponse> SignAs(const std::string& agent,
                                                    const std::string& url,
                                                    const std::string& payload,
                                                    const std::string& order_url = "") {
    std::unique_ptr<agent::SignerClient> client = Client(agent);
    if (client == nullptr) return absl::InternalError("no client");
    return client->SignJws(url, payload, "", order_url);
  }

  // web1's direct-mode order for web1.example.test, adopted (its authorization read), with its
  // http-01 challenge left pending.
  static const acme::Order* Web1PendingOrder() {
    static acme::Order* order = nullptr;
    static std::unique_ptr<DirectClient> client;
    if (order != nullptr) return order;
    client = DirectClient::Connect(lab(), "web1");
    if (client == nullptr) return nullptr;
    acme::NewOrderOptions options;
    options.identifiers = {acme::Identifier::Dns("web1.example.test")};
    absl::StatusOr<acme::Fetched<acme::Order>> created = client->acme().CreateOrder(options);
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok()) return nullptr;
    client->SetOrder(created->value.url);
    EXPECT_EQ(created->value.authorizations.size(), 1u);
    absl::StatusOr<acme::Fetched<acme::Authorization>> authz =
        client->acme().GetAuthorization(created->value.authorizations.at(0));
    EXPECT_TRUE(authz.ok()) << authz.status() << "\n" << lab().SignerLogTail();
    if (!authz.ok()) return nullptr;
    order = new acme::Order(created->value);
    challenge_url_ = new std::string(authz->value.Find("http-01")->url);
    return order;
  }
  static inline std::string* challenge_url_ = nullptr;
};

TEST_F(DirectModeOwnershipTest, TheAccountsOrderListIsRefused) {
  std::unique_ptr<DirectClient> client = DirectClient::Connect(lab(), "wide");
  ASSERT_NE(client, nullptr);
  // Pebble lists an account's orders at /list-orderz/<account id>, outside the account URL.
  const std::string account_id =
      client->account_url().substr(client->account_url().rfind('/') + 1);
  const std::string directory = lab().pebble().directory_url();
  const std::string origin = directory.substr(0, directory.find('/', directory.find("://") + 3));
  const std::string list = absl::StrCat(origin, "/list-orderz/", account_id);
  const size_t mark = AuditEvents().size();
  absl::StatusOr<pb::SignJwsResponse> signed_jws = SignAs("wide", list, "");
  ASSERT_FALSE(signed_jws.ok()) << "signed a read of " << list;
  ExpectDenied(signed_jws.status(), "not a resource of an order this agent created or adopted",
               "wide", mark);
}

TEST_F(DirectModeOwnershipTest, AnotherAgentsOrderAndChallengeAreRefused) {
  const acme::Order* order = Web1PendingOrder();
  ASSERT_NE(order, nullptr);
  ASSERT_NE(challenge_url_, nullptr);
  // Reading web1's order (names of another department), with or without naming it.
  size_t mark = AuditEvents().size();
  ExpectDenied(SignAs("wide", order->url, "", order->url).status(),
               "was created by another agent", "wide", mark);
  mark = AuditEvents().size();
  ExpectDenied(SignAs("wide", order->url, "").status(), "order URL of another agent's order",
               "wide", mark);
  mark = AuditEvents().size();
  ExpectDenied(SignAs("wide", order->authorizations.at(0), "").status(),
               "authorization URL of another agent's order", "wide", mark);
  // `{}` to web1's challenge: the CA would validate now, fail, and web1's order go invalid.
  mark = AuditEvents().size();
  ExpectDenied(SignAs("wide", *challenge_url_, "{}").status(),
               "challenge URL of another agent's order", "wide", mark);

  // web1 still reads its own order, and the challenge was never answered.
  std::unique_ptr<DirectClient> web1 = DirectClient::Connect(lab(), "web1");
  ASSERT_NE(web1, nullptr);
  web1->SetOrder(order->url);
  absl::StatusOr<acme::Fetched<acme::Order>> still = web1->acme().GetOrder(order->url);
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_EQ(still->value.status, acme::OrderStatus::kPending);
  absl::StatusOr<acme::Fetched<acme::Authorization>> authz =
      web1->acme().GetAuthorization(order->authorizations.at(0));
  ASSERT_TRUE(authz.ok()) << authz.status();
  EXPECT_EQ(authz->value.Find("http-01")->status, acme::ChallengeStatus::kPending);
}

TEST_F(DirectModeOwnershipTest, ABogusFinalizeCannotClaimAnotherAgentsUnadoptedOrder) {
  // web1 creates an order and has not named it to the signer yet (its newOrder was signed).
  std::unique_ptr<DirectClient> web1 = DirectClient::Connect(lab(), "web1");
  ASSERT_NE(web1, nullptr);
  acme::NewOrderOptions options;
  options.identifiers = {acme::Identifier::Dns("b.web1.example.test")};
  absl::StatusOr<acme::Fetched<acme::Order>> created = web1->acme().CreateOrder(options);
  ASSERT_TRUE(created.ok()) << created.status();
  const acme::Order& order = created->value;

  // "wide" may request the same name, and even has a newOrder signed for it; its finalize of
  // web1's order with a CSR for other names is refused by the CSR check, before any adoption.
  absl::StatusOr<acme::Directory> directory = web1->acme().GetDirectory();
  ASSERT_TRUE(directory.ok()) << directory.status();
  ASSERT_TRUE(SignAs("wide", directory->new_order,
                     R"({"identifiers":[{"type":"dns","value":"b.web1.example.test"}]})")
                  .ok());
  absl::StatusOr<std::string> csr = testing::NewCsrDer({"other.example.test"});
  ASSERT_TRUE(csr.ok()) << csr.status();
  const std::string payload =
      Json{{"csr", absl::WebSafeBase64Escape(*csr)}}.dump();
  size_t mark = AuditEvents().size();
  absl::StatusOr<pb::SignJwsResponse> bogus = SignAs("wide", order.finalize, payload, order.url);
  ASSERT_FALSE(bogus.ok());
  ExpectDenied(bogus.status(), "other.example.test", "wide", mark);

  // web1 was not locked out: naming its order now adopts it.
  absl::StatusOr<pb::SignJwsResponse> read = SignAs("web1", order.url, "", order.url);
  ASSERT_TRUE(read.ok()) << "web1 was locked out of its own order: " << read.status();
  // Now it is web1's: wide's finalize names the owner.
  mark = AuditEvents().size();
  ExpectDenied(SignAs("wide", order.finalize, payload, order.url).status(),
               "was created by another agent", "wide", mark);
}

TEST_F(DirectModeOwnershipTest, AnOrderWithoutASignedNewOrderIsNotAdopted) {
  // An order web1 made through the relay (CreateOrder RPC) is recorded as web1's: naming it does
  // not make it wide's.
  std::unique_ptr<agent::SignerClient> web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  absl::StatusOr<pb::Order> relay = web1->CreateOrder({"c.web1.example.test"}, "");
  ASSERT_TRUE(relay.ok()) << relay.status();
  size_t mark = AuditEvents().size();
  ExpectDenied(SignAs("wide", relay->url(), "", relay->url()).status(),
               "was created by another agent", "wide", mark);
  // A direct order of web1's that the signer has not seen named yet: "wide" signed no newOrder
  // for its names, so it cannot adopt it.
  std::unique_ptr<DirectClient> direct = DirectClient::Connect(lab(), "web1");
  ASSERT_NE(direct, nullptr);
  acme::NewOrderOptions options;
  options.identifiers = {acme::Identifier::Dns("d.web1.example.test")};
  absl::StatusOr<acme::Fetched<acme::Order>> created = direct->acme().CreateOrder(options);
  ASSERT_TRUE(created.ok()) << created.status();
  mark = AuditEvents().size();
  ExpectDenied(SignAs("wide", created->value.url, "", created->value.url).status(),
               "signer signed no unused newOrder for exactly these identifiers for agent wide",
               "wide", mark);
}

TEST_F(DirectModeOwnershipTest, DirectIssuanceLandsInTheInventoryAndRevocationIsOwnersOnly) {
  // web1 issues in direct mode, as `acme-agent certonly --direct` does.
  std::unique_ptr<agent::SignerClient> web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  const std::vector<std::string> names = {"e.web1.example.test"};
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
  absl::StatusOr<agent::IssuedChain> chain =
      agent::IssueDirect(*web1, solver, options, lab().pebble().ca_bundle_path());
  ASSERT_TRUE(chain.ok()) << chain.status() << "\n" << lab().SignerLogTail();
  ASSERT_EQ(InventoryEntriesWithSerial(chain->serial), 1) << Inventory().dump(1);
  for (const Json& entry : Inventory()) {
    if (entry.value("serial", "") == chain->serial) {
      EXPECT_EQ(entry.value("agent", ""), "web1");
    }
  }
  std::vector<SslUniquePtr<X509>> certs = testing::ParseChain(chain->pem_chain);
  ASSERT_FALSE(certs.empty());
  unsigned char* der = nullptr;
  const int der_length = i2d_X509(certs.front().get(), &der);
  ASSERT_GT(der_length, 0);
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owned_der(der);
  const std::string leaf(reinterpret_cast<const char*>(der), static_cast<size_t>(der_length));
  const std::string revoke_payload =
      Json{{"certificate", absl::WebSafeBase64Escape(leaf)}, {"reason", 4}}.dump();
  const std::string directory = lab().pebble().directory_url();
  const std::string revoke_url =
      directory.substr(0, directory.find('/', directory.find("://") + 3)) + "/revoke-cert";

  // "wide" covers the names but the certificate is web1's.
  size_t mark = AuditEvents().size();
  ExpectDenied(SignAs("wide", revoke_url, revoke_payload).status(),
               "was issued to another agent", "wide", mark);
  // A reason no CA accepts is refused on this path as on the RPC.
  mark = AuditEvents().size();
  absl::StatusOr<pb::SignJwsResponse> bad_reason = SignAs(
      "web1", revoke_url, Json{{"certificate", absl::WebSafeBase64Escape(leaf)}, {"reason", 6}}.dump());
  ASSERT_FALSE(bad_reason.ok());
  EXPECT_EQ(bad_reason.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_reason.status().message(), HasSubstr("is not one ACME CAs accept"));

  // web1's own revocation is signed and attributed: serial, certificate hash and reason.
  mark = AuditEvents().size();
  absl::StatusOr<pb::SignJwsResponse> own = SignAs("web1", revoke_url, revoke_payload);
  ASSERT_TRUE(own.ok()) << own.status();
  std::vector<Json> events = AuditEvents();
  ASSERT_EQ(events.size(), mark + 1);
  const Json& record = events.back();
  EXPECT_EQ(record.value("decision", ""), "allow") << record.dump();
  EXPECT_EQ(record["outcome"].value("serial", ""), chain->serial) << record.dump();
  EXPECT_EQ(record["request"].value("revocation_reason", ""), "4") << record.dump();
  EXPECT_EQ(record["request"].value("certificate_sha256", "").size(), 64u) << record.dump();
  bool marked = false;
  for (const Json& entry : Inventory()) {
    if (entry.value("serial", "") == chain->serial) {
      marked = entry.value("revoked", false);
      EXPECT_EQ(entry.value("revocation_reason", -1), 4) << entry.dump();
    }
  }
  EXPECT_TRUE(marked) << Inventory().dump(1);
  ExpectAuditVerifies();
}

}  // namespace
}  // namespace acme_signer
