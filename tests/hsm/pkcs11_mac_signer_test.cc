#include "hsm/pkcs11_mac_signer.h"

#include <openssl/hmac.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/hsm/hsm_test_util.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer::hsm {
namespace {

using ::acme_signer::hsm::testing::OpenFreshToken;
using ::acme_signer::hsm::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// A fixed 32-byte key (what Pebble-style CAs hand out, base64url without padding).
const std::string kKey = "0123456789abcdef0123456789ABCDEF";

std::string OpenSslHmac(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), key.size(), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &size);
  return std::string(reinterpret_cast<char*>(mac), size);
}

TEST(MacSignerTest, Hs256TagsEqualOpenSslHmacOverTheSameKey) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("hmac-known");
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto mac = opened->token->ImportHmacKey("pkcs11:object=eab-key",
                                          Secret(absl::WebSafeBase64Escape(kKey)));
  ASSERT_TRUE(mac.ok()) << mac.status();
  EXPECT_EQ((*mac)->Algorithm(), "HS256");
  for (const std::string& data :
       {std::string(""), std::string("eyJhbGciOiJIUzI1NiJ9.eyJrdHkiOiJFQyJ9"),
        std::string(5000, 'z')}) {
    auto tag = (*mac)->Sign(data);
    ASSERT_TRUE(tag.ok()) << tag.status();
    EXPECT_EQ(*tag, OpenSslHmac(kKey, data));
  }
  // Opened again by URI, the same key gives the same tags.
  auto reopened = opened->token->OpenHmacKey("pkcs11:object=eab-key;type=secret-key");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(*(*reopened)->Sign("x"), OpenSslHmac(kKey, "x"));
}

// The value of `series` in the process metrics (common/metrics.h), 0 when absent.
double ProcessMetricValue(absl::string_view series) {
  const std::string text = ProcessMetrics().Render();
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, series) || !absl::ConsumePrefix(&line, " ")) continue;
    double value = 0;
    if (absl::SimpleAtod(line, &value)) return value;
  }
  return 0;
}

TEST(MacSignerTest, EverySignatureIsTimedInTheProcessMetrics) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("hmac-metrics");
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto mac = opened->token->ImportHmacKey("pkcs11:object=eab-key",
                                          Secret(absl::WebSafeBase64Escape(kKey)));
  ASSERT_TRUE(mac.ok()) << mac.status();
  constexpr absl::string_view kCount =
      "acme_signer_hsm_sign_duration_seconds_count{operation=\"hmac\"}";
  const double before = ProcessMetricValue(kCount);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*mac)->Sign("data").ok());
  EXPECT_EQ(ProcessMetricValue(kCount), before + 3);
  EXPECT_EQ(ProcessMetricValue(
                "acme_signer_hsm_sign_errors_total{operation=\"hmac\",code=\"UNAVAILABLE\"}"),
            0);
}

TEST(MacSignerTest, ImportedKeyIsSensitiveNonExtractableAndSignOnly) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("hmac-attrs");
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_TRUE(
      opened->token
          ->ImportHmacKey("pkcs11:object=eab-key;id=%09", Secret(absl::WebSafeBase64Escape(kKey)))
          .ok());
  CK_FUNCTION_LIST* f = opened->module->functions();
  CK_SESSION_HANDLE session;
  ASSERT_EQ(f->C_OpenSession(opened->token->slot(), CKF_SERIAL_SESSION, nullptr, nullptr, &session),
            CKR_OK);
  char label[] = "eab-key";
  CK_ATTRIBUTE find[] = {{CKA_LABEL, label, 7}};
  CK_OBJECT_HANDLE key;
  CK_ULONG count = 0;
  ASSERT_EQ(f->C_FindObjectsInit(session, find, 1), CKR_OK);
  ASSERT_EQ(f->C_FindObjects(session, &key, 1, &count), CKR_OK);
  ASSERT_EQ(f->C_FindObjectsFinal(session), CKR_OK);
  ASSERT_EQ(count, 1u);
  CK_OBJECT_CLASS object_class;
  CK_KEY_TYPE key_type;
  CK_BBOOL sensitive, extractable, sign, verify, encrypt, decrypt, derive, token, is_private;
  CK_ATTRIBUTE attrs[] = {{CKA_CLASS, &object_class, sizeof(object_class)},
                          {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
                          {CKA_SENSITIVE, &sensitive, 1},
                          {CKA_EXTRACTABLE, &extractable, 1},
                          {CKA_SIGN, &sign, 1},
                          {CKA_VERIFY, &verify, 1},
                          {CKA_ENCRYPT, &encrypt, 1},
                          {CKA_DECRYPT, &decrypt, 1},
                          {CKA_DERIVE, &derive, 1},
                          {CKA_TOKEN, &token, 1},
                          {CKA_PRIVATE, &is_private, 1}};
  ASSERT_EQ(f->C_GetAttributeValue(session, key, attrs, std::size(attrs)), CKR_OK);
  EXPECT_EQ(object_class, CKO_SECRET_KEY);
  EXPECT_EQ(key_type, CKK_GENERIC_SECRET);
  EXPECT_EQ(sensitive, CK_TRUE);
  EXPECT_EQ(extractable, CK_FALSE);
  EXPECT_EQ(sign, CK_TRUE);
  EXPECT_EQ(verify, CK_FALSE);
  EXPECT_EQ(encrypt, CK_FALSE);
  EXPECT_EQ(decrypt, CK_FALSE);
  EXPECT_EQ(derive, CK_FALSE);
  EXPECT_EQ(token, CK_TRUE);
  EXPECT_EQ(is_private, CK_TRUE);
  unsigned char value[64];
  CK_ATTRIBUTE value_attr = {CKA_VALUE, value, sizeof(value)};
  EXPECT_EQ(f->C_GetAttributeValue(session, key, &value_attr, 1), CKR_ATTRIBUTE_SENSITIVE);
  f->C_CloseSession(session);
}

