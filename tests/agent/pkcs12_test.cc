#include "agent/pkcs12.h"

#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include <cstdio>
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
using ::testing::HasSubstr;

struct Parsed {
  SslUniquePtr<EVP_PKEY> key;
  SslUniquePtr<X509> cert;
  X509Stack chain;
};

// PKCS12_parse, the same routine OpenSSL-based importers use.
bool Parse(const std::string& der, const char* password, Parsed* out) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  SslUniquePtr<PKCS12> p12(d2i_PKCS12(nullptr, &p, static_cast<long>(der.size())));
  if (p12 == nullptr) return false;
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* chain = nullptr;
  int ok = PKCS12_parse(p12.get(), password, &key, &cert, &chain);
  out->key.reset(key);
  out->cert.reset(cert);
  out->chain.reset(chain);
  return ok == 1;
}

int MacDigestNid(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  SslUniquePtr<PKCS12> p12(d2i_PKCS12(nullptr, &p, static_cast<long>(der.size())));
  const X509_ALGOR* alg = nullptr;
  PKCS12_get0_mac(nullptr, &alg, nullptr, nullptr, p12.get());
  return alg == nullptr ? NID_undef : OBJ_obj2nid(alg->algorithm);
}

// `openssl pkcs12 -info` output: it names the PBE algorithms actually used.
std::string OpenSslInfo(const std::string& dir, const std::string& der, const std::string& pass) {
  const std::string pfx = dir + "/x.pfx";
  const std::string passfile = dir + "/pass";
  if (!WriteFileAtomically(pfx, der, 0600).ok()) return "";
  if (!WriteFileAtomically(passfile, pass + "\n", 0600).ok()) return "";
  const std::string cmd =
      "openssl pkcs12 -info -noout -in " + pfx + " -passin file:" + passfile + " 2>&1";
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return "";
  char buf[512];
  while (fgets(buf, sizeof(buf), f) != nullptr) out += buf;
  ::pclose(f);
  return out;
}

class Pkcs12Test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = PrivateKey::Generate(KeySpec());
    ASSERT_THAT(key, IsOk());
    key_ = std::make_unique<PrivateKey>(*std::move(key));
    cert_pem_ = ca_.Issue(key_->get(), {"example.com"}, absl::Now(), absl::Now() + absl::Hours(24));
  }
  testing::TestCa ca_;
  std::unique_ptr<PrivateKey> key_;
  std::string cert_pem_;
  testing::TempDir dir_;
};

TEST_F(Pkcs12Test, ModernBundleUsesAes256Pbkdf2AndSha256MacAndParsesBack) {
  Secret password("correct horse");
  auto der = BuildPkcs12(*key_, cert_pem_, ca_.cert_pem(), password, Pkcs12Mode::kModern, "web");
  ASSERT_THAT(der, IsOk());
  Parsed parsed;
  ASSERT_TRUE(Parse(*der, "correct horse", &parsed));
  EXPECT_EQ(X509_check_private_key(parsed.cert.get(), parsed.key.get()), 1);
  EXPECT_EQ(EVP_PKEY_eq(parsed.key.get(), key_->get()), 1);
  ASSERT_NE(parsed.chain, nullptr);
  EXPECT_EQ(sk_X509_num(parsed.chain.get()), 1);
  EXPECT_EQ(MacDigestNid(*der), NID_sha256);
  std::string info = OpenSslInfo(dir_.path(), *der, "correct horse");
  EXPECT_THAT(info, HasSubstr("PBES2, PBKDF2, AES-256-CBC"));
  EXPECT_THAT(info, ::testing::Not(HasSubstr("3DES")));
  EXPECT_THAT(info, HasSubstr("MAC: sha256"));
}

TEST_F(Pkcs12Test, LegacyBundleUses3DesAndSha1MacAndParsesBack) {
  Secret password("old windows");
  auto der = BuildPkcs12(*key_, cert_pem_, ca_.cert_pem(), password, Pkcs12Mode::kLegacy);
  ASSERT_THAT(der, IsOk());
  Parsed parsed;
  ASSERT_TRUE(Parse(*der, "old windows", &parsed));
  EXPECT_EQ(X509_check_private_key(parsed.cert.get(), parsed.key.get()), 1);
  EXPECT_EQ(sk_X509_num(parsed.chain.get()), 1);
  EXPECT_EQ(MacDigestNid(*der), NID_sha1);
  std::string info = OpenSslInfo(dir_.path(), *der, "old windows");
  EXPECT_THAT(info, HasSubstr("pbeWithSHA1And3-KeyTripleDES-CBC"));
  EXPECT_THAT(info, ::testing::Not(HasSubstr("AES")));
}

TEST_F(Pkcs12Test, WrongPasswordIsRejectedByTheMac) {
  for (Pkcs12Mode mode : {Pkcs12Mode::kModern, Pkcs12Mode::kLegacy}) {
    auto der = BuildPkcs12(*key_, cert_pem_, ca_.cert_pem(), Secret("right"), mode);
    ASSERT_THAT(der, IsOk());
    Parsed parsed;
    EXPECT_FALSE(Parse(*der, "wrong", &parsed));
    EXPECT_EQ(parsed.key, nullptr);
    ERR_clear_error();
  }
}

TEST_F(Pkcs12Test, EmptyPasswordProducesAnImportableBundle) {
  auto der = BuildPkcs12(*key_, cert_pem_, "", Secret(), Pkcs12Mode::kModern);
  ASSERT_THAT(der, IsOk());
  Parsed parsed;
  ASSERT_TRUE(Parse(*der, "", &parsed));
  EXPECT_EQ(X509_check_private_key(parsed.cert.get(), parsed.key.get()), 1);
  EXPECT_TRUE(parsed.chain == nullptr || sk_X509_num(parsed.chain.get()) == 0);
}

TEST_F(Pkcs12Test, RefusesAKeyThatDoesNotMatchTheCertificate) {
  auto other = PrivateKey::Generate(KeySpec());
  ASSERT_THAT(other, IsOk());
  EXPECT_THAT(BuildPkcs12(*other, cert_pem_, ca_.cert_pem(), Secret("x"), Pkcs12Mode::kModern),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not belong")));
}

TEST_F(Pkcs12Test, RefusesMissingOrCorruptCertificates) {
  EXPECT_THAT(BuildPkcs12(*key_, "", ca_.cert_pem(), Secret("x"), Pkcs12Mode::kModern),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no certificate")));
  std::string corrupt = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  EXPECT_THAT(BuildPkcs12(*key_, cert_pem_, corrupt, Secret("x"), Pkcs12Mode::kModern),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot parse chain")));
}

}  // namespace
}  // namespace acme_signer::agent
