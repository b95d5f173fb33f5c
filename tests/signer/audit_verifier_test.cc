#include "signer/audit_verifier.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/crypto.h"
#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/key_type.h"
#include "hsm/module.h"
#include "hsm/token.h"
#include "signer/audit_log.h"
#include "signer/state_store.h"
#include "tests/acme/openssl_signers.h"
#include "tests/testing/softhsm_token.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

using ::acme_signer::acme::testing::OpenSslJwsSigner;
using ::acme_signer::testing::StatusIs;

class AuditVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/audit_verifier_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/audit.jsonl";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes `events` events with a checkpoint every 4 records, then closes the log (shutdown
  // checkpoint). With 10 events: seq 1-4, cp 5, 6-9, cp 10, 11, 12, shutdown cp 13.
  void WriteLog(const hsm::JwsSigner& signer, int events, StateStore* store = nullptr) {
    AuditLogOptions options;
    options.path = path_;
    options.checkpoint_interval = 4;
    options.state_store = store;
    auto log = AuditLog::Open(options, &signer);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < events; ++i) {
      AuditRecord record;
      record.agent = i % 2 == 0 ? "web1" : "web2";
      record.rpc = "NewOrder";
      record.request.identifiers = {Identifier::Dns("host" + std::to_string(i) + ".example.com")};
      record.decision = i % 3 == 0 ? AuditDecision::kDeny : AuditDecision::kAllow;
      record.reason = "policy";
      ASSERT_TRUE((*log)->Append(record).ok());
    }
    ASSERT_TRUE((*log)->Close().ok());
  }

  std::vector<std::string> Lines() {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return absl::StrSplit(ss.str(), '\n', absl::SkipEmpty());
  }

  void WriteLines(const std::vector<std::string>& lines, bool final_newline = true) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << absl::StrJoin(lines, "\n") << (final_newline ? "\n" : "");
  }

  // What an attacker who can write the file but not use the audit key can append: an event
  // correctly chained to `prev`, with seq `seq`.
  static std::string ForgedEvent(uint64_t seq, const std::string& prev) {
    AuditRecord record;
    record.agent = "web1";
    record.rpc = "FinalizeOrder";
    record.request.identifiers = {Identifier::Dns("forged.example.com")};
    record.decision = AuditDecision::kAllow;
    record.reason = "policy";
    nlohmann::json event = AuditRecordToJson(record);
    event["kind"] = "event";
    event["seq"] = seq;
    event["prev"] = prev;
    event["time"] = "2024-05-01T12:00:00.000000Z";
    event["hash"] = AuditRecordHash(event);
    return CanonicalJson(event);
  }

  // The 10-event log of WriteLog with its checkpoint reference in a state store (seq 13).
  AuditCheckpointRef WriteLogWithReference() {
    auto store = StateStore::Open(dir_ + "/state.db");
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return {};
    WriteLog(key_, 10, store->get());
    absl::StatusOr<std::optional<AuditCheckpointRef>> ref = LoadAuditCheckpoint(**store);
    EXPECT_TRUE(ref.ok() && ref->has_value());
    return ref.ok() && ref->has_value() ? **ref : AuditCheckpointRef{};
  }

  // An attacker's rewrite: applies `edit` to every record, then recomputes every prev and hash
  // so the chain is internally consistent again (and re-signs checkpoints with `resign`).
  void RewriteAndRehash(const std::function<void(nlohmann::json&)>& edit,
                        const hsm::JwsSigner* resign = nullptr) {
    std::vector<std::string> lines = Lines();
    std::string prev;
    for (std::string& line : lines) {
      nlohmann::json record = nlohmann::json::parse(line);
      edit(record);
      if (!prev.empty()) record["prev"] = prev;
      if (resign != nullptr && record["kind"] == "checkpoint") {
        record["signature"] =
            absl::WebSafeBase64Escape(*resign->Sign(CheckpointSigningInput(record)));
      }
      record["hash"] = AuditRecordHash(record);
      prev = record["hash"];
      line = CanonicalJson(record);
    }
    WriteLines(lines);
  }

  AuditVerifyReport Verify(const std::string& key_der,
                           std::optional<AuditCheckpointRef> expected = std::nullopt) {
    AuditVerifyOptions options;
    options.public_key_der = key_der;
    options.expected_checkpoint = std::move(expected);
    absl::StatusOr<AuditVerifyReport> report = VerifyAuditLogAt(path_, options);
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : AuditVerifyReport{};
  }

  std::string dir_;
  std::string path_;
  OpenSslJwsSigner key_;
};

