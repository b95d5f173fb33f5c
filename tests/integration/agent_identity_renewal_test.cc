// End to end: the agent's own mTLS identity (issue 14 §2). One SignerLab (real SoftHSM2,
// Pebble and `acme-signer serve`) for the suite, the real acme-agent binary.
//
//  * renewal: `acme-agent renew` renews a certificate past two thirds of its lifetime through
//    Signer.RenewAgentCertificate (new key made on the host, files replaced, the record in the
//    state store's agent_certificates, an audit record), and `acme-agent run` does the same
//    without a restart, woken by the identity's renewal time;
//  * the signer's guards on the RPC: too early, the same key, too many renewals from one
//    certificate, a revoked certificate (deny list in the handshake, state store in the RPC);
//  * messages: an expired or not yet valid identity exits 2 with the date and the commands
//    that fix it, checked before connecting; a wrong [signer] ca file says whose certificate
//    is not signed by what (exit 2); a signer that is not there stays exit 4.
//
// The certificates with chosen dates are issued by this test process with the agent CA key in
// the lab's SoftHSM2 token (signer/agent_ca.h with an explicit validity window), as
// tls_denial_test does: `acme-signer enroll-agent` cannot backdate.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/csr.h"
#include "agent/private_key.h"
#include "agent/signer_client.h"
#include "common/files.h"
#include "common/secret.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/module.h"
#include "hsm/token.h"
#include "nlohmann/json.hpp"
#include "signer/agent_ca.h"
#include "signer/config.h"
#include "signer/state_store.h"
#include "tests/testing/child_process.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"
#include "tests/testing/softhsm_token.h"
#include "tests/testing/test_identities.h"

extern char** environ;

namespace acme_signer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::SignerLab;

namespace pb = ::acmesigner::v1;

constexpr absl::Duration kAgentTimeout = absl::Minutes(2);

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

// Lowercase hex SHA-256 of the first certificate's DER in the PEM file; "" when unreadable.
std::string FingerprintOfFile(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFile(path);
  if (!pem.ok()) return "";
  absl::StatusOr<SslUniquePtr<X509>> cert = ParseCertificatePem(*pem);
  if (!cert.ok()) return "";
  absl::StatusOr<std::string> hex = CertificateSha256Hex(**cert);
  return hex.ok() ? *hex : "";
}

absl::Time NotAfterOfFile(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFile(path);
  if (!pem.ok()) return absl::InfinitePast();
  absl::StatusOr<SslUniquePtr<X509>> cert = ParseCertificatePem(*pem);
  if (!cert.ok()) return absl::InfinitePast();
  absl::StatusOr<absl::Time> t = NotAfter(**cert);
  return t.ok() ? *t : absl::InfinitePast();
}

absl::Time NotBeforeOfFile(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFile(path);
  if (!pem.ok()) return absl::InfiniteFuture();
  absl::StatusOr<SslUniquePtr<X509>> cert = ParseCertificatePem(*pem);
  if (!cert.ok()) return absl::InfiniteFuture();
  absl::StatusOr<absl::Time> t = NotBefore(**cert);
  return t.ok() ? *t : absl::InfiniteFuture();
}

