#include "acme/certificate_chain.h"

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/acme/openssl_signers.h"
#include "tests/acme/status_matchers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::CertSpec;
using ::acme_signer::acme::testing::DerToPem;
using ::acme_signer::acme::testing::MakeCertificateDer;
using ::acme_signer::acme::testing::StatusIs;
using ::testing::HasSubstr;

std::string Pem(const std::string& cn, const std::string& issuer, const std::string& serial) {
  CertSpec spec;
  spec.subject_cn = cn;
  spec.issuer_cn = issuer;
  spec.serial_hex = serial;
  return DerToPem(MakeCertificateDer(spec));
}

TEST(PemChainTest, ReadsLeafSerialAndTopmostIssuer) {
  const std::string pem =
      Pem("leaf.test", "Intermediate A", "00ABCDEF") + Pem("Intermediate A", "Root X", "02");
  auto chain = ParsePemChain(pem, "https://ca.test/cert/1");
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_EQ(chain->serial_hex, "abcdef");
  EXPECT_EQ(chain->issuer_common_name, "Root X");
  EXPECT_EQ(chain->url, "https://ca.test/cert/1");
  EXPECT_EQ(chain->pem_chain, pem);
  // The leaf's validity (MakeCertificateDer: notBefore now, notAfter 90 days later), read with
  // the chain so the signer's inventory needs no second decode of the leaf.
  EXPECT_EQ(chain->not_after - chain->not_before, absl::Hours(24 * 90));
  EXPECT_LE(chain->not_before, absl::Now());
  auto ders = PemChainToDer(pem);
  ASSERT_TRUE(ders.ok());
  EXPECT_EQ(ders->size(), 2u);
  EXPECT_EQ(ders->front(), chain->leaf_der);
}

TEST(PemChainTest, RefusesEmptyGarbageAndOtherPemTypes) {
  EXPECT_THAT(ParsePemChain("", "u"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no certificate")));
  EXPECT_THAT(ParsePemChain(Pem("a", "b", "01") + "trailing junk", "u"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("block 2")));
  EXPECT_THAT(ParsePemChain("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "u"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a PEM CERTIFICATE")));
  EXPECT_THAT(
      ParsePemChain("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "u"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("block 1 is not a certificate")));
  EXPECT_THAT(ParsePemChain("-----BEGIN CERTIFICATE-----\nAAAA\n", "u"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no END CERTIFICATE")));
}

TEST(SelectChainTest, PrefersTheChainWhoseTopmostIssuerMatches) {
  std::vector<CertificateChain> chains(3);
  chains[0].issuer_common_name = "Root X";
  chains[1].issuer_common_name = "Root Y";
  chains[2].issuer_common_name = "Root Z";
  EXPECT_EQ(SelectChain(chains, "Root Y"), 1u);
  EXPECT_EQ(SelectChain(chains, "Root Q"), 0u);
  EXPECT_EQ(SelectChain(chains, ""), 0u);
}

}  // namespace
}  // namespace acme_signer::acme
