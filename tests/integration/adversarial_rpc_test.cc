// Adversarial requests through the REAL signer (SignerLab: acme-signer serve, SoftHSM2, Pebble,
// gRPC over mutual TLS). The attacker is web1: an enrolled host that legitimately owns
// web1.example.test (and one label under it), may use SignJws (direct mode) and at most two
// identifiers per order. It asks the signer to sign or relay what its policy does not allow.
// web2 owns web2.example.test and may not use SignJws.
//
// Every denial is checked three ways: the gRPC status code, a message naming what was wrong,
// and exactly one new audit record (kind event, the RPC, the agent, decision deny, the same
// reason the caller got). Where the CA's state can be observed, the test also shows that
// nothing reached it: no signature was returned, the order is still "ready", the inventory
// is unchanged, the certificate can still be revoked by its owner.
//
// The classifier's rules are unit-tested in tests/signer/jws_request_classifier_test.cc and
// the CSR rules in tests/signer/csr_checks_test.cc; this file proves the deployed service
// applies them to real RPCs. Tests run in declaration order (do not shuffle): the last one
// finalizes the order the refused finalizes used.
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <cerrno>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/signer_client.h"
#include "common/ssl_unique_ptr.h"
#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/curl_http_client.h"
#include "nlohmann/json.hpp"
#include "tests/testing/lab_orders.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;
using testing::SignerLab;
using Json = nlohmann::json;

namespace pb = ::acmesigner::v1;

std::vector<testing::LabAgentPolicy> SuiteAgents() {
  std::vector<testing::LabAgentPolicy> agents = testing::DefaultLabAgents();
  for (testing::LabAgentPolicy& agent : agents) {
    if (agent.name == "web1") {
      agent.allow_sign_jws = true;
      agent.max_identifiers_per_order = 2;
    }
  }
  return agents;
}

// ---------------------------------------------------------------------------------------------
// Certificates, CSRs and keys built by the attacker.

std::string Der(X509* cert) {
  unsigned char* raw = nullptr;
  const int length = i2d_X509(cert, &raw);
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owned(raw);
  return length > 0 ? std::string(reinterpret_cast<const char*>(raw), length) : "";
}

// The DER of the first certificate of a PEM chain ("" when unreadable).
std::string LeafDer(absl::string_view pem) {
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  SslUniquePtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  return cert != nullptr ? Der(cert.get()) : "";
}

std::string SanOf(const std::vector<std::string>& names) {
  std::vector<std::string> entries;
  for (const std::string& name : names) entries.push_back(absl::StrCat("DNS:", name));
  return absl::StrJoin(entries, ",");
}

// A CSR for `names` carrying `public_key`, signed with `signing_key` (which need not be its
// private half: then the CSR's signature does not verify).
std::string CsrDer(EVP_PKEY* public_key, EVP_PKEY* signing_key,
                   const std::vector<std::string>& names) {
  SslUniquePtr<X509_REQ> request(X509_REQ_new());
  X509_REQ_set_version(request.get(), X509_REQ_VERSION_1);
  X509_REQ_set_pubkey(request.get(), public_key);
  STACK_OF(X509_EXTENSION)* extensions = sk_X509_EXTENSION_new_null();
  sk_X509_EXTENSION_push(extensions, X509V3_EXT_nconf_nid(nullptr, nullptr, NID_subject_alt_name,
                                                          SanOf(names).c_str()));
  X509_REQ_add_extensions(request.get(), extensions);
  sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
  if (X509_REQ_sign(request.get(), signing_key, EVP_sha256()) <= 0) return "";
  unsigned char* raw = nullptr;
  const int length = i2d_X509_REQ(request.get(), &raw);
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owned(raw);
  return length > 0 ? std::string(reinterpret_cast<const char*>(raw), length) : "";
}

