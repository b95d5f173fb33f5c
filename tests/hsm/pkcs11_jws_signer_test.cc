#include "hsm/pkcs11_jws_signer.h"

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/sha.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/hsm/hsm_test_util.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer::hsm {
namespace {

using ::acme_signer::hsm::testing::OpenFreshToken;
using ::acme_signer::hsm::testing::PublicKeyFromDer;
using ::acme_signer::hsm::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

bool IsEc(KeyType type) { return type == KeyType::kEcP256 || type == KeyType::kEcP384; }

// Independent of hsm/public_key: r||s -> DER with OpenSSL, then EVP verification.
bool VerifiesWithOpenSsl(const std::string& spki_der, KeyType type, const std::string& data,
                         const std::string& signature) {
  SslUniquePtr<EVP_PKEY> pkey = PublicKeyFromDer(spki_der);
  if (pkey == nullptr) return false;
  std::string sig = signature;
  const EVP_MD* md = type == KeyType::kEcP384 ? EVP_sha384() : EVP_sha256();
  if (IsEc(type)) {
    const size_t half = signature.size() / 2;
    SslUniquePtr<ECDSA_SIG> ecdsa(ECDSA_SIG_new());
    const auto* raw = reinterpret_cast<const unsigned char*>(signature.data());
    ECDSA_SIG_set0(ecdsa.get(), BN_bin2bn(raw, half, nullptr),
                   BN_bin2bn(raw + half, half, nullptr));
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(ecdsa.get(), &der);
    sig.assign(reinterpret_cast<char*>(der), len);
    OPENSSL_free(der);
  }
  SslUniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  return EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

std::string Thumbprint(const std::string& jwk) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(jwk.data()), jwk.size(), digest);
  return absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

class JwsSignerTypeTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(JwsSignerTypeTest, SignaturesVerifyWithOpenSslFromPublicKeyDer) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  const KeyType type = GetParam();
  auto opened = OpenFreshToken(absl::StrCat("sign-", KeyTypeName(type)));
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto signer = opened->token->GenerateSigningKey("pkcs11:object=account-key", type);
  ASSERT_TRUE(signer.ok()) << signer.status();
  const size_t expected_size = type == KeyType::kEcP256    ? 64
                               : type == KeyType::kEcP384  ? 96
                               : type == KeyType::kRsa2048 ? 256
                               : type == KeyType::kRsa3072 ? 384
                                                           : 512;
  for (const std::string& data :
       {std::string(""), std::string("eyJhbGciOiJFUzI1NiJ9.e30"), std::string(100000, 'x')}) {
    auto signature = (*signer)->Sign(data);
    ASSERT_TRUE(signature.ok()) << signature.status();
    EXPECT_EQ(signature->size(), expected_size);
    EXPECT_TRUE(VerifiesWithOpenSsl((*signer)->PublicKeyDer(), type, data, *signature));
    EXPECT_FALSE(VerifiesWithOpenSsl((*signer)->PublicKeyDer(), type, data + "!", *signature));
  }
}

TEST_P(JwsSignerTypeTest, JwkIsCanonicalAndDescribesThePublicKeyDer) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  const KeyType type = GetParam();
  auto opened = OpenFreshToken(absl::StrCat("jwk-", KeyTypeName(type)));
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto signer = opened->token->GenerateSigningKey("pkcs11:object=k", type);
  ASSERT_TRUE(signer.ok()) << signer.status();
  const std::string& jwk = (*signer)->PublicJwk();
  SslUniquePtr<EVP_PKEY> pkey = PublicKeyFromDer((*signer)->PublicKeyDer());
  ASSERT_NE(pkey, nullptr);
  if (IsEc(type)) {
    EXPECT_THAT(jwk, MatchesRegex(R"re(\{"crv":"P-(256|384)","kty":"EC","x":"[A-Za-z0-9_-]+",)re"
                                  R"re("y":"[A-Za-z0-9_-]+"\})re"));
    unsigned char point[200];
    size_t point_size = 0;
    ASSERT_EQ(EVP_PKEY_get_octet_string_param(pkey.get(), OSSL_PKEY_PARAM_PUB_KEY, point,
                                              sizeof(point), &point_size),
              1);
    const size_t field = (point_size - 1) / 2;
    const std::string x =
        absl::WebSafeBase64Escape(absl::string_view(reinterpret_cast<char*>(point) + 1, field));
    const std::string y = absl::WebSafeBase64Escape(
        absl::string_view(reinterpret_cast<char*>(point) + 1 + field, field));
    EXPECT_EQ(jwk, absl::StrCat(R"({"crv":"P-)", type == KeyType::kEcP256 ? "256" : "384",
                                R"(","kty":"EC","x":")", x, R"(","y":")", y, R"("})"));
  } else {
    BIGNUM* n = nullptr;
    ASSERT_EQ(EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_N, &n), 1);
    SslUniquePtr<BIGNUM> owned_n(n);
    std::string n_bytes(BN_num_bytes(n), '\0');
    BN_bn2bin(n, reinterpret_cast<unsigned char*>(n_bytes.data()));
    EXPECT_EQ(jwk, absl::StrCat(R"({"e":"AQAB","kty":"RSA","n":")",
                                absl::WebSafeBase64Escape(n_bytes), R"("})"));
  }
}

