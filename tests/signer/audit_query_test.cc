#include "signer/audit_query.h"

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace acme_signer::signer {
namespace {

using ::testing::HasSubstr;

absl::Time Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

nlohmann::json Event(const std::string& time, const std::string& agent, const std::string& decision,
                     const std::string& rpc, std::vector<std::string> identifiers) {
  nlohmann::json record = {{"kind", "event"},
                           {"seq", 7},
                           {"time", time},
                           {"agent", agent},
                           {"decision", decision},
                           {"rpc", rpc},
                           {"reason", "names allowed by policy"}};
  if (!identifiers.empty()) record["request"] = {{"identifiers", identifiers}};
  return record;
}

TEST(AuditQueryTimeTest, SinceDateIsThatDaysMidnightUtc) {
  absl::StatusOr<absl::Time> t = ParseQuerySince("2024-05-01");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, Utc(2024, 5, 1));
}

TEST(AuditQueryTimeTest, UntilDateCoversTheWholeDay) {
  absl::StatusOr<absl::Time> t = ParseQueryUntil("2024-05-31");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, Utc(2024, 6, 1));  // exclusive bound: the next day's midnight
}

TEST(AuditQueryTimeTest, AcceptsRfc3339WithOffsetAndFraction) {
  absl::StatusOr<absl::Time> t = ParseQuerySince("2024-05-01T14:00:00.5+02:00");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, Utc(2024, 5, 1, 12) + absl::Milliseconds(500));
}

TEST(AuditQueryTimeTest, RejectsWhatIsNeitherFormNamingTheFlag) {
  for (const char* bad : {"yesterday", "2024-5-1", "2024-05-01 12:00:00", "", "2024-13-01"}) {
    absl::StatusOr<absl::Time> since = ParseQuerySince(bad);
    EXPECT_EQ(since.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(since.status().message(), HasSubstr("--since")) << bad;
    EXPECT_THAT(since.status().message(), HasSubstr("RFC 3339")) << bad;
    EXPECT_THAT(ParseQueryUntil(bad).status().message(), HasSubstr("--until")) << bad;
  }
}

TEST(AuditQueryDecisionTest, AcceptsOnlyAllowAndDeny) {
  EXPECT_EQ(*ParseQueryDecision("allow"), "allow");
  EXPECT_EQ(*ParseQueryDecision("deny"), "deny");
  absl::StatusOr<std::string> bad = ParseQueryDecision("denied");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("neither allow nor deny"));
}

TEST(AuditQueryNameTest, LowerCasesAndRejectsInnerWildcards) {
  EXPECT_EQ(*ParseQueryName("WWW.Example.ORG"), "www.example.org");
  EXPECT_EQ(*ParseQueryName("*.example.org"), "*.example.org");
  EXPECT_FALSE(ParseQueryName("www.*.org").ok());
  EXPECT_FALSE(ParseQueryName("*.").ok());
  EXPECT_FALSE(ParseQueryName("").ok());
}

TEST(AuditQueryMatchTest, ExactNameMatchesOnlyThatDnsName) {
  AuditQuery query;
  query.name = "www.example.org";
  EXPECT_TRUE(AuditQueryMatches(query, Event("2024-05-01T00:00:00Z", "web1", "allow", "CreateOrder",
                                             {"dns:api.example.org", "dns:WWW.example.org"})));
  EXPECT_FALSE(AuditQueryMatches(query, Event("2024-05-01T00:00:00Z", "web1", "allow",
                                              "CreateOrder", {"dns:www.example.org.evil"})));
  EXPECT_FALSE(AuditQueryMatches(
      query, Event("2024-05-01T00:00:00Z", "web1", "allow", "CreateOrder", {"dns:*.example.org"})));
  EXPECT_FALSE(
      AuditQueryMatches(query, Event("2024-05-01T00:00:00Z", "web1", "allow", "SignJws", {})));
}

