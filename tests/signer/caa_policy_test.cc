// signer/caa_policy.h: the CAA records `acme-signer account caa` prints and its judgement of
// a relevant record set (RFC 8659 / RFC 8657). The DNS part (tree climbing against a real
// resolver) is tested in tests/integration/account_admin_test.cc with pebble-challtestsrv.
#include "signer/caa_policy.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer {
namespace {

using ::acme_signer::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kOurs[] = "https://ca.example/acme/acct/1";
constexpr char kTheirs[] = "https://ca.example/acme/acct/2";

RelevantCaa Set(std::vector<frontdoor::CaaRecord> records) {
  return RelevantCaa{"example.org", std::move(records)};
}
frontdoor::CaaRecord Issue(std::string value, std::string tag = "issue") {
  return frontdoor::CaaRecord{0, std::move(tag), std::move(value)};
}
std::string Findings(const CaaJudgement& j) { return absl::StrJoin(j.findings, "\n"); }

TEST(CaaPolicyTest, PrintsIssueAndIssuewildWithAccountUriAndMethods) {
  EXPECT_THAT(CaaRecordLines("WWW.Example.org.", {"ca.example"}, kOurs, {"http-01", "dns-01"}),
              ElementsAre("www.example.org. CAA 0 issue \"ca.example; "
                          "accounturi=https://ca.example/acme/acct/1; "
                          "validationmethods=http-01,dns-01\"",
                          "www.example.org. CAA 0 issuewild \"ca.example; "
                          "accounturi=https://ca.example/acme/acct/1; "
                          "validationmethods=http-01,dns-01\""));
  EXPECT_THAT(CaaRecordLines("example.org", {"ca.example"}, kOurs, {}),
              ElementsAre(HasSubstr("issue \"ca.example; accounturi=" + std::string(kOurs) + "\""),
                          HasSubstr("issuewild")));
}

TEST(CaaPolicyTest, LooksUpTheNameThenEachParentClosestFirst) {
  EXPECT_THAT(CaaLookupNames("a.b.example.org."),
              ElementsAre("a.b.example.org", "b.example.org", "example.org", "org"));
  EXPECT_THAT(CaaLookupNames("*.example.org"), ElementsAre("example.org", "org"));
}

TEST(CaaPolicyTest, ParsesIssuerAndParameters) {
  auto value =
      ParseCaaIssueValue(" CA.Example. ; accounturi = https://x/1 ;validationmethods=dns-01");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->issuer_domain, "ca.example");
  EXPECT_EQ(value->Parameter("AccountURI"), "https://x/1");
  EXPECT_EQ(value->Parameter("validationmethods"), "dns-01");
  EXPECT_EQ(ParseCaaIssueValue(";")->issuer_domain, "");
  EXPECT_THAT(ParseCaaIssueValue("ca.example; accounturi"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key=value")));
  EXPECT_THAT(ParseCaaIssueValue("ca example"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("issuer domain")));
  // RFC 8659 §4.2: LDH labels (acme::ValidateLdhName), not just the right characters.
  EXPECT_THAT(ParseCaaIssueValue("ca..example"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty label")));
  EXPECT_THAT(ParseCaaIssueValue("-ca.example"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("issuer domain")));
}

TEST(CaaPolicyTest, BoundWhenEveryGrantIsToThisAccount) {
  CaaJudgement j = JudgeCaa(Set({Issue(absl::StrCat("ca.example; accounturi=", kOurs)),
                                 frontdoor::CaaRecord{0, "iodef", "mailto:sec@example.org"}}),
                            "example.org", {"ca.example"}, kOurs);
  EXPECT_TRUE(j.bound) << Findings(j);
  EXPECT_THAT(Findings(j), HasSubstr("only account https://ca.example/acme/acct/1"));
}

TEST(CaaPolicyTest, NoCaaAnywhereLetsEveryoneIssue) {
  CaaJudgement j = JudgeCaa(RelevantCaa{}, "example.org", {"ca.example"}, kOurs);
  EXPECT_FALSE(j.bound);
  EXPECT_THAT(Findings(j), HasSubstr("every CA may issue"));
}

TEST(CaaPolicyTest, IssueWithoutAccountUriLetsEveryAccountOfTheCaIssue) {
  CaaJudgement j =
      JudgeCaa(Set({Issue(absl::StrCat("ca.example; accounturi=", kOurs)), Issue("ca.example")}),
               "example.org", {"ca.example"}, kOurs);
  EXPECT_FALSE(j.bound);
  EXPECT_THAT(Findings(j), HasSubstr("no accounturi: any account at ca.example"));
}

TEST(CaaPolicyTest, AnotherAccountOrAnotherCaIsNamed) {
  CaaJudgement other_account =
      JudgeCaa(Set({Issue(absl::StrCat("ca.example; accounturi=", kTheirs))}), "example.org",
               {"ca.example"}, kOurs);
  EXPECT_FALSE(other_account.bound);
  EXPECT_THAT(Findings(other_account), HasSubstr("another account (" + std::string(kTheirs)));
  EXPECT_THAT(Findings(other_account), HasSubstr("no record lets ca.example issue"));
  CaaJudgement other_ca =
      JudgeCaa(Set({Issue(absl::StrCat("ca.example; accounturi=", kOurs)), Issue("other.example")}),
               "example.org", {"ca.example"}, kOurs);
  EXPECT_FALSE(other_ca.bound);
  EXPECT_THAT(Findings(other_ca), HasSubstr("another CA (other.example)"));
}

TEST(CaaPolicyTest, IssuewildGovernsWildcardsWhenPresent) {
  CaaJudgement j = JudgeCaa(Set({Issue(absl::StrCat("ca.example; accounturi=", kOurs)),
                                 Issue("ca.example", "issuewild")}),
                            "example.org", {"ca.example"}, kOurs);
  EXPECT_FALSE(j.bound);
  EXPECT_THAT(Findings(j), HasSubstr("wildcard certificates (*.example.org)"));
}

TEST(CaaPolicyTest, CriticalUnknownPropertyForbidsEveryone) {
  CaaJudgement j = JudgeCaa(Set({Issue(absl::StrCat("ca.example; accounturi=", kOurs)),
                                 frontdoor::CaaRecord{128, "futuretag", "x"}}),
                            "example.org", {"ca.example"}, kOurs);
  EXPECT_FALSE(j.bound);
  EXPECT_TRUE(j.nobody);
  EXPECT_THAT(Findings(j), HasSubstr("no CA may issue"));
}

}  // namespace
}  // namespace acme_signer::signer
