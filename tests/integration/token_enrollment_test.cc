// One-token enrolment end to end (issue 14 §2): `acme-signer enroll-agent --token` against the
// real signer (SoftHSM2, Pebble, TLS), `acme-agent enroll --signer --token --ca-fingerprint` as
// the real binary, then the new identity used for an mTLS call and a certificate. Refusals:
// a reused, an expired and an unknown token, a token for an agent without [[agents]] entry, a
// name that is not the token's, a wrong CA fingerprint (nothing written, the token not sent).
// Every use and failed use is audited; the token never appears in the audit log, the signer's
// log or the state store.
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "acmesigner/v1/signer.grpc.pb.h"
#include "agent/agent_config.h"
#include "common/files.h"
#include "common/ssl_unique_ptr.h"
#include "common/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "signer/enrollment_service.h"
#include "signer/state_store.h"
#include "tests/testing/child_process.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

#ifndef ACME_AGENT_BIN
#error "ACME_AGENT_BIN must be defined"
#endif

namespace acme_signer {
namespace {

using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::SignerLab;

// Lowercase hex SHA-256 of the DER of the first certificate in the PEM file at `path`, with
// OpenSSL alone; "" when it cannot be read.
std::string OpensslCaSha256(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFile(path);
  if (!pem.ok()) return "";
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  SslUniquePtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) return "";
  unsigned char* der = nullptr;
  const int der_length = i2d_X509(cert.get(), &der);
  if (der_length <= 0) return "";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<size_t>(der_length), digest);
  OPENSSL_free(der);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

class TokenEnrollmentTest : public testing::SignerLabSuite<TokenEnrollmentTest> {
 public:
  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    options.enroll_listener = true;
    // web2 and web3 get their identities by token here.
    options.enroll = {"web1"};
    std::vector<testing::LabAgentPolicy> agents = testing::DefaultLabAgents();
    testing::LabAgentPolicy web3;
    web3.name = "web3";
    web3.allowed_names = {"web3.example.test"};
    agents.push_back(web3);
    options.agents = agents;
    return options;
  }

 protected:
  struct Token {
    std::string token;
    std::string ca_sha256;
  };

  // `acme-signer enroll-agent --token --json` for `name`.
  static Token MakeToken(const std::string& name) {
    CommandResult made =
        Run({"enroll-agent", "--config", lab().config_path(), "--name", name, "--token", "--json"});
    EXPECT_EQ(made.exit_code, 0) << made.err;
    nlohmann::json json = nlohmann::json::parse(made.out, nullptr, false);
    EXPECT_TRUE(json.is_object()) << made.out;
    Token token;
    if (!json.is_object()) return token;
    token.token = json.value("token", "");
    token.ca_sha256 = json.value("ca_sha256", "");
    tokens_made().push_back(token.token);
    return token;
  }

  static std::vector<std::string>& tokens_made() {
    static auto* tokens = new std::vector<std::string>();
    return *tokens;
  }

  static std::string LabCaSha256() {
    absl::StatusOr<std::string> pem = ReadFile(lab().agent_ca_path());
    EXPECT_TRUE(pem.ok()) << pem.status();
    absl::StatusOr<std::string> sha = signer::CaCertificateSha256(pem.ok() ? *pem : "");
    EXPECT_TRUE(sha.ok()) << sha.status();
    return sha.ok() ? *sha : "";
  }

  // A fresh directory for one host.
  static std::string HostDir(absl::string_view label) {
    const std::string dir = absl::StrCat(lab().dir(), "/host-", label);
    std::filesystem::create_directories(dir);
    return dir;
  }

