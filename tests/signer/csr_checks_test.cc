#include "signer/csr_checks.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "common/crypto.h"
#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using ::acme_signer::testing::StatusIs;

SslUniquePtr<EVP_PKEY> EcKey(const char* curve) {
  SslUniquePtr<EVP_PKEY> key(EVP_EC_gen(curve));
  EXPECT_NE(key, nullptr);
  return key;
}

SslUniquePtr<EVP_PKEY> RsaKey(unsigned bits, unsigned long exponent = RSA_F4) {
  SslUniquePtr<EVP_PKEY_CTX> context(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  SslUniquePtr<BIGNUM> e(BN_new());
  EVP_PKEY* key = nullptr;
  EXPECT_EQ(BN_set_word(e.get(), exponent), 1);
  EXPECT_EQ(EVP_PKEY_keygen_init(context.get()), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_rsa_keygen_bits(context.get(), static_cast<int>(bits)), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(context.get(), e.get()), 1);
  EXPECT_EQ(EVP_PKEY_generate(context.get(), &key), 1);
  return SslUniquePtr<EVP_PKEY>(key);
}

SslUniquePtr<EVP_PKEY> Ed25519Key() {
  SslUniquePtr<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  EXPECT_NE(key, nullptr);
  return key;
}

std::string SpkiDer(EVP_PKEY* key) {
  absl::StatusOr<std::string> der = PublicKeyToDer(key);
  EXPECT_TRUE(der.ok()) << der.status();
  return der.value_or("");
}

struct CsrOptions {
  std::string san = "DNS:a.lab.test,DNS:b.lab.test";  // openssl.cnf syntax; empty: no SAN.
  std::string common_name;                            // Empty: no CN.
  std::vector<std::pair<std::string, std::string>> extra_subject;  // e.g. {"O", "Acme"}.
  std::vector<std::pair<int, std::string>> extra_extensions;       // {NID, openssl.cnf value}.
  const EVP_MD* digest = EVP_sha256();
  bool challenge_password = false;
  // Signs with this key instead of the CSR's own (a CSR whose signature cannot verify).
  EVP_PKEY* signing_key = nullptr;
};

std::string MakeCsr(EVP_PKEY* key, const CsrOptions& options = {}) {
  SslUniquePtr<X509_REQ> request(X509_REQ_new());
  EXPECT_EQ(X509_REQ_set_version(request.get(), X509_REQ_VERSION_1), 1);
  X509_NAME* subject = X509_REQ_get_subject_name(request.get());
  if (!options.common_name.empty()) {
    EXPECT_EQ(X509_NAME_add_entry_by_txt(
                  subject, "CN", MBSTRING_ASC,
                  reinterpret_cast<const unsigned char*>(options.common_name.c_str()), -1, -1, 0),
              1);
  }
  for (const auto& [field, value] : options.extra_subject) {
    EXPECT_EQ(X509_NAME_add_entry_by_txt(subject, field.c_str(), MBSTRING_ASC,
                                         reinterpret_cast<const unsigned char*>(value.c_str()), -1,
                                         -1, 0),
              1);
  }
  EXPECT_EQ(X509_REQ_set_pubkey(request.get(), key), 1);
  std::vector<std::pair<int, std::string>> extensions = options.extra_extensions;
  if (!options.san.empty())
    extensions.insert(extensions.begin(), {NID_subject_alt_name, options.san});
  if (!extensions.empty()) {
    STACK_OF(X509_EXTENSION)* stack = sk_X509_EXTENSION_new_null();
    for (const auto& [nid, value] : extensions) {
      X509_EXTENSION* extension = X509V3_EXT_nconf_nid(nullptr, nullptr, nid, value.c_str());
      EXPECT_NE(extension, nullptr) << value;
      sk_X509_EXTENSION_push(stack, extension);
    }
    EXPECT_EQ(X509_REQ_add_extensions(request.get(), stack), 1);
    sk_X509_EXTENSION_pop_free(stack, X509_EXTENSION_free);
  }
  if (options.challenge_password) {
    EXPECT_EQ(X509_REQ_add1_attr_by_NID(request.get(), NID_pkcs9_challengePassword, MBSTRING_ASC,
                                        reinterpret_cast<const unsigned char*>("pw"), -1),
              1);
  }
  EXPECT_GT(X509_REQ_sign(request.get(), options.signing_key != nullptr ? options.signing_key : key,
                          options.digest),
            0);
  unsigned char* raw = nullptr;
  const int length = i2d_X509_REQ(request.get(), &raw);
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owned(raw);
  EXPECT_GT(length, 0);
  return std::string(reinterpret_cast<const char*>(raw), static_cast<size_t>(length));
}

class CsrChecksTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    p256_ = EcKey("P-256").release();
    account_ = EcKey("P-256").release();
    rsa2048_ = RsaKey(2048).release();
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(p256_);
    EVP_PKEY_free(account_);
    EVP_PKEY_free(rsa2048_);
  }

  static AgentPolicy Policy() {
    AgentPolicy policy;
    policy.name = "web1";
    policy.allowed_names = {"*.lab.test"};
    policy.key_types = {"ec-p256", "rsa-2048"};
    return policy;
  }
  static std::vector<Identifier> Order() { return {{"dns", "b.lab.test"}, {"dns", "a.lab.test"}}; }

  absl::StatusOr<CsrSummary> Check(const std::string& der, const AgentPolicy& policy = Policy()) {
    return CheckCsr(der, Order(), policy, SpkiDer(account_));
  }

  static EVP_PKEY* p256_;
  static EVP_PKEY* account_;
  static EVP_PKEY* rsa2048_;
};

