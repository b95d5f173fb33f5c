#include "acme/jws.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/acme/openssl_signers.h"
#include "tests/acme/status_matchers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::DecodeFlattenedJws;
using ::acme_signer::acme::testing::OpenSslJwsSigner;
using ::acme_signer::acme::testing::StatusIs;
using ::acme_signer::acme::testing::VerifyJwsSignature;
using ::testing::HasSubstr;
using Json = nlohmann::json;

TEST(SignJwsTest, KidFormCarriesAlgNonceUrlKidAndAVerifiableEs256Signature) {
  auto key = OpenSslJwsSigner::GenerateEs256();
  auto body = SignJws(*key, "https://ca.test/order-plz", "nonce-1", "https://ca.test/acct/1",
                      R"({"identifiers":[{"type":"dns","value":"a.test"}]})");
  ASSERT_TRUE(body.ok()) << body.status();
  auto jws = DecodeFlattenedJws(*body);
  ASSERT_TRUE(jws.ok()) << jws.status();
  Json header = Json::parse(jws->protected_json);
  EXPECT_EQ(header,
            Json::parse(R"({"alg":"ES256","nonce":"nonce-1",)"
                        R"("url":"https://ca.test/order-plz","kid":"https://ca.test/acct/1"})"));
  EXPECT_EQ(jws->payload_json, R"({"identifiers":[{"type":"dns","value":"a.test"}]})");
  EXPECT_EQ(jws->signature.size(), 64u);
  EXPECT_TRUE(
      VerifyJwsSignature("ES256", key->PublicKeyDer(), jws->signing_input, jws->signature).ok());
}

TEST(SignJwsTest, JwkFormEmbedsThePublicKeyAndRs256Verifies) {
  auto key = OpenSslJwsSigner::GenerateRs256();
  auto body =
      SignJws(*key, "https://ca.test/sign-me-up", "n", "", R"({"onlyReturnExisting":true})");
  ASSERT_TRUE(body.ok()) << body.status();
  auto jws = DecodeFlattenedJws(*body);
  ASSERT_TRUE(jws.ok());
  Json header = Json::parse(jws->protected_json);
  EXPECT_EQ(header["alg"], "RS256");
  EXPECT_FALSE(header.contains("kid"));
  EXPECT_EQ(header["jwk"], Json::parse(key->PublicJwk()));
  EXPECT_TRUE(
      VerifyJwsSignature("RS256", key->PublicKeyDer(), jws->signing_input, jws->signature).ok());
}

TEST(SignJwsTest, PostAsGetHasAnEmptyPayload) {
  auto key = OpenSslJwsSigner::GenerateEs256();
  auto body = SignJws(*key, "https://ca.test/authz/1", "n", "https://ca.test/acct/1", "");
  ASSERT_TRUE(body.ok());
  Json jws = Json::parse(*body);
  EXPECT_EQ(jws["payload"], "");
}

TEST(SignJwsTest, EmptyObjectPayloadIsEncodedAsE30) {
  auto key = OpenSslJwsSigner::GenerateEs256();
  auto body = SignJws(*key, "https://ca.test/chall/1", "n", "https://ca.test/acct/1", "{}");
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(Json::parse(*body)["payload"], "e30");
}

TEST(BuildJwsSigningInputTest, IsAPureFunctionTheSignerCanReuse) {
  JwsHeader header{"ES256", "nonce-7", "https://ca.test/x", "https://ca.test/acct/9", ""};
  auto a = BuildJwsSigningInput(header, R"({"a":1})");
  auto b = BuildJwsSigningInput(header, R"({"a":1})");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->signing_input, b->signing_input);
  EXPECT_EQ(a->signing_input, a->protected_b64 + "." + a->payload_b64);
  Json assembled = Json::parse(AssembleFlattenedJws(*a, "sig"));
  EXPECT_EQ(assembled["protected"], a->protected_b64);
  EXPECT_EQ(assembled["signature"], "c2ln");
}

TEST(BuildJwsSigningInputTest, RefusesHeadersThatAcmeForbids) {
  EXPECT_THAT(BuildJwsSigningInput({"none", "n", "https://ca.test/x", "kid", ""}, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("alg")));
  EXPECT_THAT(BuildJwsSigningInput({"ES256", "n", "", "kid", ""}, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("url")));
  EXPECT_THAT(
      BuildJwsSigningInput({"ES256", "n", "https://ca.test/x", "kid", "{}"}, ""),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exactly one of kid and jwk")));
  EXPECT_THAT(
      BuildJwsSigningInput({"ES256", "n", "https://ca.test/x", "", ""}, ""),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exactly one of kid and jwk")));
  EXPECT_THAT(BuildJwsSigningInput({"ES256", "", "https://ca.test/x", "kid", ""}, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty nonce")));
  EXPECT_THAT(BuildJwsSigningInput({"ES256", "n", "https://ca.test/x", "kid", ""}, "[1]"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("payload")));
}

}  // namespace
}  // namespace acme_signer::acme
