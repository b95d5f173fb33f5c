#include "acme/remote_account_key.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/acme/openssl_signers.h"
#include "tests/acme/status_matchers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::OpenSslJwsSigner;
using ::acme_signer::acme::testing::StatusIs;
using ::testing::HasSubstr;
using Json = nlohmann::json;

TEST(RemoteAccountKeyTest, DerivesTheSameSpkiAsTheKeyItselfForEcAndRsa) {
  for (auto& key : {OpenSslJwsSigner::GenerateEs256(), OpenSslJwsSigner::GenerateRs256()}) {
    auto remote = RemoteAccountKey::Create(key->Algorithm(), key->PublicJwk());
    ASSERT_TRUE(remote.ok()) << remote.status();
    EXPECT_EQ((*remote)->Algorithm(), key->Algorithm());
    EXPECT_EQ((*remote)->PublicJwk(), key->PublicJwk());
    EXPECT_EQ((*remote)->PublicKeyDer(), key->PublicKeyDer());
  }
}

TEST(RemoteAccountKeyTest, KeepsTheJwkInCanonicalForm) {
  auto key = OpenSslJwsSigner::GenerateEs256();
  Json jwk = Json::parse(key->PublicJwk());
  jwk["kid"] = "extra member";
  auto remote = RemoteAccountKey::Create("ES256", jwk.dump(2));
  ASSERT_TRUE(remote.ok()) << remote.status();
  EXPECT_EQ((*remote)->PublicJwk(), key->PublicJwk());
}

TEST(RemoteAccountKeyTest, CannotSign) {
  auto key = OpenSslJwsSigner::GenerateEs256();
  auto remote = RemoteAccountKey::Create("ES256", key->PublicJwk());
  ASSERT_TRUE(remote.ok()) << remote.status();
  EXPECT_THAT((*remote)->Sign("data"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("held by acme-signer")));
}

TEST(RemoteAccountKeyTest, RefusesAKeyThatDoesNotFitTheAlgorithm) {
  auto ec = OpenSslJwsSigner::GenerateEs256();
  auto rsa = OpenSslJwsSigner::GenerateRs256();
  EXPECT_THAT(RemoteAccountKey::Create("RS256", ec->PublicJwk()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not fit algorithm")));
  EXPECT_THAT(RemoteAccountKey::Create("ES384", ec->PublicJwk()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("curve \"P-256\"")));
  EXPECT_THAT(RemoteAccountKey::Create("ES256", rsa->PublicJwk()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not fit algorithm")));
  EXPECT_THAT(RemoteAccountKey::Create("none", ec->PublicJwk()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not fit algorithm")));
}

TEST(RemoteAccountKeyTest, RefusesMalformedJwks) {
  auto key = OpenSslJwsSigner::GenerateEs256();
  Json jwk = Json::parse(key->PublicJwk());
  EXPECT_THAT(RemoteAccountKey::Create("ES256", "not json"),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  Json short_x = jwk;
  short_x["x"] = absl::WebSafeBase64Escape(std::string(31, '\x01'));
  EXPECT_THAT(RemoteAccountKey::Create("ES256", short_x.dump()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs 32")));
  Json off_curve = jwk;
  off_curve["y"] = absl::WebSafeBase64Escape(std::string(32, '\x01'));
  EXPECT_THAT(RemoteAccountKey::Create("ES256", off_curve.dump()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a valid EC public key")));
  Json bad_base64 = jwk;
  bad_base64["x"] = "***";
  EXPECT_THAT(RemoteAccountKey::Create("ES256", bad_base64.dump()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"x\"")));
  Json small_rsa = {
      {"kty", "RSA"}, {"e", "AQAB"}, {"n", absl::WebSafeBase64Escape(std::string(128, '\xc3'))}};
  EXPECT_THAT(RemoteAccountKey::Create("RS256", small_rsa.dump()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1024 bits")));
}

}  // namespace
}  // namespace acme_signer::acme
