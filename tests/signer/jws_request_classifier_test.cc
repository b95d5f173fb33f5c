#include "signer/jws_request_classifier.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/ssl_unique_ptr.h"
#include "signer/audit_record.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using ::acme_signer::testing::StatusIs;

constexpr char kCa[] = "https://ca.test:14000";

std::string Url(absl::string_view path) { return absl::StrCat(kCa, path); }

std::string B64(absl::string_view bytes) { return absl::WebSafeBase64Escape(bytes); }

std::string SpkiDer(EVP_PKEY* key) {
  unsigned char* raw = nullptr;
  const int length = i2d_PUBKEY(key, &raw);
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owned(raw);
  EXPECT_GT(length, 0);
  return std::string(reinterpret_cast<const char*>(raw), static_cast<size_t>(length));
}

// A DER CSR for `san` (openssl.cnf syntax) signed by `key`.
std::string MakeCsr(EVP_PKEY* key, const std::string& san) {
  SslUniquePtr<X509_REQ> request(X509_REQ_new());
  EXPECT_EQ(X509_REQ_set_pubkey(request.get(), key), 1);
  STACK_OF(X509_EXTENSION)* extensions = sk_X509_EXTENSION_new_null();
  sk_X509_EXTENSION_push(extensions,
                         X509V3_EXT_nconf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str()));
  EXPECT_EQ(X509_REQ_add_extensions(request.get(), extensions), 1);
  sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
  EXPECT_GT(X509_REQ_sign(request.get(), key, EVP_sha256()), 0);
  unsigned char* raw = nullptr;
  const int length = i2d_X509_REQ(request.get(), &raw);
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owned(raw);
  return std::string(reinterpret_cast<const char*>(raw), static_cast<size_t>(length));
}

// A self-signed DER certificate for `san` with subject CN `common_name` (if not empty).
std::string MakeCertificate(EVP_PKEY* key, const std::string& san,
                            const std::string& common_name = "") {
  SslUniquePtr<X509> certificate(X509_new());
  EXPECT_EQ(X509_set_version(certificate.get(), X509_VERSION_3), 1);
  ASN1_INTEGER_set(X509_get_serialNumber(certificate.get()), 42);
  X509_gmtime_adj(X509_getm_notBefore(certificate.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(certificate.get()), 3600);
  if (!common_name.empty()) {
    X509_NAME_add_entry_by_txt(X509_get_subject_name(certificate.get()), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                               0);
  }
  X509_set_issuer_name(certificate.get(), X509_get_subject_name(certificate.get()));
  EXPECT_EQ(X509_set_pubkey(certificate.get(), key), 1);
  if (!san.empty()) {
    SslUniquePtr<X509_EXTENSION> extension(
        X509V3_EXT_nconf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str()));
    EXPECT_EQ(X509_add_ext(certificate.get(), extension.get(), -1), 1);
  }
  EXPECT_GT(X509_sign(certificate.get(), key, EVP_sha256()), 0);
  unsigned char* raw = nullptr;
  const int length = i2d_X509(certificate.get(), &raw);
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owned(raw);
  return std::string(reinterpret_cast<const char*>(raw), static_cast<size_t>(length));
}

class JwsRequestClassifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    account_key_ = EVP_EC_gen("P-256");
    certificate_key_ = EVP_EC_gen("P-256");
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(account_key_);
    EVP_PKEY_free(certificate_key_);
  }

  void SetUp() override {
    context_.directory = {
        .directory_url = Url("/dir"),
        .new_nonce = Url("/nonce-plz"),
        .new_account = Url("/sign-me-up"),
        .new_order = Url("/order-plz"),
        .revoke_cert = Url("/revoke-cert"),
        .key_change = Url("/rollover-account-key"),
        .renewal_info = Url("/renewal-info"),
        .account_url = Url("/my-account/1"),
    };
    context_.account_public_key_der = SpkiDer(account_key_);
    orders_[Url("/finalize-order/o1")] = {Url("/my-order/o1"),
                                          Url("/finalize-order/o1"),
                                          {{"dns", "a.lab.test"}, {"dns", "b.lab.test"}},
                                          "web1"};
    orders_[Url("/finalize-order/o2")] = {
        Url("/my-order/o2"), Url("/finalize-order/o2"), {{"dns", "a.lab.test"}}, "web2"};
    context_.find_order_by_finalize_url =
        [this](absl::string_view url) -> std::optional<KnownOrder> {
      auto it = orders_.find(std::string(url));
      if (it == orders_.end()) return std::nullopt;
      return it->second;
    };
    // web1's orders o1 (authorization, challenge, certificate) and web2's o2.
    resources_[Url("/my-order/o1")] = {Url("/my-order/o1"), Url("/my-order/o1"), "web1",
                                       OrderResourceKind::kOrder};
    resources_[Url("/authZ/x")] = {Url("/authZ/x"), Url("/my-order/o1"), "web1",
                                   OrderResourceKind::kAuthorization};
    resources_[Url("/chalZ/abc")] = {Url("/chalZ/abc"), Url("/my-order/o1"), "web1",
                                     OrderResourceKind::kChallenge};
    resources_[Url("/certZ/1")] = {Url("/certZ/1"), Url("/my-order/o1"), "web1",
                                   OrderResourceKind::kCertificate};
    resources_[Url("/my-order/o2")] = {Url("/my-order/o2"), Url("/my-order/o2"), "web2",
                                       OrderResourceKind::kOrder};
    resources_[Url("/chalZ/theirs")] = {Url("/chalZ/theirs"), Url("/my-order/o2"), "web2",
                                        OrderResourceKind::kChallenge};
    context_.find_resource = [this](absl::string_view url) -> std::optional<OrderResource> {
      auto it = resources_.find(std::string(url));
      if (it == resources_.end()) return std::nullopt;
      return it->second;
    };
    context_.find_certificate_owner =
        [this](absl::string_view sha256) -> std::optional<std::string> {
      auto it = certificate_owners_.find(std::string(sha256));
      if (it == certificate_owners_.end()) return std::nullopt;
      return it->second;
    };
    policy_.name = "web1";
    policy_.allowed_names = {"*.lab.test"};
    policy_.key_types = {"ec-p256"};
    policy_.allow_sign_jws = true;
  }

  absl::StatusOr<JwsClassification> Classify(absl::string_view url, absl::string_view payload) {
    return ClassifyJwsRequest(context_, policy_, url, payload);
  }

  static EVP_PKEY* account_key_;
  static EVP_PKEY* certificate_key_;
  JwsRequestContext context_;
  std::map<std::string, KnownOrder> orders_;
  std::map<std::string, OrderResource> resources_;
  std::map<std::string, std::string> certificate_owners_;  // SHA-256 hex -> agent
  AgentPolicy policy_;
};

EVP_PKEY* JwsRequestClassifierTest::account_key_ = nullptr;
EVP_PKEY* JwsRequestClassifierTest::certificate_key_ = nullptr;

constexpr char kNewOrder[] =
    R"({"identifiers":[{"type":"dns","value":"a.lab.test"},{"type":"dns","value":"b.lab.test"}]})";

// ----- Allowed ---------------------------------------------------------------------------------

TEST_F(JwsRequestClassifierTest, NewOrderWithinPolicyIsSigned) {
  absl::StatusOr<JwsClassification> result = Classify(Url("/order-plz"), kNewOrder);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->kind, JwsRequestKind::kNewOrder);
  EXPECT_EQ(JwsRequestKindName(result->kind), "newOrder");
  EXPECT_EQ(result->url, Url("/order-plz"));
  EXPECT_THAT(result->identifiers,
              ElementsAre(Identifier{"dns", "a.lab.test"}, Identifier{"dns", "b.lab.test"}));
}

TEST_F(JwsRequestClassifierTest, NewOrderWithValidityAndReplacesIsSigned) {
  absl::StatusOr<JwsClassification> result =
      Classify(Url("/order-plz"),
               R"({"identifiers":[{"type":"dns","value":"a.lab.test"}],
          "notBefore":"2030-01-01T00:00:00Z","notAfter":"2030-02-01T00:00:00+01:00",
          "replaces":"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"})");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->replaces, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
}

TEST_F(JwsRequestClassifierTest, FinalizeOfOwnOrderWithMatchingCsrIsSigned) {
  const std::string csr = MakeCsr(certificate_key_, "DNS:a.lab.test,DNS:b.lab.test");
  absl::StatusOr<JwsClassification> result =
      Classify(Url("/finalize-order/o1"), absl::StrCat(R"({"csr":")", B64(csr), R"("})"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->kind, JwsRequestKind::kFinalize);
  EXPECT_EQ(result->order_url, Url("/my-order/o1"));
  ASSERT_TRUE(result->csr.has_value());
  EXPECT_EQ(result->csr->key_type, "ec-p256");
  EXPECT_THAT(result->identifiers,
              ElementsAre(Identifier{"dns", "a.lab.test"}, Identifier{"dns", "b.lab.test"}));
}

TEST_F(JwsRequestClassifierTest, EmptyObjectToOwnChallengeIsAChallengeResponse) {
  for (const char* payload : {"{}", " { \n} "}) {
    absl::StatusOr<JwsClassification> result = Classify(Url("/chalZ/abc"), payload);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->kind, JwsRequestKind::kChallenge);
    ASSERT_TRUE(result->resource.has_value());
    EXPECT_EQ(result->resource->order_url, Url("/my-order/o1"));
  }
}

