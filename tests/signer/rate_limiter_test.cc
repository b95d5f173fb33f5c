#include "signer/rate_limiter.h"

#include <stdlib.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "signer/state_store.h"
#include "gmock/gmock.h"
#include "tests/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace acme_signer::signer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

using ::acme_signer::testing::StatusIs;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

// A fresh SQLite state store in its own temp directory (the limiter's counters live there).
std::string NewStorePath() {
  std::string dir = "/tmp/rate-limiter-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) return "";
  return dir + "/signer.db";
}

std::unique_ptr<StateStore> OpenStore(const std::string& path) {
  auto store = StateStore::Open(path);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

std::unique_ptr<StateStore> NewStore() { return OpenStore(NewStorePath()); }

TEST(RateLimiterTest, AdmitsUpToTheLimitWithinAnHourThenRefuses) {
  auto store = NewStore();
  ASSERT_NE(store, nullptr);
  RateLimiter limiter(*store);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limiter.TryAcquire("web1", 3, kStart + absl::Minutes(i)).ok()) << i;
  }
  EXPECT_THAT(limiter.TryAcquire("web1", 3, kStart + absl::Minutes(10)),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("agent web1 exceeded its rate limit of 3 orders per 1h"),
                             HasSubstr("next order allowed in 50m"))));
}

TEST(RateLimiterTest, WindowSlidesOrderByOrder) {
  auto store = NewStore();
  ASSERT_NE(store, nullptr);
  RateLimiter limiter(*store);
  ASSERT_TRUE(limiter.TryAcquire("web1", 2, kStart).ok());
  ASSERT_TRUE(limiter.TryAcquire("web1", 2, kStart + absl::Minutes(30)).ok());
  // Exactly one hour after the first order it has left the window; the second has not.
  EXPECT_FALSE(limiter.TryAcquire("web1", 2, kStart + absl::Minutes(59)).ok());
  EXPECT_TRUE(limiter.TryAcquire("web1", 2, kStart + absl::Hours(1)).ok());
  EXPECT_THAT(limiter.TryAcquire("web1", 2, kStart + absl::Minutes(61)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("allowed in 29m")));
  EXPECT_TRUE(limiter.TryAcquire("web1", 2, kStart + absl::Minutes(90)).ok());
}

TEST(RateLimiterTest, RefusedAttemptsDoNotCountAgainstTheAgent) {
  auto store = NewStore();
  ASSERT_NE(store, nullptr);
  RateLimiter limiter(*store);
  ASSERT_TRUE(limiter.TryAcquire("web1", 1, kStart).ok());
  for (int i = 1; i < 50; ++i) {
    EXPECT_FALSE(limiter.TryAcquire("web1", 1, kStart + absl::Minutes(1)).ok());
  }
  EXPECT_TRUE(limiter.TryAcquire("web1", 1, kStart + absl::Hours(1)).ok());
}

TEST(RateLimiterTest, OneAgentExceedingDoesNotAffectAnother) {
  auto store = NewStore();
  ASSERT_NE(store, nullptr);
  RateLimiter limiter(*store);
  ASSERT_TRUE(limiter.TryAcquire("web1", 1, kStart).ok());
  EXPECT_FALSE(limiter.TryAcquire("web1", 1, kStart).ok());
  EXPECT_TRUE(limiter.TryAcquire("web2", 1, kStart).ok());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.TryAcquire("web3", 5, kStart).ok()) << i;
}

TEST(RateLimiterTest, LimitBelowOneAdmitsNothing) {
  auto store = NewStore();
  ASSERT_NE(store, nullptr);
  RateLimiter limiter(*store);
  EXPECT_THAT(limiter.TryAcquire("web1", 0, kStart),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("may place no orders")));
  // A refusal records nothing: the agent's usage under a later limit of 1 is untouched.
  EXPECT_TRUE(limiter.TryAcquire("web1", 1, kStart).ok());
}

