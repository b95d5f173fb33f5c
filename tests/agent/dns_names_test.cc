#include "agent/dns_names.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"

namespace acme_signer::agent {
namespace {

using ::acme_signer::agent::testing::IsOk;
using ::acme_signer::agent::testing::StatusIs;
using ::testing::HasSubstr;

TEST(NormalizeDnsNameTest, LowercasesAndDropsTheTrailingDot) {
  EXPECT_EQ(*NormalizeDnsName("WWW.Example.COM."), "www.example.com");
  EXPECT_EQ(*NormalizeDnsName("*.example.com"), "*.example.com");
  EXPECT_EQ(*NormalizeDnsName("xn--bcher-kva.example"), "xn--bcher-kva.example");
}

TEST(NormalizeDnsNameTest, RejectsMalformedNamesSayingWhy) {
  EXPECT_THAT(NormalizeDnsName(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(NormalizeDnsName("localhost"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("two labels")));
  EXPECT_THAT(NormalizeDnsName("a..example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1-63")));
  EXPECT_THAT(NormalizeDnsName("-a.example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hyphens")));
  EXPECT_THAT(NormalizeDnsName("a_b.example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a_b.example.com")));
  EXPECT_THAT(NormalizeDnsName("www.*.example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("wildcard")));
  EXPECT_THAT(NormalizeDnsName("192.0.2.1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("IP addresses")));
  EXPECT_THAT(NormalizeDnsName(std::string(64, 'a') + ".example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1-63")));
  EXPECT_THAT(NormalizeDnsName("bad\nname.example.com"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad\\nname")));
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
  std::vector<std::string> good = {"example.com", "www.example.com"};
  EXPECT_THAT(ValidateDnsNames(good), IsOk());
}

}  // namespace
}  // namespace acme_signer::agent
