#include "http/url.h"

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::http {
namespace {

using ::acme_signer::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Optional;

Url MustParse(absl::string_view text) {
  absl::StatusOr<Url> url = Url::Parse(text);
  EXPECT_TRUE(url.ok()) << text << ": " << url.status();
  return url.ok() ? *std::move(url) : *Url::Parse("invalid://parse.failed");
}

std::string OriginOf(absl::string_view text) { return MustParse(text).Origin(); }

TEST(UrlTest, SplitsAnAbsoluteUrlIntoItsParts) {
  const Url url = MustParse("HTTPS://CA.Test:14000/acme/Order/1?a=b#frag");
  EXPECT_EQ(url.scheme(), "https");
  EXPECT_EQ(url.host(), "ca.test");
  EXPECT_EQ(url.host_as_written(), "CA.Test");
  EXPECT_EQ(url.port(), 14000);
  EXPECT_THAT(url.port_as_written(), Optional(std::string("14000")));
  EXPECT_EQ(url.path(), "/acme/Order/1");
  EXPECT_THAT(url.query(), Optional(std::string("a=b")));
  EXPECT_TRUE(url.has_fragment());
  EXPECT_EQ(url.userinfo(), std::nullopt);
  EXPECT_TRUE(url.is_https());
  EXPECT_TRUE(url.is_http_or_https());
}

TEST(UrlTest, FillsInTheDefaultPortAndPath) {
  const Url https = MustParse("https://ca.test");
  EXPECT_EQ(https.port(), 443);
  EXPECT_EQ(https.port_as_written(), std::nullopt);
  EXPECT_EQ(https.path(), "/");
  EXPECT_EQ(https.query(), std::nullopt);
  EXPECT_FALSE(https.has_fragment());
  EXPECT_EQ(MustParse("http://ca.test/x").port(), 80);
  EXPECT_EQ(MustParse("ftp://ca.test/x").port(), 21);
  // No default for a scheme curl does not know, and no port written.
  const Url other = MustParse("acme+x://ca.test/x");
  EXPECT_EQ(other.scheme(), "acme+x");
  EXPECT_EQ(other.port(), 0);
  EXPECT_FALSE(other.is_http_or_https());
}

TEST(UrlTest, OriginIsSchemeHostAndPortWithThePortAlwaysExplicit) {
  EXPECT_EQ(OriginOf("https://Example.COM/a/b?c#d"), "https://example.com:443");
  EXPECT_EQ(OriginOf("HTTP://example.com"), "http://example.com:80");
  EXPECT_EQ(OriginOf("https://127.0.0.1:14000/dir"), "https://127.0.0.1:14000");
  EXPECT_EQ(OriginOf("https://[::1]:8443/x"), "https://[::1]:8443");
}

TEST(UrlTest, EverySpellingOfOneOriginGivesTheSameOrigin) {
  const std::string origin = OriginOf("https://ca.test/dir");
  for (const char* text : {"https://ca.test:443/other", "HTTPS://CA.TEST", "https://ca.test/",
                           "https://Ca.Test:443?x#y"}) {
    EXPECT_EQ(OriginOf(text), origin) << text;
  }
  for (const char* text : {"http://ca.test/dir", "https://ca.test:8443/dir", "https://ca.test./dir",
                           "https://sub.ca.test/dir", "https://xn--ca-test.example/dir"}) {
    EXPECT_NE(OriginOf(text), origin) << text;
  }
}

TEST(UrlTest, KeepsATrailingDotAsAnotherHost) {
  const Url url = MustParse("https://ca.test./x");
  EXPECT_EQ(url.host(), "ca.test.");
  EXPECT_EQ(url.Origin(), "https://ca.test.:443");
}

TEST(UrlTest, LowerCasesAsciiButDoesNotConvertInternationalNames) {
  EXPECT_EQ(MustParse("https://CA.TEST/").host(), "ca.test");
  const Url idn = MustParse(
      "https://B\xc3\xbc"
      "cher.example/");
  EXPECT_EQ(idn.host(),
            "b\xc3\xbc"
            "cher.example");
  EXPECT_NE(idn.Origin(), OriginOf("https://xn--bcher-kva.example/"));
}

TEST(UrlTest, ReportsUserinfoAndTheHostCurlWouldConnectTo) {
  const Url user = MustParse("https://evil@ca.test:14000/x");
  EXPECT_THAT(user.userinfo(), Optional(std::string("evil")));
  EXPECT_EQ(user.host(), "ca.test");
  // The CA as userinfo of another host: the request would go to evil.test.
  const Url trick = MustParse("https://ca.test:14000@evil.test/x");
  EXPECT_THAT(trick.userinfo(), Optional(std::string("ca.test:14000")));
  EXPECT_EQ(trick.host(), "evil.test");
  EXPECT_EQ(trick.Origin(), "https://evil.test:443");
  // A backslash does not end the authority for curl: it is part of the userinfo here.
  const Url backslash = MustParse("https://ca.test\\@evil.test/x");
  EXPECT_THAT(backslash.userinfo(), Optional(std::string("ca.test\\")));
  EXPECT_EQ(backslash.host(), "evil.test");
  EXPECT_THAT(MustParse("https://@ca.test/").userinfo(), Optional(std::string("")));
}

TEST(UrlTest, KeepsTheSpellingCurlNormalisesAway) {
  const Url percent = MustParse("https://ca%2Etest/x");
  EXPECT_EQ(percent.host(), "ca.test");
  EXPECT_EQ(percent.host_as_written(), "ca%2Etest");
  const Url shorthand = MustParse("https://0x7f.1/x");
  EXPECT_EQ(shorthand.host(), "127.0.0.1");
  EXPECT_EQ(shorthand.host_as_written(), "0x7f.1");
  const Url zeros = MustParse("https://ca.test:0443/x");
  EXPECT_EQ(zeros.port(), 443);
  EXPECT_THAT(zeros.port_as_written(), Optional(std::string("0443")));
  const Url empty_port = MustParse("https://ca.test:/x");
  EXPECT_EQ(empty_port.port(), 443);
  EXPECT_THAT(empty_port.port_as_written(), Optional(std::string("")));
  EXPECT_EQ(MustParse("https://ca.test:0/x").port(), 0);
  // Dot segments and percent-encoding stay in the path as written.
  EXPECT_EQ(MustParse("https://ca.test/a/../b/%2e%2e/c").path(), "/a/../b/%2e%2e/c");
  EXPECT_EQ(MustParse("https://ca.test/a\\b").path(), "/a\\b");
  // An empty fragment or query is still there.
  EXPECT_TRUE(MustParse("https://ca.test/x#").has_fragment());
  EXPECT_THAT(MustParse("https://ca.test/x?").query(), Optional(std::string("")));
}

TEST(UrlTest, ParsesIpv6Literals) {
  const Url url = MustParse("https://[::1]:8443/x");
  EXPECT_EQ(url.host(), "[::1]");
  EXPECT_EQ(url.host_as_written(), "[::1]");
  EXPECT_THAT(url.port_as_written(), Optional(std::string("8443")));
  const Url long_form = MustParse("https://[0:0::1]/x");
  EXPECT_EQ(long_form.host(), "[::1]");
  EXPECT_EQ(long_form.host_as_written(), "[0:0::1]");
  EXPECT_EQ(MustParse("https://[::FFFF:1.2.3.4]/").host(), "[::ffff:1.2.3.4]");
  EXPECT_EQ(MustParse("https://[fe80::1%25eth0]/").host(), "[fe80::1%25eth0]");
  EXPECT_NE(OriginOf("https://[fe80::1%25eth0]/"), OriginOf("https://[fe80::1]/"));
}

TEST(UrlTest, RefusesWhatIsNotAnAbsoluteUrl) {
  for (const char* text : {"", "garbage", "/relative/path", "ca.test/x", "ca.test:14000/x",
                           "https:/ca.test/x", "https:ca.test/x", "1https://ca.test/"}) {
    EXPECT_THAT(Url::Parse(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an absolute URL")))
        << text;
  }
}

TEST(UrlTest, RefusesUrlsWithoutAUsableHost) {
  // curl would read "https:///ca.test/x" as host ca.test.
  for (const char* text : {"https://", "https:///ca.test/x", "https://:14000/x", "https://?x"}) {
    EXPECT_THAT(Url::Parse(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no usable host")))
        << text;
  }
  EXPECT_EQ(MustParse("file:///etc/passwd").host(), "");
}

TEST(UrlTest, RefusesBadPortsHostsAndLiterals) {
  for (const char* text : {"https://ca.test:99999/x", "https://ca.test:-1/x",
                           "https://ca.test:1x/x", "https://[::1]x/"}) {
    EXPECT_THAT(Url::Parse(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad port")))
        << text;
  }
  for (const char* text : {"https://a@b@c/", "https://ca.test;x/", "https://a%40b/"}) {
    EXPECT_THAT(Url::Parse(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad host name")))
        << text;
  }
  EXPECT_THAT(Url::Parse("https://[::1/x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad IPv6 literal")));
}

TEST(UrlTest, RefusesWhitespaceControlCharactersAndNul) {
  for (const std::string& text :
       {std::string("https://ca.test/a b"), std::string("https://ca.test/a\tb"),
        std::string("https://ca.test/a\x7f"), std::string("https://ca.test/a\0b", 18),
        std::string(" https://ca.test/")}) {
    EXPECT_THAT(Url::Parse(text), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("whitespace or control characters")));
  }
}

TEST(ParseHttpsUrlTest, AcceptsHttpsWithAHostAndNoUserinfo) {
  for (const char* text : {"https://acme.example/dir", "HTTPS://acme.example/dir",
                           "https://127.0.0.1:14000/dir", "https://[::1]/dir"}) {
    EXPECT_TRUE(ParseHttpsUrl(text).ok()) << text;
  }
}

TEST(ParseHttpsUrlTest, RefusesOtherSchemesUserinfoAndMalformedUrls) {
  EXPECT_THAT(ParseHttpsUrl("http://acme.example/dir"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scheme is http, not https")));
  EXPECT_THAT(ParseHttpsUrl("ftp://acme.example/dir"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scheme is ftp")));
  for (const char* text : {"https://user@acme.example/", "https://acme.example@evil.test/",
                           "https://u:p@acme.example/"}) {
    EXPECT_THAT(ParseHttpsUrl(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("userinfo")))
        << text;
  }
  for (const char* text : {"acme.example/dir", "https://", "garbage"}) {
    EXPECT_FALSE(ParseHttpsUrl(text).ok()) << text;
  }
}

TEST(ResolveReferenceTest, ResolvesRelativeAndAbsoluteReferences) {
  constexpr char kBase[] = "https://ca.test:14000/acme/order/1?x=1";
  EXPECT_EQ(*ResolveReference(kBase, "/acme/cert/1"), "https://ca.test:14000/acme/cert/1");
  EXPECT_EQ(*ResolveReference(kBase, "2"), "https://ca.test:14000/acme/order/2");
  EXPECT_EQ(*ResolveReference(kBase, "../cert/./1"), "https://ca.test:14000/acme/cert/1");
  EXPECT_EQ(*ResolveReference(kBase, "https://other.test/x"), "https://other.test/x");
}

TEST(ResolveReferenceTest, RefusesMalformedBasesAndReferences) {
  EXPECT_THAT(ResolveReference("/relative", "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot resolve \"x\"")));
  EXPECT_THAT(
      ResolveReference("https://ca.test/", std::string("a\0b", 3)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("whitespace or control characters")));
  EXPECT_THAT(ResolveReference("https://ca.test/", "https://a@b@c/"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad host name")));
}

}  // namespace
}  // namespace acme_signer::http
