#include "signer/name_policy.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "tests/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace acme_signer::signer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

using ::acme_signer::testing::StatusIs;

AgentPolicy Web1() {
  AgentPolicy policy;
  policy.name = "web1";
  policy.allowed_names = {"www.example.com", "*.lab.test", "**.deep.test"};
  policy.key_types = {"ec-p256"};
  return policy;
}

std::vector<Identifier> Dns(std::vector<std::string> names) {
  std::vector<Identifier> out;
  for (std::string& name : names) out.push_back({"dns", std::move(name)});
  return out;
}

TEST(NamePolicyTest, ExactEntryPermitsOnlyThatName) {
  EXPECT_TRUE(CheckName(Web1(), "www.example.com").ok());
  EXPECT_THAT(CheckName(Web1(), "example.com"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "agent web1 may not request example.com: not in its allowed names"));
  EXPECT_THAT(CheckName(Web1(), "a.www.example.com"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("not in its allowed names")));
}

TEST(NamePolicyTest, OneLabelPatternPermitsExactlyOneLabelBelowSuffix) {
  EXPECT_TRUE(CheckName(Web1(), "a.lab.test").ok());
  EXPECT_TRUE(CheckName(Web1(), "xn--bcher-kva.lab.test").ok());
  EXPECT_THAT(CheckName(Web1(), "lab.test"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("lab.test")));
  EXPECT_THAT(CheckName(Web1(), "a.b.lab.test"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("a.b.lab.test")));
}

TEST(NamePolicyTest, OneLabelPatternDoesNotMatchSuffixThatIsNotALabelBoundary) {
  EXPECT_THAT(CheckName(Web1(), "evillab.test"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("evillab.test")));
  EXPECT_THAT(CheckName(Web1(), "a.evil-lab.test"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("a.evil-lab.test")));
}

TEST(NamePolicyTest, AnyDepthPatternPermitsEveryNameStrictlyBelowSuffix) {
  EXPECT_TRUE(CheckName(Web1(), "a.deep.test").ok());
  EXPECT_TRUE(CheckName(Web1(), "a.b.c.deep.test").ok());
  EXPECT_THAT(CheckName(Web1(), "deep.test"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("deep.test")));
  EXPECT_THAT(CheckName(Web1(), "notdeep.test"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("notdeep.test")));
}

TEST(NamePolicyTest, EmptyAllowListDeniesEverything) {
  AgentPolicy policy = Web1();
  policy.allowed_names.clear();
  EXPECT_THAT(CheckName(policy, "www.example.com"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("not in its allowed names")));
}

TEST(NamePolicyTest, MalformedPolicyEntriesMatchNothing) {
  AgentPolicy policy = Web1();
  policy.allowed_names = {"WWW.Example.com", "*.com.", "*.", "*", "a.*.test", "*.single"};
  for (const char* name : {"www.example.com", "a.com", "x.single", "a.b.test"}) {
    EXPECT_THAT(CheckName(policy, name), StatusIs(absl::StatusCode::kPermissionDenied,
                                                  HasSubstr("not in its allowed names")))
        << name;
  }
}

TEST(NamePolicyTest, RejectsMalformedNamesNamingTheRuleBroken) {
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
      {"localhost", "single label"},
      {"a.*.lab.test", "'*' is only allowed"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(CheckName(Web1(), c.name),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.why)))
        << c.name;
  }
}

TEST(NamePolicyTest, EnforcesTotalLengthLimit) {
  // 63+1+63+1+63+1+52+1+8 = 253 characters under "lab.test"-like suffix "deep.test".
  const std::string l63(63, 'a');
  const std::string ok = l63 + "." + l63 + "." + l63 + "." + std::string(51, 'b') + ".deep.test";
  ASSERT_EQ(ok.size(), 253u);
  EXPECT_TRUE(CheckName(Web1(), ok).ok());
  const std::string too_long = "c" + ok;
  EXPECT_THAT(CheckName(Web1(), too_long),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 253")));
}

TEST(NamePolicyTest, ErrorMessagesEscapeControlCharacters) {
  absl::Status status = CheckName(Web1(), "a\nb.lab.test");
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a\\nb.lab.test")));
  EXPECT_EQ(std::string(status.message()).find('\n'), std::string::npos);
}

TEST(NamePolicyTest, WildcardIdentifierRefusedUnlessAgentMayHaveWildcards) {
  EXPECT_THAT(CheckName(Web1(), "*.lab.test"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("agent web1 may not request *.lab.test"),
                             HasSubstr("wildcard certificates are not allowed"))));
}