TEST(MacSignerTest, KeyShorterThan32BytesIsRefusedWithTheReason) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("hmac-short");
  ASSERT_TRUE(opened.ok()) << opened.status();
  const std::string encoded = absl::WebSafeBase64Escape(kKey.substr(0, 31));
  EXPECT_THAT(opened->token->ImportHmacKey("pkcs11:object=eab-key", Secret(encoded)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("31 bytes"), HasSubstr("at least 32"), HasSubstr("RFC 7518"),
                             Not(HasSubstr(encoded)))));
  EXPECT_THAT(opened->token->HasObject("pkcs11:object=eab-key"),
              ::acme_signer::hsm::testing::IsOkAndHolds(false));
}

// Why the 32-byte minimum: SoftHSM2 itself will not HMAC with a shorter key, so accepting one
// would only move the failure to the first ACME request.
TEST(MacSignerTest, SoftHsmItselfRefusesShortHmacKeysAtSignTime) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("hmac-softhsm-min");
  ASSERT_TRUE(opened.ok()) << opened.status();
  CK_FUNCTION_LIST* f = opened->module->functions();
  CK_SESSION_HANDLE session;
  ASSERT_EQ(f->C_OpenSession(opened->token->slot(), CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                             nullptr, &session),
            CKR_OK);
  CK_OBJECT_CLASS object_class = CKO_SECRET_KEY;
  CK_KEY_TYPE key_type = CKK_GENERIC_SECRET;
  CK_BBOOL yes = CK_TRUE;
  std::string value = kKey.substr(0, 16);
  CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &object_class, sizeof(object_class)},
                         {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
                         {CKA_SIGN, &yes, 1},
                         {CKA_VALUE, value.data(), value.size()}};
  CK_OBJECT_HANDLE key;
  ASSERT_EQ(f->C_CreateObject(session, tmpl, std::size(tmpl), &key), CKR_OK);
  CK_MECHANISM mechanism = {CKM_SHA256_HMAC, nullptr, 0};
  EXPECT_EQ(f->C_SignInit(session, &mechanism, key), CKR_KEY_SIZE_RANGE);
  f->C_CloseSession(session);
}

TEST(MacSignerTest, Exactly32ByteKeyAndPaddedBase64UrlAreAccepted) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("hmac-padded");
  ASSERT_TRUE(opened.ok()) << opened.status();
  // 32 bytes encode to 43 characters plus one '=' of padding.
  auto mac = opened->token->ImportHmacKey("pkcs11:object=eab-key",
                                          Secret(absl::WebSafeBase64Escape(kKey) + "=\n"));
  ASSERT_TRUE(mac.ok()) << mac.status();
  EXPECT_EQ(*(*mac)->Sign("data"), OpenSslHmac(kKey, "data"));
}

TEST(MacSignerTest, InvalidBase64UrlIsRefusedWithoutQuotingTheKey) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("hmac-bad-b64");
  ASSERT_TRUE(opened.ok()) << opened.status();
  const std::string standard_base64 = "abc+def/ghi+jkl/mno+pqr/stu+vwx/yz01+234/5678+";
  EXPECT_THAT(opened->token->ImportHmacKey("pkcs11:object=eab-key", Secret(standard_base64)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("not valid base64url"), Not(HasSubstr("abc+def")))));
  EXPECT_THAT(opened->token->ImportHmacKey("pkcs11:object=eab-key", Secret("")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid base64url")));
}

TEST(MacSignerTest, DuplicateImportIsRefused) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("hmac-dup");
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_TRUE(
      opened->token->ImportHmacKey("pkcs11:object=eab-key", Secret(absl::WebSafeBase64Escape(kKey)))
          .ok());
  EXPECT_THAT(opened->token->ImportHmacKey("pkcs11:object=eab-key",
                                           Secret(absl::WebSafeBase64Escape(kKey))),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("refusing to overwrite")));
}

