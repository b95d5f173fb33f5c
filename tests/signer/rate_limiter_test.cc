#include "signer/rate_limiter.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "tests/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace acme_signer::signer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

using ::acme_signer::testing::StatusIs;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

TEST(RateLimiterTest, AdmitsUpToTheLimitWithinAnHourThenRefuses) {
  RateLimiter limiter;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limiter.TryAcquire("web1", 3, kStart + absl::Minutes(i)).ok()) << i;
  }
  EXPECT_THAT(limiter.TryAcquire("web1", 3, kStart + absl::Minutes(10)),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("agent web1 exceeded its rate limit of 3 orders per 1h"),
                             HasSubstr("next order allowed in 50m"))));
}

TEST(RateLimiterTest, WindowSlidesOrderByOrder) {
  RateLimiter limiter;
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
  RateLimiter limiter;
  ASSERT_TRUE(limiter.TryAcquire("web1", 1, kStart).ok());
  for (int i = 1; i < 50; ++i) {
    EXPECT_FALSE(limiter.TryAcquire("web1", 1, kStart + absl::Minutes(1)).ok());
  }
  EXPECT_TRUE(limiter.TryAcquire("web1", 1, kStart + absl::Hours(1)).ok());
}

TEST(RateLimiterTest, OneAgentExceedingDoesNotAffectAnother) {
  RateLimiter limiter;
  ASSERT_TRUE(limiter.TryAcquire("web1", 1, kStart).ok());
  EXPECT_FALSE(limiter.TryAcquire("web1", 1, kStart).ok());
  EXPECT_TRUE(limiter.TryAcquire("web2", 1, kStart).ok());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.TryAcquire("web3", 5, kStart).ok()) << i;
}

TEST(RateLimiterTest, LimitBelowOneAdmitsNothing) {
  RateLimiter limiter;
  EXPECT_THAT(limiter.TryAcquire("web1", 0, kStart),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("may place no orders")));
  // A refusal records nothing: the agent's usage under a later limit of 1 is untouched.
  EXPECT_TRUE(limiter.TryAcquire("web1", 1, kStart).ok());
}

TEST(RateLimiterTest, LoweredLimitTakesEffectImmediately) {
  RateLimiter limiter;
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(limiter.TryAcquire("web1", 5, kStart + absl::Minutes(i)).ok());
  // With limit 2, the 2nd-newest order (minute 3) must leave the window first.
  EXPECT_THAT(limiter.TryAcquire("web1", 2, kStart + absl::Minutes(10)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("allowed in 53m")));
  EXPECT_TRUE(limiter.TryAcquire("web1", 2, kStart + absl::Minutes(63)).ok());
}

TEST(RateLimiterTest, ClockSteppingBackwardsOnlyMakesTheLimitStricter) {
  RateLimiter limiter;
  ASSERT_TRUE(limiter.TryAcquire("web1", 1, kStart).ok());
  EXPECT_FALSE(limiter.TryAcquire("web1", 1, kStart - absl::Hours(5)).ok());
  EXPECT_TRUE(limiter.TryAcquire("web1", 1, kStart + absl::Hours(1)).ok());
}

TEST(RateLimiterTest, CustomWindowIsHonoured) {
  RateLimiter limiter(absl::Minutes(10));
  ASSERT_TRUE(limiter.TryAcquire("web1", 1, kStart).ok());
  EXPECT_THAT(limiter.TryAcquire("web1", 1, kStart + absl::Minutes(5)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("1 orders per 10m")));
  EXPECT_TRUE(limiter.TryAcquire("web1", 1, kStart + absl::Minutes(10)).ok());
}

TEST(RateLimiterTest, ConcurrentCallersNeverExceedTheLimit) {
  RateLimiter limiter;
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

}  // namespace
}  // namespace acme_signer::signer
