// The pieces of `acme-signer backup` / `restore` that need no HSM: the SQLite online backup of
// a database another connection keeps open, the copy cut at the last complete line, the
// MANIFEST format and its hash check, and restore's refusal to overwrite a target's state.
// With backend = "postgresql", backup runs pg_dump against a real cluster. The whole round trip
// with a serving signer is tests/integration/backup_restore_test.cc.
#include "signer/backup.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signer/backup_files.h"
#include "signer/backup_manifest.h"
#include "signer/backup_restore.h"
#include "signer/db/pg_connection.h"
#include "signer/db/sqlite_backup.h"
#include "signer/db_audit_log.h"
#include "signer/state_store.h"
#include "tests/acme/openssl_signers.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/softhsm_token.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer {
namespace {

namespace fs = std::filesystem;
using ::acme_signer::testing::IsOk;
using ::acme_signer::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

void Write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "backup-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return absl::StrCat(dir_, "/", name); }

  // A backup directory with `files` (name -> content, role) and a MANIFEST listing them.
  std::string MakeBackup(
      const std::string& name,
      const std::vector<std::tuple<std::string, std::string, std::string>>& files) {
    const std::string backup = Path(name);
    fs::create_directories(backup);
    BackupManifest manifest;
    manifest.created = absl::FromUnixSeconds(1800000000);
    manifest.backend = "sqlite";
    manifest.config_source = "/etc/acme-signer/acme-signer.toml";
    for (const auto& [file, content, role] : files) {
      Write(absl::StrCat(backup, "/", file), content);
      BackupEntry entry;
      entry.sha256 = Sha256Hex(content);
      entry.bytes = content.size();
      entry.role = role;
      entry.name = file;
      manifest.files.push_back(entry);
    }
    Write(absl::StrCat(backup, "/MANIFEST"), manifest.Format());
    return backup;
  }

  std::string dir_;
};

TEST_F(BackupTest, OnlineBackupCopiesADatabaseAnotherConnectionKeepsOpen) {
  absl::StatusOr<std::unique_ptr<StateStore>> live = StateStore::Open(Path("signer.db"));
  ASSERT_THAT(live.status(), IsOk());
  ASSERT_THAT((*live)->SetValue("audit.checkpoint", "7 abc"), IsOk());

  ASSERT_THAT(db::BackupSqliteDatabase(Path("signer.db"), Path("copy.db")), IsOk());
  // The live store goes on writing; the copy is the snapshot.
  ASSERT_THAT((*live)->SetValue("audit.checkpoint", "8 def"), IsOk());

  EXPECT_EQ(ModeOf(Path("copy.db")), 0600);
  StateStoreOptions options;
  options.sqlite_path = Path("copy.db");
  absl::StatusOr<std::unique_ptr<StateStore>> copy = StateStore::Open(options);
  ASSERT_THAT(copy.status(), IsOk());
  absl::StatusOr<std::optional<std::string>> value = (*copy)->GetValue("audit.checkpoint");
  ASSERT_THAT(value.status(), IsOk());
  EXPECT_EQ(value->value_or(""), "7 abc");
  copy->reset();
  // Opening and closing the copy leaves no WAL files beside it.
  EXPECT_FALSE(PathExists(Path("copy.db-wal")));
  EXPECT_FALSE(PathExists(Path("copy.db-shm")));
}

TEST_F(BackupTest, OnlineBackupNeverOverwritesAFile) {
  absl::StatusOr<std::unique_ptr<StateStore>> live = StateStore::Open(Path("signer.db"));
  ASSERT_THAT(live.status(), IsOk());
  Write(Path("copy.db"), "keep me");
  EXPECT_THAT(db::BackupSqliteDatabase(Path("signer.db"), Path("copy.db")),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("copy.db")));
  EXPECT_EQ(Read(Path("copy.db")), "keep me");
  EXPECT_THAT(db::BackupSqliteDatabase(Path("absent.db"), Path("other.db")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent.db")));
}

TEST_F(BackupTest, CopyOfTheActiveLogEndsAtItsLastCompleteLine) {
  Write(Path("audit.log"), "{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3,\"half");
  absl::StatusOr<CopiedFile> cut =
      CopyFileForBackup(Path("audit.log"), Path("cut"), 0600, /*whole_lines_only=*/true);
  ASSERT_THAT(cut.status(), IsOk());
  EXPECT_EQ(Read(Path("cut")), "{\"seq\":1}\n{\"seq\":2}\n");
  EXPECT_EQ(cut->bytes, 20u);
  EXPECT_EQ(cut->dropped_bytes, 14u);
  EXPECT_EQ(ModeOf(Path("cut")), 0600);

  absl::StatusOr<CopiedFile> whole =
      CopyFileForBackup(Path("audit.log"), Path("whole"), 0600, /*whole_lines_only=*/false);
  ASSERT_THAT(whole.status(), IsOk());
  EXPECT_EQ(Read(Path("whole")), Read(Path("audit.log")));
  EXPECT_EQ(whole->dropped_bytes, 0u);
  EXPECT_THAT(CopyFileForBackup(Path("audit.log"), Path("whole"), 0600, false).status(),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("whole")));
}

