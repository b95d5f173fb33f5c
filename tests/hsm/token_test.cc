#include "hsm/token.h"

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/ck_status.h"
#include "tests/hsm/hsm_test_util.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer::hsm {
namespace {

using ::acme_signer::hsm::testing::IsOkAndHolds;
using ::acme_signer::hsm::testing::OpenFreshToken;
using ::acme_signer::hsm::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// A raw PKCS#11 session on the test token, to inspect what Token created. Login state is per
// token and application, so it sees the private objects of the logged-in Token.
class RawSession {
 public:
  RawSession(const std::shared_ptr<Module>& module, CK_SLOT_ID slot) : f_(module->functions()) {
    EXPECT_EQ(
        f_->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session_),
        CKR_OK);
  }
  ~RawSession() { f_->C_CloseSession(session_); }

  CK_OBJECT_HANDLE Find(const std::string& label, CK_OBJECT_CLASS object_class) {
    CK_ATTRIBUTE tmpl[] = {{CKA_LABEL, const_cast<char*>(label.data()), label.size()},
                           {CKA_CLASS, &object_class, sizeof(object_class)}};
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
    CK_ULONG count = 0;
    EXPECT_EQ(f_->C_FindObjectsInit(session_, tmpl, 2), CKR_OK);
    EXPECT_EQ(f_->C_FindObjects(session_, &handle, 1, &count), CKR_OK);
    EXPECT_EQ(f_->C_FindObjectsFinal(session_), CKR_OK);
    EXPECT_EQ(count, 1u) << label;
    return handle;
  }
  bool Bool(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
    CK_BBOOL value = CK_FALSE;
    CK_ATTRIBUTE attr = {type, &value, sizeof(value)};
    EXPECT_EQ(f_->C_GetAttributeValue(session_, object, &attr, 1), CKR_OK) << type;
    return value == CK_TRUE;
  }
  CK_RV Read(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
    unsigned char buffer[1024];
    CK_ATTRIBUTE attr = {type, buffer, sizeof(buffer)};
    return f_->C_GetAttributeValue(session_, object, &attr, 1);
  }
  std::string Bytes(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
    char buffer[256];
    CK_ATTRIBUTE attr = {type, buffer, sizeof(buffer)};
    EXPECT_EQ(f_->C_GetAttributeValue(session_, object, &attr, 1), CKR_OK);
    return std::string(buffer, attr.ulValueLen);
  }
  CK_FUNCTION_LIST* f() { return f_; }
  CK_SESSION_HANDLE session() { return session_; }

 private:
  CK_FUNCTION_LIST* f_;
  CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
};

class TokenKeyTypeTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(TokenKeyTypeTest, GeneratedKeyIsSensitiveNonExtractableAndSignOnly) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  const KeyType type = GetParam();
  auto opened = OpenFreshToken(absl::StrCat("gen-", KeyTypeName(type)));
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto signer = opened->token->GenerateSigningKey("pkcs11:object=account-key;id=%01%02", type);
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ((*signer)->Algorithm(), JwsAlgorithm(type));

  RawSession raw(opened->module, opened->token->slot());
  CK_OBJECT_HANDLE key = raw.Find("account-key", CKO_PRIVATE_KEY);
  EXPECT_TRUE(raw.Bool(key, CKA_TOKEN));
  EXPECT_TRUE(raw.Bool(key, CKA_PRIVATE));
  EXPECT_TRUE(raw.Bool(key, CKA_SENSITIVE));
  EXPECT_FALSE(raw.Bool(key, CKA_EXTRACTABLE));
  EXPECT_TRUE(raw.Bool(key, CKA_NEVER_EXTRACTABLE));
  EXPECT_TRUE(raw.Bool(key, CKA_ALWAYS_SENSITIVE));
  EXPECT_TRUE(raw.Bool(key, CKA_SIGN));
  EXPECT_FALSE(raw.Bool(key, CKA_DECRYPT));
  EXPECT_FALSE(raw.Bool(key, CKA_UNWRAP));
  EXPECT_FALSE(raw.Bool(key, CKA_DERIVE));
  EXPECT_EQ(raw.Bytes(key, CKA_ID), std::string("\x01\x02", 2));
  // The private value cannot be read out.
  const bool ec = type == KeyType::kEcP256 || type == KeyType::kEcP384;
  EXPECT_EQ(raw.Read(key, ec ? CKA_VALUE : CKA_PRIVATE_EXPONENT), CKR_ATTRIBUTE_SENSITIVE);
  if (!ec) {
    EXPECT_EQ(raw.Read(key, CKA_PRIME_1), CKR_ATTRIBUTE_SENSITIVE);
  }

  CK_OBJECT_HANDLE pub = raw.Find("account-key", CKO_PUBLIC_KEY);
  EXPECT_TRUE(raw.Bool(pub, CKA_VERIFY));
  EXPECT_TRUE(raw.Bool(pub, CKA_TOKEN));
}

