// AcmeClient with a KidSigner only (the agent's direct mode): every kid-form JWS comes from
// the strategy (in the agent, acme-signer's SignJws RPC) while nonces, retries and parsing
// stay in the client. The "remote signer" here is an in-memory key behind a recording
// KidSigner.
#include <string>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "acme/client.h"
#include "acme/jwk.h"
#include "acme/jws.h"
#include "acme/kid_signer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/acme/fake_http_client.h"
#include "tests/acme/openssl_signers.h"
#include "tests/acme/status_matchers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::CertSpec;
using ::acme_signer::acme::testing::DecodeFlattenedJws;
using ::acme_signer::acme::testing::FakeHttpClient;
using ::acme_signer::acme::testing::MakeCertificateDer;
using ::acme_signer::acme::testing::OpenSslJwsSigner;
using ::acme_signer::acme::testing::OpenSslMacSigner;
using ::acme_signer::acme::testing::StatusIs;
using ::acme_signer::acme::testing::VerifyJwsSignature;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Json = nlohmann::json;

constexpr char kAccountUrl[] = "https://ca.test/my-account/1";
constexpr char kOrderUrl[] = "https://ca.test/my-order/1";
constexpr char kFinalizeUrl[] = "https://ca.test/finalize-order/1";
constexpr char kPendingOrder[] =
    R"({"status":"pending","identifiers":[{"type":"dns","value":"a.test"}],
  "authorizations":["https://ca.test/authZ/1"],"finalize":"https://ca.test/finalize-order/1"})";

// One call of the KidSigner, as the remote signer saw it.
struct SignCall {
  std::string url;
  std::string payload;
  std::string nonce;
  std::string order_url_hint;
  std::string returned;  // the flattened JWS it answered
};

// Signs with an in-memory key as acme-signer does (kid = the account URL), recording each
// call; answers `error` instead when set, or signs for `tamper_url` when set.
class RecordingKidSigner : public KidSigner {
 public:
  RecordingKidSigner() : key_(OpenSslJwsSigner::GenerateEs256()) {}
  absl::string_view Algorithm() const override { return key_->Algorithm(); }
  const std::string& PublicJwk() const override { return key_->PublicJwk(); }
  const std::string& PublicKeyDer() const override { return key_->PublicKeyDer(); }
  absl::StatusOr<std::string> SignKid(const KidJwsRequest& request) const override {
    SignCall call{std::string(request.url), std::string(request.payload),
                  std::string(request.nonce), std::string(request.order_url), ""};
    if (!error.ok()) {
      calls.push_back(call);
      return error;
    }
    auto jws = SignJws(*key_, tamper_url.empty() ? request.url : tamper_url,
                       std::string(request.nonce), kAccountUrl, request.payload);
    if (jws.ok()) call.returned = *jws;
    calls.push_back(call);
    return jws;
  }
  const OpenSslJwsSigner& key() const { return *key_; }

  mutable std::vector<SignCall> calls;
  absl::Status error;
  std::string tamper_url;

 private:
  std::unique_ptr<OpenSslJwsSigner> key_;
};

class ClientRemoteSigningTest : public ::testing::Test {
 protected:
  std::unique_ptr<AcmeClient> MakeClient() {
    AcmeClientOptions options;
    options.directory_url = testing::kDirectoryUrl;
    options.account_url = kAccountUrl;
    options.now = [] { return absl::FromUnixSeconds(1700000000); };
    auto client = AcmeClient::Create(http_, account_, options);
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  FakeHttpClient http_;
  RecordingKidSigner account_;
  std::vector<SignCall>& calls_ = account_.calls;
  absl::Status& sign_error_ = account_.error;
  std::string& tamper_url_ = account_.tamper_url;
};

TEST_F(ClientRemoteSigningTest, FinalizePostsExactlyTheSignersJwsAndPassesTheOrderUrl) {
  http_.AddDirectory();
  http_.AddNonce();  // nonce-1
  http_.AddJson(200, R"({"status":"processing","authorizations":[],
                         "finalize":"https://ca.test/finalize-order/1"})");
  auto order =
      MakeClient()->FinalizeOrder(kOrderUrl, kFinalizeUrl, std::string("\x30\x82\xff\xfe", 4));
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->value.status, OrderStatus::kProcessing);
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_EQ(calls_[0].url, kFinalizeUrl);
  EXPECT_EQ(calls_[0].payload, R"({"csr":"MIL__g"})");
  EXPECT_EQ(calls_[0].nonce, "nonce-1");
  EXPECT_EQ(calls_[0].order_url_hint, kOrderUrl);
  const auto requests = http_.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[2].url, kFinalizeUrl);
  EXPECT_EQ(requests[2].content_type, "application/jose+json");
  EXPECT_EQ(requests[2].body, calls_[0].returned);
  auto jws = DecodeFlattenedJws(requests[2].body);
  ASSERT_TRUE(jws.ok()) << jws.status();
  EXPECT_TRUE(
      VerifyJwsSignature("ES256", account_.key().PublicKeyDer(), jws->signing_input, jws->signature)
          .ok());
  EXPECT_EQ(Json::parse(jws->protected_json)["kid"], kAccountUrl);
}

