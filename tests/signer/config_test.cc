#include "signer/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/key_type.h"

namespace acme_signer::signer {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSource[] = "/etc/acme-signer/acme-signer.toml";

// Every required key, nothing optional.
constexpr char kMinimal[] = R"([server]
tls_cert = "tls/server.pem"
tls_key = "tls/server.key"
agent_ca_cert = "/etc/acme-signer/tls/agent-ca.pem"
trust_domain = "dept.example"

[acme]
directory_url = "https://ca.example/dir"

[hsm]
module = "softhsm2"
pin_file = "hsm.pin"

[state]
dir = "state"

[audit]
log = "/var/log/acme-signer/audit.log"

[[agents]]
name = "web1"
allowed_names = ["www.dept.example"]
)";

// 1-based line of the first line containing `needle`.
int LineOf(const std::string& text, const std::string& needle) {
  const size_t pos = text.find(needle);
  EXPECT_NE(pos, std::string::npos) << needle;
  int line = 1;
  for (size_t i = 0; i < pos; ++i) line += text[i] == '\n';
  return line;
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return text.replace(pos, from.size(), to);
}

// Parses `text`, expects InvalidArgument, and returns the message.
std::string ErrorOf(const std::string& text) {
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(text, kSource);
  EXPECT_FALSE(config.ok());
  if (config.ok()) return "";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << config.status();
  return std::string(config.status().message());
}

std::string At(const std::string& text, const std::string& needle) {
  return absl::StrCat(kSource, ":", LineOf(text, needle), ": ");
}

TEST(SignerConfigTest, ParsesAFullConfigWithEveryKey) {
  const std::string text = R"(
[server]
listen = "[::1]:9443"
tls_cert = "/srv/tls/server.pem"
tls_key = "/srv/tls/server.key"
agent_ca_cert = "/srv/tls/agent-ca.pem"
trust_domain = "dept.example"
allow_root = true
max_message_bytes = 2097152
max_concurrent_rpcs = 16
handshake_timeout_ms = 3000
max_rpcs_in_flight_per_agent = 4

[acme]
directory_url = "https://localhost:14000/dir"
ca_bundle = "/srv/pebble.pem"
contact = ["mailto:pki@dept.example", "mailto:ops@dept.example"]
eab_kid = "kid-1"
preferred_chain = "Pebble Root CA"
terms_of_service_agreed = true

[hsm]
module = "/usr/lib/softhsm/libsofthsm2.so"
token_uri = "pkcs11:token=signer"
pin_file = "/srv/hsm.pin"
account_key = "pkcs11:object=acct"
account_key_type = "ec-p384"
eab_key = "pkcs11:object=eab"
agent_ca_key = "pkcs11:object=ca"
audit_key = "pkcs11:object=audit"
verify_every_signature = true

[state]
dir = "/var/lib/acme-signer"

[audit]
log = "/var/log/acme-signer/audit.log"
checkpoint_every = 100
rotate_bytes = 1000000
min_free_bytes = 5000000

[[agents]]
name = "web1"
allowed_names = ["www.dept.example", "*.web1.dept.example", "**.lab.dept.example"]
allow_wildcard_certificates = true
key_types = ["ec-p256", "rsa-3072", "ec-p256"]
max_identifiers_per_order = 5
orders_per_hour = 7
allow_sign_jws = true

[[agents]]
name = "db-2"
allowed_names = ["db2.dept.example"]
)";
  absl::StatusOr<SignerConfig> parsed = ParseSignerConfig(text, kSource);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const SignerConfig& config = *parsed;
  EXPECT_EQ(config.source, kSource);
  EXPECT_EQ(config.server.listen, "[::1]:9443");
  EXPECT_EQ(config.server.tls_cert, "/srv/tls/server.pem");
  EXPECT_EQ(config.server.tls_key, "/srv/tls/server.key");
  EXPECT_EQ(config.server.agent_ca_cert, "/srv/tls/agent-ca.pem");
  EXPECT_EQ(config.server.trust_domain, "dept.example");
  EXPECT_TRUE(config.server.allow_root);
  EXPECT_EQ(config.server.max_message_bytes, 2097152);
  EXPECT_EQ(config.server.max_concurrent_rpcs, 16);
  EXPECT_EQ(config.server.handshake_timeout_ms, 3000);
  EXPECT_EQ(config.server.max_rpcs_in_flight_per_agent, 4);

  EXPECT_EQ(config.accounts[0].directory_url, "https://localhost:14000/dir");
  EXPECT_EQ(config.accounts[0].ca_bundle, "/srv/pebble.pem");
  EXPECT_THAT(config.accounts[0].contact,
              ElementsAre("mailto:pki@dept.example", "mailto:ops@dept.example"));
  EXPECT_EQ(config.accounts[0].eab_kid, "kid-1");
  EXPECT_EQ(config.accounts[0].preferred_chain, "Pebble Root CA");
  EXPECT_TRUE(config.accounts[0].terms_of_service_agreed);

  EXPECT_EQ(config.hsm.module, "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_EQ(config.hsm.token_uri, "pkcs11:token=signer");
  EXPECT_EQ(config.hsm.pin_file, "/srv/hsm.pin");
  EXPECT_EQ(config.accounts[0].key, "pkcs11:object=acct");
  EXPECT_EQ(config.accounts[0].key_type, hsm::KeyType::kEcP384);
  EXPECT_EQ(config.accounts[0].eab_key, "pkcs11:object=eab");
  EXPECT_EQ(config.hsm.agent_ca_key, "pkcs11:object=ca");
  EXPECT_EQ(config.hsm.audit_key, "pkcs11:object=audit");
  EXPECT_TRUE(config.hsm.verify_every_signature);

  EXPECT_EQ(config.state.dir, "/var/lib/acme-signer");
  EXPECT_EQ(config.audit.log, "/var/log/acme-signer/audit.log");
  EXPECT_EQ(config.audit.checkpoint_every, 100);
  EXPECT_EQ(config.audit.rotate_bytes, 1000000);
  EXPECT_EQ(config.audit.min_free_bytes, 5000000);

  ASSERT_EQ(config.agents.size(), 2u);
  const AgentPolicy& web1 = config.agents[0];
  EXPECT_EQ(web1.name, "web1");
  EXPECT_THAT(web1.allowed_names,
              ElementsAre("www.dept.example", "*.web1.dept.example", "**.lab.dept.example"));
  EXPECT_TRUE(web1.allow_wildcard_certificates);
  EXPECT_THAT(web1.key_types, ElementsAre("ec-p256", "rsa-3072"));
  EXPECT_EQ(web1.max_identifiers_per_order, 5);
  EXPECT_EQ(web1.orders_per_hour, 7);
  EXPECT_TRUE(web1.allow_sign_jws);
  EXPECT_EQ(config.FindAgent("db-2"), &config.agents[1]);
  EXPECT_EQ(config.FindAgent("web3"), nullptr);
}

