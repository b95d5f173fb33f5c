#include "hsm/key_type.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/hsm/hsm_test_util.h"

namespace acme_signer::hsm {
namespace {

using ::acme_signer::hsm::testing::StatusIs;
using ::testing::HasSubstr;

TEST(KeyTypeTest, NamesRoundTrip) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048, KeyType::kRsa3072,
                       KeyType::kRsa4096}) {
    auto parsed = ParseKeyType(KeyTypeName(type));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, type);
  }
}

TEST(KeyTypeTest, AlgorithmsMatchJws) {
  EXPECT_EQ(JwsAlgorithm(KeyType::kEcP256), "ES256");
  EXPECT_EQ(JwsAlgorithm(KeyType::kEcP384), "ES384");
  EXPECT_EQ(JwsAlgorithm(KeyType::kRsa4096), "RS256");
}

TEST(KeyTypeTest, UnknownNameListsTheAcceptedOnes) {
  EXPECT_THAT(ParseKeyType("ed25519"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown key type 'ed25519'; use ec-p256")));
}

}  // namespace
}  // namespace acme_signer::hsm