class AgentIdentityRenewalTest : public testing::SignerLabSuite<AgentIdentityRenewalTest> {
 public:
  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    options.agents = testing::DefaultLabAgents();
    testing::LabAgentPolicy web3;
    web3.name = "web3";
    web3.allowed_names = {"web3.example.test"};
    options.agents.push_back(web3);
    options.enroll = {"web1", "web3"};
    // The minutes-long lifetime test enrols a host with a token.
    options.enroll_listener = true;
    return options;
  }

 protected:
  // The lab's config is restored after a test that changed it.
  void TearDown() override {
    if (!lab_started() || !config_changed_) return;
    config_changed_ = false;
    ASSERT_TRUE(lab().WriteRawConfig(lab().ConfigText(LabOptions().agents)).ok());
    ASSERT_TRUE(lab().ReloadSigner().ok()) << lab().SignerLogTail();
  }

  // A key and a certificate for agent `name` from the lab's real agent CA, valid exactly
  // `validity`, written as <dir>/<stem>.key (0600) and <dir>/<stem>.pem.
  static absl::StatusOr<agent::SignerConnection> IssueIdentity(
      absl::string_view name, const std::string& dir, const signer::LeafValidity& validity) {
    ASSIGN_OR_RETURN(std::shared_ptr<hsm::Module> module,
                     hsm::Module::Load(testing::kSoftHsmModule));
    ASSIGN_OR_RETURN(std::shared_ptr<hsm::Token> token,
                     hsm::Token::Open(module, lab().token().uri, lab().token().pin_file));
    ASSIGN_OR_RETURN(std::unique_ptr<hsm::JwsSigner> ca_key,
                     token->OpenSigningKey(signer::HsmConfig().agent_ca_key));
    ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(lab().agent_ca_path()));
    ASSIGN_OR_RETURN(agent::PrivateKey key, agent::PrivateKey::Generate(agent::KeySpec()));
    ASSIGN_OR_RETURN(std::string csr, agent::BuildAgentCsrDer(key, lab().trust_domain(), name));
    ASSIGN_OR_RETURN(std::string cert_pem,
                     signer::IssueAgentCertificate(*ca_key, ca_pem, csr, name,
                                                   lab().trust_domain(), validity));
    ASSIGN_OR_RETURN(Secret key_pem, key.ToPem());
    ::mkdir(dir.c_str(), 0700);
    agent::SignerConnection connection;
    connection.address = lab().signer_address();
    connection.ca_cert = lab().agent_ca_path();
    connection.client_cert = absl::StrCat(dir, "/agent.pem");
    connection.client_key = absl::StrCat(dir, "/agent.key");
    RETURN_IF_ERROR(WriteFileAtomically(connection.client_cert, cert_pem, 0644));
    RETURN_IF_ERROR(WriteFileAtomically(connection.client_key, key_pem.reveal(), 0600));
    return connection;
  }

  // A fresh directory under the lab's for one test's agent.
  static std::string AgentDir(absl::string_view stem) {
    std::string dir = absl::StrCat(lab().dir(), "/", stem);
    ::mkdir(dir.c_str(), 0700);
    return dir;
  }

  // agent.toml in `dir` for `connection` (signer address and CA file as given).
  static absl::StatusOr<std::string> WriteAgentConfig(const std::string& dir,
                                                      const agent::SignerConnection& connection,
                                                      absl::string_view name) {
    auto quoted = [](absl::string_view s) { return absl::StrCat("\"", s, "\""); };
    const std::string text = absl::StrCat(
        "config_dir = ", quoted(absl::StrCat(dir, "/etc")),
        "\n\n[signer]\naddress = ", quoted(connection.address),
        "\nca = ", quoted(connection.ca_cert),
        connection.server_name.empty()
            ? ""
            : absl::StrCat("\ntls_server_name = ", quoted(connection.server_name)),
        // Short: the "nothing listens there" case would otherwise retry for 2 minutes.
        "\nretry_seconds = 3", "\n\n[identity]\ntrust_domain = ", quoted(lab().trust_domain()),
        "\nname = ", quoted(name), "\nkey = ", quoted(connection.client_key),
        "\ncert = ", quoted(connection.client_cert), "\n");
    const std::string path = absl::StrCat(dir, "/agent.toml");
    RETURN_IF_ERROR(WriteFileAtomically(path, text, 0600));
    return path;
  }

  // `acme-agent COMMAND --config CONFIG ARGS...`
  static testing::ChildResult Agent(const std::string& config, absl::string_view command,
                                    const std::vector<std::string>& args = {}) {
    std::vector<std::string> argv = {ACME_AGENT_BIN, std::string(command), "--config", config};
    argv.insert(argv.end(), args.begin(), args.end());
    testing::ChildOptions options;
    options.scratch_dir = lab().dir();
    options.timeout = kAgentTimeout;
    return testing::RunChild(argv, options);
  }

  static absl::StatusOr<std::unique_ptr<signer::StateStore>> OpenStore() {
    return signer::StateStore::Open(absl::StrCat(lab().state_dir(), "/signer.db"));
  }

  // Audit records of RenewAgentCertificate.
  static std::vector<nlohmann::json> RenewalRecords() {
    std::vector<nlohmann::json> out;
    absl::StatusOr<std::vector<nlohmann::json>> records = lab().ReadAuditRecords();
    EXPECT_TRUE(records.ok()) << records.status();
    if (!records.ok()) return out;
    for (const nlohmann::json& r : *records) {
      if (r.value("rpc", "") == "RenewAgentCertificate") out.push_back(r);
    }
    return out;
  }

  // A CSR (DER) for a new P-256 key naming `name`.
  static std::string NewCsr(absl::string_view name) {
    absl::StatusOr<agent::PrivateKey> key = agent::PrivateKey::Generate(agent::KeySpec());
    EXPECT_TRUE(key.ok());
    absl::StatusOr<std::string> csr = agent::BuildAgentCsrDer(*key, lab().trust_domain(), name);
    EXPECT_TRUE(csr.ok());
    return csr.ok() ? *csr : "";
  }

  // `line` added to the lab's [server] section, reloaded (TearDown restores the config).
  absl::Status AddToServerSection(const std::string& line) {
    std::string text = lab().ConfigText(LabOptions().agents);
    if (!absl::StrContains(text, "[server]\n")) return absl::InternalError("no [server]");
    text = absl::StrReplaceAll(text, {{"[server]\n", absl::StrCat("[server]\n", line, "\n")}});
    config_changed_ = true;
    RETURN_IF_ERROR(lab().WriteRawConfig(text));
    return lab().ReloadSigner();
  }

  // server.revoked_agent_certs = [fingerprint], reloaded.
  absl::Status RevokeInConfig(const std::string& fingerprint) {
    return AddToServerSection(absl::StrCat("revoked_agent_certs = [\"", fingerprint, "\"]"));
  }

  // server.agent_certificate_lifetime = `lifetime`, reloaded.
  absl::Status SetLifetimeInConfig(absl::string_view lifetime) {
    return AddToServerSection(absl::StrCat("agent_certificate_lifetime = \"", lifetime, "\""));
  }

  bool config_changed_ = false;
};

