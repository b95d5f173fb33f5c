#include "http/host_port.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::http {
namespace {

using ::acme_signer::testing::StatusIs;
using ::testing::AllOf;
using ::testing::Field;

HostPort Ok(const absl::StatusOr<HostPort>& split) {
  EXPECT_TRUE(split.ok()) << split.status();
  return split.ok() ? *split : HostPort{};
}

auto Is(const std::string& host, int port, bool bracketed) {
  return AllOf(Field(&HostPort::host, host), Field(&HostPort::port, port),
               Field(&HostPort::bracketed, bracketed));
}

TEST(SplitHostPortTest, SplitsNamesIpv4AndBracketedIpv6) {
  EXPECT_THAT(Ok(SplitHostPort("signer.dept.example:7443")),
              Is("signer.dept.example", 7443, false));
  EXPECT_THAT(Ok(SplitHostPort("127.0.0.1:0")), Is("127.0.0.1", 0, false));
  EXPECT_THAT(Ok(SplitHostPort("[::1]:65535")), Is("::1", 65535, true));
  EXPECT_THAT(Ok(SplitHostPort("[::]:8443")), Is("::", 8443, true));
  // The host is not judged here: that is the caller's rule.
  EXPECT_THAT(Ok(SplitHostPort("under_score:1")), Is("under_score", 1, false));
}

TEST(SplitHostPortTest, RefusesWithTheReasonOnly) {
  struct Case {
    const char* text;
    const char* reason;
  };
  for (const Case& c : {
           Case{"", "empty"},
           Case{"signer.example", "has no :port"},
           Case{"[::1]7443", "has no :port"},
           Case{"[::1]", "has no :port"},
           Case{"[::1:7443", "has no ']'"},
           Case{"[nothost]:1", "\"nothost\" is not an IPv6 address"},
           Case{"[127.0.0.1]:1", "\"127.0.0.1\" is not an IPv6 address"},
           Case{"::1:7443", "write the IPv6 address in brackets ([::1]:443)"},
           Case{":7443", "no host before :port"},
           Case{"host:", "empty port"},
           Case{"host:65536", "\"65536\" is not a port (0..65535)"},
           Case{"host:+1", "\"+1\" is not a port (0..65535)"},
           Case{"host:-1", "\"-1\" is not a port (0..65535)"},
           Case{"host:000080", "\"000080\" is not a port (0..65535)"},
           Case{"host:0x50", "\"0x50\" is not a port (0..65535)"},
       }) {
    EXPECT_THAT(SplitHostPort(c.text), StatusIs(absl::StatusCode::kInvalidArgument, c.reason))
        << c.text;
  }
}

TEST(SplitHostPortTest, OptionalPortTakesTheDefault) {
  EXPECT_THAT(Ok(SplitHostOptionalPort("10.0.0.1", 53)), Is("10.0.0.1", 53, false));
  EXPECT_THAT(Ok(SplitHostOptionalPort("10.0.0.1:5353", 53)), Is("10.0.0.1", 5353, false));
  EXPECT_THAT(Ok(SplitHostOptionalPort("[::1]", 53)), Is("::1", 53, true));
  EXPECT_THAT(Ok(SplitHostOptionalPort("[::1]:5353", 53)), Is("::1", 5353, true));
  // Without brackets several ':' are an IPv6 literal, never host and port.
  EXPECT_THAT(Ok(SplitHostOptionalPort("fd00::1", 53)), Is("fd00::1", 53, false));
  // An explicit but empty port is a mistake, not "the default".
  EXPECT_THAT(SplitHostOptionalPort("[::1]:", 53),
              StatusIs(absl::StatusCode::kInvalidArgument, "empty port"));
  EXPECT_THAT(SplitHostOptionalPort("10.0.0.1:", 53),
              StatusIs(absl::StatusCode::kInvalidArgument, "empty port"));
}

TEST(SplitHostPortTest, ToStringPutsBracketsBackForIpv6) {
  EXPECT_EQ((HostPort{"signer.example", 7443, false}).ToString(), "signer.example:7443");
  EXPECT_EQ((HostPort{"::1", 7443, true}).ToString(), "[::1]:7443");
  EXPECT_EQ((HostPort{"fd00::1", 53, false}).ToString(), "[fd00::1]:53");
}

TEST(PeerTest, PeerAddressDropsSchemeBracketsAndPort) {
  EXPECT_EQ(PeerAddress("ipv4:127.0.0.1:5000"), "127.0.0.1");
  EXPECT_EQ(PeerAddress("ipv6:[::1]:5000"), "::1");
  EXPECT_EQ(PeerAddress("ipv6:[::1]"), "::1");
  EXPECT_EQ(PeerAddress("ipv6:%5B::1%5D:5000"), "%5B::1%5D:5000");
  EXPECT_EQ(PeerAddress("unix:/run/x.sock"), "/run/x.sock");
}

TEST(PeerTest, PeerWithoutPortKeepsTheScheme) {
  EXPECT_EQ(PeerWithoutPort("ipv4:127.0.0.1:5555"), "ipv4:127.0.0.1");
  EXPECT_EQ(PeerWithoutPort("ipv6:[::1]:5555"), "ipv6:[::1]");
  EXPECT_EQ(PeerWithoutPort("ipv6:[::1]"), "ipv6:[::1]");
  EXPECT_EQ(PeerWithoutPort("ipv4:127.0.0.1"), "ipv4:127.0.0.1");
  EXPECT_EQ(PeerWithoutPort("unix:/run/x:1"), "unix:/run/x:1");
  EXPECT_EQ(PeerWithoutPort("ipv6:%5B::1%5D:5000"), "ipv6:%5B::1%5D:5000");
  EXPECT_EQ(PeerWithoutPort("local:pid 12"), "local:pid 12");
  EXPECT_EQ(PeerWithoutPort(""), "");
}

}  // namespace
}  // namespace acme_signer::http
