#include "acme/resources.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/acme/fake_http_client.h"
#include "tests/acme/status_matchers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::StatusIs;
using ::testing::HasSubstr;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

TEST(DirectoryTest, ParsesPebblesDirectoryAndMeta) {
  auto dir = ParseDirectory(testing::DirectoryJson(true, R"("renewalInfo":"https://ca.test/ari")"));
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(dir->new_nonce, "https://ca.test/nonce-plz");
  EXPECT_EQ(dir->new_account, "https://ca.test/sign-me-up");
  EXPECT_EQ(dir->new_order, "https://ca.test/order-plz");
  EXPECT_EQ(dir->key_change, "https://ca.test/rollover-account-key");
  EXPECT_EQ(dir->renewal_info, "https://ca.test/ari");
  EXPECT_TRUE(dir->meta.external_account_required);
  EXPECT_EQ(dir->new_authz, "");
}

TEST(DirectoryTest, RefusesHostileNestingWithoutRecursingIntoIt) {
  const std::string deep = R"({"newNonce":"https://a/n","x":)" + std::string(1 << 20, '[') +
                           std::string(1 << 20, ']') + "}";
  EXPECT_THAT(ParseDirectory(deep), StatusIs(kInvalid, HasSubstr("nested deeper than 32")));
  const std::string challenge = R"({"type":"x-01","url":"https://a/c","status":"pending","j":)" +
                                std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_THAT(ParseChallenge(challenge), StatusIs(kInvalid, HasSubstr("nested deeper")));
}

TEST(DirectoryTest, RequiresNewNonceNewAccountAndNewOrder) {
  EXPECT_THAT(ParseDirectory(R"({"newNonce":"https://a/n","newAccount":"https://a/a"})"),
              StatusIs(kInvalid, HasSubstr("directory.newOrder is missing")));
}

TEST(DirectoryTest, RefusesNonHttpsUrlsNamingTheField) {
  EXPECT_THAT(ParseDirectory(R"({"newNonce":"http://a/n","newAccount":"https://a/a",
                                 "newOrder":"https://a/o"})"),
              StatusIs(kInvalid, HasSubstr("directory.newNonce is not an https URL")));
  EXPECT_THAT(ParseDirectory(R"({"newNonce":"https://a/n","newAccount":"https://a/a",
                                 "newOrder":"https://a/o","revokeCert":"ftp://x"})"),
              StatusIs(kInvalid, HasSubstr("directory.revokeCert")));
  EXPECT_THAT(ParseDirectory(R"({"newNonce":"https:///n","newAccount":"https://a/a",
                                 "newOrder":"https://a/o"})"),
              StatusIs(kInvalid, HasSubstr("no usable host")));
}

TEST(DirectoryTest, RefusesWrongTypesAndBadJson) {
  EXPECT_THAT(
      ParseDirectory(R"({"newNonce":7})"),
      StatusIs(kInvalid, HasSubstr("directory.newNonce in the server's response is not a string")));
  EXPECT_THAT(ParseDirectory(R"({"newNonce":"https://a/n","newAccount":"https://a/a",
      "newOrder":"https://a/o","meta":{"externalAccountRequired":"yes"}})"),
              StatusIs(kInvalid, HasSubstr("directory.meta.externalAccountRequired")));
  EXPECT_THAT(ParseDirectory("[]"), StatusIs(kInvalid, HasSubstr("not a JSON object")));
  EXPECT_THAT(ParseDirectory("{\"newNonce\":"), StatusIs(kInvalid, HasSubstr("not valid JSON")));
  EXPECT_THAT(ParseDirectory("{\"a\":\"\xff\xfe\"}"),
              StatusIs(kInvalid, HasSubstr("not valid JSON")));
}

constexpr char kOrder[] = R"({
  "status": "pending",
  "expires": "2030-01-01T00:00:00Z",
  "identifiers": [{"type": "dns", "value": "a.test"}],
  "authorizations": ["https://ca.test/authZ/1"],
  "finalize": "https://ca.test/finalize-order/1"
})";

TEST(OrderTest, ParsesAPendingOrder) {
  auto order = ParseOrder(kOrder);
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->status, OrderStatus::kPending);
  EXPECT_EQ(order->identifiers[0], Identifier::Dns("a.test"));
  EXPECT_EQ(order->authorizations.size(), 1u);
  EXPECT_EQ(order->finalize, "https://ca.test/finalize-order/1");
  EXPECT_FALSE(order->error.has_value());
}

