// `acme-signer backup` and `acme-signer restore` against a real lab (SoftHSM2, Pebble, the
// real acme-signer serving): a backup taken while serving, the live signer moving on, a
// restore into a NEW directory with the SAME token, `init` making a new TLS key, serve from the
// restored config, an issuance, and `audit verify` passing with the chain continuing right
// after the backup's last record. Also: the MANIFEST's hashes are the files' hashes, no PIN and
// no private key is in the backup, an altered backup is refused naming the file, and restore
// and backup refuse to overwrite anything.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "agent/csr.h"
#include "agent/private_key.h"
#include "agent/relay_issuer.h"
#include "agent/signer_client.h"
#include "agent/standalone_solver.h"
#include "common/crypto.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

// The records of the audit log whose first file is `path` (path, path.1, ...), parsed.
std::vector<nlohmann::json> AuditRecordsAt(const std::string& path) {
  std::vector<nlohmann::json> records;
  for (int i = 0; i < 1000; ++i) {
    const std::string file = i == 0 ? path : absl::StrCat(path, ".", i);
    if (!fs::exists(file)) break;
    for (absl::string_view line : absl::StrSplit(ReadAll(file), '\n', absl::SkipEmpty())) {
      records.push_back(nlohmann::json::parse(line, nullptr, false));
    }
  }
  return records;
}

// "file <sha256> <bytes> <role> <name>" lines of a MANIFEST: name -> sha256.
std::vector<std::pair<std::string, std::string>> ManifestFiles(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> files;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    if (parts.size() == 5 && parts[0] == "file") files.emplace_back(parts[4], parts[1]);
  }
  return files;
}

class BackupRestoreTest : public testing::SignerLabSuite<BackupRestoreTest> {
 protected:
  // Checkpoints every few records, so the backed-up database references one (the default 256
  // would leave a short test without any).
  static testing::SignerLab::Options LabOptions() {
    testing::SignerLab::Options options;
    options.checkpoint_every = 4;
    return options;
  }

  void TearDown() override {
    if (!lab_started() || original_config_.empty()) return;
    // Put the suite's own signer back for the next test.
    if (lab().signer_running()) (void)lab().StopSigner();
    EXPECT_TRUE(lab().WriteRawConfig(original_config_).ok());
    original_config_.clear();
    absl::Status started = lab().StartSigner();
    EXPECT_TRUE(started.ok()) << started << lab().SignerLogTail();
  }

  // Issues a certificate for `names` as `agent_name` through the running signer; the serial.
  static absl::StatusOr<std::string> Issue(const std::string& agent_name,
                                           const std::vector<std::string>& names) {
    absl::StatusOr<std::unique_ptr<agent::SignerClient>> client = lab().Client(agent_name);
    if (!client.ok()) return client.status();
    absl::StatusOr<agent::PrivateKey> key = agent::PrivateKey::Generate(agent::KeySpec());
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> csr = agent::BuildCsrDer(*key, names);
    if (!csr.ok()) return csr.status();
    agent::StandaloneSolver solver("127.0.0.1", lab().http_port());
    agent::RelayIssueOptions options;
    options.domains = names;
    options.csr_der = *csr;
    options.validation_timeout = absl::Minutes(2);
    options.processing_timeout = absl::Minutes(2);
    options.min_poll = absl::Milliseconds(200);
    options.max_poll = absl::Seconds(2);
    absl::StatusOr<agent::IssuedChain> chain = agent::IssueThroughSigner(**client, solver, options);
    if (!chain.ok()) return chain.status();
    return chain->serial;
  }

  // One backup of the serving lab signer, taken after one issuance, shared by the tests.
  static void EnsureBackup() {
    if (!backup_dir_.empty()) return;
    absl::StatusOr<std::string> serial = Issue("web1", {"web1.example.test"});
    ASSERT_TRUE(serial.ok()) << serial.status() << "\n" << lab().SignerLogTail();
    const std::string dir = lab().dir() + "/backup-1";
    CommandResult backup = Run({"backup", "--config", lab().config_path(), "--out", dir});
    ASSERT_EQ(backup.exit_code, 0) << backup.out << backup.err;
    EXPECT_THAT(backup.out, HasSubstr("audit chain of the backup: OK: "));
    EXPECT_THAT(backup.out, HasSubstr("SQLite online backup"));
    backup_dir_ = dir;
    serial_before_backup_ = *serial;
    backup_output_ = backup.out;
  }