TEST_F(JwsRequestClassifierTest, EmptyPayloadToOwnResourceIsPostAsGet) {
  for (const std::string& url :
       {Url("/my-order/o1"), Url("/authZ/x"), Url("/chalZ/abc"), Url("/certZ/1")}) {
    absl::StatusOr<JwsClassification> result = Classify(url, "");
    ASSERT_TRUE(result.ok()) << url << ": " << result.status();
    EXPECT_EQ(result->kind, JwsRequestKind::kPostAsGet);
  }
}

TEST_F(JwsRequestClassifierTest, UnknownUrlsAndTheOrdersListAreRefused) {
  // Pebble's orders list, Boulder's, the directory root, anything nobody recorded.
  for (const std::string& url : {Url("/list-orderz/1"), Url("/acme/orders/1"), Url("/"),
                                 std::string(kCa), Url("/authZ/unknown")}) {
    EXPECT_THAT(Classify(url, ""),
                StatusIs(absl::StatusCode::kPermissionDenied,
                         HasSubstr("not a resource of an order this agent created or adopted")))
        << url;
  }
}

TEST_F(JwsRequestClassifierTest, AnotherAgentsResourcesAreRefused) {
  EXPECT_THAT(Classify(Url("/my-order/o2"), ""),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("it is the order URL of another agent's order")));
  EXPECT_THAT(Classify(Url("/chalZ/theirs"), "{}"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("it is the challenge URL of another agent's order")));
}

TEST_F(JwsRequestClassifierTest, EmptyObjectToAResourceThatIsNoChallengeIsRefused) {
  for (const std::string& url : {Url("/my-order/o1"), Url("/authZ/x"), Url("/certZ/1")}) {
    EXPECT_THAT(Classify(url, "{}"),
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("{} answers a challenge")))
        << url;
  }
}

TEST_F(JwsRequestClassifierTest, DeactivatingOwnAuthorizationIsSignedAndNothingElse) {
  absl::StatusOr<JwsClassification> result =
      Classify(Url("/authZ/x"), R"({"status":"deactivated"})");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->kind, JwsRequestKind::kDeactivateAuthorization);
  EXPECT_EQ(JwsRequestKindName(result->kind), "deactivateAuthorization");
  // Not for an order, a challenge or another status; not another agent's authorization.
  for (const std::string& url : {Url("/my-order/o1"), Url("/chalZ/abc"), Url("/certZ/1")}) {
    EXPECT_THAT(
        Classify(url, R"({"status":"deactivated"})"),
        StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("deactivates an authorization")))
        << url;
  }
  EXPECT_THAT(Classify(Url("/authZ/x"), R"({"status":"valid"})"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("")));
  EXPECT_THAT(Classify(Url("/authZ/x"), R"({"status":"deactivated","x":1})"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("")));
}

TEST_F(JwsRequestClassifierTest, RevocationOfOwnCertificateIsSigned) {
  const std::string certificate =
      MakeCertificate(certificate_key_, "DNS:a.lab.test,DNS:b.lab.test", "a.lab.test");
  certificate_owners_[Sha256Hex(certificate)] = "web1";
  absl::StatusOr<JwsClassification> result =
      Classify(Url("/revoke-cert"),
               absl::StrCat(R"({"certificate":")", B64(certificate), R"(","reason":4})"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->kind, JwsRequestKind::kRevokeCert);
  EXPECT_EQ(result->revocation_reason, 4);
  EXPECT_EQ(result->certificate_sha256_hex.size(), 64u);
  EXPECT_THAT(result->identifiers,
              ElementsAre(Identifier{"dns", "a.lab.test"}, Identifier{"dns", "b.lab.test"}));
}

// ----- Refused: agent, endpoints, URLs ---------------------------------------------------------

TEST_F(JwsRequestClassifierTest, AgentWithoutSignJwsIsRefusedEverything) {
  policy_.allow_sign_jws = false;
  EXPECT_THAT(Classify(Url("/order-plz"), kNewOrder),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("agent web1 is not allowed to have JWS signed")));
  EXPECT_THAT(Classify(Url("/my-order/o1"), ""),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("SignJws")));
}