TEST_F(AuditVerifierTest, AcceptsAnUntouchedLog) {
  WriteLog(key_, 10);
  AuditVerifyReport report = Verify(key_.PublicKeyDer());
  ASSERT_TRUE(report.ok()) << report.Summary();
  EXPECT_EQ(report.records, 13u);
  EXPECT_EQ(report.checkpoints, 3u);
  EXPECT_EQ(report.last_seq, 13u);
  EXPECT_EQ(report.last_checkpoint_seq, 13u);
  EXPECT_THAT(report.Summary(), HasSubstr("OK: 13 records"));
}

TEST_F(AuditVerifierTest, DetectsAnEditedField) {
  WriteLog(key_, 10);
  std::vector<std::string> lines = Lines();
  nlohmann::json record = nlohmann::json::parse(lines[1]);
  record["decision"] = "allow";
  record["agent"] = "intruder";
  lines[1] = CanonicalJson(record);
  WriteLines(lines);

  AuditVerifyReport report = Verify(key_.PublicKeyDer());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->seq, 2u);
  EXPECT_EQ(report.problem->line, 2u);
  EXPECT_EQ(report.problem->file, path_);
  EXPECT_THAT(report.problem->what, HasSubstr("the record was edited"));
  EXPECT_EQ(report.records, 1u);
  EXPECT_THAT(report.Summary(), HasSubstr("line 2"));
}

TEST_F(AuditVerifierTest, DetectsADeletedRecord) {
  WriteLog(key_, 10);
  std::vector<std::string> lines = Lines();
  lines.erase(lines.begin() + 2);  // seq 3
  WriteLines(lines);

  AuditVerifyReport report = Verify(key_.PublicKeyDer());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->seq, 4u);
  EXPECT_EQ(report.problem->line, 3u);
  EXPECT_THAT(report.problem->what, HasSubstr("seq 4 follows seq 2: records are missing"));
}

TEST_F(AuditVerifierTest, DetectsAReorderedPair) {
  WriteLog(key_, 10);
  std::vector<std::string> lines = Lines();
  std::swap(lines[5], lines[6]);  // seq 6 and 7
  WriteLines(lines);

  AuditVerifyReport report = Verify(key_.PublicKeyDer());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->seq, 7u);
  EXPECT_EQ(report.problem->line, 6u);
  EXPECT_THAT(report.problem->what, HasSubstr("seq 7 follows seq 5"));
}

TEST_F(AuditVerifierTest, DetectsAPartialLastLine) {
  WriteLog(key_, 10);
  std::vector<std::string> lines = Lines();
  lines.back().resize(lines.back().size() / 2);
  WriteLines(lines, /*final_newline=*/false);

  AuditVerifyReport report = Verify(key_.PublicKeyDer());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->line, 13u);
  EXPECT_EQ(report.problem->seq, 13u);
  EXPECT_THAT(report.problem->what, HasSubstr("partial last line"));
}

TEST_F(AuditVerifierTest, DetectsWholeRecordsCutFromTheEndOnlyAgainstTheStateStore) {
  auto store = StateStore::Open(dir_ + "/state.db");
  ASSERT_TRUE(store.ok()) << store.status();
  WriteLog(key_, 10, store->get());
  absl::StatusOr<std::optional<AuditCheckpointRef>> expected = LoadAuditCheckpoint(**store);
  ASSERT_TRUE(expected.ok() && expected->has_value());
  EXPECT_EQ((*expected)->seq, 13u);

  std::vector<std::string> lines = Lines();
  lines.resize(10);  // cut after the checkpoint at seq 10: the rest is self-consistent
  WriteLines(lines);

  // The file alone cannot show it (documented): it is a valid, shorter log.
  AuditVerifyReport alone = Verify(key_.PublicKeyDer());
  EXPECT_TRUE(alone.ok()) << alone.Summary();
  EXPECT_EQ(alone.last_seq, 10u);

  AuditVerifyReport against_store = Verify(key_.PublicKeyDer(), *expected);
  ASSERT_FALSE(against_store.ok());
  EXPECT_EQ(against_store.problem->seq, 11u);
  EXPECT_EQ(against_store.problem->line, 11u);
  EXPECT_THAT(against_store.problem->what,
              AllOf(HasSubstr("the log ends at seq 10"),
                    HasSubstr("records 11 to 13 were removed from the end")));
}

