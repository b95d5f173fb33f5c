#include "signer/agent_ca.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/jws_signer.h"
#include "hsm/key_type.h"
#include "signer/agent_identity.h"
#include "tests/hsm/hsm_test_util.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer::signer {
namespace {

using ::acme_signer::hsm::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kTrustDomain[] = "dept.example";

// ---------------------------------------------------------------------------------------------
// OpenSSL helpers for building inputs and inspecting outputs, independent of the code under
// test.

SslUniquePtr<EVP_PKEY> NewKey(const char* algorithm, const char* param = nullptr, int bits = 0) {
  if (std::string(algorithm) == "RSA") return SslUniquePtr<EVP_PKEY>(EVP_RSA_gen(bits));
  if (param != nullptr) return SslUniquePtr<EVP_PKEY>(EVP_EC_gen(param));
  return SslUniquePtr<EVP_PKEY>(EVP_PKEY_Q_keygen(nullptr, nullptr, algorithm));
}

// A CSR for `key` asking for names the CA must ignore.
std::string MakeCsrDer(EVP_PKEY* key) {
  SslUniquePtr<X509_REQ> req(X509_REQ_new());
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("admin"), -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), key);
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, nullptr, nullptr, req.get(), nullptr, 0);
  sk_X509_EXTENSION_push(
      exts, X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name,
                                "DNS:evil.example,URI:spiffe://dept.example/agent/admin"));
  X509_REQ_add_extensions(req.get(), exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  // Ed25519 signs without a separate digest.
  const EVP_MD* md = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  EXPECT_GT(X509_REQ_sign(req.get(), key, md), 0);
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(req.get(), &der);
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return out;
}

std::string ToPemCsr(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  SslUniquePtr<X509_REQ> req(d2i_X509_REQ(nullptr, &p, der.size()));
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), req.get());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

std::string PublicKeyPem(EVP_PKEY* key) {
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

SslUniquePtr<X509> ParsePem(const std::string& pem) {
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  return SslUniquePtr<X509>(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// X509_V_OK or the verification error of `leaf` under the single root `ca` for `purpose`.
int VerifyChain(X509* ca, X509* leaf, int purpose, const char* host = nullptr,
                const char* ip = nullptr) {
  SslUniquePtr<X509_STORE> store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca);
  SslUniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  if (host != nullptr) X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx.get()), host, 0);
  if (ip != nullptr) X509_VERIFY_PARAM_set1_ip_asc(X509_STORE_CTX_get0_param(ctx.get()), ip);
  if (X509_verify_cert(ctx.get()) == 1) return X509_V_OK;
  return X509_STORE_CTX_get_error(ctx.get());
}

std::vector<std::pair<int, std::string>> SubjectAltNames(X509* cert) {
  std::vector<std::pair<int, std::string>> out;
  SslUniquePtr<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    int type = 0;
    const ASN1_STRING* value =
        static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(name, &type));
    out.emplace_back(type, std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                                       ASN1_STRING_length(value)));
  }
  return out;
}

bool ExtensionIsCritical(X509* cert, int nid) {
  const int index = X509_get_ext_by_NID(cert, nid, -1);
  return index >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, index)) == 1;
}

std::string CommonName(X509* cert) {
  char buf[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf));
  return buf;
}

absl::Time NotAfter(X509* cert) {
  struct tm tm;
  EXPECT_EQ(ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm), 1);
  return absl::FromTM(tm, absl::UTCTimeZone());
}

// A token whose signatures are wrong: models a faulty HSM (or a wrong key handle).
class CorruptingSigner : public hsm::JwsSigner {
 public:
  explicit CorruptingSigner(const hsm::JwsSigner& inner) : inner_(inner) {}
  absl::string_view Algorithm() const override { return inner_.Algorithm(); }
  const std::string& PublicJwk() const override { return inner_.PublicJwk(); }
  const std::string& PublicKeyDer() const override { return inner_.PublicKeyDer(); }
  absl::StatusOr<std::string> Sign(absl::string_view data) const override {
    absl::StatusOr<std::string> signature = inner_.Sign(data);
    if (signature.ok()) (*signature)[signature->size() / 4] ^= 0x01;
    return signature;
  }

 private:
  const hsm::JwsSigner& inner_;
};

// A signer announcing an algorithm the CA does not support.
class OtherAlgorithmSigner : public CorruptingSigner {
 public:
  using CorruptingSigner::CorruptingSigner;
  absl::string_view Algorithm() const override { return "PS256"; }
};