EVP_PKEY* CsrChecksTest::p256_ = nullptr;
EVP_PKEY* CsrChecksTest::account_ = nullptr;
EVP_PKEY* CsrChecksTest::rsa2048_ = nullptr;

TEST_F(CsrChecksTest, AcceptsEcP256CsrWhoseNamesAreTheOrderIdentifiers) {
  const std::string der = MakeCsr(p256_);
  absl::StatusOr<CsrSummary> summary = Check(der);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_THAT(summary->names, ElementsAre("a.lab.test", "b.lab.test"));
  EXPECT_EQ(summary->key_type, "ec-p256");
  EXPECT_EQ(summary->csr_sha256_hex, Sha256Hex(der));
  EXPECT_EQ(summary->spki_sha256_hex, Sha256Hex(SpkiDer(p256_)));
}

TEST_F(CsrChecksTest, AcceptsRsa2048WithCommonNameAndServerExtensions) {
  CsrOptions options;
  options.common_name = "a.lab.test";
  options.extra_extensions = {{NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                              {NID_ext_key_usage, "serverAuth,clientAuth"},
                              {NID_basic_constraints, "critical,CA:FALSE"}};
  absl::StatusOr<CsrSummary> summary = Check(MakeCsr(rsa2048_, options));
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->key_type, "rsa-2048");
}

TEST_F(CsrChecksTest, AcceptsEcP384AndRsa3072WhenPolicyListsThem) {
  AgentPolicy policy = Policy();
  policy.key_types = {"ec-p384", "rsa-3072"};
  SslUniquePtr<EVP_PKEY> p384 = EcKey("P-384");
  absl::StatusOr<CsrSummary> summary = Check(MakeCsr(p384.get()), policy);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->key_type, "ec-p384");
  SslUniquePtr<EVP_PKEY> rsa3072 = RsaKey(3072);
  summary = Check(MakeCsr(rsa3072.get()), policy);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->key_type, "rsa-3072");
}

TEST_F(CsrChecksTest, AcceptsWildcardWhenPolicyAllowsIt) {
  AgentPolicy policy = Policy();
  policy.allow_wildcard_certificates = true;
  policy.allowed_names = {"**.lab.test"};
  CsrOptions options;
  options.san = "DNS:*.lab.test";
  absl::StatusOr<CsrSummary> summary =
      CheckCsr(MakeCsr(p256_, options), {{"dns", "*.lab.test"}}, policy, SpkiDer(account_));
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_THAT(summary->names, ElementsAre("*.lab.test"));
}

TEST_F(CsrChecksTest, RefusesExtraNameThatIsNotInTheOrder) {
  CsrOptions options;
  options.san = "DNS:a.lab.test,DNS:b.lab.test,DNS:c.lab.test";
  EXPECT_THAT(Check(MakeCsr(p256_, options)),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("c.lab.test, which is not an identifier of the order")));
}

TEST_F(CsrChecksTest, RefusesNameOutsideTheAgentPolicy) {
  CsrOptions options;
  options.san = "DNS:a.lab.test,DNS:b.lab.test,DNS:foo.example";
  EXPECT_THAT(Check(MakeCsr(p256_, options)),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("agent web1 may not request foo.example")));
}