TEST_F(ClientRemoteSigningTest, EveryKidRequestGoesThroughTheKidSignerWithoutAnOrderHint) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddJson(201, kPendingOrder, {{"location", kOrderUrl}});  // newOrder
  http_.AddJson(200, kPendingOrder);                             // POST-as-GET order
  http_.AddJson(200, R"({"type":"http-01","url":"https://ca.test/chal/1","status":"processing",
                         "token":"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"})");
  http::HttpResponse ok;
  ok.status = 200;
  http_.Add(ok);  // revokeCert
  auto client = MakeClient();
  NewOrderOptions new_order;
  new_order.identifiers = {{"dns", "a.test"}};
  ASSERT_TRUE(client->CreateOrder(new_order).ok());
  ASSERT_TRUE(client->GetOrder(kOrderUrl).ok());
  ASSERT_TRUE(client->AnswerChallenge("https://ca.test/chal/1").ok());
  const std::string der = MakeCertificateDer(CertSpec());
  ASSERT_TRUE(client->Revoke(der, RevocationReason::kSuperseded).ok());
  ASSERT_EQ(calls_.size(), 4u);
  EXPECT_EQ(calls_[0].url, "https://ca.test/order-plz");
  EXPECT_EQ(Json::parse(calls_[0].payload)["identifiers"][0]["value"], "a.test");
  EXPECT_EQ(calls_[1].url, kOrderUrl);
  EXPECT_EQ(calls_[1].payload, "");
  EXPECT_EQ(calls_[2].payload, "{}");
  EXPECT_EQ(calls_[3].url, "https://ca.test/revoke-cert");
  EXPECT_EQ(Json::parse(calls_[3].payload)["certificate"], absl::WebSafeBase64Escape(der));
  const auto requests = http_.requests();
  ASSERT_EQ(requests.size(), 6u);
  for (size_t i = 0; i < calls_.size(); ++i) {
    EXPECT_THAT(calls_[i].order_url_hint, IsEmpty());
    EXPECT_EQ(requests[i + 2].body, calls_[i].returned) << "request " << i + 2;
  }
  // The nonce of each response feeds the next request: one HEAD for the whole conversation.
  EXPECT_EQ(calls_[0].nonce, "nonce-1");
  EXPECT_EQ(calls_[3].nonce, "nonce-4");
}

TEST_F(ClientRemoteSigningTest, BadNonceRetryAsksTheKidSignerAgainWithTheFreshNonce) {
  http_.AddDirectory();
  http_.AddNonce();                                                           // nonce-1
  http_.AddProblem(400, "badNonce", "JWS has an invalid anti-replay nonce");  // nonce-2
  http_.AddJson(200, kPendingOrder);
  auto order = MakeClient()->GetOrder(kOrderUrl);
  ASSERT_TRUE(order.ok()) << order.status();
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_EQ(calls_[0].nonce, "nonce-1");
  EXPECT_EQ(calls_[1].nonce, "nonce-2");
  EXPECT_EQ(calls_[1].url, kOrderUrl);
  const auto requests = http_.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[2].body, calls_[0].returned);
  EXPECT_EQ(requests[3].body, calls_[1].returned);
}

