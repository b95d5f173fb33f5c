#include "agent/agent_config.h"

#include <string>

#include "absl/strings/str_replace.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"
#include "tests/agent/test_certs.h"

namespace acme_signer::agent {
namespace {

using ::acme_signer::agent::testing::IsOk;
using ::acme_signer::agent::testing::StatusIs;
using ::testing::HasSubstr;

const char kMinimal[] =
    "[signer]\n"
    "address = \"signer.example:8443\"\n"
    "ca = \"/etc/acme-agent/identity/signer-ca.pem\"\n"
    "[identity]\n"
    "trust_domain = \"dept.example\"\n";

std::string ExamplePath() {
  std::string here = __FILE__;
  return here.substr(0, here.rfind("/tests/agent/")) + "/deploy/acme-agent.toml";
}

TEST(AgentConfigTest, MinimalConfigGetsCertbotLikeDefaults) {
  auto config = ParseAgentConfig(kMinimal, "agent.toml");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->config_dir, "/etc/acme-agent");
  EXPECT_EQ(config->signer.address, "signer.example:8443");
  EXPECT_EQ(config->identity.trust_domain, "dept.example");
  EXPECT_EQ(config->identity.name, "");
  EXPECT_EQ(config->defaults.key.type, KeyType::kEcdsa);
  EXPECT_EQ(config->defaults.authenticator, Authenticator::kStandalone);
  EXPECT_EQ(config->defaults.http01_port, 80);
  EXPECT_EQ(config->defaults.hook_timeout, absl::Minutes(5));
}

TEST(AgentConfigTest, ShippedExampleParses) {
  auto config = LoadAgentConfig(ExamplePath());
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->defaults.authenticator, Authenticator::kWebroot);
  EXPECT_EQ(config->defaults.webroot_path, "/var/www/html");
  // The agent runs unprivileged: its post hook asks acme-agent-reload.path (root) to reload.
  EXPECT_EQ(config->defaults.deploy_hook, "");
  EXPECT_EQ(config->defaults.post_hook,
            "test -z \"$RENEWED_DOMAINS\" || touch /var/lib/acme-agent/reload-request");
  EXPECT_EQ(config->identity.key, "/etc/acme-agent/identity/agent.key");
}

TEST(AgentConfigTest, FullConfigOverridesEveryDefault) {
  const std::string text = std::string(kMinimal) +
                           "name = \"web1\"\n"
                           "key = \"/k\"\n"
                           "cert = \"/c\"\n"
                           "[defaults]\n"
                           "key_type = \"rsa\"\n"
                           "rsa_key_size = 4096\n"
                           "authenticator = \"manual\"\n"
                           "http01_port = 8080\n"
                           "http01_address = \"127.0.0.1\"\n"
                           "pre_hook = \"a\"\npost_hook = \"b\"\ndeploy_hook = \"c\"\n"
                           "hook_timeout_seconds = 30\n";
  auto config = ParseAgentConfig(text, "agent.toml");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->identity.name, "web1");
  EXPECT_EQ(config->identity.key, "/k");
  EXPECT_EQ(config->defaults.key.Describe(), "RSA 4096");
  EXPECT_EQ(config->defaults.authenticator, Authenticator::kManual);
  EXPECT_EQ(config->defaults.http01_port, 8080);
  EXPECT_EQ(config->defaults.post_hook, "b");
  EXPECT_EQ(config->defaults.hook_timeout, absl::Seconds(30));
}

