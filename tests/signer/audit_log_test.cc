#include "signer/audit_log.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/crypto.h"
#include "common/metrics.h"
#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signer/audit_verifier.h"
#include "signer/state_store.h"
#include "tests/acme/openssl_signers.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::SizeIs;

using ::acme_signer::acme::testing::OpenSslJwsSigner;
using ::acme_signer::testing::StatusIs;

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

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/audit_log_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/audit.jsonl";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  AuditLogOptions Options(uint64_t interval = 256) {
    AuditLogOptions options;
    options.path = path_;
    options.checkpoint_interval = interval;
    return options;
  }

  static AuditRecord Allowed(int i) {
    AuditRecord record;
    record.agent = "web1";
    record.client_cert_sha256 = std::string(64, 'a');
    record.peer = "ipv4:127.0.0.1:40000";
    record.rpc = "FinalizeOrder";
    record.request.identifiers = {Identifier::Dns("www" + std::to_string(i) + ".example.com")};
    record.request.order_url = "https://ca.test/order/" + std::to_string(i);
    record.request.csr_sha256 = std::string(64, 'c');
    record.decision = AuditDecision::kAllow;
    record.reason = "names allowed by policy";
    record.outcome.acme_status = "valid";
    record.outcome.serial = "0badc0de";
    return record;
  }

  static std::string Slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  static std::vector<nlohmann::json> Records(const std::string& path) {
    std::vector<nlohmann::json> out;
    for (absl::string_view line : absl::StrSplit(Slurp(path), '\n', absl::SkipEmpty())) {
      out.push_back(nlohmann::json::parse(line));
    }
    return out;
  }

  static std::vector<std::string> Lines(const std::string& path) {
    return absl::StrSplit(Slurp(path), '\n', absl::SkipEmpty());
  }

  static void WriteLines(const std::string& path, const std::vector<std::string>& lines) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    for (const std::string& line : lines) out << line << "\n";
  }

  // An event correctly chained after `prev`: what someone who can write the file but not use
  // the audit key can forge.
  static std::string ForgedEvent(uint64_t seq, const std::string& prev) {
    nlohmann::json event = AuditRecordToJson(Allowed(666));
    event["kind"] = "event";
    event["seq"] = seq;
    event["prev"] = prev;
    event["time"] = "2024-05-01T12:00:00.000000Z";
    event["hash"] = AuditRecordHash(event);
    return CanonicalJson(event);
  }

  // A state store and a log in it closed after 10 events with a checkpoint every 4 records:
  // seq 1-4, checkpoint 5, 6-9, checkpoint 10, 11, 12, shutdown checkpoint 13 (the stored
  // reference).
  std::unique_ptr<StateStore> StoreWithClosedLog(const OpenSslJwsSigner& signer) {
    absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(dir_ + "/state.db");
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return nullptr;
    AuditLogOptions options = Options(/*interval=*/4);
    options.state_store = store->get();
    auto log = AuditLog::Open(options, &signer);
    EXPECT_TRUE(log.ok()) << log.status();
    if (!log.ok()) return nullptr;
    for (int i = 0; i < 10; ++i) EXPECT_TRUE((*log)->Append(Allowed(i)).ok());
    EXPECT_TRUE((*log)->Close().ok());
    return *std::move(store);
  }

  static uint64_t StoredSeq(const StateStore& store) {
    absl::StatusOr<std::optional<AuditCheckpointRef>> ref = LoadAuditCheckpoint(store);
    EXPECT_TRUE(ref.ok()) << ref.status();
    return ref.ok() && ref->has_value() ? (*ref)->seq : 0;
  }

  AuditVerifyReport Verify(const OpenSslJwsSigner& signer) {
    AuditVerifyOptions options;
    options.public_key_der = signer.PublicKeyDer();
    absl::StatusOr<AuditVerifyReport> report = VerifyAuditLogAt(path_, options);
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : AuditVerifyReport{};
  }

  std::string dir_;
  std::string path_;
};