TEST(OrderTest, NamesTheBadFieldForEveryMalformedOrder) {
  EXPECT_THAT(ParseOrder(R"({"status":"pending","authorizations":[],"finalize":"https://a/f",
                             "identifiers":{}})"),
              StatusIs(kInvalid, HasSubstr("order.identifiers")));
  EXPECT_THAT(ParseOrder(R"({"status":"pending","finalize":"https://a/f"})"),
              StatusIs(kInvalid, HasSubstr("order.authorizations is missing")));
  EXPECT_THAT(ParseOrder(R"({"status":"pending","authorizations":[1],"finalize":"https://a/f"})"),
              StatusIs(kInvalid, HasSubstr("order.authorizations")));
  EXPECT_THAT(ParseOrder(R"({"status":"pending","authorizations":["http://a/z"],
                             "finalize":"https://a/f"})"),
              StatusIs(kInvalid, HasSubstr("order.authorizations[] is not an https URL")));
  EXPECT_THAT(
      ParseOrder(R"({"status":"weird","authorizations":[],"finalize":"https://a/f"})"),
      StatusIs(kInvalid, HasSubstr("order.status in the server's response has an unknown value")));
  EXPECT_THAT(ParseOrder(R"({"status":"pending","authorizations":[]})"),
              StatusIs(kInvalid, HasSubstr("order.finalize is missing")));
  EXPECT_THAT(ParseOrder(R"({"status":"valid","authorizations":[],"finalize":"https://a/f"})"),
              StatusIs(kInvalid, HasSubstr("order.certificate is missing")));
  EXPECT_THAT(ParseOrder(R"({"status":"invalid","authorizations":[],"finalize":"https://a/f",
                             "error":"bad"})"),
              StatusIs(kInvalid, HasSubstr("order.error")));
}

TEST(OrderTest, KeepsTheEmbeddedProblemOfAnInvalidOrder) {
  auto order = ParseOrder(R"({"status":"invalid","authorizations":[],"finalize":"https://a/f",
      "error":{"type":"urn:ietf:params:acme:error:unauthorized","detail":"nope"}})");
  ASSERT_TRUE(order.ok()) << order.status();
  ASSERT_TRUE(order->error.has_value());
  EXPECT_TRUE(order->error->Is("unauthorized"));
}

TEST(AuthorizationTest, KeepsUnknownChallengeTypesLikeSectigoEmail) {
  auto authz = ParseAuthorization(R"({
    "identifier": {"type": "dns", "value": "a.test"},
    "status": "pending",
    "challenges": [
      {"type": "sectigo-email-01", "url": "https://ca.test/chal/e", "status": "pending"},
      {"type": "http-01", "url": "https://ca.test/chal/h", "status": "pending",
       "token": "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"}
    ]})");
  ASSERT_TRUE(authz.ok()) << authz.status();
  ASSERT_EQ(authz->challenges.size(), 2u);
  EXPECT_EQ(authz->challenges[0].type, "sectigo-email-01");
  EXPECT_FALSE(authz->challenges[0].IsKnownType());
  EXPECT_THAT(authz->challenges[0].raw_json, HasSubstr("sectigo-email-01"));
  ASSERT_NE(authz->Find("http-01"), nullptr);
  EXPECT_EQ(authz->Find("dns-01"), nullptr);
}

TEST(AuthorizationTest, AValidAuthorizationMayHaveNoChallenges) {
  auto authz =
      ParseAuthorization(R"({"identifier":{"type":"dns","value":"a.test"},"status":"valid"})");
  ASSERT_TRUE(authz.ok()) << authz.status();
  EXPECT_EQ(authz->status, AuthorizationStatus::kValid);
  EXPECT_THAT(ParseAuthorization(R"({"identifier":{"type":"dns","value":"a.test"},
                                     "status":"pending"})"),
              StatusIs(kInvalid, HasSubstr("authorization.challenges is missing")));
}

TEST(AuthorizationTest, RefusesTokensThatAreNotBase64Url) {
  EXPECT_THAT(ParseAuthorization(R"({"identifier":{"type":"dns","value":"a.test"},
      "status":"pending","challenges":[{"type":"http-01","url":"https://ca.test/c",
      "status":"pending","token":"../../../etc/passwd"}]})"),
              StatusIs(kInvalid, HasSubstr("authorization.challenges[].token")));
  EXPECT_THAT(ParseAuthorization(R"({"identifier":{"type":"dns","value":"a.test"},
      "status":"pending","challenges":[{"type":"dns-01","url":"https://ca.test/c",
      "status":"pending"}]})"),
              StatusIs(kInvalid, HasSubstr("authorization.challenges[].token is missing")));
  EXPECT_THAT(ParseAuthorization(R"({"identifier":"a.test","status":"valid"})"),
              StatusIs(kInvalid, HasSubstr("authorization.identifier")));
}

TEST(ChallengeTest, ParsesAnInvalidChallengeWithItsError) {
  auto challenge = ParseChallenge(R"({"type":"http-01","url":"https://ca.test/c",
      "status":"invalid","token":"abcdefghijklmnopqrstuv",
      "error":{"type":"urn:ietf:params:acme:error:connection","detail":"refused"}})");
  ASSERT_TRUE(challenge.ok()) << challenge.status();
  EXPECT_EQ(challenge->status, ChallengeStatus::kInvalid);
  ASSERT_TRUE(challenge->error.has_value());
  EXPECT_TRUE(challenge->error->Is("connection"));
}

TEST(AccountTest, ParsesStatusAndContact) {
  auto account = ParseAccount(R"({"status":"valid","contact":["mailto:a@b.test"],
                                  "orders":"https://ca.test/orders/1"})");
  ASSERT_TRUE(account.ok()) << account.status();
  EXPECT_EQ(account->contact[0], "mailto:a@b.test");
  EXPECT_THAT(ParseAccount(R"({"status":"valid","contact":"mailto:a@b.test"})"),
              StatusIs(kInvalid, HasSubstr("account.contact")));
}

}  // namespace
}  // namespace acme_signer::acme