TEST_F(JwsRequestClassifierTest, AccountAndKeyEndpointsAreNeverSigned) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {Url("/nonce-plz"), "newNonce"},
      {Url("/sign-me-up"), "newAccount"},
      {Url("/rollover-account-key"), "keyChange"},
      {Url("/renewal-info"), "renewalInfo"},
      {Url("/dir"), "the directory"},
      {Url("/my-account/1"), "account URL"},
      {Url("/my-account/1/orders"), "account URL"},
      {"https://CA.TEST:14000/sign-me-up/", "newAccount"},
  };
  for (const auto& [url, name] : cases) {
    for (const char* payload : {"", "{}", R"({"status":"deactivated"})", R"({"contact":[]})"}) {
      EXPECT_THAT(Classify(url, payload),
                  StatusIs(absl::StatusCode::kPermissionDenied,
                           AllOf(HasSubstr("agent web1 may not have"), HasSubstr(name))))
          << url << " " << payload;
    }
  }
}

TEST_F(JwsRequestClassifierTest, SpellingVariantsOfNewOrderAreJudgedAsNewOrder) {
  for (const char* url : {"https://CA.test:14000/order-plz", "https://ca.test:14000/order-plz/",
                          "HTTPS://ca.test:14000/order-plz"}) {
    EXPECT_THAT(Classify(url, "{}"), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("lacks member \"identifiers\"")))
        << url;
    EXPECT_THAT(Classify(url, ""), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("payload is not acceptable JSON")))
        << url;
  }
}

TEST_F(JwsRequestClassifierTest, UrlsOffTheCaOriginAreRefused) {
  for (const char* url :
       {"https://evil.test:14000/chalZ/a", "https://ca.test:14001/chalZ/a",
        "http://ca.test:14000/chalZ/a", "https://ca.test/chalZ/a", "https://ca.test.:14000/x"}) {
    EXPECT_THAT(Classify(url, ""),
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("not on the CA's origin")))
        << url;
  }
}

TEST_F(JwsRequestClassifierTest, UrlsARouterMightRewriteAreRefused) {
  for (const std::string& url :
       {Url("/order-plz?x=1"), Url("/order-plz#f"), Url("/order%2Dplz"), Url("/a/../order-plz"),
        Url("/./order-plz"), Url("//order-plz"), Url("/a b"), Url("/a\\b"),
        std::string("https://user@ca.test:14000/x"), std::string("ca.test:14000/x"),
        std::string("ftp://ca.test:14000/x"), std::string("https://ca.test:0/x"),
        std::string("https://ca.test:99999/x"), std::string("https://:14000/x"), Url("/\xc3\xa9"),
        Url(std::string("/a\0b", 4)),
        // Spellings curl would read as the CA (http::Url keeps how they were written).
        std::string("https://ca%2Etest:14000/x"), std::string("https://CA%2etest:14000/x"),
        std::string("https://ca.test:014000/x"), std::string("https://ca.test:/x"),
        std::string("https://evil.test@ca.test:14000/x"),
        std::string("https://ca.test:14000@evil.test/x"), std::string("https:///ca.test:14000/x"),
        std::string("https:/ca.test:14000/x"), Url("/order-plz#"), Url("/order-plz?"),
        Url("/order-plz/..")}) {
    EXPECT_THAT(Classify(url, ""),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not acceptable")))
        << url;
  }
}

TEST_F(JwsRequestClassifierTest, HostsCurlWouldRewriteAreRefusedAsSpelledOtherwise) {
  // The CA is ca.test; an IP literal CA is refused the same way when spelled otherwise.
  context_.directory.directory_url = "https://127.0.0.1:14000/dir";
  for (const char* url : {"https://0x7f.1:14000/x", "https://127.1:14000/x",
                          "https://0177.0.0.1:14000/x"}) {
    EXPECT_THAT(Classify(url, ""), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("host is read as 127.0.0.1")))
        << url;
  }
  context_.directory.directory_url = "https://[::1]:14000/dir";
  for (const char* url : {"https://[0:0::1]:14000/x", "https://[::1%25lo]:14000/x"}) {
    EXPECT_THAT(Classify(url, ""),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not acceptable")))
        << url;
  }
}

TEST_F(JwsRequestClassifierTest, UnusableContextIsAFailedPrecondition) {
  context_.directory.account_url.clear();
  EXPECT_THAT(Classify(Url("/x"), ""),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("account URL")));
  SetUp();
  context_.directory.directory_url = "not a url";
  EXPECT_THAT(Classify(Url("/x"), ""),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("CA directory URL")));
  SetUp();
  context_.find_order_by_finalize_url = nullptr;
  EXPECT_THAT(Classify(Url("/x"), ""),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("lookups")));
  SetUp();
  context_.find_resource = nullptr;
  EXPECT_THAT(Classify(Url("/x"), ""),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("lookups")));
  SetUp();
  context_.find_certificate_owner = nullptr;
  EXPECT_THAT(Classify(Url("/x"), ""),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("lookups")));
}