TEST_F(AuditLogTest, AppendedRecordsFormAHashChainStartingAtGenesis) {
  OpenSslJwsSigner signer;
  auto log = AuditLog::Open(Options(), &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  for (int i = 1; i <= 3; ++i) {
    absl::StatusOr<uint64_t> seq = (*log)->Append(Allowed(i));
    ASSERT_TRUE(seq.ok()) << seq.status();
    EXPECT_EQ(*seq, static_cast<uint64_t>(i));
  }

  std::vector<nlohmann::json> records = Records(path_);
  ASSERT_THAT(records, SizeIs(3));
  EXPECT_EQ(records[0]["prev"], std::string(kAuditGenesisHash));
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i]["seq"], i + 1);
    EXPECT_EQ(records[i]["kind"], "event");
    EXPECT_EQ(records[i]["hash"], AuditRecordHash(records[i]));
    if (i > 0) {
      EXPECT_EQ(records[i]["prev"], records[i - 1]["hash"]);
    }
  }
  EXPECT_EQ(records[1]["agent"], "web1");
  EXPECT_EQ(records[1]["decision"], "allow");
  EXPECT_EQ(records[1]["request"]["identifiers"][0], "dns:www2.example.com");
  EXPECT_EQ(records[1]["outcome"]["serial"], "0badc0de");
  EXPECT_THAT(records[1]["time"].get<std::string>(),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z"));
  EXPECT_EQ((*log)->last_seq(), 3u);
  EXPECT_EQ((*log)->last_hash(), records[2]["hash"]);
}

