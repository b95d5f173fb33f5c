// SignerRetry (agent/signer_retry.h): which failures are retried, how the pauses grow, and
// that an outage gives up within its window, counted from the first failed attempt's start.
// The clock and the pauses are fakes: nothing here waits.
#include "agent/signer_retry.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"

namespace acme_signer::agent {
namespace {

using ::testing::ElementsAre;

class SignerRetryTest : public ::testing::Test {
 protected:
  SignerRetryOptions Options(absl::Duration window) {
    SignerRetryOptions options;
    options.window = window;
    options.now = [this] { return clock_.Now(); };
    options.sleep = [this](absl::Duration d) {
      pauses_.push_back(d);
      clock_.Advance(d);
    };
    return options;
  }

  acme_signer::testing::FakeClock clock_;
  std::vector<absl::Duration> pauses_;
};

TEST_F(SignerRetryTest, RetriesOnlyWhatAnotherReplicaOrAMomentLaterMayAnswer) {
  EXPECT_TRUE(SignerRetry::IsRetryable(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(SignerRetry::IsRetryable(absl::StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(SignerRetry::IsRetryable(absl::StatusCode::kAborted));
  EXPECT_FALSE(SignerRetry::IsRetryable(absl::StatusCode::kPermissionDenied));
  EXPECT_FALSE(SignerRetry::IsRetryable(absl::StatusCode::kFailedPrecondition));
  EXPECT_FALSE(SignerRetry::IsRetryable(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(SignerRetry::IsRetryable(absl::StatusCode::kResourceExhausted));
}

TEST_F(SignerRetryTest, WithoutAWindowACallHasOneAttempt) {
  SignerRetry retry(Options(absl::ZeroDuration()));
  EXPECT_FALSE(retry.BackOff(clock_.Now(), 1));
  EXPECT_TRUE(pauses_.empty());
  EXPECT_FALSE(retry.outage_start().has_value());
}

TEST_F(SignerRetryTest, PausesDoubleUpToTheirCap) {
  SignerRetry retry(Options(absl::Minutes(2)));
  for (int attempt = 1; attempt <= 6; ++attempt) {
    ASSERT_TRUE(retry.BackOff(clock_.Now(), attempt)) << attempt;
  }
  EXPECT_THAT(pauses_,
              ElementsAre(absl::Milliseconds(250), absl::Milliseconds(500), absl::Seconds(1),
                          absl::Seconds(2), absl::Seconds(4), absl::Seconds(4)));
}

TEST_F(SignerRetryTest, AnOutageGivesUpWithinItsWindowCountedFromTheFirstAttemptsStart) {
  SignerRetry retry(Options(absl::Minutes(2)));
  const absl::Time first_start = clock_.Now();
  // The first attempt hung for its whole 60 s call timeout.
  EXPECT_EQ(retry.AttemptDeadline(first_start, absl::Seconds(60)), first_start + absl::Seconds(60));
  clock_.Advance(absl::Seconds(60));
  int attempts = 1;
  absl::Time start = first_start;
  while (retry.BackOff(start, attempts)) {
    ++attempts;
    start = clock_.Now();
    const absl::Time deadline = retry.AttemptDeadline(start, absl::Seconds(60));
    EXPECT_LE(deadline, first_start + absl::Minutes(2));
    clock_.Advance(deadline - start);  // every later attempt hangs too
    ASSERT_LT(attempts, SignerRetry::kMaxAttempts);
  }
  EXPECT_GE(attempts, 2);
  EXPECT_LE(clock_.Now(), first_start + absl::Minutes(2));
  EXPECT_EQ(retry.outage_start(), first_start);
}

TEST_F(SignerRetryTest, AnAnswerEndsTheOutageAndTheNextOneHasAFullWindow) {
  SignerRetry retry(Options(absl::Seconds(10)));
  const absl::Time first = clock_.Now();
  ASSERT_TRUE(retry.BackOff(first, 1));
  EXPECT_EQ(retry.outage_start(), first);
  EXPECT_EQ(retry.AttemptDeadline(clock_.Now(), absl::Seconds(60)), first + absl::Seconds(10));
  retry.Answered();
  EXPECT_FALSE(retry.outage_start().has_value());
  clock_.Advance(absl::Minutes(5));
  const absl::Time second = clock_.Now();
  ASSERT_TRUE(retry.BackOff(second, 1));
  EXPECT_EQ(retry.outage_start(), second);
}

TEST_F(SignerRetryTest, AnOutageIsSharedByTheCallsThatMeetIt) {
  // `renew` of many lineages against a dead signer: the second call starts inside the first
  // one's outage and gets only what is left of the window.
  SignerRetry retry(Options(absl::Seconds(10)));
  const absl::Time first = clock_.Now();
  int attempts = 1;
  while (retry.BackOff(first, attempts)) ++attempts;
  EXPECT_LE(clock_.Now(), first + absl::Seconds(10));
  EXPECT_FALSE(retry.BackOff(clock_.Now(), 1));
}

}  // namespace
}  // namespace acme_signer::agent
