#include "agent/renewal_flags.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"

namespace acme_signer::agent {
namespace {

using ::acme_signer::agent::testing::IsOk;
using ::acme_signer::agent::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// What `certonly --cert-name web -d www -d api --webroot -w /var/www --pfx --deploy-hook H`
// stored.
RenewalConfig Stored() {
  RenewalConfig c;
  c.domains = {"www.example.com", "api.example.com"};
  c.authenticator = Authenticator::kWebroot;
  c.webroot_path = "/var/www";
  c.deploy_hook = "copy-to-iis";
  c.pfx = true;
  c.pfx_password_file = "/etc/acme-agent/pfx.pass";
  c.pfx_legacy = true;
  c.direct = true;
  c.reuse_key = true;
  return c;
}

// The options of a certonly command line, parsed as certonly parses them.
absl::StatusOr<RenewalOverrides> Parse(const std::vector<std::string>& args) {
  ArgParser parser("test");
  AddRenewalParamOptions(parser);
  absl::Status parsed = parser.Parse(args);
  if (!parsed.ok()) return parsed;
  return RenewalOverridesFromFlags(parser);
}

TEST(MergeRenewalSettingsTest, OneMoreNameKeepsEveryStoredSettingNotGivenNow) {
  absl::StatusOr<RenewalOverrides> overrides = Parse({});
  ASSERT_THAT(overrides, IsOk());
  overrides->domains = {"www.example.com", "api.example.com", "new.example.com"};
  absl::StatusOr<RenewalConfig> merged = MergeRenewalSettings(Stored(), *overrides);
  ASSERT_THAT(merged, IsOk());
  EXPECT_THAT(merged->domains,
              ElementsAre("www.example.com", "api.example.com", "new.example.com"));
  EXPECT_EQ(merged->authenticator, Authenticator::kWebroot);
  EXPECT_EQ(merged->webroot_path, "/var/www");
  EXPECT_EQ(merged->deploy_hook, "copy-to-iis");
  EXPECT_TRUE(merged->pfx);
  EXPECT_EQ(merged->pfx_password_file, "/etc/acme-agent/pfx.pass");
  EXPECT_TRUE(merged->pfx_legacy);
  EXPECT_TRUE(merged->direct);
  EXPECT_TRUE(merged->reuse_key);
  EXPECT_THAT(RenewalConfigChanges(Stored(), *merged),
              ElementsAre("domains www.example.com,api.example.com → "
                          "www.example.com,api.example.com,new.example.com"));
}

TEST(MergeRenewalSettingsTest, NoReuseKeySwitchesAStoredReuseKeyOffAndBothAreRefused) {
  absl::StatusOr<RenewalOverrides> overrides = Parse({"--no-reuse-key"});
  ASSERT_THAT(overrides, IsOk());
  absl::StatusOr<RenewalConfig> merged = MergeRenewalSettings(Stored(), *overrides);
  ASSERT_THAT(merged, IsOk());
  EXPECT_FALSE(merged->reuse_key);
  EXPECT_THAT(RenewalConfigChanges(Stored(), *merged), ElementsAre("reuse_key true → false"));
  EXPECT_THAT(Parse({"--reuse-key", "--no-reuse-key"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--no-reuse-key")));
}

TEST(MergeRenewalSettingsTest, FlagsGivenNowOverrideTheStoredValues) {
  absl::StatusOr<RenewalOverrides> overrides =
      Parse({"--standalone", "--http-01-port", "8080", "--deploy-hook", "systemctl reload nginx"});
  ASSERT_THAT(overrides, IsOk());
  overrides->pfx = false;
  absl::StatusOr<RenewalConfig> merged = MergeRenewalSettings(Stored(), *overrides);
  // pfx_password_file and pfx_legacy were stored for a PKCS#12 that is no longer written.
  EXPECT_THAT(merged, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("need --pfx")));
  overrides->pfx_password_file = "";
  overrides->pfx_legacy = false;
  merged = MergeRenewalSettings(Stored(), *overrides);
  ASSERT_THAT(merged, IsOk());
  EXPECT_EQ(merged->authenticator, Authenticator::kStandalone);
  EXPECT_EQ(merged->http01_port, 8080);
  EXPECT_EQ(merged->deploy_hook, "systemctl reload nginx");
  EXPECT_FALSE(merged->pfx);
  EXPECT_THAT(merged->domains, ElementsAre("www.example.com", "api.example.com"));
  EXPECT_THAT(
      RenewalConfigChanges(Stored(), *merged),
      ElementsAre("authenticator webroot → standalone", "http01_port 80 → 8080",
                  "deploy_hook 'copy-to-iis' → 'systemctl reload nginx'", "pfx true → false",
                  "pfx_password_file '/etc/acme-agent/pfx.pass' → (none)",
                  "pfx_legacy true → false"));
}

TEST(MergeRenewalSettingsTest, PfxOptionsNeedPfxGivenNowOrStored) {
  RenewalConfig without_pfx;
  without_pfx.domains = {"example.com"};
  RenewalOverrides legacy;
  legacy.pfx_legacy = true;
  EXPECT_THAT(MergeRenewalSettings(without_pfx, legacy),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("need --pfx")));
  RenewalConfig with_pfx = without_pfx;
  with_pfx.pfx = true;
  absl::StatusOr<RenewalConfig> merged = MergeRenewalSettings(with_pfx, legacy);
  ASSERT_THAT(merged, IsOk());
  EXPECT_TRUE(merged->pfx_legacy);
}

TEST(MergeRenewalSettingsTest, AnInconsistentResultNamesTheMissingFlagAsTyped) {
  RenewalConfig standalone;
  standalone.domains = {"example.com"};
  absl::StatusOr<RenewalOverrides> overrides = Parse({"--webroot"});
  ASSERT_THAT(overrides, IsOk());
  EXPECT_THAT(MergeRenewalSettings(standalone, *overrides),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("--webroot needs -w/--webroot-path DIR"),
                             Not(HasSubstr("webroot_path")))));
  absl::StatusOr<RenewalOverrides> manual = Parse({"--manual"});
  ASSERT_THAT(manual, IsOk());
  EXPECT_THAT(MergeRenewalSettings(standalone, *manual),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--manual needs --manual-auth-hook CMD")));
}

TEST(MergeRenewalSettingsTest, CcsDirImpliesPfxAndMustBeAbsolute) {
  RenewalConfig stored;
  stored.domains = {"example.com"};
  absl::StatusOr<RenewalOverrides> overrides = Parse({});
  ASSERT_THAT(overrides, IsOk());
  overrides->ccs_dir = "/srv/ccs";
  absl::StatusOr<RenewalConfig> merged = MergeRenewalSettings(stored, *overrides);
  ASSERT_THAT(merged, IsOk());
  EXPECT_TRUE(merged->pfx);
  EXPECT_EQ(merged->ccs_dir, "/srv/ccs");
  overrides->ccs_dir = "ccs";
  EXPECT_THAT(
      MergeRenewalSettings(stored, *overrides),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--ccs-dir must be an absolute")));
}

TEST(RenewalConfigChangesTest, SameSettingsHaveNoChanges) {
  EXPECT_THAT(RenewalConfigChanges(Stored(), Stored()), IsEmpty());
  RenewalConfig other_version = Stored();
  other_version.version = "9.9.9";
  EXPECT_THAT(RenewalConfigChanges(Stored(), other_version), IsEmpty());
}

}  // namespace
}  // namespace acme_signer::agent
