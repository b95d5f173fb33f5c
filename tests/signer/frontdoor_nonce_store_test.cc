#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "acme/server_problem.h"
#include "common/base64url.h"
#include "gtest/gtest.h"
#include "signer/frontdoor/nonce_store.h"
#include "tests/testing/fake_clock.h"

namespace acme_signer::signer::frontdoor {
namespace {

std::string ProblemType(const absl::Status& status) {
  std::optional<acme::ServerProblem> problem = acme::GetServerProblem(status);
  return problem.has_value() ? problem->type : "<no problem: " + status.ToString() + ">";
}

using ::acme_signer::testing::FakeClock;

std::unique_ptr<NonceStore> MakeStore(FakeClock* clock, size_t capacity = 100,
                                      absl::Duration lifetime = absl::Minutes(5)) {
  NonceStore::Options options;
  options.capacity = capacity;
  options.lifetime = lifetime;
  options.clock = [clock] { return clock->Now(); };
  absl::StatusOr<std::unique_ptr<NonceStore>> store = NonceStore::Create(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return *std::move(store);
}

TEST(NonceStoreTest, IssuesDistinctBase64UrlNoncesOf128Bits) {
  FakeClock clock;
  auto store = MakeStore(&clock);
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<std::string> nonce = store->Issue();
    ASSERT_TRUE(nonce.ok()) << nonce.status();
    EXPECT_TRUE(IsBase64Url(*nonce));
    EXPECT_EQ(DecodeBase64Url(*nonce, "nonce")->size(), 16u);
    EXPECT_TRUE(seen.insert(*nonce).second);
  }
  EXPECT_EQ(*store->size(), 50u);
}

TEST(NonceStoreTest, AcceptsEachNonceOnceAndRefusesAReplayAsBadNonce) {
  FakeClock clock;
  auto store = MakeStore(&clock);
  const std::string nonce = *store->Issue();
  EXPECT_TRUE(store->Consume(nonce).ok());
  absl::Status replay = store->Consume(nonce);
  EXPECT_EQ(ProblemType(replay), "badNonce");
  EXPECT_EQ(acme::GetServerProblem(replay)->http_status, 400);
  EXPECT_EQ(*store->size(), 0u);
}

TEST(NonceStoreTest, RefusesAnUnknownNonce) {
  FakeClock clock;
  auto store = MakeStore(&clock);
  ASSERT_TRUE(store->Issue().ok());
  EXPECT_EQ(ProblemType(store->Consume("AAAAAAAAAAAAAAAAAAAAAA")), "badNonce");
  EXPECT_EQ(ProblemType(store->Consume("")), "badNonce");
  EXPECT_EQ(*store->size(), 1u) << "a refused nonce does not touch the issued ones";
}

TEST(NonceStoreTest, RefusesAnExpiredNonce) {
  FakeClock clock;
  auto store = MakeStore(&clock, 100, absl::Minutes(5));
  const std::string old_nonce = *store->Issue();
  clock.Advance(absl::Minutes(4));
  const std::string young_nonce = *store->Issue();
  clock.Advance(absl::Minutes(1));
  EXPECT_EQ(ProblemType(store->Consume(old_nonce)), "badNonce");
  EXPECT_TRUE(store->Consume(young_nonce).ok());
}

TEST(NonceStoreTest, ForgetsTheOldestNonceBeyondCapacity) {
  FakeClock clock;
  auto store = MakeStore(&clock, 3);
  std::vector<std::string> nonces;
  for (int i = 0; i < 4; ++i) nonces.push_back(*store->Issue());
  EXPECT_EQ(*store->size(), 3u);
  EXPECT_EQ(ProblemType(store->Consume(nonces[0])), "badNonce");
  for (int i = 1; i < 4; ++i) EXPECT_TRUE(store->Consume(nonces[i]).ok());

  // Consumed nonces do not keep memory either: issue many, consume each, stay bounded.
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(store->Consume(*store->Issue()).ok());
  EXPECT_EQ(*store->size(), 0u);
}

TEST(NonceStoreTest, RefusesAZeroCapacityOrLifetime) {
  NonceStore::Options options;
  options.capacity = 0;
  EXPECT_EQ(NonceStore::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.capacity = 1;
  options.lifetime = absl::ZeroDuration();
  EXPECT_EQ(NonceStore::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(NonceStoreTest, EachNonceIsAcceptedOnceUnderConcurrency) {
  absl::StatusOr<std::unique_ptr<NonceStore>> created = NonceStore::Create({});
  ASSERT_TRUE(created.ok());
  NonceStore& store = **created;
  std::vector<std::string> nonces;
  for (int i = 0; i < 200; ++i) nonces.push_back(*store.Issue());
  absl::Mutex mu;
  int accepted = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (const std::string& nonce : nonces) {
        if (store.Consume(nonce).ok()) {
          absl::MutexLock lock(&mu);
          ++accepted;
        }
        (void)store.Issue();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(accepted, 200);
}

}  // namespace
}  // namespace acme_signer::signer::frontdoor