  // The lab's config with every path inside the lab's directory moved under `dir` and made
  // absolute (the lab writes them relative: state, audit/audit.log, tls/...), so the text
  // means the same wherever the file is. The token (pin_file) and Pebble stay the same.
  static std::string ConfigMovedTo(const std::string& dir) {
    std::string text = ReadAll(lab().config_path());
    absl::StrReplaceAll(
        {{"dir = \"state\"", absl::StrCat("dir = \"", dir, "/state\"")},
         {"log = \"audit/audit.log\"", absl::StrCat("log = \"", dir, "/audit/audit.log\"")},
         {"\"tls/", absl::StrCat("\"", dir, "/tls/")}},
        &text);
    return text;
  }

  // A new, empty directory with a config that puts the signer in it.
  static std::string NewSignerDir(const std::string& name, std::string* config_text) {
    const std::string dir = absl::StrCat(lab().dir(), "/", name);
    fs::create_directories(dir);
    *config_text = ConfigMovedTo(dir);
    std::ofstream(dir + "/acme-signer.toml") << *config_text;
    return dir;
  }

  static inline std::string backup_dir_;
  static inline std::string serial_before_backup_;
  static inline std::string backup_output_;
  std::string original_config_;
};

TEST_F(BackupRestoreTest, RestoredSignerServesIssuesAndContinuesTheChainAfterTheBackup) {
  ASSERT_NO_FATAL_FAILURE(EnsureBackup());
  const std::string manifest = ReadAll(backup_dir_ + "/MANIFEST");
  uint64_t backup_last_seq = 0;
  uint64_t backup_checkpoint_seq = 0;
  for (absl::string_view line : absl::StrSplit(manifest, '\n')) {
    if (absl::ConsumePrefix(&line, "audit_last_seq ")) {
      ASSERT_TRUE(absl::SimpleAtoi(line, &backup_last_seq));
    }
    if (absl::ConsumePrefix(&line, "audit_checkpoint_seq ")) {
      ASSERT_TRUE(absl::SimpleAtoi(line, &backup_checkpoint_seq));
    }
  }
  ASSERT_GT(backup_last_seq, 0u) << manifest;
  ASSERT_GT(backup_checkpoint_seq, 0u) << manifest;
  ASSERT_LE(backup_checkpoint_seq, backup_last_seq) << manifest;

  // The live signer moves on after the backup.
  absl::StatusOr<std::string> after = Issue("web1", {"www.web1.example.test"});
  ASSERT_TRUE(after.ok()) << after.status() << "\n" << lab().SignerLogTail();
  ASSERT_GT(AuditRecords().back()["seq"].get<uint64_t>(), backup_last_seq);

  // Restore into a new directory, with the same token.
  std::string restored_config;
  const std::string dir = NewSignerDir("restored", &restored_config);
  const std::string config = dir + "/acme-signer.toml";
  CommandResult restore = Run({"restore", "--from", backup_dir_, "--config", config});
  ASSERT_EQ(restore.exit_code, 0) << restore.out << restore.err;
  EXPECT_THAT(restore.out, HasSubstr("every file matches its SHA-256 in MANIFEST"));
  EXPECT_THAT(restore.out, HasSubstr("audit chain: OK: "));
  EXPECT_THAT(restore.out, HasSubstr("next: run `acme-signer init --config"));
  EXPECT_EQ(ModeOf(dir + "/state"), 0700);
  EXPECT_EQ(ModeOf(dir + "/state/signer.db"), 0640);
  EXPECT_EQ(ModeOf(dir + "/audit/audit.log"), 0640);
  EXPECT_EQ(ReadAll(dir + "/tls/agent-ca.pem"), ReadAll(lab().agent_ca_path()));
  EXPECT_FALSE(fs::exists(dir + "/tls/server.key"));  // no key in the backup

  // A second restore onto it is refused: it has state now.
  CommandResult again = Run({"restore", "--from", backup_dir_, "--config", config});
  EXPECT_EQ(again.exit_code, 1) << again.out;
  EXPECT_THAT(again.err, HasSubstr(dir + "/state/signer.db"));
  EXPECT_THAT(again.err, HasSubstr("--force"));

  // init makes the new server key and certificate from the agent CA in the HSM.
  CommandResult init = Run({"init", "--config", config});
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  EXPECT_THAT(init.out, HasSubstr("agent CA: found"));
  EXPECT_THAT(init.out, HasSubstr("server TLS: issued"));

  // Serve from the restored config (through the lab, so its agents and readiness probe are
  // used: the config text has only absolute paths inside `dir`).
  original_config_ = ReadAll(lab().config_path());
  ASSERT_TRUE(lab().StopSigner().ok());
  ASSERT_TRUE(lab().WriteRawConfig(restored_config).ok());
  absl::Status started = lab().StartSigner();
  ASSERT_TRUE(started.ok()) << started << lab().SignerLogTail();
  absl::StatusOr<std::string> restored_serial = Issue("web1", {"web1.example.test"});
  ASSERT_TRUE(restored_serial.ok()) << restored_serial.status() << "\n" << lab().SignerLogTail();
  ASSERT_TRUE(lab().StopSigner().ok());

  CommandResult verify = Run({"audit", "verify", "--config", config});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_THAT(verify.out, HasSubstr("OK: "));

  // The chain continues right after the backup's last record: the backup's records are the
  // restored chain's first ones, the next seq is the restored signer's (its startup
  // checkpoint), and the checkpoint the backed-up database references is in the files.
  const std::vector<nlohmann::json> backed_up = AuditRecordsAt(backup_dir_ + "/audit.log");
  const std::vector<nlohmann::json> restored = AuditRecordsAt(dir + "/audit/audit.log");
  ASSERT_EQ(backed_up.size(), backup_last_seq);
  ASSERT_GT(restored.size(), backed_up.size());
  for (size_t i = 0; i < backed_up.size(); ++i) ASSERT_EQ(restored[i], backed_up[i]) << i;
  EXPECT_EQ(restored[backup_last_seq]["seq"], backup_last_seq + 1);
  EXPECT_EQ(restored[backup_last_seq]["prev"], backed_up.back()["hash"]);
  EXPECT_EQ(restored[backup_checkpoint_seq - 1]["kind"], "checkpoint");
  // The live signer's records after the backup are not in the restored chain.
  const std::string live_after_hash = AuditRecords()[backup_last_seq]["hash"];
  for (const nlohmann::json& record : restored) EXPECT_NE(record["hash"], live_after_hash);

  // The restored inventory: the certificate from before the backup and the new one, not the
  // one the old signer issued after the backup.
  CommandResult inventory = Run({"inventory", "--config", config, "--json"});
  ASSERT_EQ(inventory.exit_code, 0) << inventory.err;
  std::set<std::string> serials;
  for (const nlohmann::json& entry : nlohmann::json::parse(inventory.out)) {
    serials.insert(entry.value("serial", ""));
  }
  EXPECT_TRUE(serials.count(serial_before_backup_)) << inventory.out;
  EXPECT_TRUE(serials.count(*restored_serial)) << inventory.out;
  EXPECT_FALSE(serials.count(*after)) << inventory.out;
}

