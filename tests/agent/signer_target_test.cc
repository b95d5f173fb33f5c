// SignerTarget (agent/signer_target.h): which signer addresses the agent takes, what it says
// about those it refuses, and which server name it checks.
#include "agent/signer_target.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"

namespace acme_signer::agent {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using testing::IsOk;
using testing::StatusIs;

auto Endpoint(const std::string& host, int port) {
  return AllOf(Field(&SignerEndpoint::host, host), Field(&SignerEndpoint::port, port));
}

TEST(SignerTargetTest, HostAndPortIsOneSignerNamedByItsHost) {
  absl::StatusOr<SignerTarget> target = SignerTarget::Parse("signer.dept.example:7443");
  ASSERT_THAT(target.status(), IsOk());
  EXPECT_EQ(target->kind(), SignerTarget::Kind::kHostPort);
  EXPECT_EQ(target->text(), "signer.dept.example:7443");
  EXPECT_THAT(target->endpoints(), ElementsAre(Endpoint("signer.dept.example", 7443)));
  EXPECT_FALSE(target->MayNameSeveral());
  EXPECT_EQ(target->ServerName("").value_or(""), "signer.dept.example");
  EXPECT_EQ(target->ServerName("other.example").value_or(""), "other.example");
}

TEST(SignerTargetTest, HostNamesAreComparedWithoutCase) {
  absl::StatusOr<SignerTarget> target = SignerTarget::Parse("Signer.Dept.Example:7443");
  ASSERT_THAT(target.status(), IsOk());
  EXPECT_THAT(target->endpoints(), ElementsAre(Endpoint("Signer.Dept.Example", 7443)));
  EXPECT_THAT(SignerTarget::Parse("localhost:7443").status(), IsOk());
}

TEST(SignerTargetTest, BracketedIpv6HostKeepsItsAddressWithoutBrackets) {
  absl::StatusOr<SignerTarget> target = SignerTarget::Parse("[::1]:7443");
  ASSERT_THAT(target.status(), IsOk());
  EXPECT_THAT(target->endpoints(), ElementsAre(Endpoint("::1", 7443)));
  EXPECT_EQ(target->ServerName("").value_or(""), "::1");
  EXPECT_EQ(target->endpoints()[0].ToString(), "[::1]:7443");
}

TEST(SignerTargetTest, Ipv4ListNamesEveryReplica) {
  absl::StatusOr<SignerTarget> target = SignerTarget::Parse("ipv4:127.0.0.1:7443,127.0.0.1:7444");
  ASSERT_THAT(target.status(), IsOk());
  EXPECT_EQ(target->kind(), SignerTarget::Kind::kIpList);
  EXPECT_THAT(target->endpoints(),
              ElementsAre(Endpoint("127.0.0.1", 7443), Endpoint("127.0.0.1", 7444)));
  EXPECT_TRUE(target->MayNameSeveral());
  // Replicas on one host: that host is the name.
  EXPECT_EQ(target->ServerName("").value_or(""), "127.0.0.1");
}

TEST(SignerTargetTest, Ipv6ListTakesBracketedAddresses) {
  absl::StatusOr<SignerTarget> target = SignerTarget::Parse("ipv6:[::1]:7443,[::1]:7444");
  ASSERT_THAT(target.status(), IsOk());
  EXPECT_THAT(target->endpoints(), ElementsAre(Endpoint("::1", 7443), Endpoint("::1", 7444)));
  EXPECT_THAT(SignerTarget::Parse("ipv6:::1:7443").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("in brackets")));
}

TEST(SignerTargetTest, ReplicasOnDifferentHostsNeedTlsServerName) {
  absl::StatusOr<SignerTarget> target = SignerTarget::Parse("ipv4:10.0.0.1:7443,10.0.0.2:7443");
  ASSERT_THAT(target.status(), IsOk());
  EXPECT_THAT(target->ServerName("").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("10.0.0.1, 10.0.0.2"), HasSubstr("tls_server_name"))));
  EXPECT_EQ(target->ServerName("signer.dept.example").value_or(""), "signer.dept.example");
}