TEST(SignerConfigTest, AppliesDefaultsAndDeniesByDefault) {
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(kMinimal, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.listen, "127.0.0.1:7443");
  EXPECT_FALSE(config->server.allow_root);
  EXPECT_EQ(config->server.max_message_bytes, 1 << 20);
  EXPECT_EQ(config->server.handshake_timeout_ms, 10000);
  EXPECT_EQ(config->server.max_rpcs_in_flight_per_agent, 8);
  EXPECT_FALSE(config->accounts[0].ca_bundle.has_value());
  EXPECT_TRUE(config->accounts[0].contact.empty());
  EXPECT_FALSE(config->accounts[0].eab_kid.has_value());
  EXPECT_FALSE(config->accounts[0].terms_of_service_agreed);
  EXPECT_EQ(config->hsm.token_uri, "pkcs11:token=acme-signer");
  EXPECT_EQ(config->accounts[0].key, "pkcs11:object=acme-account");
  EXPECT_EQ(config->accounts[0].key_type, hsm::KeyType::kEcP256);
  EXPECT_EQ(config->accounts[0].eab_key, "pkcs11:object=eab-hmac");
  EXPECT_EQ(config->hsm.agent_ca_key, "pkcs11:object=agent-ca");
  EXPECT_EQ(config->hsm.audit_key, "pkcs11:object=audit-key");
  EXPECT_FALSE(config->hsm.verify_every_signature);
  EXPECT_EQ(config->audit.checkpoint_every, 256);
  EXPECT_FALSE(config->audit.rotate_bytes.has_value());
  ASSERT_EQ(config->agents.size(), 1u);
  const AgentPolicy& agent = config->agents[0];
  EXPECT_FALSE(agent.allow_wildcard_certificates);
  EXPECT_FALSE(agent.allow_sign_jws);
  EXPECT_THAT(agent.key_types,
              ElementsAre("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"));
  EXPECT_EQ(agent.max_identifiers_per_order, 10);
  EXPECT_EQ(agent.orders_per_hour, 30);
}

TEST(SignerConfigTest, ResolvesRelativePathsAgainstTheConfigFileDirectory) {
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(kMinimal, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.tls_cert, "/etc/acme-signer/tls/server.pem");
  EXPECT_EQ(config->server.tls_key, "/etc/acme-signer/tls/server.key");
  EXPECT_EQ(config->hsm.pin_file, "/etc/acme-signer/hsm.pin");
  EXPECT_EQ(config->state.dir, "/etc/acme-signer/state");
  // A module name without '/' is a p11-kit module name, not a path.
  EXPECT_EQ(config->hsm.module, "softhsm2");

  const std::string dotted = Replace(kMinimal, "\"hsm.pin\"", "\"../secrets/./hsm.pin\"");
  config = ParseSignerConfig(dotted, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->hsm.pin_file, "/etc/secrets/hsm.pin");
}

TEST(SignerConfigTest, AcceptsAConfigWithoutAgents) {
  const std::string text = Replace(
      kMinimal, "[[agents]]\nname = \"web1\"\nallowed_names = [\"www.dept.example\"]\n", "");
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(text, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->agents.empty());
  EXPECT_EQ(config->FindAgent("web1"), nullptr);
}

TEST(SignerConfigTest, TheShippedExampleConfigIsValid) {
  const std::string path = std::string(__FILE__).substr(0, std::string(__FILE__).rfind("/tests/")) +
                           "/deploy/acme-signer.toml";
  absl::StatusOr<SignerConfig> config = LoadSignerConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.trust_domain, "dept.example");
  ASSERT_NE(config->FindAgent("web1"), nullptr);
  EXPECT_FALSE(config->FindAgent("web1")->allow_sign_jws);
  // The example uses [[accounts]] with the account "default" on its usual HSM objects.
  ASSERT_EQ(config->accounts.size(), 1u);
  EXPECT_EQ(config->accounts[0].name, "default");
  EXPECT_EQ(config->accounts[0].key, DefaultAccountKeyUri("default"));
  EXPECT_EQ(config->accounts[0].eab_key, DefaultEabKeyUri("default"));
  EXPECT_EQ(config->FindAgent("web1")->default_account, "default");
}

TEST(SignerConfigTest, LoadReadsTheFileAndResolvesPathsBesideIt) {
  char dir_template[] = "/tmp/config_test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string path = dir + "/signer.toml";
  ASSERT_TRUE(WriteFileAtomically(path, kMinimal, 0644).ok());
  absl::StatusOr<SignerConfig> config = LoadSignerConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->hsm.pin_file, dir + "/hsm.pin");
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

