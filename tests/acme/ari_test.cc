#include "acme/ari.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/acme/openssl_signers.h"
#include "tests/acme/status_matchers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::CertSpec;
using ::acme_signer::acme::testing::MakeCertificateDer;
using ::acme_signer::acme::testing::StatusIs;
using ::testing::HasSubstr;

TEST(AriCertificateIdTest, MatchesTheRfc9773Example) {
  // RFC 9773 §4.1: AKI keyIdentifier 69:88:5B:...:C8:D4 and serial 0x87654321, whose DER
  // content needs a leading zero byte.
  CertSpec spec;
  spec.aki_hex = "69885b6b87464041e1b37b847ba0ae2cde01c8d4";
  spec.serial_hex = "87654321";
  auto id = AriCertificateId(MakeCertificateDer(spec));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
}

TEST(AriCertificateIdTest, SerialWithoutHighBitHasNoLeadingZero) {
  CertSpec spec;
  spec.aki_hex = "0102";
  spec.serial_hex = "0a0b";
  auto id = AriCertificateId(MakeCertificateDer(spec));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "AQI.Cgs");
}

TEST(AriCertificateIdTest, RefusesCertificatesWithoutAkiOrNotDer) {
  CertSpec spec;
  spec.aki_hex = "";
  EXPECT_THAT(AriCertificateId(MakeCertificateDer(spec)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Authority Key Identifier")));
  EXPECT_THAT(AriCertificateId("garbage"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                    HasSubstr("not a DER X.509 certificate")));
}

TEST(RenewalInfoTest, ParsesTheRfc9773ExampleResponse) {
  auto info = ParseRenewalInfo(R"({
    "suggestedWindow": {"start": "2025-01-02T04:00:00Z", "end": "2025-01-03T04:00:00Z"},
    "explanationURL": "https://acme.example.com/docs/ari"
  })");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->window_start, absl::FromUnixSeconds(1735790400));
  EXPECT_EQ(info->window_end, absl::FromUnixSeconds(1735876800));
  EXPECT_EQ(info->explanation_url, "https://acme.example.com/docs/ari");
}

TEST(RenewalInfoTest, NamesTheBadFieldOfMalformedResponses) {
  EXPECT_THAT(ParseRenewalInfo(R"({})"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                  HasSubstr("suggestedWindow is missing")));
  EXPECT_THAT(
      ParseRenewalInfo(R"({"suggestedWindow":{"start":"yesterday","end":"2025-01-03T04:00:00Z"}})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("suggestedWindow.start is not an RFC 3339 time")));
  EXPECT_THAT(
      ParseRenewalInfo(
          R"({"suggestedWindow":{"start":"2025-01-03T04:00:00Z","end":"2025-01-02T04:00:00Z"}})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("end is before its start")));
  EXPECT_THAT(
      ParseRenewalInfo(
          R"j({"suggestedWindow":{"start":"2025-01-02T04:00:00Z","end":"2025-01-03T04:00:00Z"},
                                   "explanationURL":"javascript:alert(1)"})j"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("explanationURL")));
}

TEST(DefaultRenewalWindowTest, IsTheLastThirdOfTheValidity) {
  CertSpec spec;
  spec.aki_hex = "0102";
  spec.validity = absl::Hours(24 * 90);
  auto info = DefaultRenewalWindow(MakeCertificateDer(spec));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->window_end - info->window_start, absl::Hours(24 * 30));
  EXPECT_EQ(info->certificate_id.substr(0, 4), "AQI.");
}

}  // namespace
}  // namespace acme_signer::acme