TEST_F(AuditLogTest, EachGroupCommitIsTimedAndCountedInTheProcessMetrics) {
  const double commits =
      ProcessMetricValue("acme_signer_audit_commit_duration_seconds_count{backend=\"file\"}");
  const double records =
      ProcessMetricValue("acme_signer_audit_commit_batch_records_sum{backend=\"file\"}");
  OpenSslJwsSigner signer;
  auto log = AuditLog::Open(Options(), &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE((*log)->Append(Allowed(i)).ok());
  // One append at a time: one commit of one record each.
  EXPECT_EQ(ProcessMetricValue("acme_signer_audit_commit_duration_seconds_count{backend=\"file\"}"),
            commits + 3);
  EXPECT_EQ(ProcessMetricValue("acme_signer_audit_commit_batch_records_sum{backend=\"file\"}"),
            records + 3);
}

TEST_F(AuditLogTest, LinesAreTheCanonicalSerialization) {
  OpenSslJwsSigner signer;
  auto log = AuditLog::Open(Options(), &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  AuditRecord record = Allowed(1);
  record.reason = "caf\xc3\xa9 \xff";  // non-ASCII and invalid UTF-8
  ASSERT_TRUE((*log)->Append(record).ok());
  std::string line = Slurp(path_);
  ASSERT_FALSE(line.empty());
  line.pop_back();  // '\n'
  EXPECT_EQ(line, CanonicalJson(nlohmann::json::parse(line)));
  EXPECT_THAT(line, HasSubstr(R"("reason":"caf\u00e9 \ufffd")"));
}

TEST_F(AuditLogTest, WritesASignedCheckpointEveryIntervalRecordsAndOnClose) {
  OpenSslJwsSigner signer;
  auto log = AuditLog::Open(Options(/*interval=*/4), &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  for (int i = 0; i < 9; ++i) ASSERT_TRUE((*log)->Append(Allowed(i)).ok());
  ASSERT_TRUE((*log)->Close().ok());

  std::vector<nlohmann::json> records = Records(path_);
  ASSERT_THAT(records, SizeIs(12));  // 4 + cp + 4 + cp + 1 + shutdown cp
  std::vector<std::string> kinds;
  for (const auto& r : records) {
    kinds.push_back(r["kind"] == "checkpoint" ? r["trigger"].get<std::string>() : "e");
  }
  EXPECT_THAT(kinds, ElementsAre("e", "e", "e", "e", "interval", "e", "e", "e", "e", "interval",
                                 "e", "shutdown"));
  const nlohmann::json& cp = records[4];
  EXPECT_EQ(cp["seq"], 5);
  EXPECT_EQ(cp["count"], 4);
  EXPECT_EQ(cp["prev"], records[3]["hash"]);
  EXPECT_EQ(cp["alg"], "ES256");
  EXPECT_EQ(cp["key_id"], Sha256Hex(signer.PublicKeyDer()));
  EXPECT_EQ(records[11]["count"], 1);

  AuditVerifyReport report = Verify(signer);
  EXPECT_TRUE(report.ok()) << report.Summary();
  EXPECT_EQ(report.records, 12u);
  EXPECT_EQ(report.checkpoints, 3u);
  EXPECT_EQ(report.unsigned_tail, 0u);
}

TEST_F(AuditLogTest, AppendAfterCloseIsRefused) {
  OpenSslJwsSigner signer;
  auto log = AuditLog::Open(Options(), &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->Close().ok());
  EXPECT_THAT((*log)->Append(Allowed(1)).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
}

TEST_F(AuditLogTest, ReopenContinuesTheChainWhereItEnded) {
  OpenSslJwsSigner signer;
  {
    auto log = AuditLog::Open(Options(), &signer);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append(Allowed(1)).ok());
    ASSERT_TRUE((*log)->Close().ok());  // seq 2 = shutdown checkpoint
  }
  auto log = AuditLog::Open(Options(), &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  absl::StatusOr<uint64_t> seq = (*log)->Append(Allowed(2));
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(*seq, 3u);
  ASSERT_TRUE((*log)->Close().ok());
  AuditVerifyReport report = Verify(signer);
  EXPECT_TRUE(report.ok()) << report.Summary();
  EXPECT_EQ(report.last_seq, 4u);
}

TEST_F(AuditLogTest, ReopenAfterACrashSignsTheRecordsThePreviousRunLeftUnsigned) {
  OpenSslJwsSigner signer;
  {
    auto log = AuditLog::Open(Options(), &signer);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append(Allowed(1)).ok());
    ASSERT_TRUE((*log)->Append(Allowed(2)).ok());
    // What a crash leaves: the durable lines without a shutdown checkpoint.
    std::filesystem::copy_file(path_, dir_ + "/crashed.jsonl");
  }
  path_ = dir_ + "/crashed.jsonl";
  auto log = AuditLog::Open(Options(), &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  std::vector<nlohmann::json> records = Records(path_);
  ASSERT_THAT(records, SizeIs(3));
  EXPECT_EQ(records[2]["trigger"], "startup");
  EXPECT_EQ(records[2]["count"], 2);
  AuditVerifyReport report = Verify(signer);
  EXPECT_TRUE(report.ok()) << report.Summary();
}

TEST_F(AuditLogTest, TornLastLineIsKeptAndTheChainContinuesInTheNextFile) {
  OpenSslJwsSigner signer;
  {
    auto log = AuditLog::Open(Options(), &signer);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append(Allowed(1)).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  std::string good = Slurp(path_);
  { std::ofstream(path_, std::ios::app) << R"({"agent":"web1","clie)"; }
  std::string damaged = Slurp(path_);

  auto log = AuditLog::Open(Options(), &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->active_file(), path_ + ".1");
  ASSERT_TRUE((*log)->Append(Allowed(2)).ok());
  ASSERT_TRUE((*log)->Close().ok());

  EXPECT_EQ(Slurp(path_), damaged);  // never truncated
  std::vector<nlohmann::json> next = Records(path_ + ".1");
  ASSERT_FALSE(next.empty());
  EXPECT_EQ(next[0]["trigger"], "recovery");
  EXPECT_EQ(next[0]["torn_file"], "audit.jsonl");
  EXPECT_EQ(next[0]["torn_offset"], good.size());
  EXPECT_EQ(next[0]["seq"], 3);

  AuditVerifyReport report = Verify(signer);
  EXPECT_TRUE(report.ok()) << report.Summary();
  EXPECT_THAT(report.notes, ElementsAre(HasSubstr("partial line from a crash")));
}

TEST_F(AuditLogTest, RotatesToANewFileThatCarriesTheLastHash) {
  OpenSslJwsSigner signer;
  AuditLogOptions options = Options();
  options.rotate_bytes = 2000;
  auto log = AuditLog::Open(options, &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*log)->Append(Allowed(i)).ok());
  ASSERT_TRUE((*log)->Close().ok());

  absl::StatusOr<std::vector<std::string>> files = AuditLogFiles(path_);
  ASSERT_TRUE(files.ok()) << files.status();
  // The newest file may still be empty: rotation opens it before anything is written to it.
  std::vector<std::string> used;
  for (const std::string& file : *files) {
    if (std::filesystem::file_size(file) > 0) used.push_back(file);
  }
  ASSERT_GE(used.size(), 3u);
  for (size_t i = 0; i + 1 < used.size(); ++i) {
    std::vector<nlohmann::json> current = Records(used[i]);
    std::vector<nlohmann::json> next = Records(used[i + 1]);
    ASSERT_FALSE(current.empty());
    ASSERT_FALSE(next.empty());
    EXPECT_EQ(current.back()["trigger"], "rotate");
    EXPECT_EQ(next.front()["prev"], current.back()["hash"]);
    EXPECT_EQ(next.front()["seq"], current.back()["seq"].get<uint64_t>() + 1);
  }
  AuditVerifyReport report = Verify(signer);
  EXPECT_TRUE(report.ok()) << report.Summary();
  EXPECT_EQ(report.files.size(), files->size());
}

TEST_F(AuditLogTest, ConcurrentAppendsGetDistinctContiguousSeqs) {
  OpenSslJwsSigner signer;
  auto log = AuditLog::Open(Options(/*interval=*/16), &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<uint64_t> seq = (*log)->Append(Allowed(i));
        if (seq.ok()) seqs[t].push_back(*seq);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE((*log)->Close().ok());

  std::set<uint64_t> all;
  for (const auto& s : seqs) {
    EXPECT_THAT(s, SizeIs(kPerThread));
    all.insert(s.begin(), s.end());
  }
  EXPECT_THAT(all, SizeIs(kThreads * kPerThread));
  AuditVerifyReport report = Verify(signer);
  EXPECT_TRUE(report.ok()) << report.Summary();
  EXPECT_EQ(report.records - report.checkpoints, static_cast<uint64_t>(kThreads * kPerThread));
}

TEST_F(AuditLogTest, UnsignableCheckpointRefusesTheAppendButKeepsItsRecordDurable) {
  OpenSslJwsSigner signer;
  signer.FailAfter(0);
  auto log = AuditLog::Open(Options(/*interval=*/2), &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->Append(Allowed(1)).ok());
  EXPECT_THAT(
      (*log)->Append(Allowed(2)).status(),
      StatusIs(absl::StatusCode::kUnavailable,
               AllOf(HasSubstr("cannot sign audit checkpoint"), HasSubstr("test token removed"),
                     HasSubstr("record 2 was written"), HasSubstr("request is refused"))));
  EXPECT_EQ((*log)->last_seq(), 2u);
  EXPECT_THAT(Records(path_), SizeIs(2));
  AuditVerifyReport report = Verify(signer);
  EXPECT_TRUE(report.ok()) << report.Summary();
  EXPECT_EQ(report.unsigned_tail, 2u);
}

TEST_F(AuditLogTest, WhileTheCheckpointCannotBeSignedLaterAppendsAreRefusedAndWriteNothing) {
  OpenSslJwsSigner signer;
  signer.FailAfter(0);
  auto log = AuditLog::Open(Options(/*interval=*/3), &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->Append(Allowed(1)).ok());
  ASSERT_TRUE((*log)->Append(Allowed(2)).ok());
  ASSERT_FALSE((*log)->Append(Allowed(3)).ok());  // makes the checkpoint due
  const std::string before = Slurp(path_);
  // A client retrying through an outage: every attempt retries the checkpoint first.
  for (int i = 0; i < 50; ++i) {
    EXPECT_THAT(
        (*log)->Append(Allowed(100 + i)).status(),
        StatusIs(
            absl::StatusCode::kUnavailable,
            AllOf(HasSubstr("cannot sign audit checkpoint"), HasSubstr("test token removed"),
                  HasSubstr("3 records after its last signed checkpoint"),
                  HasSubstr("checkpoint_interval = 3"), HasSubstr("this record was not written"))));
  }
  EXPECT_EQ(Slurp(path_), before);
  EXPECT_EQ((*log)->last_seq(), 3u);
  AuditVerifyReport report = Verify(signer);
  EXPECT_TRUE(report.ok()) << report.Summary();
  EXPECT_EQ(report.unsigned_tail, 3u);
}

TEST_F(AuditLogTest, AppendsResumeWithTheOwedCheckpointOnceTheSignerIsBack) {
  OpenSslJwsSigner signer;
  signer.FailAfter(0);
  auto log = AuditLog::Open(Options(/*interval=*/2), &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->Append(Allowed(1)).ok());
  ASSERT_FALSE((*log)->Append(Allowed(2)).ok());
  ASSERT_FALSE((*log)->Append(Allowed(3)).ok());

  signer.Recover();
  absl::StatusOr<uint64_t> seq = (*log)->Append(Allowed(4));
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(*seq, 4u);  // 3 is the owed checkpoint; the refused record 3 left no trace
  ASSERT_TRUE((*log)->Append(Allowed(5)).ok());
  ASSERT_TRUE((*log)->Close().ok());

  std::vector<nlohmann::json> records = Records(path_);
  std::vector<std::string> kinds;
  for (const auto& r : records) {
    kinds.push_back(r["kind"] == "checkpoint" ? r["trigger"].get<std::string>() : "e");
  }
  // 1, 2, owed checkpoint over them, 4, 5, interval checkpoint, no shutdown checkpoint needed.
  EXPECT_THAT(kinds, ElementsAre("e", "e", "interval", "e", "e", "interval"));
  EXPECT_EQ(records[2]["count"], 2);
  EXPECT_EQ(records[2]["prev"], records[1]["hash"]);
  EXPECT_EQ(records[3]["request"]["order_url"], "https://ca.test/order/4");
  AuditVerifyReport report = Verify(signer);
  EXPECT_TRUE(report.ok()) << report.Summary();
  EXPECT_EQ(report.checkpoints, 2u);
  EXPECT_EQ(report.unsigned_tail, 0u);
}

TEST_F(AuditLogTest, AnUnsignableRotateCheckpointIsRetriedAndTheChainCrossesFiles) {
  OpenSslJwsSigner signer;
  AuditLogOptions options = Options();
  options.rotate_bytes = 1500;
  auto log = AuditLog::Open(options, &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  signer.FailAfter(0);
  int i = 0;
  absl::Status status;
  while (status.ok() && i < 100) status = (*log)->Append(Allowed(i++)).status();
  ASSERT_THAT(status, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("was written")));
  EXPECT_EQ((*log)->active_file(), path_);
  EXPECT_THAT((*log)->Append(Allowed(i++)).status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("was not written")));

  signer.Recover();
  ASSERT_TRUE((*log)->Append(Allowed(i++)).ok());
  EXPECT_EQ((*log)->active_file(), path_ + ".1");
  ASSERT_TRUE((*log)->Close().ok());
  EXPECT_EQ(Records(path_).back()["trigger"], "rotate");
  AuditVerifyReport report = Verify(signer);
  EXPECT_TRUE(report.ok()) << report.Summary();
  EXPECT_EQ(report.files.size(), 2u);
}

TEST_F(AuditLogTest, ConcurrentAppendsThroughAnOutageLeaveAVerifiableChain) {
  OpenSslJwsSigner signer;
  auto log = AuditLog::Open(Options(/*interval=*/4), &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 30;
  std::atomic<int> refused{0};
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::Status status = (*log)->Append(Allowed(i)).status();
        if (!status.ok()) {
          EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                                       HasSubstr("cannot sign audit checkpoint")));
          ++refused;
        }
        // The token goes away after the first third of all calls and is back after two.
        const int n = ++done;
        if (n == kThreads * kPerThread / 3) signer.FailAfter(0);
        if (n == 2 * kThreads * kPerThread / 3) signer.Recover();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE((*log)->Close().ok());
  EXPECT_GT(refused.load(), 0);
  AuditVerifyReport report = Verify(signer);
  EXPECT_TRUE(report.ok()) << report.Summary();
  EXPECT_EQ(report.unsigned_tail, 0u);
}

TEST_F(AuditLogTest, CloseDuringAnOutageKeepsEveryRecordAndTheNextOpenSignsThem) {
  OpenSslJwsSigner signer;
  {
    auto log = AuditLog::Open(Options(), &signer);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append(Allowed(1)).ok());
    ASSERT_TRUE((*log)->Append(Allowed(2)).ok());
    signer.FailAfter(0);
    EXPECT_THAT((*log)->Close(), StatusIs(absl::StatusCode::kUnavailable,
                                          AllOf(HasSubstr("cannot sign audit checkpoint"),
                                                HasSubstr("durable and chained up to record 2"),
                                                HasSubstr("\"startup\" checkpoint"))));
  }
  EXPECT_THAT(Records(path_), SizeIs(2));
  signer.Recover();
  auto log = AuditLog::Open(Options(), &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  std::vector<nlohmann::json> records = Records(path_);
  ASSERT_THAT(records, SizeIs(3));
  EXPECT_EQ(records[2]["trigger"], "startup");
  EXPECT_EQ(records[2]["count"], 2);
  ASSERT_TRUE((*log)->Close().ok());
  AuditVerifyReport report = Verify(signer);
  EXPECT_TRUE(report.ok()) << report.Summary();
}

TEST_F(AuditLogTest, FailsClosedWhenTheDiskIsFullAndRecoversOnReopen) {
  OpenSslJwsSigner signer;
  {
    auto log = AuditLog::Open(Options(), &signer);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append(Allowed(1)).ok());

    // RLIMIT_FSIZE makes write() stop at a size, like a full disk (EFBIG instead of ENOSPC).
    struct rlimit saved;
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
    auto old_handler = signal(SIGXFSZ, SIG_IGN);
    struct rlimit limited = saved;
    limited.rlim_cur = std::filesystem::file_size(path_) + 100;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
    absl::Status status = (*log)->Append(Allowed(2)).status();
    absl::Status after = (*log)->Append(Allowed(3)).status();
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old_handler);

    EXPECT_THAT(status, StatusIs(absl::StatusCode::kOutOfRange,
                                 AllOf(HasSubstr("cannot write audit log"), HasSubstr(path_))));
    EXPECT_THAT(after,
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("must be reopened")));
    EXPECT_THAT((*log)->Close(), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr(path_)));
  }
  // The file now ends in the first 100 bytes of record 2: reopening keeps them and moves on.
  auto log = AuditLog::Open(Options(), &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  absl::StatusOr<uint64_t> seq = (*log)->Append(Allowed(2));
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(*seq, 3u);  // 2 is the recovery checkpoint
  ASSERT_TRUE((*log)->Close().ok());
  AuditVerifyReport report = Verify(signer);
  EXPECT_TRUE(report.ok()) << report.Summary();
}

