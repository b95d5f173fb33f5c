// DbNonceStore against a real PostgreSQL 15 cluster: two stores on one database stand for two
// replicas behind a load balancer. A nonce issued by one is accepted once by the other; racing
// consumers get each nonce exactly once; expiry and the capacity trim hold; a stopped database
// refuses (without a badNonce) and the store recovers when it is back.
#include "signer/frontdoor/db_nonce_store.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "acme/server_problem.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/postgres_cluster.h"

namespace acme_signer::signer::frontdoor {
namespace {

using ::acme_signer::testing::FakeClock;

std::string ProblemType(const absl::Status& status) {
  std::optional<acme::ServerProblem> problem = acme::GetServerProblem(status);
  return problem.has_value() ? problem->type : "<no problem: " + status.ToString() + ">";
}

class DbNonceStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(testing::PostgresCluster::Available().ok());
    std::string pattern = "/tmp/h2dns-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = new std::string(pattern);
    auto cluster = testing::PostgresCluster::Start(pattern + "/pg");
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    if (dir_ != nullptr) std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    ASSERT_TRUE(cluster_->Psql("DROP TABLE IF EXISTS frontdoor_nonces").ok());
    for (const std::string& statement : DbNonceStoreSchema()) {
      ASSERT_TRUE(cluster_->Psql(statement).ok()) << statement;
    }
  }

  // A "replica's" store; `Create` through the NonceStore entry point the front door uses.
  std::unique_ptr<NonceStore> Replica(size_t capacity = 100,
                                      absl::Duration lifetime = absl::Minutes(5)) {
    NonceStore::Options options;
    options.capacity = capacity;
    options.lifetime = lifetime;
    options.clock = [this] { return clock_.Now(); };
    options.postgresql_conninfo = cluster_->conninfo();
    absl::StatusOr<std::unique_ptr<NonceStore>> store = NonceStore::Create(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  static testing::PostgresCluster* cluster_;
  static std::string* dir_;
  FakeClock clock_;
};

testing::PostgresCluster* DbNonceStoreTest::cluster_ = nullptr;
std::string* DbNonceStoreTest::dir_ = nullptr;

TEST_F(DbNonceStoreTest, NonceIssuedByOneReplicaIsConsumedOnceByAnother) {
  auto a = Replica();
  auto b = Replica();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(dynamic_cast<DbNonceStore*>(a.get()), nullptr);
  absl::StatusOr<std::string> nonce = a->Issue();
  ASSERT_TRUE(nonce.ok()) << nonce.status();
  EXPECT_EQ(nonce->size(), 22u);
  EXPECT_EQ(*b->size(), 1u);
  EXPECT_TRUE(b->Consume(*nonce).ok());
  EXPECT_EQ(ProblemType(b->Consume(*nonce)), "badNonce");
  EXPECT_EQ(ProblemType(a->Consume(*nonce)), "badNonce");
  EXPECT_EQ(ProblemType(a->Consume("AAAAAAAAAAAAAAAAAAAAAA")), "badNonce");
  EXPECT_EQ(*a->size(), 0u);
}

TEST_F(DbNonceStoreTest, RacingReplicasConsumeEachNonceExactlyOnce) {
  auto a = Replica(1000);
  auto b = Replica(1000);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  std::vector<std::string> nonces;
  for (int i = 0; i < 100; ++i) nonces.push_back(*(i % 2 == 0 ? a : b)->Issue());
  std::atomic<int> accepted{0};
  std::atomic<int> errors{0};
  auto consume_all = [&](NonceStore& store) {
    for (const std::string& nonce : nonces) {
      absl::Status status = store.Consume(nonce);
      if (status.ok()) {
        ++accepted;
      } else if (ProblemType(status) != "badNonce") {
        ++errors;
      }
    }
  };
  std::thread first([&] { consume_all(*a); });
  std::thread second([&] { consume_all(*b); });
  first.join();
  second.join();
  EXPECT_EQ(accepted.load(), 100);
  EXPECT_EQ(errors.load(), 0);
}

TEST_F(DbNonceStoreTest, ExpiredNoncesAreRefusedAndSwept) {
  auto a = Replica(100, absl::Minutes(5));
  auto b = Replica(100, absl::Minutes(5));
  const std::string old_nonce = *a->Issue();
  clock_.Advance(absl::Minutes(4));
  const std::string young_nonce = *a->Issue();
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(ProblemType(b->Consume(old_nonce)), "badNonce");
  EXPECT_EQ(*b->size(), 2u) << "refusing does not delete; the sweep does";
  ASSERT_TRUE(dynamic_cast<DbNonceStore&>(*b).Sweep().ok());
  EXPECT_EQ(*b->size(), 1u);
  EXPECT_TRUE(b->Consume(young_nonce).ok());
}

TEST_F(DbNonceStoreTest, SweepTrimsToCapacityOldestFirst) {
  auto a = Replica(3);
  std::vector<std::string> nonces;
  for (int i = 0; i < 5; ++i) {
    nonces.push_back(*a->Issue());
    clock_.Advance(absl::Seconds(1));  // distinct expiry times: a defined "oldest"
  }
  ASSERT_TRUE(dynamic_cast<DbNonceStore&>(*a).Sweep().ok());
  EXPECT_EQ(*a->size(), 3u);
  EXPECT_EQ(ProblemType(a->Consume(nonces[0])), "badNonce");
  EXPECT_EQ(ProblemType(a->Consume(nonces[1])), "badNonce");
  for (int i = 2; i < 5; ++i) EXPECT_TRUE(a->Consume(nonces[i]).ok());
}

TEST_F(DbNonceStoreTest, IssueSweepsEveryFewHundredNonces) {
  auto a = Replica(10);
  for (uint64_t i = 0; i < DbNonceStore::kSweepEvery; ++i) ASSERT_TRUE(a->Issue().ok());
  // The kSweepEvery-th Issue trimmed to capacity first, then added its own nonce.
  EXPECT_EQ(*a->size(), 11u);
}

TEST_F(DbNonceStoreTest, StoppedDatabaseRefusesWithoutBadNonceAndRecovers) {
  auto a = Replica();
  const std::string nonce = *a->Issue();
  ASSERT_TRUE(cluster_->Stop().ok());
  absl::StatusOr<std::string> issued = a->Issue();
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kUnavailable) << issued.status();
  absl::Status consumed = a->Consume(nonce);
  EXPECT_FALSE(consumed.ok());
  EXPECT_FALSE(acme::GetServerProblem(consumed).has_value())
      << "a database outage is not the client's bad nonce: " << consumed;
  ASSERT_TRUE(cluster_->Restart().ok());
  // The statement that meets the lost connection may fail once; the next one reconnects.
  absl::Status again = a->Consume(nonce);
  if (!again.ok() && !acme::GetServerProblem(again).has_value()) again = a->Consume(nonce);
  EXPECT_TRUE(again.ok()) << again;
}

}  // namespace
}  // namespace acme_signer::signer::frontdoor
