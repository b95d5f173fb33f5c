// Tampering with the audit log between two runs of the real signer (SignerLab: the acme-signer
// binary, SoftHSM2, Pebble, gRPC over mutual TLS), issue 11:
//  - cut back to the first checkpoint and append a forged, correctly chained event: `serve`
//    exits 78 naming the first missing record (file, line, seq) and signs nothing, and
//    `audit verify --config` (and `--log --public-key --checkpoint`) fails at the same record;
//  - the file truncated in the middle of its 2nd record: the same;
//  - an honest crash in the middle of an append (the signer SIGKILLed, a partial line after the
//    last checkpoint): the signer still starts, sets the line aside and `audit verify` passes;
//  - a rotated file (.1) deleted while .2 exists: `audit verify` and `serve` name it.
// One SignerLab serves the whole suite. A test that tampers backs the log files up first and
// puts them back (and the signer running) in TearDown; the state store is never touched,
// because the signer refuses before it writes anything.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "signer/audit_log.h"
#include "signer/audit_record.h"
#include "signer/state_store.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

namespace fs = std::filesystem;

using ::testing::AllOf;
using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kExitConfig = 78;   // signer/commands.h
constexpr int kExitAuditBad = 3;  // signer/commands.h
constexpr int kSigkillStatus = 128 + 9;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::string> Lines(const std::string& path) {
  return absl::StrSplit(Slurp(path), '\n', absl::SkipEmpty());
}

// An event chained after `prev` with seq `seq`: what someone who can write the log, but not
// use the audit key in the HSM, can forge.
std::string ForgedEvent(uint64_t seq, const std::string& prev) {
  signer::AuditRecord record;
  record.agent = "web1";
  record.rpc = "FinalizeOrder";
  record.request.identifiers = {signer::Identifier::Dns("forged.web1.example.test")};
  record.decision = signer::AuditDecision::kAllow;
  record.reason = "names allowed by policy";
  nlohmann::json event = signer::AuditRecordToJson(record);
  event["kind"] = "event";
  event["seq"] = seq;
  event["prev"] = prev;
  event["time"] = "2024-05-01T12:00:00.000000Z";
  event["hash"] = signer::AuditRecordHash(event);
  return signer::CanonicalJson(event);
}

class AuditTamperTest : public testing::SignerLabSuite<AuditTamperTest> {
 protected:
  void TearDown() override {
    if (!lab_started()) return;
    if (!backup_dir_.empty()) RestoreLog();
    if (!lab().signer_running()) {
      absl::Status started = lab().StartSigner();
      ASSERT_TRUE(started.ok()) << started;
    }
  }

  // `n` audit records: CreateOrder calls for a name outside web1's policy, each refused and
  // audited without reaching the CA.
  static void MakeRecords(int n) {
    std::unique_ptr<agent::SignerClient> client = Client("web1");
    ASSERT_NE(client, nullptr);
    for (int i = 0; i < n; ++i) {
      EXPECT_FALSE(client->CreateOrder({"not-allowed.example.org"}, "").ok());
    }
  }

  static void StopCleanly() {
    absl::StatusOr<int> stopped = lab().StopSigner();
    ASSERT_TRUE(stopped.ok()) << stopped.status();
    ASSERT_EQ(*stopped, 0) << lab().SignerLogTail();
  }

  // The log's files in order (PATH, PATH.1, ... while they exist).
  static std::vector<std::string> LogFiles() {
    std::vector<std::string> files;
    for (int i = 0;; ++i) {
      std::string name =
          i == 0 ? lab().audit_log_path() : absl::StrCat(lab().audit_log_path(), ".", i);
      if (!fs::exists(name)) return files;
      files.push_back(name);
    }
  }

  static bool IsLogFile(const fs::path& path) {
    const std::string base = fs::path(lab().audit_log_path()).filename().string();
    const std::string name = path.filename().string();
    return name == base || name.rfind(base + ".", 0) == 0;
  }