TEST(AuditQueryMatchTest, WildcardPatternMatchesEveryNameBelowTheDomain) {
  AuditQuery query;
  query.name = "*.example.org";
  for (const char* name : {"dns:a.example.org", "dns:a.b.example.org", "dns:*.example.org"}) {
    EXPECT_TRUE(AuditQueryMatches(
        query, Event("2024-05-01T00:00:00Z", "web1", "allow", "CreateOrder", {name})))
        << name;
  }
  for (const char* name : {"dns:example.org", "dns:badexample.org", "dns:a.example.org.x"}) {
    EXPECT_FALSE(AuditQueryMatches(
        query, Event("2024-05-01T00:00:00Z", "web1", "allow", "CreateOrder", {name})))
        << name;
  }
}

TEST(AuditQueryMatchTest, FiltersCombineAndSkipCheckpoints) {
  AuditQuery query;
  query.agent = "web1";
  query.decision = "deny";
  query.rpc = "CreateOrder";
  nlohmann::json deny = Event("2024-05-01T00:00:00Z", "web1", "deny", "CreateOrder", {});
  EXPECT_TRUE(AuditQueryMatches(query, deny));
  EXPECT_FALSE(
      AuditQueryMatches(query, Event("2024-05-01T00:00:00Z", "web2", "deny", "CreateOrder", {})));
  EXPECT_FALSE(
      AuditQueryMatches(query, Event("2024-05-01T00:00:00Z", "web1", "allow", "CreateOrder", {})));
  EXPECT_FALSE(
      AuditQueryMatches(query, Event("2024-05-01T00:00:00Z", "web1", "deny", "FinalizeOrder", {})));
  nlohmann::json checkpoint = deny;
  checkpoint["kind"] = "checkpoint";
  EXPECT_FALSE(AuditQueryMatches(AuditQuery{}, checkpoint));
  EXPECT_TRUE(AuditQueryMatches(AuditQuery{}, deny));
}

TEST(AuditQueryMatchTest, SinceIsInclusiveAndUntilIncludesItsInstantAndWholeDay) {
  AuditQuery query;
  query.since = *ParseQuerySince("2024-05-01T10:00:00Z");
  query.until = *ParseQueryUntil("2024-05-01T12:00:00Z");
  auto at = [](const std::string& t) {
    return Event(t, "web1", "allow", "CreateOrder", {"dns:a.example"});
  };
  EXPECT_TRUE(AuditQueryMatches(query, at("2024-05-01T10:00:00.000000Z")));
  EXPECT_TRUE(AuditQueryMatches(query, at("2024-05-01T12:00:00.000000Z")));
  EXPECT_FALSE(AuditQueryMatches(query, at("2024-05-01T12:00:00.000001Z")));
  EXPECT_FALSE(AuditQueryMatches(query, at("2024-05-01T09:59:59.999999Z")));
  EXPECT_FALSE(AuditQueryMatches(query, at("not a time")));

  AuditQuery day;
  day.until = *ParseQueryUntil("2024-05-01");
  EXPECT_TRUE(AuditQueryMatches(day, at("2024-05-01T23:59:59.999999Z")));
  EXPECT_FALSE(AuditQueryMatches(day, at("2024-05-02T00:00:00.000000Z")));
}

TEST(AuditQueryFormatTest, AllowLineHasTimeAgentDecisionRpcNamesAndSerial) {
  nlohmann::json record = Event("2024-05-01T12:34:56.123456Z", "web1", "allow", "FinalizeOrder",
                                {"dns:www.example.org", "dns:api.example.org"});
  record["outcome"] = {{"serial", "03ab"}, {"status", "valid"}};
  EXPECT_EQ(FormatAuditQueryLine(record),
            "2024-05-01T12:34:56.123456Z web1 allow FinalizeOrder "
            "www.example.org,api.example.org serial=03ab");
}

TEST(AuditQueryFormatTest, DenyLineQuotesTheReasonAndCountsFoldedRefusals) {
  nlohmann::json record = Event("2024-05-01T12:34:56.123456Z", "", "deny", "TlsHandshake",
                                {"dns:evil.example", "(3 more identifiers not recorded)"});
  record["reason"] = "name \"evil.example\" is not allowed";
  record["repeated"] = {{"count", uint64_t{4711}}, {"folded", "identical"}};
  EXPECT_EQ(FormatAuditQueryLine(record),
            "2024-05-01T12:34:56.123456Z - deny TlsHandshake evil.example,+3 "
            "reason=\"name \\\"evil.example\\\" is not allowed\" repeated=4711");
}

}  // namespace
}  // namespace acme_signer::signer