// ---------------------------------------------------------------------------------------------
// One SoftHSM2 token per process with CA keys of each supported type: SoftHSM2 only sees
// tokens created before the module is loaded, and RSA key generation is slow enough to share.

struct CaKeys {
  hsm::testing::OpenedToken opened;
  std::unique_ptr<hsm::JwsSigner> p256;
  std::unique_ptr<hsm::JwsSigner> p384;
  std::unique_ptr<hsm::JwsSigner> rsa2048;
};

class AgentCaTest : public ::testing::Test {
 public:
  // Shared by every suite in this binary; dropped (closing the token) after the last test.
  static std::unique_ptr<CaKeys> keys_;

 protected:
  void SetUp() override {
    ACME_SIGNER_REQUIRE_SOFTHSM();
    if (keys_ == nullptr) {
      auto opened = hsm::testing::OpenFreshToken("agent-ca");
      ASSERT_TRUE(opened.ok()) << opened.status();
      auto keys = std::make_unique<CaKeys>();
      keys->opened = std::move(*opened);
      auto generate = [&](const char* label, hsm::KeyType type) {
        auto signer =
            keys->opened.token->GenerateSigningKey(absl::StrCat("pkcs11:object=", label), type);
        EXPECT_TRUE(signer.ok()) << signer.status();
        return signer.ok() ? std::move(*signer) : nullptr;
      };
      keys->p256 = generate("ca-p256", hsm::KeyType::kEcP256);
      keys->p384 = generate("ca-p384", hsm::KeyType::kEcP384);
      keys->rsa2048 = generate("ca-rsa2048", hsm::KeyType::kRsa2048);
      ASSERT_TRUE(keys->p256 && keys->p384 && keys->rsa2048);
      keys_ = std::move(keys);
    }
    auto ca =
        CreateSelfSignedCaCertificate(ca_key(), "acme-signer agent CA", absl::Hours(24 * 365));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_pem_ = *ca;
  }

  const hsm::JwsSigner& ca_key() const { return *keys_->p256; }

  absl::StatusOr<std::string> IssueFor(EVP_PKEY* agent_key, const std::string& name = "web1",
                                       int days = 30) {
    return IssueAgentCertificate(ca_key(), ca_pem_, MakeCsrDer(agent_key), name, kTrustDomain,
                                 days);
  }

  std::string ca_pem_;
};

std::unique_ptr<CaKeys> AgentCaTest::keys_;

class DropCaKeys : public ::testing::Environment {
 public:
  void TearDown() override { AgentCaTest::keys_.reset(); }
};
[[maybe_unused]] ::testing::Environment* const kDropCaKeys =
    ::testing::AddGlobalTestEnvironment(new DropCaKeys);