INSTANTIATE_TEST_SUITE_P(AllKeyTypes, JwsSignerTypeTest,
                         ::testing::Values(KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048,
                                           KeyType::kRsa3072, KeyType::kRsa4096),
                         [](const auto& info) {
                           std::string name = KeyTypeName(info.param);
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

TEST(JwsSignerTest, ThumbprintIsStableAcrossReopening) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  std::string first_jwk;
  std::string token_uri;
  std::string pin_file;
  {
    auto opened = OpenFreshToken("thumbprint");
    ASSERT_TRUE(opened.ok()) << opened.status();
    auto signer = opened->token->GenerateSigningKey("pkcs11:object=k", KeyType::kEcP256);
    ASSERT_TRUE(signer.ok()) << signer.status();
    first_jwk = (*signer)->PublicJwk();
    token_uri = opened->info.uri;
    pin_file = opened->info.pin_file;
  }
  // Everything dropped: the module is finalized and loaded again from the token files.
  auto module = Module::Load(acme_signer::testing::kSoftHsmModule);
  ASSERT_TRUE(module.ok()) << module.status();
  auto token = Token::Open(*module, token_uri, pin_file);
  ASSERT_TRUE(token.ok()) << token.status();
  auto signer = (*token)->OpenSigningKey("pkcs11:object=k");
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ((*signer)->PublicJwk(), first_jwk);
  EXPECT_EQ(Thumbprint((*signer)->PublicJwk()), Thumbprint(first_jwk));
}

TEST(JwsSignerTest, EightThreadsSignAThousandTimesEachAndAllSignaturesVerify) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  Token::Options options;
  options.max_sessions = 4;  // Fewer sessions than threads: leases must be shared safely.
  auto opened = OpenFreshToken("threads", options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto signer = opened->token->GenerateSigningKey("pkcs11:object=k", KeyType::kEcP256);
  ASSERT_TRUE(signer.ok()) << signer.status();
  SslUniquePtr<EVP_PKEY> pkey = PublicKeyFromDer((*signer)->PublicKeyDer());
  std::atomic<int> valid{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        const std::string data = absl::StrCat("thread ", t, " message ", i);
        auto signature = (*signer)->Sign(data);
        if (signature.ok() &&
            VerifiesWithOpenSsl((*signer)->PublicKeyDer(), KeyType::kEcP256, data, *signature)) {
          ++valid;
        } else {
          ++failed;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(valid.load(), 8000);
  EXPECT_EQ(failed.load(), 0);
}

TEST(JwsSignerTest, RecoversWhenTheTokenClosesAllSessions) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("recover-close");
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto signer = opened->token->GenerateSigningKey("pkcs11:object=k", KeyType::kEcP256);
  ASSERT_TRUE(signer.ok()) << signer.status();
  // Fill the pool with several sessions first.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) ASSERT_TRUE((*signer)->Sign("warm up").ok());
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (int round = 0; round < 3; ++round) {
    // Closing every session also logs the application out of the token.
    ASSERT_EQ(opened->module->functions()->C_CloseAllSessions(opened->token->slot()), CKR_OK);
    for (int i = 0; i < 10; ++i) {
      auto signature = (*signer)->Sign("after close");
      ASSERT_TRUE(signature.ok()) << "round " << round << ": " << signature.status();
      EXPECT_TRUE(VerifiesWithOpenSsl((*signer)->PublicKeyDer(), KeyType::kEcP256, "after close",
                                      *signature));
    }
  }
}

TEST(JwsSignerTest, RecoversWhenTheTokenLogsOut) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto opened = OpenFreshToken("recover-logout");
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto signer = opened->token->GenerateSigningKey("pkcs11:object=k", KeyType::kEcP384);
  ASSERT_TRUE(signer.ok()) << signer.status();
  CK_FUNCTION_LIST* f = opened->module->functions();
  CK_SESSION_HANDLE session;
  ASSERT_EQ(f->C_OpenSession(opened->token->slot(), CKF_SERIAL_SESSION, nullptr, nullptr, &session),
            CKR_OK);
  ASSERT_EQ(f->C_Logout(session), CKR_OK);  // Login state is per token: all sessions are out.
  f->C_CloseSession(session);
  auto signature = (*signer)->Sign("after logout");
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_TRUE(
      VerifiesWithOpenSsl((*signer)->PublicKeyDer(), KeyType::kEcP384, "after logout", *signature));
}

TEST(JwsSignerTest, VerifyEverySignatureOptionReturnsVerifiedSignatures) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  Token::Options options;
  options.verify_every_signature = true;
  auto opened = OpenFreshToken("verify-every", options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto signer = opened->token->GenerateSigningKey("pkcs11:object=k", KeyType::kRsa2048);
  ASSERT_TRUE(signer.ok()) << signer.status();
  for (int i = 0; i < 20; ++i) {
    const std::string data = absl::StrCat("message ", i);
    auto signature = (*signer)->Sign(data);
    ASSERT_TRUE(signature.ok()) << signature.status();
    EXPECT_TRUE(
        VerifiesWithOpenSsl((*signer)->PublicKeyDer(), KeyType::kRsa2048, data, *signature));
  }
}

// SoftHSM2 keeps a token's objects in files under <tokendir>/<uuid>/; the token whose
// token.object holds `label`.
std::string TokenDirOf(const std::string& label) {
  auto dir = acme_signer::testing::SoftHsmDir();
  if (!dir.ok()) return "";
  for (const auto& entry : std::filesystem::directory_iterator(*dir + "/tokens")) {
    std::ifstream in(entry.path() / "token.object", std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (content.find(label) != std::string::npos) return entry.path();
  }
  return "";
}

// With its token directory gone, SoftHSM2 finds no objects and answers CKR_GENERAL_ERROR, and
// keeps doing so after the directory is back until the library is initialized again.
TEST(JwsSignerTest, TokenDirectoryGoneIsUnavailableAndSigningRecoversWhenItIsBack) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  Token::Options options;
  options.min_reinitialize_interval = absl::ZeroDuration();
  auto opened = OpenFreshToken("dir-gone", options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto signer = opened->token->GenerateSigningKey("pkcs11:object=k", KeyType::kEcP256);
  ASSERT_TRUE(signer.ok()) << signer.status();
  const std::string dir = TokenDirOf("dir-gone");
  ASSERT_FALSE(dir.empty());
  // Out of the token dir: SoftHSM2 takes any directory in it for a token when it rescans.
  const std::string away = *acme_signer::testing::SoftHsmDir() + "/dir-gone.away";

  ASSERT_EQ(::rename(dir.c_str(), away.c_str()), 0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT((*signer)->Sign("during the outage"),
                StatusIs(absl::StatusCode::kUnavailable,
                         AllOf(HasSubstr("HSM token dir-gone is unavailable"),
                               HasSubstr("module reinitialized"), HasSubstr("CKR_"))));
  }
  ASSERT_EQ(::rename(away.c_str(), dir.c_str()), 0);
  for (int i = 0; i < 3; ++i) {
    auto signature = (*signer)->Sign("after the outage");
    ASSERT_TRUE(signature.ok()) << signature.status();
    EXPECT_TRUE(VerifiesWithOpenSsl((*signer)->PublicKeyDer(), KeyType::kEcP256, "after the outage",
                                    *signature));
  }
}

// An outage must not turn every call into a C_Initialize: within the interval, calls fail
// without reinitializing, and the first call after it recovers.
TEST(JwsSignerTest, ModuleIsReinitializedAtMostOncePerInterval) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  Token::Options options;
  options.min_reinitialize_interval = absl::Hours(1);
  auto opened = OpenFreshToken("dir-gone-rate", options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto signer = opened->token->GenerateSigningKey("pkcs11:object=k", KeyType::kEcP256);
  ASSERT_TRUE(signer.ok()) << signer.status();
  const std::string dir = TokenDirOf("dir-gone-rate");
  ASSERT_FALSE(dir.empty());
  const std::string away = *acme_signer::testing::SoftHsmDir() + "/dir-gone-rate.away";
  const uint64_t generation = opened->module->generation();

  ASSERT_EQ(::rename(dir.c_str(), away.c_str()), 0);
  EXPECT_THAT((*signer)->Sign("x"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("dir-gone-rate")));
  EXPECT_EQ(opened->module->generation(), generation + 1);
  ASSERT_EQ(::rename(away.c_str(), dir.c_str()), 0);
  for (int i = 0; i < 5; ++i) {
    EXPECT_THAT((*signer)->Sign("x"),
                StatusIs(absl::StatusCode::kUnavailable, HasSubstr("not again before 1h")));
  }
  EXPECT_EQ(opened->module->generation(), generation + 1);
  // Another caller (a fresh interval) reinitializes: every Token on the module recovers.
  ASSERT_TRUE(
      opened->module->Reinitialize(opened->module->generation(), absl::ZeroDuration()).ok());
  auto signature = (*signer)->Sign("x");
  EXPECT_TRUE(signature.ok()) << signature.status();
}

}  // namespace
}  // namespace acme_signer::hsm