TEST(SignerConfigTest, LoadOfAMissingFileIsNotFoundNamingThePath) {
  absl::StatusOr<SignerConfig> config = LoadSignerConfig("/nonexistent/acme-signer.toml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("/nonexistent/acme-signer.toml"));
}

TEST(SignerConfigTest, UnknownKeyIsNamedWithItsLine) {
  const std::string text = Replace(kMinimal, "[acme]\n", "[acme]\ndirectory = \"x\"\n");
  const std::string message = ErrorOf(text);
  EXPECT_THAT(message, HasSubstr(At(text, "directory = ") + "acme.directory: unknown key"));
  EXPECT_THAT(message, HasSubstr("directory_url"));  // lists the known keys
}

TEST(SignerConfigTest, UnknownKeyInAnAgentIsNamedWithItsIndexAndLine) {
  const std::string text = absl::StrCat(kMinimal, "allowed_name = [\"a.dept.example\"]\n");
  EXPECT_THAT(ErrorOf(text),
              HasSubstr(At(text, "allowed_name = ") + "agents[0].allowed_name: unknown key"));
}

TEST(SignerConfigTest, UnknownTopLevelTableIsNamed) {
  const std::string text = absl::StrCat(kMinimal, "\n[metricz]\nlisten = \"x\"\n");
  EXPECT_THAT(ErrorOf(text), HasSubstr(At(text, "[metricz]") + "metricz: unknown key"));
}

TEST(SignerConfigTest, WrongTypeNamesTheExpectedAndActualType) {
  const std::string text =
      Replace(kMinimal, "[server]\n", "[server]\nmax_concurrent_rpcs = \"64\"\n");
  EXPECT_THAT(ErrorOf(text),
              HasSubstr(At(text, "max_concurrent_rpcs") +
                        "server.max_concurrent_rpcs: expected an integer, got a string"));
}

TEST(SignerConfigTest, CaRequestTimeoutDefaultsToThirtySecondsAndIsBounded) {
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(kMinimal, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->accounts[0].request_timeout_ms, 30000);
  const std::string set =
      Replace(kMinimal, "[acme]\n", "[acme]\nrequest_timeout_ms = 3000\n");
  config = ParseSignerConfig(set, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->accounts[0].request_timeout_ms, 3000);
  for (const char* value : {"999", "600001"}) {
    const std::string text =
        Replace(kMinimal, "[acme]\n", absl::StrCat("[acme]\nrequest_timeout_ms = ", value, "\n"));
    EXPECT_THAT(ErrorOf(text), HasSubstr(absl::StrCat(At(text, "request_timeout_ms"),
                                                      "acme.request_timeout_ms: ", value,
                                                      " is out of range 1000..600000")));
  }
}

TEST(SignerConfigTest, HandshakeTimeoutOutsideItsRangeIsRefused) {
  // Below a second a slow but honest TLS client could not connect; above five minutes a
  // silent peer holds a socket for longer than anyone would notice.
  for (const char* value : {"999", "300001", "-1"}) {
    const std::string text = Replace(kMinimal, "[server]\n",
                                     absl::StrCat("[server]\nhandshake_timeout_ms = ", value, "\n"));
    EXPECT_THAT(ErrorOf(text), HasSubstr(absl::StrCat(At(text, "handshake_timeout_ms"),
                                                      "server.handshake_timeout_ms: ", value,
                                                      " is out of range 1000..300000")));
  }
}

TEST(SignerConfigTest, AuditMinFreeBytesDefaultsTo100MiBAndZeroDisablesIt) {
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(kMinimal, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->audit.min_free_bytes, int64_t{100} << 20);
  for (const char* value : {"0", "1048576"}) {
    const std::string text =
        Replace(kMinimal, "[audit]\n", absl::StrCat("[audit]\nmin_free_bytes = ", value, "\n"));
    config = ParseSignerConfig(text, kSource);
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(absl::StrCat(config->audit.min_free_bytes), value);
  }
}

TEST(SignerConfigTest, AuditMinFreeBytesOutsideItsRangeIsNamedWithItsLine) {
  const std::string text =
      Replace(kMinimal, "[audit]\n", "[audit]\nmin_free_bytes = -1\n");
  EXPECT_THAT(ErrorOf(text), HasSubstr(At(text, "min_free_bytes") +
                                       "audit.min_free_bytes: -1 is out of range 0.."));
}

TEST(SignerConfigTest, WrongTypeInsideAnArrayNamesTheElement) {
  const std::string text =
      Replace(kMinimal, "[acme]\n", "[acme]\ncontact = [\"mailto:a@b.example\", 5]\n");
  EXPECT_THAT(ErrorOf(text), HasSubstr(At(text, "contact =") +
                                       "acme.contact[1]: expected a string, got an integer"));
}

TEST(SignerConfigTest, OutOfRangeIntegerNamesTheRange) {
  const std::string text = Replace(kMinimal, "[audit]\n", "[audit]\ncheckpoint_every = 0\n");
  EXPECT_THAT(ErrorOf(text), HasSubstr(At(text, "checkpoint_every") +
                                       "audit.checkpoint_every: 0 is out of range 1..1000000"));
}

TEST(SignerConfigTest, BadKeyTypeIsNamedWithTheAcceptedValues) {
  const std::string text = Replace(kMinimal, "[hsm]\n", "[hsm]\naccount_key_type = \"ed25519\"\n");
  const std::string message = ErrorOf(text);
  EXPECT_THAT(message, HasSubstr(At(text, "account_key_type") +
                                 "hsm.account_key_type: \"ed25519\" is not a key type"));
  EXPECT_THAT(message, HasSubstr("ec-p256"));
}

TEST(SignerConfigTest, BadAgentKeyTypeNamesTheArrayElement) {
  const std::string text = absl::StrCat(kMinimal, "key_types = [\"ec-p256\", \"rsa-1024\"]\n");
  EXPECT_THAT(ErrorOf(text), HasSubstr(At(text, "key_types") +
                                       "agents[0].key_types[1]: \"rsa-1024\" is not a key type"));
}

TEST(SignerConfigTest, BadNamePatternsAreRefusedWithTheirLine) {
  for (const char* bad : {"*", "www.*.dept.example", "WWW.dept.example", "a..dept.example", "*.",
                          "dept.example.", "-a.dept.example", "a_b.dept.example"}) {
    SCOPED_TRACE(bad);
    const std::string text = Replace(kMinimal, "[\"www.dept.example\"]",
                                     absl::StrCat("[\n  \"ok.dept.example\",\n  \"", bad, "\"]"));
    const std::string message = ErrorOf(text);
    EXPECT_THAT(message, HasSubstr(absl::StrCat(kSource, ":", LineOf(text, "ok.dept") + 1,
                                                ": agents[0].allowed_names[1]: ")));
  }
}

TEST(SignerConfigTest, EmptyAllowedNamesIsRefused) {
  const std::string text = Replace(kMinimal, "[\"www.dept.example\"]", "[]");
  EXPECT_THAT(ErrorOf(text), HasSubstr(At(text, "allowed_names") +
                                       "agents[0].allowed_names: must list at least one"));
}

TEST(SignerConfigTest, BadAgentNameIsRefused) {
  for (const char* bad : {"Web1", "web_1", "web.1", "-web", ""}) {
    SCOPED_TRACE(bad);
    const std::string text =
        Replace(kMinimal, "name = \"web1\"", absl::StrCat("name = \"", bad, "\""));
    EXPECT_THAT(ErrorOf(text), HasSubstr(At(text, "name = ") + "agents[0].name: "));
  }
}

TEST(SignerConfigTest, DuplicateAgentNameNamesBothLines) {
  const std::string text = absl::StrCat(
      kMinimal, "\n[[agents]]\nname = \"web1\"\nallowed_names = [\"x.dept.example\"]\n");
  const int first = LineOf(text, "name = \"web1\"");
  const int second = LineOf(text.substr(0, text.rfind("name = \"web1\"")) + "#", "#");
  EXPECT_THAT(ErrorOf(text),
              HasSubstr(absl::StrCat(kSource, ":", second,
                                     ": agents[1].name: duplicate agent name \"web1\" (first "
                                     "defined at line ",
                                     first, ")")));
}

TEST(SignerConfigTest, PlainHttpDirectoryIsRefused) {
  const std::string text = Replace(kMinimal, "https://ca.example/dir", "http://ca.example/dir");
  EXPECT_THAT(ErrorOf(text),
              HasSubstr(At(text, "directory_url") +
                        "acme.directory_url: \"http://ca.example/dir\" uses http://; ACME "
                        "requires https://"));
}

// The same rule as the ACME client's (http::ParseHttpsUrl), so a directory URL the client
// would refuse at start-up is refused when the configuration is loaded.
TEST(SignerConfigTest, DirectoryUrlTheAcmeClientWouldRefuseIsRefused) {
  const struct {
    const char* url;
    const char* why;
  } cases[] = {
      {"https://user@ca.example/dir", "it has userinfo before '@'"},
      {"https:///dir", "no usable host"},
      {"ca.example/dir", "not an absolute URL"},
      {"ftp://ca.example/dir", "scheme is ftp"},
      {"https://ca.example:99999/dir", "bad port"},
  };
  for (const auto& [url, why] : cases) {
    const std::string text = Replace(kMinimal, "https://ca.example/dir", url);
    EXPECT_THAT(ErrorOf(text), HasSubstr(absl::StrCat(At(text, "directory_url"),
                                                      "acme.directory_url: \"", url,
                                                      "\" is not a usable https:// URL: ", why)))
        << url;
  }
  const std::string upper = Replace(kMinimal, "https://ca.example/dir", "HTTPS://CA.example/dir");
  EXPECT_TRUE(ParseSignerConfig(upper, kSource).ok());
}

TEST(SignerConfigTest, MissingRequiredKeyIsNamedAtItsTable) {
  const std::string text = Replace(kMinimal, "trust_domain = \"dept.example\"\n", "");
  EXPECT_THAT(ErrorOf(text),
              HasSubstr(At(text, "[server]") + "server.trust_domain: missing required key"));
}

TEST(SignerConfigTest, MissingRequiredTableIsNamed) {
  const std::string text = Replace(kMinimal, "[state]\ndir = \"state\"\n", "");
  EXPECT_THAT(ErrorOf(text),
              HasSubstr(absl::StrCat(kSource, ": state: missing required table [state]")));
}

// With backend = "postgresql" the one audit chain of all replicas is in the database: the
// [audit] section is optional and the keys about a local log file are refused, not ignored.
TEST(SignerConfigTest, PostgresqlBackendNeedsNoAuditSectionAndRefusesALocalLog) {
  const std::string pg = Replace(kMinimal, "[state]\ndir = \"state\"\n",
                                 "[state]\ndir = \"state\"\nbackend = \"postgresql\"\n"
                                 "url = \"host=/run/postgresql dbname=acme_signer\"\n");
  const std::string without_audit =
      Replace(pg, "[audit]\nlog = \"/var/log/acme-signer/audit.log\"\n", "");
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(without_audit, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->audit.log, "");
  EXPECT_EQ(config->audit.checkpoint_every, 256);
  EXPECT_EQ(config->audit.min_free_bytes, 0) << "no local log file system to watch";

  const std::string cadence = Replace(pg, "log = \"/var/log/acme-signer/audit.log\"\n",
                                      "checkpoint_every = 64\n");
  config = ParseSignerConfig(cadence, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->audit.checkpoint_every, 64);

  EXPECT_THAT(ErrorOf(pg), HasSubstr(At(pg, "log = ") + "audit.log: is only used with [state] "
                                                         "backend = \"sqlite\""));
  const std::string rotate = Replace(pg, "log = \"/var/log/acme-signer/audit.log\"\n",
                                     "rotate_bytes = 1000000\n");
  EXPECT_THAT(ErrorOf(rotate), HasSubstr("audit.rotate_bytes: is only used with"));
  // SQLite keeps requiring the log.
  EXPECT_THAT(ErrorOf(Replace(kMinimal, "log = \"/var/log/acme-signer/audit.log\"\n", "")),
              HasSubstr("audit.log: missing required key"));
}

TEST(SignerConfigTest, AgentsAsAPlainTableIsRefused) {
  const std::string text = Replace(kMinimal, "[[agents]]", "[agents]");
  EXPECT_THAT(ErrorOf(text), HasSubstr("agents: expected an array of tables ([[agents]]"));
}

TEST(SignerConfigTest, TomlSyntaxErrorNamesLineAndColumn) {
  const std::string text = Replace(kMinimal, "[acme]\n", "[acme]\nbroken = \n");
  EXPECT_THAT(ErrorOf(text), HasSubstr(absl::StrCat(kSource, ":", LineOf(text, "broken"), ":")));
  EXPECT_THAT(ErrorOf(text), HasSubstr("TOML syntax error"));
}

TEST(SignerConfigTest, BadListenAddressesAreRefused) {
  for (const char* bad : {"7443", "127.0.0.1:", "127.0.0.1:99999", "::1:7443", "[::1:7443",
                          "[nothost]:1", "unix:relative", "host name:1", "127.0.0.1:-1"}) {
    SCOPED_TRACE(bad);
    const std::string text =
        Replace(kMinimal, "[server]\n", absl::StrCat("[server]\nlisten = \"", bad, "\"\n"));
    EXPECT_THAT(ErrorOf(text), HasSubstr(At(text, "listen") + "server.listen: "));
  }
  for (const char* good : {"0.0.0.0:7443", "localhost:0", "[::]:7443", "unix:/run/signer.sock",
                           "signer.dept.example:443"}) {
    SCOPED_TRACE(good);
    const std::string text =
        Replace(kMinimal, "[server]\n", absl::StrCat("[server]\nlisten = \"", good, "\"\n"));
    absl::StatusOr<SignerConfig> config = ParseSignerConfig(text, kSource);
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->server.listen, good);
  }
}

