#include "agent/certificate_info.h"

#include <openssl/evp.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/test_certs.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::agent {
namespace {

using ::acme_signer::testing::IsOk;
using ::acme_signer::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ReadCertificateInfoTest, ReadsTheFirstCertificateOfAChain) {
  testing::TestCa ca;
  SslUniquePtr<EVP_PKEY> key(EVP_EC_gen("prime256v1"));
  const absl::Time not_before = absl::FromUnixSeconds(1700000000);
  const absl::Time not_after = not_before + absl::Hours(24 * 90);
  const std::string leaf =
      ca.Issue(key.get(), {"b.example", "a.example"}, not_before, not_after, /*serial=*/0xabc);
  absl::StatusOr<CertificateInfo> info = ReadCertificateInfo(absl::StrCat(leaf, ca.cert_pem()));
  ASSERT_THAT(info, IsOk());
  EXPECT_THAT(info->dns_names, ElementsAre("b.example", "a.example"));
  EXPECT_EQ(info->not_before, not_before);
  EXPECT_EQ(info->not_after, not_after);
  EXPECT_EQ(info->serial_hex, "0ABC");  // upper case: the renewal spread is derived from it
}

TEST(ReadCertificateInfoTest, RefusesTextWithoutCertificate) {
  EXPECT_THAT(ReadCertificateInfo("not a certificate"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no PEM certificate")));
}

TEST(ValidityTextTest, UsesCertbotsWordingAndSaysRevokedBeforeAnythingElse) {
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  EXPECT_EQ(ValidityText(now + absl::Hours(24 * 1825 + 1), false, now), "VALID: 1825 days");
  EXPECT_EQ(ValidityText(now + absl::Hours(30), false, now), "VALID: 1 day");
  EXPECT_EQ(ValidityText(now + absl::Hours(5), false, now), "VALID: 5 hour(s)");
  EXPECT_EQ(ValidityText(now - absl::Hours(1), false, now), "INVALID: EXPIRED");
  EXPECT_EQ(ValidityText(now + absl::Hours(24 * 1825), true, now), "REVOKED");
  EXPECT_EQ(ValidityText(now - absl::Hours(1), true, now), "REVOKED");
}

}  // namespace
}  // namespace acme_signer::agent