TEST_F(AuditVerifierTest, DetectsACheckpointThatDiffersFromTheStateStore) {
  WriteLog(key_, 10);
  AuditVerifyReport report =
      Verify(key_.PublicKeyDer(), AuditCheckpointRef{10, std::string(64, 'f')});
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.problem->what, HasSubstr("is not the checkpoint the signer's state store"));
}

TEST_F(AuditVerifierTest, DetectsARehashedChainSignedByTheHsmKey) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  absl::StatusOr<testing::SoftHsmToken> token = testing::CreateSoftHsmToken("audit-verifier");
  ASSERT_TRUE(token.ok()) << token.status();
  auto module = hsm::Module::Load(testing::kSoftHsmModule);
  ASSERT_TRUE(module.ok()) << module.status();
  auto opened = hsm::Token::Open(*module, token->uri, token->pin_file);
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto audit_key = (*opened)->GenerateSigningKey("pkcs11:object=audit-key", hsm::KeyType::kEcP256);
  ASSERT_TRUE(audit_key.ok()) << audit_key.status();

  WriteLog(**audit_key, 10);
  AuditVerifyReport untouched = Verify((*audit_key)->PublicKeyDer());
  ASSERT_TRUE(untouched.ok()) << untouched.Summary();

  // The attacker turns a denial into an approval and recomputes every hash after it.
  RewriteAndRehash([](nlohmann::json& r) {
    if (r["seq"] == 1) r["decision"] = "allow";
  });
  AuditVerifyReport report = Verify((*audit_key)->PublicKeyDer());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->seq, 5u);  // the first checkpoint after the edit
  EXPECT_EQ(report.problem->line, 5u);
  EXPECT_THAT(report.problem->what, HasSubstr("checkpoint signature does not verify"));
}

TEST_F(AuditVerifierTest, DetectsARehashedChainReSignedWithAnotherKey) {
  WriteLog(key_, 10);
  OpenSslJwsSigner attacker;
  RewriteAndRehash(
      [](nlohmann::json& r) {
        if (r["seq"] == 2) r["agent"] = "intruder";
      },
      &attacker);
  AuditVerifyReport report = Verify(key_.PublicKeyDer());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->seq, 5u);
  EXPECT_THAT(report.problem->what, HasSubstr("checkpoint signature does not verify"));

  // Naming the attacker's key in the checkpoints is caught by the key id.
  RewriteAndRehash(
      [&](nlohmann::json& r) {
        if (r["kind"] == "checkpoint") r["key_id"] = Sha256Hex(attacker.PublicKeyDer());
      },
      &attacker);
  report = Verify(key_.PublicKeyDer());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->seq, 5u);
  EXPECT_THAT(report.problem->what, HasSubstr("not the given audit key"));
}

TEST_F(AuditVerifierTest, DetectsALineThatIsNotInCanonicalForm) {
  WriteLog(key_, 3);
  std::vector<std::string> lines = Lines();
  // A duplicate key: JSON parsers disagree on which value wins.
  lines[0].insert(1, R"("agent":"someone-else",)");
  WriteLines(lines);
  AuditVerifyReport report = Verify(key_.PublicKeyDer());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->line, 1u);
  EXPECT_THAT(report.problem->what, HasSubstr("not in canonical form"));
}

TEST_F(AuditVerifierTest, DetectsACheckpointWithAWrongCount) {
  WriteLog(key_, 10);
  RewriteAndRehash(
      [](nlohmann::json& r) {
        if (r["seq"] == 5) r["count"] = 3;
      },
      &key_);  // even a correctly signed checkpoint must count right
  AuditVerifyReport report = Verify(key_.PublicKeyDer());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->seq, 5u);
  EXPECT_THAT(report.problem->what, HasSubstr("\"count\" is not 4"));
}