  // Copies every log file aside; TearDown puts them back. The signer must be stopped.
  void BackUpLog() {
    backup_dir_ = lab().dir() + "/audit-backup";
    fs::create_directories(backup_dir_);
    for (const auto& entry :
         fs::directory_iterator(fs::path(lab().audit_log_path()).parent_path())) {
      if (IsLogFile(entry.path())) {
        fs::copy_file(entry.path(), backup_dir_ / entry.path().filename(),
                      fs::copy_options::overwrite_existing);
      }
    }
  }

  void RestoreLog() {
    const fs::path dir = fs::path(lab().audit_log_path()).parent_path();
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (IsLogFile(entry.path())) fs::remove(entry.path());
    }
    for (const auto& entry : fs::directory_iterator(backup_dir_)) {
      fs::copy_file(entry.path(), dir / entry.path().filename());
    }
    fs::remove_all(backup_dir_);
    backup_dir_.clear();
  }

  // A state store value, read the way an auditor would copy it (the signer must be stopped).
  static std::string StoredValue(absl::string_view key) {
    absl::StatusOr<std::unique_ptr<signer::StateStore>> store =
        signer::StateStore::Open(lab().state_dir() + "/signer.db");
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return "";
    absl::StatusOr<std::optional<std::string>> value = (*store)->GetValue(key);
    EXPECT_TRUE(value.ok() && value->has_value()) << key;
    return value.ok() && value->has_value() ? **value : "";
  }

  // `acme-signer audit verify --log PATH --public-key DER [--checkpoint REF]`: the auditor's
  // form, with the key (and reference) copied from the state store.
  static CommandResult VerifyWithLog(bool with_reference) {
    std::string der;
    EXPECT_TRUE(absl::Base64Unescape(StoredValue(signer::kAuditPublicKeyKey), &der));
    const std::string key_file = lab().dir() + "/audit-key.der";
    EXPECT_TRUE(WriteFileAtomically(key_file, der, 0600).ok());
    std::vector<std::string> args = {"audit",        "verify", "--log", lab().audit_log_path(),
                                     "--public-key", key_file};
    if (with_reference) {
      args.push_back("--checkpoint");
      args.push_back(StoredValue(signer::kAuditCheckpointKey));
    }
    return Run(args);
  }

  // `acme-signer serve`, run to completion: it is expected to refuse to start.
  static CommandResult ServeOnce() { return Run({"serve", "--config", lab().config_path()}); }
  static CommandResult VerifyWithConfig() {
    return Run({"audit", "verify", "--config", lab().config_path()});
  }

  fs::path backup_dir_;
};