// Valid from `since` ago until `until` from now (a negative `until`: expired; a negative
// `since`: not yet valid).
signer::LeafValidity Window(absl::Duration since, absl::Duration until) {
  const absl::Time now = absl::Now();
  return signer::LeafValidity{absl::FromUnixSeconds(absl::ToUnixSeconds(now - since)),
                              absl::FromUnixSeconds(absl::ToUnixSeconds(now + until))};
}

TEST_F(AgentIdentityRenewalTest, RenewReplacesADueIdentityAndTheSignerRecordsIt) {
  const std::string dir = AgentDir("renew");
  // Five sixths of its lifetime gone: due (two thirds), and past the signer's half-way mark.
  absl::StatusOr<agent::SignerConnection> identity =
      IssueIdentity("web1", dir, Window(absl::Minutes(50), absl::Minutes(10)));
  ASSERT_TRUE(identity.ok()) << identity.status();
  absl::StatusOr<std::string> config = WriteAgentConfig(dir, *identity, "web1");
  ASSERT_TRUE(config.ok()) << config.status();
  const std::string old_fingerprint = FingerprintOfFile(identity->client_cert);
  const absl::Time old_not_after = NotAfterOfFile(identity->client_cert);
  absl::StatusOr<std::string> old_key = ReadFile(identity->client_key);
  ASSERT_TRUE(old_key.ok());

  // In its last sixth: a command that connects works, and warns once with the date and the fix
  // (also with -q); renew's own renewal connection does not warn, it renews.
  const std::string warning =
      absl::StrCat("acme-agent: warning: this agent's certificate (", identity->client_cert,
                   ") expires on ", FormatUtc(old_not_after), " and has not been renewed");
  for (const std::vector<std::string>& args : {std::vector<std::string>{}, {"-q"}}) {
    testing::ChildResult account = Agent(*config, "account", args);
    ASSERT_EQ(account.exit_code, 0) << account;
    EXPECT_THAT(account.err, HasSubstr(warning));
    EXPECT_EQ(account.err.find(warning), account.err.rfind(warning)) << "once: " << account;
    EXPECT_THAT(account.err, HasSubstr("--signer SIGNER:ENROLL_PORT"));
  }

  testing::ChildResult r = Agent(*config, "renew");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("renewed this agent's certificate, valid until "));
  EXPECT_THAT(r.err, Not(HasSubstr("warning")));
  testing::ChildResult after = Agent(*config, "account");
  ASSERT_EQ(after.exit_code, 0) << after;
  EXPECT_THAT(after.err, Not(HasSubstr("warning"))) << "the renewed certificate is young";

  const std::string new_fingerprint = FingerprintOfFile(identity->client_cert);
  ASSERT_FALSE(new_fingerprint.empty());
  EXPECT_NE(new_fingerprint, old_fingerprint);
  absl::StatusOr<std::string> new_key = ReadFile(identity->client_key);
  ASSERT_TRUE(new_key.ok());
  EXPECT_NE(*new_key, *old_key) << "the key must be new";
  struct stat st{};
  ASSERT_EQ(::stat(identity->client_key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // The lab's lifetime (server.agent_certificate_lifetime, 30 days by default).
  const absl::Time new_not_after = NotAfterOfFile(identity->client_cert);
  EXPECT_GT(new_not_after, absl::Now() + absl::Hours(24 * 29));
  EXPECT_THAT(r.out, HasSubstr(FormatUtc(new_not_after)));
  // The old certificate was still valid when it was replaced (renewal before expiry).
  EXPECT_GT(old_not_after, absl::Now());
  // No .new files are left behind.
  EXPECT_FALSE(ReadFile(absl::StrCat(identity->client_cert, ".new")).ok());
  EXPECT_FALSE(ReadFile(absl::StrCat(identity->client_key, ".new")).ok());

  // The signer serves the new pair.
  absl::StatusOr<std::unique_ptr<agent::SignerClient>> client =
      agent::SignerClient::Connect(*identity);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<pb::GetAccountResponse> account = (*client)->GetAccount();
  EXPECT_TRUE(account.ok()) << account.status();

  // Recorded in agent_certificates, renewed from the old one.
  absl::StatusOr<std::unique_ptr<signer::StateStore>> store = OpenStore();
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::optional<signer::AgentCertificateRecord>> record =
      (*store)->FindAgentCertificate(new_fingerprint);
  ASSERT_TRUE(record.ok()) << record.status();
  ASSERT_TRUE(record->has_value());
  EXPECT_EQ((*record)->agent, "web1");
  EXPECT_EQ((*record)->source, "renewal");
  EXPECT_EQ((*record)->renewed_from, std::optional<std::string>(old_fingerprint));

  // Audited: the new certificate's fingerprint and notAfter, the caller's fingerprint, never
  // key material.
  bool audited = false;
  for (const nlohmann::json& rec : RenewalRecords()) {
    EXPECT_THAT(rec.dump(), Not(HasSubstr("PRIVATE KEY")));
    EXPECT_THAT(rec.dump(), Not(HasSubstr("CERTIFICATE REQUEST")));
    if (rec.value("decision", "") == "allow" && rec.value("agent", "") == "web1" &&
        rec.value("client_cert_sha256", "") == old_fingerprint && rec.contains("outcome") &&
        rec["outcome"].value("certificate_sha256", "") == new_fingerprint &&
        !rec["outcome"].value("not_after", "").empty()) {
      audited = true;
    }
  }
  EXPECT_TRUE(audited) << "no RenewAgentCertificate record for " << new_fingerprint;

  // Renewed: nothing due any more, and nothing changes.
  testing::ChildResult again = Agent(*config, "renew", {"--json"});
  ASSERT_EQ(again.exit_code, 0) << again;
  const nlohmann::json out = nlohmann::json::parse(again.out, nullptr, false);
  ASSERT_TRUE(out.is_object()) << again.out;
  EXPECT_EQ(out["agent_identity"].value("renewed", true), false) << again.out;
  EXPECT_EQ(out["agent_identity"].value("sha256", ""), new_fingerprint);
  EXPECT_EQ(FingerprintOfFile(identity->client_cert), new_fingerprint);
}

TEST_F(AgentIdentityRenewalTest, SignerRefusesEarlyRenewalKeyReuseAndEndlessRenewals) {
  // The lab's own web1 certificate is fresh (30 days, just issued): not due.
  std::unique_ptr<agent::SignerClient> fresh = Client("web1");
  ASSERT_NE(fresh, nullptr);
  absl::StatusOr<pb::RenewAgentCertificateResponse> early =
      fresh->RenewAgentCertificate(NewCsr("web1"));
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition) << early.status();
  EXPECT_THAT(early.status().message(), HasSubstr("not due for renewal"));

  // A certificate past half-way, asked to renew with its own key.
  const std::string dir = AgentDir("guards");
  absl::StatusOr<agent::SignerConnection> identity =
      IssueIdentity("web1", dir, Window(absl::Minutes(40), absl::Minutes(20)));
  ASSERT_TRUE(identity.ok()) << identity.status();
  absl::StatusOr<agent::PrivateKey> own_key = agent::PrivateKey::Load(identity->client_key);
  ASSERT_TRUE(own_key.ok());
  absl::StatusOr<std::string> own_csr =
      agent::BuildAgentCsrDer(*own_key, lab().trust_domain(), "web1");
  ASSERT_TRUE(own_csr.ok());
  absl::StatusOr<std::unique_ptr<agent::SignerClient>> client =
      agent::SignerClient::Connect(*identity);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<pb::RenewAgentCertificateResponse> reused =
      (*client)->RenewAgentCertificate(*own_csr);
  ASSERT_FALSE(reused.ok());
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kInvalidArgument) << reused.status();
  EXPECT_THAT(reused.status().message(), HasSubstr("new key pair"));

  // The agent name comes from the verified certificate, never from the CSR.
  absl::StatusOr<pb::RenewAgentCertificateResponse> renamed =
      (*client)->RenewAgentCertificate(NewCsr("web2"));
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  absl::StatusOr<SslUniquePtr<X509>> issued = ParseCertificatePem(renamed->certificate_pem());
  ASSERT_TRUE(issued.ok());
  EXPECT_THAT(renamed->certificate_pem(), Not(HasSubstr("web2")));
  absl::StatusOr<std::string> ca_pem = ReadFile(lab().agent_ca_path());
  ASSERT_TRUE(ca_pem.ok());
  EXPECT_EQ(renamed->ca_certificate_pem(), *ca_pem);
  {
    // The URI SAN names web1 (the caller).
    GENERAL_NAMES* names = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(issued->get(), NID_subject_alt_name, nullptr, nullptr));
    ASSERT_NE(names, nullptr);
    std::string uri;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
      if (n->type == GEN_URI) {
        uri.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.ia5)),
                   static_cast<size_t>(ASN1_STRING_length(n->d.ia5)));
      }
    }
    GENERAL_NAMES_free(names);
    EXPECT_EQ(uri, absl::StrCat("spiffe://", lab().trust_domain(), "/agent/web1"));
  }

  // One certificate renews at most three times (a lost reply may be asked for again).
  for (int i = 1; i < 3; ++i) {
    absl::StatusOr<pb::RenewAgentCertificateResponse> again =
        (*client)->RenewAgentCertificate(NewCsr("web1"));
    ASSERT_TRUE(again.ok()) << i << ": " << again.status();
  }
  absl::StatusOr<pb::RenewAgentCertificateResponse> fourth =
      (*client)->RenewAgentCertificate(NewCsr("web1"));
  ASSERT_FALSE(fourth.ok());
  EXPECT_EQ(fourth.status().code(), absl::StatusCode::kResourceExhausted) << fourth.status();
  EXPECT_THAT(fourth.status().message(), HasSubstr("already been renewed 3 times"));

  // Each refusal is audited as a denial of RenewAgentCertificate.
  int denials = 0;
  for (const nlohmann::json& rec : RenewalRecords()) {
    if (rec.value("decision", "") == "deny") ++denials;
  }
  EXPECT_GE(denials, 3);
}