// A self-signed certificate for `names` with the serial of `model`: what an attacker makes to
// pass a serial-only ownership check.
std::string ForgeWithSerialOf(absl::string_view model_der, const std::vector<std::string>& names) {
  const auto* cursor = reinterpret_cast<const unsigned char*>(model_der.data());
  SslUniquePtr<X509> model(d2i_X509(nullptr, &cursor, static_cast<long>(model_der.size())));
  SslUniquePtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (model == nullptr || key == nullptr) return "";
  SslUniquePtr<X509> cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  X509_set_serialNumber(cert.get(), X509_get_serialNumber(model.get()));
  X509_set_issuer_name(cert.get(), X509_get_issuer_name(model.get()));
  X509_set_subject_name(cert.get(), X509_get_subject_name(model.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  SslUniquePtr<X509_EXTENSION> san(
      X509V3_EXT_nconf_nid(nullptr, nullptr, NID_subject_alt_name, SanOf(names).c_str()));
  if (san == nullptr || X509_add_ext(cert.get(), san.get(), -1) != 1 ||
      X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return "";
  }
  return Der(cert.get());
}

// The ACME account public key from GetAccount's JWK (EC or RSA): the attacker can read it,
// never use it.
SslUniquePtr<EVP_PKEY> PublicKeyFromJwk(absl::string_view jwk_json) {
  const Json jwk = Json::parse(jwk_json, nullptr, /*allow_exceptions=*/false);
  if (!jwk.is_object()) return nullptr;
  auto member = [&](const char* name) {
    std::string decoded;
    if (!jwk.contains(name) || !jwk[name].is_string() ||
        !absl::WebSafeBase64Unescape(jwk[name].get<std::string>(), &decoded)) {
      return std::string();
    }
    return decoded;
  };
  SslUniquePtr<OSSL_PARAM_BLD> builder(OSSL_PARAM_BLD_new());
  std::string point;
  SslUniquePtr<BIGNUM> n, e;
  const std::string kty = jwk.value("kty", "");
  if (kty == "EC") {
    const std::string crv = jwk.value("crv", "");
    const char* group = crv == "P-256" ? "prime256v1" : crv == "P-384" ? "secp384r1" : nullptr;
    if (group == nullptr) return nullptr;
    point = absl::StrCat("\x04", member("x"), member("y"));
    OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                     point.size());
  } else if (kty == "RSA") {
    const std::string modulus = member("n"), exponent = member("e");
    n.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(modulus.data()),
                      static_cast<int>(modulus.size()), nullptr));
    e.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(exponent.data()),
                      static_cast<int>(exponent.size()), nullptr));
    OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get());
    OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get());
  } else {
    return nullptr;
  }
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(builder.get());
  SslUniquePtr<EVP_PKEY_CTX> context(
      EVP_PKEY_CTX_new_from_name(nullptr, kty == "EC" ? "EC" : "RSA", nullptr));
  EVP_PKEY* key = nullptr;
  if (context == nullptr || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    key = nullptr;
  }
  OSSL_PARAM_free(params);
  return SslUniquePtr<EVP_PKEY>(key);
}

// ---------------------------------------------------------------------------------------------
// The suite.

struct Issued {
  std::string order_url;
  std::string serial;
  std::string leaf_der;
};

