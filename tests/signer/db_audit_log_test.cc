// DbAuditLog against a real PostgreSQL 15 cluster (scripts/pg-cluster) with the audit key in a
// real SoftHSM2 token: several "replicas" (DbAuditLog instances, each with its own connection)
// appending concurrently build one contiguous chain whose export the file verifier accepts;
// the checkpoint cadence is shared; a stopped database fails appends without half-writing and
// appends resume after it is back; tampering in the table is found by verification and stops
// Open.
#include "signer/db_audit_log.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/key_type.h"
#include "hsm/module.h"
#include "hsm/token.h"
#include "signer/audit_verifier.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/softhsm_token.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer {
namespace {

using ::acme_signer::testing::StatusIs;
using ::testing::HasSubstr;

// The value of `series` in the process metrics (common/metrics.h), 0 when absent.
double ProcessMetricValue(absl::string_view series) {
  const std::string text = ProcessMetrics().Render();
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, series) || !absl::ConsumePrefix(&line, " ")) continue;
    double value = 0;
    if (absl::SimpleAtod(line, &value)) return value;
  }
  return 0;
}

class DbAuditLogTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(testing::PostgresCluster::Available().ok());
    ASSERT_TRUE(testing::SoftHsmAvailable().ok());
    auto token_info = testing::CreateSoftHsmToken("db-audit");
    ASSERT_TRUE(token_info.ok()) << token_info.status();
    auto module = hsm::Module::Load(testing::kSoftHsmModule);
    ASSERT_TRUE(module.ok()) << module.status();
    auto token = hsm::Token::Open(*module, token_info->uri, token_info->pin_file);
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new std::shared_ptr<hsm::Token>(*std::move(token));
    auto key = (*token_)->GenerateSigningKey("pkcs11:object=audit-key", hsm::KeyType::kEcP256);
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = key->release();
    auto other = (*token_)->GenerateSigningKey("pkcs11:object=other-key", hsm::KeyType::kEcP256);
    ASSERT_TRUE(other.ok()) << other.status();
    other_key_ = other->release();

    std::string pattern = "/tmp/h2dal-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = new std::string(pattern);
    auto cluster = testing::PostgresCluster::Start(pattern + "/pg");
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete key_;
    delete other_key_;
    delete token_;
    if (dir_ != nullptr) std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  // A fresh, empty chain for every test.
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    auto conn = db::PgConnection::Connect(cluster_->conninfo());
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE((*conn)->Exec("drop", "DROP TABLE IF EXISTS audit_records, audit_head").ok());
    ASSERT_TRUE(CreateDbAuditLogTables(**conn).ok());
    conn_ = *std::move(conn);
  }

  static DbAuditLogOptions Options(const std::string& replica, uint64_t interval) {
    DbAuditLogOptions options;
    options.conninfo = cluster_->conninfo();
    options.replica = replica;
    options.checkpoint_interval = interval;
    return options;
  }

  static AuditRecord Record(const std::string& agent, int i) {
    AuditRecord record;
    record.agent = agent;
    record.client_cert_sha256 = std::string(64, 'a');
    record.peer = "ipv4:127.0.0.1:40000";
    record.rpc = "FinalizeOrder";
    record.request.identifiers = {Identifier::Dns(absl::StrCat("www", i, ".example.com"))};
    record.decision = AuditDecision::kAllow;
    record.reason = "names allowed by policy";
    return record;
  }

  // The export as a file, and its parsed records.
  std::vector<nlohmann::json> Export(const std::string& path) {
    std::ofstream out(path, std::ios::binary);
    std::vector<nlohmann::json> records;
    absl::Status status = ExportDbAuditChain(*conn_, [&](const std::string& line) {
      out << line << '\n';
      records.push_back(nlohmann::json::parse(line));
      return absl::OkStatus();
    });
    EXPECT_TRUE(status.ok()) << status;
    return records;
  }

  AuditVerifyReport VerifyDb() {
    absl::StatusOr<AuditVerifyReport> report = VerifyDbAuditChain(*conn_, "");
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : AuditVerifyReport();
  }

  static testing::PostgresCluster* cluster_;
  static std::shared_ptr<hsm::Token>* token_;
  static hsm::JwsSigner* key_;
  static hsm::JwsSigner* other_key_;
  static std::string* dir_;
  std::unique_ptr<db::PgConnection> conn_;
};

