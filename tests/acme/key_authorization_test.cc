#include "acme/key_authorization.h"

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/acme/status_matchers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kToken[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
constexpr char kThumbprint[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

TEST(KeyAuthorizationTest, IsTokenDotThumbprint) {
  auto key_authorization = KeyAuthorization(kToken, kThumbprint);
  ASSERT_TRUE(key_authorization.ok());
  EXPECT_EQ(*key_authorization, std::string(kToken) + "." + kThumbprint);
}

TEST(KeyAuthorizationTest, RefusesTokensThatCouldEscapeTheChallengePath) {
  EXPECT_THAT(KeyAuthorization("../../etc/passwd", kThumbprint),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token")));
  EXPECT_THAT(KeyAuthorization("", kThumbprint),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token")));
  EXPECT_THAT(KeyAuthorization(kToken, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("thumbprint")));
}

TEST(Dns01Test, TxtValueIsBase64UrlOfSha256OfTheKeyAuthorization) {
  // echo -n "abc" | openssl dgst -sha256 -binary | basenc --base64url
  auto value = Dns01TxtValue("abc");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
  EXPECT_EQ(Dns01RecordName("www.example.org"), "_acme-challenge.www.example.org");
  EXPECT_EQ(Dns01RecordName("*.example.org"), "_acme-challenge.example.org");
}

TEST(TlsAlpn01Test, DigestIsTheRawSha256) {
  auto digest = TlsAlpn01Digest("abc");
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(absl::BytesToHexString(*digest),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace acme_signer::acme
