// `acme-signer audit verify|export|public-key` (the real binary) in both backends: the export
// is today's JSON Lines format, and `audit verify --log EXPORT --public-key PEM` (with the PEM
// from `audit public-key`) checks it offline; `audit verify --config` checks the chain in the
// database with backend = "postgresql" and reports tampering with exit code 3; `audit query`,
// `audit checkpoint` and `audit verify --witness` read the database chain too.
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/key_type.h"
#include "hsm/module.h"
#include "hsm/token.h"
#include "signer/audit_log.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/db_audit_log.h"
#include "signer/runtime.h"
#include "tests/testing/child_process.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer::signer {
namespace {

namespace fs = std::filesystem;
using ::acme_signer::testing::ChildOptions;
using ::acme_signer::testing::ChildResult;
using ::acme_signer::testing::RunChild;
using ::testing::HasSubstr;
using ::testing::StartsWith;

void Write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

AuditRecord Record(int i) {
  AuditRecord record;
  record.agent = "web1";
  record.client_cert_sha256 = std::string(64, 'a');
  record.peer = "ipv4:127.0.0.1:40000";
  record.rpc = "FinalizeOrder";
  record.request.identifiers = {Identifier::Dns(absl::StrCat("www", i, ".example.com"))};
  record.decision = AuditDecision::kAllow;
  record.reason = "names allowed by policy";
  return record;
}

class CmdAuditTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(testing::SoftHsmAvailable().ok());
    ASSERT_TRUE(testing::PostgresCluster::Available().ok());
    auto token_info = testing::CreateSoftHsmToken("cmd-audit");
    ASSERT_TRUE(token_info.ok()) << token_info.status();
    token_info_ = new testing::SoftHsmToken(*token_info);
    auto module = hsm::Module::Load(testing::kSoftHsmModule);
    ASSERT_TRUE(module.ok()) << module.status();
    auto token = hsm::Token::Open(*module, token_info->uri, token_info->pin_file);
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new std::shared_ptr<hsm::Token>(*std::move(token));
    auto key = (*token_)->GenerateSigningKey("pkcs11:object=audit-key", hsm::KeyType::kEcP256);
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = key->release();

    std::string pattern = "/tmp/h2cmd-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = new std::string(pattern);
    auto cluster = testing::PostgresCluster::Start(pattern + "/pg");
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete key_;
    delete token_;
    delete token_info_;
    if (dir_ != nullptr) fs::remove_all(*dir_);
    delete dir_;
  }

  // A config of `backend` ("sqlite" or "postgresql") with `audit` as its [audit] section.
  static std::string Config(const std::string& name, const std::string& state,
                            const std::string& audit) {
    const std::string path = absl::StrCat(*dir_, "/", name, ".toml");
    Write(path, absl::StrCat(R"([server]
tls_cert = "tls/server.pem"
tls_key = "tls/server.key"
agent_ca_cert = "tls/agent-ca.pem"
trust_domain = "dept.example"

[acme]
directory_url = "https://ca.test/dir"

[hsm]
module = "softhsm2"
token_uri = ")",
                             token_info_->uri, R"("
pin_file = ")",
                             token_info_->pin_file, R"("

[state]
dir = "state-)",
                             name, "\"\n", state, "\n", audit));
    return path;
  }

  static ChildResult Run(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {ACME_SIGNER_BIN, "audit"};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildOptions options;
    options.scratch_dir = *dir_;
    options.timeout = absl::Seconds(60);
    return RunChild(argv, options);
  }

  // export + public-key, then the offline check of the export with that key.
  static void ExportVerifiesOffline(const std::string& config, const std::string& name,
                                    const std::string& expected_replica) {
    ChildResult exported = Run({"export", "--config", config});
    ASSERT_EQ(exported.exit_code, kExitOk) << exported;
    ChildResult pem = Run({"public-key", "--config", config});
    ASSERT_EQ(pem.exit_code, kExitOk) << pem;
    EXPECT_THAT(pem.out, StartsWith("-----BEGIN PUBLIC KEY-----"));
    const std::string export_path = absl::StrCat(*dir_, "/", name, ".export.jsonl");
    const std::string pem_path = absl::StrCat(*dir_, "/", name, ".audit-key.pem");
    Write(export_path, exported.out);
    Write(pem_path, pem.out);
    for (absl::string_view line : absl::StrSplit(exported.out, '\n', absl::SkipEmpty())) {
      EXPECT_THAT(std::string(line), HasSubstr(absl::StrCat("\"replica\":\"", expected_replica,
                                                            "\"")));
    }
    ChildResult offline = Run({"verify", "--log", export_path, "--public-key", pem_path});
    EXPECT_EQ(offline.exit_code, kExitOk) << offline;
    EXPECT_THAT(offline.out, StartsWith("OK: "));
  }

  static testing::SoftHsmToken* token_info_;
  static std::shared_ptr<hsm::Token>* token_;
  static hsm::JwsSigner* key_;
  static testing::PostgresCluster* cluster_;
  static std::string* dir_;
};

testing::SoftHsmToken* CmdAuditTest::token_info_ = nullptr;
std::shared_ptr<hsm::Token>* CmdAuditTest::token_ = nullptr;
hsm::JwsSigner* CmdAuditTest::key_ = nullptr;
testing::PostgresCluster* CmdAuditTest::cluster_ = nullptr;
std::string* CmdAuditTest::dir_ = nullptr;