TEST_F(CsrChecksTest, RefusesCsrMissingAnOrderIdentifier) {
  CsrOptions options;
  options.san = "DNS:a.lab.test";
  EXPECT_THAT(Check(MakeCsr(p256_, options)),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("lacks the order identifier b.lab.test")));
}

TEST_F(CsrChecksTest, RefusesCsrWithoutSubjectAltName) {
  CsrOptions options;
  options.san.clear();
  options.common_name = "a.lab.test";
  EXPECT_THAT(Check(MakeCsr(p256_, options)),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("no subjectAltName")));
}

TEST_F(CsrChecksTest, RefusesCommonNameThatIsNotASubjectAltName) {
  CsrOptions options;
  options.common_name = "c.lab.test";
  EXPECT_THAT(Check(MakeCsr(p256_, options)),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("commonName c.lab.test is not one of the subjectAltName")));
}

TEST_F(CsrChecksTest, RefusesNonDnsSubjectAltNames) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"IP:127.0.0.1", "IP address"},
      {"email:a@lab.test", "email address"},
      {"URI:https://a.lab.test/", "URI"},
      {"RID:1.2.3.4", "registeredID"},
      {"otherName:1.2.3.4;UTF8:x", "otherName"},
  };
  for (const auto& [entry, type] : cases) {
    CsrOptions options;
    options.san = "DNS:a.lab.test,DNS:b.lab.test," + entry;
    EXPECT_THAT(Check(MakeCsr(p256_, options)),
                StatusIs(absl::StatusCode::kPermissionDenied,
                         AllOf(HasSubstr("agent web1"), HasSubstr("contains an " + type),
                               HasSubstr("only DNS names"))))
        << entry;
  }
}

TEST_F(CsrChecksTest, RefusesDuplicateAndMalformedNames) {
  CsrOptions options;
  options.san = "DNS:a.lab.test,DNS:b.lab.test,DNS:a.lab.test";
  EXPECT_THAT(Check(MakeCsr(p256_, options)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate identifier")));
  options.san = "DNS:A.lab.test,DNS:b.lab.test";
  EXPECT_THAT(Check(MakeCsr(p256_, options)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("uppercase")));
}

TEST_F(CsrChecksTest, RefusesCaTrueAndPathLength) {
  CsrOptions options;
  options.extra_extensions = {{NID_basic_constraints, "critical,CA:TRUE"}};
  EXPECT_THAT(Check(MakeCsr(p256_, options)),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("CA:TRUE")));
  options.extra_extensions = {{NID_basic_constraints, "CA:FALSE,pathlen:0"}};
  EXPECT_THAT(Check(MakeCsr(p256_, options)),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("pathLen")));
}

TEST_F(CsrChecksTest, RefusesCertificateSigningKeyUsagesAndOtherExtendedUsages) {
  CsrOptions options;
  options.extra_extensions = {{NID_key_usage, "digitalSignature,keyCertSign"}};
  EXPECT_THAT(Check(MakeCsr(p256_, options)),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("keyUsage keyCertSign")));
  options.extra_extensions = {{NID_ext_key_usage, "serverAuth,codeSigning"}};
  EXPECT_THAT(Check(MakeCsr(p256_, options)),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("extendedKeyUsage Code Signing is not allowed")));
}

TEST_F(CsrChecksTest, RefusesOtherRequestedExtensions) {
  CsrOptions options;
  options.extra_extensions = {{NID_tlsfeature, "status_request"}};
  EXPECT_THAT(Check(MakeCsr(p256_, options)),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("requested extension TLS Feature is not allowed")));
}

TEST_F(CsrChecksTest, RefusesSubjectAttributesOtherThanCommonName) {
  CsrOptions options;
  options.common_name = "a.lab.test";
  options.extra_subject = {{"O", "Acme"}};
  EXPECT_THAT(Check(MakeCsr(p256_, options)),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("subject attribute organizationName is not allowed")));
}

TEST_F(CsrChecksTest, RefusesAttributesOtherThanExtensionRequest) {
  CsrOptions options;
  options.challenge_password = true;
  EXPECT_THAT(Check(MakeCsr(p256_, options)),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("attribute challengePassword is not allowed")));
}

TEST_F(CsrChecksTest, RefusesCsrSignedWithTheAccountKey) {
  EXPECT_THAT(Check(MakeCsr(account_)),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("ACME account key")));
}

TEST_F(CsrChecksTest, RefusesAccountKeyByNameEvenWhenTheSignatureCannotVerify) {
  // What an agent can actually send: the account key is in the HSM, so a CSR carrying its
  // public key is signed with some other key. The refusal must say what was attempted.
  CsrOptions options;
  options.signing_key = p256_;
  EXPECT_THAT(Check(MakeCsr(account_, options)),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("ACME account key")));
}

