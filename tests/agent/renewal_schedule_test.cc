#include "agent/renewal_schedule.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace acme_signer::agent {
namespace {

const absl::Time kIssued = absl::FromUnixSeconds(1'700'000'000);
const absl::Time kExpires = kIssued + absl::Hours(24 * 90);

TEST(RenewalTimeTest, WithoutAriRenewsAtOneThirdLeftWhenRandomIsZero) {
  EXPECT_EQ(RenewalTime(kIssued, kExpires, std::nullopt, 0.0), kExpires - absl::Hours(24 * 30));
}

TEST(RenewalTimeTest, JitterOnlyMovesRenewalEarlierAndIsCapped) {
  const absl::Time latest = kExpires - absl::Hours(24 * 30);
  const absl::Time t = RenewalTime(kIssued, kExpires, std::nullopt, 0.999);
  EXPECT_LT(t, latest);
  EXPECT_GE(t, latest - absl::Hours(12));  // 90/24 days would exceed the 12 h cap
  EXPECT_EQ(RenewalTime(kIssued, kExpires, std::nullopt, 0.5), latest - absl::Hours(6));
}

TEST(RenewalTimeTest, ShortLivedCertificatesGetProportionalJitter) {
  const absl::Time expires = kIssued + absl::Hours(6 * 24);
  // lifetime/3 = 48 h before expiry; lifetime/24 = 6 h maximal spread.
  EXPECT_EQ(RenewalTime(kIssued, expires, std::nullopt, 0.5),
            expires - absl::Hours(48) - absl::Hours(3));
}

TEST(RenewalTimeTest, AriWindowWinsAndIsSampledUniformly) {
  RenewalWindow window{kIssued + absl::Hours(24 * 40), kIssued + absl::Hours(24 * 42)};
  EXPECT_EQ(RenewalTime(kIssued, kExpires, window, 0.0), window.start);
  EXPECT_EQ(RenewalTime(kIssued, kExpires, window, 0.5), window.start + absl::Hours(24));
  EXPECT_LT(RenewalTime(kIssued, kExpires, window, 0.999999), window.end);
}

TEST(RenewalTimeTest, AriWindowInThePastMakesRenewalDueNow) {
  const absl::Time now = kIssued + absl::Hours(24 * 10);
  RenewalWindow revoked{now - absl::Hours(48), now - absl::Hours(24)};
  EXPECT_TRUE(IsRenewalDue(now, RenewalTime(kIssued, kExpires, revoked, 0.7)));
}

TEST(RenewalTimeTest, BogusAriWindowAfterExpiryIsIgnored) {
  RenewalWindow bogus{kExpires + absl::Hours(1), kExpires + absl::Hours(2)};
  EXPECT_EQ(RenewalTime(kIssued, kExpires, bogus, 0.0), kExpires - absl::Hours(24 * 30));
}

TEST(RenewalTimeTest, NonsenseValidityIsDueImmediately) {
  EXPECT_TRUE(
      IsRenewalDue(kIssued, RenewalTime(kIssued, kIssued - absl::Hours(1), std::nullopt, 0.3)));
}

TEST(DecideRenewalTest, RevokedCertificateIsDueNowWhateverItsDatesAndAriSay) {
  const absl::Time now = kIssued + absl::Hours(24);
  RenewalWindow later{kIssued + absl::Hours(24 * 40), kIssued + absl::Hours(24 * 42)};
  const RenewalDecision revoked = DecideRenewal(now, true, kIssued, kExpires, later, 0.3);
  EXPECT_EQ(revoked.due, now);
  EXPECT_EQ(revoked.reason, "revoked");
  EXPECT_TRUE(IsRenewalDue(now, revoked.due));
}

TEST(DecideRenewalTest, OtherwiseFollowsRenewalTimeAndNamesTheRule) {
  const absl::Time now = kIssued + absl::Hours(24);
  RenewalWindow window{kIssued + absl::Hours(24 * 40), kIssued + absl::Hours(24 * 42)};
  const RenewalDecision ari = DecideRenewal(now, false, kIssued, kExpires, window, 0.5);
  EXPECT_EQ(ari.due, RenewalTime(kIssued, kExpires, window, 0.5));
  EXPECT_EQ(ari.reason, "ari");
  const RenewalDecision plain = DecideRenewal(now, false, kIssued, kExpires, std::nullopt, 0.5);
  EXPECT_EQ(plain.due, RenewalTime(kIssued, kExpires, std::nullopt, 0.5));
  EXPECT_EQ(plain.reason, "lifetime");
  EXPECT_FALSE(IsRenewalDue(now, plain.due));
}

TEST(IsRenewalDueTest, FreshCertificateIsNotDueAndOldOneIs) {
  const absl::Time t = RenewalTime(kIssued, kExpires, std::nullopt, 0.0);
  EXPECT_FALSE(IsRenewalDue(kIssued + absl::Hours(24), t));
  EXPECT_TRUE(IsRenewalDue(kIssued + absl::Hours(24 * 61), t));
}

TEST(NextCheckTimeTest, SleepsUntilTheEarliestRenewalWithinBounds) {
  const absl::Time now = kIssued;
  ScheduleOptions o;
  o.wake_jitter = absl::Minutes(10);
  EXPECT_EQ(NextCheckTime(now, now + absl::Hours(3), 0.0, o), now + absl::Hours(3));
  EXPECT_EQ(NextCheckTime(now, now + absl::Hours(3), 0.5, o),
            now + absl::Hours(3) + absl::Minutes(5));
  EXPECT_EQ(NextCheckTime(now, now + absl::Hours(24 * 30), 0.0, o), now + o.max_sleep);
  EXPECT_EQ(NextCheckTime(now, now - absl::Hours(1), 0.0, o), now + o.min_sleep);
  EXPECT_EQ(NextCheckTime(now, std::nullopt, 0.0, o), now + o.max_sleep);
}

TEST(FailureBackoffTest, GrowsExponentiallyUpToTheCapWithEqualJitter) {
  ScheduleOptions o;
  EXPECT_EQ(FailureBackoff(0, 0.5, o), absl::ZeroDuration());
  EXPECT_EQ(FailureBackoff(1, 0.0, o), absl::Seconds(150));  // half of 5 min
  EXPECT_GT(FailureBackoff(1, 0.999999999, o), absl::Seconds(299));
  EXPECT_EQ(FailureBackoff(3, 0.0, o), absl::Minutes(10));  // half of 20 min
  EXPECT_EQ(FailureBackoff(50, 0.0, o), absl::Hours(3));    // half of the 6 h cap
  EXPECT_LE(FailureBackoff(1000, 0.999999999, o), absl::Hours(6));
}

TEST(StableFractionTest, IsDeterministicInRangeAndSpread) {
  EXPECT_EQ(StableFraction("03A1F2"), StableFraction("03A1F2"));
  EXPECT_NE(StableFraction("03A1F2"), StableFraction("03A1F3"));
  int low = 0;
  for (int i = 0; i < 1000; ++i) {
    double f = StableFraction(std::to_string(i));
    ASSERT_GE(f, 0.0);
    ASSERT_LT(f, 1.0);
    if (f < 0.5) ++low;
  }
  EXPECT_GT(low, 400);
  EXPECT_LT(low, 600);
}

}  // namespace
}  // namespace acme_signer::agent