class AdversarialRpcTest : public testing::SignerLabSuite<AdversarialRpcTest> {
 public:
  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    options.agents = SuiteAgents();
    options.enroll = {"web1", "web2"};
    return options;
  }

 protected:
  static std::vector<Json> Events() { return AuditEvents(); }

  // The audit events written since `mark` (a size of Events()).
  static std::vector<Json> EventsSince(size_t mark) {
    std::vector<Json> events = Events();
    if (mark >= events.size()) return {};
    return std::vector<Json>(events.begin() + static_cast<long>(mark), events.end());
  }

  // The events since `mark` that can belong to a refusal whose reason is `reason`: the folded
  // record of an EARLIER identical refusal (another reason, with "repeated") is written when its
  // fold window ends, which may fall inside a later test, and is left out.
  static std::vector<Json> EventsForReasonSince(size_t mark, absl::string_view reason) {
    std::vector<Json> events;
    for (Json& event : EventsSince(mark)) {
      if (event.contains("repeated") && event.value("reason", "") != reason) continue;
      events.push_back(std::move(event));
    }
    return events;
  }

  // `status` is the denial `code` with a message containing `what`, and the RPC left exactly
  // one audit event since `mark`: a deny of `rpc` by `agent` whose reason is that message.
  static void ExpectDeniedAndAudited(const absl::Status& status, absl::StatusCode code,
                                     absl::string_view what, absl::string_view rpc,
                                     absl::string_view agent, size_t mark) {
    EXPECT_EQ(status.code(), code) << status;
    EXPECT_THAT(status.message(), HasSubstr(what)) << status;
    const std::string reason(status.message());
    std::vector<Json> events = EventsForReasonSince(mark, reason);
    if (events.empty()) {
      // The same refusal (rpc, agent, request, reason) as one just before: the signer counts
      // it into one record with "repeated", written once the fold window has passed
      // (signer/refusal_budget.h, docs/audit.md). Wait for that record.
      const absl::Time give_up = absl::Now() + absl::Seconds(20);
      while (events.empty() && absl::Now() < give_up) {
        absl::SleepFor(absl::Milliseconds(250));
        events = EventsForReasonSince(mark, reason);
      }
      ASSERT_EQ(events.size(), 1u) << Json(events).dump(1);
      EXPECT_EQ(events[0].value("repeated", Json::object()).value("folded", ""), "identical")
          << events[0].dump();
    }
    ASSERT_EQ(events.size(), 1u) << Json(events).dump(1);
    const Json& event = events[0];
    EXPECT_EQ(event.value("rpc", ""), rpc) << event.dump();
    EXPECT_EQ(event.value("agent", ""), agent) << event.dump();
    EXPECT_EQ(event.value("decision", ""), "deny") << event.dump();
    EXPECT_EQ(event.value("reason", ""), status.message()) << event.dump();
    EXPECT_FALSE(event.value("client_cert_sha256", "").empty()) << event.dump();
  }

  // SignJws by `agent`; on a denial, checks it as above and that no signature came back.
  static void ExpectSignJwsDenied(absl::string_view agent, const std::string& url,
                                  const std::string& payload, absl::StatusCode code,
                                  absl::string_view what, const std::string& order_url = "") {
    SCOPED_TRACE(
        absl::StrCat("SignJws by ", agent, " for ", url, " payload ", payload.substr(0, 200)));
    std::unique_ptr<agent::SignerClient> client = Client(agent);
    ASSERT_NE(client, nullptr);
    const size_t mark = Events().size();
    absl::StatusOr<pb::SignJwsResponse> signed_jws = client->SignJws(url, payload, "", order_url);
    ASSERT_FALSE(signed_jws.ok()) << "signed: " << signed_jws->flattened_json();
    ExpectDeniedAndAudited(signed_jws.status(), code, what, "SignJws", agent, mark);
    for (const Json& event : EventsForReasonSince(mark, signed_jws.status().message())) {
      EXPECT_EQ(event["request"].value("url", ""), url) << event.dump();
    }
  }

  // Pebble's directory, fetched the way an agent in direct mode would.
  static const Json& Directory() {
    static const Json* directory = [] {
      http::CurlHttpClient::Options options;
      options.ca_bundle_path = lab().pebble().ca_bundle_path();
      auto client = http::CurlHttpClient::Create(options);
      EXPECT_TRUE(client.ok()) << client.status();
      http::HttpRequest request;
      request.url = lab().pebble().directory_url();
      absl::StatusOr<http::HttpResponse> response =
          client.ok() ? (*client)->Do(request) : client.status();
      EXPECT_TRUE(response.ok()) << response.status();
      return new Json(response.ok() ? Json::parse(response->body, nullptr, false) : Json());
    }();
    return *directory;
  }
  static std::string Endpoint(const char* name) {
    const Json& directory = Directory();
    return directory.is_object() ? directory.value(name, "") : "";
  }
  // "https://127.0.0.1:<port>" of the CA.
  static std::string CaOrigin() {
    const std::string url = lab().pebble().directory_url();
    return url.substr(0, url.find('/', url.find("://") + 3));
  }
  static std::string NewOrderPayload(const std::vector<std::string>& names) {
    Json identifiers = Json::array();
    for (const std::string& name : names) identifiers.push_back({{"type", "dns"}, {"value", name}});
    return Json{{"identifiers", identifiers}}.dump();
  }

  static pb::GetAccountResponse Account() {
    std::unique_ptr<agent::SignerClient> client = Client("web1");
    if (client == nullptr) return {};
    absl::StatusOr<pb::GetAccountResponse> account = client->GetAccount();
    EXPECT_TRUE(account.ok()) << account.status();
    return account.ok() ? *account : pb::GetAccountResponse();
  }

  // A certificate issued to `agent` for `names` through the relay RPCs.
  static absl::StatusOr<Issued> Issue(absl::string_view agent,
                                      const std::vector<std::string>& names) {
    absl::StatusOr<std::unique_ptr<agent::SignerClient>> client = lab().Client(agent);
    if (!client.ok()) return client.status();
    absl::StatusOr<pb::Order> order = testing::CreateReadyOrder(**client, lab().http_port(), names);
    if (!order.ok()) return order.status();
    absl::StatusOr<std::string> csr = testing::NewCsrDer(names);
    if (!csr.ok()) return csr.status();
    absl::StatusOr<pb::Order> finalized = (*client)->FinalizeOrder(order->url(), *csr);
    if (!finalized.ok()) return finalized.status();
    finalized = testing::PollOrderWhile(**client, *finalized, pb::ORDER_STATUS_PROCESSING);
    if (!finalized.ok()) return finalized.status();
    absl::StatusOr<pb::GetCertificateResponse> certificate =
        (*client)->GetCertificate(order->url(), "");
    if (!certificate.ok()) return certificate.status();
    return Issued{order->url(), certificate->serial(), LeafDer(certificate->pem_chain())};
  }
  static const Issued* Certificate(const std::string& agent) {
    static std::map<std::string, Issued>* issued = new std::map<std::string, Issued>();
    auto it = issued->find(agent);
    if (it != issued->end()) return &it->second;
    absl::StatusOr<Issued> made = Issue(agent, {absl::StrCat(agent, ".example.test")});
    EXPECT_TRUE(made.ok()) << made.status() << "\n" << lab().SignerLogTail();
    if (!made.ok()) return nullptr;
    return &issued->emplace(agent, *std::move(made)).first->second;
  }

  // The one web1 order for web1.example.test the refused finalizes use (status ready).
  static const pb::Order* ReadyOrder() {
    static pb::Order* ready = nullptr;
    if (ready == nullptr) {
      std::unique_ptr<agent::SignerClient> client = Client("web1");
      if (client == nullptr) return nullptr;
      absl::StatusOr<pb::Order> order =
          testing::CreateReadyOrder(*client, lab().http_port(), {"web1.example.test"});
      EXPECT_TRUE(order.ok()) << order.status() << "\n" << lab().SignerLogTail();
      if (!order.ok()) return nullptr;
      EXPECT_EQ(order->status(), pb::ORDER_STATUS_READY);
      ready = new pb::Order(*std::move(order));
    }
    return ready;
  }

  // A refused FinalizeOrder of ReadyOrder() with `csr_der`, checked as a denial, and the order
  // still "ready" at the CA afterwards (the CSR never reached it).
  static void ExpectFinalizeDenied(const std::string& csr_der, absl::StatusCode code,
                                   absl::string_view what) {
    const pb::Order* order = ReadyOrder();
    ASSERT_NE(order, nullptr);
    ASSERT_FALSE(csr_der.empty());
    std::unique_ptr<agent::SignerClient> client = Client("web1");
    ASSERT_NE(client, nullptr);
    const size_t inventory = Inventory().size();
    const size_t mark = Events().size();
    absl::StatusOr<pb::Order> finalized = client->FinalizeOrder(order->url(), csr_der);
    ASSERT_FALSE(finalized.ok()) << "finalized: " << finalized->DebugString();
    ExpectDeniedAndAudited(finalized.status(), code, what, "FinalizeOrder", "web1", mark);
    for (const Json& event : EventsForReasonSince(mark, finalized.status().message())) {
      EXPECT_EQ(event["request"].value("order_url", ""), order->url()) << event.dump();
    }
    absl::StatusOr<pb::Order> after = client->GetOrder(order->url());
    ASSERT_TRUE(after.ok()) << after.status();
    EXPECT_EQ(after->status(), pb::ORDER_STATUS_READY) << "the refused CSR reached the CA";
    EXPECT_EQ(Inventory().size(), inventory);
  }

  // An inventory entry by serial (null when absent).
  static Json InventoryEntry(const std::string& serial) {
    for (const Json& entry : Inventory()) {
      if (entry.value("serial", "") == serial) return entry;
    }
    return Json();
  }
};

