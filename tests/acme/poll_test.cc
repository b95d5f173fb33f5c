#include "acme/poll.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/acme/status_matchers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A policy on a simulated clock: sleeping advances it, and every sleep is recorded.
struct SimulatedClock {
  absl::Time now = absl::FromUnixSeconds(1000000);
  std::vector<absl::Duration> sleeps;
  PollPolicy Policy(double jitter = 0) {
    PollPolicy policy;
    policy.initial = absl::Seconds(1);
    policy.max_interval = absl::Seconds(8);
    policy.timeout = absl::Seconds(60);
    policy.jitter = jitter;
    policy.now = [this] { return now; };
    policy.sleep = [this](absl::Duration d) {
      sleeps.push_back(d);
      now += d;
    };
    return policy;
  }
};

TEST(BackoffTest, GrowsExponentiallyUpToTheMaximumInterval) {
  SimulatedClock clock;
  PollPolicy policy = clock.Policy();
  Backoff backoff(policy);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(backoff.Wait(std::nullopt, "order").ok());
  EXPECT_THAT(clock.sleeps, ElementsAre(absl::Seconds(1), absl::Seconds(2), absl::Seconds(4),
                                        absl::Seconds(8), absl::Seconds(8), absl::Seconds(8)));
}

TEST(BackoffTest, HonoursRetryAfterEvenAboveTheMaximumInterval) {
  SimulatedClock clock;
  PollPolicy policy = clock.Policy();
  Backoff backoff(policy);
  ASSERT_TRUE(backoff.Wait(absl::Seconds(20), "order").ok());
  ASSERT_TRUE(backoff.Wait(absl::ZeroDuration(), "order").ok());
  // Retry-After 0 still waits the initial interval: no busy loop.
  EXPECT_THAT(clock.sleeps, ElementsAre(absl::Seconds(20), absl::Seconds(1)));
}

TEST(BackoffTest, JitterShortensOwnBackoffAndLengthensRetryAfter) {
  SimulatedClock clock;
  PollPolicy policy = clock.Policy(0.5);
  Backoff backoff(policy);
  ASSERT_TRUE(backoff.Wait(std::nullopt, "x").ok());
  ASSERT_TRUE(backoff.Wait(absl::Seconds(4), "x").ok());
  ASSERT_EQ(clock.sleeps.size(), 2u);
  EXPECT_GE(clock.sleeps[0], absl::Milliseconds(500));
  EXPECT_LE(clock.sleeps[0], absl::Seconds(1));
  EXPECT_GE(clock.sleeps[1], absl::Seconds(4));
  EXPECT_LE(clock.sleeps[1], absl::Seconds(6));
}

TEST(BackoffTest, GivesUpWithDeadlineExceededInsteadOfSleepingPastTheTimeout) {
  SimulatedClock clock;
  PollPolicy policy = clock.Policy();
  Backoff backoff(policy);
  absl::Status status;
  int waits = 0;
  while ((status = backoff.Wait(std::nullopt, "order https://ca.test/o/1")).ok()) ++waits;
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kDeadlineExceeded,
                               HasSubstr("order https://ca.test/o/1 did not finish within 1m")));
  absl::Duration total;
  for (absl::Duration d : clock.sleeps) total += d;
  EXPECT_LE(total, absl::Seconds(60));
  EXPECT_EQ(waits, backoff.polls());
  // A Retry-After beyond the deadline ends the loop at once.
  SimulatedClock clock2;
  PollPolicy policy2 = clock2.Policy();
  Backoff backoff2(policy2);
  EXPECT_THAT(backoff2.Wait(absl::Hours(1), "order"),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("asked to wait 1h")));
  EXPECT_TRUE(clock2.sleeps.empty());
}

}  // namespace
}  // namespace acme_signer::acme