TEST_F(JwsRequestClassifierTest, OversizedPayloadIsRefusedUnparsed) {
  EXPECT_THAT(Classify(Url("/chalZ/a"), std::string(kMaxJwsPayloadSize + 1, ' ')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("larger than the limit")));
}

TEST_F(JwsRequestClassifierTest, OtherPayloadsToUnknownUrlsAreRefused) {
  for (const char* payload : {R"({"status":"valid"})", R"({"keyAuthorization":"x"})"}) {
    EXPECT_THAT(Classify(Url("/authZ/x"), payload),
                StatusIs(absl::StatusCode::kPermissionDenied,
                         HasSubstr("only an empty payload (POST-as-GET), {}")))
        << payload;
  }
  for (const char* payload : {"[]", "null", "\"\"", "{} {}", "{", " "}) {
    EXPECT_THAT(Classify(Url("/authZ/x"), payload),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not acceptable JSON")))
        << payload;
  }
}

// ----- Refused: newOrder ----------------------------------------------------------------------

TEST_F(JwsRequestClassifierTest, NewOrderOutsidePolicyIsRefused) {
  EXPECT_THAT(
      Classify(Url("/order-plz"), R"({"identifiers":[{"type":"dns","value":"foo.example"}]})"),
      StatusIs(absl::StatusCode::kPermissionDenied,
               "agent web1 may not request foo.example: not in its allowed names"));
  EXPECT_THAT(Classify(Url("/order-plz"), R"({"identifiers":[{"type":"ip","value":"127.0.0.1"}]})"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("\"ip\" is not supported")));
  EXPECT_THAT(
      Classify(Url("/order-plz"), R"({"identifiers":[{"type":"dns","value":"*.lab.test"}]})"),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("wildcard")));
  EXPECT_THAT(Classify(Url("/order-plz"), R"({"identifiers":[]})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("without identifiers")));
}

TEST_F(JwsRequestClassifierTest, NewOrderWithDuplicateMembersIsRefused) {
  // nlohmann would keep the last "identifiers"; a CA might keep the first.
  EXPECT_THAT(
      Classify(Url("/order-plz"),
               R"({"identifiers":[{"type":"dns","value":"a.lab.test"}],
                           "identifiers":[{"type":"dns","value":"evil.example"}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate member \"identifiers\"")));
  // Go's encoding/json matches member names case-insensitively.
  EXPECT_THAT(
      Classify(Url("/order-plz"),
               R"({"identifiers":[{"type":"dns","value":"a.lab.test"}],
                           "Identifiers":[{"type":"dns","value":"evil.example"}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate member \"Identifiers\"")));
  EXPECT_THAT(
      Classify(Url("/order-plz"),
               R"({"identifiers":[{"type":"dns","value":"a.lab.test","value":"x.example"}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate member \"value\"")));
  // An escaped spelling is the same member name.
  EXPECT_THAT(
      Classify(Url("/order-plz"),
               R"({"identifiers":[],"identifier\u0073":[{"type":"dns","value":"a.lab.test"}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate member")));
}

TEST_F(JwsRequestClassifierTest, NewOrderWithUnexpectedMembersIsRefused) {
  EXPECT_THAT(Classify(Url("/order-plz"),
                       R"({"identifiers":[{"type":"dns","value":"a.lab.test"}],"profile":"x"})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("newOrder payload has unexpected member \"profile\"")));
  EXPECT_THAT(
      Classify(Url("/order-plz"), R"({"Identifiers":[{"type":"dns","value":"a.lab.test"}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unexpected member")));
  EXPECT_THAT(Classify(Url("/order-plz"),
                       R"({"identifiers":[{"type":"dns","value":"a.lab.test","extra":1}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("newOrder identifier has unexpected member \"extra\"")));
  EXPECT_THAT(Classify(Url("/order-plz"), R"({"identifiers":[{"type":"dns"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lacks member \"value\"")));
}