  static testing::ChildResult Agent(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {ACME_AGENT_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    testing::ChildOptions options;
    options.scratch_dir = lab().dir();
    options.timeout = absl::Minutes(3);
    return testing::RunChild(argv, options);
  }

  static testing::ChildResult AgentEnroll(const std::string& config, const std::string& token,
                                          const std::string& fingerprint,
                                          const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {
        "enroll", "--config",         config,     "--signer", lab().enroll_address(), "--token",
        token,    "--ca-fingerprint", fingerprint};
    args.insert(args.end(), extra.begin(), extra.end());
    return Agent(args);
  }

  // Adds a token row straight to the signer's state store (what enroll-agent --token does,
  // with any expiry).
  static std::string AddStoreToken(const std::string& agent, absl::Time expires) {
    absl::StatusOr<std::string> token = signer::NewEnrollmentToken();
    EXPECT_TRUE(token.ok()) << token.status();
    absl::StatusOr<std::unique_ptr<signer::StateStore>> store =
        signer::StateStore::Open(absl::StrCat(lab().state_dir(), "/signer.db"));
    EXPECT_TRUE(store.ok()) << store.status();
    if (!token.ok() || !store.ok()) return "";
    signer::EnrollmentToken row;
    row.token_sha256 = signer::EnrollmentTokenHash(*token);
    row.agent = agent;
    row.created = absl::Now() - absl::Hours(2);
    row.expires = expires;
    absl::Status added = (*store)->AddEnrollmentToken(row);
    EXPECT_TRUE(added.ok()) << added;
    tokens_made().push_back(*token);
    return *token;
  }

  // The Enrollment/EnrollAgent audit events.
  static std::vector<nlohmann::json> EnrollEvents() {
    std::vector<nlohmann::json> out;
    for (nlohmann::json& event : AuditEvents()) {
      if (event.value("rpc", "") == "Enrollment/EnrollAgent") out.push_back(std::move(event));
    }
    return out;
  }

  // The last EnrollAgent event whose reason contains `text`.
  static nlohmann::json LastEnrollEventWith(absl::string_view text) {
    nlohmann::json found;
    for (nlohmann::json& event : EnrollEvents()) {
      if (absl::StrContains(event.value("reason", ""), text)) found = std::move(event);
    }
    return found;
  }

  static bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

  // No token made in this suite appears in the audit log, the signer's log or the database.
  static void ExpectNoTokenLeaked() {
    std::string audit;
    for (const auto& entry : std::filesystem::directory_iterator(
             std::filesystem::path(lab().audit_log_path()).parent_path())) {
      absl::StatusOr<std::string> content = ReadFile(entry.path().string(), 256 << 20);
      if (content.ok()) absl::StrAppend(&audit, *content);
    }
    std::string state;
    for (const auto& entry : std::filesystem::directory_iterator(lab().state_dir())) {
      absl::StatusOr<std::string> content = ReadFile(entry.path().string(), 256 << 20);
      if (content.ok()) absl::StrAppend(&state, *content);
    }
    const std::string log = lab().SignerLog();
    for (const std::string& token : tokens_made()) {
      ASSERT_FALSE(token.empty());
      EXPECT_THAT(audit, Not(HasSubstr(token)));
      EXPECT_THAT(log, Not(HasSubstr(token)));
      EXPECT_THAT(state, Not(HasSubstr(token)));
      // The random part alone does not appear either.
      EXPECT_THAT(audit, Not(HasSubstr(token.substr(signer::kEnrollmentTokenPrefix.size()))));
    }
  }
};

TEST_F(TokenEnrollmentTest, JsonOutputHasExactlyTheTokenAndTheCaFingerprint) {
  CommandResult made = Run({"enroll-agent", "--config", lab().config_path(), "--name", "web1",
                            "--token", "--ttl", "10m", "--json"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  nlohmann::json json = nlohmann::json::parse(made.out, nullptr, false);
  ASSERT_TRUE(json.is_object()) << made.out;
  std::set<std::string> keys;
  for (auto it = json.begin(); it != json.end(); ++it) keys.insert(it.key());
  EXPECT_EQ(keys, (std::set<std::string>{"token", "ca_sha256"}));
  const std::string token = json.value("token", "");
  tokens_made().push_back(token);
  EXPECT_TRUE(absl::StartsWith(token, "acme-enroll-")) << token.size();
  EXPECT_GE(token.size(), std::string("acme-enroll-").size() + 43);
  EXPECT_EQ(json.value("ca_sha256", ""), LabCaSha256());
  // The same as `openssl x509 -in CA -outform der | sha256sum`, computed here with OpenSSL
  // rather than with the signer's helper.
  EXPECT_EQ(json.value("ca_sha256", ""), OpensslCaSha256(lab().agent_ca_path()));
  // Stored as its SHA-256, expiring after the --ttl.
  absl::StatusOr<std::unique_ptr<signer::StateStore>> store =
      signer::StateStore::Open(absl::StrCat(lab().state_dir(), "/signer.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::vector<signer::EnrollmentToken>> rows =
      (*store)->ListEnrollmentTokens("web1");
  ASSERT_TRUE(rows.ok()) << rows.status();
  bool found = false;
  for (const signer::EnrollmentToken& row : *rows) {
    if (row.token_sha256 != signer::EnrollmentTokenHash(token)) continue;
    found = true;
    EXPECT_NEAR(absl::ToDoubleMinutes(row.expires - row.created), 10.0, 0.01);
  }
  EXPECT_TRUE(found);
}

TEST_F(TokenEnrollmentTest, TextOutputPrintsTheCommandToRunOnTheHost) {
  CommandResult made =
      Run({"enroll-agent", "--config", lab().config_path(), "--name", "web1", "--token"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_THAT(made.out, HasSubstr(absl::StrCat("acme-agent enroll --config "
                                               "/etc/acme-agent/agent.toml --signer ",
                                               lab().enroll_address(), " --token acme-enroll-")));
  EXPECT_THAT(made.out, HasSubstr(absl::StrCat(" --ca-fingerprint ", LabCaSha256(), "\n")));
  EXPECT_THAT(made.out, HasSubstr("single use"));
  // Remember the token for the leak check.
  const size_t at = made.out.find("--token acme-enroll-");
  ASSERT_NE(at, std::string::npos);
  const size_t start = at + std::string("--token ").size();
  tokens_made().push_back(made.out.substr(start, made.out.find(' ', start) - start));
}

TEST_F(TokenEnrollmentTest, SignerRefusesTokensWhenEnrolListenIsOffOrTheAgentUnknownOrTtlBad) {
  // A copy of the config without enroll_listen (same directory, same relative paths).
  absl::StatusOr<std::string> text = ReadFile(lab().config_path());
  ASSERT_TRUE(text.ok()) << text.status();
  std::string without = *text;
  const size_t at = without.find("enroll_listen = ");
  ASSERT_NE(at, std::string::npos);
  without.erase(at, without.find('\n', at) + 1 - at);
  const std::string off_path = absl::StrCat(lab().dir(), "/no-enroll.toml");
  ASSERT_TRUE(WriteFileAtomically(off_path, without, 0600).ok());
  CommandResult off = Run({"enroll-agent", "--config", off_path, "--name", "web1", "--token"});
  EXPECT_EQ(off.exit_code, 1);
  EXPECT_THAT(off.err, HasSubstr("token enrolment is off on this signer: set enroll_listen"));
  EXPECT_EQ(off.out, "");

  CommandResult ghost =
      Run({"enroll-agent", "--config", lab().config_path(), "--name", "ghost", "--token"});
  EXPECT_EQ(ghost.exit_code, 1);
  EXPECT_THAT(ghost.err, HasSubstr("agent ghost has no [[agents]] entry"));

  for (const char* ttl : {"30s", "8d", "soon"}) {
    CommandResult bad = Run({"enroll-agent", "--config", lab().config_path(), "--name", "web1",
                             "--token", "--ttl", ttl});
    EXPECT_EQ(bad.exit_code, 2) << ttl;
    EXPECT_THAT(bad.err, HasSubstr("from 1m to 7d")) << ttl;
  }
  // The CSR route's flags do not mix with --token.
  CommandResult mixed = Run({"enroll-agent", "--config", lab().config_path(), "--name", "web1",
                             "--token", "--out", "/tmp/x.pem"});
  EXPECT_EQ(mixed.exit_code, 2);
}

TEST_F(TokenEnrollmentTest, HostEnrolsWithATokenThenUsesItsNewIdentity) {
  const Token token = MakeToken("web2");
  ASSERT_FALSE(token.token.empty());
  const std::string dir = HostDir("web2");
  const std::string config = absl::StrCat(dir, "/agent.toml");
  // The fingerprint as some tools print it: upper case with colons.
  std::string colons;
  for (size_t i = 0; i < token.ca_sha256.size(); i += 2) {
    if (i > 0) colons += ':';
    colons += absl::AsciiStrToUpper(token.ca_sha256.substr(i, 2));
  }
  // The token from a file (also kept out of argv).
  const std::string token_file = absl::StrCat(dir, "/token");
  ASSERT_TRUE(WriteFileAtomically(token_file, token.token + "\n", 0600).ok());
  testing::ChildResult enrolled =
      Agent({"enroll", "--config", config, "--signer", lab().enroll_address(), "--token-file",
             token_file, "--ca-fingerprint", colons, "--json"});
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled;
  nlohmann::json json = nlohmann::json::parse(enrolled.out, nullptr, false);
  ASSERT_TRUE(json.is_object()) << enrolled.out;
  EXPECT_EQ(json.value("name", ""), "web2");
  EXPECT_EQ(json.value("spiffe_id", ""), "spiffe://dept.example/agent/web2");
  EXPECT_EQ(json.value("config_created", false), true);
  EXPECT_EQ(json.value("key_reused", true), false);
  EXPECT_EQ(json.value("signer_address", ""), lab().signer_address());
  EXPECT_THAT(enrolled.out + enrolled.err, Not(HasSubstr(token.token)));

  // The files, next to the config file.
  struct stat st;
  ASSERT_EQ(::stat(absl::StrCat(dir, "/identity/agent.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  absl::StatusOr<agent::AgentConfig> written = agent::LoadAgentConfig(config);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->signer.address, lab().signer_address());
  EXPECT_EQ(written->signer.ca, absl::StrCat(dir, "/identity/signer-ca.pem"));
  EXPECT_EQ(written->identity.trust_domain, "dept.example");
  EXPECT_EQ(written->identity.name, "web2");
  EXPECT_EQ(written->identity.key, absl::StrCat(dir, "/identity/agent.key"));
  EXPECT_EQ(written->identity.cert, absl::StrCat(dir, "/identity/agent.pem"));
  EXPECT_EQ(written->config_dir, dir);
  absl::StatusOr<std::string> ca = ReadFile(written->signer.ca);
  ASSERT_TRUE(ca.ok());
  EXPECT_EQ(*ca, *ReadFile(lab().agent_ca_path()));

  // The new identity works over mTLS and gets a certificate.
  testing::ChildResult account = Agent({"account", "--config", config});
  EXPECT_EQ(account.exit_code, 0) << account;
  testing::ChildResult issued =
      Agent({"certonly", "--config", config, "--non-interactive", "--cert-name", "web2", "-d",
             "web2.example.test", "--standalone", "--http-01-address", "127.0.0.1",
             "--http-01-port", absl::StrCat(lab().http_port())});
  EXPECT_EQ(issued.exit_code, 0) << issued << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_TRUE(Exists(absl::StrCat(dir, "/live/web2/fullchain.pem")));

  // Audited: the allow record names the agent and the token by a hash prefix only.
  const std::string hash = signer::EnrollmentTokenHash(token.token);
  nlohmann::json allow = LastEnrollEventWith(hash.substr(0, 12));
  ASSERT_FALSE(allow.is_null());
  EXPECT_EQ(allow.value("decision", ""), "allow");
  EXPECT_EQ(allow.value("agent", ""), "web2");
  EXPECT_THAT(allow.value("peer", ""), HasSubstr("127.0.0.1"));
  EXPECT_THAT(allow.dump(), Not(HasSubstr(hash)));
  // Listed as a token-made certificate.
  absl::StatusOr<std::unique_ptr<signer::StateStore>> store =
      signer::StateStore::Open(absl::StrCat(lab().state_dir(), "/signer.db"));
  ASSERT_TRUE(store.ok());
  absl::StatusOr<std::vector<signer::AgentCertificateRecord>> certs =
      (*store)->ListAgentCertificates("web2");
  ASSERT_TRUE(certs.ok());
  ASSERT_FALSE(certs->empty());
  EXPECT_EQ(certs->back().source, "token");

  // The same token again: refused with the one message, nothing written, audited precisely.
  const std::string again = absl::StrCat(HostDir("web2-again"), "/agent.toml");
  testing::ChildResult reused = AgentEnroll(again, token.token, token.ca_sha256);
  EXPECT_EQ(reused.exit_code, 3) << reused;
  EXPECT_THAT(reused.err, HasSubstr("enrolment token refused: it is unknown, already used or "
                                    "expired"));
  EXPECT_FALSE(Exists(again));
  nlohmann::json deny = LastEnrollEventWith("already used");
  ASSERT_FALSE(deny.is_null());
  EXPECT_EQ(deny.value("decision", ""), "deny");
  EXPECT_THAT(deny.value("reason", ""), HasSubstr(hash.substr(0, 12)));
  ExpectNoTokenLeaked();
  ExpectAuditVerifies();
}

TEST_F(TokenEnrollmentTest, ExpiredAndUnknownTokensAreRefusedAlikeAndAuditedPrecisely) {
  const Token fresh = MakeToken("web3");  // for the fingerprint
  const std::string expired = AddStoreToken("web3", absl::Now() - absl::Minutes(5));
  const std::string config = absl::StrCat(HostDir("expired"), "/agent.toml");
  testing::ChildResult refused = AgentEnroll(config, expired, fresh.ca_sha256);
  EXPECT_EQ(refused.exit_code, 3) << refused;
  EXPECT_THAT(refused.err, HasSubstr("enrolment token refused: it is unknown, already used or "
                                     "expired"));
  EXPECT_FALSE(Exists(config));
  nlohmann::json deny = LastEnrollEventWith(signer::EnrollmentTokenHash(expired).substr(0, 12));
  ASSERT_FALSE(deny.is_null());
  EXPECT_EQ(deny.value("decision", ""), "deny");
  EXPECT_THAT(deny.value("reason", ""), HasSubstr("expired at"));

  testing::ChildResult unknown =
      AgentEnroll(config, "acme-enroll-not-a-token-the-signer-made", fresh.ca_sha256);
  EXPECT_EQ(unknown.exit_code, 3) << unknown;
  EXPECT_EQ(unknown.err, refused.err);
  EXPECT_FALSE(Exists(config));
  EXPECT_FALSE(LastEnrollEventWith("unknown enrolment token").is_null());
  ExpectNoTokenLeaked();
}

TEST_F(TokenEnrollmentTest, WrongFingerprintWritesNothingAndDoesNotSpendTheToken) {
  const Token token = MakeToken("web3");
  const std::string dir = HostDir("wrong-fp");
  const std::string config = absl::StrCat(dir, "/agent.toml");
  const std::string wrong(64, 'a');
  const size_t events_before = EnrollEvents().size();
  testing::ChildResult refused = AgentEnroll(config, token.token, wrong);
  EXPECT_EQ(refused.exit_code, 2) << refused;
  EXPECT_THAT(refused.err, HasSubstr(absl::StrCat("the signer's CA has SHA-256 ", token.ca_sha256,
                                                  ", not the expected ", wrong)));
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "something was written in " << dir;
  // The token was never sent: no EnrollAgent call reached the signer.
  EXPECT_EQ(EnrollEvents().size(), events_before);

  // Malformed fingerprints are usage errors.
  testing::ChildResult malformed = AgentEnroll(config, token.token, "12:34");
  EXPECT_EQ(malformed.exit_code, 2) << malformed;
  EXPECT_THAT(malformed.err, HasSubstr("--ca-fingerprint must be the agent CA's SHA-256"));

  // With the right fingerprint the same token still works, read from stdin.
  testing::ChildOptions options;
  options.scratch_dir = lab().dir();
  options.timeout = absl::Minutes(3);
  testing::ChildResult enrolled = testing::RunChild(
      {"/bin/sh", "-c",
       absl::StrCat("printf '%s\\n' \"$0\" | ", ACME_AGENT_BIN, " enroll --config ", config,
                    " --signer ", lab().enroll_address(), " --token - --ca-fingerprint ",
                    token.ca_sha256),
       token.token},
      options);
  EXPECT_EQ(enrolled.exit_code, 0) << enrolled;
  EXPECT_THAT(enrolled.out, HasSubstr("Enrolled spiffe://dept.example/agent/web3"));
  EXPECT_TRUE(Exists(config));
  EXPECT_TRUE(Exists(absl::StrCat(dir, "/identity/agent.pem")));
}

TEST_F(TokenEnrollmentTest, TokenForAnAgentWithoutPolicyOrAnotherNameIsRefused) {
  const Token fresh = MakeToken("web3");
  // A token for an agent that has no [[agents]] entry (made before the entry was removed).
  const std::string ghost = AddStoreToken("ghost", absl::Now() + absl::Hours(1));
  const std::string config = absl::StrCat(HostDir("ghost"), "/agent.toml");
  testing::ChildResult refused = AgentEnroll(config, ghost, fresh.ca_sha256);
  EXPECT_EQ(refused.exit_code, 3) << refused;
  EXPECT_THAT(refused.err, HasSubstr("agent ghost has no [[agents]] entry on this signer"));
  EXPECT_FALSE(Exists(config));
  nlohmann::json deny = LastEnrollEventWith("agent ghost has no [[agents]] entry");
  ASSERT_FALSE(deny.is_null());
  EXPECT_EQ(deny.value("agent", ""), "ghost");
  EXPECT_EQ(deny.value("decision", ""), "deny");

  // --name that is not the token's agent.
  testing::ChildResult mismatch =
      AgentEnroll(config, fresh.token, fresh.ca_sha256, {"--name", "web1"});
  EXPECT_EQ(mismatch.exit_code, 3) << mismatch;
  EXPECT_THAT(mismatch.err, HasSubstr("this token was made for agent web3, not web1"));
  EXPECT_FALSE(Exists(config));
  ExpectNoTokenLeaked();
}

TEST_F(TokenEnrollmentTest, AnExistingConfigIsKeptItsPathsUsedAndItsKeyReused) {
  const std::string dir = HostDir("existing");
  const std::string config = absl::StrCat(dir, "/agent.toml");
  const std::string custom = absl::StrCat(dir, "/custom");
  const std::string text =
      absl::StrCat("config_dir = \"", dir, "/certs\"\n[signer]\naddress = \"",
                   lab().signer_address(), "\"\nca = \"", custom,
                   "/ca.pem\"\ntls_server_name = \"127.0.0.1\"\n[identity]\n"
                   "trust_domain = \"dept.example\"\nname = \"web3\"\nkey = \"",
                   custom, "/id.key\"\ncert = \"", custom, "/id.pem\"\n");
  ASSERT_TRUE(WriteFileAtomically(config, text, 0644).ok());
  // The air-gapped route made the key first; the token route reuses it.
  testing::ChildResult csr = Agent({"enroll", "--config", config});
  ASSERT_EQ(csr.exit_code, 0) << csr;
  absl::StatusOr<std::string> key_before = ReadFile(absl::StrCat(custom, "/id.key"));
  ASSERT_TRUE(key_before.ok());

  // A config whose trust domain is not the signer's is refused before the token is sent.
  const Token token = MakeToken("web3");
  const std::string other_config = absl::StrCat(dir, "/other.toml");
  ASSERT_TRUE(WriteFileAtomically(other_config,
                                  absl::StrReplaceAll(text, {{"dept.example", "other.example"}}),
                                  0644)
                  .ok());
  testing::ChildResult mismatch = AgentEnroll(other_config, token.token, token.ca_sha256);
  EXPECT_EQ(mismatch.exit_code, 2) << mismatch;
  EXPECT_THAT(mismatch.err, HasSubstr("says identity.trust_domain = \"other.example\" but the "
                                      "signer's trust domain is \"dept.example\""));

  // The same token still works with the right config (it was not sent).
  testing::ChildResult enrolled = AgentEnroll(config, token.token, token.ca_sha256, {"--json"});
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled;
  nlohmann::json json = nlohmann::json::parse(enrolled.out, nullptr, false);
  ASSERT_TRUE(json.is_object()) << enrolled.out;
  EXPECT_EQ(json.value("key_reused", false), true);
  EXPECT_EQ(json.value("config_created", true), false);
  EXPECT_EQ(json.value("cert", ""), absl::StrCat(custom, "/id.pem"));
  EXPECT_EQ(json.value("ca", ""), absl::StrCat(custom, "/ca.pem"));
  EXPECT_EQ(*ReadFile(config), text);
  EXPECT_EQ(*ReadFile(absl::StrCat(custom, "/id.key")), *key_before);
  EXPECT_FALSE(Exists(absl::StrCat(dir, "/identity")));
  testing::ChildResult account = Agent({"account", "--config", config});
  EXPECT_EQ(account.exit_code, 0) << account;
}

TEST_F(TokenEnrollmentTest, ReloadRefusesToMoveTheEnrolmentListener) {
  absl::StatusOr<std::string> text = ReadFile(lab().config_path());
  ASSERT_TRUE(text.ok());
  const std::string moved =
      absl::StrReplaceAll(*text, {{absl::StrCat("enroll_listen = \"", lab().enroll_address(), "\""),
                                   "enroll_listen = \"127.0.0.1:1\""}});
  ASSERT_NE(moved, *text);
  ASSERT_TRUE(lab().WriteRawConfig(moved).ok());
  absl::Status reloaded = lab().ReloadSigner();
  ASSERT_TRUE(lab().WriteRawConfig(*text).ok());
  EXPECT_EQ(reloaded.code(), absl::StatusCode::kFailedPrecondition) << reloaded;
  EXPECT_THAT(reloaded.message(),
              HasSubstr(absl::StrCat("server.enroll_listen changed from ", lab().enroll_address(),
                                     " to 127.0.0.1:1")));
  // Still served where it was.
  const Token token = MakeToken("web3");
  EXPECT_EQ(token.ca_sha256, LabCaSha256());
  testing::ChildResult enrolled = AgentEnroll(absl::StrCat(HostDir("after-reload"), "/agent.toml"),
                                              token.token, token.ca_sha256);
  EXPECT_EQ(enrolled.exit_code, 0) << enrolled;
}

TEST_F(TokenEnrollmentTest, EnrolmentListenerServesNothingButEnrollmentAndBoundsRequests) {
  absl::StatusOr<std::string> ca = ReadFile(lab().agent_ca_path());
  ASSERT_TRUE(ca.ok());
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = *ca;  // verifies the signer; no client certificate
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("127.0.0.1");
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(lab().enroll_address(), grpc::SslCredentials(ssl), args);
  // The Signer service is not there (it stays behind the mTLS listener).
  {
    std::unique_ptr<::acmesigner::v1::Signer::Stub> signer =
        ::acmesigner::v1::Signer::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    ::acmesigner::v1::GetAccountResponse response;
    grpc::Status status =
        signer->GetAccount(&context, ::acmesigner::v1::GetAccountRequest(), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << status.error_message();
  }
  std::unique_ptr<::acmesigner::v1::Enrollment::Stub> enrollment =
      ::acmesigner::v1::Enrollment::NewStub(channel);
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    ::acmesigner::v1::GetEnrollmentInfoResponse info;
    grpc::Status status = enrollment->GetEnrollmentInfo(
        &context, ::acmesigner::v1::GetEnrollmentInfoRequest(), &info);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(info.ca_certificate_pem(), *ca);
    EXPECT_EQ(info.trust_domain(), "dept.example");
    EXPECT_EQ(absl::StrCat("127.0.0.1:", info.signer_port()), lab().signer_address());
  }
  // A request over 64 KiB is refused by gRPC before the service sees it (no audit record).
  const size_t events_before = EnrollEvents().size();
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    ::acmesigner::v1::EnrollAgentRequest request;
    request.set_token("acme-enroll-x");
    request.set_csr_der(std::string(100 * 1024, 'x'));
    ::acmesigner::v1::EnrollAgentResponse response;
    grpc::Status status = enrollment->EnrollAgent(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  }
  EXPECT_EQ(EnrollEvents().size(), events_before);
  // A malformed CSR is refused before the token is looked at (audited, token not spent).
  const Token token = MakeToken("web3");
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    ::acmesigner::v1::EnrollAgentRequest request;
    request.set_token(token.token);
    request.set_csr_der("not a CSR");
    ::acmesigner::v1::EnrollAgentResponse response;
    grpc::Status status = enrollment->EnrollAgent(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("not used"));
  }
  absl::StatusOr<std::unique_ptr<signer::StateStore>> store =
      signer::StateStore::Open(absl::StrCat(lab().state_dir(), "/signer.db"));
  ASSERT_TRUE(store.ok());
  absl::StatusOr<std::vector<signer::EnrollmentToken>> rows =
      (*store)->ListEnrollmentTokens("web3");
  ASSERT_TRUE(rows.ok());
  for (const signer::EnrollmentToken& row : *rows) {
    if (row.token_sha256 == signer::EnrollmentTokenHash(token.token)) {
      EXPECT_EQ(row.used_at, absl::InfinitePast());
    }
  }
}

}  // namespace
}  // namespace acme_signer

namespace acme_signer {
namespace {

// A lab of its own: the flood leaves 127.0.0.1 blocked for a minute.
class TokenEnrollmentFloodTest : public testing::SignerLabSuite<TokenEnrollmentFloodTest> {
 public:
  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    options.enroll_listener = true;
    options.enroll = {};
    return options;
  }
};

TEST_F(TokenEnrollmentFloodTest, AFloodOfBadTokensFromOneAddressIsCutOffAndFoldedInTheAudit) {
  CommandResult made =
      Run({"enroll-agent", "--config", lab().config_path(), "--name", "web2", "--token", "--json"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  nlohmann::json json = nlohmann::json::parse(made.out, nullptr, false);
  ASSERT_TRUE(json.is_object());
  const std::string good = json.value("token", "");
  const std::string fingerprint = json.value("ca_sha256", "");
  testing::ChildOptions options;
  options.scratch_dir = lab().dir();
  // These ~16 short-lived agents test the signer's cut-off, not the agent's memory. Once in a
  // few hundred runs LeakSanitizer reported 904 bytes from CRYPTO_zalloc (an SSL_SESSION-sized
  // object, stack cut at libcrypto) at the exit of an agent whose gRPC channel was still being
  // torn down, and its exit status 1 hid the agent's own. Leak checking stays on for every
  // other agent run (the enrolment tests above run the same code with it).
  options.extra_env.push_back(
      "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:strict_string_checks=1");
  const std::string config = absl::StrCat(lab().dir(), "/flood/agent.toml");
  auto enroll = [&](const std::string& token) {
    return testing::RunChild(
        {ACME_AGENT_BIN, "enroll", "--config", config, "--signer", lab().enroll_address(),
         "--token", token, "--ca-fingerprint", fingerprint},
        options);
  };
  for (int i = 0; i < 10; ++i) {
    testing::ChildResult refused = enroll(absl::StrCat("acme-enroll-guess", i));
    EXPECT_EQ(refused.exit_code, 3) << refused;
    EXPECT_THAT(refused.err, HasSubstr("enrolment token refused"));
  }
  for (int i = 0; i < 5; ++i) {
    testing::ChildResult limited = enroll(absl::StrCat("acme-enroll-more", i));
    EXPECT_NE(limited.exit_code, 0) << limited;
    EXPECT_THAT(limited.err,
                HasSubstr("too many failed enrolment attempts from ipv4:127.0.0.1 (10 per 1m)"));
  }
  // While the address is cut off even the good token is refused (and stays unused).
  testing::ChildResult blocked = enroll(good);
  EXPECT_THAT(blocked.err, HasSubstr("too many failed enrolment attempts"));
  EXPECT_FALSE(std::filesystem::exists(config));

  // The guesses are one kind of refusal, the limited attempts another: each written once, the
  // repeats folded (a fold reaches the log within the fold window plus the flush period). A
  // record stands for one refusal, or for repeated.count refusals when it has "repeated".
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  uint64_t guesses = 0, limited = 0;
  size_t records = 0;
  while (absl::Now() < deadline) {
    guesses = limited = records = 0;
    for (const nlohmann::json& event : AuditEvents()) {
      if (event.value("rpc", "") != "Enrollment/EnrollAgent") continue;
      ++records;
      const uint64_t count =
          event.contains("repeated") ? event["repeated"].value("count", uint64_t{0}) : 1;
      const std::string reason = event.value("reason", "");
      if (reason == "unknown enrolment token") guesses += count;
      if (reason == "too many failed enrolment attempts from ipv4:127.0.0.1") limited += count;
    }
    if (guesses + limited >= 16) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(guesses, 10u);
  EXPECT_EQ(limited, 6u);
  EXPECT_LE(records, 4u);
  const std::string audit = *ReadFile(lab().audit_log_path(), 64 << 20);
  EXPECT_THAT(audit, Not(HasSubstr(good)));
}

}  // namespace
}  // namespace acme_signer

namespace acme_signer {
namespace {

// scripts/lab up writes SIGNER_ENROLL_ADDRESS to DIR/env (pinned), and docs/lab.md's token
// enrolment works against it.
TEST(TokenEnrollmentLabScriptTest, LabUpWritesTheEnrolAddressAndAHostEnrolsThere) {
  ACME_SIGNER_REQUIRE_SIGNER_LAB_TOOLS();
  const std::string bin_dir = std::filesystem::path(ACME_AGENT_BIN).parent_path().string();
  char dir_template[] = "/tmp/token_enrollment_lab.XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string lab = absl::StrCat(dir, "/lab");
  testing::ChildOptions options;
  options.scratch_dir = dir;
  options.timeout = absl::Minutes(3);
  options.extra_env = {"ACME_SIGNER_BIN_DIR=" + bin_dir};
  const std::string script = std::string(ACME_SIGNER_SOURCE_DIR) + "/scripts/lab";
  testing::ChildResult up = testing::RunChild({script, "up", lab}, options);
  ASSERT_EQ(up.exit_code, 0) << up;
  // Stops the lab and removes the temp dir (kept with ACME_SIGNER_KEEP_TEST_DIRS=1).
  struct Down {
    std::string script, dir, lab;
    testing::ChildOptions options;
    ~Down() {
      testing::RunChild({script, "down", lab}, options);
      const char* keep = std::getenv("ACME_SIGNER_KEEP_TEST_DIRS");
      if (keep != nullptr && std::string(keep) == "1") return;
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  } down{script, dir, lab, options};

  std::map<std::string, std::string> env;
  for (absl::string_view line : absl::StrSplit(*ReadFile(lab + "/env"), '\n')) {
    const size_t eq = line.find('=');
    if (eq != absl::string_view::npos && !absl::StartsWith(line, "#")) {
      env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
  }
  const std::string address = env["SIGNER_ENROLL_ADDRESS"];
  ASSERT_TRUE(absl::StartsWith(address, "127.0.0.1:")) << address;
  EXPECT_NE(address, absl::StrCat("127.0.0.1:", env["SIGNER_PORT"]));
  options.extra_env.push_back("SOFTHSM2_CONF=" + env["SOFTHSM2_CONF"]);

  // docs/lab.md: a token for web1, redeemed from stdin into a new config.
  testing::ChildResult made =
      testing::RunChild({env["ACME_SIGNER"], "enroll-agent", "--config", env["SIGNER_CONFIG"],
                         "--name", "web1", "--token", "--json"},
                        options);
  ASSERT_EQ(made.exit_code, 0) << made;
  nlohmann::json json = nlohmann::json::parse(made.out, nullptr, false);
  ASSERT_TRUE(json.is_object()) << made.out;
  const std::string host = absl::StrCat(dir, "/host2/agent.toml");
  testing::ChildResult enrolled = testing::RunChild(
      {"/bin/sh", "-c",
       absl::StrCat("printf '%s\\n' \"$0\" | \"$1\" enroll --config \"$2\" --signer \"$3\" "
                    "--token - --ca-fingerprint \"$4\""),
       json.value("token", ""), env["ACME_AGENT"], host, address, json.value("ca_sha256", "")},
      options);
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled;
  testing::ChildResult account =
      testing::RunChild({env["ACME_AGENT"], "account", "--config", host}, options);
  EXPECT_EQ(account.exit_code, 0) << account;
  EXPECT_THAT(account.out, HasSubstr("mutual TLS OK"));
}

}  // namespace
}  // namespace acme_signer