TEST_F(AgentCaTest, CaCertificateIsSelfSignedWithCaConstraintsAndKeyUsage) {
  SslUniquePtr<X509> ca = ParsePem(ca_pem_);
  ASSERT_NE(ca, nullptr);
  EXPECT_EQ(CommonName(ca.get()), "acme-signer agent CA");
  EXPECT_EQ(X509_check_issued(ca.get(), ca.get()), X509_V_OK);
  EXPECT_EQ(X509_verify(ca.get(), X509_get0_pubkey(ca.get())), 1);
  EXPECT_EQ(X509_get_signature_nid(ca.get()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(X509_get_version(ca.get()), X509_VERSION_3);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_TRUE(ExtensionIsCritical(ca.get(), NID_basic_constraints));
  EXPECT_EQ(X509_get_pathlen(ca.get()), 0);
  EXPECT_TRUE(ExtensionIsCritical(ca.get(), NID_key_usage));
  EXPECT_EQ(X509_get_key_usage(ca.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_NE(X509_get0_subject_key_id(ca.get()), nullptr);
  const absl::Duration lifetime = NotAfter(ca.get()) - absl::Now();
  EXPECT_GT(lifetime, absl::Hours(24 * 364));
  EXPECT_LE(lifetime, absl::Hours(24 * 365));
}

TEST_F(AgentCaTest, AgentCertificateVerifiesAsClientUnderTheCa) {
  SslUniquePtr<EVP_PKEY> agent_key = NewKey("EC", "P-256");
  auto pem = IssueFor(agent_key.get());
  ASSERT_TRUE(pem.ok()) << pem.status();
  SslUniquePtr<X509> ca = ParsePem(ca_pem_);
  SslUniquePtr<X509> cert = ParsePem(*pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(VerifyChain(ca.get(), cert.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  // Client certificates are not server certificates.
  EXPECT_EQ(VerifyChain(ca.get(), cert.get(), X509_PURPOSE_SSL_SERVER), X509_V_ERR_INVALID_PURPOSE);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(cert.get()), agent_key.get()), 1);
}

TEST_F(AgentCaTest, AgentCertificateCarriesOnlyTheSpiffeIdentityNotTheCsrNames) {
  SslUniquePtr<EVP_PKEY> agent_key = NewKey("EC", "P-384");
  auto pem = IssueFor(agent_key.get(), "web-7");
  ASSERT_TRUE(pem.ok()) << pem.status();
  SslUniquePtr<X509> cert = ParsePem(*pem);
  ASSERT_NE(cert, nullptr);
  const std::vector<std::pair<int, std::string>> expected = {
      {GEN_URI, "spiffe://dept.example/agent/web-7"}};
  EXPECT_EQ(SubjectAltNames(cert.get()), expected);
  EXPECT_EQ(CommonName(cert.get()), "web-7");

  auto identity = IdentifyPeerAgentPem(*pem, kTrustDomain);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->name, "web-7");
  EXPECT_EQ(identity->cert_sha256_hex.size(), 64u);
}

TEST_F(AgentCaTest, AgentCertificateHasTheClientProfile) {
  SslUniquePtr<EVP_PKEY> agent_key = NewKey("EC", "P-256");
  auto pem = IssueFor(agent_key.get());
  ASSERT_TRUE(pem.ok()) << pem.status();
  SslUniquePtr<X509> ca = ParsePem(ca_pem_);
  SslUniquePtr<X509> cert = ParsePem(*pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_get_version(cert.get()), X509_VERSION_3);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_TRUE(ExtensionIsCritical(cert.get(), NID_basic_constraints));
  EXPECT_TRUE(ExtensionIsCritical(cert.get(), NID_key_usage));
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()), static_cast<uint32_t>(XKU_SSL_CLIENT));
  ASSERT_NE(X509_get0_authority_key_id(cert.get()), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert.get()),
                                  X509_get0_subject_key_id(ca.get())),
            0);
  EXPECT_NE(X509_get0_subject_key_id(cert.get()), nullptr);
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(cert.get()), X509_get_subject_name(ca.get())), 0);
  // Backdated a little, valid for the requested 30 days.
  EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(cert.get())), 0);
  const absl::Duration lifetime = NotAfter(cert.get()) - absl::Now();
  EXPECT_GT(lifetime, absl::Hours(24 * 29));
  EXPECT_LE(lifetime, absl::Hours(24 * 30));
}

TEST_F(AgentCaTest, SerialNumbersAreRandom128BitPositiveIntegers) {
  SslUniquePtr<EVP_PKEY> agent_key = NewKey("EC", "P-256");
  auto first = IssueFor(agent_key.get());
  auto second = IssueFor(agent_key.get());
  ASSERT_TRUE(first.ok() && second.ok());
  SslUniquePtr<X509> a = ParsePem(*first);
  SslUniquePtr<X509> b = ParsePem(*second);
  SslUniquePtr<BIGNUM> serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(a.get()), nullptr));
  EXPECT_FALSE(BN_is_negative(serial.get()));
  EXPECT_EQ(BN_num_bits(serial.get()), 129);  // 0x01 marker + 128 random bits
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(a.get()), X509_get0_serialNumber(b.get())), 0);
}

