// signer/identifier_text.h: the one conversion between Identifier and its stored text.
#include "signer/identifier_text.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer {
namespace {

using ::acme_signer::testing::IsOkAndHolds;
using ::acme_signer::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(IdentifierTextTest, WritesTypeColonValue) {
  EXPECT_EQ(IdentifierText(Identifier::Dns("www.example.com")), "dns:www.example.com");
  EXPECT_THAT(IdentifierTexts({Identifier::Dns("a.test"), Identifier{"ip", "::1"}}),
              ElementsAre("dns:a.test", "ip:::1"));
}

TEST(IdentifierTextTest, ParsesWhatItWritesSplittingAtTheFirstColon) {
  EXPECT_THAT(ParseIdentifierText("dns:www.example.com"),
              IsOkAndHolds(Identifier::Dns("www.example.com")));
  EXPECT_THAT(ParseIdentifierText("ip:::1"), IsOkAndHolds(Identifier{"ip", "::1"}));
  EXPECT_THAT(
      ParseIdentifierTexts({"dns:a.test", "dns:b.test"}),
      IsOkAndHolds(std::vector<Identifier>{Identifier::Dns("a.test"), Identifier::Dns("b.test")}));
}

TEST(IdentifierTextTest, RefusesTextWithoutAType) {
  EXPECT_THAT(ParseIdentifierText("www.example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("www.example.com"), HasSubstr("type:value"))));
  EXPECT_THAT(ParseIdentifierText(":www.example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("type:value")));
  EXPECT_THAT(ParseIdentifierTexts({"dns:a.test", "bad"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"bad\"")));
}

}  // namespace
}  // namespace acme_signer::signer
