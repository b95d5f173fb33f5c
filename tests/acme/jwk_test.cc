#include "acme/jwk.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/acme/openssl_signers.h"
#include "tests/acme/status_matchers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::StatusIs;
using ::testing::HasSubstr;
using ::acme_signer::acme::testing::OpenSslJwsSigner;
using Json = nlohmann::json;

// RFC 7638 §3.1, the example RSA key (with extra members that the thumbprint ignores).
constexpr char kRfc7638Jwk[] =
    R"({"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"})";

TEST(JwkThumbprintTest, MatchesTheRfc7638ExampleVector) {
  auto thumbprint = JwkThumbprint(kRfc7638Jwk);
  ASSERT_TRUE(thumbprint.ok()) << thumbprint.status();
  EXPECT_EQ(*thumbprint, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

TEST(JwkThumbprintTest, DoesNotDependOnMemberOrderOrWhitespace) {
  auto signer = testing::OpenSslJwsSigner::GenerateEs256();
  auto canonical = JwkThumbprint(signer->PublicJwk());
  ASSERT_TRUE(canonical.ok());
  auto parsed = nlohmann::json::parse(signer->PublicJwk());
  std::string reordered = "{ \"y\": " + parsed["y"].dump() + ", \"x\": " + parsed["x"].dump() +
                          ", \"kty\": \"EC\", \"crv\": \"P-256\", \"use\": \"sig\" }";
  auto other = JwkThumbprint(reordered);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(*canonical, *other);
}

TEST(CanonicalJwkTest, KeepsOnlyRequiredMembersSorted) {
  auto canonical = CanonicalJwk(R"({"y":"Y","kid":"k","x":"X","crv":"P-256","kty":"EC"})");
  ASSERT_TRUE(canonical.ok());
  EXPECT_EQ(*canonical, R"({"crv":"P-256","kty":"EC","x":"X","y":"Y"})");
}

TEST(CanonicalJwkTest, RejectsUnsupportedKeyTypeAndMissingMembers) {
  EXPECT_THAT(CanonicalJwk(R"({"kty":"oct","k":"AAAA"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unsupported kty")));
  EXPECT_THAT(CanonicalJwk(R"({"kty":"EC","crv":"P-256","x":"X"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("JWK.y")));
  EXPECT_THAT(CanonicalJwk(R"({"kty":"RSA","n":1,"e":"AQAB"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("JWK.n")));
  EXPECT_THAT(CanonicalJwk("not json"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
}

TEST(PublicAccountKeyTest, DerivesTheSameSpkiAsTheKeyItselfForEcAndRsa) {
  for (auto& key : {OpenSslJwsSigner::GenerateEs256(), OpenSslJwsSigner::GenerateEs384(),
                    OpenSslJwsSigner::GenerateEs512(), OpenSslJwsSigner::GenerateRs256()}) {
    auto remote = ParsePublicAccountKey(key->Algorithm(), key->PublicJwk());
    ASSERT_TRUE(remote.ok()) << remote.status();
    EXPECT_EQ(remote->algorithm, key->Algorithm());
    EXPECT_EQ(remote->jwk, key->PublicJwk());
    EXPECT_EQ(remote->spki_der, key->PublicKeyDer());
  }
}

TEST(PublicAccountKeyTest, KeepsTheJwkInCanonicalForm) {
  auto key = OpenSslJwsSigner::GenerateEs256();
  Json jwk = Json::parse(key->PublicJwk());
  jwk["kid"] = "extra member";
  auto remote = ParsePublicAccountKey("ES256", jwk.dump(2));
  ASSERT_TRUE(remote.ok()) << remote.status();
  EXPECT_EQ(remote->jwk, key->PublicJwk());
}

TEST(PublicAccountKeyTest, RefusesAKeyThatDoesNotFitTheAlgorithm) {
  auto ec = OpenSslJwsSigner::GenerateEs256();
  auto rsa = OpenSslJwsSigner::GenerateRs256();
  EXPECT_THAT(ParsePublicAccountKey("RS256", ec->PublicJwk()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not fit algorithm")));
  EXPECT_THAT(ParsePublicAccountKey("ES384", ec->PublicJwk()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("curve \"P-256\"")));
  EXPECT_THAT(ParsePublicAccountKey("ES512", ec->PublicJwk()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("curve \"P-256\"")));
  EXPECT_THAT(ParsePublicAccountKey("ES256", OpenSslJwsSigner::GenerateEs512()->PublicJwk()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("curve \"P-521\"")));
  EXPECT_THAT(ParsePublicAccountKey("ES256", rsa->PublicJwk()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not fit algorithm")));
  EXPECT_THAT(ParsePublicAccountKey("none", ec->PublicJwk()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not fit algorithm")));
}

TEST(PublicAccountKeyTest, RefusesMalformedJwks) {
  auto key = OpenSslJwsSigner::GenerateEs256();
  Json jwk = Json::parse(key->PublicJwk());
  EXPECT_THAT(ParsePublicAccountKey("ES256", "not json"),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  Json short_x = jwk;
  short_x["x"] = absl::WebSafeBase64Escape(std::string(31, '\x01'));
  EXPECT_THAT(ParsePublicAccountKey("ES256", short_x.dump()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs 32")));
  Json off_curve = jwk;
  off_curve["y"] = absl::WebSafeBase64Escape(std::string(32, '\x01'));
  EXPECT_THAT(ParsePublicAccountKey("ES256", off_curve.dump()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a valid EC public key")));
  Json bad_base64 = jwk;
  bad_base64["x"] = "***";
  EXPECT_THAT(ParsePublicAccountKey("ES256", bad_base64.dump()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"x\"")));
  Json small_rsa = {
      {"kty", "RSA"}, {"e", "AQAB"}, {"n", absl::WebSafeBase64Escape(std::string(128, '\xc3'))}};
  EXPECT_THAT(ParsePublicAccountKey("RS256", small_rsa.dump()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1024 bits")));
}

}  // namespace
}  // namespace acme_signer::acme