TEST(RateLimiterTest, LoweredLimitTakesEffectImmediately) {
  auto store = NewStore();
  ASSERT_NE(store, nullptr);
  RateLimiter limiter(*store);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(limiter.TryAcquire("web1", 5, kStart + absl::Minutes(i)).ok());
  // With limit 2, the 2nd-newest order (minute 3) must leave the window first.
  EXPECT_THAT(limiter.TryAcquire("web1", 2, kStart + absl::Minutes(10)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("allowed in 53m")));
  EXPECT_TRUE(limiter.TryAcquire("web1", 2, kStart + absl::Minutes(63)).ok());
}

TEST(RateLimiterTest, ClockSteppingBackwardsOnlyMakesTheLimitStricter) {
  auto store = NewStore();
  ASSERT_NE(store, nullptr);
  RateLimiter limiter(*store);
  ASSERT_TRUE(limiter.TryAcquire("web1", 1, kStart).ok());
  EXPECT_FALSE(limiter.TryAcquire("web1", 1, kStart - absl::Hours(5)).ok());
  EXPECT_TRUE(limiter.TryAcquire("web1", 1, kStart + absl::Hours(1)).ok());
}

TEST(RateLimiterTest, CustomWindowIsHonoured) {
  auto store = NewStore();
  ASSERT_NE(store, nullptr);
  RateLimiter limiter(*store, absl::Minutes(10));
  ASSERT_TRUE(limiter.TryAcquire("web1", 1, kStart).ok());
  EXPECT_THAT(limiter.TryAcquire("web1", 1, kStart + absl::Minutes(5)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("1 orders per 10m")));
  EXPECT_TRUE(limiter.TryAcquire("web1", 1, kStart + absl::Minutes(10)).ok());
}

TEST(RateLimiterTest, ConcurrentCallersNeverExceedTheLimit) {
  auto store = NewStore();
  ASSERT_NE(store, nullptr);
  RateLimiter limiter(*store);
  constexpr int kThreads = 8;
  constexpr int kAttemptsPerThread = 50;
  std::vector<int> admitted(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&limiter, &admitted, t] {
      const std::string agent = t % 2 == 0 ? "web1" : "web2";
      for (int i = 0; i < kAttemptsPerThread; ++i) {
        if (limiter.TryAcquire(agent, 30, kStart).ok()) ++admitted[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  int web1 = 0, web2 = 0;
  for (int t = 0; t < kThreads; ++t) (t % 2 == 0 ? web1 : web2) += admitted[t];
  EXPECT_EQ(web1, 30);
  EXPECT_EQ(web2, 30);
}

TEST(RateLimiterTest, ARestartKeepsTheCount) {
  const std::string path = NewStorePath();
  {
    auto store = OpenStore(path);
    ASSERT_NE(store, nullptr);
    RateLimiter limiter(*store);
    ASSERT_TRUE(limiter.TryAcquire("web1", 2, kStart).ok());
    ASSERT_TRUE(limiter.TryAcquire("web1", 2, kStart + absl::Minutes(1)).ok());
  }
  auto store = OpenStore(path);
  ASSERT_NE(store, nullptr);
  RateLimiter limiter(*store);
  EXPECT_THAT(limiter.TryAcquire("web1", 2, kStart + absl::Minutes(2)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("allowed in 58m")));
}

TEST(RateLimiterTest, TwoSignersOnOneStoreShareTheLimit) {
  const std::string path = NewStorePath();
  auto store_a = OpenStore(path);
  auto store_b = OpenStore(path);
  ASSERT_NE(store_a, nullptr);
  ASSERT_NE(store_b, nullptr);
  RateLimiter a(*store_a);
  RateLimiter b(*store_b);
  ASSERT_TRUE(a.TryAcquire("web1", 2, kStart).ok());
  ASSERT_TRUE(b.TryAcquire("web1", 2, kStart).ok());
  EXPECT_FALSE(a.TryAcquire("web1", 2, kStart).ok());
  EXPECT_FALSE(b.TryAcquire("web1", 2, kStart).ok());
}

}  // namespace
}  // namespace acme_signer::signer
