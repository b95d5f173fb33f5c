#include "common/crypto.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer {
namespace {

using ::acme_signer::testing::IsOk;
using ::acme_signer::testing::IsOkAndHolds;
using ::acme_signer::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

SslUniquePtr<EVP_PKEY> NewKey(const char* type, const char* param) {
  SslUniquePtr<EVP_PKEY> key(param == nullptr
                                 ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, size_t{2048})
                                 : EVP_PKEY_Q_keygen(nullptr, nullptr, type, param));
  EXPECT_NE(key, nullptr);
  return key;
}

// DER signature from OpenSSL; JWS form (r||s, each `half` bytes) for EC keys.
std::string Sign(EVP_PKEY* key, const EVP_MD* md, absl::string_view data, size_t half) {
  SslUniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  size_t size = 0;
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key), 1);
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &size, bytes, data.size()), 1);
  std::string der(size, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &size, bytes,
                           data.size()),
            1);
  der.resize(size);
  if (half == 0) return der;
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  SslUniquePtr<ECDSA_SIG> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  std::string raw(2 * half, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), reinterpret_cast<unsigned char*>(raw.data()),
               static_cast<int>(half));
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), reinterpret_cast<unsigned char*>(raw.data()) + half,
               static_cast<int>(half));
  return raw;
}

TEST(Sha256Test, MatchesTheFips180Vectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256("abc").size(), 32u);
  EXPECT_EQ(absl::BytesToHexString(Sha256("abc")), Sha256Hex("abc"));
}

TEST(IsSha256HexTest, AcceptsExactlyWhatSha256HexReturns) {
  EXPECT_TRUE(IsSha256Hex(Sha256Hex("abc")));
  EXPECT_FALSE(IsSha256Hex(""));
  EXPECT_FALSE(IsSha256Hex(Sha256Hex("abc").substr(1)));
  EXPECT_FALSE(IsSha256Hex(Sha256Hex("abc") + "0"));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a') + "A"));  // upper case is not the same text
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a') + "g"));
}

TEST(ToDerTest, EncodesAnyObjectThroughItsI2dFunction) {
  SslUniquePtr<EVP_PKEY> key = NewKey("EC", "P-256");
  absl::StatusOr<std::string> der = ToDer(key.get(), i2d_PUBKEY, "the key");
  ASSERT_THAT(der, IsOk());
  EXPECT_THAT(PublicKeyToDer(key.get()), IsOkAndHolds(*der));
}

