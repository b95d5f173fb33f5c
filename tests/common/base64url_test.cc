#include "common/base64url.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer {
namespace {

using ::acme_signer::testing::IsOkAndHolds;
using ::acme_signer::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(Base64UrlTest, EncodesWithTheUrlAlphabetAndNoPadding) {
  EXPECT_EQ(Base64Url(""), "");
  EXPECT_EQ(Base64Url("a"), "YQ");
  EXPECT_EQ(Base64Url("ab"), "YWI");
  EXPECT_EQ(Base64Url("abc"), "YWJj");
  EXPECT_EQ(Base64Url("\xfb\xff"), "-_8");
}

TEST(Base64UrlTest, DecodesEveryLengthItEncodes) {
  std::string data;
  for (int length = 0; length < 40; ++length) {
    EXPECT_THAT(DecodeBase64Url(Base64Url(data), "x"), IsOkAndHolds(data)) << length;
    data.push_back(static_cast<char>(0xa5 ^ (length * 37)));
  }
}

TEST(Base64UrlTest, RefusesPaddingAndNamesTheInput) {
  EXPECT_THAT(DecodeBase64Url("YQ==", "payload member \"csr\""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("payload member \"csr\""),
                             HasSubstr("not unpadded base64url (character '=')"))));
}

TEST(Base64UrlTest, RefusesTheStandardAlphabetWhitespaceAndControlBytes) {
  for (const std::string& text : {std::string("ab+c"), std::string("ab/c"), std::string("YW Jj"),
                                  std::string("YWJj\n"), std::string("YW\0J", 4)}) {
    EXPECT_THAT(DecodeBase64Url(text, "x"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not unpadded base64url")))
        << text;
  }
}

TEST(Base64UrlTest, RefusesNonCanonicalTrailingBitsSoEachByteStringHasOneText) {
  // "YQ" and "YWI" are canonical; "YR" and "YWJ" decode to the same bytes with stray bits set.
  EXPECT_THAT(DecodeBase64Url("YQ", "x"), IsOkAndHolds("a"));
  EXPECT_THAT(DecodeBase64Url("YWI", "x"), IsOkAndHolds("ab"));
  for (const char* text : {"YR", "YWJ", "A", "AB", "YWJjZ"}) {
    EXPECT_THAT(DecodeBase64Url(text, "x"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not canonical base64url")))
        << text;
  }
}

TEST(Base64UrlTest, QuotesAtMostTheOffendingCharacterOfTheInput) {
  EXPECT_THAT(DecodeBase64Url("secretsecret+", "EAB key"),
              StatusIs(absl::StatusCode::kInvalidArgument, Not(HasSubstr("secret"))));
}

TEST(IsBase64UrlTest, AcceptsOnlyNonEmptyTextOfTheAlphabet) {
  EXPECT_TRUE(IsBase64Url("AZaz09-_"));
  EXPECT_FALSE(IsBase64Url(""));
  for (const char* text : {"a=b", "a b", "a/b", "a+b", "a.b", "\x80", "a\n"}) {
    EXPECT_FALSE(IsBase64Url(text)) << text;
  }
}

}  // namespace
}  // namespace acme_signer