TEST_F(AgentIdentityRenewalTest, ARevokedCertificateCannotRenew) {
  // In server.revoked_agent_certs: refused in the handshake already; nothing is issued.
  const std::string dir = AgentDir("revoked");
  absl::StatusOr<agent::SignerConnection> identity =
      IssueIdentity("web1", dir, Window(absl::Minutes(50), absl::Minutes(10)));
  ASSERT_TRUE(identity.ok()) << identity.status();
  absl::StatusOr<std::string> config = WriteAgentConfig(dir, *identity, "web1");
  ASSERT_TRUE(config.ok()) << config.status();
  const std::string fingerprint = FingerprintOfFile(identity->client_cert);
  absl::StatusOr<std::string> key_before = ReadFile(identity->client_key);
  ASSERT_TRUE(key_before.ok());
  ASSERT_TRUE(RevokeInConfig(fingerprint).ok()) << lab().SignerLogTail();

  testing::ChildResult r = Agent(*config, "renew");
  // Refused by the signer (exit 3), said as such rather than "unreachable".
  EXPECT_EQ(r.exit_code, 3) << r;
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("the signer refused this agent's certificate (",
                                            identity->client_cert, ") in the TLS handshake")));
  EXPECT_THAT(r.err, Not(HasSubstr("unreachable")));
  // Less than a sixth of its lifetime is left: a warning with the expiry date.
  EXPECT_THAT(r.err, HasSubstr("warning: this agent's certificate could not be renewed"));
  EXPECT_THAT(r.err,
              HasSubstr(absl::StrCat("the current one is kept and expires on ",
                                     FormatUtc(NotAfterOfFile(identity->client_cert)))));
  EXPECT_EQ(FingerprintOfFile(identity->client_cert), fingerprint);
  absl::StatusOr<std::string> key_after = ReadFile(identity->client_key);
  ASSERT_TRUE(key_after.ok());
  EXPECT_EQ(*key_after, *key_before);

  // Revoked in the state store (as `acme-signer agents revoke` does): the RPC refuses it.
  absl::StatusOr<std::unique_ptr<agent::SignerClient>> web3 = lab().Client("web3");
  ASSERT_TRUE(web3.ok()) << web3.status();
  absl::StatusOr<agent::SignerConnection> web3_files = lab().Connection("web3");
  ASSERT_TRUE(web3_files.ok());
  const std::string web3_fingerprint = FingerprintOfFile(web3_files->client_cert);
  absl::StatusOr<std::unique_ptr<signer::StateStore>> store = OpenStore();
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<int> revoked = (*store)->RevokeAgentCertificates("web3", absl::Now());
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  ASSERT_GE(*revoked, 1);
  absl::StatusOr<pb::RenewAgentCertificateResponse> refused =
      (*web3)->RenewAgentCertificate(NewCsr("web3"));
  ASSERT_FALSE(refused.ok());
  // PermissionDenied from the RPC (or, once the handshake also consults the store, no
  // connection at all).
  EXPECT_TRUE(refused.status().code() == absl::StatusCode::kPermissionDenied ||
              refused.status().code() == absl::StatusCode::kUnavailable)
      << refused.status();
  if (refused.status().code() == absl::StatusCode::kPermissionDenied) {
    EXPECT_THAT(refused.status().message(), HasSubstr("revoked"));
  }
  absl::StatusOr<std::vector<signer::AgentCertificateRecord>> all =
      (*store)->ListAgentCertificates();
  ASSERT_TRUE(all.ok());
  for (const signer::AgentCertificateRecord& rec : *all) {
    EXPECT_NE(rec.renewed_from, std::optional<std::string>(fingerprint));
    EXPECT_NE(rec.renewed_from, std::optional<std::string>(web3_fingerprint));
  }
}

