#include "agent/private_key.h"

#include <openssl/pem.h>
#include <sys/stat.h>

#include <string>

#include "absl/time/clock.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"
#include "tests/agent/test_certs.h"

namespace acme_signer::agent {
namespace {

using ::acme_signer::agent::testing::IsOk;
using ::acme_signer::agent::testing::StatusIs;
using ::acme_signer::agent::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

TEST(ParseKeySpecTest, AcceptsCertbotKeyTypesAndNormalizesCurveAliases) {
  auto ec = ParseKeySpec("ecdsa", "prime256v1", 0);
  ASSERT_THAT(ec, IsOk());
  EXPECT_EQ(ec->type, KeyType::kEcdsa);
  EXPECT_EQ(ec->elliptic_curve, "secp256r1");
  auto ec384 = ParseKeySpec("ECDSA", "secp384r1", 0);
  ASSERT_THAT(ec384, IsOk());
  EXPECT_EQ(ec384->Describe(), "ECDSA secp384r1");
  auto rsa = ParseKeySpec("rsa", "", 3072);
  ASSERT_THAT(rsa, IsOk());
  EXPECT_EQ(rsa->Describe(), "RSA 3072");
}

TEST(ParseKeySpecTest, RejectsUnknownTypeCurveAndRsaSizeNamingTheValue) {
  EXPECT_THAT(ParseKeySpec("dsa", "", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"dsa\"")));
  EXPECT_THAT(ParseKeySpec("ecdsa", "secp521r1", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("secp521r1")));
  EXPECT_THAT(ParseKeySpec("rsa", "", 1024),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1024")));
}

TEST(PrivateKeyTest, GeneratesEcKeysOnTheRequestedCurve) {
  for (const char* curve : {"secp256r1", "secp384r1"}) {
    auto key = PrivateKey::Generate(*ParseKeySpec("ecdsa", curve, 0));
    ASSERT_THAT(key, IsOk());
    EXPECT_EQ(key->spec().type, KeyType::kEcdsa);
    EXPECT_EQ(key->spec().elliptic_curve, curve);
    EXPECT_EQ(EVP_PKEY_get_base_id(key->get()), EVP_PKEY_EC);
  }
}

TEST(PrivateKeyTest, GeneratesRsaKeyOfTheRequestedSize) {
  auto key = PrivateKey::Generate(*ParseKeySpec("rsa", "", 2048));
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(key->spec().type, KeyType::kRsa);
  EXPECT_EQ(EVP_PKEY_get_bits(key->get()), 2048);
}

TEST(PrivateKeyTest, SerializesAsUnencryptedPkcs8AndRoundTrips) {
  auto key = PrivateKey::Generate(KeySpec());
  ASSERT_THAT(key, IsOk());
  auto pem = key->ToPem();
  ASSERT_THAT(pem, IsOk());
  EXPECT_THAT(std::string(pem->reveal()), StartsWith("-----BEGIN PRIVATE KEY-----\n"));
  auto again = PrivateKey::FromPem(*pem);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(EVP_PKEY_eq(key->get(), again->get()), 1);
}

TEST(PrivateKeyTest, LoadsAnExistingKeyFileForReuse) {
  TempDir dir;
  auto key = PrivateKey::Generate(*ParseKeySpec("ecdsa", "secp384r1", 0));
  ASSERT_THAT(key, IsOk());
  const std::string path = dir.path() + "/privkey.pem";
  ASSERT_THAT(WriteFileAtomically(path, key->ToPem()->reveal(), 0600), IsOk());
  auto loaded = PrivateKey::Load(path);
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->spec().elliptic_curve, "secp384r1");
  EXPECT_EQ(EVP_PKEY_eq(key->get(), loaded->get()), 1);
}

TEST(PrivateKeyTest, LoadErrorNamesThePathButNeverTheContent) {
  TempDir dir;
  const std::string path = dir.path() + "/privkey.pem";
  const std::string garbage =
      "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVzLXRoYXQtbXVzdC1ub3QtbGVhaw==\n"
      "-----END PRIVATE KEY-----\n";
  ASSERT_THAT(WriteFileAtomically(path, garbage, 0600), IsOk());
  auto loaded = PrivateKey::Load(path);
  EXPECT_THAT(loaded, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(path)));
  EXPECT_THAT(std::string(loaded.status().message()),
              Not(HasSubstr("c2VjcmV0LWJ5dGVzLXRoYXQtbXVzdC1ub3QtbGVhaw")));
  EXPECT_THAT(PrivateKey::Load(dir.path() + "/missing.pem"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.pem")));
}

TEST(PrivateKeyTest, RefusesEncryptedKeysInsteadOfPrompting) {
  auto key = PrivateKey::Generate(KeySpec());
  ASSERT_THAT(key, IsOk());
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  char pass[] = "passphrase";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), key->get(), EVP_aes_256_cbc(), pass,
                                          sizeof(pass) - 1, nullptr, nullptr),
            1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  Secret pem(std::string(data, static_cast<size_t>(len)));
  EXPECT_THAT(PrivateKey::FromPem(pem),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unencrypted")));
}

TEST(PrivateKeyTest, RefusesKeysCertbotWouldNotMake) {
  SslUniquePtr<EVP_PKEY> small(EVP_RSA_gen(1024));
  ASSERT_NE(small, nullptr);
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio.get(), small.get(), nullptr, nullptr, 0, nullptr, nullptr),
            1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  EXPECT_THAT(PrivateKey::FromPem(Secret(std::string(data, static_cast<size_t>(len)))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1024 bits")));
}

TEST(PrivateKeyTest, MatchesOnlyTheCertificateOfItsOwnPublicKey) {
  testing::TestCa ca;
  auto key = PrivateKey::Generate(KeySpec());
  auto other = PrivateKey::Generate(KeySpec());
  ASSERT_THAT(key, IsOk());
  ASSERT_THAT(other, IsOk());
  auto cert = testing::FromPem(
      ca.Issue(key->get(), {"example.com"}, absl::Now(), absl::Now() + absl::Hours(24)));
  EXPECT_TRUE(key->MatchesCertificate(cert.get()));
  EXPECT_FALSE(other->MatchesCertificate(cert.get()));
  EXPECT_FALSE(key->MatchesCertificate(nullptr));
}

}  // namespace
}  // namespace acme_signer::agent
