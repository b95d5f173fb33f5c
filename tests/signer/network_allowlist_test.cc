#include "signer/frontdoor/network_allowlist.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer::frontdoor {
namespace {

using ::acme_signer::testing::IsOk;
using ::acme_signer::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

NetworkAllowlist MustParse(std::vector<std::string> entries) {
  absl::StatusOr<NetworkAllowlist> list = NetworkAllowlist::Parse(entries);
  EXPECT_THAT(list, IsOk());
  return *list;
}

TEST(IpAddressTest, ParsesIpv4Ipv6AndBracketedIpv6) {
  EXPECT_EQ(IpAddress::Parse("192.0.2.1")->ToString(), "192.0.2.1");
  EXPECT_EQ(IpAddress::Parse("2001:DB8::1")->ToString(), "2001:db8::1");
  EXPECT_EQ(IpAddress::Parse("[::1]")->ToString(), "::1");
  EXPECT_TRUE(IpAddress::Parse("192.0.2.1")->is_v4());
  EXPECT_FALSE(IpAddress::Parse("::1")->is_v4());
}

TEST(IpAddressTest, RefusesWhatIsNotANumericAddress) {
  for (const char* bad : {"", "a.example", "1.2.3", "1.2.3.4.5", "256.0.0.1", "[1.2.3.4]",
                          "::1%eth0", "[::1", "1.2.3.4:80", " 1.2.3.4"}) {
    EXPECT_THAT(IpAddress::Parse(bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an IP address")))
        << bad;
  }
}

TEST(IpAddressTest, UnmapsIpv4MappedIpv6) {
  EXPECT_EQ(IpAddress::Parse("::ffff:127.0.0.1")->Unmapped().ToString(), "127.0.0.1");
  EXPECT_EQ(IpAddress::Parse("::1")->Unmapped().ToString(), "::1");
}

TEST(NetworkAllowlistTest, ParsesCidrsAndSingleAddresses) {
  NetworkAllowlist list = MustParse({"10.0.0.0/8", "2001:db8::/32", "192.0.2.7", "2001:db9::5"});
  EXPECT_TRUE(list.Allows("10.0.0.1"));
  EXPECT_TRUE(list.Allows("10.255.255.255"));
  EXPECT_FALSE(list.Allows("11.0.0.0"));
  EXPECT_TRUE(list.Allows("2001:db8:ffff::1"));
  EXPECT_FALSE(list.Allows("2001:db9::1"));
  EXPECT_TRUE(list.Allows("2001:db9::5"));
  EXPECT_TRUE(list.Allows("192.0.2.7"));
  EXPECT_FALSE(list.Allows("192.0.2.8"));
  EXPECT_FALSE(list.Allows("not an address"));
  EXPECT_EQ(list.Describe(), "10.0.0.0/8, 2001:db8::/32, 192.0.2.7/32, 2001:db9::5/128");
}

TEST(NetworkAllowlistTest, HandlesOddPrefixLengths) {
  NetworkAllowlist list = MustParse({"192.0.2.64/26", "0.0.0.0/0"});
  EXPECT_TRUE(list.Allows("8.8.8.8"));       // 0.0.0.0/0: every IPv4 address...
  EXPECT_FALSE(list.Allows("2001:db8::1"));  // ...but no IPv6 one.
  NetworkAllowlist narrow = MustParse({"192.0.2.64/26"});
  EXPECT_TRUE(narrow.Allows("192.0.2.64"));
  EXPECT_TRUE(narrow.Allows("192.0.2.127"));
  EXPECT_FALSE(narrow.Allows("192.0.2.128"));
  EXPECT_FALSE(narrow.Allows("192.0.2.63"));
}

TEST(NetworkAllowlistTest, RefusesBadEntriesNamingThem) {
  struct Case {
    const char* entry;
    const char* why;
  };
  for (const Case& c : {Case{"10.0.0.0/33", "prefix length must be 0..32"},
                        Case{"::/129", "prefix length must be 0..128"},
                        Case{"10.0.0.1/8", "did you mean 10.0.0.0/8?"},
                        Case{"2001:db8::1/32", "did you mean 2001:db8::/32?"},
                        Case{"10.0.0.0/", "prefix length after '/' is not a number"},
                        Case{"10.0.0.0/8x", "not a number"}, Case{"10.0.0.0/-8", "not a number"},
                        Case{"lab.example/8", "not an IPv4 or IPv6 address"},
                        Case{"", "not an IPv4 or IPv6 address"}}) {
    EXPECT_THAT(NetworkAllowlist::Parse(std::vector<std::string>{"127.0.0.0/8", c.entry}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("entry 2"), HasSubstr(absl::StrCat("\"", c.entry, "\"")),
                               HasSubstr(c.why))))
        << c.entry;
  }
}

TEST(NetworkAllowlistTest, RefusesAnEmptyList) {
  EXPECT_THAT(NetworkAllowlist::Parse(std::vector<std::string>{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

TEST(NetworkAllowlistTest, DefaultRefusesLoopbackLinkLocalMetadataUnspecifiedAndMulticast) {
  NetworkAllowlist list = NetworkAllowlist::Default();
  for (const char* refused :
       {"127.0.0.1", "127.255.255.254", "::1", "169.254.169.254", "169.254.0.1", "fe80::1",
        "febf:ffff::1", "fd00:ec2::254", "100.100.100.200", "0.0.0.0", "0.1.2.3", "::", "224.0.0.1",
        "239.255.255.250", "255.255.255.255", "240.0.0.1", "ff02::1", "::ffff:127.0.0.1",
        "::ffff:169.254.169.254"}) {
    EXPECT_FALSE(list.Allows(refused)) << refused;
  }
  for (const char* allowed : {"192.0.2.1", "10.0.0.1", "100.100.100.201", "198.51.100.7",
                              "2001:db8::1", "fd00:ec2::253", "fec0::1", "::ffff:192.0.2.1"}) {
    EXPECT_TRUE(list.Allows(allowed)) << allowed;
  }
  EXPECT_THAT(list.Describe(), AllOf(HasSubstr("default"), HasSubstr("127.0.0.0/8"),
                                     HasSubstr("169.254.0.0/16"), HasSubstr("fd00:ec2::254/128")));
}

TEST(NetworkAllowlistTest, JudgesIpv4MappedAddressesAsTheirIpv4Address) {
  NetworkAllowlist v4 = MustParse({"127.0.0.0/8"});
  EXPECT_TRUE(v4.Allows("::ffff:127.0.0.1"));
  EXPECT_FALSE(v4.Allows("::ffff:10.0.0.1"));
  NetworkAllowlist mapped = MustParse({"::ffff:10.0.0.0/104"});  // = 10.0.0.0/8
  EXPECT_TRUE(mapped.Allows("10.1.2.3"));
  EXPECT_TRUE(mapped.Allows("::ffff:10.1.2.3"));
  EXPECT_FALSE(mapped.Allows("11.0.0.1"));
  EXPECT_EQ(mapped.Describe(), "10.0.0.0/8");
}

TEST(NetworkAllowlistTest, LabListAllowsLoopbackOnly) {
  NetworkAllowlist lab = MustParse({"127.0.0.0/8"});
  EXPECT_TRUE(lab.Allows("127.0.0.1"));
  EXPECT_TRUE(lab.Allows("127.0.0.2"));
  EXPECT_FALSE(lab.Allows("::1"));
  EXPECT_FALSE(lab.Allows("192.0.2.1"));
}

}  // namespace
}  // namespace acme_signer::signer::frontdoor