TEST_F(AgentIdentityRenewalTest, AnExpiredOrNotYetValidIdentityExitsTwoWithTheDateAndTheFix) {
  const std::string dir = AgentDir("expired");
  absl::StatusOr<agent::SignerConnection> identity =
      IssueIdentity("web1", dir, Window(absl::Hours(25), -absl::Hours(1)));
  ASSERT_TRUE(identity.ok()) << identity.status();
  // Checked before connecting: the address leads nowhere, and the answer is still exit 2.
  agent::SignerConnection nowhere = *identity;
  nowhere.address = "127.0.0.1:1";
  absl::StatusOr<std::string> config = WriteAgentConfig(dir, nowhere, "web1");
  ASSERT_TRUE(config.ok()) << config.status();
  const std::string expiry = FormatUtc(NotAfterOfFile(identity->client_cert));

  for (const char* command : {"renew", "account", "run"}) {
    testing::ChildResult r = Agent(*config, command);
    EXPECT_EQ(r.exit_code, 2) << command << ": " << r;
    EXPECT_THAT(r.err, HasSubstr(absl::StrCat("this agent's certificate (", identity->client_cert,
                                              ") expired on ", expiry)))
        << command;
    EXPECT_THAT(r.err, HasSubstr("acme-signer enroll-agent --config "
                                 "/etc/acme-signer/acme-signer.toml --name web1 --token"))
        << command;
    // The enrolment listener (the signer prints it with the token), not [signer] address.
    EXPECT_THAT(r.err, HasSubstr(absl::StrCat("acme-agent enroll --config ", *config,
                                              " --signer SIGNER:ENROLL_PORT --token TOKEN "
                                              "--ca-fingerprint SHA256")))
        << command;
    EXPECT_THAT(r.err, Not(HasSubstr("--signer 127.0.0.1:1"))) << command;
    EXPECT_THAT(r.err, Not(HasSubstr("unreachable"))) << command;
  }

  const std::string later_dir = AgentDir("not-yet-valid");
  absl::StatusOr<agent::SignerConnection> later =
      IssueIdentity("web1", later_dir, Window(-absl::Hours(1), absl::Hours(25)));
  ASSERT_TRUE(later.ok()) << later.status();
  absl::StatusOr<std::string> later_config = WriteAgentConfig(later_dir, *later, "web1");
  ASSERT_TRUE(later_config.ok());
  testing::ChildResult r = Agent(*later_config, "renew");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("is not valid until "));
  EXPECT_THAT(r.err, HasSubstr("check the clock"));
  EXPECT_THAT(r.err, HasSubstr("acme-signer enroll-agent --config"));
}