TEST_F(AuditTamperTest, AForgedTailAfterACutBackToTheFirstCheckpointStopsTheSigner) {
  // Two runs, so the log holds at least two checkpoints; the second run's shutdown checkpoint
  // is the state store's reference.
  MakeRecords(2);
  StopCleanly();
  ASSERT_TRUE(lab().StartSigner().ok()) << lab().SignerLogTail();
  MakeRecords(2);
  StopCleanly();
  BackUpLog();
  std::vector<std::string> files = LogFiles();
  ASSERT_FALSE(files.empty());
  const uint64_t stored_seq = nlohmann::json::parse(Lines(files.back()).back())["seq"];

  // Cut back to the first checkpoint of the chain and append one forged, chained event.
  std::string cut_file;
  std::vector<std::string> kept;
  for (const std::string& file : files) {
    if (!cut_file.empty()) {
      fs::remove(file);
      continue;
    }
    kept.clear();
    for (const std::string& line : Lines(file)) {
      kept.push_back(line);
      if (nlohmann::json::parse(line)["kind"] == "checkpoint") {
        cut_file = file;
        break;
      }
    }
  }
  ASSERT_FALSE(cut_file.empty()) << "no checkpoint in the log";
  const nlohmann::json checkpoint = nlohmann::json::parse(kept.back());
  const uint64_t checkpoint_seq = checkpoint["seq"];
  ASSERT_LT(checkpoint_seq + 1, stored_seq);
  kept.push_back(ForgedEvent(checkpoint_seq + 1, checkpoint["hash"]));
  {
    std::ofstream out(cut_file, std::ios::binary | std::ios::trunc);
    for (const std::string& line : kept) out << line << "\n";
  }
  const std::string tampered = Slurp(cut_file);
  const uint64_t missing_seq = checkpoint_seq + 2;
  const std::string where = absl::StrCat(cut_file, " line ", kept.size() + 1, " (byte offset ",
                                         tampered.size(), ") seq ", missing_seq);

  CommandResult serve = ServeOnce();
  EXPECT_EQ(serve.exit_code, kExitConfig) << serve.out << serve.err;
  EXPECT_THAT(
      serve.err,
      AllOf(HasSubstr("audit log " + where + ": record " + std::to_string(missing_seq) +
                      " is missing: the log ends at seq " + std::to_string(checkpoint_seq + 1)),
            HasSubstr("state store records checkpoint seq " + std::to_string(stored_seq)),
            HasSubstr("after the last checkpoint that verifies (seq " +
                      std::to_string(checkpoint_seq) + ") carry no signature"),
            HasSubstr("Refusing to start"), HasSubstr("not retrying")));
  EXPECT_THAT(serve.out, Not(HasSubstr("serving on")));
  // Nothing was signed over the forgery.
  EXPECT_EQ(Slurp(cut_file), tampered);
  EXPECT_EQ(LogFiles().back(), cut_file);

  CommandResult verify = VerifyWithConfig();
  EXPECT_EQ(verify.exit_code, kExitAuditBad) << verify.out << verify.err;
  EXPECT_THAT(verify.out,
              AllOf(HasSubstr("FAILED: " + cut_file + " line " + std::to_string(kept.size() + 1) +
                              " (byte " + std::to_string(tampered.size()) + ") seq " +
                              std::to_string(missing_seq) + ": record " +
                              std::to_string(missing_seq) + " is missing"),
                    HasSubstr("checkpoint seq " + std::to_string(stored_seq))));

  // The auditor's form sees it too when given the reference; without one, the log alone is a
  // valid shorter log with one unsigned record (documented in docs/audit.md).
  CommandResult by_log = VerifyWithLog(/*with_reference=*/true);
  EXPECT_EQ(by_log.exit_code, kExitAuditBad) << by_log.out << by_log.err;
  EXPECT_THAT(
      by_log.out,
      HasSubstr("FAILED: " + cut_file + " line " + std::to_string(kept.size() + 1) + " (byte " +
                std::to_string(tampered.size()) + ") seq " + std::to_string(missing_seq) +
                ": record " + std::to_string(missing_seq) + " is missing"));
  CommandResult by_log_alone = VerifyWithLog(/*with_reference=*/false);
  EXPECT_EQ(by_log_alone.exit_code, 0) << by_log_alone.out << by_log_alone.err;
  EXPECT_THAT(by_log_alone.out, HasSubstr("1 records after the last checkpoint"));
}

TEST_F(AuditTamperTest, ATruncationInTheMiddleOfTheSecondRecordStopsTheSigner) {
  MakeRecords(2);
  StopCleanly();
  BackUpLog();
  std::vector<std::string> files = LogFiles();
  ASSERT_FALSE(files.empty());
  const std::string first = files.front();
  std::vector<std::string> lines = Lines(first);
  ASSERT_GE(lines.size(), 2u);
  const uint64_t record_2 = lines[0].size() + 1;
  for (size_t i = 1; i < files.size(); ++i) fs::remove(files[i]);
  ASSERT_EQ(::truncate(first.c_str(), static_cast<off_t>(record_2 + lines[1].size() / 2)), 0);
  const std::string truncated = Slurp(first);
  const std::string where = absl::StrCat(first, " line 2 (byte offset ", record_2,
                                         ") seq 2: record 2 is missing: "
                                         "the log ends at seq 1 and a partial line");

  CommandResult serve = ServeOnce();
  EXPECT_EQ(serve.exit_code, kExitConfig) << serve.out << serve.err;
  EXPECT_THAT(serve.err, AllOf(HasSubstr("audit log " + where), HasSubstr("Refusing to start")));
  EXPECT_EQ(Slurp(first), truncated);
  EXPECT_EQ(LogFiles().size(), 1u);  // no recovery file: the partial line was not set aside

  CommandResult verify = VerifyWithConfig();
  EXPECT_EQ(verify.exit_code, kExitAuditBad) << verify.out << verify.err;
  EXPECT_THAT(verify.out, HasSubstr(absl::StrCat("FAILED: ", first, " line 2 (byte ", record_2,
                                                 ") seq 2: record 2 is missing")));
  // The auditor's form, with or without the reference, stops at the same line.
  for (bool with_reference : {true, false}) {
    CommandResult by_log = VerifyWithLog(with_reference);
    EXPECT_EQ(by_log.exit_code, kExitAuditBad) << by_log.out << by_log.err;
    EXPECT_THAT(by_log.out, HasSubstr(absl::StrCat("FAILED: ", first, " line 2 (byte ", record_2,
                                                   ") seq 2: ")));
  }
}

