// The one definition of a valid DNS name (and of an LDH label), which the agent checks before it
// orders and the signer checks before it signs.
#include "acme/dns_names.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/acme/status_matchers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::IsOk;
using ::acme_signer::acme::testing::StatusIs;
using ::testing::HasSubstr;

TEST(DnsNameTest, AcceptsLowercaseLdhNamesAndPunycode) {
  EXPECT_THAT(ValidateDnsName("www.example.com"), IsOk());
  EXPECT_THAT(ValidateDnsName("xn--bcher-kva.example"), IsOk());
  EXPECT_THAT(ValidateDnsName("a-1.b2.example"), IsOk());
}

TEST(DnsNameTest, RejectsMalformedNamesNamingTheRuleBroken) {
  struct Case {
    std::string name;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"", "empty"},
      {"www.example.com.", "trailing dot"},
      {"www..example.com", "empty label"},
      {".example.com", "empty label"},
      {std::string(64, 'a') + ".lab.test", "label longer than 63"},
      {"WWW.lab.test", "uppercase"},
      {"a_b.lab.test", "character other than"},
      {"a b.lab.test", "character other than"},
      {std::string("a\0b.lab.test", 12), "character other than"},
      {"b\xc3\xbc"
       "cher.lab.test",
       "punycode"},
      {"-a.lab.test", "starts or ends with '-'"},
      {"a-.lab.test", "starts or ends with '-'"},
      {"ab--c.lab.test", "reserved"},
      {"127.0.0.1", "all-numeric"},
      {"a.123", "all-numeric"},
      {"localhost", "single label"},
      {"2001:db8::1", "character other than"},
      {"a.*.lab.test", "'*' is only allowed"},
      {"*.lab.test", "'*' is only allowed"},  // a wildcard is an identifier, not a name
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ValidateDnsName(c.name),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.why)))
        << c.name;
  }
}

