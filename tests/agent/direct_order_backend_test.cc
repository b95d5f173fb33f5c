// DirectOrderBackend (agent/direct_issuer.h) over an AcmeClient talking to canned CA answers:
// what it makes of the CA's authorizations (untrusted input) and which requests it sends.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "acme/client.h"
#include "acme/key_authorization.h"
#include "agent/direct_issuer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/acme/fake_http_client.h"
#include "tests/acme/openssl_signers.h"
#include "tests/agent/status_matchers.h"

namespace acme_signer::agent {
namespace {

using ::acme_signer::acme::testing::FakeHttpClient;
using ::acme_signer::acme::testing::OpenSslJwsSigner;
using ::acme_signer::agent::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kAccountUrl[] = "https://ca.test/my-account/1";
constexpr char kOrderUrl[] = "https://ca.test/my-order/1";
constexpr char kToken[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";

std::string PendingOrder() {
  return R"({"status":"pending","identifiers":[{"type":"dns","value":"a.test"}],
             "authorizations":["https://ca.test/authZ/1"],
             "finalize":"https://ca.test/finalize-order/1"})";
}

std::string Authz(const std::string& name, const std::string& status, bool wildcard = false) {
  return absl::StrCat(R"({"identifier":{"type":"dns","value":")", name, R"("},"status":")",
                      status, R"(",)", wildcard ? R"("wildcard":true,)" : "",
                      R"("challenges":[{"type":"sectigo-email-01","url":"https://ca.test/chal/e",
                      "status":"pending"},{"type":"http-01","url":"https://ca.test/chal/h",
                      "status":"pending","token":")",
                      kToken, R"("}]})");
}

class DirectOrderBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = OpenSslJwsSigner::GenerateEs256();
    acme::AcmeClientOptions options;
    options.directory_url = acme::testing::kDirectoryUrl;
    options.account_url = kAccountUrl;
    auto client = acme::AcmeClient::Create(http_, *key_, options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    auto thumbprint = client_->AccountThumbprint();
    ASSERT_TRUE(thumbprint.ok());
    thumbprint_ = *thumbprint;
    DirectOrderBackend::Options backend_options;
    backend_options.directory_url = acme::testing::kDirectoryUrl;
    backend_options.order_created = [this](const std::string& url) { created_.push_back(url); };
    backend_ = std::make_unique<DirectOrderBackend>(*client_, thumbprint_, backend_options);
    http_.AddDirectory();
    http_.AddNonce();
  }

  absl::StatusOr<OrderView> Create(const std::vector<std::string>& domains) {
    http_.AddJson(201, PendingOrder(), {{"location", kOrderUrl}});
    return backend_->CreateOrder(domains, "");
  }

  FakeHttpClient http_;
  std::unique_ptr<OpenSslJwsSigner> key_;
  std::unique_ptr<acme::AcmeClient> client_;
  std::string thumbprint_;
  std::vector<std::string> created_;
  std::unique_ptr<DirectOrderBackend> backend_;
};

TEST_F(DirectOrderBackendTest, AnswersWithTheKeyAuthorizationOfTheAskedTypeAndTellsTheNewOrder) {
  auto order = Create({"a.test"});
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->url, kOrderUrl);
  EXPECT_EQ(order->authorizations, 1);
  EXPECT_THAT(created_, ElementsAre(kOrderUrl));
  http_.AddJson(200, Authz("a.test", "pending"));
  auto authorizations = backend_->Authorizations(*order, "http-01");
  ASSERT_TRUE(authorizations.ok()) << authorizations.status();
  ASSERT_EQ(authorizations->size(), 1u);
  const AuthorizationView& authz = (*authorizations)[0];
  EXPECT_EQ(authz.name, "a.test");
  EXPECT_THAT(authz.offered_types, ElementsAre("sectigo-email-01", "http-01"));
  ASSERT_TRUE(authz.challenge.has_value());
  EXPECT_EQ(authz.challenge->url, "https://ca.test/chal/h");
  EXPECT_EQ(authz.challenge->key_authorization, absl::StrCat(kToken, ".", thumbprint_));
  EXPECT_EQ(authz.challenge->dns01_txt_value,
            *acme::Dns01TxtValue(authz.challenge->key_authorization));
}

TEST_F(DirectOrderBackendTest, AnUnofferedTypeLeavesNoChallengeButListsTheOfferedOnes) {
  auto order = Create({"a.test"});
  ASSERT_TRUE(order.ok()) << order.status();
  http_.AddJson(200, Authz("a.test", "pending"));
  auto authorizations = backend_->Authorizations(*order, "dns-01");
  ASSERT_TRUE(authorizations.ok()) << authorizations.status();
  EXPECT_FALSE((*authorizations)[0].challenge.has_value());
  EXPECT_THAT((*authorizations)[0].offered_types, ElementsAre("sectigo-email-01", "http-01"));
}

TEST_F(DirectOrderBackendTest, RefusesAnAuthorizationForANameThatWasNotAsked) {
  auto order = Create({"a.test"});
  ASSERT_TRUE(order.ok()) << order.status();
  http_.AddJson(200, Authz("evil.test", "pending"));
  EXPECT_THAT(backend_->Authorizations(*order, "http-01"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("\"evil.test\", which this host did not request")));
}

TEST_F(DirectOrderBackendTest, AWildcardAuthorizationMatchesTheWildcardName) {
  auto order = Create({"*.A.test"});
  ASSERT_TRUE(order.ok()) << order.status();
  http_.AddJson(200, Authz("a.test", "pending", /*wildcard=*/true));
  EXPECT_TRUE(backend_->Authorizations(*order, "http-01").ok());
  // Without the wildcard flag the same name was not asked for.
  http_.AddJson(200, Authz("a.test", "pending"));
  EXPECT_THAT(backend_->Authorizations(*order, "http-01"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("did not request")));
}

TEST_F(DirectOrderBackendTest, TheFailureReasonQuotesTheOrderAndChallengeErrorsSanitized) {
  http_.AddJson(201, R"({"status":"invalid","identifiers":[{"type":"dns","value":"a.test"}],
      "authorizations":["https://ca.test/authZ/1"],"finalize":"https://ca.test/finalize-order/1",
      "error":{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"no\u0007pe"}})",
                {{"location", kOrderUrl}});
  auto order = backend_->CreateOrder({"a.test"}, "");
  ASSERT_TRUE(order.ok()) << order.status();
  http_.AddJson(200, R"({"identifier":{"type":"dns","value":"a.test"},"status":"invalid",
      "challenges":[{"type":"http-01","url":"https://ca.test/chal/h","status":"invalid",
      "token":"tok","error":{"type":"urn:ietf:params:acme:error:connection",
      "detail":"Connection refused"}}]})");
  const std::string reason = backend_->FailureReason(*order);
  EXPECT_THAT(reason, HasSubstr("rejectedIdentifier"));
  EXPECT_THAT(reason, HasSubstr("a.test (http-01): connection: Connection refused"));
  EXPECT_THAT(reason, ::testing::Not(HasSubstr("\a")));
}

}  // namespace
}  // namespace acme_signer::agent
