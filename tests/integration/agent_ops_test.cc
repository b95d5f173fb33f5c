// The operator's side of the agent identity lifecycle (issue 14 §2), against a real signer
// (SignerLab: SoftHSM2, Pebble, `acme-signer serve` as a child process, real SQLite, real
// signals): `acme-signer reload` (accepted, refused, no signer running, a stale pid file with a
// live pid), one serve per state dir, `acme-signer agents list` (table and --json, last seen) and
// `acme-signer agents revoke` refusing the host's mTLS certificate on open and new connections
// at once, with no manual reload.
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/signer_client.h"
#include "common/files.h"
#include "common/secret.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "signer/agent_identity.h"
#include "tests/testing/child_process.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"
#include "tests/testing/test_identities.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::CommandResult;
using testing::SignerLab;

std::vector<testing::LabAgentPolicy> SuiteAgents() {
  std::vector<testing::LabAgentPolicy> agents = testing::DefaultLabAgents();
  testing::LabAgentPolicy web3;
  web3.name = "web3";
  web3.allowed_names = {"web3.example.test"};
  web3.allow_sign_jws = true;
  agents.push_back(web3);
  return agents;
}

class AgentOpsTest : public testing::SignerLabSuite<AgentOpsTest> {
 protected:
  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    options.agents = SuiteAgents();
    options.enroll = {"web1", "web2", "web3"};
    return options;
  }

  // Puts back the suite's config and a running signer for the next test.
  void TearDown() override {
    if (!lab_started()) return;
    EXPECT_TRUE(lab().RewriteConfig(SuiteAgents()).ok());
    if (!lab().signer_running()) {
      absl::Status started = lab().StartSigner();
      EXPECT_TRUE(started.ok()) << started;
    } else {
      EXPECT_TRUE(lab().ReloadSigner().ok());
    }
  }

  static std::string Fingerprint(absl::string_view agent) {
    absl::StatusOr<agent::SignerConnection> connection = lab().Connection(agent);
    EXPECT_TRUE(connection.ok()) << connection.status();
    if (!connection.ok()) return "";
    absl::StatusOr<std::string> pem = ReadFile(connection->client_cert);
    EXPECT_TRUE(pem.ok()) << pem.status();
    if (!pem.ok()) return "";
    absl::StatusOr<std::string> fingerprint = signer::CertificatePemSha256Hex(*pem);
    EXPECT_TRUE(fingerprint.ok()) << fingerprint.status();
    return fingerprint.ok() ? *fingerprint : "";
  }

  static nlohmann::json AgentsJson() {
    CommandResult run = Run({"agents", "list", "--config", lab().config_path(), "--json"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    nlohmann::json list = nlohmann::json::parse(run.out, nullptr, false);
    EXPECT_TRUE(list.is_array()) << run.out;
    return list.is_array() ? list : nlohmann::json::array();
  }

  static nlohmann::json Row(const nlohmann::json& list, absl::string_view name) {
    for (const nlohmann::json& row : list) {
      if (row.value("name", "") == name) return row;
    }
    ADD_FAILURE() << "no row for " << name << " in " << list.dump(2);
    return nlohmann::json::object();
  }
};

TEST_F(AgentOpsTest, ReloadReportsAcceptedThenRefusedWithTheSignersMessage) {
  CommandResult accepted = Run({"reload", "--config", lab().config_path()});
  EXPECT_EQ(accepted.exit_code, 0) << accepted.out << accepted.err;
  EXPECT_THAT(accepted.out, HasSubstr("reload accepted"));
  EXPECT_THAT(accepted.out, HasSubstr(absl::StrCat("pid ", lab().signer_pid())));
  EXPECT_THAT(lab().SignerLog(), HasSubstr("configuration reloaded"));

  // A change that needs a restart: the signer refuses it and says why; `reload` reports it.
  std::string text = lab().ConfigText(SuiteAgents());
  text = absl::StrReplaceAll(text, {{"[server]\n", "[server]\nmax_concurrent_rpcs = 7\n"}});
  ASSERT_TRUE(lab().WriteRawConfig(text).ok());
  CommandResult refused = Run({"reload", "--config", lab().config_path()});
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("refused"));
  EXPECT_THAT(refused.err, HasSubstr("max_concurrent_rpcs"));
  EXPECT_TRUE(lab().signer_running());

  // A config that does not parse at all is reported too (by the signer, not by `reload`,
  // which only needs the state dir).
  ASSERT_TRUE(lab().RewriteConfig(SuiteAgents()).ok());
  CommandResult again = Run({"reload", "--config", lab().config_path()});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;

  // Policy lives in the config: each reload is in the audit chain, accepted (allow) or refused
  // (deny, with the daemon's reason), by the user who sent the signal, with the config's hash.
  absl::StatusOr<std::vector<nlohmann::json>> records = lab().ReadAuditRecords();
  ASSERT_TRUE(records.ok()) << records.status();
  std::vector<nlohmann::json> reloads;
  for (const nlohmann::json& record : *records) {
    if (record.value("rpc", "") == "Admin/reload") reloads.push_back(record);
  }
  ASSERT_GE(reloads.size(), 3u);
  const nlohmann::json& denied = reloads[reloads.size() - 2];
  const nlohmann::json& last = reloads.back();
  EXPECT_EQ(denied.value("decision", ""), "deny") << denied.dump();
  EXPECT_THAT(denied.value("reason", ""), HasSubstr("max_concurrent_rpcs"));
  EXPECT_EQ(last.value("decision", ""), "allow") << last.dump();
  EXPECT_THAT(last.value("agent", ""), ::testing::StartsWith("admin:"));
  EXPECT_THAT(last.value("reason", ""), ::testing::ContainsRegex("config sha256 [0-9a-f]{64}"));
}

