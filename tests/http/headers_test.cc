#include "http/headers.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace acme_signer::http {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kBase[] = "https://acme.example:14000/my-account/3/orders?x=1";

std::vector<Link> MustParse(std::vector<std::string> values, absl::string_view base = kBase) {
  auto links = ParseLinkHeaders(values, base);
  EXPECT_TRUE(links.ok()) << links.status();
  return links.ok() ? *links : std::vector<Link>{};
}

void ExpectInvalid(const absl::Status& status, absl::string_view fragment) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr(std::string(fragment)));
}

TEST(LinkHeaderTest, ParsesAbsoluteLinkWithQuotedRel) {
  auto links = MustParse({R"(<https://acme.example/dir>;rel="index")"});
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].url, "https://acme.example/dir");
  EXPECT_THAT(links[0].rels, ElementsAre("index"));
}

TEST(LinkHeaderTest, ParsesUnquotedRelAndWhitespaceAroundParameters) {
  auto links = MustParse({"<https://a.example/x> ;  rel = up ; title=\"t\""});
  ASSERT_EQ(links.size(), 1u);
  EXPECT_THAT(links[0].rels, ElementsAre("up"));
}

TEST(LinkHeaderTest, SplitsSeveralLinksInOneHeaderAndKeepsOrderAcrossHeaders) {
  auto links = MustParse(
      {R"(<https://a.example/1>; rel="alternate", <https://a.example/2>; rel="alternate")",
       R"(<https://a.example/3>;rel="up")"});
  ASSERT_EQ(links.size(), 3u);
  EXPECT_THAT(LinksWithRel(links, "alternate"),
              ElementsAre("https://a.example/1", "https://a.example/2"));
  EXPECT_THAT(LinksWithRel(links, "UP"), ElementsAre("https://a.example/3"));
}

TEST(LinkHeaderTest, SplitsQuotedRelWithSeveralSpaceSeparatedTypesAndLowerCasesThem) {
  auto links = MustParse({R"(<https://a.example/x>; rel="Up  Index")"});
  ASSERT_EQ(links.size(), 1u);
  EXPECT_THAT(links[0].rels, ElementsAre("up", "index"));
  EXPECT_THAT(LinksWithRel(links, "index"), ElementsAre("https://a.example/x"));
}

TEST(LinkHeaderTest, IgnoresRelParametersAfterTheFirst) {
  auto links = MustParse({R"(<https://a.example/x>; rel="up"; rel="index")"});
  ASSERT_EQ(links.size(), 1u);
  EXPECT_THAT(links[0].rels, ElementsAre("up"));
}

TEST(LinkHeaderTest, KeepsCommasAndSemicolonsInsideUrlsAndQuotedStrings) {
  auto links = MustParse({R"(<https://a.example/a,b;c>; title="x, y; z"; rel="up")"});
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].url, "https://a.example/a,b;c");
  EXPECT_THAT(links[0].rels, ElementsAre("up"));
}

TEST(LinkHeaderTest, UnescapesQuotedPairsInParameterValues) {
  auto links = MustParse({R"(<https://a.example/x>; rel="u\p")"});
  ASSERT_EQ(links.size(), 1u);
  EXPECT_THAT(links[0].rels, ElementsAre("up"));
}

TEST(LinkHeaderTest, ResolvesRelativeUrlsAgainstTheRequestUrl) {
  auto links = MustParse(
      {R"(</acme/cert/1/alt>;rel="alternate", <chain/2>;rel="alternate", <../up>;rel="up", <//other.example/p>;rel="x")"});
  ASSERT_EQ(links.size(), 4u);
  EXPECT_EQ(links[0].url, "https://acme.example:14000/acme/cert/1/alt");
  EXPECT_EQ(links[1].url, "https://acme.example:14000/my-account/3/chain/2");
  EXPECT_EQ(links[2].url, "https://acme.example:14000/my-account/up");
  EXPECT_EQ(links[3].url, "https://other.example/p");
}

TEST(LinkHeaderTest, LinkWithoutRelHasNoRelations) {
  auto links = MustParse({"<https://a.example/x>"});
  ASSERT_EQ(links.size(), 1u);
  EXPECT_THAT(links[0].rels, IsEmpty());
  EXPECT_THAT(LinksWithRel(links, "up"), IsEmpty());
}

TEST(LinkHeaderTest, EmptyHeaderAndEmptyListElementsYieldNothing) {
  EXPECT_THAT(MustParse({"", " , ,"}), IsEmpty());
}