TEST(DnsNameTest, EnforcesTotalLengthLimit) {
  const std::string l63(63, 'a');
  const std::string ok = l63 + "." + l63 + "." + l63 + "." + std::string(51, 'b') + ".deep.test";
  ASSERT_EQ(ok.size(), 253u);
  EXPECT_THAT(ValidateDnsName(ok), IsOk());
  EXPECT_THAT(ValidateDnsName("c" + ok),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 253")));
  // The limit counts the "*." of a wildcard too.
  EXPECT_THAT(ValidateDnsIdentifier("*." + ok),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 253")));
}

TEST(DnsNameTest, ErrorMessagesEscapeControlCharactersAndAreBounded) {
  absl::Status status = ValidateDnsName("a\nb.lab.test");
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a\\nb.lab.test")));
  EXPECT_EQ(std::string(status.message()).find('\n'), std::string::npos);
  status = ValidateDnsName(std::string(200, 'a') + "\n.example");
  EXPECT_LT(status.message().size(), 200u);
}

TEST(DnsIdentifierTest, AcceptsOneLeadingWildcardLabel) {
  EXPECT_THAT(ValidateDnsIdentifier("*.lab.test"), IsOk());
  EXPECT_THAT(ValidateDnsIdentifier("www.lab.test"), IsOk());
}

TEST(DnsIdentifierTest, RejectsMalformedWildcards) {
  EXPECT_THAT(ValidateDnsIdentifier("*.*.lab.test"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid wildcard name")));
  EXPECT_THAT(ValidateDnsIdentifier("**.lab.test"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'*'")));
  EXPECT_THAT(ValidateDnsIdentifier("*lab.test"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'*'")));
  EXPECT_THAT(ValidateDnsIdentifier("*."),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  // A wildcard over a whole TLD is never valid.
  EXPECT_THAT(ValidateDnsIdentifier("*.test"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("single label")));
}

TEST(NormalizeDnsNameTest, LowercasesAndDropsTheTrailingDot) {
  EXPECT_EQ(*NormalizeDnsName("WWW.Example.COM."), "www.example.com");
  EXPECT_EQ(*NormalizeDnsName("*.example.com"), "*.example.com");
  EXPECT_EQ(*NormalizeDnsName("xn--bcher-kva.example"), "xn--bcher-kva.example");
}

TEST(NormalizeDnsNameTest, RefusesWhatTheSignerWouldRefuse) {
  EXPECT_THAT(NormalizeDnsName(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(NormalizeDnsName("localhost"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("single label")));
  EXPECT_THAT(NormalizeDnsName("a..example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty label")));
  EXPECT_THAT(NormalizeDnsName("-a.example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'-'")));
  EXPECT_THAT(NormalizeDnsName("a_b.example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a_b.example.com")));
  EXPECT_THAT(NormalizeDnsName("www.*.example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'*'")));
  EXPECT_THAT(NormalizeDnsName("192.0.2.1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("IP addresses")));
  EXPECT_THAT(NormalizeDnsName(std::string(64, 'a') + ".example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 63")));
  EXPECT_THAT(NormalizeDnsName("bad\nname.example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad\\nname")));
  // Names the signer reserves or cannot order: refused here too, before any order exists.
  EXPECT_THAT(NormalizeDnsName("ab--c.example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reserved")));
  EXPECT_THAT(NormalizeDnsName("host.123"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("all-numeric")));
}

TEST(ValidateDnsNamesTest, RequiresNonEmptyNormalizedUniqueNames) {
  EXPECT_THAT(ValidateDnsNames({}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no domain")));
  std::vector<std::string> upper = {"Example.com"};
  EXPECT_THAT(ValidateDnsNames(upper),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not normalized")));
  std::vector<std::string> repeated = {"example.com", "www.example.com", "example.com"};
  EXPECT_THAT(ValidateDnsNames(repeated),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("repeated")));
  std::vector<std::string> good = {"example.com", "www.example.com", "*.example.com"};
  EXPECT_THAT(ValidateDnsNames(good), IsOk());
}

TEST(LdhLabelTest, SaysWhichRuleALabelBreaks) {
  EXPECT_THAT(CheckLdhLabel("web-1"), IsOk());
  EXPECT_THAT(CheckLdhLabel(std::string(63, 'a')), IsOk());
  EXPECT_THAT(CheckLdhLabel(""), StatusIs(absl::StatusCode::kInvalidArgument, "empty label"));
  EXPECT_THAT(CheckLdhLabel(std::string(64, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 63")));
  EXPECT_THAT(CheckLdhLabel("Web"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("uppercase")));
  EXPECT_THAT(CheckLdhLabel("web_1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a-z, 0-9 and '-'")));
  EXPECT_THAT(CheckLdhLabel("-web"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("starts or ends with '-'")));
}

TEST(LdhNameTest, HostNamesAndTrustDomainsMayBeOneLabel) {
  EXPECT_THAT(ValidateLdhName("trust domain", "dept.example"), IsOk());
  EXPECT_THAT(ValidateLdhName("host name", "localhost"), IsOk());
  EXPECT_THAT(ValidateLdhName("trust domain", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, "invalid trust domain: empty"));
  EXPECT_THAT(ValidateLdhName("trust domain", "Dept.example"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("invalid trust domain \"Dept.example\": uppercase")));
  EXPECT_THAT(ValidateLdhName("trust domain", "dept..example"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty label")));
  EXPECT_THAT(ValidateLdhName("host name", std::string(254, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 253")));
}

TEST(LdhNameTest, SingleLabelNamesHaveNoDot) {
  EXPECT_THAT(ValidateSingleLabelName("agent name", "web1"), IsOk());
  EXPECT_THAT(ValidateSingleLabelName("agent name", "web1.example"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("invalid agent name \"web1.example\": one label")));
  EXPECT_THAT(ValidateSingleLabelName("agent name", "web1/../admin"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("one label")));
  EXPECT_THAT(ValidateSingleLabelName("agent name", "web/1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a-z, 0-9 and '-'")));
}

// What the signer may send in a DNS query: underscored labels and any case, one trailing dot.
TEST(DnsQueryNameTest, TakesUnderscoreLabelsAndAnyCase) {
  for (const char* good :
       {"_acme-challenge.a.example", "_acme-challenge.A.Example.", "localhost", "a.b_c.example"}) {
    EXPECT_THAT(ValidateDnsQueryName(good), IsOk()) << good;
  }
  EXPECT_THAT(ValidateDnsQueryName(""),
              StatusIs(absl::StatusCode::kInvalidArgument, "invalid DNS query name \"\": empty"));
  EXPECT_THAT(ValidateDnsQueryName("."),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(ValidateDnsQueryName("a..example"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty label")));
  EXPECT_THAT(ValidateDnsQueryName("a example"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("character other than letters, digits, '-' and '_'")));
  EXPECT_THAT(ValidateDnsQueryName("a.example.."),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty label")));
  EXPECT_THAT(ValidateDnsQueryName(std::string(64, 'a') + ".example"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 63")));
  EXPECT_THAT(ValidateDnsQueryName(std::string(254, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 253")));
}

// The one rule for signer account names: the agent keeps only names the signer accepts.
TEST(LdhNameTest, AccountNamesAreOneLabel) {
  for (const char* good : {"default", "rsa-ov", "ecc2"}) {
    EXPECT_THAT(ValidateAccountName(good), IsOk()) << good;
  }
  for (const std::string& bad :
       {std::string(""), std::string("ECC"), std::string("rsa_ov"), std::string("rsa.ov"),
        std::string("-ecc"), std::string(64, 'a')}) {
    EXPECT_THAT(ValidateAccountName(bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid account name")))
        << bad;
  }
}

}  // namespace
}  // namespace acme_signer::acme