TEST(SignerConfigTest, ContactMustBeASingleMailtoAddress) {
  for (const char* bad :
       {"admin@dept.example", "mailto:", "mailto:a@b@c", "mailto:a@b,c@d", "tel:+4912345"}) {
    SCOPED_TRACE(bad);
    const std::string text =
        Replace(kMinimal, "[acme]\n", absl::StrCat("[acme]\ncontact = [\"", bad, "\"]\n"));
    EXPECT_THAT(ErrorOf(text), HasSubstr(At(text, "contact") + "acme.contact[0]: "));
  }
}

TEST(SignerConfigTest, PinValueInAUriIsRefusedWithoutEchoingThePin) {
  const std::string text =
      Replace(kMinimal, "[hsm]\n", "[hsm]\ntoken_uri = \"pkcs11:token=t;pin-value=hunter2\"\n");
  const std::string message = ErrorOf(text);
  EXPECT_THAT(message, HasSubstr(At(text, "token_uri") + "hsm.token_uri: the URI contains "
                                                         "pin-value"));
  EXPECT_THAT(message, Not(HasSubstr("hunter2")));
}

TEST(SignerConfigTest, NonPkcs11KeyReferenceIsRefused) {
  const std::string text =
      Replace(kMinimal, "[hsm]\n", "[hsm]\naccount_key = \"/etc/acme-signer/account.key\"\n");
  EXPECT_THAT(ErrorOf(text), HasSubstr(At(text, "account_key") +
                                       "hsm.account_key: \"/etc/acme-signer/account.key\" is not "
                                       "a PKCS#11 URI"));
}