TEST_F(JwsRequestClassifierTest, NewOrderWithWrongMemberTypesIsRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"identifiers":{"type":"dns","value":"a.lab.test"}})", "is not an array"},
      {R"({"identifiers":["a.lab.test"]})", "identifier is not an object"},
      {R"({"identifiers":[{"type":"dns","value":1}]})", "\"value\" is not a string"},
      {R"({"identifiers":[{"type":"dns","value":"a.lab.test"}],"notBefore":"tomorrow"})",
       "\"notBefore\" is not an RFC 3339 time"},
      {R"({"identifiers":[{"type":"dns","value":"a.lab.test"}],"notAfter":5})",
       "\"notAfter\" is not a string"},
      {R"({"identifiers":[{"type":"dns","value":"a.lab.test"}],"replaces":"a+b.c"})",
       "not an ARI certificate identifier"},
      {R"({"identifiers":[{"type":"dns","value":"a.lab.test"}],"replaces":"abc"})",
       "not an ARI certificate identifier"},
  };
  for (const auto& [payload, why] : cases) {
    EXPECT_THAT(Classify(Url("/order-plz"), payload),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(why)))
        << payload;
  }
}

TEST_F(JwsRequestClassifierTest, MalformedJsonIsRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a\xff.lab.test\"}]}", "UTF-8"},
      {"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a\xc3.lab.test\"}]}", "UTF-8"},
      {"\xEF\xBB\xBF{\"identifiers\":[]}", "byte order mark"},
      {"[]", "top level is not an object"},
      {"{\"identifiers\":[[[]]]}", "nested too deeply"},
      {"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.lab.test\",\"x\":{}}]}",
       "nested too deeply"},
      {std::string(60000, '['), "nested too deeply"},
      {std::string(kNewOrder) + "x", "parse error"},
      {"{\"identifiers\":[],}", "parse error"},
      {"{'identifiers':[]}", "parse error"},
      {"{\"identifiers\":[]} // comment", "parse error"},
  };
  for (const auto& [payload, why] : cases) {
    EXPECT_THAT(Classify(Url("/order-plz"), payload),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("payload is not acceptable JSON"), HasSubstr(why))))
        << absl::CHexEscape(payload);
  }
}

TEST_F(JwsRequestClassifierTest, ObjectWithThousandsOfMembersIsRefusedByName) {
  std::string payload = "{";
  for (int i = 0; i < 5000; ++i) absl::StrAppend(&payload, i ? "," : "", "\"m", i, "\":0");
  payload += "}";
  ASSERT_LT(payload.size(), kMaxJwsPayloadSize);
  EXPECT_THAT(Classify(Url("/order-plz"), payload),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unexpected member \"m0\"")));
  payload.insert(payload.size() - 1, ",\"M4999\":1");
  EXPECT_THAT(
      Classify(Url("/order-plz"), payload),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate member \"M4999\"")));
}

TEST_F(JwsRequestClassifierTest, NulInsideANameIsRefused) {
  EXPECT_THAT(
      Classify(Url("/order-plz"),
               R"({"identifiers":[{"type":"dns","value":"a.lab.test\u0000.evil.example"}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid DNS name")));
}

// ----- Refused: finalize ----------------------------------------------------------------------

TEST_F(JwsRequestClassifierTest, FinalizeOfAnotherAgentsOrderIsRefused) {
  const std::string csr = MakeCsr(certificate_key_, "DNS:a.lab.test");
  EXPECT_THAT(Classify(Url("/finalize-order/o2"), absl::StrCat(R"({"csr":")", B64(csr), R"("})")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("finalizes an order of another agent")));
}

TEST_F(JwsRequestClassifierTest, FinalizeOfUnknownOrderIsRefused) {
  const std::string csr = MakeCsr(certificate_key_, "DNS:a.lab.test,DNS:b.lab.test");
  for (const std::string& url : {Url("/finalize-order/o3"), Url("/finalize-order/o1/"),
                                 std::string("https://ca.test:14000/finalize-order/O1")}) {
    EXPECT_THAT(Classify(url, absl::StrCat(R"({"csr":")", B64(csr), R"("})")),
                StatusIs(absl::StatusCode::kPermissionDenied,
                         HasSubstr("not a resource of an order this agent created or adopted")))
        << url;
  }
}