TEST_F(BackupRestoreTest, ManifestHashesAreTheFilesAndTheBackupHoldsNoPinOrPrivateKey) {
  ASSERT_NO_FATAL_FAILURE(EnsureBackup());
  EXPECT_EQ(ModeOf(backup_dir_), 0700);
  const std::vector<std::pair<std::string, std::string>> files =
      ManifestFiles(ReadAll(backup_dir_ + "/MANIFEST"));
  std::set<std::string> listed = {"MANIFEST"};
  for (const auto& [name, sha256] : files) {
    listed.insert(name);
    EXPECT_EQ(Sha256Hex(ReadAll(backup_dir_ + "/" + name)), sha256) << name;
  }
  for (const char* name :
       {"signer.db", "audit.log", "acme-signer.toml", "agent-ca.pem", "server.pem"}) {
    EXPECT_TRUE(listed.count(name)) << name << " is not in the MANIFEST";
  }
  absl::StatusOr<Secret> pin = ReadSecretFile(lab().token().pin_file);
  ASSERT_TRUE(pin.ok()) << pin.status();
  const std::string server_key = ReadAll(lab().dir() + "/tls/server.key");
  ASSERT_FALSE(server_key.empty());
  for (const auto& entry : fs::directory_iterator(backup_dir_)) {
    const std::string name = entry.path().filename().string();
    EXPECT_TRUE(listed.count(name)) << name << " is in the backup but not in the MANIFEST";
    EXPECT_EQ(ModeOf(entry.path().string()), 0600) << name;
    const std::string content = ReadAll(entry.path().string());
    EXPECT_EQ(content.find(std::string(pin->reveal())), std::string::npos)
        << "the PIN is in " << name;
    EXPECT_EQ(content.find("PRIVATE KEY"), std::string::npos) << "a private key is in " << name;
    EXPECT_EQ(content.find(server_key), std::string::npos) << "server.key is in " << name;
  }
  EXPECT_THAT(backup_output_, HasSubstr("not in the backup: the PIN file"));
}

