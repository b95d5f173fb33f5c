#include "signer/refusal_budget.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signer/audit_record.h"
#include "tests/testing/fake_clock.h"

namespace acme_signer::signer {
namespace {

using ::testing::IsEmpty;
using ::testing::SizeIs;

using ::acme_signer::testing::FakeClock;

// Collects what the budget writes; can be told to fail.
class FakeLog {
 public:
  absl::Status Write(const AuditRecord& record) {
    absl::MutexLock lock(&mu_);
    if (!fail_.ok()) return fail_;
    records_.push_back(record);
    bytes_ += RefusalBudget::RecordCost(record);
    return absl::OkStatus();
  }
  std::vector<AuditRecord> records() const {
    absl::MutexLock lock(&mu_);
    return records_;
  }
  uint64_t bytes() const {
    absl::MutexLock lock(&mu_);
    return bytes_;
  }
  void Fail(absl::Status s) {
    absl::MutexLock lock(&mu_);
    fail_ = std::move(s);
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<AuditRecord> records_;
  uint64_t bytes_ = 0;
  absl::Status fail_;
};

AuditRecord Refusal(absl::string_view agent, absl::string_view reason,
                    absl::string_view rpc = "CreateOrder") {
  AuditRecord r;
  r.agent = std::string(agent);
  r.client_cert_sha256 = std::string(64, 'a');
  r.peer = "ipv4:127.0.0.1:40000";
  r.rpc = std::string(rpc);
  r.decision = AuditDecision::kDeny;
  r.reason = std::string(reason);
  return r;
}

// Refusals a record stands for: repeated.count, or 1.
uint64_t Weight(const AuditRecord& r) { return r.repeated.count > 0 ? r.repeated.count : 1; }

uint64_t TotalWeight(const std::vector<AuditRecord>& records, absl::string_view agent) {
  uint64_t total = 0;
  for (const AuditRecord& r : records) total += r.agent == agent ? Weight(r) : 0;
  return total;
}

class RefusalBudgetTest : public ::testing::Test {
 protected:
  RefusalBudget::Options Options() {
    RefusalBudget::Options options;
    options.burst_bytes = 4000;
    options.bytes_per_second = 1000;
    options.fold_window = absl::Seconds(5);
    options.max_identities = 4;
    options.max_kinds_per_identity = 3;
    options.clock = [this] { return clock_.Now(); };
    return options;
  }
  std::unique_ptr<RefusalBudget> Make() { return Make(Options()); }
  std::unique_ptr<RefusalBudget> Make(RefusalBudget::Options options) {
    return std::make_unique<RefusalBudget>(
        std::move(options), [this](const AuditRecord& r) { return log_.Write(r); });
  }