TEST_F(CsrChecksTest, RefusesMissingOrMalformedAccountKey) {
  const std::string der = MakeCsr(p256_);
  EXPECT_THAT(
      CheckCsr(der, Order(), Policy(), ""),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("account public key not provided")));
  EXPECT_THAT(CheckCsr(der, Order(), Policy(), "not a key"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("account public key is not a DER SubjectPublicKeyInfo")));
}

TEST_F(CsrChecksTest, RefusesWeakRsaAndOtherExponents) {
  SslUniquePtr<EVP_PKEY> rsa1024 = RsaKey(1024);
  EXPECT_THAT(Check(MakeCsr(rsa1024.get())),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("RSA key of 1024 bits")));
  SslUniquePtr<EVP_PKEY> rsa_e3 = RsaKey(2048, 3);
  EXPECT_THAT(Check(MakeCsr(rsa_e3.get())),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("exponent is not 65537")));
}

TEST_F(CsrChecksTest, RefusesUnsupportedCurvesAndAlgorithms) {
  SslUniquePtr<EVP_PKEY> p521 = EcKey("P-521");
  EXPECT_THAT(Check(MakeCsr(p521.get())),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("EC curve secp521r1")));
  SslUniquePtr<EVP_PKEY> ed25519 = Ed25519Key();
  CsrOptions options;
  options.digest = nullptr;
  EXPECT_THAT(Check(MakeCsr(ed25519.get(), options)),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("signature algorithm ED25519 is not allowed")));
}

TEST_F(CsrChecksTest, RefusesKeyTypeNotListedInPolicy) {
  SslUniquePtr<EVP_PKEY> p384 = EcKey("P-384");
  EXPECT_THAT(Check(MakeCsr(p384.get())),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("key type ec-p384 is not allowed for this agent (allowed: "
                                 "ec-p256, rsa-2048)")));
}

TEST_F(CsrChecksTest, RefusesSha1Signature) {
  CsrOptions options;
  options.digest = EVP_sha1();
  EXPECT_THAT(Check(MakeCsr(p256_, options)),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("signature algorithm ecdsa-with-SHA1 is not allowed")));
}

TEST_F(CsrChecksTest, RefusesWrongSignature) {
  std::string der = MakeCsr(p256_);
  der.back() ^= 0x01;
  EXPECT_THAT(Check(der),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("signature does not verify")));
}

TEST_F(CsrChecksTest, RefusesNameChangedAfterSigning) {
  std::string der = MakeCsr(p256_);
  const size_t at = der.find("b.lab.test");
  ASSERT_NE(at, std::string::npos);
  der[at] = 'c';
  EXPECT_THAT(Check(der),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("signature does not verify")));
}

TEST_F(CsrChecksTest, RefusesEmptyGarbageTruncatedAndTrailingBytes) {
  EXPECT_THAT(Check(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid CSR: empty")));
  EXPECT_THAT(Check("garbage bytes"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a DER-encoded PKCS#10")));
  const std::string der = MakeCsr(p256_);
  EXPECT_THAT(Check(der.substr(0, der.size() - 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a DER-encoded PKCS#10")));
  EXPECT_THAT(Check(der + std::string(1, '\0')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1 trailing bytes")));
  EXPECT_THAT(Check(std::string(kMaxCsrDerSize + 1, '0')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than the limit")));
}

TEST_F(CsrChecksTest, RefusesNonMinimalLengthEncoding) {
  const std::string der = MakeCsr(p256_);
  ASSERT_EQ(static_cast<unsigned char>(der[1]), 0x81);  // A P-256 CSR is 128..255 bytes long.
  const std::string ber = std::string("\x30\x82\x00", 3) + der.substr(2);
  EXPECT_THAT(Check(ber), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid CSR")));
}

TEST_F(CsrChecksTest, EveryTruncationAndSingleBitFlipIsRefused) {
  const std::string der = MakeCsr(p256_);
  for (size_t length = 0; length < der.size(); ++length) {
    EXPECT_FALSE(Check(der.substr(0, length)).ok()) << "prefix of " << length << " bytes";
  }
  for (size_t i = 0; i < der.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = der;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      EXPECT_FALSE(Check(flipped).ok()) << "bit " << bit << " of byte " << i;
    }
  }
}

}  // namespace
}  // namespace acme_signer::signer
