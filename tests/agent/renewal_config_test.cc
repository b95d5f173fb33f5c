#include "agent/renewal_config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"

namespace acme_signer::agent {
namespace {

using ::acme_signer::agent::testing::IsOk;
using ::acme_signer::agent::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

RenewalConfig FullConfig() {
  RenewalConfig c;
  c.version = "0.1.0";
  c.domains = {"example.com", "*.example.com"};
  c.authenticator = Authenticator::kManual;
  c.manual_auth_hook = "/usr/local/bin/dns-add \"$CERTBOT_DOMAIN\"";
  c.manual_cleanup_hook = "/usr/local/bin/dns-del";
  c.pre_hook = "true";
  c.post_hook = "echo 'done'";
  c.deploy_hook = "systemctl reload nginx";
  c.http01_port = 8080;
  c.http01_address = "127.0.0.1";
  c.key = *ParseKeySpec("rsa", "", 3072);
  c.reuse_key = true;
  c.pfx = true;
  c.pfx_password_file = "/etc/acme-agent/pfx.pass";
  c.pfx_legacy = true;
  c.direct = true;
  return c;
}

TEST(RenewalConfigTest, SerializedConfigParsesBackToTheSameValues) {
  auto text = SerializeRenewalConfig(FullConfig(), {"/a", "/c", "/k", "/ch", "/f"});
  ASSERT_THAT(text, IsOk());
  EXPECT_THAT(*text, HasSubstr("[renewalparams]"));
  auto back = ParseRenewalConfig(*text, "example.com.conf");
  ASSERT_THAT(back, IsOk());
  const RenewalConfig want = FullConfig();
  EXPECT_EQ(back->version, want.version);
  EXPECT_THAT(back->domains, ElementsAre("example.com", "*.example.com"));
  EXPECT_EQ(back->authenticator, Authenticator::kManual);
  EXPECT_EQ(back->manual_auth_hook, want.manual_auth_hook);
  EXPECT_EQ(back->manual_cleanup_hook, want.manual_cleanup_hook);
  EXPECT_EQ(back->pre_hook, want.pre_hook);
  EXPECT_EQ(back->post_hook, want.post_hook);
  EXPECT_EQ(back->deploy_hook, want.deploy_hook);
  EXPECT_EQ(back->http01_port, 8080);
  EXPECT_EQ(back->http01_address, "127.0.0.1");
  EXPECT_EQ(back->key.type, KeyType::kRsa);
  EXPECT_EQ(back->key.rsa_key_size, 3072);
  EXPECT_TRUE(back->reuse_key);
  EXPECT_TRUE(back->pfx);
  EXPECT_EQ(back->pfx_password_file, want.pfx_password_file);
  EXPECT_TRUE(back->pfx_legacy);
  EXPECT_TRUE(back->direct);
}

TEST(RenewalConfigTest, FilesWithoutDirectRenewThroughTheSignerRelay) {
  const std::string text =
      "version = \"0.1.0\"\n"
      "[renewalparams]\n"
      "domains = [\"example.com\"]\n";
  auto config = ParseRenewalConfig(text, "x.conf");
  ASSERT_THAT(config, IsOk());
  EXPECT_FALSE(config->direct);
  EXPECT_THAT(ParseRenewalConfig(text + "direct = \"yes\"\n", "x.conf"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x.conf:4")));
}

TEST(RenewalConfigTest, FileReadsLikeCertbotsRenewalConf) {
  RenewalConfig c;
  c.version = "0.1.0";
  c.domains = {"example.com", "www.example.com"};
  c.authenticator = Authenticator::kWebroot;
  c.webroot_path = "/var/www/html";
  auto text = SerializeRenewalConfig(c, {"/etc/acme-agent/archive/example.com",
                                         "/etc/acme-agent/live/example.com/cert.pem", "", "", ""});
  ASSERT_THAT(text, IsOk());
  EXPECT_THAT(*text, ::testing::StartsWith("# Written by acme-agent"));
  EXPECT_THAT(*text, HasSubstr("archive_dir = '/etc/acme-agent/archive/example.com'"));
  EXPECT_THAT(*text, HasSubstr("\n[renewalparams]\n"));
  EXPECT_THAT(*text, HasSubstr("authenticator = 'webroot'"));
  EXPECT_THAT(*text, HasSubstr("webroot_path = '/var/www/html'"));
}

TEST(RenewalConfigTest, UnknownKeyIsRejectedWithFileLineAndKey) {
  const std::string text =
      "version = \"0.1.0\"\n"
      "[renewalparams]\n"
      "domains = [\"example.com\"]\n"
      "authenticator = \"standalone\"\n"
      "webrot_path = \"/var/www\"\n";
  EXPECT_THAT(ParseRenewalConfig(text, "x.conf"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("x.conf:5: renewalparams.webrot_path: unknown key")));
}

TEST(RenewalConfigTest, BadValuesAreRejectedNamingTheKey) {
  EXPECT_THAT(
      ParseRenewalConfig("[renewalparams]\ndomains = [\"example.com\"]\nhttp01_port = 0\n",
                         "x.conf"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("x.conf:3: renewalparams.http01_port: 0 is out of range 1..65535")));
  EXPECT_THAT(
      ParseRenewalConfig("[renewalparams]\ndomains = [\"example.com\"]\nreuse_key = \"yes\"\n",
                         "x.conf"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("x.conf:3: renewalparams.reuse_key: expected a boolean, got a string")));
  EXPECT_THAT(
      ParseRenewalConfig("[renewalparams]\ndomains = [\"example.com\"]\nauthenticator = \"dns\"\n",
                         "x.conf"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown authenticator \"dns\"")));
  EXPECT_THAT(
      ParseRenewalConfig(
          "[renewalparams]\ndomains = [\"example.com\"]\nauthenticator = \"webroot\"\n", "x.conf"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs webroot_path")));
  EXPECT_THAT(ParseRenewalConfig("[renewalparams]\ndomains = []\n", "x.conf"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no domain names")));
  EXPECT_THAT(ParseRenewalConfig("version = \"0.1\"\n", "x.conf"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("x.conf: renewalparams: missing required table [renewalparams]")));
}

TEST(RenewalConfigTest, SyntaxErrorsCarryLineAndColumn) {
  EXPECT_THAT(ParseRenewalConfig("[renewalparams]\ndomains = [\"a.example\"\n", "x.conf"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x.conf:")));
}

TEST(RenewalConfigTest, ManualWithoutAuthHookCannotBeWritten) {
  RenewalConfig c = FullConfig();
  c.manual_auth_hook.clear();
  EXPECT_THAT(SerializeRenewalConfig(c, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("manual_auth_hook")));
}

TEST(RenewalConfigTest, AccountAndServerRoundTripAndAreLeftOutWhenNotChosen) {
  RenewalConfig chosen = FullConfig();
  chosen.account = "ecc-ov";
  chosen.server = "https://acme.sectigo.com/v2/InCommonECCOV";
  auto text = SerializeRenewalConfig(chosen, {"/a", "/c", "/k", "/ch", "/f"});
  ASSERT_THAT(text, IsOk());
  EXPECT_THAT(*text, HasSubstr("account = 'ecc-ov'"));
  auto back = ParseRenewalConfig(*text, "x.conf");
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->account, "ecc-ov");
  EXPECT_EQ(back->server, chosen.server);

  auto plain = SerializeRenewalConfig(FullConfig(), {"/a", "/c", "/k", "/ch", "/f"});
  ASSERT_THAT(plain, IsOk());
  EXPECT_THAT(*plain, ::testing::Not(HasSubstr("account")));
  EXPECT_THAT(*plain, ::testing::Not(HasSubstr("server")));
  auto plain_back = ParseRenewalConfig(*plain, "x.conf");
  ASSERT_THAT(plain_back, IsOk());
  EXPECT_EQ(plain_back->account, "");
}

TEST(RenewalConfigTest, RejectsAnAccountThatIsNotAName) {
  RenewalConfig config = FullConfig();
  config.account = "rsa ov\n";
  EXPECT_THAT(ValidateRenewalConfig(config),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("account")));
  // The signer's rule (acme::ValidateAccountName): names it refuses for [[accounts]] are
  // refused here too.
  for (const char* signer_refuses : {"RSA_OV", "rsa.ov", "rsa_ov"}) {
    config.account = signer_refuses;
    EXPECT_THAT(ValidateRenewalConfig(config),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid account name")))
        << signer_refuses;
  }
  config.account = "rsa-ov";
  EXPECT_THAT(ValidateRenewalConfig(config), IsOk());
  config.account = "";
  config.server = "https://ca.example/dir";
  EXPECT_THAT(ValidateRenewalConfig(config),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("server")));
}

TEST(RenewalConfigTest, ChangesNameTheAccountWithItsServer) {
  RenewalConfig before = FullConfig();
  RenewalConfig after = before;
  after.account = "ecc";
  after.server = "https://ca.example/ecc";
  EXPECT_THAT(RenewalConfigChanges(before, after),
              ElementsAre("account (the signer's default) → 'ecc' https://ca.example/ecc"));
}

}  // namespace
}  // namespace acme_signer::agent