TEST_F(JwsRequestClassifierTest, FinalizeWithCsrNotMatchingTheOrderIsRefused) {
  const std::string csr = MakeCsr(certificate_key_, "DNS:a.lab.test");
  EXPECT_THAT(Classify(Url("/finalize-order/o1"), absl::StrCat(R"({"csr":")", B64(csr), R"("})")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("lacks the order identifier b.lab.test")));
  const std::string reused = MakeCsr(account_key_, "DNS:a.lab.test,DNS:b.lab.test");
  EXPECT_THAT(
      Classify(Url("/finalize-order/o1"), absl::StrCat(R"({"csr":")", B64(reused), R"("})")),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("ACME account key")));
}

TEST_F(JwsRequestClassifierTest, FinalizeWithMalformedPayloadIsRefused) {
  // ECDSA signatures vary in DER length: sign again until the CSR's length is not a multiple
  // of 3, so that its base64url form needs padding.
  std::string csr = MakeCsr(certificate_key_, "DNS:a.lab.test,DNS:b.lab.test");
  for (int i = 0; i < 32 && csr.size() % 3 == 0; ++i) {
    csr = MakeCsr(certificate_key_, "DNS:a.lab.test,DNS:b.lab.test");
  }
  std::string padded = absl::WebSafeBase64Escape(csr);
  while (padded.size() % 4 != 0) padded += '=';
  ASSERT_NE(padded, B64(csr)) << "test needs a CSR whose length is not a multiple of 3";
  std::string standard;
  absl::Base64Escape(csr, &standard);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not acceptable JSON"},
      {"{}", "lacks member \"csr\""},
      {absl::StrCat(R"({"csr":")", padded, R"("})"), "not unpadded base64url"},
      {absl::StrCat(R"({"csr":")", B64(csr), R"(","extra":1})"), "unexpected member \"extra\""},
      {R"({"csr":"Z2FyYmFnZQ"})", "invalid CSR"},
      {R"({"csr":5})", "\"csr\" is not a string"},
      {R"({"csr":"A"})", "not canonical base64url"},
      {R"({"csr":"AB"})", "not canonical base64url"},
  };
  for (const auto& [payload, why] : cases) {
    EXPECT_THAT(Classify(Url("/finalize-order/o1"), payload),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(why)))
        << payload;
  }
  if (standard.find_first_of("+/") != std::string::npos) {
    EXPECT_THAT(Classify(Url("/finalize-order/o1"), absl::StrCat(R"({"csr":")", standard, R"("})")),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not unpadded base64url")));
  }
}

// ----- Refused: revokeCert --------------------------------------------------------------------

TEST_F(JwsRequestClassifierTest, RevocationOfCertificateOutsidePolicyIsRefused) {
  const std::string foreign = MakeCertificate(certificate_key_, "DNS:a.lab.test,DNS:foo.example");
  EXPECT_THAT(
      Classify(Url("/revoke-cert"), absl::StrCat(R"({"certificate":")", B64(foreign), R"("})")),
      StatusIs(absl::StatusCode::kPermissionDenied,
               HasSubstr("agent web1 may not request foo.example")));
  const std::string foreign_cn = MakeCertificate(certificate_key_, "DNS:a.lab.test", "foo.example");
  EXPECT_THAT(
      Classify(Url("/revoke-cert"), absl::StrCat(R"({"certificate":")", B64(foreign_cn), R"("})")),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("foo.example")));
  const std::string ip = MakeCertificate(certificate_key_, "DNS:a.lab.test,IP:127.0.0.1");
  EXPECT_THAT(Classify(Url("/revoke-cert"), absl::StrCat(R"({"certificate":")", B64(ip), R"("})")),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("not a DNS name")));
  const std::string nameless = MakeCertificate(certificate_key_, "");
  EXPECT_THAT(
      Classify(Url("/revoke-cert"), absl::StrCat(R"({"certificate":")", B64(nameless), R"("})")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no DNS name")));
}

TEST_F(JwsRequestClassifierTest, RevocationOfACertificateNotInTheAgentsInventoryIsRefused) {
  // Inside web1's names, but issued to web2 (names overlap), or to nobody through this signer.
  const std::string theirs = MakeCertificate(certificate_key_, "DNS:a.lab.test");
  certificate_owners_[Sha256Hex(theirs)] = "web2";
  EXPECT_THAT(
      Classify(Url("/revoke-cert"), absl::StrCat(R"({"certificate":")", B64(theirs), R"("})")),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("was issued to another agent")));
  const std::string unknown = MakeCertificate(certificate_key_, "DNS:b.lab.test");
  EXPECT_THAT(
      Classify(Url("/revoke-cert"), absl::StrCat(R"({"certificate":")", B64(unknown), R"("})")),
      StatusIs(absl::StatusCode::kPermissionDenied,
               HasSubstr("was not issued to it through this signer")));
}