TEST(SignerConfigTest, BadTrustDomainIsRefused) {
  const std::string text =
      Replace(kMinimal, "trust_domain = \"dept.example\"", "trust_domain = \"Dept.Example\"");
  EXPECT_THAT(ErrorOf(text), HasSubstr(At(text, "trust_domain") + "server.trust_domain: "));
}

TEST(SignerConfigTest, TildePathsAreRefusedRatherThanMisresolved) {
  const std::string text = Replace(kMinimal, "\"hsm.pin\"", "\"~/hsm.pin\"");
  EXPECT_THAT(ErrorOf(text),
              HasSubstr(At(text, "pin_file") + "hsm.pin_file: \"~/hsm.pin\": '~' is not expanded"));
}

TEST(SignerConfigTest, ReportsEveryProblemAtOnce) {
  std::string text = Replace(kMinimal, "https://", "http://");
  text = Replace(text, "[state]\n", "[state]\nfoo = 1\n");
  text = absl::StrCat(text, "orders_per_hour = 0\n");
  const std::string message = ErrorOf(text);
  EXPECT_THAT(message, HasSubstr("acme.directory_url"));
  EXPECT_THAT(message, HasSubstr("state.foo: unknown key"));
  EXPECT_THAT(message, HasSubstr("agents[0].orders_per_hour: 0 is out of range"));
}

constexpr char kFingerprintA[] = "3b1f0c5a8e2d4f6a9b7c1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9e1f3a";
constexpr char kFingerprintB[] = "0000000000000000000000000000000000000000000000000000000000000001";

TEST(SignerConfigTest, RevokedAgentCertsAreEmptyByDefault) {
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(kMinimal, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->server.revoked_agent_certs.empty());
  EXPECT_FALSE(config->server.IsRevoked(kFingerprintA));
}

TEST(SignerConfigTest, RevokedAgentCertsAreParsedAndLookedUp) {
  const std::string text =
      Replace(kMinimal, "[server]\n",
              absl::StrCat("[server]\nrevoked_agent_certs = [\n  \"", kFingerprintA, "\",\n  \"",
                           kFingerprintB, "\",\n]\n"));
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(text, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->server.revoked_agent_certs, ElementsAre(kFingerprintA, kFingerprintB));
  EXPECT_TRUE(config->server.IsRevoked(kFingerprintA));
  EXPECT_TRUE(config->server.IsRevoked(kFingerprintB));
  EXPECT_FALSE(config->server.IsRevoked(std::string(64, 'f')));
  EXPECT_FALSE(config->server.IsRevoked(""));
}

TEST(SignerConfigTest, RevokedAgentCertThatIsNotAFingerprintIsNamedWithItsLine) {
  const std::string upper = absl::AsciiStrToUpper(kFingerprintA);
  const std::string text =
      Replace(kMinimal, "[server]\n",
              absl::StrCat("[server]\nrevoked_agent_certs = [\n\"abc\",\n\"", upper, "\",\n]\n"));
  const std::string message = ErrorOf(text);
  EXPECT_THAT(message, HasSubstr(At(text, "\"abc\"") +
                                 "server.revoked_agent_certs[0]: \"abc\" is not a SHA-256 "
                                 "fingerprint: expected 64 lowercase hex characters"));
  EXPECT_THAT(message, HasSubstr(At(text, upper) + "server.revoked_agent_certs[1]: \"" + upper +
                                 "\" is not a SHA-256 fingerprint"));
}

TEST(SignerConfigTest, RevokedAgentCertListedTwiceIsNamedWithBothLines) {
  const std::string text =
      Replace(kMinimal, "[server]\n",
              absl::StrCat("[server]\nrevoked_agent_certs = [\n\"", kFingerprintA, "\",\n\"",
                           kFingerprintA, "\",\n]\n"));
  const int first = LineOf(text, kFingerprintA);
  EXPECT_THAT(ErrorOf(text), HasSubstr(absl::StrCat(
                                 kSource, ":", first + 1, ": server.revoked_agent_certs[1]: \"",
                                 kFingerprintA, "\" is listed twice (first on line ", first, ")")));
}

TEST(SignerConfigTest, RevokedAgentCertsMustBeAnArrayOfStrings) {
  const std::string not_array =
      Replace(kMinimal, "[server]\n",
              absl::StrCat("[server]\nrevoked_agent_certs = \"", kFingerprintA, "\"\n"));
  EXPECT_THAT(ErrorOf(not_array),
              HasSubstr(At(not_array, "revoked_agent_certs") +
                        "server.revoked_agent_certs: expected an array, got a string"));
  const std::string not_string =
      Replace(kMinimal, "[server]\n", "[server]\nrevoked_agent_certs = [7]\n");
  EXPECT_THAT(ErrorOf(not_string),
              HasSubstr(At(not_string, "revoked_agent_certs") +
                        "server.revoked_agent_certs[0]: expected a string, got an integer"));
}

constexpr char kAcmeServer[] = R"(
[acme_server]
listen = "0.0.0.0:8443"
external_url = "https://signer.dept.example:8443/"
tls_certificate = "tls/front-door.pem"
tls_private_key = "/etc/acme-signer/tls/front-door.key"
validation_resolver = "127.0.0.1:8053"
validation_http_port = 5002
validation_allowed_networks = ["10.0.0.0/8", "2001:db8::/32"]
upstream_dns01_hook = "hooks/dns01"
)";

TEST(SignerConfigTest, ParsesTheAcmeServerSection) {
  const std::string text = absl::StrCat(kMinimal, kAcmeServer);
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(text, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->acme_server.has_value());
  const AcmeServerConfig& server = *config->acme_server;
  EXPECT_EQ(server.listen, "0.0.0.0:8443");
  // The trailing '/' is dropped: resource URLs are external_url + "/directory" etc.
  EXPECT_EQ(server.external_url, "https://signer.dept.example:8443");
  EXPECT_EQ(server.tls_certificate, "/etc/acme-signer/tls/front-door.pem");
  EXPECT_EQ(server.tls_private_key, "/etc/acme-signer/tls/front-door.key");
  EXPECT_EQ(server.validation_resolver, "127.0.0.1:8053");
  EXPECT_EQ(server.validation_http_port, 5002);
  EXPECT_THAT(server.validation_allowed_networks, ElementsAre("10.0.0.0/8", "2001:db8::/32"));
  EXPECT_EQ(server.upstream_dns01_hook, std::optional<std::string>("/etc/acme-signer/hooks/dns01"));
}

