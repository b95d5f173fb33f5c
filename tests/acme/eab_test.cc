#include "acme/eab.h"

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/acme/openssl_signers.h"
#include "tests/acme/status_matchers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::DecodeFlattenedJws;
using ::acme_signer::acme::testing::HmacSha256;
using ::acme_signer::acme::testing::OpenSslJwsSigner;
using ::acme_signer::acme::testing::OpenSslMacSigner;
using ::acme_signer::acme::testing::StatusIs;
using ::testing::HasSubstr;
using Json = nlohmann::json;

TEST(ExternalAccountBindingTest, IsAnHs256JwsOverTheAccountKeyWithEabKidAndNoNonce) {
  auto account = OpenSslJwsSigner::GenerateEs256();
  const std::string hmac_key(32, '\x42');
  OpenSslMacSigner mac(hmac_key);
  auto eab =
      BuildExternalAccountBinding(mac, "kid-1", "https://ca.test/sign-me-up", account->PublicJwk());
  ASSERT_TRUE(eab.ok()) << eab.status();
  auto jws = DecodeFlattenedJws(eab->dump());
  ASSERT_TRUE(jws.ok()) << jws.status();
  EXPECT_EQ(Json::parse(jws->protected_json),
            Json::parse(R"({"alg":"HS256","kid":"kid-1","url":"https://ca.test/sign-me-up"})"));
  EXPECT_EQ(Json::parse(jws->payload_json), Json::parse(account->PublicJwk()));
  EXPECT_EQ(jws->signature, HmacSha256(hmac_key, jws->signing_input));
}

TEST(ExternalAccountBindingTest, RefusesAnEmptyKeyId) {
  auto account = OpenSslJwsSigner::GenerateEs256();
  OpenSslMacSigner mac(std::string(32, 'k'));
  EXPECT_THAT(
      BuildExternalAccountBinding(mac, "", "https://ca.test/sign-me-up", account->PublicJwk()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("EAB kid")));
}

}  // namespace
}  // namespace acme_signer::acme