TEST_F(AgentIdentityRenewalTest, AWrongSignerCaFileIsNamedAndAnAbsentSignerStaysUnreachable) {
  absl::StatusOr<agent::SignerConnection> web1 = lab().Connection("web1");
  ASSERT_TRUE(web1.ok());
  const std::string dir = AgentDir("wrong-ca");
  std::optional<testing::TestIdentity> other =
      testing::MakeSelfSignedIdentity("spiffe://elsewhere.example/agent/other");
  ASSERT_TRUE(other.has_value());
  const std::string wrong_ca = absl::StrCat(dir, "/other-ca.pem");
  ASSERT_TRUE(WriteFileAtomically(wrong_ca, other->cert_pem, 0644).ok());
  agent::SignerConnection wrong = *web1;
  wrong.address = lab().signer_address();
  wrong.ca_cert = wrong_ca;
  absl::StatusOr<std::string> config = WriteAgentConfig(dir, wrong, "web1");
  ASSERT_TRUE(config.ok());
  testing::ChildResult r = Agent(*config, "account");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("the signer's certificate ("));
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat(" is not signed by ")));
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("(", wrong_ca, ", [signer] ca)")));
  EXPECT_THAT(r.err, Not(HasSubstr("unreachable"))) << r;
  // No raw gRPC log line ("E1202 … ssl_transport_security.cc … Handshake failed").
  EXPECT_THAT(r.err, Not(HasSubstr("ssl_transport_security"))) << r;

  // The right CA, but the signer's certificate does not carry the name the agent expects.
  const std::string misnamed_dir = AgentDir("misnamed");
  agent::SignerConnection misnamed = *web1;
  misnamed.address = lab().signer_address();
  misnamed.server_name = "wrong-name.example";
  absl::StatusOr<std::string> misnamed_config = WriteAgentConfig(misnamed_dir, misnamed, "web1");
  ASSERT_TRUE(misnamed_config.ok());
  testing::ChildResult named = Agent(*misnamed_config, "account");
  EXPECT_EQ(named.exit_code, 2) << named;
  EXPECT_THAT(named.err, HasSubstr("does not name wrong-name.example"));
  EXPECT_THAT(named.err, HasSubstr("[signer] tls_server_name"));

  // Nothing listens there: still "unreachable", exit 4.
  const std::string absent_dir = AgentDir("absent");
  agent::SignerConnection absent = *web1;
  absent.address = "127.0.0.1:1";
  absl::StatusOr<std::string> absent_config = WriteAgentConfig(absent_dir, absent, "web1");
  ASSERT_TRUE(absent_config.ok());
  testing::ChildResult unreachable = Agent(*absent_config, "account");
  EXPECT_EQ(unreachable.exit_code, 4) << unreachable;
  EXPECT_THAT(unreachable.err, HasSubstr("unreachable"));
}