TEST_F(AuditVerifierTest, DetectsAMissingMiddleFile) {
  AuditLogOptions options;
  options.path = path_;
  options.rotate_bytes = 600;
  {
    auto log = AuditLog::Open(options, &key_);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 8; ++i) ASSERT_TRUE((*log)->Append(AuditRecord{}).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  auto files = AuditLogFiles(path_);
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_GE(files->size(), 3u);
  AuditVerifyOptions verify_options;
  verify_options.public_key_der = key_.PublicKeyDer();
  std::vector<std::string> without_second = *files;
  without_second.erase(without_second.begin() + 1);
  auto report = VerifyAuditLog(without_second, verify_options);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_FALSE(report->ok());
  EXPECT_EQ(report->problem->file, (*files)[2]);
  EXPECT_THAT(report->problem->what, HasSubstr("records are missing"));
}

TEST_F(AuditVerifierTest, AcceptsThePublicKeyAsPemOrDer) {
  absl::StatusOr<std::string> from_pem = AuditPublicKeyDer(key_.PublicKeyPem());
  ASSERT_TRUE(from_pem.ok()) << from_pem.status();
  EXPECT_EQ(*from_pem, key_.PublicKeyDer());
  absl::StatusOr<std::string> from_der = AuditPublicKeyDer(key_.PublicKeyDer());
  ASSERT_TRUE(from_der.ok()) << from_der.status();
  EXPECT_EQ(*from_der, key_.PublicKeyDer());
  EXPECT_THAT(
      AuditPublicKeyDer("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n").status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("PUBLIC KEY")));
  EXPECT_THAT(AuditPublicKeyDer("garbage").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SubjectPublicKeyInfo")));
}

TEST_F(AuditVerifierTest, RefusesToVerifyWithoutAUsableKey) {
  WriteLog(key_, 1);
  AuditVerifyOptions options;
  EXPECT_THAT(VerifyAuditLogAt(path_, options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no audit public key")));
}

TEST_F(AuditVerifierTest, NamesAMissingLog) {
  AuditVerifyOptions options;
  options.public_key_der = key_.PublicKeyDer();
  EXPECT_THAT(VerifyAuditLogAt(dir_ + "/nope.jsonl", options).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(dir_ + "/nope.jsonl")));
}

TEST_F(AuditVerifierTest, DetectsAForgedTailAfterACutBackToAnEarlierCheckpoint) {
  const AuditCheckpointRef stored = WriteLogWithReference();
  ASSERT_EQ(stored.seq, 13u);
  std::vector<std::string> lines = Lines();
  lines.resize(5);  // back to the first checkpoint (seq 5)...
  lines.push_back(ForgedEvent(6, nlohmann::json::parse(lines[4])["hash"]));  // ...plus a forgery
  WriteLines(lines);

  // Without the reference it is a valid log with one record not yet signed: documented.
  EXPECT_TRUE(Verify(key_.PublicKeyDer()).ok());

  AuditVerifyReport report = Verify(key_.PublicKeyDer(), stored);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->file, path_);
  EXPECT_EQ(report.problem->line, 7u);
  EXPECT_EQ(report.problem->seq, 7u);
  EXPECT_THAT(report.problem->what,
              AllOf(HasSubstr("record 7 is missing: the log ends at seq 6"),
                    HasSubstr("state store records checkpoint seq 13 (hash " + stored.hash),
                    HasSubstr("1 record(s) after the last checkpoint that verifies (seq 5) carry "
                              "no signature and may be forged")));
  EXPECT_THAT(report.Summary(), HasSubstr(path_ + " line 7 (byte "));
}

TEST_F(AuditVerifierTest, DetectsAForgedTailThatReachesTheStoredSeq) {
  const AuditCheckpointRef stored = WriteLogWithReference();
  std::vector<std::string> lines = Lines();
  lines.resize(5);
  for (uint64_t seq = 6; seq <= 14; ++seq) {
    lines.push_back(ForgedEvent(seq, nlohmann::json::parse(lines.back())["hash"]));
  }
  WriteLines(lines);

  AuditVerifyReport report = Verify(key_.PublicKeyDer(), stored);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->line, 13u);
  EXPECT_EQ(report.problem->seq, 13u);
  EXPECT_THAT(report.problem->what,
              AllOf(HasSubstr("record 13 is not the checkpoint the signer's state store records"),
                    HasSubstr("after the last checkpoint that verifies (seq 5)")));
}

