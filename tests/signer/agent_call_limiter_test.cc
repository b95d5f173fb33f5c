// AgentCallLimiter (signer/agent_call_limiter.h). AuthenticateCall (signer/rpc_auth.h) needs a
// live TLS call and is covered by tests/integration/ (signer_relay_test, tls_denial_test).
#include "signer/agent_call_limiter.h"

#include <atomic>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer {
namespace {

using ::acme_signer::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(AgentCallLimiterTest, AdmitsUpToTheLimitThenRefusesNamingAgentAndSetting) {
  AgentCallLimiter limiter;
  std::vector<AgentCallLimiter::Slot> held;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<AgentCallLimiter::Slot> slot = limiter.Acquire("web1", 3);
    ASSERT_TRUE(slot.ok()) << i << ": " << slot.status();
    held.push_back(*std::move(slot));
  }
  EXPECT_EQ(limiter.InFlight("web1"), 3);
  EXPECT_THAT(limiter.Acquire("web1", 3),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("agent web1 already has 3 calls in flight"),
                             HasSubstr("server.max_rpcs_in_flight_per_agent = 3"))));
  EXPECT_EQ(limiter.InFlight("web1"), 3) << "a refusal took a place";
}

TEST(AgentCallLimiterTest, AFinishedCallFreesItsPlace) {
  AgentCallLimiter limiter;
  std::optional<AgentCallLimiter::Slot> first;
  {
    absl::StatusOr<AgentCallLimiter::Slot> slot = limiter.Acquire("web1", 1);
    ASSERT_TRUE(slot.ok());
    first.emplace(*std::move(slot));
  }
  EXPECT_FALSE(limiter.Acquire("web1", 1).ok());
  first.reset();
  EXPECT_EQ(limiter.InFlight("web1"), 0);
  EXPECT_TRUE(limiter.Acquire("web1", 1).ok());
  EXPECT_EQ(limiter.InFlight("web1"), 0) << "the temporary slot was released";
}

TEST(AgentCallLimiterTest, MovedSlotReleasesOnce) {
  AgentCallLimiter limiter;
  absl::StatusOr<AgentCallLimiter::Slot> slot = limiter.Acquire("web1", 2);
  ASSERT_TRUE(slot.ok());
  {
    AgentCallLimiter::Slot moved = *std::move(slot);
    EXPECT_EQ(limiter.InFlight("web1"), 1);
  }
  EXPECT_EQ(limiter.InFlight("web1"), 0);
}

TEST(AgentCallLimiterTest, OneAgentAtItsLimitDoesNotAffectAnother) {
  AgentCallLimiter limiter;
  absl::StatusOr<AgentCallLimiter::Slot> web1 = limiter.Acquire("web1", 1);
  ASSERT_TRUE(web1.ok());
  EXPECT_FALSE(limiter.Acquire("web1", 1).ok());
  EXPECT_TRUE(limiter.Acquire("web2", 1).ok());
}

TEST(AgentCallLimiterTest, ALimitBelowOneAdmitsNothing) {
  AgentCallLimiter limiter;
  EXPECT_THAT(limiter.Acquire("web1", 0),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("calls in flight")));
  EXPECT_EQ(limiter.InFlight("web1"), 0);
}

TEST(AgentCallLimiterTest, ConcurrentCallersNeverExceedTheLimit) {
  AgentCallLimiter limiter;
  constexpr int kLimit = 4;
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        absl::StatusOr<AgentCallLimiter::Slot> slot = limiter.Acquire("web1", kLimit);
        if (!slot.ok()) continue;
        ++admitted;
        const int now = ++inside;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        --inside;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LE(most.load(), kLimit);
  EXPECT_GT(admitted.load(), 0);
  EXPECT_EQ(limiter.InFlight("web1"), 0);
}

}  // namespace
}  // namespace acme_signer::signer