testing::PostgresCluster* DbAuditLogTest::cluster_ = nullptr;
std::shared_ptr<hsm::Token>* DbAuditLogTest::token_ = nullptr;
hsm::JwsSigner* DbAuditLogTest::key_ = nullptr;
hsm::JwsSigner* DbAuditLogTest::other_key_ = nullptr;
std::string* DbAuditLogTest::dir_ = nullptr;

TEST_F(DbAuditLogTest, ReplicasAppendingConcurrentlyBuildOneContiguousVerifiableChain) {
  constexpr int kReplicas = 3;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20;
  constexpr uint64_t kInterval = 7;
  std::vector<std::unique_ptr<DbAuditLog>> logs;
  for (int r = 0; r < kReplicas; ++r) {
    auto log = DbAuditLog::Open(Options(absl::StrCat("replica-", r), kInterval), key_);
    ASSERT_TRUE(log.ok()) << log.status();
    logs.push_back(*std::move(log));
  }
  std::vector<std::vector<uint64_t>> seqs(kReplicas * kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < kReplicas; ++r) {
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, r, t] {
        for (int i = 0; i < kPerThread; ++i) {
          absl::StatusOr<uint64_t> seq = logs[r]->Append(Record(absl::StrCat("agent-", t), i));
          if (!seq.ok()) {
            ++failures;
            continue;
          }
          seqs[r * kThreads + t].push_back(*seq);
        }
      });
    }
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_EQ(failures.load(), 0);
  for (auto& log : logs) ASSERT_TRUE(log->Close().ok());

  // Every append got its own seq.
  std::set<uint64_t> all;
  for (const auto& per_thread : seqs) all.insert(per_thread.begin(), per_thread.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kReplicas * kThreads * kPerThread));

  AuditVerifyReport db_report = VerifyDb();
  EXPECT_TRUE(db_report.ok()) << db_report.Summary();
  EXPECT_EQ(db_report.records - db_report.checkpoints,
            static_cast<uint64_t>(kReplicas * kThreads * kPerThread));
  EXPECT_EQ(db_report.unsigned_tail, 0u);  // the shutdown checkpoints signed the end

  // The export is today's JSON Lines format: the file verifier accepts it.
  const std::string path = *dir_ + "/export.jsonl";
  std::vector<nlohmann::json> records = Export(path);
  AuditVerifyOptions verify;
  verify.public_key_der = key_->PublicKeyDer();
  absl::StatusOr<AuditVerifyReport> file_report = VerifyAuditLogAt(path, verify);
  ASSERT_TRUE(file_report.ok()) << file_report.status();
  EXPECT_TRUE(file_report->ok()) << file_report->Summary();
  EXPECT_EQ(file_report->records, db_report.records);
  EXPECT_EQ(file_report->last_hash, db_report.last_hash);

  // Every replica's records are in the one chain, each naming its replica; the seqs returned
  // are the seqs of events; the checkpoint cadence is the chain's, not any one replica's.
  std::map<std::string, int> events_per_replica;
  uint64_t since_checkpoint = 0;
  int interval_checkpoints = 0;
  std::set<std::string> replicas_between_checkpoints;
  int mixed_windows = 0;
  for (const nlohmann::json& record : records) {
    ASSERT_TRUE(record.contains("replica")) << record.dump();
    if (record["kind"] == "event") {
      events_per_replica[record["replica"].get<std::string>()]++;
      EXPECT_EQ(all.count(record["seq"].get<uint64_t>()), 1u);
      replicas_between_checkpoints.insert(record["replica"].get<std::string>());
      ++since_checkpoint;
      ASSERT_LE(since_checkpoint, kInterval);
      continue;
    }
    EXPECT_EQ(record["count"].get<uint64_t>(), since_checkpoint);
    if (record["trigger"] == "interval") {
      EXPECT_EQ(since_checkpoint, kInterval);
      ++interval_checkpoints;
    }
    if (replicas_between_checkpoints.size() > 1) ++mixed_windows;
    replicas_between_checkpoints.clear();
    since_checkpoint = 0;
  }
  ASSERT_EQ(events_per_replica.size(), static_cast<size_t>(kReplicas));
  for (const auto& [replica, count] : events_per_replica) {
    EXPECT_EQ(count, kThreads * kPerThread) << replica;
  }
  EXPECT_EQ(interval_checkpoints, kReplicas * kThreads * kPerThread / static_cast<int>(kInterval));
  // The HSM signed checkpoints over records of several replicas (the count is shared).
  EXPECT_GT(mixed_windows, 0);
}