TEST(MacSignerTest, GeneratedHmacKeyIsA256BitSensitiveNonExtractableSignOnlyTokenKey) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("hmac-generated");
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto mac = opened->token->GenerateHmacKey("pkcs11:object=generated-mac");
  ASSERT_TRUE(mac.ok()) << mac.status();
  EXPECT_EQ((*mac)->Algorithm(), "HS256");
  auto tag = (*mac)->Sign("data");
  ASSERT_TRUE(tag.ok()) << tag.status();
  EXPECT_EQ(tag->size(), 32u);
  // Deterministic, and the same key when opened again by URI.
  auto reopened = opened->token->OpenHmacKey("pkcs11:object=generated-mac;type=secret-key");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(*(*reopened)->Sign("data"), *tag);
  EXPECT_NE(*(*reopened)->Sign("datb"), *tag);
  // A second key with the same label is refused.
  EXPECT_THAT(opened->token->GenerateHmacKey("pkcs11:object=generated-mac"),
              StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));

  CK_FUNCTION_LIST* f = opened->module->functions();
  CK_SESSION_HANDLE session;
  ASSERT_EQ(f->C_OpenSession(opened->token->slot(), CKF_SERIAL_SESSION, nullptr, nullptr, &session),
            CKR_OK);
  char label[] = "generated-mac";
  CK_ATTRIBUTE find[] = {{CKA_LABEL, label, sizeof(label) - 1}};
  CK_OBJECT_HANDLE key;
  CK_ULONG count = 0;
  ASSERT_EQ(f->C_FindObjectsInit(session, find, 1), CKR_OK);
  ASSERT_EQ(f->C_FindObjects(session, &key, 1, &count), CKR_OK);
  ASSERT_EQ(f->C_FindObjectsFinal(session), CKR_OK);
  ASSERT_EQ(count, 1u);
  CK_OBJECT_CLASS object_class;
  CK_KEY_TYPE key_type;
  CK_ULONG value_len = 0;
  CK_BBOOL sensitive, extractable, sign, verify, encrypt, decrypt, derive, wrap, unwrap, token,
      is_private, local;
  CK_ATTRIBUTE attrs[] = {{CKA_CLASS, &object_class, sizeof(object_class)},
                          {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
                          {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
                          {CKA_SENSITIVE, &sensitive, 1},
                          {CKA_EXTRACTABLE, &extractable, 1},
                          {CKA_SIGN, &sign, 1},
                          {CKA_VERIFY, &verify, 1},
                          {CKA_ENCRYPT, &encrypt, 1},
                          {CKA_DECRYPT, &decrypt, 1},
                          {CKA_DERIVE, &derive, 1},
                          {CKA_WRAP, &wrap, 1},
                          {CKA_UNWRAP, &unwrap, 1},
                          {CKA_TOKEN, &token, 1},
                          {CKA_PRIVATE, &is_private, 1},
                          {CKA_LOCAL, &local, 1}};
  ASSERT_EQ(f->C_GetAttributeValue(session, key, attrs, std::size(attrs)), CKR_OK);
  EXPECT_EQ(object_class, CKO_SECRET_KEY);
  EXPECT_EQ(key_type, CKK_GENERIC_SECRET);
  EXPECT_EQ(value_len, 32u);
  EXPECT_EQ(sensitive, CK_TRUE);
  EXPECT_EQ(extractable, CK_FALSE);
  EXPECT_EQ(sign, CK_TRUE);
  EXPECT_EQ(verify, CK_FALSE);
  EXPECT_EQ(encrypt, CK_FALSE);
  EXPECT_EQ(decrypt, CK_FALSE);
  EXPECT_EQ(derive, CK_FALSE);
  EXPECT_EQ(wrap, CK_FALSE);
  EXPECT_EQ(unwrap, CK_FALSE);
  EXPECT_EQ(token, CK_TRUE);
  EXPECT_EQ(is_private, CK_TRUE);
  EXPECT_EQ(local, CK_TRUE);  // generated in the token, never imported
  unsigned char value[64];
  CK_ATTRIBUTE value_attr = {CKA_VALUE, value, sizeof(value)};
  EXPECT_EQ(f->C_GetAttributeValue(session, key, &value_attr, 1), CKR_ATTRIBUTE_SENSITIVE);
  f->C_CloseSession(session);
}

}  // namespace
}  // namespace acme_signer::hsm