  FakeClock clock_;
  FakeLog log_;
};

TEST_F(RefusalBudgetTest, ASingleRefusalIsWrittenAtOnceAsOneRecordWithoutRepeated) {
  auto budget = Make();
  ASSERT_TRUE(budget->Refuse(Refusal("web1", "no")).ok());
  ASSERT_THAT(log_.records(), SizeIs(1));
  EXPECT_EQ(log_.records()[0].repeated.count, 0u);
  EXPECT_FALSE(AuditRecordToJson(log_.records()[0]).contains("repeated"));
  ASSERT_TRUE(budget->Close().ok());
  EXPECT_THAT(log_.records(), SizeIs(1)) << "nothing was folded, so nothing more to write";
}

TEST_F(RefusalBudgetTest, IdenticalRepeatsAreFoldedIntoOneRecordWithCountAndTimeSpan) {
  auto budget = Make();
  const absl::Time start = clock_.Now();
  ASSERT_TRUE(budget->Refuse(Refusal("web1", "no")).ok());
  for (int i = 0; i < 99; ++i) {
    clock_.Advance(absl::Milliseconds(10));
    AuditRecord again = Refusal("web1", "no");
    again.peer = absl::StrCat("ipv4:127.0.0.1:", 41000 + i);  // other connections, same refusal
    ASSERT_TRUE(budget->Refuse(again).ok());
  }
  EXPECT_THAT(log_.records(), SizeIs(1));
  // Not due yet.
  ASSERT_TRUE(budget->FlushDue().ok());
  EXPECT_THAT(log_.records(), SizeIs(1));
  clock_.Advance(absl::Seconds(5));
  ASSERT_TRUE(budget->FlushDue().ok());
  const std::vector<AuditRecord> records = log_.records();
  ASSERT_THAT(records, SizeIs(2));
  const AuditRecord& folded = records[1];
  EXPECT_EQ(folded.reason, "no");
  EXPECT_EQ(folded.rpc, "CreateOrder");
  EXPECT_EQ(folded.repeated.count, 99u);
  EXPECT_EQ(folded.repeated.folded, "identical");
  EXPECT_EQ(folded.repeated.first, FormatAuditTime(start + absl::Milliseconds(10)));
  EXPECT_EQ(folded.repeated.last, FormatAuditTime(start + absl::Milliseconds(990)));
  EXPECT_EQ(TotalWeight(records, "web1"), 100u);
  const nlohmann::json json = AuditRecordToJson(folded);
  EXPECT_EQ(json["repeated"]["count"], 99u);
  EXPECT_EQ(json["repeated"]["folded"], "identical");
}

TEST_F(RefusalBudgetTest, EachDifferentRefusalsBeyondTheBudgetAreSummarisedWithFirstAndLast) {
  auto budget = Make();
  constexpr int kRefusals = 200;
  for (int i = 0; i < kRefusals; ++i) {
    ASSERT_TRUE(budget->Refuse(Refusal("web1", absl::StrCat("reason ", i))).ok());
  }
  const size_t written_at_once = log_.records().size();
  EXPECT_GT(written_at_once, 1u);
  EXPECT_LT(written_at_once, 20u) << "a 4000-byte burst holds a handful of records";
  EXPECT_LE(log_.bytes(), 4000u);
  clock_.Advance(absl::Seconds(5));
  ASSERT_TRUE(budget->FlushDue().ok());
  const std::vector<AuditRecord> records = log_.records();
  const AuditRecord& summary = records.back();
  EXPECT_EQ(summary.repeated.folded, "over_budget");
  EXPECT_EQ(summary.repeated.count, kRefusals - written_at_once);
  EXPECT_EQ(summary.reason, absl::StrCat("reason ", written_at_once));
  EXPECT_EQ(summary.repeated.last_reason, absl::StrCat("reason ", kRefusals - 1));
  EXPECT_EQ(summary.repeated.last_rpc, "CreateOrder");
  EXPECT_EQ(TotalWeight(records, "web1"), static_cast<uint64_t>(kRefusals));
}

TEST_F(RefusalBudgetTest, LogGrowthStaysWithinBurstPlusRateOverTime) {
  auto budget = Make();
  uint64_t refused = 0;
  // 60 simulated seconds of 100 refusals per second, half identical, half each different,
  // with the background flush every second.
  for (int second = 0; second < 60; ++second) {
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(budget->Refuse(Refusal("web1", "same")).ok());
      ASSERT_TRUE(budget->Refuse(Refusal("web1", absl::StrCat("different ", refused))).ok());
      refused += 2;
      clock_.Advance(absl::Milliseconds(10));
    }
    ASSERT_TRUE(budget->FlushDue().ok());
  }
  ASSERT_TRUE(budget->Close().ok());
  // The folded records of the last window come on top of burst + rate * t.
  const uint64_t bound = 4000 + 1000 * 60 + 3 * 1000;
  EXPECT_LE(log_.bytes(), bound);
  EXPECT_EQ(TotalWeight(log_.records(), "web1"), refused);
}

TEST_F(RefusalBudgetTest, OneIdentitysFloodDoesNotTouchAnothersBudget) {
  auto budget = Make();
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(budget->Refuse(Refusal("web1", absl::StrCat("flood ", i))).ok());
  }
  const size_t before = log_.records().size();
  ASSERT_TRUE(budget->Refuse(Refusal("web2", "its own refusal")).ok());
  ASSERT_THAT(log_.records(), SizeIs(before + 1));
  EXPECT_EQ(log_.records().back().agent, "web2");
}

TEST_F(RefusalBudgetTest, CloseWritesEveryPendingFoldAndSummary) {
  auto budget = Make();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(budget->Refuse(Refusal("web1", "same")).ok());
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(budget->Refuse(Refusal("web2", absl::StrCat("r", i))).ok());
  }
  ASSERT_TRUE(budget->Close().ok());
  EXPECT_EQ(TotalWeight(log_.records(), "web1"), 10u);
  EXPECT_EQ(TotalWeight(log_.records(), "web2"), 100u);
  // After Close nothing is held back.
  const size_t before = log_.records().size();
  ASSERT_TRUE(budget->Refuse(Refusal("web1", "same")).ok());
  EXPECT_THAT(log_.records(), SizeIs(before + 1));
}

