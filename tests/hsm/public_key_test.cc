#include "hsm/public_key.h"

#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/hsm/hsm_test_util.h"

namespace acme_signer::hsm {
namespace {

using ::acme_signer::hsm::testing::StatusIs;
using ::testing::HasSubstr;

std::string Thumbprint(const std::string& jwk) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(jwk.data()), jwk.size(), digest);
  return absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

// The RSA key of RFC 7638 section 3.1, whose thumbprint the RFC gives.
TEST(PublicKeyTest, RsaJwkIsCanonicalAndGivesTheRfc7638Thumbprint) {
  std::string n;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(
      "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJ"
      "ECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FD"
      "W2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4v"
      "MQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
      &n));
  std::string e;
  ASSERT_TRUE(absl::WebSafeBase64Unescape("AQAB", &e));
  auto key = RsaPublicKey(n, e);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->type, KeyType::kRsa2048);
  EXPECT_EQ(key->jwk.substr(0, 31), R"({"e":"AQAB","kty":"RSA","n":"0v)");
  EXPECT_EQ(Thumbprint(key->jwk), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

TEST(PublicKeyTest, RsaModulusWithLeadingZeroByteIsAccepted) {
  std::string n(257, '\xff');
  n[0] = '\0';
  auto key = RsaPublicKey(n, std::string("\x01\x00\x01", 3));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->type, KeyType::kRsa2048);
}

TEST(PublicKeyTest, RejectsShortRsaModulus) {
  EXPECT_THAT(RsaPublicKey(std::string(128, '\xff'), std::string("\x01\x00\x01", 3)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1024-bit")));
}

TEST(PublicKeyTest, EcParamsAreTheNamedCurveOids) {
  EXPECT_EQ(absl::BytesToHexString(EcParamsFor(KeyType::kEcP256)), "06082a8648ce3d030107");
  EXPECT_EQ(absl::BytesToHexString(EcParamsFor(KeyType::kEcP384)), "06052b81040022");
}

TEST(PublicKeyTest, RejectsPointNotOnTheCurve) {
  std::string point(65, '\x01');
  point[0] = '\x04';
  EXPECT_THAT(EcPublicKey(EcParamsFor(KeyType::kEcP256), point),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("EC")));
}

TEST(PublicKeyTest, RejectsMalformedEcPoint) {
  EXPECT_THAT(EcPublicKey(EcParamsFor(KeyType::kEcP256), "junk"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CKA_EC_POINT")));
}

}  // namespace
}  // namespace acme_signer::hsm