TEST_F(AuditLogTest, RefusesToExtendAFileWhoseLastCompleteLineIsNotARecord) {
  OpenSslJwsSigner signer;
  { std::ofstream(path_) << "{\"seq\":1}\nnot json\n"; }
  EXPECT_THAT(AuditLog::Open(Options(), &signer).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr(path_), HasSubstr("line 1"), HasSubstr("byte offset 0"))));
}

TEST_F(AuditLogTest, CreatesAMissingLogDirectoryGroupReadableButNotItsParents) {
  OpenSslJwsSigner signer;
  AuditLogOptions options = Options();
  // Two levels missing: a typo in the path is an error naming it, not a tree of directories.
  options.path = dir_ + "/missing/logs/audit.jsonl";
  EXPECT_THAT(AuditLog::Open(options, &signer).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(options.path)));
  // One level: created 0750 (the auditor group reads the log; docs/audit.md).
  const mode_t old_umask = ::umask(022);
  options.path = dir_ + "/missing/audit.jsonl";
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(options, &signer);
  ::umask(old_umask);
  ASSERT_TRUE(log.ok()) << log.status();
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/missing").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
}

TEST_F(AuditLogTest, RejectsAZeroCheckpointInterval) {
  OpenSslJwsSigner signer;
  EXPECT_THAT(AuditLog::Open(Options(/*interval=*/0), &signer).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("checkpoint_interval")));
}

