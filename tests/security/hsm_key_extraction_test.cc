// The HSM keeps its promise: on a token prepared the way `acme-signer init` prepares it
// (account key, audit key and agent CA key generated in the token, the EAB HMAC key imported),
// no key can be read out, not with pkcs11-tool, not with C_GetAttributeValue, and not wrapped
// under a wrapping key an attacker with the PIN creates in the same token.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/secret.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/ck_status.h"
#include "hsm/key_type.h"
#include "hsm/module.h"
#include "hsm/token.h"
#include "signer/frontdoor/credentials.h"
#include "tests/testing/softhsm_token.h"

extern char** environ;

namespace acme_signer::security {
namespace {

using ::testing::AnyOf;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSoftHsmLibrary[] = "/usr/lib/softhsm/libsofthsm2.so";

// The keys as `acme-signer init` names them (signer/config.h defaults).
struct KeyObject {
  const char* label;
  CK_OBJECT_CLASS object_class;
  const char* pkcs11_tool_type;
  bool generated_in_token;  // C_GenerateKey(Pair), as opposed to imported (C_CreateObject)
};
constexpr KeyObject kKeys[] = {
    {"acme-account", CKO_PRIVATE_KEY, "privkey", true},
    {"audit-key", CKO_PRIVATE_KEY, "privkey", true},
    {"agent-ca", CKO_PRIVATE_KEY, "privkey", true},
    {"eab-hmac", CKO_SECRET_KEY, "secrkey", false},
    // The front door's EAB master key (signer/frontdoor/credentials.h).
    {"acme-signer-frontdoor-eab-master", CKO_SECRET_KEY, "secrkey", true},
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs argv (no shell) with stdout+stderr to a temp file.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& output_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  CommandResult result;
  const int spawned = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    result.output = absl::StrCat("cannot start ", argv[0], ": ", strerror(spawned));
    return result;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(output_path);
  std::stringstream text;
  text << in.rdbuf();
  result.output = text.str();
  return result;
}

class HsmKeyExtractionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::SoftHsmAvailable().ok()) return;
    auto token = testing::CreateSoftHsmToken("extraction");
    ASSERT_TRUE(token.ok()) << token.status();
    token_info_ = new testing::SoftHsmToken(*token);
    auto module = hsm::Module::Load(testing::kSoftHsmModule);
    ASSERT_TRUE(module.ok()) << module.status();
    auto opened = hsm::Token::Open(*module, token->uri, token->pin_file);
    ASSERT_TRUE(opened.ok()) << opened.status();
    token_ = new std::shared_ptr<hsm::Token>(*opened);
    for (const char* label : {"acme-account", "audit-key", "agent-ca"}) {
      auto key = (*opened)->GenerateSigningKey(absl::StrCat("pkcs11:object=", label),
                                               hsm::KeyType::kEcP256);
      ASSERT_TRUE(key.ok()) << key.status();
    }
    auto mac = (*opened)->ImportHmacKey(
        "pkcs11:object=eab-hmac",
        Secret(absl::WebSafeBase64Escape("0123456789abcdef0123456789abcdef")));
    ASSERT_TRUE(mac.ok()) << mac.status();
    auto master = signer::frontdoor::OpenOrCreateEabMasterKey(**opened);
    ASSERT_TRUE(master.ok()) << master.status();
  }

  static void TearDownTestSuite() {
    delete token_;
    token_ = nullptr;
    delete token_info_;
    token_info_ = nullptr;
  }

  void SetUp() override {
    ACME_SIGNER_REQUIRE_SOFTHSM();
    ASSERT_NE(token_, nullptr);
    fn_ = (*token_)->module()->functions();
    ASSERT_EQ(fn_->C_OpenSession((*token_)->slot(), CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                                 nullptr, &session_),
              CKR_OK);
    // The Token already logged the application in; a session shares that login.
    auto pin = ReadSecretFile(token_info_->pin_file);
    ASSERT_TRUE(pin.ok()) << pin.status();
    std::string pin_text(pin->reveal());
    const CK_RV login = fn_->C_Login(
        session_, CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(pin_text.data()), pin_text.size());
    ASSERT_THAT(login, AnyOf(Eq(CK_RV{CKR_OK}), Eq(CK_RV{CKR_USER_ALREADY_LOGGED_IN})));
  }

  void TearDown() override {
    if (fn_ != nullptr && session_ != CK_INVALID_HANDLE) fn_->C_CloseSession(session_);
  }

  CK_OBJECT_HANDLE Find(const KeyObject& key) {
    CK_OBJECT_CLASS object_class = key.object_class;
    std::string label = key.label;
    CK_ATTRIBUTE query[] = {{CKA_CLASS, &object_class, sizeof(object_class)},
                            {CKA_LABEL, label.data(), label.size()}};
    CK_OBJECT_HANDLE handles[2];
    CK_ULONG count = 0;
    EXPECT_EQ(fn_->C_FindObjectsInit(session_, query, 2), CKR_OK);
    EXPECT_EQ(fn_->C_FindObjects(session_, handles, 2, &count), CKR_OK);
    EXPECT_EQ(fn_->C_FindObjectsFinal(session_), CKR_OK);
    EXPECT_EQ(count, 1u) << key.label;
    return count == 1 ? handles[0] : CK_INVALID_HANDLE;
  }

  // A session AES-256 key allowed to wrap, as an attacker holding the PIN would make.
  CK_OBJECT_HANDLE MakeAesWrappingKey() {
    CK_MECHANISM mechanism{CKM_AES_KEY_GEN, nullptr, 0};
    CK_ULONG length = 32;
    CK_BBOOL yes = CK_TRUE;
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE tmpl[] = {{CKA_VALUE_LEN, &length, sizeof(length)},
                           {CKA_WRAP, &yes, sizeof(yes)},
                           {CKA_TOKEN, &no, sizeof(no)}};
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
    EXPECT_EQ(fn_->C_GenerateKey(session_, &mechanism, tmpl, 3, &key), CKR_OK);
    return key;
  }

  // A session RSA-2048 public key allowed to wrap.
  CK_OBJECT_HANDLE MakeRsaWrappingKey() {
    CK_MECHANISM mechanism{CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
    CK_ULONG bits = 2048;
    CK_BYTE exponent[] = {0x01, 0x00, 0x01};
    CK_BBOOL yes = CK_TRUE;
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE public_tmpl[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)},
                                  {CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent)},
                                  {CKA_WRAP, &yes, sizeof(yes)},
                                  {CKA_TOKEN, &no, sizeof(no)}};
    CK_ATTRIBUTE private_tmpl[] = {{CKA_UNWRAP, &yes, sizeof(yes)}, {CKA_TOKEN, &no, sizeof(no)}};
    CK_OBJECT_HANDLE public_key = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE private_key = CK_INVALID_HANDLE;
    EXPECT_EQ(fn_->C_GenerateKeyPair(session_, &mechanism, public_tmpl, 4, private_tmpl, 2,
                                     &public_key, &private_key),
              CKR_OK);
    return public_key;
  }

  CK_RV Wrap(CK_MECHANISM_TYPE type, CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key,
             CK_ULONG* length) {
    CK_RSA_PKCS_OAEP_PARAMS oaep{CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, nullptr, 0};
    CK_MECHANISM mechanism{type, nullptr, 0};
    if (type == CKM_RSA_PKCS_OAEP) {
      mechanism.pParameter = &oaep;
      mechanism.ulParameterLen = sizeof(oaep);
    }
    *length = 0;
    return fn_->C_WrapKey(session_, &mechanism, wrapping_key, key, nullptr, length);
  }

  std::string TempPath(absl::string_view name) {
    auto dir = testing::SoftHsmDir();
    EXPECT_TRUE(dir.ok()) << dir.status();
    return absl::StrCat(*dir, "/", name);
  }

  static testing::SoftHsmToken* token_info_;
  static std::shared_ptr<hsm::Token>* token_;
  CK_FUNCTION_LIST* fn_ = nullptr;
  CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
};