TEST(SignerConfigTest, AcmeServerDefaultsAndAbsence) {
  absl::StatusOr<SignerConfig> without = ParseSignerConfig(kMinimal, kSource);
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_FALSE(without->acme_server.has_value());

  const std::string text = absl::StrCat(kMinimal, R"(
[acme_server]
listen = "[::]:8443"
external_url = "https://signer.dept.example/acme"
tls_certificate = "fd.pem"
tls_private_key = "fd.key"
validation_resolver = ""
)");
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(text, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->acme_server.has_value());
  EXPECT_EQ(config->acme_server->external_url, "https://signer.dept.example/acme");
  EXPECT_EQ(config->acme_server->validation_resolver, "");
  EXPECT_EQ(config->acme_server->validation_http_port, 80);
  EXPECT_TRUE(config->acme_server->validation_allowed_networks.empty());
  EXPECT_FALSE(config->acme_server->upstream_dns01_hook.has_value());
}

TEST(SignerConfigTest, MetricsSectionDefaultsValuesAndProblems) {
  absl::StatusOr<SignerConfig> without = ParseSignerConfig(kMinimal, kSource);
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_FALSE(without->metrics.has_value());

  absl::StatusOr<SignerConfig> defaults =
      ParseSignerConfig(absl::StrCat(kMinimal, "\n[metrics]\n"), kSource);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  ASSERT_TRUE(defaults->metrics.has_value());
  EXPECT_EQ(defaults->metrics->listen, "127.0.0.1:9464");
  EXPECT_EQ(defaults->metrics->path, "/metrics");

  absl::StatusOr<SignerConfig> set = ParseSignerConfig(
      absl::StrCat(kMinimal, "\n[metrics]\nlisten = \"[::1]:9100\"\npath = \"/m/x_1\"\n"),
      kSource);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->metrics->listen, "[::1]:9100");
  EXPECT_EQ(set->metrics->path, "/m/x_1");

  const std::string unix_listen =
      absl::StrCat(kMinimal, "\n[metrics]\nlisten = \"unix:/run/m.sock\"\n");
  EXPECT_THAT(ErrorOf(unix_listen),
              HasSubstr(At(unix_listen, "listen = \"unix") + "metrics.listen: "));
  const std::string bad_path =
      absl::StrCat(kMinimal, "\n[metrics]\npath = \"metrics?x=<1>\"\n");
  EXPECT_THAT(ErrorOf(bad_path), HasSubstr(At(bad_path, "path = ") + "metrics.path: "));
}

TEST(SignerConfigTest, UnknownKeyInAcmeServerIsNamedWithItsLine) {
  const std::string text = absl::StrCat(kMinimal, kAcmeServer, "eab_hmac_key = \"x\"\n");
  EXPECT_THAT(ErrorOf(text), HasSubstr(At(text, "eab_hmac_key") + "acme_server.eab_hmac_key"));
}

TEST(SignerConfigTest, MissingRequiredAcmeServerKeysAreNamed) {
  const std::string text = absl::StrCat(kMinimal, "\n[acme_server]\nlisten = \"0.0.0.0:8443\"\n");
  const std::string error = ErrorOf(text);
  EXPECT_THAT(error, HasSubstr("acme_server.external_url"));
  EXPECT_THAT(error, HasSubstr("acme_server.tls_certificate"));
  EXPECT_THAT(error, HasSubstr("acme_server.tls_private_key"));
}

TEST(SignerConfigTest, BadAcmeServerValuesAreRefusedWithTheirLine) {
  struct Case {
    std::string from;
    std::string to;
    std::string message;
  };
  const Case cases[] = {
      {"listen = \"0.0.0.0:8443\"", "listen = \"unix:/run/fd.sock\"", "listens on TCP"},
      {"listen = \"0.0.0.0:8443\"", "listen = \"0.0.0.0:99999\"", "0..65535"},
      {"listen = \"0.0.0.0:8443\"", "listen = \"localhost:8443\"",
       "not a numeric IPv4 address"},
      {"external_url = \"https://signer.dept.example:8443/\"",
       "external_url = \"http://signer.dept.example:8443/\"", "https://"},
      {"external_url = \"https://signer.dept.example:8443/\"",
       "external_url = \"https://signer.dept.example/?x=1\"", "query or fragment"},
      {"external_url = \"https://signer.dept.example:8443/\"",
       "external_url = \"https://user@signer.dept.example/\"", "userinfo"},
      {"validation_resolver = \"127.0.0.1:8053\"", "validation_resolver = \"dns.example:53\"",
       "not a numeric IP address"},
      {"validation_resolver = \"127.0.0.1:8053\"", "validation_resolver = \"127.0.0.1:\"",
       "empty port"},
      {"validation_resolver = \"127.0.0.1:8053\"", "validation_resolver = \"127.0.0.1:0\"",
       "bad port"},
      {"validation_http_port = 5002", "validation_http_port = 0", "validation_http_port"},
      {"validation_allowed_networks = [\"10.0.0.0/8\", \"2001:db8::/32\"]",
       "validation_allowed_networks = [\"10.0.0.0/8\", 5]", "validation_allowed_networks"},
      {"validation_allowed_networks = [\"10.0.0.0/8\", \"2001:db8::/32\"]",
       "validation_allowed_networks = [\"10.0.0.0/8\", \"10.1.2.3/8\"]", "did you mean 10.0.0.0/8"},
      {"validation_allowed_networks = [\"10.0.0.0/8\", \"2001:db8::/32\"]",
       "validation_allowed_networks = [\"10.0.0.0/33\"]", "validation_allowed_networks"},
  };
  for (const Case& c : cases) {
    const std::string text = Replace(absl::StrCat(kMinimal, kAcmeServer), c.from, c.to);
    const std::string error = ErrorOf(text);
    EXPECT_THAT(error, HasSubstr(At(text, c.to))) << c.to;
    EXPECT_THAT(error, HasSubstr(c.message)) << c.to;
  }
}