TEST_F(ClientRemoteSigningTest, ASignerRefusalKeepsItsCodeNamesTheStepAndSparesTheNonce) {
  http_.AddDirectory();
  http_.AddNonce();  // nonce-1
  http_.AddJson(200, kPendingOrder);
  auto client = MakeClient();
  sign_error_ = absl::PermissionDeniedError("agent web1 may not order evil.test");
  sign_error_.SetPayload("acme-signer/origin", absl::Cord("signer"));
  NewOrderOptions new_order;
  new_order.identifiers = {{"dns", "evil.test"}};
  absl::Status refused = client->CreateOrder(new_order).status();
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kPermissionDenied,
                                AllOf(HasSubstr("creating an order for evil.test"),
                                      HasSubstr("agent web1 may not order evil.test"))));
  // The signer's payloads (where the refusal came from) survive the added context.
  EXPECT_EQ(refused.GetPayload("acme-signer/origin"), absl::Cord("signer"));
  EXPECT_EQ(http_.requests().size(), 2u);  // directory and HEAD; nothing was POSTed
  // The unused nonce is used by the next request, without another HEAD.
  sign_error_ = absl::OkStatus();
  ASSERT_TRUE(client->GetOrder(kOrderUrl).ok());
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_EQ(calls_[1].nonce, "nonce-1");
  EXPECT_EQ(http_.requests().size(), 3u);
}

TEST_F(ClientRemoteSigningTest, AJwsForAnotherUrlIsNotPosted) {
  http_.AddDirectory();
  http_.AddNonce();
  tamper_url_ = "https://ca.test/my-order/2";
  EXPECT_THAT(MakeClient()->GetOrder(kOrderUrl),
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(HasSubstr("fetching order https://ca.test/my-order/1"),
                             HasSubstr("has url \"https://ca.test/my-order/2\""))));
  EXPECT_EQ(http_.requests().size(), 2u);
}

TEST_F(ClientRemoteSigningTest, AccountKeyRequestsAreRefusedWithoutAnyRequest) {
  auto client = MakeClient();
  EXPECT_THAT(client->FindAccount(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                              HasSubstr("not available in direct mode")));
  EXPECT_THAT(
      client->RegisterAccount(NewAccountOptions()),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not available in direct mode")));
  OpenSslMacSigner mac(std::string(32, 'k'));
  NewAccountOptions with_eab;
  with_eab.eab_kid = "kid-1";
  with_eab.eab_mac = &mac;
  EXPECT_THAT(client->CreateAccount(with_eab),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("registering the ACME account"),
                             HasSubstr("not available in direct mode"))));
  auto new_key = OpenSslJwsSigner::GenerateEs256();
  EXPECT_THAT(client->ChangeAccountKey(*new_key),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("changing the ACME account key"),
                             HasSubstr("not available in direct mode"))));
  EXPECT_TRUE(http_.requests().empty());
  EXPECT_TRUE(calls_.empty());
  EXPECT_EQ(&client->account(), &account_);
  EXPECT_EQ(client->local_account_key(), nullptr);
}

TEST_F(ClientRemoteSigningTest, RevocationByCertificateKeyIsStillSignedLocally) {
  http_.AddDirectory();
  http_.AddNonce();
  http::HttpResponse ok;
  ok.status = 200;
  http_.Add(ok);
  auto cert_key = OpenSslJwsSigner::GenerateEs256();
  ASSERT_TRUE(MakeClient()
                  ->RevokeWithCertificateKey(MakeCertificateDer(CertSpec()),
                                             RevocationReason::kKeyCompromise, *cert_key)
                  .ok());
  EXPECT_TRUE(calls_.empty());
  auto jws = DecodeFlattenedJws(http_.requests()[2].body);
  ASSERT_TRUE(jws.ok()) << jws.status();
  EXPECT_EQ(Json::parse(jws->protected_json)["jwk"], Json::parse(cert_key->PublicJwk()));
  EXPECT_TRUE(
      VerifyJwsSignature("ES256", cert_key->PublicKeyDer(), jws->signing_input, jws->signature)
          .ok());
}

TEST_F(ClientRemoteSigningTest, TheThumbprintComesFromTheRemoteAccountsPublicKey) {
  auto thumbprint = MakeClient()->AccountThumbprint();
  ASSERT_TRUE(thumbprint.ok()) << thumbprint.status();
  EXPECT_EQ(*thumbprint, *JwkThumbprint(account_.key().PublicJwk()));
}

}  // namespace
}  // namespace acme_signer::acme