TEST_F(AuditLogTest, StoresTheLatestCheckpointAndPublicKeyInTheStateStore) {
  OpenSslJwsSigner signer;
  auto store = StateStore::Open(dir_ + "/state.db");
  ASSERT_TRUE(store.ok()) << store.status();
  AuditLogOptions options = Options(/*interval=*/2);
  options.state_store = store->get();
  auto log = AuditLog::Open(options, &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->Append(Allowed(i)).ok());

  absl::StatusOr<std::optional<AuditCheckpointRef>> ref = LoadAuditCheckpoint(**store);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_TRUE(ref->has_value());
  std::vector<nlohmann::json> records = Records(path_);
  EXPECT_EQ((*ref)->seq, 3u);
  EXPECT_EQ((*ref)->hash, records[2]["hash"]);

  ASSERT_TRUE((*log)->Close().ok());
  ref = LoadAuditCheckpoint(**store);
  ASSERT_TRUE(ref.ok() && ref->has_value());
  EXPECT_EQ((*ref)->seq, 5u);  // the shutdown checkpoint
  absl::StatusOr<std::optional<std::string>> key = (*store)->GetValue(kAuditPublicKeyKey);
  ASSERT_TRUE(key.ok() && key->has_value());
}

TEST_F(AuditLogTest, OpenRefusesAForgedTailAfterACutBackToAnEarlierCheckpoint) {
  OpenSslJwsSigner signer;
  std::unique_ptr<StateStore> store = StoreWithClosedLog(signer);
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(StoredSeq(*store), 13u);
  std::vector<std::string> lines = Lines(path_);
  lines.resize(5);  // back to the first checkpoint, then one forged, correctly chained event
  lines.push_back(ForgedEvent(6, nlohmann::json::parse(lines[4])["hash"]));
  WriteLines(path_, lines);
  const std::string tampered = Slurp(path_);

  AuditLogOptions options = Options(/*interval=*/4);
  options.state_store = store.get();
  EXPECT_THAT(AuditLog::Open(options, &signer).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("audit log " + path_ + " line 7 (byte offset "),
                             HasSubstr(") seq 7: record 7 is missing: the log ends at seq 6"),
                             HasSubstr("state store records checkpoint seq 13"),
                             HasSubstr("after the last checkpoint that verifies (seq 5)"),
                             HasSubstr("Refusing to start"))));
  // Nothing was signed over the forgery and the reference did not move back.
  EXPECT_EQ(Slurp(path_), tampered);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".1"));
  EXPECT_EQ(StoredSeq(*store), 13u);
}