TEST_F(AgentCaTest, AcceptsPemCsrAndRsaAgentKeys) {
  SslUniquePtr<EVP_PKEY> agent_key = NewKey("RSA", nullptr, 2048);
  auto pem = IssueAgentCertificate(ca_key(), ca_pem_, ToPemCsr(MakeCsrDer(agent_key.get())), "web1",
                                   kTrustDomain, 30);
  ASSERT_TRUE(pem.ok()) << pem.status();
  SslUniquePtr<X509> ca = ParsePem(ca_pem_);
  SslUniquePtr<X509> cert = ParsePem(*pem);
  EXPECT_EQ(VerifyChain(ca.get(), cert.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

TEST_F(AgentCaTest, LeafValidityIsClampedToTheCaExpiry) {
  auto short_ca = CreateSelfSignedCaCertificate(ca_key(), "short-lived CA", absl::Hours(48));
  ASSERT_TRUE(short_ca.ok()) << short_ca.status();
  SslUniquePtr<EVP_PKEY> agent_key = NewKey("EC", "P-256");
  auto pem = IssueAgentCertificate(ca_key(), *short_ca, MakeCsrDer(agent_key.get()), "web1",
                                   kTrustDomain, 365);
  ASSERT_TRUE(pem.ok()) << pem.status();
  SslUniquePtr<X509> ca = ParsePem(*short_ca);
  SslUniquePtr<X509> cert = ParsePem(*pem);
  EXPECT_EQ(ASN1_TIME_compare(X509_get0_notAfter(cert.get()), X509_get0_notAfter(ca.get())), 0);
  EXPECT_EQ(VerifyChain(ca.get(), cert.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

TEST_F(AgentCaTest, ExplicitPastWindowGivesAnExpiredCertificateWithExactlyThoseDates) {
  SslUniquePtr<EVP_PKEY> agent_key = NewKey("EC", "P-256");
  const absl::Time not_before =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now())) - absl::Hours(48);
  const LeafValidity past{not_before, not_before + absl::Hours(24)};
  auto pem = IssueAgentCertificate(ca_key(), ca_pem_, MakeCsrDer(agent_key.get()), "web1",
                                   kTrustDomain, past);
  ASSERT_TRUE(pem.ok()) << pem.status();
  SslUniquePtr<X509> ca = ParsePem(ca_pem_);
  SslUniquePtr<X509> cert = ParsePem(*pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(NotAfter(cert.get()), past.not_after);
  struct tm tm;
  ASSERT_EQ(ASN1_TIME_to_tm(X509_get0_notBefore(cert.get()), &tm), 1);
  EXPECT_EQ(absl::FromTM(tm, absl::UTCTimeZone()), past.not_before);
  // Same profile as the days form; only the dates make it unusable.
  EXPECT_EQ(VerifyChain(ca.get(), cert.get(), X509_PURPOSE_SSL_CLIENT),
            X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(
      SubjectAltNames(cert.get()),
      (std::vector<std::pair<int, std::string>>{{GEN_URI, "spiffe://dept.example/agent/web1"}}));
}

TEST_F(AgentCaTest, ExplicitWindowIsRefusedWhenEmptyTooLongOrOutlivingTheCa) {
  SslUniquePtr<EVP_PKEY> agent_key = NewKey("EC", "P-256");
  const std::string csr = MakeCsrDer(agent_key.get());
  const absl::Time now = absl::Now();
  auto issue = [&](absl::Time not_before, absl::Time not_after) {
    return IssueAgentCertificate(ca_key(), ca_pem_, csr, "web1", kTrustDomain,
                                 LeafValidity{not_before, not_after});
  };
  EXPECT_THAT(issue(now, now),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("validity window is empty")));
  EXPECT_THAT(issue(now, now - absl::Hours(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("validity window is empty")));
  EXPECT_THAT(issue(now - absl::Hours(24 * 3652), now - absl::Hours(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 3650 days")));
  // The CA in SetUp lives a year.
  EXPECT_THAT(
      issue(now, now + absl::Hours(24 * 400)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("after the agent CA certificate")));
}

TEST_F(AgentCaTest, RefusesCsrWhoseSignatureDoesNotVerify) {
  SslUniquePtr<EVP_PKEY> agent_key = NewKey("EC", "P-256");
  std::string csr = MakeCsrDer(agent_key.get());
  csr[csr.size() - 5] ^= 0x01;  // inside the signature BIT STRING
  EXPECT_THAT(
      IssueAgentCertificate(ca_key(), ca_pem_, csr, "web1", kTrustDomain, 30),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CSR's signature does not verify")));
}

TEST_F(AgentCaTest, RefusesWeakAndUnsupportedKeys) {
  SslUniquePtr<EVP_PKEY> rsa1024 = NewKey("RSA", nullptr, 1024);
  EXPECT_THAT(IssueFor(rsa1024.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RSA key of 1024 bits")));
  SslUniquePtr<EVP_PKEY> p521 = NewKey("EC", "P-521");
  EXPECT_THAT(IssueFor(p521.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("only P-256 and P-384")));
  SslUniquePtr<EVP_PKEY> ed25519 = NewKey("ED25519");
  EXPECT_THAT(IssueFor(ed25519.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ED25519 refused")));
}

TEST_F(AgentCaTest, RefusesGarbageCsr) {
  EXPECT_THAT(
      IssueAgentCertificate(ca_key(), ca_pem_, "not a csr", "web1", kTrustDomain, 30),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("neither a PEM nor a DER PKCS#10")));
  EXPECT_THAT(IssueAgentCertificate(ca_key(), ca_pem_, "", "web1", kTrustDomain, 30),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CSR")));
}

TEST_F(AgentCaTest, RefusesBadAgentNameTrustDomainOrValidity) {
  SslUniquePtr<EVP_PKEY> agent_key = NewKey("EC", "P-256");
  const std::string csr = MakeCsrDer(agent_key.get());
  EXPECT_THAT(IssueAgentCertificate(ca_key(), ca_pem_, csr, "Web/1", kTrustDomain, 30),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid agent name")));
  EXPECT_THAT(IssueAgentCertificate(ca_key(), ca_pem_, csr, "web1", "Dept.Example", 30),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid trust domain")));
  EXPECT_THAT(IssueAgentCertificate(ca_key(), ca_pem_, csr, "web1", kTrustDomain, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("out of range 1..3650")));
}

TEST_F(AgentCaTest, RefusesACaCertificateOfAnotherKey) {
  auto other_ca = CreateSelfSignedCaCertificate(*keys_->p384, "other CA", absl::Hours(48));
  ASSERT_TRUE(other_ca.ok()) << other_ca.status();
  SslUniquePtr<EVP_PKEY> agent_key = NewKey("EC", "P-256");
  EXPECT_THAT(IssueAgentCertificate(ca_key(), *other_ca, MakeCsrDer(agent_key.get()), "web1",
                                    kTrustDomain, 30),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("does not belong")));
}

TEST_F(AgentCaTest, RefusesALeafCertificateAsCa) {
  SslUniquePtr<EVP_PKEY> agent_key = NewKey("EC", "P-256");
  auto leaf = IssueFor(agent_key.get());
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  EXPECT_THAT(
      IssueAgentCertificate(ca_key(), *leaf, MakeCsrDer(agent_key.get()), "web1", kTrustDomain, 30),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a CA certificate")));
  EXPECT_THAT(IssueAgentCertificate(ca_key(), "garbage", MakeCsrDer(agent_key.get()), "web1",
                                    kTrustDomain, 30),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a PEM certificate")));
}

TEST_F(AgentCaTest, AWrongSignatureFromTheTokenNeverBecomesACertificate) {
  CorruptingSigner faulty(ca_key());
  EXPECT_THAT(CreateSelfSignedCaCertificate(faulty, "CA", absl::Hours(48)),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("does not verify")));
  SslUniquePtr<EVP_PKEY> agent_key = NewKey("EC", "P-256");
  EXPECT_THAT(
      IssueAgentCertificate(faulty, ca_pem_, MakeCsrDer(agent_key.get()), "web1", kTrustDomain, 30),
      StatusIs(absl::StatusCode::kInternal, HasSubstr("does not verify")));
}

TEST_F(AgentCaTest, RefusesUnsupportedSignatureAlgorithmAndBadCaParameters) {
  OtherAlgorithmSigner other(ca_key());
  EXPECT_THAT(CreateSelfSignedCaCertificate(other, "CA", absl::Hours(48)),
              StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("PS256")));
  EXPECT_THAT(CreateSelfSignedCaCertificate(ca_key(), "", absl::Hours(48)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("common name")));
  EXPECT_THAT(CreateSelfSignedCaCertificate(ca_key(), "CA", absl::Hours(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("out of range")));
}

TEST_F(AgentCaTest, ServerCertificateVerifiesForItsNamesAsServerOnly) {
  SslUniquePtr<EVP_PKEY> server_key = NewKey("EC", "P-256");
  auto pem = IssueServerCertificate(ca_key(), ca_pem_, PublicKeyPem(server_key.get()),
                                    {"localhost", "signer.dept.example"}, {"127.0.0.1", "::1"}, 90);
  ASSERT_TRUE(pem.ok()) << pem.status();
  SslUniquePtr<X509> ca = ParsePem(ca_pem_);
  SslUniquePtr<X509> cert = ParsePem(*pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(CommonName(cert.get()), "localhost");
  EXPECT_EQ(VerifyChain(ca.get(), cert.get(), X509_PURPOSE_SSL_SERVER, "signer.dept.example"),
            X509_V_OK);
  EXPECT_EQ(VerifyChain(ca.get(), cert.get(), X509_PURPOSE_SSL_SERVER, nullptr, "::1"), X509_V_OK);
  EXPECT_EQ(VerifyChain(ca.get(), cert.get(), X509_PURPOSE_SSL_SERVER, nullptr, "127.0.0.1"),
            X509_V_OK);
  EXPECT_EQ(VerifyChain(ca.get(), cert.get(), X509_PURPOSE_SSL_SERVER, "other.dept.example"),
            X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_EQ(VerifyChain(ca.get(), cert.get(), X509_PURPOSE_SSL_CLIENT), X509_V_ERR_INVALID_PURPOSE);
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()), static_cast<uint32_t>(XKU_SSL_SERVER));
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
}

TEST_F(AgentCaTest, ServerCertificateAcceptsDerPublicKeyAndRsaGetsKeyEncipherment) {
  SslUniquePtr<EVP_PKEY> server_key = NewKey("RSA", nullptr, 2048);
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(server_key.get(), &der);
  const std::string spki(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  auto pem = IssueServerCertificate(ca_key(), ca_pem_, spki, {"localhost"}, {}, 90);
  ASSERT_TRUE(pem.ok()) << pem.status();
  SslUniquePtr<X509> cert = ParsePem(*pem);
  EXPECT_EQ(X509_get_key_usage(cert.get()),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
}

TEST_F(AgentCaTest, ServerCertificateRefusesBadNames) {
  SslUniquePtr<EVP_PKEY> server_key = NewKey("EC", "P-256");
  const std::string key_pem = PublicKeyPem(server_key.get());
  EXPECT_THAT(IssueServerCertificate(ca_key(), ca_pem_, key_pem, {}, {}, 90),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least one")));
  EXPECT_THAT(IssueServerCertificate(ca_key(), ca_pem_, key_pem, {"Bad,Name"}, {}, 90),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a lowercase host")));
  EXPECT_THAT(IssueServerCertificate(ca_key(), ca_pem_, key_pem, {}, {"300.1.2.3"}, 90),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an IP address")));
  EXPECT_THAT(IssueServerCertificate(ca_key(), ca_pem_, "junk", {"localhost"}, {}, 90),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("server public key")));
}

// Every CA key type the HSM can hold signs certificates OpenSSL accepts.
class AgentCaKeyTypeTest : public AgentCaTest,
                           public ::testing::WithParamInterface<hsm::KeyType> {};

TEST_P(AgentCaKeyTypeTest, CaOfThisKeyTypeIssuesVerifiableAgentCertificates) {
  const hsm::JwsSigner& key = GetParam() == hsm::KeyType::kEcP256   ? *keys_->p256
                              : GetParam() == hsm::KeyType::kEcP384 ? *keys_->p384
                                                                    : *keys_->rsa2048;
  const int expected_nid = GetParam() == hsm::KeyType::kEcP256   ? NID_ecdsa_with_SHA256
                           : GetParam() == hsm::KeyType::kEcP384 ? NID_ecdsa_with_SHA384
                                                                 : NID_sha256WithRSAEncryption;
  auto ca_pem = CreateSelfSignedCaCertificate(key, "CA", absl::Hours(48));
  ASSERT_TRUE(ca_pem.ok()) << ca_pem.status();
  SslUniquePtr<EVP_PKEY> agent_key = NewKey("EC", "P-256");
  auto pem =
      IssueAgentCertificate(key, *ca_pem, MakeCsrDer(agent_key.get()), "web1", kTrustDomain, 30);
  ASSERT_TRUE(pem.ok()) << pem.status();
  SslUniquePtr<X509> ca = ParsePem(*ca_pem);
  SslUniquePtr<X509> cert = ParsePem(*pem);
  EXPECT_EQ(X509_get_signature_nid(ca.get()), expected_nid);
  EXPECT_EQ(X509_get_signature_nid(cert.get()), expected_nid);
  EXPECT_EQ(VerifyChain(ca.get(), cert.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

INSTANTIATE_TEST_SUITE_P(AllCaKeyTypes, AgentCaKeyTypeTest,
                         ::testing::Values(hsm::KeyType::kEcP256, hsm::KeyType::kEcP384,
                                           hsm::KeyType::kRsa2048),
                         [](const auto& info) {
                           std::string name = hsm::KeyTypeName(info.param);
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

}  // namespace
}  // namespace acme_signer::signer