TEST_F(AuditVerifierTest, DetectsATruncationInTheMiddleOfRecordTwo) {
  const AuditCheckpointRef stored = WriteLogWithReference();
  std::vector<std::string> lines = Lines();
  const uint64_t record_2_offset = lines[0].size() + 1;
  lines.resize(2);
  lines[1].resize(lines[1].size() / 2);
  WriteLines(lines, /*final_newline=*/false);

  for (bool allow_torn_tail : {false, true}) {
    SCOPED_TRACE(allow_torn_tail ? "as the signer checks at start" : "as an auditor checks");
    AuditVerifyOptions options;
    options.public_key_der = key_.PublicKeyDer();
    options.expected_checkpoint = stored;
    options.allow_torn_tail = allow_torn_tail;
    absl::StatusOr<AuditVerifyReport> report = VerifyAuditLogAt(path_, options);
    ASSERT_TRUE(report.ok()) << report.status();
    ASSERT_FALSE(report->ok());
    EXPECT_EQ(report->problem->file, path_);
    EXPECT_EQ(report->problem->line, 2u);
    EXPECT_EQ(report->problem->byte_offset, record_2_offset);
    EXPECT_EQ(report->problem->seq, 2u);
    EXPECT_THAT(report->problem->what,
                AllOf(HasSubstr("record 2 is missing: the log ends at seq 1 and a partial line"),
                      HasSubstr("records 2 to 13 were removed from the end")));
  }
  // Without the reference the partial line alone still fails.
  AuditVerifyReport alone = Verify(key_.PublicKeyDer());
  ASSERT_FALSE(alone.ok());
  EXPECT_EQ(alone.problem->line, 2u);
  EXPECT_THAT(alone.problem->what, HasSubstr("partial last line"));
}

TEST_F(AuditVerifierTest, AcceptsAPartialLastLineAfterTheStoredCheckpointOnlyWhenAllowed) {
  const AuditCheckpointRef stored = WriteLogWithReference();
  const uint64_t offset = std::filesystem::file_size(path_);
  { std::ofstream(path_, std::ios::app | std::ios::binary) << R"({"agent":"web1","cl)"; }

  AuditVerifyReport auditor = Verify(key_.PublicKeyDer(), stored);
  ASSERT_FALSE(auditor.ok());
  EXPECT_THAT(auditor.problem->what, HasSubstr("partial last line"));

  AuditVerifyOptions options;
  options.public_key_der = key_.PublicKeyDer();
  options.expected_checkpoint = stored;
  options.allow_torn_tail = true;
  absl::StatusOr<AuditVerifyReport> signer = VerifyAuditLogAt(path_, options);
  ASSERT_TRUE(signer.ok()) << signer.status();
  ASSERT_TRUE(signer->ok()) << signer->Summary();
  ASSERT_TRUE(signer->torn_tail.has_value());
  EXPECT_EQ(signer->torn_tail->file, path_);
  EXPECT_EQ(signer->torn_tail->line, 14u);
  EXPECT_EQ(signer->torn_tail->byte_offset, offset);
}

TEST_F(AuditVerifierTest, DetectsARecoveryCheckpointThatNamesAnotherFile) {
  WriteLog(key_, 1);  // seq 1, shutdown checkpoint 2
  const uint64_t offset = std::filesystem::file_size(path_);
  { std::ofstream(path_, std::ios::app | std::ios::binary) << R"({"agent":"web1","cl)"; }
  {
    AuditLogOptions options;
    options.path = path_;
    auto log = AuditLog::Open(options, &key_);  // recovery checkpoint 3 in audit.jsonl.1
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Close().ok());
  }
  ASSERT_TRUE(Verify(key_.PublicKeyDer()).ok());

  // The same checkpoint naming another file, correctly signed: only torn_file is wrong.
  const std::string next = path_ + ".1";
  std::string line;
  std::getline(std::ifstream(next), line);
  nlohmann::json recovery = nlohmann::json::parse(line);
  ASSERT_EQ(recovery["trigger"], "recovery");
  recovery["torn_file"] = "audit.jsonl.7";
  recovery["signature"] = absl::WebSafeBase64Escape(*key_.Sign(CheckpointSigningInput(recovery)));
  recovery["hash"] = AuditRecordHash(recovery);
  { std::ofstream(next, std::ios::trunc | std::ios::binary) << CanonicalJson(recovery) << "\n"; }

  AuditVerifyReport report = Verify(key_.PublicKeyDer());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->file, next);
  EXPECT_EQ(report.problem->line, 1u);
  EXPECT_EQ(report.problem->seq, 3u);
  EXPECT_THAT(report.problem->what,
              HasSubstr("recovery checkpoint names torn_file \"audit.jsonl.7\" at torn_offset " +
                        std::to_string(offset) +
                        ", but the partial line is in audit.jsonl at "
                        "byte offset " +
                        std::to_string(offset)));
}