// `acme-agent run` as a child we can stop: stdout and stderr to files.
class RunningAgent {
 public:
  RunningAgent(const std::string& config, const std::string& dir)
      : out_(absl::StrCat(dir, "/run.out")), err_(absl::StrCat(dir, "/run.err")) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    std::vector<std::string> args = {ACME_AGENT_BIN, "run", "--config", config};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~RunningAgent() { Stop(); }

  bool started() const { return pid_ > 0; }
  // SIGTERM, then the exit status (128 + signal when killed); -1 when not running.
  int Stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::string out() const { return ReadFile(out_).value_or(""); }
  std::string err() const { return ReadFile(err_).value_or(""); }

 private:
  std::string out_;
  std::string err_;
  pid_t pid_ = -1;
};

TEST_F(AgentIdentityRenewalTest, RunRenewsTheIdentityWithoutARestart) {
  const std::string dir = AgentDir("run");
  // Nine minutes of lifetime, two thirds (six minutes) reached about 20 s from now: the first
  // pass finds it not due, the loop must wake for it (at least a minute later, run's
  // min_sleep) and renew it well before it expires.
  absl::StatusOr<agent::SignerConnection> identity =
      IssueIdentity("web1", dir,
                    Window(absl::Minutes(5) + absl::Seconds(40),
                           absl::Minutes(3) + absl::Seconds(20)));
  ASSERT_TRUE(identity.ok()) << identity.status();
  absl::StatusOr<std::string> config = WriteAgentConfig(dir, *identity, "web1");
  ASSERT_TRUE(config.ok());
  const std::string old_fingerprint = FingerprintOfFile(identity->client_cert);

  RunningAgent run(*config, dir);
  ASSERT_TRUE(run.started());
  const absl::Time deadline = absl::Now() + absl::Seconds(150);
  std::string fingerprint = old_fingerprint;
  while (absl::Now() < deadline) {
    absl::SleepFor(absl::Seconds(1));
    fingerprint = FingerprintOfFile(identity->client_cert);
    if (!fingerprint.empty() && fingerprint != old_fingerprint &&
        absl::StrContains(run.out(), "renewed this agent's certificate")) {
      break;
    }
  }
  const std::string out = run.out();
  const std::string err = run.err();
  EXPECT_NE(fingerprint, old_fingerprint) << "stdout:\n" << out << "\nstderr:\n" << err;
  EXPECT_THAT(out, HasSubstr("renewed this agent's certificate, valid until "));
  // The first pass slept until the identity was due.
  EXPECT_THAT(err, HasSubstr("this agent's certificate: valid until "));
  EXPECT_THAT(err, HasSubstr(", renewed from "));
  EXPECT_THAT(err, HasSubstr("next check at "));
  // The renewed pair is served, and run keeps going with it.
  absl::StatusOr<std::unique_ptr<agent::SignerClient>> client =
      agent::SignerClient::Connect(*identity);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->GetAccount().ok());
  EXPECT_EQ(run.Stop(), 0) << err;
}