// ---------------------------------------------------------------------------------------------
// SignJws: what web1 may never have signed with the account key.

TEST_F(AdversarialRpcTest, SignJwsForNewAccountIsDenied) {
  const std::string new_account = Endpoint("newAccount");
  ASSERT_FALSE(new_account.empty()) << Directory().dump();
  ExpectSignJwsDenied("web1", new_account, R"({"termsOfServiceAgreed":true})",
                      absl::StatusCode::kPermissionDenied,
                      "newAccount requests are never signed for agents");
  // A spelling variant of the same endpoint is recognised as that endpoint.
  ExpectSignJwsDenied("web1", absl::StrCat(new_account, "/"), R"({"onlyReturnExisting":true})",
                      absl::StatusCode::kPermissionDenied,
                      "newAccount requests are never signed for agents");
}

TEST_F(AdversarialRpcTest, SignJwsForKeyChangeIsDenied) {
  const std::string key_change = Endpoint("keyChange");
  ASSERT_FALSE(key_change.empty()) << Directory().dump();
  // The outer JWS of a key rollover: its payload is the inner JWS signed by the new key.
  ExpectSignJwsDenied("web1", key_change,
                      R"({"protected":"eyJhbGciOiJFUzI1NiJ9","payload":"e30","signature":"AA"})",
                      absl::StatusCode::kPermissionDenied,
                      "keyChange requests are never signed for agents");
}