testing::SoftHsmToken* HsmKeyExtractionTest::token_info_ = nullptr;
std::shared_ptr<hsm::Token>* HsmKeyExtractionTest::token_ = nullptr;

TEST_F(HsmKeyExtractionTest, KeysAreSensitiveAndWereNeverExtractable) {
  for (const KeyObject& key : kKeys) {
    const CK_OBJECT_HANDLE handle = Find(key);
    ASSERT_NE(handle, CK_INVALID_HANDLE) << key.label;
    CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, always_sensitive = CK_FALSE,
             never_extractable = CK_FALSE;
    CK_ATTRIBUTE attributes[] = {
        {CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
        {CKA_EXTRACTABLE, &extractable, sizeof(extractable)},
        {CKA_ALWAYS_SENSITIVE, &always_sensitive, sizeof(always_sensitive)},
        {CKA_NEVER_EXTRACTABLE, &never_extractable, sizeof(never_extractable)}};
    ASSERT_EQ(fn_->C_GetAttributeValue(session_, handle, attributes, 4), CKR_OK) << key.label;
    EXPECT_EQ(sensitive, CK_TRUE) << key.label;
    EXPECT_EQ(extractable, CK_FALSE) << key.label;
    // The imported EAB key existed outside the token before import, so only generated keys
    // can claim CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE (PKCS#11 sets both FALSE for
    // C_CreateObject).
    if (key.generated_in_token) {
      EXPECT_EQ(always_sensitive, CK_TRUE) << key.label;
      EXPECT_EQ(never_extractable, CK_TRUE) << key.label;
    }
  }
}

TEST_F(HsmKeyExtractionTest, GetAttributeValueOfKeyMaterialIsRefusedAsSensitive) {
  for (const KeyObject& key : kKeys) {
    const CK_OBJECT_HANDLE handle = Find(key);
    ASSERT_NE(handle, CK_INVALID_HANDLE) << key.label;
    // CKA_VALUE is the EC private scalar and the HMAC key bytes.
    std::vector<unsigned char> buffer(4096);
    CK_ATTRIBUTE value{CKA_VALUE, buffer.data(), buffer.size()};
    EXPECT_EQ(hsm::CkrName(fn_->C_GetAttributeValue(session_, handle, &value, 1)),
              "CKR_ATTRIBUTE_SENSITIVE")
        << key.label;
    EXPECT_EQ(value.ulValueLen, CK_UNAVAILABLE_INFORMATION) << key.label;
    // Asking for the length only must not reveal anything either.
    CK_ATTRIBUTE length_only{CKA_VALUE, nullptr, 0};
    EXPECT_EQ(hsm::CkrName(fn_->C_GetAttributeValue(session_, handle, &length_only, 1)),
              "CKR_ATTRIBUTE_SENSITIVE")
        << key.label;
  }
}

TEST_F(HsmKeyExtractionTest, WrappingUnderAnAttackerAesKeyIsRefusedAsUnextractable) {
  const CK_OBJECT_HANDLE wrapping_key = MakeAesWrappingKey();
  ASSERT_NE(wrapping_key, CK_INVALID_HANDLE);
  for (const KeyObject& key : kKeys) {
    const CK_OBJECT_HANDLE handle = Find(key);
    ASSERT_NE(handle, CK_INVALID_HANDLE) << key.label;
    for (CK_MECHANISM_TYPE mechanism :
         {CK_MECHANISM_TYPE{CKM_AES_KEY_WRAP_PAD}, CK_MECHANISM_TYPE{CKM_AES_KEY_WRAP}}) {
      CK_ULONG length = 0;
      EXPECT_EQ(hsm::CkrName(Wrap(mechanism, wrapping_key, handle, &length)),
                "CKR_KEY_UNEXTRACTABLE")
          << key.label << " mechanism 0x" << std::hex << mechanism;
      EXPECT_EQ(length, 0u) << key.label;
    }
  }
}

// The control: the same wrapping key does wrap a key that is extractable, so the refusals above
// come from the keys' attributes, not from a wrapping set-up that could never work.
TEST_F(HsmKeyExtractionTest, WrappingAnExtractableKeySucceedsWithTheSameSetUp) {
  const CK_OBJECT_HANDLE wrapping_key = MakeAesWrappingKey();
  ASSERT_NE(wrapping_key, CK_INVALID_HANDLE);
  CK_MECHANISM mechanism{CKM_GENERIC_SECRET_KEY_GEN, nullptr, 0};
  CK_ULONG length = 32;
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE tmpl[] = {{CKA_VALUE_LEN, &length, sizeof(length)},
                         {CKA_EXTRACTABLE, &yes, sizeof(yes)},
                         {CKA_SENSITIVE, &no, sizeof(no)},
                         {CKA_TOKEN, &no, sizeof(no)}};
  CK_OBJECT_HANDLE extractable = CK_INVALID_HANDLE;
  ASSERT_EQ(fn_->C_GenerateKey(session_, &mechanism, tmpl, 4, &extractable), CKR_OK);
  CK_ULONG wrapped_length = 0;
  EXPECT_EQ(hsm::CkrName(Wrap(CKM_AES_KEY_WRAP, wrapping_key, extractable, &wrapped_length)),
            "CKR_OK");
  EXPECT_EQ(wrapped_length, 40u);  // RFC 3394: 32 bytes + 8
}

TEST_F(HsmKeyExtractionTest, WrappingUnderAnAttackerRsaKeyIsRefusedAsUnextractable) {
  const CK_OBJECT_HANDLE wrapping_key = MakeRsaWrappingKey();
  ASSERT_NE(wrapping_key, CK_INVALID_HANDLE);
  for (const KeyObject& key : kKeys) {
    const CK_OBJECT_HANDLE handle = Find(key);
    ASSERT_NE(handle, CK_INVALID_HANDLE) << key.label;
    for (CK_MECHANISM_TYPE mechanism :
         {CK_MECHANISM_TYPE{CKM_RSA_PKCS_OAEP}, CK_MECHANISM_TYPE{CKM_RSA_PKCS}}) {
      CK_ULONG length = 0;
      EXPECT_EQ(hsm::CkrName(Wrap(mechanism, wrapping_key, handle, &length)),
                "CKR_KEY_UNEXTRACTABLE")
          << key.label << " mechanism 0x" << std::hex << mechanism;
      EXPECT_EQ(length, 0u) << key.label;
    }
  }
}

TEST_F(HsmKeyExtractionTest, Pkcs11ToolCannotReadAnyKey) {
  ASSERT_TRUE(std::filesystem::exists(kSoftHsmLibrary)) << kSoftHsmLibrary;
  if (access("/usr/bin/pkcs11-tool", X_OK) != 0) {
    if (testing::InCi()) FAIL() << "CI=true and pkcs11-tool (opensc) is missing";
    GTEST_SKIP() << "pkcs11-tool (opensc) is not installed";
  }
  auto pin = ReadSecretFile(token_info_->pin_file);
  ASSERT_TRUE(pin.ok()) << pin.status();
  for (const KeyObject& key : kKeys) {
    const std::string out = TempPath(absl::StrCat("extracted-", key.label));
    // A throwaway test PIN on argv: pkcs11-tool has no other way to take it.
    const CommandResult result =
        RunCommand({"pkcs11-tool", "--module", kSoftHsmLibrary, "--token-label", token_info_->label,
                    "--login", "--pin", std::string(pin->reveal()), "--read-object", "--type",
                    key.pkcs11_tool_type, "--label", key.label, "--output-file", out},
                   TempPath("pkcs11-tool.log"));
    if (key.object_class == CKO_SECRET_KEY) {
      // For a secret key pkcs11-tool asks for CKA_VALUE, which the token refuses.
      EXPECT_NE(result.exit_code, 0) << key.label << ": " << result.output;
    } else {
      // OpenSC 0.23 does not even try for private keys (it exits 0 after saying so); the
      // C_GetAttributeValue and C_WrapKey tests above are what an attacker's own tool would do.
      EXPECT_THAT(result.output, HasSubstr("reading private keys not (yet) supported"))
          << key.label << ": exit " << result.exit_code;
    }
    // It found the object (so the failure is the refusal, not a wrong label) ...
    EXPECT_THAT(result.output, Not(HasSubstr("object not found"))) << key.label;
    // ... and wrote nothing out.
    const bool wrote_something =
        std::filesystem::exists(out) && std::filesystem::file_size(out) > 0;
    EXPECT_FALSE(wrote_something) << key.label << ": " << result.output;
    std::filesystem::remove(out);
  }
}

}  // namespace
}  // namespace acme_signer::security