TEST_F(AuditTamperTest, AnHonestCrashInTheMiddleOfAnAppendStillRecoversAndVerifies) {
  MakeRecords(1);  // a record after the last checkpoint, not yet signed
  absl::StatusOr<int> killed = lab().StopSigner(/*kill=*/true);
  ASSERT_TRUE(killed.ok()) << killed.status();
  ASSERT_EQ(*killed, kSigkillStatus);
  // What a crash in the middle of the next append's write() leaves.
  const std::string active = LogFiles().back();
  const uint64_t torn_offset = fs::file_size(active);
  { std::ofstream(active, std::ios::app | std::ios::binary) << R"({"agent":"web1","clie)"; }

  ASSERT_TRUE(lab().StartSigner().ok()) << lab().SignerLogTail();
  CommandResult verify = VerifyWithConfig();
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_THAT(
      verify.out,
      AllOf(HasSubstr("OK: "),
            HasSubstr(absl::StrCat(fs::path(active).filename().string(),
                                   ": partial line from a crash at byte offset ", torn_offset))));
  std::vector<std::string> files = LogFiles();
  ASSERT_GE(files.size(), 2u);
  ASSERT_EQ(files[files.size() - 2], active);
  const nlohmann::json recovery = nlohmann::json::parse(Lines(files.back()).front());
  EXPECT_EQ(recovery["trigger"], "recovery");
  EXPECT_EQ(recovery["torn_file"], fs::path(active).filename().string());
  EXPECT_EQ(recovery["torn_offset"], torn_offset);
  EXPECT_EQ(recovery["count"], 1);  // it signs the record the killed run left unsigned
}

TEST_F(AuditTamperTest, ADeletedRotatedFileIsNamedByVerifyAndStopsTheSigner) {
  // Each crash recovery continues in a new file; two of them give PATH, PATH.1 and PATH.2.
  while (LogFiles().size() < 3) {
    StopCleanly();
    const std::string active = LogFiles().back();
    { std::ofstream(active, std::ios::app | std::ios::binary) << R"({"agent":"web1")"; }
    ASSERT_TRUE(lab().StartSigner().ok()) << lab().SignerLogTail();
  }
  ExpectAuditVerifies();
  StopCleanly();
  BackUpLog();
  const std::string path = lab().audit_log_path();
  ASSERT_TRUE(fs::remove(path + ".1"));

  CommandResult verify = VerifyWithConfig();
  EXPECT_EQ(verify.exit_code, kExitAuditBad) << verify.out << verify.err;
  EXPECT_THAT(verify.out, AllOf(HasSubstr("FAILED: " + path + ".1 seq "),
                                HasSubstr("the file is missing but " + path + ".2 exists")));

  CommandResult serve = ServeOnce();
  EXPECT_EQ(serve.exit_code, kExitConfig) << serve.out << serve.err;
  EXPECT_THAT(serve.err, AllOf(HasSubstr("audit log " + path + ".1 seq "),
                               HasSubstr("the file is missing but " + path + ".2 exists")));
}

}  // namespace
}  // namespace acme_signer