TEST_F(AdversarialRpcTest, SignJwsDeactivatingTheAccountIsDenied) {
  const std::string account_url = Account().account_url();
  ASSERT_FALSE(account_url.empty());
  ExpectSignJwsDenied("web1", account_url, R"({"status":"deactivated"})",
                      absl::StatusCode::kPermissionDenied,
                      "requests to the signer's account URL are never signed for agents");
  // Not even a read or an empty update of the account, nor anything below it.
  ExpectSignJwsDenied("web1", account_url, "", absl::StatusCode::kPermissionDenied,
                      "signer's account URL");
  ExpectSignJwsDenied("web1", account_url, "{}", absl::StatusCode::kPermissionDenied,
                      "signer's account URL");
  ExpectSignJwsDenied("web1", absl::StrCat(account_url, "/orders"), "",
                      absl::StatusCode::kPermissionDenied, "signer's account URL");
  // The account still works: a relay call that signs with it succeeds at the CA.
  std::unique_ptr<agent::SignerClient> client = Client("web1");
  ASSERT_NE(client, nullptr);
  absl::StatusOr<pb::Order> order = client->CreateOrder({"a.web1.example.test"}, "");
  EXPECT_TRUE(order.ok()) << order.status();
}

TEST_F(AdversarialRpcTest, SignJwsForAnotherOriginIsDenied) {
  const std::string payload = NewOrderPayload({"web1.example.test"});
  // Another host, the CA host on another port (Pebble's management interface), another scheme.
  const std::string management = lab().pebble().management_url();
  const std::string http_origin =
      absl::StrCat("http://", CaOrigin().substr(std::string("https://").size()));
  for (const std::string& url :
       {std::string("https://evil.example.test/acme/new-order"),
        absl::StrCat(management, "/order-plz"), absl::StrCat(http_origin, "/order-plz"),
        std::string("https://localhost/order-plz")}) {
    ExpectSignJwsDenied("web1", url, payload, absl::StatusCode::kPermissionDenied,
                        absl::StrCat("it is not on the CA's origin ", CaOrigin()));
  }
}

TEST_F(AdversarialRpcTest, SignJwsForUrlsWithUserinfoOrPortTricksIsDenied) {
  const std::string payload = NewOrderPayload({"web1.example.test"});
  const std::string authority = CaOrigin().substr(std::string("https://").size());
  const std::string host = authority.substr(0, authority.rfind(':'));
  const std::string port = authority.substr(authority.rfind(':') + 1);
  const struct {
    std::string url;
    std::string why;
  } cases[] = {
      // userinfo before the CA: a lax parser sees the CA, curl sends "evil" as a user name.
      {absl::StrCat("https://evil@", authority, "/order-plz"), "host has a character"},
      // the CA as userinfo of another host: the request would go to evil.example.test.
      {absl::StrCat("https://", authority, "@evil.example.test/order-plz"), "bad port"},
      // the CA's port spelled with leading zeros, or out of range.
      {absl::StrCat("https://", host, ":00", port, "/order-plz"), "bad port"},
      {absl::StrCat("https://", host, ":", port, "0000/order-plz"), "bad port"},
      {absl::StrCat("https://", host, ":/order-plz"), "empty port"},
      // paths a router might rewrite into the newOrder endpoint.
      {absl::StrCat(CaOrigin(), "/x/../order-plz"), "dot segment in path"},
      {absl::StrCat(CaOrigin(), "/order%2Dplz"), "no query, fragment or percent-encoding"},
      {absl::StrCat(CaOrigin(), "/order-plz?account=2"), "no query, fragment or percent-encoding"},
  };
  for (const auto& [url, why] : cases) {
    ExpectSignJwsDenied("web1", url, payload, absl::StatusCode::kInvalidArgument, why);
  }
  // Each of those messages says what was refused: the URL.
  std::unique_ptr<agent::SignerClient> client = Client("web1");
  ASSERT_NE(client, nullptr);
  for (const auto& [url, why] : cases) {
    EXPECT_THAT(client->SignJws(url, payload, "").status().message(),
                HasSubstr(absl::StrCat("\"", url, "\" is not acceptable")));
  }
}

