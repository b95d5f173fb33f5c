#include "hsm/inventory.h"

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/hsm/hsm_test_util.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer::hsm {
namespace {

using ::acme_signer::hsm::testing::OpenFreshToken;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Field;
using ::testing::HasSubstr;

TEST(InventoryTest, ListsTokensByUri) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("inventory-tokens");
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto tokens = ListTokens(*opened->module);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_THAT(*tokens,
              Contains(AllOf(Field(&TokenEntry::label, "inventory-tokens"),
                             Field(&TokenEntry::uri, HasSubstr("token=inventory-tokens")))));
}

TEST(InventoryTest, ListsObjectsWithUrisThatOpenThem) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("inventory-objects");
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_TRUE(
      opened->token->GenerateSigningKey("pkcs11:object=account%20key;id=%01", KeyType::kEcP256)
          .ok());
  ASSERT_TRUE(opened->token
                  ->ImportHmacKey("pkcs11:object=eab",
                                  Secret(absl::WebSafeBase64Escape(std::string(32, 'k'))))
                  .ok());
  auto objects = ListObjects(*opened->token);
  ASSERT_TRUE(objects.ok()) << objects.status();
  ASSERT_EQ(objects->size(), 3u);
  EXPECT_THAT(*objects, Contains(AllOf(Field(&ObjectEntry::kind, "private-key ec"),
                                       Field(&ObjectEntry::sensitive, true),
                                       Field(&ObjectEntry::extractable, false))));
  EXPECT_THAT(*objects, Contains(Field(&ObjectEntry::kind, "secret-key generic")));
  // Each listed URI names exactly its object on this token.
  for (const ObjectEntry& object : *objects) {
    EXPECT_THAT(object.uri, HasSubstr("token=inventory-objects"));
    EXPECT_THAT(opened->token->HasObject(object.uri),
                ::acme_signer::hsm::testing::IsOkAndHolds(true))
        << object.uri;
    if (object.kind == "private-key ec") {
      EXPECT_THAT(object.uri, AllOf(HasSubstr("object=account%20key"), HasSubstr("id=%01"),
                                    HasSubstr("type=private")));
      EXPECT_TRUE(opened->token->OpenSigningKey(object.uri).ok());
    }
  }
}

}  // namespace
}  // namespace acme_signer::hsm