TEST_F(AgentOpsTest, ReloadWithoutASignerSaysSoEvenWithAStalePidFileNamingALiveProcess) {
  const std::string pid_file = absl::StrCat(lab().state_dir(), "/serve.pid");
  absl::StatusOr<std::string> content = ReadFile(pid_file);
  ASSERT_TRUE(content.ok()) << content.status();
  EXPECT_EQ(*content, absl::StrCat(lab().signer_pid(), "\n"));

  absl::StatusOr<int> stopped = lab().StopSigner();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  CommandResult none = Run({"reload", "--config", lab().config_path()});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.err, HasSubstr("no signer running"));

  // A pid file left by a killed signer whose pid now belongs to another process (here: this
  // test, which SIGHUP would kill): nobody holds the lock, so nothing is signalled.
  ASSERT_TRUE(WriteFileAtomically(pid_file, absl::StrCat(::getpid(), "\n"), 0644).ok());
  CommandResult stale = Run({"reload", "--config", lab().config_path()});
  EXPECT_EQ(stale.exit_code, 1);
  EXPECT_THAT(stale.err, HasSubstr("no signer running"));
  // TearDown starts the signer again.
}

TEST_F(AgentOpsTest, SecondServeOnTheSameStateDirIsRefused) {
  CommandResult second = Run({"serve", "--config", lab().config_path()});
  EXPECT_EQ(second.exit_code, 78) << second.out << second.err;
  EXPECT_THAT(second.err, HasSubstr("already runs with this state dir"));
  EXPECT_THAT(second.err, HasSubstr(absl::StrCat("process ", lab().signer_pid())));
  // The first one still serves, and still answers reloads.
  CommandResult accepted = Run({"reload", "--config", lab().config_path()});
  EXPECT_EQ(accepted.exit_code, 0) << accepted.err;
}