TEST_F(RefusalBudgetTest, TrackedIdentitiesAreCappedByEvictingTheLeastRecentWithItsCounts) {
  auto budget = Make();
  for (int agent = 0; agent < 10; ++agent) {
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(budget->Refuse(Refusal(absl::StrCat("agent-", agent), "same")).ok());
      clock_.Advance(absl::Milliseconds(1));
    }
    EXPECT_LE(budget->TrackedIdentities(), 4u);
  }
  // Evicted identities' counts are already in the log; the rest come with Close.
  ASSERT_TRUE(budget->Close().ok());
  for (int agent = 0; agent < 10; ++agent) {
    EXPECT_EQ(TotalWeight(log_.records(), absl::StrCat("agent-", agent)), 3u) << agent;
  }
}

TEST_F(RefusalBudgetTest, IdleIdentitiesAreForgottenOnceTheirBucketIsFull) {
  auto budget = Make();
  ASSERT_TRUE(budget->Refuse(Refusal("web1", "no")).ok());
  EXPECT_EQ(budget->TrackedIdentities(), 1u);
  clock_.Advance(absl::Seconds(10));
  ASSERT_TRUE(budget->FlushDue().ok());
  EXPECT_EQ(budget->TrackedIdentities(), 0u);
}

TEST_F(RefusalBudgetTest, AFailedImmediateWriteIsReturnedAndRepeatsAreNotFoldedIntoIt) {
  auto budget = Make();
  log_.Fail(absl::UnavailableError("disk on fire"));
  EXPECT_EQ(budget->Refuse(Refusal("web1", "no")).code(), absl::StatusCode::kUnavailable);
  log_.Fail(absl::OkStatus());
  // The next identical refusal is written, not folded into a record that does not exist.
  ASSERT_TRUE(budget->Refuse(Refusal("web1", "no")).ok());
  EXPECT_THAT(log_.records(), SizeIs(1));
}

TEST_F(RefusalBudgetTest, BackgroundFlushWritesDueFoldsWithoutBeingAsked) {
  RefusalBudget::Options options = Options();
  options.clock = [] { return absl::Now(); };
  options.fold_window = absl::Milliseconds(50);
  auto budget = Make(options);
  budget->StartBackgroundFlush(absl::Milliseconds(10));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(budget->Refuse(Refusal("web1", "same")).ok());
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (log_.records().size() < 2 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_THAT(log_.records(), SizeIs(2));
  EXPECT_EQ(log_.records()[1].repeated.count, 4u);
  ASSERT_TRUE(budget->Close().ok());
}

TEST_F(RefusalBudgetTest, ConcurrentRefusalsAreAllAccountedFor) {
  auto budget = Make();
  constexpr int kThreads = 8;
  constexpr int kEach = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        EXPECT_TRUE(budget->Refuse(Refusal("web1", i % 2 == 0 ? "same" : absl::StrCat(t, "-", i)))
                        .ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(budget->Close().ok());
  EXPECT_EQ(TotalWeight(log_.records(), "web1"), static_cast<uint64_t>(kThreads * kEach));
}

}  // namespace
}  // namespace acme_signer::signer