// Issue 14: agent certificate lifetimes are configurable down to minutes, so tests can watch
// renewal and expiry happen. Every way the signer issues one uses the configured lifetime:
// token enrolment and the renewal RPC (server.agent_certificate_lifetime), and the CSR route
// (enroll-agent --lifetime). The signer backdates notBefore by five minutes (a host whose
// clock is a little slow accepts the certificate), so notAfter - notBefore is the lifetime
// plus five minutes, and notAfter is the lifetime after the issuance.
TEST_F(AgentIdentityRenewalTest, SignerIssuesMinutesLongAgentCertificatesAndTheAgentRenewsThem) {
  ASSERT_TRUE(SetLifetimeInConfig("10m").ok()) << lab().SignerLogTail();
  auto expect_ten_minutes = [](const std::string& cert, absl::Time before, absl::Time after) {
    SCOPED_TRACE(cert);
    const absl::Time not_before = NotBeforeOfFile(cert);
    const absl::Time not_after = NotAfterOfFile(cert);
    // Certificate times have one-second resolution.
    EXPECT_GE(not_after, before + absl::Minutes(10) - absl::Seconds(1));
    EXPECT_LE(not_after, after + absl::Minutes(10) + absl::Seconds(1));
    EXPECT_EQ(not_after - not_before, absl::Minutes(15));
  };

  // Token enrolment.
  absl::StatusOr<testing::CommandResult> made = lab().RunSignerCommand(
      {"enroll-agent", "--config", lab().config_path(), "--name", "web3", "--token", "--json"});
  ASSERT_TRUE(made.ok()) << made.status();
  ASSERT_EQ(made->exit_code, 0) << made->err;
  const nlohmann::json token = nlohmann::json::parse(made->out, nullptr, false);
  ASSERT_TRUE(token.is_object()) << made->out;
  const std::string dir = AgentDir("minutes");
  const std::string config = absl::StrCat(dir, "/agent.toml");
  absl::Time before = absl::Now();
  testing::ChildResult enrolled =
      Agent(config, "enroll",
            {"--signer", lab().enroll_address(), "--token", token.value("token", ""),
             "--ca-fingerprint", token.value("ca_sha256", "")});
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled;
  const std::string enrolled_cert = absl::StrCat(dir, "/identity/agent.pem");
  expect_ten_minutes(enrolled_cert, before, absl::Now());
  // Its renewal time is two thirds of it: five minutes after the issuance.
  testing::ChildResult not_due = Agent(config, "renew");
  ASSERT_EQ(not_due.exit_code, 0) << not_due;
  const absl::Time enrolled_not_before = NotBeforeOfFile(enrolled_cert);
  EXPECT_THAT(
      not_due.err,
      HasSubstr(absl::StrCat("renewed from ", FormatUtc(enrolled_not_before + absl::Minutes(10)))));

  // The CSR route with --lifetime (here the same as the config's, given explicitly).
  const std::string csr_path = absl::StrCat(dir, "/csr.der");
  const std::string out_path = absl::StrCat(dir, "/csr-route.pem");
  ASSERT_TRUE(WriteFileAtomically(csr_path, NewCsr("web3"), 0600).ok());
  before = absl::Now();
  absl::StatusOr<testing::CommandResult> csr_route =
      lab().RunSignerCommand({"enroll-agent", "--config", lab().config_path(), "--name", "web3",
                              "--csr", csr_path, "--out", out_path, "--lifetime", "10m"});
  ASSERT_TRUE(csr_route.ok()) << csr_route.status();
  ASSERT_EQ(csr_route->exit_code, 0) << csr_route->err;
  expect_ten_minutes(out_path, before, absl::Now());

  // Renewal: an identity past two thirds of its lifetime (issued by the test with chosen
  // dates, the only way to travel in time) is renewed by `acme-agent renew` into a
  // certificate of the signer's configured ten minutes.
  const std::string renew_dir = AgentDir("minutes-renew");
  absl::StatusOr<agent::SignerConnection> identity =
      IssueIdentity("web1", renew_dir, Window(absl::Minutes(50), absl::Minutes(10)));
  ASSERT_TRUE(identity.ok()) << identity.status();
  absl::StatusOr<std::string> renew_config = WriteAgentConfig(renew_dir, *identity, "web1");
  ASSERT_TRUE(renew_config.ok()) << renew_config.status();
  const std::string old_fingerprint = FingerprintOfFile(identity->client_cert);
  before = absl::Now();
  testing::ChildResult renewed = Agent(*renew_config, "renew");
  ASSERT_EQ(renewed.exit_code, 0) << renewed << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_THAT(renewed.out, HasSubstr("renewed this agent's certificate, valid until "));
  EXPECT_NE(FingerprintOfFile(identity->client_cert), old_fingerprint);
  expect_ten_minutes(identity->client_cert, before, absl::Now());
}

}  // namespace
}  // namespace acme_signer