TEST_F(AgentOpsTest, AgentsListShowsIdentityCertificateLastSeenAndPolicy) {
  const std::string web1_fingerprint = Fingerprint("web1");
  ASSERT_EQ(web1_fingerprint.size(), 64u);
  std::unique_ptr<agent::SignerClient> web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  ASSERT_TRUE(web1->GetAccount().ok());
  // Throttled: a second call within the minute writes nothing more, the row stays.
  ASSERT_TRUE(web1->GetAccount().ok());

  // An agent with a certificate and no [[agents]] entry is listed too.
  absl::StatusOr<agent::SignerConnection> stray = lab().EnrollAgent("stray");
  ASSERT_TRUE(stray.ok()) << stray.status();

  const nlohmann::json list = AgentsJson();
  const nlohmann::json row = Row(list, "web1");
  EXPECT_EQ(row.value("identity", ""), "spiffe://dept.example/agent/web1") << row.dump(2);
  EXPECT_EQ(row.value("configured", false), true);
  EXPECT_EQ(row.value("state", ""), "active");
  ASSERT_TRUE(row["certificate"].is_object()) << row.dump(2);
  EXPECT_EQ(row["certificate"].value("sha256", ""), web1_fingerprint);
  EXPECT_EQ(row["certificate"].value("source", ""), "enroll-agent");
  EXPECT_EQ(row["certificate"].value("expired", true), false);
  EXPECT_FALSE(row["certificate"].value("not_after", "").empty());
  EXPECT_EQ(row.value("revoked_certificates", -1), 0);
  ASSERT_TRUE(row["last_seen"].is_object()) << row.dump(2);
  EXPECT_EQ(row["last_seen"].value("peer", ""), "127.0.0.1");
  EXPECT_FALSE(row["last_seen"].value("time", "").empty());
  ASSERT_TRUE(row["policy"].is_object());
  EXPECT_EQ(row["policy"]["allowed_names"],
            nlohmann::json::array({"web1.example.test", "*.web1.example.test"}))
      << row.dump(2);
  EXPECT_EQ(row["policy"].value("orders_per_hour", 0), 30);
  EXPECT_EQ(row["policy"].value("allow_sign_jws", true), false);
  EXPECT_EQ(row["policy"].value("front_door", true), false);
  EXPECT_TRUE(row["policy"]["key_types"].is_array());

  const nlohmann::json web3 = Row(list, "web3");
  EXPECT_EQ(web3["policy"].value("allow_sign_jws", false), true) << web3.dump(2);
  const nlohmann::json stray_row = Row(list, "stray");
  EXPECT_EQ(stray_row.value("configured", true), false) << stray_row.dump(2);
  EXPECT_EQ(stray_row.value("state", ""), "active,not-configured");
  EXPECT_TRUE(stray_row["policy"].is_null());
  EXPECT_TRUE(stray_row["last_seen"].is_null());

  CommandResult table = Run({"agents", "list", "--config", lab().config_path()});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("NAME"));
  EXPECT_THAT(table.out, HasSubstr("LAST SEEN"));
  EXPECT_THAT(table.out, HasSubstr("spiffe://dept.example/agent/web1"));
  EXPECT_THAT(table.out, HasSubstr(web1_fingerprint.substr(0, 16)));
  EXPECT_THAT(table.out, HasSubstr("from 127.0.0.1"));
  EXPECT_THAT(table.out, HasSubstr("names=web1.example.test,*.web1.example.test"));
  EXPECT_THAT(table.out, HasSubstr("no [[agents]] entry"));
}

TEST_F(AgentOpsTest, AgentsRevokeRefusesTheHostsCertificateAtOnceOnOpenAndNewConnections) {
  const std::string fingerprint = Fingerprint("web2");
  ASSERT_EQ(fingerprint.size(), 64u);
  absl::StatusOr<agent::SignerConnection> web2 = lab().Connection("web2");
  ASSERT_TRUE(web2.ok()) << web2.status();
  absl::StatusOr<std::string> cert_pem = ReadFile(web2->client_cert);
  ASSERT_TRUE(cert_pem.ok());
  absl::StatusOr<Secret> key_pem = ReadSecretFile(web2->client_key);
  ASSERT_TRUE(key_pem.ok());
  // An established connection, served before the revocation.
  std::unique_ptr<agent::SignerClient> open = Client("web2");
  ASSERT_NE(open, nullptr);
  ASSERT_TRUE(open->GetAccount().ok());
  const size_t audit_before = AuditRecords().size();

  CommandResult revoke = Run({"agents", "revoke", "--config", lab().config_path(), "--name", "web2"});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.out << revoke.err;
  EXPECT_THAT(revoke.out, HasSubstr("1 agent certificate(s) revoked"));
  EXPECT_THAT(revoke.out, HasSubstr("reload accepted"));
  const absl::Time revoked_at = absl::Now();

  // The open connection's next call is refused by the per-call check ...
  absl::StatusOr<acmesigner::v1::GetAccountResponse> denied = open->GetAccount();
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied) << denied.status();
  EXPECT_THAT(denied.status().message(), HasSubstr(absl::StrCat(fingerprint, " of agent web2 is revoked")));
  // ... and a new connection fails its handshake.
  grpc::Status handshake = testing::RawGetAccount(lab(), *cert_pem, std::string(key_pem->reveal()));
  EXPECT_EQ(handshake.error_code(), grpc::StatusCode::UNAVAILABLE) << handshake.error_message();
  EXPECT_LT(absl::Now() - revoked_at, absl::Seconds(1));
  // Other agents are unaffected.
  std::unique_ptr<agent::SignerClient> web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  EXPECT_TRUE(web1->GetAccount().ok());

  // Both refusals are audited.
  bool call_denied = false, handshake_denied = false;
  const std::vector<nlohmann::json> records = AuditRecords();
  for (size_t i = audit_before; i < records.size(); ++i) {
    const nlohmann::json& r = records[i];
    if (r.value("decision", "") != "deny" || r.value("agent", "") != "web2") continue;
    call_denied = call_denied || r.value("rpc", "") == "GetAccount";
    handshake_denied = handshake_denied || (r.value("rpc", "") == "TlsHandshake" &&
                                            r.value("client_cert_sha256", "") == fingerprint);
  }
  EXPECT_TRUE(call_denied);
  EXPECT_TRUE(handshake_denied);

  // agents list shows it revoked.
  const nlohmann::json row = Row(AgentsJson(), "web2");
  EXPECT_EQ(row.value("state", ""), "revoked") << row.dump(2);
  EXPECT_EQ(row.value("revoked_certificates", 0), 1);
  EXPECT_TRUE(row["certificate"].is_null());

  // The revocation survives a restart (loaded from the store at start).
  absl::StatusOr<int> stopped = lab().StopSigner();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  ASSERT_TRUE(lab().StartSigner().ok());
  grpc::Status after_restart =
      testing::RawGetAccount(lab(), *cert_pem, std::string(key_pem->reveal()));
  EXPECT_EQ(after_restart.error_code(), grpc::StatusCode::UNAVAILABLE);

  // Re-enrolled, the host is served again with its new certificate.
  absl::StatusOr<agent::SignerConnection> again = lab().EnrollAgent("web2");
  ASSERT_TRUE(again.ok()) << again.status();
  std::unique_ptr<agent::SignerClient> renewed = Client("web2");
  ASSERT_NE(renewed, nullptr);
  EXPECT_TRUE(renewed->GetAccount().ok());
}