TEST_F(BackupTest, ManifestRoundTripsAndItsHashesMatchTheFiles) {
  const std::string backup = MakeBackup(
      "b", {{"signer.db", "db bytes", std::string(kRoleStateDb)},
            {"audit.log", "line 1\n", std::string(kRoleAuditLog)},
            {"audit.log.1", "line 2\n", std::string(kRoleAuditLog)},
            {"agent-ca.pem", "-----BEGIN CERTIFICATE-----\n", std::string(kRoleAgentCaCert)}});
  absl::StatusOr<BackupManifest> manifest = ReadAndVerifyBackup(backup);
  ASSERT_THAT(manifest.status(), IsOk());
  ASSERT_EQ(manifest->files.size(), 4u);
  EXPECT_EQ(manifest->files[2].audit_index, 1);
  EXPECT_EQ(manifest->files[0].sha256, Sha256Hex("db bytes"));
  EXPECT_EQ(manifest->config_source, "/etc/acme-signer/acme-signer.toml");
  EXPECT_EQ(manifest->created, absl::FromUnixSeconds(1800000000));
  EXPECT_EQ(*Sha256HexOfFile(absl::StrCat(backup, "/audit.log")), Sha256Hex("line 1\n"));
}

TEST_F(BackupTest, AlteredBackupFileIsRefusedByName) {
  const std::string backup =
      MakeBackup("b", {{"signer.db", "db bytes", std::string(kRoleStateDb)},
                       {"audit.log", "line 1\nline 2\n", std::string(kRoleAuditLog)}});
  Write(absl::StrCat(backup, "/audit.log"), "line 1\nline X\n");
  EXPECT_THAT(
      ReadAndVerifyBackup(backup).status(),
      StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr(absl::StrCat(backup, "/audit.log")),
                                                  HasSubstr("does not match its SHA-256"))));
  fs::remove(absl::StrCat(backup, "/audit.log"));
  EXPECT_THAT(ReadAndVerifyBackup(backup).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("audit.log")));
  fs::remove(absl::StrCat(backup, "/MANIFEST"));
  EXPECT_THAT(ReadAndVerifyBackup(backup).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not a finished")));
}

TEST_F(BackupTest, ManifestRefusesNamesOutsideTheDirectoryAndGaps) {
  const std::string sha = std::string(64, 'a');
  const std::string head = "acme-signer-backup 1\nbackend sqlite\n";
  EXPECT_THAT(
      ParseBackupManifest(absl::StrCat(head, "file ", sha, " 1 state-db ../signer.db\n")).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("MANIFEST:3")));
  EXPECT_THAT(ParseBackupManifest(absl::StrCat(head, "file ", sha, " 1 pin-file pin\n")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown role pin-file")));
  EXPECT_THAT(ParseBackupManifest(absl::StrCat(head, "file ", sha, " 1 state-db signer.db\n",
                                               "file ", sha, " 1 audit-log audit.log.2\n"))
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("audit.log.2 is listed but audit.log is not")));
  EXPECT_THAT(ParseBackupManifest("acme-signer-backup 2\n").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("format 1")));
}

TEST_F(BackupTest, RestoreRefusesATargetThatHasStateAndWritesNothing) {
  const std::string backup =
      MakeBackup("b", {{"signer.db", "db bytes", std::string(kRoleStateDb)},
                       {"audit.log", "line 1\n", std::string(kRoleAuditLog)}});
  SignerConfig target;
  target.source = Path("target.toml");
  target.state.dir = Path("state");
  target.audit.log = Path("audit/audit.log");
  target.server.agent_ca_cert = Path("tls/agent-ca.pem");
  target.server.tls_cert = Path("tls/server.pem");
  target.server.tls_key = Path("tls/server.key");
  fs::create_directories(Path("audit"));
  Write(Path("audit/audit.log.1"), "the old signer's evidence\n");

  RestoreOptions options;
  options.from_dir = backup;
  EXPECT_THAT(RestoreBackup(target, options).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(Path("audit/audit.log.1")), HasSubstr("--force"))));
  EXPECT_FALSE(PathExists(Path("state/signer.db")));
  EXPECT_EQ(Read(Path("audit/audit.log.1")), "the old signer's evidence\n");
}