TEST(SignerTargetTest, DnsTargetIsNamedByItsHost) {
  absl::StatusOr<SignerTarget> target = SignerTarget::Parse("dns:///signer.dept.example:7443");
  ASSERT_THAT(target.status(), IsOk());
  EXPECT_EQ(target->kind(), SignerTarget::Kind::kDns);
  EXPECT_TRUE(target->MayNameSeveral());
  EXPECT_THAT(target->endpoints(), ElementsAre(Endpoint("signer.dept.example", 7443)));
  EXPECT_EQ(target->ServerName("").value_or(""), "signer.dept.example");
}

TEST(SignerTargetTest, RefusesWhatGrpcWouldMisreadWithTheFormsItTakes) {
  struct Case {
    const char* text;
    const char* why;
  };
  for (const Case& c : {
           Case{"", "empty"},
           Case{"signer.example", "has no :port"},
           Case{"signer.example:0", "is not a port"},
           Case{"signer.example:65536", "is not a port"},
           Case{"signer.example:+1", "is not a port"},
           Case{"signer example:7443", "white space"},
           // The signer's rule for host names (acme::ValidateLdhName), not any characters.
           Case{"signer_1.example:7443", "invalid host name"},
           Case{"-signer.example:7443", "invalid host name"},
           Case{"signer..example:7443", "empty label"},
           Case{":7443", "no host before :port"},
           Case{"::1:7443", "in brackets"},
           Case{"[::1]7443", "has no :port"},
           Case{"[not-v6]:7443", "is not an IPv6 address"},
           Case{"a.example:1,b.example:2", "ipv4: or ipv6: prefix"},
           Case{"ipv4:127.0.0.1:7443,", "an empty address"},
           Case{"ipv4:signer.example:7443", "is not an IPv4 address"},
           Case{"ipv4:[::1]:7443", "is not an IPv4 address"},
           Case{"dns://8.8.8.8/signer.example:7443", "DNS server"},
           Case{"dns:signer.example:7443", "dns:///NAME:PORT"},
           Case{"dns:///a.example:1,b.example:2", "one host"},
           Case{"unix:/run/acme-signer.sock", "scheme \"unix:\" is not supported"},
           Case{"xds:///signer", "scheme \"xds:\" is not supported"},
       }) {
    EXPECT_THAT(SignerTarget::Parse(c.text).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(c.why), HasSubstr("ipv4:IP:PORT,IP:PORT"))))
        << c.text;
  }
}

TEST(SignerTargetTest, ListsAreBounded) {
  std::string list = "ipv4:";
  for (int i = 0; i <= SignerTarget::kMaxAddresses; ++i) {
    list += (i == 0 ? "" : ",") + std::string("127.0.0.1:") + std::to_string(7000 + i);
  }
  EXPECT_THAT(SignerTarget::Parse(list).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than 32")));
}

TEST(SignerTargetTest, WithPortKeepsTheHostAndSchemeOfOneAddress) {
  EXPECT_EQ(SignerTarget::Parse("signer.example:9443")->WithPort(7443).value_or(""),
            "signer.example:7443");
  EXPECT_EQ(SignerTarget::Parse("[::1]:9443")->WithPort(7443).value_or(""), "[::1]:7443");
  EXPECT_EQ(SignerTarget::Parse("dns:///signer.example:9443")->WithPort(7443).value_or(""),
            "dns:///signer.example:7443");
  EXPECT_EQ(SignerTarget::Parse("ipv6:[::1]:9443")->WithPort(7443).value_or(""), "ipv6:[::1]:7443");
  EXPECT_THAT(SignerTarget::Parse("ipv4:127.0.0.1:9443,127.0.0.1:9444")->WithPort(7443).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("--signer-address")));
}

}  // namespace
}  // namespace acme_signer::agent