INSTANTIATE_TEST_SUITE_P(AllKeyTypes, TokenKeyTypeTest,
                         ::testing::Values(KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048,
                                           KeyType::kRsa3072, KeyType::kRsa4096),
                         [](const auto& info) {
                           std::string name = KeyTypeName(info.param);
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

TEST(TokenTest, OpenedKeyHasTheSamePublicKeyAsTheGeneratedOne) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("reopen");
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto generated = opened->token->GenerateSigningKey("pkcs11:object=k", KeyType::kEcP256);
  ASSERT_TRUE(generated.ok()) << generated.status();
  auto reopened = opened->token->OpenSigningKey("pkcs11:object=k;type=private");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->PublicJwk(), (*generated)->PublicJwk());
  EXPECT_EQ((*reopened)->PublicKeyDer(), (*generated)->PublicKeyDer());
}

TEST(TokenTest, RefusesToOverwriteAnExistingObject) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("duplicate");
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_TRUE(opened->token->GenerateSigningKey("pkcs11:object=k;id=%07", KeyType::kEcP256).ok());
  EXPECT_THAT(opened->token->GenerateSigningKey("pkcs11:object=k", KeyType::kEcP384),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       AllOf(HasSubstr("pkcs11:object=k"), HasSubstr("refusing to overwrite"))));
  // Same id under another label would make id= URIs ambiguous.
  EXPECT_THAT(opened->token->GenerateSigningKey("pkcs11:object=other;id=%07", KeyType::kEcP256),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("refusing to overwrite")));
}

TEST(TokenTest, HasObjectTellsWhetherAnObjectExists) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("has-object");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_THAT(opened->token->HasObject("pkcs11:object=k"), IsOkAndHolds(false));
  ASSERT_TRUE(opened->token->GenerateSigningKey("pkcs11:object=k", KeyType::kEcP256).ok());
  EXPECT_THAT(opened->token->HasObject("pkcs11:object=k"), IsOkAndHolds(true));
  EXPECT_THAT(opened->token->HasObject("pkcs11:object=k;type=public"), IsOkAndHolds(true));
  EXPECT_THAT(opened->token->HasObject("pkcs11:object=k;type=secret-key"), IsOkAndHolds(false));
}

// Account key rollover (signer/account_rollover.h): relabel both objects of a pair, disable
// signing, destroy.
TEST(TokenTest, RelabelDisableAndDestroyKeyPairs) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("relabel");
  ASSERT_TRUE(opened.ok()) << opened.status();
  hsm::Token& token = *opened->token;
  auto old_key = token.GenerateSigningKey("pkcs11:object=acct", KeyType::kEcP256);
  ASSERT_TRUE(old_key.ok()) << old_key.status();
  auto new_key = token.GenerateSigningKey("pkcs11:object=acct.next", KeyType::kEcP256);
  ASSERT_TRUE(new_key.ok()) << new_key.status();
  // A label in use is refused unless joining (finishing an interrupted relabel).
  EXPECT_THAT(token.RelabelObjects("pkcs11:object=acct", "acct.next"),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("acct.next")));
  EXPECT_THAT(token.RelabelObjects("pkcs11:object=acct;id=%01", "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("object= only")));
  EXPECT_THAT(token.RelabelObjects("pkcs11:object=acct", "acct.retired"), IsOkAndHolds(2));
  EXPECT_THAT(token.RelabelObjects("pkcs11:object=acct.next", "acct"), IsOkAndHolds(2));
  EXPECT_THAT(token.RelabelObjects("pkcs11:object=acct.next", "acct", true), IsOkAndHolds(0));
  auto current = token.OpenSigningKey("pkcs11:object=acct");
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ((*current)->PublicJwk(), (*new_key)->PublicJwk());
  auto retired = token.OpenSigningKey("pkcs11:object=acct.retired");
  ASSERT_TRUE(retired.ok()) << retired.status();
  EXPECT_EQ((*retired)->PublicJwk(), (*old_key)->PublicJwk());
  // SoftHSM2 lets CKA_SIGN be cleared: the retired key can sign nothing any more.
  EXPECT_THAT(token.DisableSigning("pkcs11:object=acct.retired"), IsOkAndHolds(1));
  EXPECT_FALSE(token.OpenSigningKey("pkcs11:object=acct.retired").ok());
  EXPECT_THAT(token.DestroyObjects("pkcs11:object=acct.retired"), IsOkAndHolds(2));
  EXPECT_THAT(token.HasObject("pkcs11:object=acct.retired"), IsOkAndHolds(false));
  EXPECT_THAT(token.DestroyObjects("pkcs11:object=acct.retired"), IsOkAndHolds(0));
  EXPECT_TRUE((*current)->Sign("still signs").ok());
}

TEST(TokenTest, MissingKeyIsNotFoundNamingTheUri) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("missing-key");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_THAT(opened->token->OpenSigningKey("pkcs11:object=nope"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("pkcs11:object=nope")));
  EXPECT_THAT(opened->token->OpenHmacKey("pkcs11:object=nope"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("pkcs11:object=nope")));
}