TEST_F(AuditLogTest, OpenRefusesATruncationInTheMiddleOfRecordTwo) {
  OpenSslJwsSigner signer;
  std::unique_ptr<StateStore> store = StoreWithClosedLog(signer);
  ASSERT_NE(store, nullptr);
  std::vector<std::string> lines = Lines(path_);
  const uint64_t record_2_offset = lines[0].size() + 1;
  std::filesystem::resize_file(path_, record_2_offset + lines[1].size() / 2);
  const std::string truncated = Slurp(path_);

  AuditLogOptions options = Options(/*interval=*/4);
  options.state_store = store.get();
  EXPECT_THAT(AuditLog::Open(options, &signer).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("audit log " + path_ + " line 2 (byte offset " +
                                       std::to_string(record_2_offset) + ") seq 2"),
                             HasSubstr("record 2 is missing: the log ends at seq 1 and a "
                                       "partial line"),
                             HasSubstr("records 2 to 13 were removed"))));
  EXPECT_EQ(Slurp(path_), truncated);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".1"));
  EXPECT_EQ(StoredSeq(*store), 13u);
}

TEST_F(AuditLogTest, AnHonestTornLastLineAfterTheStoredCheckpointStillRecovers) {
  OpenSslJwsSigner signer;
  std::unique_ptr<StateStore> store = StoreWithClosedLog(signer);
  ASSERT_NE(store, nullptr);
  AuditLogOptions options = Options(/*interval=*/4);
  options.state_store = store.get();
  {
    // A run that appends one record and then crashes in the middle of the next append. (It
    // runs without the store, so that the destructor's shutdown checkpoint, removed below to
    // make it a crash, is not stored.)
    auto log = AuditLog::Open(Options(/*interval=*/4), &signer);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append(Allowed(11)).ok());  // seq 14, unsigned
  }
  std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(nlohmann::json::parse(lines.back())["trigger"], "shutdown");
  lines.pop_back();
  WriteLines(path_, lines);
  const uint64_t torn_offset = std::filesystem::file_size(path_);
  { std::ofstream(path_, std::ios::app) << R"({"agent":"web1","clie)"; }

  auto log = AuditLog::Open(options, &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->active_file(), path_ + ".1");
  std::vector<nlohmann::json> next = Records(path_ + ".1");
  ASSERT_THAT(next, SizeIs(1));
  EXPECT_EQ(next[0]["trigger"], "recovery");
  EXPECT_EQ(next[0]["seq"], 15);
  EXPECT_EQ(next[0]["count"], 1);  // signs record 14, which the crash left unsigned
  EXPECT_EQ(next[0]["torn_offset"], torn_offset);
  EXPECT_EQ(StoredSeq(*store), 15u);
  ASSERT_TRUE((*log)->Close().ok());

  // A clean stop and start on top of it leaves everything as it was.
  auto again = AuditLog::Open(options, &signer);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE((*again)->Append(Allowed(12)).ok());
  ASSERT_TRUE((*again)->Close().ok());
  AuditVerifyOptions verify;
  verify.public_key_der = signer.PublicKeyDer();
  absl::StatusOr<std::optional<AuditCheckpointRef>> ref = LoadAuditCheckpoint(*store);
  ASSERT_TRUE(ref.ok() && ref->has_value());
  verify.expected_checkpoint = **ref;
  absl::StatusOr<AuditVerifyReport> report = VerifyAuditLogAt(path_, verify);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->Summary();
  EXPECT_EQ(report->last_seq, 17u);
  EXPECT_THAT(report->notes, ElementsAre(HasSubstr("partial line from a crash")));
}