TEST(PublicKeyTest, DerRoundTripsAndTrailingBytesAreRefused) {
  SslUniquePtr<EVP_PKEY> key = NewKey("EC", "P-256");
  absl::StatusOr<std::string> der = PublicKeyToDer(key.get());
  ASSERT_THAT(der, IsOk());
  absl::StatusOr<SslUniquePtr<EVP_PKEY>> parsed = ParsePublicKeyDer(*der, "the key");
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(EVP_PKEY_eq(parsed->get(), key.get()), 1);
  EXPECT_THAT(ParsePublicKeyDer(*der + "x", "the audit key"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("1 trailing bytes after the audit key")));
  EXPECT_THAT(ParsePublicKeyDer("", "the audit key"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the audit key is not a DER SubjectPublicKeyInfo")));
}

TEST(PublicKeyTest, ReadsPemPublicKeyBlocks) {
  SslUniquePtr<EVP_PKEY> key = NewKey("EC", "P-384");
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio.get(), key.get()), 1);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  absl::StatusOr<SslUniquePtr<EVP_PKEY>> parsed =
      ParsePublicKeyPem(absl::string_view(data, static_cast<size_t>(length)), "the key");
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(EVP_PKEY_eq(parsed->get(), key.get()), 1);
  EXPECT_THAT(ParsePublicKeyPem("-----BEGIN CERTIFICATE-----\n", "the server key"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the server key is not a PEM PUBLIC KEY")));
}

TEST(PrivateKeyPemTest, WritesPkcs8ThatParsesBackToTheSameKey) {
  SslUniquePtr<EVP_PKEY> keys[] = {NewKey("EC", "P-256"), NewKey("RSA", nullptr)};
  for (const SslUniquePtr<EVP_PKEY>& key : keys) {
    absl::StatusOr<Secret> pem = PrivateKeyToPem(key.get());
    ASSERT_THAT(pem, IsOk());
    EXPECT_THAT(std::string(pem->reveal()), ::testing::StartsWith("-----BEGIN PRIVATE KEY-----\n"));
    absl::StatusOr<SslUniquePtr<EVP_PKEY>> parsed = ParsePrivateKeyPem(*pem, "the key");
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(EVP_PKEY_eq(parsed->get(), key.get()), 1);
  }
}

TEST(PrivateKeyPemTest, ReadsTraditionalEcAndRsaKeys) {
  SslUniquePtr<EVP_PKEY> keys[] = {NewKey("EC", "P-384"), NewKey("RSA", nullptr)};
  for (const SslUniquePtr<EVP_PKEY>& key : keys) {
    SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
    ASSERT_EQ(PEM_write_bio_PrivateKey_traditional(bio.get(), key.get(), nullptr, nullptr, 0,
                                                   nullptr, nullptr),
              1);
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    const Secret pem(std::string(data, static_cast<size_t>(length)));
    EXPECT_THAT(std::string(pem.reveal()),
                HasSubstr(EVP_PKEY_is_a(key.get(), "EC") ? "BEGIN EC PRIVATE KEY"
                                                         : "BEGIN RSA PRIVATE KEY"));
    absl::StatusOr<SslUniquePtr<EVP_PKEY>> parsed = ParsePrivateKeyPem(pem, "the key");
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(EVP_PKEY_eq(parsed->get(), key.get()), 1);
  }
}

TEST(PrivateKeyPemTest, RefusesEncryptedOrBrokenKeysWithoutQuotingThem) {
  SslUniquePtr<EVP_PKEY> key = NewKey("EC", "P-256");
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  char passphrase[] = "passphrase";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_256_cbc(), passphrase,
                                          sizeof(passphrase) - 1, nullptr, nullptr),
            1);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  const std::string encrypted(data, static_cast<size_t>(length));
  ASSERT_THAT(encrypted, HasSubstr("ENCRYPTED PRIVATE KEY"));
  // No callback may prompt on the terminal: the parse fails at once.
  const std::string body = encrypted.substr(encrypted.find('\n') + 1, 40);
  EXPECT_THAT(ParsePrivateKeyPem(Secret(encrypted), "tls.key"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("tls.key is not an unencrypted PEM private key"),
                             Not(HasSubstr(body)))));

  const std::string garbage =
      "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----\n";
  for (const std::string& text : {garbage, std::string(""), std::string("c2VjcmV0LWJ5dGVz")}) {
    EXPECT_THAT(ParsePrivateKeyPem(Secret(text), "tls.key"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("tls.key is not an unencrypted PEM private key"),
                               Not(HasSubstr("c2VjcmV0LWJ5dGVz")))));
  }
  // A public key is not a private key.
  bio.reset(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio.get(), key.get()), 1);
  const long public_length = BIO_get_mem_data(bio.get(), &data);
  EXPECT_THAT(
      ParsePrivateKeyPem(Secret(std::string(data, static_cast<size_t>(public_length))), "tls.key"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tls.key is not an unencrypted")));
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(EcdsaRawToDerTest, RefusesOddOrZeroLength) {
  for (absl::string_view raw : {absl::string_view("abc"), absl::string_view()}) {
    EXPECT_THAT(EcdsaRawToDer(raw),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("odd or zero length")));
  }
}

TEST(EcdsaRawToDerTest, EncodesRAndSAsPositiveIntegers) {
  // r has its high bit set (DER needs a 0x00 before it); s has leading zero bytes (dropped).
  std::string raw(64, '\0');
  raw[0] = '\x80';
  raw[31] = '\x01';
  raw[63] = '\x02';
  absl::StatusOr<std::string> der = EcdsaRawToDer(raw);
  ASSERT_THAT(der, IsOk());
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  SslUniquePtr<ECDSA_SIG> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der->size())));
  ASSERT_NE(sig, nullptr);
  unsigned char r[32], s[32];
  ASSERT_EQ(BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), r, 32), 32);
  ASSERT_EQ(BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), s, 32), 32);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(r), 32), raw.substr(0, 32));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(s), 32), raw.substr(32));
  EXPECT_EQ(static_cast<unsigned char>((*der)[4]), 0x00);  // 30 len 02 21 00 80 ...
}