TEST(TokenTest, ObjectUriMayNameTheOpenTokenButNoOther) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("object-token");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(
      opened->token->GenerateSigningKey("pkcs11:token=object-token;object=k", KeyType::kEcP256)
          .ok());
  EXPECT_THAT(
      opened->token->OpenSigningKey("pkcs11:token=another;object=k"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("pkcs11:token=another;object=k"), HasSubstr("another token"))));
}

TEST(TokenTest, MalformedOrUnfitObjectUrisAreInvalidArgument) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("bad-object-uri");
  ASSERT_TRUE(opened.ok()) << opened.status();
  Token& token = *opened->token;
  EXPECT_THAT(token.GenerateSigningKey("object=k", KeyType::kEcP256),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed PKCS#11 URI")));
  EXPECT_THAT(token.GenerateSigningKey("pkcs11:id=%01", KeyType::kEcP256),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has no object=")));
  EXPECT_THAT(token.GenerateSigningKey("pkcs11:object=k;type=secret-key", KeyType::kEcP256),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected type=private")));
  EXPECT_THAT(token.OpenSigningKey("pkcs11:token=bad-object-uri"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("names no object")));
}

TEST(TokenTest, RefusesAnExtractableKeyMadeOutsideAcmeSigner) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("extractable");
  ASSERT_TRUE(opened.ok()) << opened.status();
  RawSession raw(opened->module, opened->token->slot());
  CK_MECHANISM mechanism = {CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  unsigned char p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  char label[] = "loose";
  CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &yes, 1},
                        {CKA_EC_PARAMS, p256, sizeof(p256)},
                        {CKA_LABEL, label, 5},
                        {CKA_VERIFY, &yes, 1}};
  CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, 1},    {CKA_PRIVATE, &yes, 1},
                         {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1},
                         {CKA_SIGN, &yes, 1},     {CKA_LABEL, label, 5}};
  CK_OBJECT_HANDLE pub_handle, priv_handle;
  ASSERT_EQ(raw.f()->C_GenerateKeyPair(raw.session(), &mechanism, pub, 4, priv, 6, &pub_handle,
                                       &priv_handle),
            CKR_OK);
  EXPECT_THAT(opened->token->OpenSigningKey("pkcs11:object=loose"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("could leave the token")));
}

// --- Opening tokens: PINs and token URIs. ---

TEST(TokenOpenTest, WrongPinIsPermissionDeniedAtOnceWithoutRetry) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto info = acme_signer::testing::CreateSoftHsmToken("wrong-pin");
  ASSERT_TRUE(info.ok()) << info.status();
  auto dir = acme_signer::testing::SoftHsmDir();
  ASSERT_TRUE(dir.ok());
  const std::string wrong_pin_file = *dir + "/wrong.pin";
  ASSERT_TRUE(WriteFileAtomically(wrong_pin_file, "not-the-pin-9876", 0600).ok());
  auto module = Module::Load(acme_signer::testing::kSoftHsmModule);
  ASSERT_TRUE(module.ok()) << module.status();

  Token::Options options;
  options.max_retries = 5;
  EXPECT_THAT(Token::Open(*module, info->uri, wrong_pin_file, options),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("PIN rejected by token wrong-pin; not retried to avoid "
                                       "lock-out"),
                             HasSubstr("CKR_PIN_INCORRECT"),
                             HasSubstr("check the PIN file " + wrong_pin_file),
                             Not(HasSubstr("not-the-pin")))));
  // One failed attempt only: SoftHSM2 flags a low count but the right PIN still works.
  CK_TOKEN_INFO token_info;
  auto slots = (*module)->SlotsWithToken();
  ASSERT_TRUE(slots.ok());
  for (CK_SLOT_ID slot : *slots) {
    ASSERT_EQ((*module)->functions()->C_GetTokenInfo(slot, &token_info), CKR_OK);
    if (std::string(reinterpret_cast<char*>(token_info.label), 9) == "wrong-pin") {
      EXPECT_EQ(token_info.flags & CKF_USER_PIN_LOCKED, 0u);
    }
  }
  EXPECT_TRUE(Token::Open(*module, info->uri, info->pin_file).ok());
}