TEST(AgentConfigTest, UnknownKeysAreErrorsWithLineAndQualifiedKey) {
  EXPECT_THAT(ParseAgentConfig(std::string(kMinimal) + "nmae = \"web1\"\n", "agent.toml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("agent.toml:6: identity.nmae: unknown key")));
  EXPECT_THAT(ParseAgentConfig(std::string("verbose = true\n") + kMinimal, "agent.toml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("agent.toml:1: verbose: unknown key")));
  EXPECT_THAT(ParseAgentConfig(std::string(kMinimal) + "[logging]\nlevel = 1\n", "agent.toml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("agent.toml:6: logging: unknown key")));
}

TEST(AgentConfigTest, DirectModeCaBundleIsOptionalAbsoluteAndItsTableClosed) {
  auto none = ParseAgentConfig(kMinimal, "agent.toml");
  ASSERT_THAT(none, IsOk());
  EXPECT_EQ(none->direct.ca_bundle, "");
  auto set = ParseAgentConfig(std::string(kMinimal) + "[direct]\nca_bundle = \"/etc/ca.pem\"\n",
                              "agent.toml");
  ASSERT_THAT(set, IsOk());
  EXPECT_EQ(set->direct.ca_bundle, "/etc/ca.pem");
  EXPECT_THAT(
      ParseAgentConfig(std::string(kMinimal) + "[direct]\nca_bundle = \"ca.pem\"\n", "agent.toml"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("agent.toml:7: direct.ca_bundle: must be an absolute path")));
  EXPECT_THAT(
      ParseAgentConfig(std::string(kMinimal) + "[direct]\ncabundle = \"/ca.pem\"\n", "agent.toml"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("agent.toml:7: direct.cabundle: unknown key")));
}

TEST(AgentConfigTest, BadValuesNameKeyAndLine) {
  struct Case {
    std::string text;
    std::string want;
  };
  const Case cases[] = {
      {absl::StrReplaceAll(kMinimal, {{"signer.example:8443", "signer.example"}}),
       "agent.toml:2: signer.address: \"signer.example\" is not a signer address"},
      {absl::StrReplaceAll(kMinimal, {{"signer.example:8443", "ipv4:10.0.0.1:1,10.0.0.2:1"}}),
       "agent.toml:2: signer.address: signer address \"ipv4:10.0.0.1:1,10.0.0.2:1\" lists "
       "replicas on different hosts"},
      {absl::StrReplaceAll(kMinimal, {{"signer.example:8443", "unix:/run/signer.sock"}}),
       "agent.toml:2: signer.address: \"unix:/run/signer.sock\" is not a signer address (the "
       "scheme \"unix:\" is not supported)"},
      {absl::StrReplaceAll(kMinimal,
                           {{"\"/etc/acme-agent/identity/signer-ca.pem\"", "\"ca.pem\""}}),
       "agent.toml:3: signer.ca: must be an absolute path"},
      {absl::StrReplaceAll(kMinimal, {{"dept.example", "Dept Example"}}),
       "agent.toml:5: identity.trust_domain: invalid trust domain \"Dept Example\""},
      {std::string(kMinimal) + "name = \"web/1\"\n",
       "agent.toml:6: identity.name: invalid agent name"},
      {std::string(kMinimal) + "[defaults]\nkey_type = \"dsa\"\n",
       "agent.toml:7: defaults.key_type: unsupported key type"},
      {std::string(kMinimal) + "[defaults]\nelliptic_curve = \"secp521r1\"\n",
       "agent.toml:7: defaults.elliptic_curve"},
      {std::string(kMinimal) + "[defaults]\nrsa_key_size = 1024\n",
       "agent.toml:7: defaults.rsa_key_size: 1024 is out of range 2048..4096"},
      {std::string(kMinimal) + "[defaults]\nauthenticator = \"apache\"\n",
       "agent.toml:7: defaults.authenticator: unknown authenticator"},
      {std::string(kMinimal) + "[defaults]\nhttp01_port = 70000\n",
       "agent.toml:7: defaults.http01_port: 70000 is out of range 1..65535"},
      {std::string(kMinimal) + "[defaults]\nhook_timeout_seconds = \"5m\"\n",
       "agent.toml:7: defaults.hook_timeout_seconds: expected an integer, got a string"},
      {"config_dir = 3\n" + std::string(kMinimal),
       "agent.toml:1: config_dir: expected a string, got an integer"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ParseAgentConfig(c.text, "agent.toml"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.want)))
        << c.text;
  }
}

TEST(AgentConfigTest, SignerAddressMayNameSeveralReplicas) {
  for (const char* address : {"ipv4:127.0.0.1:7443,127.0.0.1:7444", "ipv6:[::1]:7443,[::1]:7444",
                              "dns:///signer.dept.example:7443", "[::1]:7443"}) {
    auto config = ParseAgentConfig(
        absl::StrReplaceAll(kMinimal, {{"signer.example:8443", address}}), "agent.toml");
    ASSERT_THAT(config, IsOk()) << address;
    EXPECT_EQ(config->signer.address, address);
  }
  // Replicas on different hosts, with the one name they all present.
  auto named = ParseAgentConfig(
      absl::StrReplaceAll(kMinimal, {{"signer.example:8443\"",
                                      "ipv4:10.0.0.1:7443,10.0.0.2:7443\"\n"
                                      "tls_server_name = \"signer.dept.example\""}}),
      "agent.toml");
  ASSERT_THAT(named, IsOk());
  EXPECT_EQ(named->signer.tls_server_name, "signer.dept.example");
}

TEST(AgentConfigTest, RetrySecondsDefaultLeavesTheCommandWithinTwoMinutesAndIsBoundedByThem) {
  auto config = ParseAgentConfig(kMinimal, "agent.toml");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->signer.retry_window, absl::Seconds(110));
  auto none = ParseAgentConfig(
      absl::StrReplaceAll(kMinimal, {{"[identity]", "retry_seconds = 0\n[identity]"}}),
      "agent.toml");
  ASSERT_THAT(none, IsOk());
  EXPECT_EQ(none->signer.retry_window, absl::ZeroDuration());
  EXPECT_THAT(ParseAgentConfig(absl::StrReplaceAll(
                                   kMinimal, {{"[identity]", "retry_seconds = 121\n[identity]"}}),
                               "agent.toml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("signer.retry_seconds: 121 is out of range 0..120")));
}

TEST(AgentConfigTest, MissingRequiredSettingsAreNamed) {
  EXPECT_THAT(ParseAgentConfig("[identity]\ntrust_domain = \"d\"\n", "agent.toml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("agent.toml: signer: missing required table [signer]")));
  EXPECT_THAT(
      ParseAgentConfig("[signer]\nca = \"/x\"\n[identity]\ntrust_domain = \"d\"\n", "agent.toml"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("agent.toml:1: signer.address: missing required key (in [signer])")));
  EXPECT_THAT(ParseAgentConfig("[signer]\naddress = \"a:1\"\nca = \"/x\"\n", "agent.toml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("agent.toml: identity: missing required table [identity]")));
}

TEST(AgentConfigTest, EveryProblemIsReportedInOneRun) {
  const std::string text = absl::StrReplaceAll(kMinimal, {{"signer.example:8443", "signer"}}) +
                           "nmae = \"web1\"\n[defaults]\nhttp01_port = 0\n";
  auto config = ParseAgentConfig(text, "agent.toml");
  EXPECT_THAT(config,
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("agent.toml:2: signer.address: \"signer\" is not a signer address")));
  EXPECT_THAT(config, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("agent.toml:6: identity.nmae: unknown key")));
  EXPECT_THAT(config, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("agent.toml:8: defaults.http01_port: 0 is out of range")));
}

TEST(AgentConfigTest, SyntaxErrorsAndMissingFilesAreReported) {
  EXPECT_THAT(ParseAgentConfig("[signer\n", "agent.toml"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("agent.toml:1:")));
  EXPECT_THAT(LoadAgentConfig("/nonexistent/agent.toml"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/agent.toml")));
}

}  // namespace
}  // namespace acme_signer::agent