TEST(VerifyJwsSignatureTest, VerifiesEs256Es384AndRs256) {
  SslUniquePtr<EVP_PKEY> p256 = NewKey("EC", "P-256");
  SslUniquePtr<EVP_PKEY> p384 = NewKey("EC", "P-384");
  SslUniquePtr<EVP_PKEY> rsa = NewKey("RSA", nullptr);
  EXPECT_THAT(
      VerifyJwsSignature(p256.get(), "ES256", "data", Sign(p256.get(), EVP_sha256(), "data", 32)),
      IsOk());
  EXPECT_THAT(
      VerifyJwsSignature(p384.get(), "ES384", "data", Sign(p384.get(), EVP_sha384(), "data", 48)),
      IsOk());
  EXPECT_THAT(
      VerifyJwsSignature(rsa.get(), "RS256", "data", Sign(rsa.get(), EVP_sha256(), "data", 0)),
      IsOk());
}

TEST(VerifyJwsSignatureTest, VerifiesEs512OnP521AndRefusesOtherCurves) {
  SslUniquePtr<EVP_PKEY> p521 = NewKey("EC", "P-521");
  SslUniquePtr<EVP_PKEY> p384 = NewKey("EC", "P-384");
  const std::string signature = Sign(p521.get(), EVP_sha512(), "data", 66);
  ASSERT_EQ(signature.size(), 132u);
  EXPECT_THAT(VerifyJwsSignature(p521.get(), "ES512", "data", signature), IsOk());
  EXPECT_THAT(VerifyJwsSignature(p521.get(), "ES512", "Data", signature),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not verify")));
  EXPECT_THAT(VerifyJwsSignature(p384.get(), "ES512", "data", signature),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot verify ES512")));
}

TEST(HmacTest, MatchesTheRfc4231Vectors) {
  // RFC 4231 §4.3, test case 2.
  const std::string data = "what do ya want for nothing?";
  EXPECT_THAT(Hmac("HS256", "Jefe", data),
              IsOkAndHolds(absl::HexStringToBytes(
                  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")));
  EXPECT_THAT(Hmac("HS384", "Jefe", data),
              IsOkAndHolds(absl::HexStringToBytes(
                  "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
                  "8e2240ca5e69e2c78b3239ecfab21649")));
  EXPECT_THAT(Hmac("HS512", "Jefe", data),
              IsOkAndHolds(absl::HexStringToBytes(
                  "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
                  "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737")));
}

TEST(HmacTest, RefusesOtherAlgorithmsAndAnEmptyKeyWithoutNamingTheKey) {
  EXPECT_THAT(Hmac("HS1", "secret-key", "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not HS256, HS384 or HS512")));
  EXPECT_THAT(Hmac("ES256", "secret-key", "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ES256")));
  EXPECT_THAT(Hmac("HS256", "", "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(Hmac("HS1", "secret-key", "x").status().ToString(),
              ::testing::Not(HasSubstr("secret-key")));
}

TEST(HmacEqualsTest, ComparesContentAndLength) {
  EXPECT_TRUE(HmacEquals("abc", "abc"));
  EXPECT_FALSE(HmacEquals("abc", "abd"));
  EXPECT_FALSE(HmacEquals("abc", "ab"));
  EXPECT_TRUE(HmacEquals("", ""));
}

TEST(VerifyJwsSignatureTest, RefusesAlteredDataOrSignatureAndLeavesNoOpenSslError) {
  SslUniquePtr<EVP_PKEY> key = NewKey("EC", "P-256");
  std::string signature = Sign(key.get(), EVP_sha256(), "data", 32);
  EXPECT_THAT(VerifyJwsSignature(key.get(), "ES256", "Data", signature),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not verify")));
  signature[10] ^= 1;
  EXPECT_THAT(VerifyJwsSignature(key.get(), "ES256", "data", signature),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not verify")));
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(VerifyJwsSignatureTest, RefusesWrongSizeUnknownAlgAndKeyThatDoesNotFitTheAlg) {
  SslUniquePtr<EVP_PKEY> key = NewKey("EC", "P-256");
  const std::string signature = Sign(key.get(), EVP_sha256(), "data", 32);
  EXPECT_THAT(VerifyJwsSignature(key.get(), "ES256", "data", signature.substr(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("63 bytes, expected 64")));
  EXPECT_THAT(
      VerifyJwsSignature(key.get(), "HS256", "data", signature),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not ES256, ES384, ES512 or RS256")));
  EXPECT_THAT(VerifyJwsSignature(key.get(), "ES384", "data", signature),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot verify ES384")));
  EXPECT_THAT(VerifyJwsSignature(key.get(), "RS256", "data", signature),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot verify RS256")));
}

}  // namespace
}  // namespace acme_signer
