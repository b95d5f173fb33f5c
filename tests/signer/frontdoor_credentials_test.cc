// The front-door EAB master key and the per-credential HMAC key derivation, against SoftHSM2.
#include <openssl/hmac.h>
#include <p11-kit/pkcs11.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "common/base64url.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/module.h"
#include "hsm/token.h"
#include "signer/frontdoor/credentials.h"
#include "tests/testing/softhsm_token.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer::frontdoor {
namespace {

using ::acme_signer::testing::StatusIs;
using ::testing::HasSubstr;

// Two tokens, created before the module is loaded (tests/testing/softhsm_token.h).
class FrontDoorCredentialsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!::acme_signer::testing::SoftHsmAvailable().ok()) return;
    auto a = ::acme_signer::testing::CreateSoftHsmToken("fd-cred-a");
    auto b = ::acme_signer::testing::CreateSoftHsmToken("fd-cred-b");
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    auto module = hsm::Module::Load(::acme_signer::testing::kSoftHsmModule);
    ASSERT_TRUE(module.ok()) << module.status();
    module_ = new std::shared_ptr<hsm::Module>(*module);
    auto ta = hsm::Token::Open(*module_, a->uri, a->pin_file);
    auto tb = hsm::Token::Open(*module_, b->uri, b->pin_file);
    ASSERT_TRUE(ta.ok()) << ta.status();
    ASSERT_TRUE(tb.ok()) << tb.status();
    token_a_ = new std::shared_ptr<hsm::Token>(*ta);
    token_b_ = new std::shared_ptr<hsm::Token>(*tb);
  }
  static void TearDownTestSuite() {
    delete token_a_;
    delete token_b_;
    delete module_;
    token_a_ = token_b_ = nullptr;
    module_ = nullptr;
  }
  void SetUp() override {
    ACME_SIGNER_REQUIRE_SOFTHSM();
    ASSERT_NE(token_a_, nullptr);
  }

  static std::shared_ptr<hsm::Module>* module_;
  static std::shared_ptr<hsm::Token>* token_a_;
  static std::shared_ptr<hsm::Token>* token_b_;
};

std::shared_ptr<hsm::Module>* FrontDoorCredentialsTest::module_ = nullptr;
std::shared_ptr<hsm::Token>* FrontDoorCredentialsTest::token_a_ = nullptr;
std::shared_ptr<hsm::Token>* FrontDoorCredentialsTest::token_b_ = nullptr;

TEST_F(FrontDoorCredentialsTest, MasterKeyIsCreatedOnceThenFound) {
  hsm::Token& token = **token_a_;
  bool created = false;
  auto master = OpenOrCreateEabMasterKey(token, &created);
  ASSERT_TRUE(master.ok()) << master.status();
  // Created by this test or by an earlier one in this suite; either way the next call finds it.
  auto again = OpenOrCreateEabMasterKey(token, &created);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(created);
  EXPECT_TRUE(OpenEabMasterKey(token).ok());
  auto one = DeriveEabHmacKey(**master, "a-kid");
  auto two = DeriveEabHmacKey(**again, "a-kid");
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_EQ(one->reveal(), two->reveal());
}

TEST_F(FrontDoorCredentialsTest, MasterKeyIsSensitiveAndItsValueCannotBeRead) {
  hsm::Token& token = **token_a_;
  ASSERT_TRUE(OpenOrCreateEabMasterKey(token).ok());
  CK_FUNCTION_LIST* f = (*module_)->functions();
  CK_SESSION_HANDLE session;
  ASSERT_EQ(f->C_OpenSession(token.slot(), CKF_SERIAL_SESSION, nullptr, nullptr, &session), CKR_OK);
  std::string label(kEabMasterKeyLabel);
  CK_ATTRIBUTE find[] = {{CKA_LABEL, label.data(), label.size()}};
  CK_OBJECT_HANDLE key;
  CK_ULONG count = 0;
  ASSERT_EQ(f->C_FindObjectsInit(session, find, 1), CKR_OK);
  ASSERT_EQ(f->C_FindObjects(session, &key, 1, &count), CKR_OK);
  ASSERT_EQ(f->C_FindObjectsFinal(session), CKR_OK);
  ASSERT_EQ(count, 1u);
  CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, sign = CK_FALSE, derive = CK_TRUE;
  CK_KEY_TYPE key_type = 0;
  CK_ATTRIBUTE attrs[] = {{CKA_SENSITIVE, &sensitive, 1},
                          {CKA_EXTRACTABLE, &extractable, 1},
                          {CKA_SIGN, &sign, 1},
                          {CKA_DERIVE, &derive, 1},
                          {CKA_KEY_TYPE, &key_type, sizeof(key_type)}};
  ASSERT_EQ(f->C_GetAttributeValue(session, key, attrs, std::size(attrs)), CKR_OK);
  EXPECT_EQ(sensitive, CK_TRUE);
  EXPECT_EQ(extractable, CK_FALSE);
  EXPECT_EQ(sign, CK_TRUE);
  EXPECT_EQ(derive, CK_FALSE);
  EXPECT_EQ(key_type, CKK_GENERIC_SECRET);
  unsigned char value[64];
  CK_ATTRIBUTE value_attr = {CKA_VALUE, value, sizeof(value)};
  EXPECT_EQ(f->C_GetAttributeValue(session, key, &value_attr, 1), CKR_ATTRIBUTE_SENSITIVE);
  f->C_CloseSession(session);
}