TEST(SignerConfigTest, FrontDoorIsDeniedByDefaultAndAllowedPerAgent) {
  const std::string text = absl::StrCat(kMinimal, R"(front_door = true

[[agents]]
name = "web2"
allowed_names = ["web2.dept.example"]

[[agents]]
name = "web3"
allowed_names = ["web3.dept.example"]
front_door = false
)");
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(text, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->agents.size(), 3u);
  EXPECT_TRUE(config->FindAgent("web1")->front_door);
  EXPECT_FALSE(config->FindAgent("web2")->front_door);
  EXPECT_FALSE(config->FindAgent("web3")->front_door);

  const std::string bad = absl::StrCat(kMinimal, "front_door = \"yes\"\n");
  EXPECT_THAT(ErrorOf(bad), HasSubstr(At(bad, "front_door") + "agents[0].front_door"));
}

}  // namespace
TEST(SignerConfigTest, AgentCertificateLifetimeDefaultsTo30DaysAndTakesMinutes) {
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(kMinimal, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.agent_certificate_lifetime, absl::Hours(24 * 30));
  EXPECT_FALSE(config->server.enroll_listen.has_value());

  config = ParseSignerConfig(
      Replace(kMinimal, "[server]\n",
              "[server]\nagent_certificate_lifetime = \"10m\"\nenroll_listen = \"127.0.0.1:0\"\n"),
      kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.agent_certificate_lifetime, absl::Minutes(10));
  EXPECT_EQ(config->server.enroll_listen, "127.0.0.1:0");
  EXPECT_EQ(ParseAgentCertificateLifetime("90d").value_or(absl::ZeroDuration()), absl::Hours(24 * 90));
  EXPECT_EQ(ParseAgentCertificateLifetime("1h30m").value_or(absl::ZeroDuration()), absl::Minutes(90));
}

TEST(SignerConfigTest, BadAgentCertificateLifetimesAndEnrollListenersAreNamed) {
  EXPECT_THAT(ErrorOf(Replace(kMinimal, "[server]\n",
                              "[server]\nagent_certificate_lifetime = \"2m\"\n")),
              HasSubstr("server.agent_certificate_lifetime: \"2m\" is out of range"));
  EXPECT_THAT(ErrorOf(Replace(kMinimal, "[server]\n",
                              "[server]\nagent_certificate_lifetime = \"a year\"\n")),
              HasSubstr("is not a lifetime"));
  EXPECT_THAT(ErrorOf(Replace(kMinimal, "[server]\n",
                              "[server]\nenroll_listen = \"unix:/run/x.sock\"\n")),
              HasSubstr("server.enroll_listen"));
}

// --- several accounts ([[accounts]]) ------------------------------------------------------

constexpr char kAcmeSection[] = "[acme]\ndirectory_url = \"https://ca.example/dir\"\n";

// kMinimal with [acme] replaced by `accounts` ([[accounts]] entries).
std::string WithAccounts(const std::string& accounts) {
  return Replace(kMinimal, kAcmeSection, accounts);
}

constexpr char kTwoProfiles[] = R"([[accounts]]
name = "rsa-ov"
directory_url = "https://acme.sectigo.com/v2/InCommonRSAOV"
eab_kid = "kid-rsa"
key_type = "rsa-2048"

[[accounts]]
name = "ecc-ov"
directory_url = "https://acme.sectigo.com/v2/InCommonECCOV"
eab_kid = "kid-ecc"
contact = ["mailto:pki@dept.example"]
)";

TEST(SignerConfigAccountsTest, SeveralAccountsAreParsedWithPerAccountDefaults) {
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(WithAccounts(kTwoProfiles), kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->accounts.size(), 2u);
  const AccountConfig& rsa = config->accounts[0];
  EXPECT_EQ(rsa.name, "rsa-ov");
  EXPECT_EQ(rsa.directory_url, "https://acme.sectigo.com/v2/InCommonRSAOV");
  EXPECT_EQ(rsa.eab_kid, "kid-rsa");
  EXPECT_EQ(rsa.key_type, hsm::KeyType::kRsa2048);
  EXPECT_EQ(rsa.key, "pkcs11:object=acme-account-rsa-ov");
  EXPECT_EQ(rsa.eab_key, "pkcs11:object=eab-hmac-rsa-ov");
  const AccountConfig& ecc = config->accounts[1];
  EXPECT_EQ(ecc.name, "ecc-ov");
  EXPECT_EQ(ecc.key_type, hsm::KeyType::kEcP256);
  EXPECT_EQ(ecc.key, "pkcs11:object=acme-account-ecc-ov");
  EXPECT_EQ(ecc.eab_key, "pkcs11:object=eab-hmac-ecc-ov");
  EXPECT_THAT(ecc.contact, ElementsAre("mailto:pki@dept.example"));
  EXPECT_EQ(config->FindAccount("ecc-ov"), &config->accounts[1]);
  EXPECT_EQ(config->FindAccount("default"), nullptr);
  // An agent without an accounts list, and no account named "default": the first account.
  const AgentPolicy* web1 = config->FindAgent("web1");
  ASSERT_NE(web1, nullptr);
  EXPECT_THAT(web1->accounts, ElementsAre("rsa-ov"));
  EXPECT_EQ(web1->default_account, "rsa-ov");
  EXPECT_TRUE(web1->MayUseAccount("rsa-ov"));
  EXPECT_FALSE(web1->MayUseAccount("ecc-ov"));
}