TEST_F(AuditVerifierTest, DetectsARecoveryCheckpointWithoutAPartialLine) {
  WriteLog(key_, 1);
  { std::ofstream(path_, std::ios::app | std::ios::binary) << R"({"agent":"web1","cl)"; }
  {
    AuditLogOptions options;
    options.path = path_;
    auto log = AuditLog::Open(options, &key_);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Close().ok());
  }
  // Complete the partial line's file by dropping the partial line: the recovery checkpoint
  // now vouches for damage that is not there.
  std::vector<std::string> lines = Lines();
  lines.pop_back();
  WriteLines(lines);

  AuditVerifyReport report = Verify(key_.PublicKeyDer());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->file, path_ + ".1");
  EXPECT_EQ(report.problem->seq, 3u);
  EXPECT_THAT(report.problem->what, HasSubstr("no partial line precedes it"));
}

TEST_F(AuditVerifierTest, DetectsADeletedRotatedFileEvenWhenItIsNotTheLast) {
  AuditLogOptions options;
  options.path = path_;
  options.rotate_bytes = 600;
  {
    auto log = AuditLog::Open(options, &key_);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 8; ++i) ASSERT_TRUE((*log)->Append(AuditRecord{}).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  ASSERT_TRUE(std::filesystem::exists(path_ + ".2"));
  uint64_t records_in_first = 0;
  for (const std::string& line : Lines()) records_in_first += !line.empty();
  ASSERT_TRUE(std::filesystem::remove(path_ + ".1"));

  AuditVerifyReport report = Verify(key_.PublicKeyDer());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->file, path_ + ".1");
  EXPECT_EQ(report.problem->line, 0u);
  EXPECT_EQ(report.problem->seq, records_in_first + 1);
  EXPECT_THAT(report.problem->what,
              AllOf(HasSubstr("the file is missing but " + path_ + ".2 exists"),
                    HasSubstr("from seq " + std::to_string(records_in_first + 1))));
  EXPECT_EQ(report.records, records_in_first);  // the files before the gap were verified
  EXPECT_THAT(report.Summary(), HasSubstr("FAILED: " + path_ + ".1 seq "));

  EXPECT_THAT(AuditLogFiles(path_).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("audit log file " + path_ + ".1 is missing but " + path_ +
                                       ".2 exists"))));
}

TEST_F(AuditVerifierTest, DetectsAMissingFirstFile) {
  AuditLogOptions options;
  options.path = path_;
  options.rotate_bytes = 600;
  {
    auto log = AuditLog::Open(options, &key_);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 4; ++i) ASSERT_TRUE((*log)->Append(AuditRecord{}).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  ASSERT_TRUE(std::filesystem::remove(path_));
  AuditVerifyReport report = Verify(key_.PublicKeyDer());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->file, path_);
  EXPECT_EQ(report.problem->seq, 1u);
  EXPECT_THAT(report.problem->what, HasSubstr("the file is missing but " + path_ + ".1 exists"));
}

TEST_F(AuditVerifierTest, ListsOnlyCanonicallyNumberedFiles) {
  for (const char* name : {"audit.jsonl", "audit.jsonl.1", "audit.jsonl.2", "audit.jsonl.01",
                           "audit.jsonl.3.gz", "audit.jsonl.x", "other.jsonl.4"}) {
    std::ofstream(dir_ + "/" + name) << "";
  }
  absl::StatusOr<std::vector<std::string>> files = AuditLogFiles(path_);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_THAT(*files, ::testing::ElementsAre(path_, path_ + ".1", path_ + ".2"));
}

TEST_F(AuditVerifierTest, RequiresTheStateStoreReferenceOnceTheLogHasACheckpoint) {
  WriteLog(key_, 2);  // seq 1, 2, shutdown checkpoint 3
  AuditVerifyOptions options;
  options.public_key_der = key_.PublicKeyDer();
  options.reference_required = true;
  absl::StatusOr<AuditVerifyReport> report = VerifyAuditLogAt(path_, options);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_FALSE(report->ok());
  EXPECT_THAT(report->problem->what,
              AllOf(HasSubstr("the log holds 1 signed checkpoints (the last is seq 3)"),
                    HasSubstr("state store has no audit checkpoint reference")));
}

}  // namespace
}  // namespace acme_signer::signer