TEST_F(FrontDoorCredentialsTest, DerivationIsDeterministicPerKidAndDiffersAcrossKidsAndTokens) {
  auto master_a = OpenOrCreateEabMasterKey(**token_a_);
  auto master_b = OpenOrCreateEabMasterKey(**token_b_);
  ASSERT_TRUE(master_a.ok()) << master_a.status();
  ASSERT_TRUE(master_b.ok()) << master_b.status();
  auto k1 = DeriveEabHmacKey(**master_a, "kid-one");
  auto k1_again = DeriveEabHmacKey(**master_a, "kid-one");
  auto k2 = DeriveEabHmacKey(**master_a, "kid-two");
  auto k1_other_token = DeriveEabHmacKey(**master_b, "kid-one");
  ASSERT_TRUE(k1.ok() && k1_again.ok() && k2.ok() && k1_other_token.ok());
  EXPECT_EQ(k1->size(), 32u);
  EXPECT_EQ(k1->reveal(), k1_again->reveal());
  EXPECT_NE(k1->reveal(), k2->reveal());
  EXPECT_NE(k1->reveal(), k1_other_token->reveal());
  // It is the token's HMAC over the documented input.
  std::string input(kEabDerivationLabel);
  input.push_back('\0');
  input += "kid-one";
  auto direct = (*master_a)->Sign(input);
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(*direct, k1->reveal());
}

TEST_F(FrontDoorCredentialsTest, KidsThatAreNotBase64UrlAreRefused) {
  auto master = OpenOrCreateEabMasterKey(**token_a_);
  ASSERT_TRUE(master.ok()) << master.status();
  for (const std::string& kid : {std::string(""), std::string("a b"), std::string("a\nb"),
                                 std::string("kid/1"), std::string(129, 'a')}) {
    EXPECT_THAT(DeriveEabHmacKey(**master, kid),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("base64url")));
  }
}

TEST_F(FrontDoorCredentialsTest, IssueRecordsTheKidAndReturnsItsDerivedKey) {
  auto master = OpenOrCreateEabMasterKey(**token_a_);
  ASSERT_TRUE(master.ok()) << master.status();
  char tmpl[] = "/tmp/fd_credentials_test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  {
    auto store = StateStore::Open(dir + "/signer.db");
    ASSERT_TRUE(store.ok()) << store.status();
    AcmeServerConfig server;
    server.external_url = "https://signer.test:8443/acme";
    auto first = IssueCredential(server, **master, **store, "web1", "default");
    auto second = IssueCredential(server, **master, **store, "web1", "research");
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_EQ(first->directory_url, "https://signer.test:8443/acme/directory");
    EXPECT_NE(first->kid, second->kid);
    EXPECT_TRUE(IsBase64Url(first->kid));
    EXPECT_EQ(first->kid.size(), 22u);  // 16 random bytes
    EXPECT_NE(first->hmac_key.reveal(), second->hmac_key.reveal());
    auto rederived = DeriveEabHmacKey(**master, first->kid);
    ASSERT_TRUE(rederived.ok());
    EXPECT_EQ(rederived->reveal(), first->hmac_key.reveal());
    auto listed = (*store)->ListFrontDoorCredentials("web1");
    ASSERT_TRUE(listed.ok()) << listed.status();
    ASSERT_EQ(listed->size(), 2u);
    auto first_row = (*store)->FindFrontDoorCredential(first->kid);
    auto second_row = (*store)->FindFrontDoorCredential(second->kid);
    ASSERT_TRUE(first_row.ok() && first_row->has_value());
    ASSERT_TRUE(second_row.ok() && second_row->has_value());
    EXPECT_EQ((*first_row)->account, "default");
    EXPECT_EQ((*second_row)->account, "research");
  }
  std::filesystem::remove_all(dir);
}

TEST(FrontDoorDirectoryUrlTest, IsExternalUrlPlusDirectory) {
  AcmeServerConfig server;
  server.external_url = "https://signer.test:8443";
  EXPECT_EQ(DirectoryUrl(server), "https://signer.test:8443/directory");
  server.external_url = "https://signer.test/acme/";
  EXPECT_EQ(DirectoryUrl(server), "https://signer.test/acme/directory");
}

}  // namespace
}  // namespace acme_signer::signer::frontdoor