TEST_F(CmdAuditTest, DatabaseChainVerifiesExportsAndReportsTampering) {
  auto conn = db::PgConnection::Connect(cluster_->conninfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)->Exec("drop", "DROP TABLE IF EXISTS audit_records, audit_head").ok());
  ASSERT_TRUE(CreateDbAuditLogTables(**conn).ok());
  {
    DbAuditLogOptions options;
    options.conninfo = cluster_->conninfo();
    options.replica = "db-replica";
    options.checkpoint_interval = 4;
    auto log = DbAuditLog::Open(options, key_);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE((*log)->Append(Record(i)).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  // No [audit] section: the chain is in the database.
  const std::string config =
      Config("pg", absl::StrCat("backend = \"postgresql\"\nurl = \"", cluster_->conninfo(), "\""),
             "");
  ChildResult verified = Run({"verify", "--config", config});
  EXPECT_EQ(verified.exit_code, kExitOk) << verified;
  EXPECT_THAT(verified.out, StartsWith("OK: 13 records"));  // 10 events, 3 checkpoints

  ExportVerifiesOffline(config, "pg", "db-replica");

  // audit query / checkpoint / verify --witness read the database chain the same way.
  ChildResult queried = Run({"query", "--config", config, "--name", "www3.example.com"});
  EXPECT_EQ(queried.exit_code, kExitOk) << queried;
  EXPECT_THAT(queried.out, HasSubstr(" web1 allow FinalizeOrder www3.example.com\n"));
  EXPECT_EQ(std::count(queried.out.begin(), queried.out.end(), '\n'), 1) << queried.out;
  ChildResult checkpoint = Run({"checkpoint", "--config", config});
  ASSERT_EQ(checkpoint.exit_code, kExitOk) << checkpoint;
  EXPECT_THAT(checkpoint.out, HasSubstr("\"seq\":13,"));  // the shutdown checkpoint
  const std::string witness = *dir_ + "/pg-witness.jsonl";
  Write(witness, checkpoint.out);
  ChildResult witnessed = Run({"verify", "--config", config, "--witness", witness});
  EXPECT_EQ(witnessed.exit_code, kExitOk) << witnessed;

  ASSERT_TRUE(cluster_
                  ->Psql("UPDATE audit_records SET line = replace(line, '\"allow\"', '\"deny\"') "
                         "WHERE seq = 2")
                  .ok());
  ChildResult tampered = Run({"verify", "--config", config});
  EXPECT_EQ(tampered.exit_code, kExitAuditBad) << tampered;
  EXPECT_THAT(tampered.out, HasSubstr("FAILED: postgresql:audit_records line 2"));
  EXPECT_THAT(tampered.out, HasSubstr("seq 2"));

  // A local log file with the database backend is refused, not silently ignored.
  const std::string with_log =
      Config("pg-log", absl::StrCat("backend = \"postgresql\"\nurl = \"", cluster_->conninfo(), "\""),
             "[audit]\nlog = \"audit.log\"\n");
  ChildResult refused = Run({"export", "--config", with_log});
  EXPECT_EQ(refused.exit_code, kExitFailure) << refused;
  EXPECT_THAT(refused.err, HasSubstr("log"));
  EXPECT_THAT(refused.err, HasSubstr("only used with [state] backend = \"sqlite\""));
}

// SignerRuntime (what `serve` opens) appends to the database chain with backend = "postgresql",
// naming [state] replica; the chain gets the runtime's shutdown checkpoint when it closes.
TEST_F(CmdAuditTest, RuntimeOpensTheDatabaseChainForThePostgresqlBackend) {
  auto conn = db::PgConnection::Connect(cluster_->conninfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)->Exec("drop", "DROP TABLE IF EXISTS audit_records, audit_head").ok());
  ASSERT_TRUE(CreateDbAuditLogTables(**conn).ok());
  const std::string path =
      Config("rt", absl::StrCat("backend = \"postgresql\"\nurl = \"", cluster_->conninfo(),
                                "\"\nreplica = \"rt-replica\""),
             "[audit]\ncheckpoint_every = 2\n");
  absl::StatusOr<SignerConfig> config = LoadSignerConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  RuntimeParts parts;
  parts.audit_log = true;
  parts.migrate_store = true;  // as `acme-signer init` does: the state tables exist afterwards
  {
    absl::StatusOr<std::unique_ptr<SignerRuntime>> runtime = SignerRuntime::Open(*config, parts);
    ASSERT_TRUE(runtime.ok()) << runtime.status();
    ASSERT_NE(dynamic_cast<DbAuditLog*>((*runtime)->audit.get()), nullptr);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*runtime)->audit->Append(Record(i)).ok());
  }
  absl::StatusOr<AuditVerifyReport> report = VerifyDbAuditChain(**conn, "");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->Summary();
  // e1 e2 cp(interval) e3 cp(shutdown)
  EXPECT_EQ(report->records, 5u);
  EXPECT_EQ(report->checkpoints, 2u);
  absl::StatusOr<db::PgRows> replicas =
      (*conn)->Exec("replicas", "SELECT DISTINCT replica FROM audit_records");
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  ASSERT_EQ(replicas->size(), 1);
  EXPECT_EQ(replicas->Text(0, 0), "rt-replica");
}

TEST_F(CmdAuditTest, FileLogExportsAllFilesInOrder) {
  const std::string log_path = *dir_ + "/file-audit.log";
  {
    AuditLogOptions options;
    options.path = log_path;
    options.checkpoint_interval = 3;
    options.rotate_bytes = 1500;  // several files
    options.replica = "solo";
    auto log = AuditLog::Open(options, key_);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 12; ++i) ASSERT_TRUE((*log)->Append(Record(i)).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  ASSERT_TRUE(fs::exists(log_path + ".1"));
  const std::string config =
      Config("file", "", absl::StrCat("[audit]\nlog = \"", log_path, "\"\n"));
  ExportVerifiesOffline(config, "file", "solo");
}

}  // namespace
}  // namespace acme_signer::signer