TEST(SignerConfigAccountsTest, AnAccountNamedDefaultKeepsTheLegacyObjectLabels) {
  const std::string text =
      WithAccounts(absl::StrCat(kTwoProfiles,
                                "\n[[accounts]]\nname = \"default\"\n"
                                "directory_url = \"https://ca.example/dir\"\n"));
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(text, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  const AccountConfig* account = config->FindAccount("default");
  ASSERT_NE(account, nullptr);
  EXPECT_EQ(account->key, "pkcs11:object=acme-account");
  EXPECT_EQ(account->eab_key, "pkcs11:object=eab-hmac");
  EXPECT_EQ(DefaultAccountKeyUri("default"), "pkcs11:object=acme-account");
  EXPECT_EQ(DefaultEabKeyUri("default"), "pkcs11:object=eab-hmac");
  // An agent without an accounts list may use `default` only, even when it is not the first.
  const AgentPolicy* web1 = config->FindAgent("web1");
  ASSERT_NE(web1, nullptr);
  EXPECT_THAT(web1->accounts, ElementsAre("default"));
  EXPECT_EQ(web1->default_account, "default");
}

TEST(SignerConfigAccountsTest, TheLegacyAcmeSectionIsTheAccountDefault) {
  const std::string text =
      Replace(kMinimal, "[hsm]\n",
              "[hsm]\naccount_key = \"pkcs11:object=old-acct\"\naccount_key_type = \"ec-p384\"\n"
              "eab_key = \"pkcs11:object=old-eab\"\n");
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(text, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->accounts.size(), 1u);
  EXPECT_EQ(config->accounts[0].name, "default");
  EXPECT_EQ(config->accounts[0].directory_url, "https://ca.example/dir");
  EXPECT_EQ(config->accounts[0].key, "pkcs11:object=old-acct");
  EXPECT_EQ(config->accounts[0].key_type, hsm::KeyType::kEcP384);
  EXPECT_EQ(config->accounts[0].eab_key, "pkcs11:object=old-eab");
  const AgentPolicy* web1 = config->FindAgent("web1");
  ASSERT_NE(web1, nullptr);
  EXPECT_THAT(web1->accounts, ElementsAre("default"));
  EXPECT_EQ(web1->default_account, "default");
}

TEST(SignerConfigAccountsTest, AcmeAndAccountsTogetherAreRefusedShowingTheReplacement) {
  const std::string text =
      Replace(kMinimal, kAcmeSection, absl::StrCat(kAcmeSection, "\n", kTwoProfiles));
  EXPECT_THAT(ErrorOf(text),
              AllOf(HasSubstr(absl::StrCat(At(text, "[acme]"),
                                           "acme: [acme] and [[accounts]] "
                                           "cannot both be used")),
                    HasSubstr("move [acme] into an [[accounts]] entry with name = \"default\""),
                    HasSubstr("hsm.account_key, hsm.account_key_type, hsm.eab_key into its key, "
                              "key_type, eab_key")));
}

TEST(SignerConfigAccountsTest, HsmAccountKeysWithAccountsAreRefused) {
  const std::string text = Replace(WithAccounts(kTwoProfiles), "[hsm]\n",
                                   "[hsm]\naccount_key = \"pkcs11:object=acct\"\n");
  EXPECT_THAT(ErrorOf(text),
              HasSubstr(absl::StrCat(At(text, "account_key ="),
                                     "hsm: hsm.account_key, hsm.account_key_type and hsm.eab_key "
                                     "belong to the [acme] form; with [[accounts]] set key, "
                                     "key_type and eab_key in each entry")));
}

TEST(SignerConfigAccountsTest, NoAccountAtAllIsRefused) {
  EXPECT_THAT(ErrorOf(WithAccounts("")), HasSubstr("no ACME account is configured"));
}

TEST(SignerConfigAccountsTest, AccountNamesFollowTheOneAccountNameRule) {
  // acme::ValidateAccountName, which the agent applies to `account` in renewal/NAME.conf too.
  const std::string text =
      WithAccounts(absl::StrCat(kTwoProfiles,
                                "\n[[accounts]]\nname = \"rsa_ov\"\n"
                                "directory_url = \"https://ca.example/other\"\n"));
  EXPECT_THAT(ErrorOf(text), HasSubstr("accounts[2].name: invalid account name \"rsa_ov\""));
}

TEST(SignerConfigAccountsTest, DuplicateAccountNamesAndSharedKeysAreRefused) {
  const std::string duplicate =
      WithAccounts(absl::StrCat(kTwoProfiles,
                                "\n[[accounts]]\nname = \"rsa-ov\"\n"
                                "directory_url = \"https://ca.example/other\"\n"));
  EXPECT_THAT(ErrorOf(duplicate),
              HasSubstr(absl::StrCat("accounts[2].name: duplicate account name \"rsa-ov\" (first "
                                     "defined at line ",
                                     LineOf(duplicate, "name = \"rsa-ov\""), ")")));

  const std::string shared_key =
      WithAccounts(absl::StrCat(kTwoProfiles,
                                "\n[[accounts]]\nname = \"third\"\n"
                                "directory_url = \"https://ca.example/other\"\n"
                                "key = \"pkcs11:object=acme-account-ecc-ov\"\n"));
  EXPECT_THAT(ErrorOf(shared_key),
              HasSubstr("accounts[2].key: pkcs11:object=acme-account-ecc-ov is already the key "
                        "of account \"ecc-ov\": every account has its own HSM objects"));

  const std::string shared_eab =
      WithAccounts(absl::StrCat(kTwoProfiles,
                                "\n[[accounts]]\nname = \"third\"\n"
                                "directory_url = \"https://ca.example/other\"\n"
                                "eab_key = \"pkcs11:object=eab-hmac-rsa-ov\"\n"));
  EXPECT_THAT(ErrorOf(shared_eab),
              HasSubstr("accounts[2].eab_key: pkcs11:object=eab-hmac-rsa-ov is already the key "
                        "of account \"rsa-ov\""));
}

TEST(SignerConfigAccountsTest, AgentAccountsAndDefaultAreResolvedAndChecked) {
  const std::string base = WithAccounts(kTwoProfiles);
  const std::string listed =
      Replace(base, "allowed_names = [\"www.dept.example\"]\n",
              "allowed_names = [\"www.dept.example\"]\naccounts = [\"rsa-ov\", \"ecc-ov\"]\n"
              "default_account = \"ecc-ov\"\n");
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(listed, kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  const AgentPolicy* web1 = config->FindAgent("web1");
  ASSERT_NE(web1, nullptr);
  EXPECT_THAT(web1->accounts, ElementsAre("rsa-ov", "ecc-ov"));
  EXPECT_EQ(web1->default_account, "ecc-ov");

  // Without default_account: the first listed.
  config = ParseSignerConfig(Replace(listed, "default_account = \"ecc-ov\"\n", ""), kSource);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->FindAgent("web1")->default_account, "rsa-ov");

  const std::string unknown = Replace(base, "allowed_names = [\"www.dept.example\"]\n",
                                      "allowed_names = [\"www.dept.example\"]\n"
                                      "accounts = [\"rsa-ov\", \"nosuch\"]\n");
  EXPECT_THAT(ErrorOf(unknown),
              HasSubstr(absl::StrCat(At(unknown, "accounts = ["),
                                     "agents[0].accounts: no account named \"nosuch\"")));

  const std::string outside = Replace(base, "allowed_names = [\"www.dept.example\"]\n",
                                      "allowed_names = [\"www.dept.example\"]\n"
                                      "accounts = [\"rsa-ov\"]\n"
                                      "default_account = \"ecc-ov\"\n");
  EXPECT_THAT(ErrorOf(outside),
              HasSubstr(absl::StrCat(At(outside, "default_account ="),
                                     "agents[0].default_account: \"ecc-ov\" is not in this "
                                     "agent's accounts (rsa-ov)")));

  const std::string empty = Replace(base, "allowed_names = [\"www.dept.example\"]\n",
                                    "allowed_names = [\"www.dept.example\"]\naccounts = []\n");
  EXPECT_THAT(ErrorOf(empty), HasSubstr("agents[0].accounts: must list at least one account"));
}

}  // namespace acme_signer::signer