TEST_F(AdversarialRpcTest, SignJwsNewOrderSmugglingNamesOutsideThePolicyIsDenied) {
  const std::string new_order = Endpoint("newOrder");
  ASSERT_FALSE(new_order.empty());
  ExpectSignJwsDenied("web1", new_order,
                      NewOrderPayload({"web1.example.test", "web2.example.test"}),
                      absl::StatusCode::kPermissionDenied,
                      "agent web1 may not request web2.example.test: not in its allowed names");
  // Two labels under web1.example.test: its policy allows exactly one.
  ExpectSignJwsDenied("web1", new_order, NewOrderPayload({"a.b.web1.example.test"}),
                      absl::StatusCode::kPermissionDenied, "may not request a.b.web1.example.test");
  // A wildcard is not the same as the one-label pattern.
  ExpectSignJwsDenied("web1", new_order, NewOrderPayload({"*.web1.example.test"}),
                      absl::StatusCode::kPermissionDenied, "wildcard certificates are not allowed");
  // An IP identifier hidden among allowed names.
  ExpectSignJwsDenied(
      "web1", new_order,
      R"({"identifiers":[{"type":"dns","value":"web1.example.test"},{"type":"ip","value":"127.0.0.1"}]})",
      absl::StatusCode::kPermissionDenied, "identifier type \"ip\" is not supported");
}

TEST_F(AdversarialRpcTest, SignJwsNewOrderWithMoreIdentifiersThanThePolicyAllowsIsDenied) {
  ExpectSignJwsDenied(
      "web1", Endpoint("newOrder"),
      NewOrderPayload({"a.web1.example.test", "b.web1.example.test", "c.web1.example.test"}),
      absl::StatusCode::kPermissionDenied,
      "agent web1 may not request 3 identifiers in one order (at most 2)");
}

TEST_F(AdversarialRpcTest, SignJwsNewOrderWithDuplicateKeysIsDeniedWhicheverOneTheCaWouldRead) {
  const std::string allowed = R"([{"type":"dns","value":"web1.example.test"}])";
  const std::string smuggled = R"([{"type":"dns","value":"web2.example.test"}])";
  // nlohmann keeps the last duplicate, Go's encoding/json too, other parsers the first: both
  // orders are refused, as are names equal ignoring case (Go matches fields that way) and a
  // name spelled with an escape.
  for (const std::string& payload : {
           absl::StrCat(R"({"identifiers":)", allowed, R"(,"identifiers":)", smuggled, "}"),
           absl::StrCat(R"({"identifiers":)", smuggled, R"(,"identifiers":)", allowed, "}"),
           absl::StrCat(R"({"identifiers":)", allowed, R"(,"Identifiers":)", smuggled, "}"),
           absl::StrCat(R"({"identifiers":)", allowed, R"(,"identifier\u0073":)", smuggled, "}"),
       }) {
    ExpectSignJwsDenied("web1", Endpoint("newOrder"), payload, absl::StatusCode::kInvalidArgument,
                        "payload is not acceptable JSON: duplicate member");
  }
  // Inside an identifier as well.
  ExpectSignJwsDenied(
      "web1", Endpoint("newOrder"),
      R"({"identifiers":[{"type":"dns","value":"web1.example.test","value":"web2.example.test"}]})",
      absl::StatusCode::kInvalidArgument, "duplicate member \"value\"");
}

TEST_F(AdversarialRpcTest, SignJwsWithAPayloadThatIsNotJsonIsDenied) {
  for (const std::string& payload :
       {std::string("this is not json"), std::string("[\"identifiers\"]"),
        std::string("{\"identifiers\":[]} trailing"), std::string("\xEF\xBB\xBF{}"),
        std::string("{\"identifiers\":[{\"type\":\"dns\",\"value\":\"web1.example.test\"}]")}) {
    ExpectSignJwsDenied("web1", Endpoint("newOrder"), payload, absl::StatusCode::kInvalidArgument,
                        "payload is not acceptable JSON");
  }
  // To a URL that is not a known endpoint, only "", {} (a challenge) and an authorization's
  // deactivation are signed.
  const pb::Order* order = ReadyOrder();
  ASSERT_NE(order, nullptr);
  ExpectSignJwsDenied("web1", order->url(), "not json either", absl::StatusCode::kInvalidArgument,
                      "payload is not acceptable JSON");
  ExpectSignJwsDenied("web1", order->authorizations(0).url(), R"({"status":"valid"})",
                      absl::StatusCode::kPermissionDenied,
                      "only an empty payload (POST-as-GET), {} (challenge response)");
  ExpectSignJwsDenied("web1", order->url(), R"({"status":"deactivated"})",
                      absl::StatusCode::kPermissionDenied, "deactivates an authorization");
}

