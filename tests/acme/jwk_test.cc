#include "acme/jwk.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/acme/openssl_signers.h"
#include "tests/acme/status_matchers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::StatusIs;
using ::testing::HasSubstr;

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

}  // namespace
}  // namespace acme_signer::acme