TEST_F(JwsRequestClassifierTest, RevocationReasonsAreTheOnesCasAccept) {
  const std::string certificate = MakeCertificate(certificate_key_, "DNS:a.lab.test");
  certificate_owners_[Sha256Hex(certificate)] = "web1";
  for (int reason : {0, 1, 3, 4, 5}) {
    absl::StatusOr<JwsClassification> result = Classify(
        Url("/revoke-cert"), absl::StrCat(R"({"certificate":")", B64(certificate),
                                          R"(","reason":)", reason, "}"));
    ASSERT_TRUE(result.ok()) << reason << ": " << result.status();
    EXPECT_EQ(result->revocation_reason, reason);
  }
  // RFC 5280 codes no ACME CA takes from a subscriber: the same set the RPC refuses.
  for (int reason : {2, 6, 8, 9, 10}) {
    EXPECT_THAT(Classify(Url("/revoke-cert"), absl::StrCat(R"({"certificate":")",
                                                           B64(certificate), R"(","reason":)",
                                                           reason, "}")),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("is not one ACME CAs accept")))
        << reason;
  }
}

TEST_F(JwsRequestClassifierTest, RevocationWithMalformedPayloadIsRefused) {
  const std::string certificate = B64(MakeCertificate(certificate_key_, "DNS:a.lab.test"));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {absl::StrCat(R"({"certificate":")", certificate, R"(","reason":7})"), "not one ACME"},
      {absl::StrCat(R"({"certificate":")", certificate, R"(","reason":11})"), "not one ACME"},
      {absl::StrCat(R"({"certificate":")", certificate, R"(","reason":-1})"), "not one ACME"},
      {absl::StrCat(R"({"certificate":")", certificate, R"(","reason":1.0})"), "not an integer"},
      {absl::StrCat(R"({"certificate":")", certificate, R"(","reason":"1"})"), "not an integer"},
      {absl::StrCat(R"({"certificate":")", certificate, R"(","reason":true})"), "not an integer"},
      {absl::StrCat(R"({"certificate":")", certificate, R"(","Reason":1})"), "unexpected member"},
      {absl::StrCat(R"({"certificate":")", certificate, R"(","certificate":"x"})"),
       "duplicate member"},
      {R"({"certificate":"Z2FyYmFnZQ"})", "not a DER X.509 certificate"},
      {absl::StrCat(R"({"certificate":")", B64(std::string(20000, 'x')), R"("})"),
       "outside 1..16384"},
      {R"({"reason":1})", "lacks member \"certificate\""},
  };
  for (const auto& [payload, why] : cases) {
    EXPECT_THAT(Classify(Url("/revoke-cert"), payload),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(why)))
        << payload.substr(0, 120);
  }
}

TEST(CheckUrlOnCaOriginTest, AcceptsUrlsOnTheCaOrigin) {
  for (const std::string& url :
       {Url("/my-order/1"), std::string("https://CA.TEST:14000/my-order/1"), Url("/")}) {
    EXPECT_TRUE(CheckUrlOnCaOrigin(Url("/dir"), url, "order_url").ok()) << url;
  }
  EXPECT_TRUE(CheckUrlOnCaOrigin("https://ca.test/dir", "https://ca.test:443/o/1", "x").ok());
}

TEST(CheckUrlOnCaOriginTest, RefusesOtherOriginsByName) {
  for (const char* url :
       {"https://evil.test:14000/my-order/1", "https://ca.test:14001/my-order/1",
        "http://ca.test:14000/my-order/1", "https://127.0.0.1:14000/my-order/1"}) {
    EXPECT_THAT(CheckUrlOnCaOrigin(Url("/dir"), url, "order_url"),
                StatusIs(absl::StatusCode::kPermissionDenied,
                         AllOf(HasSubstr("order_url"), HasSubstr("not on the CA's origin"))))
        << url;
  }
}

TEST(CheckUrlOnCaOriginTest, RefusesMalformedUrlsAndReportsABadDirectory) {
  for (const char* url :
       {"https://user@ca.test:14000/o", "ca.test:14000/o", "https://ca.test:14000/o?x", ""}) {
    EXPECT_THAT(CheckUrlOnCaOrigin(Url("/dir"), url, "order_url"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("order_url"), HasSubstr("is not acceptable"))))
        << url;
  }
  EXPECT_THAT(CheckUrlOnCaOrigin("not a url", Url("/o"), "order_url"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("CA directory URL")));
}

}  // namespace
}  // namespace acme_signer::signer