TEST_F(AgentOpsTest, AgentsRevokeWithoutARunningSignerRecordsItForTheNextStart) {
  absl::StatusOr<agent::SignerConnection> enrolled = lab().EnrollAgent("web3");
  ASSERT_TRUE(enrolled.ok()) << enrolled.status();
  absl::StatusOr<int> stopped = lab().StopSigner();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  CommandResult revoke = Run({"agents", "revoke", "--config", lab().config_path(), "--name", "web3"});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.out << revoke.err;
  EXPECT_THAT(revoke.out, HasSubstr("no signer running"));
  EXPECT_THAT(revoke.out, Not(HasSubstr("reload accepted")));
  ASSERT_TRUE(lab().StartSigner().ok());
  std::unique_ptr<agent::SignerClient> web3 = Client("web3");
  ASSERT_NE(web3, nullptr);
  EXPECT_FALSE(web3->GetAccount().ok());
}

// The agent side of "no raw gRPC lines": an agent whose signer CA file is wrong (here: its own
// client certificate, which did not sign the signer's) fails its handshake; its stderr has the
// agent's own message and no line in gRPC's format.
TEST_F(AgentOpsTest, AnAgentWithTheWrongSignerCaPrintsNoRawGrpcLines) {
  absl::StatusOr<agent::SignerConnection> web1 = lab().Connection("web1");
  ASSERT_TRUE(web1.ok()) << web1.status();
  const std::string config = absl::StrCat(lab().dir(), "/wrong-ca-agent.toml");
  const std::string text = absl::StrCat(
      "config_dir = \"", lab().dir(), "/wrong-ca-agent\"\n\n[signer]\naddress = \"",
      lab().signer_address(), "\"\nca = \"", web1->client_cert,
      "\"\n\n[identity]\ntrust_domain = \"", lab().trust_domain(),
      "\"\nname = \"web1\"\nkey = \"", web1->client_key, "\"\ncert = \"", web1->client_cert,
      "\"\n");
  ASSERT_TRUE(WriteFileAtomically(config, text, 0600).ok());
  testing::ChildOptions options;
  options.scratch_dir = lab().dir();
  options.timeout = absl::Seconds(60);
  testing::ChildResult r = testing::RunChild({ACME_AGENT_BIN, "account", "--config", config}, options);
  EXPECT_NE(r.exit_code, 0) << r;
  EXPECT_FALSE(r.err.empty()) << r;
  for (absl::string_view line : absl::StrSplit(r.err, '\n')) {
    EXPECT_FALSE(line.size() > 5 && line[0] == 'E' && absl::ascii_isdigit(line[1]) &&
                 absl::ascii_isdigit(line[4]) && line[5] == ' ')
        << "raw gRPC line: " << line;
    EXPECT_THAT(line, Not(HasSubstr("Handshake failed with fatal error"))) << r;
    EXPECT_THAT(line, Not(HasSubstr("ssl_transport_security.cc"))) << r;
  }
}

}  // namespace
}  // namespace acme_signer