TEST_F(AdversarialRpcTest, SignJwsRevokingAnotherAgentsCertificateIsDenied) {
  const Issued* web2 = Certificate("web2");
  ASSERT_NE(web2, nullptr);
  ASSERT_FALSE(web2->leaf_der.empty());
  const std::string payload =
      Json{{"certificate", absl::WebSafeBase64Escape(web2->leaf_der)}, {"reason", 1}}.dump();
  ExpectSignJwsDenied("web1", Endpoint("revokeCert"), payload, absl::StatusCode::kPermissionDenied,
                      "agent web1 may not request web2.example.test: not in its allowed names");
}

TEST_F(AdversarialRpcTest, SignJwsOrderUrlOffTheCaIsNeverFetched) {
  // Direct mode lets the agent name the order of a finalize; the signer fetches it with a JWS
  // signed by the account key. Pointed anywhere but the CA, that would be a signed request to
  // a host of the attacker's choosing. A listening socket shows the signer never connects.
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  ASSERT_GE(listener.get(), 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(listener.get(), 8), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string evil_order =
      absl::StrCat("https://127.0.0.1:", ntohs(address.sin_port), "/my-order/1");

  absl::StatusOr<std::string> csr = testing::NewCsrDer({"web1.example.test"});
  ASSERT_TRUE(csr.ok()) << csr.status();
  const std::string payload = Json{{"csr", absl::WebSafeBase64Escape(*csr)}}.dump();
  ExpectSignJwsDenied(
      "web1", absl::StrCat(CaOrigin(), "/finalize-order/unknown"), payload,
      absl::StatusCode::kPermissionDenied,
      absl::StrCat("SignJws order_url \"", evil_order, "\" is not on the CA's origin"), evil_order);
  // The RPC has returned, so a connection the signer made would be waiting to be accepted.
  UniqueFd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  const int accept_errno = errno;
  EXPECT_LT(accepted.get(), 0) << "the signer connected to the agent's order_url";
  EXPECT_TRUE(accept_errno == EAGAIN || accept_errno == EWOULDBLOCK) << accept_errno;
}

TEST_F(AdversarialRpcTest, AgentWithoutSignJwsIsDeniedEverySignJws) {
  const pb::Order* order = ReadyOrder();
  ASSERT_NE(order, nullptr);
  // Even the most harmless requests: a read of an order and a challenge response.
  const std::string refusal = "agent web2 is not allowed to have JWS signed (SignJws)";
  ExpectSignJwsDenied("web2", order->url(), "", absl::StatusCode::kPermissionDenied, refusal);
  ExpectSignJwsDenied("web2", order->authorizations(0).challenges(0).url(), "{}",
                      absl::StatusCode::kPermissionDenied, refusal);
  ExpectSignJwsDenied("web2", Endpoint("newOrder"), NewOrderPayload({"web2.example.test"}),
                      absl::StatusCode::kPermissionDenied, refusal);
}

// ---------------------------------------------------------------------------------------------
// Relay RPCs.

TEST_F(AdversarialRpcTest, RevokingAnotherAgentsCertificateIsDeniedAndTheCertificateStaysValid) {
  const Issued* web2 = Certificate("web2");
  ASSERT_NE(web2, nullptr);
  std::unique_ptr<agent::SignerClient> web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  const size_t mark = Events().size();
  absl::Status revoked = web1->RevokeCertificate(web2->leaf_der, 1);
  ExpectDeniedAndAudited(revoked, absl::StatusCode::kPermissionDenied,
                         absl::StrCat("certificate ", web2->serial,
                                      " was not issued to agent web1 through this signer"),
                         "RevokeCertificate", "web1", mark);
  EXPECT_EQ(EventsForReasonSince(mark, revoked.message()).at(0)["outcome"].value("serial", ""),
            web2->serial);
  EXPECT_EQ(InventoryEntry(web2->serial).value("revoked", true), false);

  // The CA had not revoked it: its owner still can (a second revocation would be refused by
  // the CA as alreadyRevoked).
  std::unique_ptr<agent::SignerClient> owner = Client("web2");
  ASSERT_NE(owner, nullptr);
  absl::Status by_owner = owner->RevokeCertificate(web2->leaf_der, 4);
  EXPECT_TRUE(by_owner.ok()) << by_owner;
  EXPECT_EQ(InventoryEntry(web2->serial).value("revoked", false), true);
}

TEST_F(AdversarialRpcTest, RevokingACertificateForgedAroundAnOwnSerialIsDenied) {
  const Issued* web1_cert = Certificate("web1");
  ASSERT_NE(web1_cert, nullptr);
  const std::string forged = ForgeWithSerialOf(web1_cert->leaf_der, {"web2.example.test"});
  ASSERT_FALSE(forged.empty());
  std::unique_ptr<agent::SignerClient> web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  const size_t mark = Events().size();
  absl::Status revoked = web1->RevokeCertificate(forged, 1);
  ExpectDeniedAndAudited(revoked, absl::StatusCode::kPermissionDenied,
                         "has a certificate with this serial, but its contents differ",
                         "RevokeCertificate", "web1", mark);
  EXPECT_EQ(InventoryEntry(web1_cert->serial).value("revoked", true), false);
}

TEST_F(AdversarialRpcTest, FinalizeWithACsrCarryingTheAccountKeyIsDeniedAsSuch) {
  const pb::GetAccountResponse account = Account();
  SslUniquePtr<EVP_PKEY> account_key = PublicKeyFromJwk(account.account_jwk());
  ASSERT_NE(account_key, nullptr) << account.account_jwk();
  // The attacker cannot sign with the account key (it is in the HSM); any signature will do
  // to carry the key to the signer.
  SslUniquePtr<EVP_PKEY> other(EVP_EC_gen("P-256"));
  ExpectFinalizeDenied(CsrDer(account_key.get(), other.get(), {"web1.example.test"}),
                       absl::StatusCode::kPermissionDenied,
                       "CSR from agent web1 refused: its key is the ACME account key");
}

TEST_F(AdversarialRpcTest, FinalizeWithCsrNamesOtherThanTheOrdersIsDenied) {
  SslUniquePtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  // An extra name the policy allows but the order does not have.
  ExpectFinalizeDenied(CsrDer(key.get(), key.get(), {"web1.example.test", "a.web1.example.test"}),
                       absl::StatusCode::kPermissionDenied,
                       "CSR names a.web1.example.test, which is not an identifier of the order");
  // Another agent's name.
  ExpectFinalizeDenied(CsrDer(key.get(), key.get(), {"web1.example.test", "web2.example.test"}),
                       absl::StatusCode::kPermissionDenied, "may not request web2.example.test");
}

TEST_F(AdversarialRpcTest, FinalizeWithAKeyTypeThePolicyForbidsIsDenied) {
  // web1 restricted to ec-p256 (SignerLab writes no key_types: every type is allowed).
  std::string text = lab().ConfigText(SuiteAgents());
  const std::string web1_entry = "name = \"web1\"\n";
  const size_t at = text.find(web1_entry);
  ASSERT_NE(at, std::string::npos);
  text.insert(at + web1_entry.size(), "key_types = [\"ec-p256\"]\n");
  ASSERT_TRUE(lab().WriteRawConfig(text).ok());
  absl::Status reloaded = lab().ReloadSigner();
  ASSERT_TRUE(reloaded.ok()) << reloaded;

  SslUniquePtr<EVP_PKEY> rsa(EVP_RSA_gen(2048));
  ASSERT_NE(rsa, nullptr);
  ExpectFinalizeDenied(CsrDer(rsa.get(), rsa.get(), {"web1.example.test"}),
                       absl::StatusCode::kPermissionDenied,
                       "key type rsa-2048 is not allowed for this agent (allowed: ec-p256)");

  ASSERT_TRUE(lab().RewriteConfig(SuiteAgents()).ok());
  reloaded = lab().ReloadSigner();
  ASSERT_TRUE(reloaded.ok()) << reloaded;
}

TEST_F(AdversarialRpcTest, TheOrderEveryRefusedFinalizeUsedIsStillIssuedForAnHonestCsr) {
  // The control for the refused finalizes above: same order, same agent, a CSR that follows
  // the rules. Exactly one certificate results.
  const pb::Order* order = ReadyOrder();
  ASSERT_NE(order, nullptr);
  std::unique_ptr<agent::SignerClient> client = Client("web1");
  ASSERT_NE(client, nullptr);
  absl::StatusOr<std::string> csr = testing::NewCsrDer({"web1.example.test"});
  ASSERT_TRUE(csr.ok()) << csr.status();
  absl::StatusOr<pb::Order> finalized = client->FinalizeOrder(order->url(), *csr);
  ASSERT_TRUE(finalized.ok()) << finalized.status();
  finalized = testing::PollOrderWhile(*client, *finalized, pb::ORDER_STATUS_PROCESSING);
  ASSERT_TRUE(finalized.ok()) << finalized.status();
  EXPECT_EQ(finalized->status(), pb::ORDER_STATUS_VALID);
  absl::StatusOr<pb::GetCertificateResponse> certificate = client->GetCertificate(order->url(), "");
  ASSERT_TRUE(certificate.ok()) << certificate.status();
  EXPECT_EQ(InventoryEntriesWithSerial(certificate->serial()), 1);
  ExpectAuditVerifies();
}

}  // namespace
}  // namespace acme_signer