TEST_F(BackupTest, PostgresqlBackendIsDumpedWithPgDumpAfterItsChainVerified) {
  if (absl::Status available = testing::PostgresCluster::Available(); !available.ok()) {
    if (testing::InCi()) FAIL() << "CI=true and PostgreSQL is missing: " << available;
    GTEST_SKIP() << available;
  }
  absl::StatusOr<std::unique_ptr<testing::PostgresCluster>> cluster =
      testing::PostgresCluster::Start(Path("pg"));
  ASSERT_THAT(cluster.status(), IsOk());
  const std::string conninfo = (*cluster)->conninfo();
  {
    absl::StatusOr<std::unique_ptr<db::PgConnection>> conn = db::PgConnection::Connect(conninfo);
    ASSERT_THAT(conn.status(), IsOk());
    ASSERT_THAT(CreateDbAuditLogTables(**conn), IsOk());
  }
  std::unique_ptr<acme::testing::OpenSslJwsSigner> key =
      acme::testing::OpenSslJwsSigner::GenerateEs256();
  {
    DbAuditLogOptions options;
    options.conninfo = conninfo;
    options.replica = "r1";
    options.checkpoint_interval = 2;
    absl::StatusOr<std::unique_ptr<DbAuditLog>> log = DbAuditLog::Open(options, key.get());
    ASSERT_THAT(log.status(), IsOk());
    for (int i = 0; i < 3; ++i) {
      AuditRecord record;
      record.agent = "web1";
      record.client_cert_sha256 = std::string(64, 'a');
      record.rpc = "FinalizeOrder";
      record.request.identifiers = {Identifier::Dns(absl::StrCat("www", i, ".example.com"))};
      record.decision = AuditDecision::kAllow;
      record.reason = "names allowed by policy";
      ASSERT_THAT((*log)->Append(record).status(), IsOk());
    }
    ASSERT_THAT((*log)->Close(), IsOk());
  }
  SignerConfig config;
  config.source = Path("acme-signer.toml");
  Write(config.source, "# the config\n");
  config.state.dir = Path("state");
  config.state.backend = StateConfig::Backend::kPostgresql;
  config.state.url = conninfo;
  config.server.agent_ca_cert = Path("agent-ca.pem");
  config.server.tls_cert = Path("server.pem");
  config.server.tls_key = Path("server.key");
  Write(config.server.agent_ca_cert, "CA\n");
  Write(config.server.tls_cert, "SERVER\n");
  Write(config.server.tls_key, "SECRET KEY\n");

  BackupOptions options;
  options.out_dir = Path("backup");
  absl::StatusOr<BackupResult> backup = WriteBackup(config, options);
  ASSERT_THAT(backup.status(), IsOk());
  EXPECT_TRUE(backup->report.ok()) << backup->report.Summary();
  EXPECT_EQ(backup->manifest.backend, "postgresql");
  EXPECT_EQ(backup->manifest.audit_last_seq, 5u);  // e1 e2 cp e3 cp(shutdown)
  const std::string dump = Path("backup/state.pgdump");
  EXPECT_EQ(Read(dump).substr(0, 5), "PGDMP");  // pg_dump's custom format
  EXPECT_EQ(ModeOf(dump), 0600);
  EXPECT_EQ(ModeOf(Path("backup")), 0700);
  EXPECT_FALSE(PathExists(Path("backup/server.key")));
  absl::StatusOr<BackupManifest> verified = ReadAndVerifyBackup(Path("backup"));
  ASSERT_THAT(verified.status(), IsOk());
  EXPECT_EQ(verified->WithRole(kRolePostgresDump).size(), 1u);

  // Such a backup goes back with pg_restore, not `acme-signer restore`.
  SignerConfig target;
  target.source = Path("target.toml");
  target.state.dir = Path("target-state");
  target.audit.log = Path("target-audit/audit.log");
  RestoreOptions restore;
  restore.from_dir = Path("backup");
  EXPECT_THAT(RestoreBackup(target, restore).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("pg_restore")));
}

}  // namespace
}  // namespace acme_signer::signer
