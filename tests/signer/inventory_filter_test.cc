#include "signer/inventory_filter.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace acme_signer::signer {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

CertificateRecord Cert(std::vector<std::string> names, absl::Duration expires_in) {
  CertificateRecord cert;
  cert.serial = "0a";
  cert.names = std::move(names);
  cert.not_before = kNow - absl::Hours(24 * 30);
  cert.not_after = kNow + expires_in;
  return cert;
}

TEST(InventoryFilterTest, NameMatchesExactlyOrBelowAPattern) {
  InventoryFilter filter;
  filter.now = kNow;
  filter.name = "www.x.example";
  EXPECT_TRUE(InventoryMatches(filter, Cert({"x.example", "WWW.x.example"}, absl::Hours(1))));
  EXPECT_FALSE(InventoryMatches(filter, Cert({"*.x.example"}, absl::Hours(1))));
  filter.name = "*.x.example";
  EXPECT_TRUE(InventoryMatches(filter, Cert({"a.b.x.example"}, absl::Hours(1))));
  EXPECT_FALSE(InventoryMatches(filter, Cert({"x.example"}, absl::Hours(1))));
}

TEST(InventoryFilterTest, ExpiringKeepsOnlyUnrevokedCertificatesEndingWithinTheWindow) {
  InventoryFilter filter;
  filter.now = kNow;
  filter.expiring = absl::Hours(24 * 30);
  EXPECT_TRUE(InventoryMatches(filter, Cert({"a.example"}, absl::Hours(24 * 29))));
  EXPECT_TRUE(InventoryMatches(filter, Cert({"a.example"}, absl::Hours(24 * 30))));
  EXPECT_FALSE(InventoryMatches(filter, Cert({"a.example"}, absl::Hours(24 * 31))));
  EXPECT_FALSE(InventoryMatches(filter, Cert({"a.example"}, -absl::Hours(1))));  // expired
  CertificateRecord revoked = Cert({"a.example"}, absl::Hours(24));
  revoked.revoked = true;
  EXPECT_FALSE(InventoryMatches(filter, revoked));
  EXPECT_TRUE(InventoryMatches(InventoryFilter{}, revoked));
}

TEST(InventoryFilterTest, RevokedTextIsOneTokenWithTimeAndReason) {
  CertificateRecord cert = Cert({"a.example"}, absl::Hours(1));
  EXPECT_EQ(InventoryRevokedText(cert), "no");
  cert.revoked = true;
  cert.revocation_reason = 1;
  cert.revoked_at = absl::FromUnixSeconds(1714564800);  // 2024-05-01T12:00:00Z
  EXPECT_EQ(InventoryRevokedText(cert), "2024-05-01T12:00:00Z,keyCompromise");
  cert.revocation_reason = 9;  // privilegeWithdrawn: not one a subscriber may ask for
  EXPECT_EQ(InventoryRevokedText(cert), "2024-05-01T12:00:00Z,9");
}

}  // namespace
}  // namespace acme_signer::signer