TEST_F(BackupRestoreTest, TlsKeysAreBackedUpOnlyWhenAskedAndThenRestoredWithTheirCertificate) {
  const std::string backup_dir = lab().dir() + "/backup-with-keys";
  CommandResult backup =
      Run({"backup", "--config", lab().config_path(), "--out", backup_dir, "--include-tls-keys"});
  ASSERT_EQ(backup.exit_code, 0) << backup.out << backup.err;
  EXPECT_THAT(backup.out, HasSubstr("the backup holds TLS private keys"));
  const std::string server_key = ReadAll(lab().dir() + "/tls/server.key");
  EXPECT_EQ(ReadAll(backup_dir + "/server.key"), server_key);
  EXPECT_EQ(ModeOf(backup_dir + "/server.key"), 0600);
  EXPECT_THAT(ReadAll(backup_dir + "/MANIFEST"), HasSubstr(" server-key server.key\n"));

  std::string config_text;
  const std::string dir = NewSignerDir("restored-with-keys", &config_text);
  CommandResult restore =
      Run({"restore", "--from", backup_dir, "--config", dir + "/acme-signer.toml"});
  ASSERT_EQ(restore.exit_code, 0) << restore.out << restore.err;
  EXPECT_EQ(ReadAll(dir + "/tls/server.key"), server_key);
  EXPECT_EQ(ModeOf(dir + "/tls/server.key"), 0600);
  EXPECT_EQ(ReadAll(dir + "/tls/server.pem"), ReadAll(lab().dir() + "/tls/server.pem"));
  EXPECT_EQ(ModeOf(dir + "/tls/server.pem"), 0644);
  // With the pair restored there is nothing for init to make.
  EXPECT_THAT(restore.out, Not(HasSubstr("acme-signer init")));
}

TEST_F(BackupRestoreTest, AlteredBackupIsRefusedNamingTheFileAndNothingIsRestored) {
  ASSERT_NO_FATAL_FAILURE(EnsureBackup());
  const std::string copy = lab().dir() + "/backup-altered";
  fs::copy(backup_dir_, copy, fs::copy_options::recursive);
  {
    // One record's decision changed, as someone hiding a denial would.
    std::string log = ReadAll(copy + "/audit.log");
    const size_t at = log.find("\"deny\"");
    const size_t allow = log.find("\"allow\"");
    ASSERT_NE(allow, std::string::npos);
    if (at != std::string::npos) {
      log.replace(at, 6, "\"allo\"");
    } else {
      log.replace(allow, 7, "\"alloW\"");
    }
    std::ofstream(copy + "/audit.log", std::ios::binary | std::ios::trunc) << log;
  }
  std::string config_text;
  const std::string dir = NewSignerDir("restored-altered", &config_text);
  CommandResult restore = Run({"restore", "--from", copy, "--config", dir + "/acme-signer.toml"});
  EXPECT_EQ(restore.exit_code, 1) << restore.out;
  EXPECT_THAT(restore.err, HasSubstr(copy + "/audit.log"));
  EXPECT_THAT(restore.err, HasSubstr("does not match its SHA-256 in MANIFEST"));
  EXPECT_FALSE(fs::exists(dir + "/state"));
  EXPECT_FALSE(fs::exists(dir + "/audit"));
}

TEST_F(BackupRestoreTest, RestoreRefusesATargetWhereServeRunsAndBackupANonEmptyDirectory) {
  ASSERT_NO_FATAL_FAILURE(EnsureBackup());
  CommandResult restore =
      Run({"restore", "--from", backup_dir_, "--config", lab().config_path(), "--force"});
  EXPECT_EQ(restore.exit_code, 1) << restore.out;
  EXPECT_THAT(restore.err, HasSubstr("acme-signer serve (pid "));
  EXPECT_THAT(restore.err, HasSubstr("stop it first"));

  const std::string busy = lab().dir() + "/backup-busy";
  fs::create_directories(busy);
  std::ofstream(busy + "/notes.txt") << "someone's file\n";
  CommandResult backup = Run({"backup", "--config", lab().config_path(), "--out", busy});
  EXPECT_EQ(backup.exit_code, 1) << backup.out;
  EXPECT_THAT(backup.err, HasSubstr("is not empty (it holds notes.txt)"));
  EXPECT_EQ(ReadAll(busy + "/notes.txt"), "someone's file\n");
}

}  // namespace
}  // namespace acme_signer