TEST(NamePolicyTest, WildcardIdentifierNeedsPatternCoveringEveryNameItMatches) {
  AgentPolicy policy = Web1();
  policy.allow_wildcard_certificates = true;
  EXPECT_TRUE(CheckName(policy, "*.lab.test").ok());   // "*.lab.test" entry.
  EXPECT_TRUE(CheckName(policy, "*.deep.test").ok());  // "**.deep.test" entry.
  EXPECT_TRUE(CheckName(policy, "*.a.b.deep.test").ok());
  EXPECT_THAT(CheckName(policy, "*.a.lab.test"),  // Two labels below lab.test.
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("covers this wildcard")));
  EXPECT_THAT(CheckName(policy, "*.example.com"),  // Exact entry www.example.com only.
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("*.example.com")));
  EXPECT_THAT(CheckName(policy, "*.test"),  // A wildcard over a whole TLD is never valid.
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("single label")));
}

TEST(NamePolicyTest, ExactEntryForWildcardNameIsTreatedAsPattern) {
  AgentPolicy policy = Web1();
  policy.allow_wildcard_certificates = true;
  policy.allowed_names = {"*.example.org"};
  EXPECT_TRUE(CheckName(policy, "*.example.org").ok());
  EXPECT_TRUE(CheckName(policy, "www.example.org").ok());
}

TEST(NamePolicyTest, RejectsMalformedWildcards) {
  AgentPolicy policy = Web1();
  policy.allow_wildcard_certificates = true;
  EXPECT_THAT(CheckName(policy, "*.*.lab.test"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid wildcard name")));
  EXPECT_THAT(CheckName(policy, "**.lab.test"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'*'")));
  EXPECT_THAT(CheckName(policy, "*lab.test"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'*'")));
  EXPECT_THAT(CheckName(policy, "*."),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

TEST(NamePolicyTest, CheckIdentifiersAcceptsAnOrderWithinPolicy) {
  EXPECT_TRUE(CheckIdentifiers(Web1(), Dns({"www.example.com", "a.lab.test"})).ok());
}

TEST(NamePolicyTest, CheckIdentifiersRefusesEmptyOrder) {
  EXPECT_THAT(CheckIdentifiers(Web1(), {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("without identifiers")));
}

TEST(NamePolicyTest, CheckIdentifiersRefusesMoreThanTheLimit) {
  AgentPolicy policy = Web1();
  policy.max_identifiers_per_order = 2;
  EXPECT_TRUE(CheckIdentifiers(policy, Dns({"a.lab.test", "b.lab.test"})).ok());
  EXPECT_THAT(
      CheckIdentifiers(policy, Dns({"a.lab.test", "b.lab.test", "c.lab.test"})),
      StatusIs(absl::StatusCode::kPermissionDenied,
               HasSubstr("agent web1 may not request 3 identifiers in one order (at most 2)")));
}

TEST(NamePolicyTest, CheckIdentifiersRefusesDuplicates) {
  EXPECT_THAT(
      CheckIdentifiers(Web1(), Dns({"a.lab.test", "b.lab.test", "a.lab.test"})),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate identifier a.lab.test")));
}

TEST(NamePolicyTest, CheckIdentifiersRefusesIpAndUnknownTypes) {
  EXPECT_THAT(CheckIdentifiers(Web1(), {{"ip", "127.0.0.1"}}),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("127.0.0.1"), HasSubstr("\"ip\" is not supported"))));
  EXPECT_THAT(CheckIdentifiers(Web1(), {{"DNS", "a.lab.test"}}),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("\"DNS\"")));
}

TEST(NamePolicyTest, CheckIdentifiersRefusesWholeOrderWhenOneNameIsOutsidePolicy) {
  EXPECT_THAT(CheckIdentifiers(Web1(), Dns({"a.lab.test", "foo.example"})),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "agent web1 may not request foo.example: not in its allowed names"));
}

TEST(NamePolicyTest, ValidateAgentPolicyAcceptsAWellFormedPolicy) {
  EXPECT_TRUE(ValidateAgentPolicy(Web1()).ok());
}

TEST(NamePolicyTest, ValidateAgentPolicyNamesTheBadField) {
  AgentPolicy policy = Web1();
  policy.allowed_names.push_back("*.com");
  EXPECT_THAT(
      ValidateAgentPolicy(policy),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("agent web1"), HasSubstr("*.com"), HasSubstr("single label"))));

  policy = Web1();
  policy.key_types = {"ec-p521"};
  EXPECT_THAT(ValidateAgentPolicy(policy), StatusIs(absl::StatusCode::kInvalidArgument,
                                                    HasSubstr("unknown key type \"ec-p521\"")));

  policy = Web1();
  policy.max_identifiers_per_order = 0;
  EXPECT_THAT(ValidateAgentPolicy(policy),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_identifiers_per_order")));

  policy = Web1();
  policy.orders_per_hour = 0;
  EXPECT_THAT(ValidateAgentPolicy(policy),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("orders_per_hour")));

  policy = Web1();
  policy.name.clear();
  EXPECT_THAT(ValidateAgentPolicy(policy),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("without a name")));

  policy = Web1();
  policy.allowed_names.clear();
  EXPECT_THAT(ValidateAgentPolicy(policy),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("allowed_names is empty")));
}

}  // namespace
}  // namespace acme_signer::signer