TEST_F(AuditLogTest, OpenRefusesATornLineBeforeTheStoredCheckpoint) {
  OpenSslJwsSigner signer;
  std::unique_ptr<StateStore> store = StoreWithClosedLog(signer);
  ASSERT_NE(store, nullptr);
  // Cut inside the shutdown checkpoint the state store names: it looks like a crash, but
  // the record was acknowledged and stored.
  std::filesystem::resize_file(path_, std::filesystem::file_size(path_) - 20);
  AuditLogOptions options = Options(/*interval=*/4);
  options.state_store = store.get();
  EXPECT_THAT(AuditLog::Open(options, &signer).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr(" line 13 "), HasSubstr("seq 13: record 13 is missing"))));
  EXPECT_EQ(StoredSeq(*store), 13u);
}

TEST_F(AuditLogTest, OpenRefusesALogWithAMissingRotatedFile) {
  OpenSslJwsSigner signer;
  AuditLogOptions options = Options();
  options.rotate_bytes = 1500;
  {
    auto log = AuditLog::Open(options, &signer);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 20; ++i) ASSERT_TRUE((*log)->Append(Allowed(i)).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  ASSERT_TRUE(std::filesystem::exists(path_ + ".2"));
  ASSERT_TRUE(std::filesystem::remove(path_ + ".1"));
  const std::string last_before = Slurp(path_ + ".2");
  EXPECT_THAT(AuditLog::Open(options, &signer).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("audit log " + path_ + ".1 seq "),
                             HasSubstr("the file is missing but " + path_ + ".2 exists"))));
  EXPECT_EQ(Slurp(path_ + ".2"), last_before);
}

