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

// The syntax rules themselves (acme/dns_names.h, shared with the agent) are tested in
// tests/acme/dns_names_test.cc; here: a malformed name is InvalidArgument, never a policy
// decision, whatever the allow list says.
TEST(NamePolicyTest, MalformedNamesAreInvalidBeforeAnyPolicyDecision) {
  AgentPolicy policy = Web1();
  policy.allow_wildcard_certificates = true;
  policy.allowed_names = {"**.lab.test"};
  for (const char* name : {"", "WWW.lab.test", "a_b.lab.test", "ab--c.lab.test", "*.*.lab.test",
                           "a\nb.lab.test", "lab.test."}) {
    EXPECT_THAT(CheckName(policy, name),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid")))
        << name;
  }
  EXPECT_THAT(CheckName(policy, std::string(250, 'a') + ".lab.test"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 253")));
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