TEST(TokenOpenTest, PinComesFromTheUriPinSource) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto info = acme_signer::testing::CreateSoftHsmToken("pin-source");
  ASSERT_TRUE(info.ok()) << info.status();
  auto module = Module::Load(acme_signer::testing::kSoftHsmModule);
  ASSERT_TRUE(module.ok()) << module.status();
  for (const std::string& uri : {absl::StrCat(info->uri, "?pin-source=file:", info->pin_file),
                                 absl::StrCat(info->uri, "?pin-source=file://", info->pin_file),
                                 absl::StrCat(info->uri, "?pin-source=", info->pin_file)}) {
    auto token = Token::Open(*module, uri, std::nullopt);
    EXPECT_TRUE(token.ok()) << uri << ": " << token.status();
  }
}

TEST(TokenOpenTest, WithoutPinFileOrPinSourceIsInvalidArgument) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto info = acme_signer::testing::CreateSoftHsmToken("no-pin");
  ASSERT_TRUE(info.ok()) << info.status();
  auto module = Module::Load(acme_signer::testing::kSoftHsmModule);
  ASSERT_TRUE(module.ok()) << module.status();
  EXPECT_THAT(Token::Open(*module, info->uri, std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("no PIN"), HasSubstr("pin-source=file:"))));
}

TEST(TokenOpenTest, PinFileReadableByOthersIsRefused) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto info = acme_signer::testing::CreateSoftHsmToken("loose-pin-file");
  ASSERT_TRUE(info.ok()) << info.status();
  auto pin = ReadFile(info->pin_file);
  ASSERT_TRUE(pin.ok());
  const std::string loose = info->pin_file + ".0644";
  ASSERT_TRUE(WriteFileAtomically(loose, *pin, 0644).ok());
  auto module = Module::Load(acme_signer::testing::kSoftHsmModule);
  ASSERT_TRUE(module.ok()) << module.status();
  EXPECT_THAT(Token::Open(*module, info->uri, loose),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr(loose), HasSubstr("chmod 600"))));
}

TEST(TokenOpenTest, MissingPinFileIsNotFound) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto info = acme_signer::testing::CreateSoftHsmToken("missing-pin-file");
  ASSERT_TRUE(info.ok()) << info.status();
  auto module = Module::Load(acme_signer::testing::kSoftHsmModule);
  ASSERT_TRUE(module.ok()) << module.status();
  EXPECT_THAT(Token::Open(*module, info->uri, std::string("/nonexistent/hsm.pin")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/hsm.pin")));
}

TEST(TokenOpenTest, MissingTokenIsNotFoundAndListsTokensPresent) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto info = acme_signer::testing::CreateSoftHsmToken("present");
  ASSERT_TRUE(info.ok()) << info.status();
  auto module = Module::Load(acme_signer::testing::kSoftHsmModule);
  ASSERT_TRUE(module.ok()) << module.status();
  EXPECT_THAT(Token::Open(*module, "pkcs11:token=absent", info->pin_file),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("no token matches 'pkcs11:token=absent'"),
                             HasSubstr("pkcs11:token=present"))));
}

TEST(TokenOpenTest, MalformedTokenUriIsInvalidArgument) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto module = Module::Load(acme_signer::testing::kSoftHsmModule);
  ASSERT_TRUE(module.ok()) << module.status();
  EXPECT_THAT(Token::Open(*module, "pkcs11:token=%", std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed PKCS#11 URI")));
  EXPECT_THAT(Token::Open(*module, "pkcs11:token=x;object=account-key", std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("names an object")));
  EXPECT_THAT(Token::Open(*module, "pkcs11:token=x?pin-value=1234", std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("pin-value"), Not(HasSubstr("1234")))));
}

}  // namespace
}  // namespace acme_signer::hsm