TEST_F(AuditLogTest, OpenRefusesACheckpointedLogWhenTheStateStoreLostItsReference) {
  OpenSslJwsSigner signer;
  ASSERT_NE(StoreWithClosedLog(signer), nullptr);
  // A replaced (here: new) state store: nothing would show what was cut from the log.
  auto fresh = StateStore::Open(dir_ + "/fresh.db");
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  AuditLogOptions options = Options(/*interval=*/4);
  options.state_store = fresh->get();
  EXPECT_THAT(AuditLog::Open(options, &signer).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("the log holds 3 signed checkpoints (the last is seq 13)"),
                             HasSubstr("state store has no audit checkpoint reference"))));
  EXPECT_EQ(StoredSeq(**fresh), 0u);
}

TEST_F(AuditLogTest, OpenWithoutAReferenceAcceptsALogWithoutCheckpoints) {
  OpenSslJwsSigner signer;
  {
    // A first run that crashed before its first checkpoint.
    auto log = AuditLog::Open(Options(), &signer);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append(Allowed(1)).ok());
    std::filesystem::copy_file(path_, dir_ + "/crashed.jsonl");
  }
  path_ = dir_ + "/crashed.jsonl";
  auto store = StateStore::Open(dir_ + "/state.db");
  ASSERT_TRUE(store.ok()) << store.status();
  AuditLogOptions options = Options();
  options.state_store = store->get();
  auto log = AuditLog::Open(options, &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(Records(path_).back()["trigger"], "startup");
  EXPECT_EQ(StoredSeq(**store), 2u);
}

TEST_F(AuditLogTest, TheStoredCheckpointReferenceNeverMovesBackwards) {
  auto store = StateStore::Open(dir_ + "/state.db");
  ASSERT_TRUE(store.ok()) << store.status();
  const std::string hash_a(64, 'a');
  const std::string hash_b(64, 'b');
  ASSERT_TRUE(StoreAuditCheckpoint(**store, {10, hash_a}).ok());
  EXPECT_THAT(StoreAuditCheckpoint(**store, {5, hash_b}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("refusing to move the audit checkpoint reference"),
                             HasSubstr("from seq 10"), HasSubstr("back to seq 5"))));
  EXPECT_THAT(StoreAuditCheckpoint(**store, {10, hash_b}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("back to seq 10")));
  EXPECT_EQ(StoredSeq(**store), 10u);
  EXPECT_TRUE(StoreAuditCheckpoint(**store, {10, hash_a}).ok());  // the same: idempotent
  EXPECT_TRUE(StoreAuditCheckpoint(**store, {11, hash_b}).ok());
  EXPECT_EQ(StoredSeq(**store), 11u);
}

TEST_F(AuditLogTest, ARunningLogDoesNotMoveAReferenceThatWentAheadOfItBack) {
  OpenSslJwsSigner signer;
  auto store = StateStore::Open(dir_ + "/state.db");
  ASSERT_TRUE(store.ok()) << store.status();
  AuditLogOptions options = Options(/*interval=*/2);
  options.state_store = store->get();
  auto log = AuditLog::Open(options, &signer);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->Append(Allowed(1)).ok());
  // Someone swaps in a state store from a longer log while this one runs.
  ASSERT_TRUE(StoreAuditCheckpoint(**store, {1000, std::string(64, 'f')}).ok());
  EXPECT_THAT((*log)->Append(Allowed(2)).status(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                                            HasSubstr("from seq 1000 (hash ffff")));
  EXPECT_EQ(StoredSeq(**store), 1000u);
}

// The in-memory record holds typed identifiers; the log keeps the "type:value" text form and
// a last entry counting those left out (signer/identifier_text.h is the one conversion).
TEST(AuditRecordToJsonTest, WritesIdentifiersAsTypeColonValueAndCountsThoseLeftOut) {
  AuditRecord record;
  record.request.identifiers = {Identifier::Dns("a.example.com"), Identifier{"ip", "192.0.2.1"}};
  record.request.identifiers_not_recorded = 3;
  EXPECT_EQ(AuditRecordToJson(record)["request"]["identifiers"],
            nlohmann::json::array(
                {"dns:a.example.com", "ip:192.0.2.1", "(3 more identifiers not recorded)"}));
  record.request.identifiers.clear();
  record.request.identifiers_not_recorded = 0;
  EXPECT_FALSE(AuditRecordToJson(record)["request"].contains("identifiers"));
}

}  // namespace
}  // namespace acme_signer::signer