TEST_F(DbAuditLogTest, EachGroupCommitIsTimedAndCountedInTheProcessMetrics) {
  const double commits =
      ProcessMetricValue("acme_signer_audit_commit_duration_seconds_count{backend=\"database\"}");
  const double records =
      ProcessMetricValue("acme_signer_audit_commit_batch_records_sum{backend=\"database\"}");
  auto log = DbAuditLog::Open(Options("r1", 256), key_);
  ASSERT_TRUE(log.ok()) << log.status();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->Append(Record("web", i)).ok());
  EXPECT_EQ(
      ProcessMetricValue("acme_signer_audit_commit_duration_seconds_count{backend=\"database\"}"),
      commits + 3);
  EXPECT_EQ(ProcessMetricValue("acme_signer_audit_commit_batch_records_sum{backend=\"database\"}"),
            records + 3);
  ASSERT_TRUE((*log)->Close().ok());
}

TEST_F(DbAuditLogTest, StoppedDatabaseFailsAppendsWithoutHalfWritesAndAppendsResumeAfter) {
  auto log = DbAuditLog::Open(Options("r1", 256), key_);
  ASSERT_TRUE(log.ok()) << log.status();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->Append(Record("web", i)).ok());

  ASSERT_TRUE(cluster_->Stop().ok());
  absl::StatusOr<uint64_t> refused = (*log)->Append(Record("web", 3));
  EXPECT_THAT(refused.status(), StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  EXPECT_THAT(refused.status().message(), HasSubstr("request is refused"));
  ASSERT_TRUE(cluster_->Restart().ok());

  // Reconnects by itself; the statement that meets the lost connection may fail once more.
  absl::StatusOr<uint64_t> resumed = (*log)->Append(Record("web", 4));
  if (!resumed.ok()) resumed = (*log)->Append(Record("web", 4));
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  // Nothing of the refused append (or of a failed retry) was half-written: the chain goes on
  // at 4 and verifies.
  EXPECT_EQ(*resumed, 4u);
  ASSERT_TRUE((*log)->Close().ok());
  auto conn = db::PgConnection::Connect(cluster_->conninfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  conn_ = *std::move(conn);
  AuditVerifyReport report = VerifyDb();
  EXPECT_TRUE(report.ok()) << report.Summary();
  EXPECT_EQ(report.records, 5u);  // 4 events + the shutdown checkpoint
}

TEST_F(DbAuditLogTest, EditedRowIsDetectedAndStopsOpen) {
  {
    auto log = DbAuditLog::Open(Options("r1", 5), key_);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 12; ++i) ASSERT_TRUE((*log)->Append(Record("web", i)).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  ASSERT_TRUE(VerifyDb().ok());
  ASSERT_TRUE(cluster_
                  ->Psql("UPDATE audit_records SET line = replace(line, 'www3.example', "
                         "'evil.example') WHERE seq = 4")
                  .ok());
  AuditVerifyReport report = VerifyDb();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->file, kDbAuditSource);
  EXPECT_EQ(report.problem->seq, 4u);
  EXPECT_THAT(report.problem->what, HasSubstr("edited"));
  EXPECT_THAT(DbAuditLog::Open(Options("r2", 5), key_).status(),
              StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
}

TEST_F(DbAuditLogTest, RecordsCutFromTheEndAreDetected) {
  {
    auto log = DbAuditLog::Open(Options("r1", 5), key_);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 12; ++i) ASSERT_TRUE((*log)->Append(Record("web", i)).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  // Unsigned-looking tail: the last checkpoint and the records after the previous one.
  ASSERT_TRUE(cluster_->Psql("DELETE FROM audit_records WHERE seq > 12").ok());
  AuditVerifyReport report = VerifyDb();
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.problem->what, HasSubstr("removed"));
}

TEST_F(DbAuditLogTest, ReplicaWithAnotherAuditKeyIsRefused) {
  auto first = DbAuditLog::Open(Options("r1", 5), key_);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(DbAuditLog::Open(Options("r2", 5), other_key_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("same audit key")));
}

TEST_F(DbAuditLogTest, MissingTablesAreAFailedPreconditionNamingTheMigration) {
  ASSERT_TRUE(conn_->Exec("drop", "DROP TABLE audit_records, audit_head").ok());
  EXPECT_THAT(DbAuditLog::Open(Options("r1", 5), key_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("migrate")));
}

}  // namespace
}  // namespace acme_signer::signer