TEST(LinkHeaderTest, RejectsGarbage) {
  const char* garbage[] = {
      "https://a.example/x; rel=up",         // No angle brackets.
      "<https://a.example/x",                // Unterminated.
      "<https://a.example/x> rel=up",        // Missing ';'.
      "<https://a.example/x>; =up",          // No parameter name.
      "<https://a.example/x>; rel=\"up",     // Unterminated quoted string.
      "<https://a.example/x>; rel=",         // Missing value.
      "<https://a.ex ample/x>; rel=up",      // Space in URI.
      "<https://a.example/x>; rel=up junk",  // Trailing junk.
  };
  for (const char* value : garbage) {
    auto links = ParseLinkHeaders({std::string(value)}, kBase);
    ExpectInvalid(links.status(), "malformed Link header");
  }
}

TEST(LinkHeaderTest, RejectsUnresolvableBaseUrl) {
  auto links = ParseLinkHeaders({std::string("</x>; rel=up")}, "not a url");
  ExpectInvalid(links.status(), "malformed Link header");
}

TEST(RetryAfterTest, ParsesDeltaSeconds) {
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  EXPECT_EQ(*ParseRetryAfter("120", now), absl::Seconds(120));
  EXPECT_EQ(*ParseRetryAfter(" 0 ", now), absl::ZeroDuration());
}

TEST(RetryAfterTest, ParsesImfFixdateRelativeToNow) {
  // Sun, 06 Nov 1994 08:49:37 GMT == 784111777.
  const absl::Time now = absl::FromUnixSeconds(784111777 - 30);
  auto wait = ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now);
  ASSERT_TRUE(wait.ok()) << wait.status();
  EXPECT_EQ(*wait, absl::Seconds(30));
}

TEST(RetryAfterTest, ParsesObsoleteRfc850AndAsctimeDates) {
  const absl::Time now = absl::FromUnixSeconds(784111777 - 5);
  auto rfc850 = ParseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now);
  ASSERT_TRUE(rfc850.ok()) << rfc850.status();
  EXPECT_EQ(*rfc850, absl::Seconds(5));
  auto asctime = ParseRetryAfter("Sun Nov  6 08:49:37 1994", now);
  ASSERT_TRUE(asctime.ok()) << asctime.status();
  EXPECT_EQ(*asctime, absl::Seconds(5));
}

TEST(RetryAfterTest, ClampsDatesInThePastToZero) {
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  EXPECT_EQ(*ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), absl::ZeroDuration());
}

TEST(RetryAfterTest, RejectsGarbage) {
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  const char* garbage[] = {"",
                           "   ",
                           "-5",
                           "1.5",
                           "12abc",
                           "abc",
                           "0x10",
                           "+3",
                           "Sun, 06 Nov 1994 08:49:37",
                           "Sun, 06 Nov 1994 08:49:37 GMT trailing",
                           "2024-01-01T00:00:00Z"};
  for (const char* value : garbage) {
    auto wait = ParseRetryAfter(value, now);
    EXPECT_EQ(wait.status().code(), absl::StatusCode::kInvalidArgument) << "\"" << value << "\"";
    EXPECT_THAT(wait.status().message(), HasSubstr("Retry-After"));
  }
}

TEST(RetryAfterTest, RejectsDeltaSecondsThatOverflow) {
  auto wait = ParseRetryAfter("99999999999999999999999", absl::Now());
  ExpectInvalid(wait.status(), "out of range");
}

TEST(ReplayNonceTest, AcceptsBase64UrlNonces) {
  EXPECT_TRUE(ValidateReplayNonce("oFvnlFP1wIhRlYS2jTaXbA").ok());
  EXPECT_TRUE(ValidateReplayNonce("a-b_C9").ok());
}

TEST(ReplayNonceTest, RejectsEmptyPaddedAndNonBase64UrlNonces) {
  ExpectInvalid(ValidateReplayNonce(""), "empty Replay-Nonce");
  ExpectInvalid(ValidateReplayNonce("abc="), "non-base64url");
  ExpectInvalid(ValidateReplayNonce("ab+c/"), "non-base64url");
  ExpectInvalid(ValidateReplayNonce("ab c"), "non-base64url");
  ExpectInvalid(ValidateReplayNonce(std::string("ab\0c", 4)), "non-base64url");
}

TEST(MediaTypeTest, LowerCasesAndStripsParameters) {
  EXPECT_EQ(MediaType("Application/Problem+JSON; charset=utf-8"), "application/problem+json");
  EXPECT_EQ(MediaType("  application/pem-certificate-chain  "),
            "application/pem-certificate-chain");
  EXPECT_EQ(MediaType("text/plain;"), "text/plain");
  EXPECT_EQ(MediaType(""), "");
}

}  // namespace
}  // namespace acme_signer::http
