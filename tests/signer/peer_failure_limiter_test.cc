#include "signer/peer_failure_limiter.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer {
namespace {

using ::testing::HasSubstr;
using testing::StatusIs;

PeerFailureLimiter::Options OptionsWith(testing::FakeClock& clock, int max_failures,
                                        size_t max_peers = 4096) {
  PeerFailureLimiter::Options options;
  options.max_failures = max_failures;
  options.window = absl::Minutes(1);
  options.max_peers = max_peers;
  options.clock = [&clock] { return clock.Now(); };
  return options;
}

TEST(PeerFailureLimiterTest, RefusesAnAddressAfterItsFailuresUntilTheWindowPassed) {
  testing::FakeClock clock;
  PeerFailureLimiter limiter(OptionsWith(clock, 3));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(limiter.Check("ipv4:10.0.0.1:4000").ok());
    // Every failure from a new connection (port) counts for the same address.
    limiter.NoteFailure(absl::StrCat("ipv4:10.0.0.1:", 4000 + i));
  }
  EXPECT_THAT(limiter.Check("ipv4:10.0.0.1:5000"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("too many failed enrolment attempts from ipv4:10.0.0.1")));
  // Another address is not affected.
  EXPECT_TRUE(limiter.Check("ipv4:10.0.0.2:4000").ok());
  clock.Advance(absl::Seconds(59));
  EXPECT_FALSE(limiter.Check("ipv4:10.0.0.1:5000").ok());
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(limiter.Check("ipv4:10.0.0.1:5000").ok());
}

TEST(PeerFailureLimiterTest, Ipv6AddressesAreComparedWithoutThePort) {
  EXPECT_EQ(PeerFailureLimiter::Address("ipv6:[::1]:5555"), "ipv6:[::1]");
  EXPECT_EQ(PeerFailureLimiter::Address("ipv4:127.0.0.1:5555"), "ipv4:127.0.0.1");
  EXPECT_EQ(PeerFailureLimiter::Address("unix:/run/x"), "unix:/run/x");
}

TEST(PeerFailureLimiterTest, TracksAtMostMaxPeersAddresses) {
  testing::FakeClock clock;
  PeerFailureLimiter limiter(OptionsWith(clock, 2, /*max_peers=*/16));
  for (int i = 0; i < 1000; ++i) {
    limiter.NoteFailure(absl::StrCat("ipv4:10.0.", i / 256, ".", i % 256, ":1"));
    clock.Advance(absl::Milliseconds(1));
  }
  EXPECT_LE(limiter.TrackedPeers(), 16u);
  // The most recent flooder is still tracked (the oldest windows were dropped first).
  limiter.NoteFailure("ipv4:10.0.3.231:2");
  EXPECT_FALSE(limiter.Check("ipv4:10.0.3.231:3").ok());
}

}  // namespace
}  // namespace acme_signer::signer
