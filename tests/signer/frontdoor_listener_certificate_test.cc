// The front door's listener certificate as `acme-signer init` makes it: a real agent CA key in
// a SoftHSM2 token, the files on disk, and the certificate checked with OpenSSL's own chain
// verification (independent of the code under test).
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/crypto.h"
#include "common/ssl_unique_ptr.h"
#include "common/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/jws_signer.h"
#include "hsm/key_type.h"
#include "signer/agent_ca.h"
#include "signer/config.h"
#include "signer/frontdoor/listener_certificate.h"
#include "tests/hsm/hsm_test_util.h"
#include "tests/testing/server_certificate.h"
#include "tests/testing/softhsm_token.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer::frontdoor {
namespace {

namespace fs = std::filesystem;
using ::acme_signer::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

mode_t Mode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

SslUniquePtr<X509> CertificateFile(const std::string& path) {
  absl::StatusOr<SslUniquePtr<X509>> cert = ParseCertificatePem(ReadAll(path));
  EXPECT_TRUE(cert.ok()) << cert.status();
  return cert.ok() ? std::move(*cert) : nullptr;
}

SslUniquePtr<EVP_PKEY> KeyFile(const std::string& path) {
  const std::string pem = ReadAll(path);
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return SslUniquePtr<EVP_PKEY>(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

// X509_V_OK or OpenSSL's verification error of `leaf` under the single root `ca`, as a TLS
// server certificate for `host` (a DNS name) or `ip`.
int VerifyServer(X509* ca, X509* leaf, const char* host, const char* ip) {
  SslUniquePtr<X509_STORE> store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca);
  SslUniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  if (host != nullptr) X509_VERIFY_PARAM_set1_host(param, host, 0);
  if (ip != nullptr) X509_VERIFY_PARAM_set1_ip_asc(param, ip);
  if (X509_verify_cert(ctx.get()) == 1) return X509_V_OK;
  return X509_STORE_CTX_get_error(ctx.get());
}

// The subjectAltName entries as ("DNS", name) / ("IP", text) in certificate order.
std::vector<std::pair<std::string, std::string>> Names(X509* cert) {
  std::vector<std::pair<std::string, std::string>> out;
  SslUniquePtr<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      out.emplace_back("DNS", std::string(AsStringView(ASN1_STRING_get0_data(name->d.dNSName),
                                                       ASN1_STRING_length(name->d.dNSName))));
    } else if (name->type == GEN_IPADD) {
      const int length = ASN1_STRING_length(name->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = "?";
      if (length == 4 || length == 16) {
        ::inet_ntop(length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(name->d.iPAddress),
                    text, sizeof(text));
      }
      out.emplace_back("IP", text);
    } else {
      out.emplace_back("other", "");
    }
  }
  return out;
}

// One SoftHSM2 token per process with the agent CA key (SoftHSM2 sees only tokens created
// before the module is loaded).
class ListenerCertificateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!::acme_signer::testing::SoftHsmAvailable().ok()) return;
    auto opened = hsm::testing::OpenFreshToken("listener-cert");
    ASSERT_TRUE(opened.ok()) << opened.status();
    opened_ = new hsm::testing::OpenedToken(std::move(*opened));
    auto key = opened_->token->GenerateSigningKey("pkcs11:object=agent-ca", hsm::KeyType::kEcP256);
    ASSERT_TRUE(key.ok()) << key.status();
    ca_key_ = key->release();
    auto ca = CreateSelfSignedCaCertificate(*ca_key_, "acme-signer agent CA lab.test",
                                            absl::Hours(24 * 3650));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_pem_ = new std::string(*ca);
  }
  static void TearDownTestSuite() {
    delete ca_key_;
    delete opened_;
    delete ca_pem_;
    ca_key_ = nullptr;
    opened_ = nullptr;
    ca_pem_ = nullptr;
  }

  void SetUp() override {
    ACME_SIGNER_REQUIRE_SOFTHSM();
    ASSERT_NE(ca_key_, nullptr);
    char tmpl[] = "/tmp/listener_certificate_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  AcmeServerConfig Config(const std::string& external_url, const std::string& sub = "") {
    if (!sub.empty()) fs::create_directories(dir_ + "/" + sub);
    const std::string base = sub.empty() ? dir_ : dir_ + "/" + sub;
    AcmeServerConfig config;
    config.listen = "127.0.0.1:8443";
    config.external_url = external_url;
    config.tls_certificate = base + "/front-door.pem";
    config.tls_private_key = base + "/front-door.key";
    return config;
  }

  absl::StatusOr<ListenerCertificateAction> Ensure(const AcmeServerConfig& config) {
    return EnsureListenerCertificate(config, *ca_key_, *ca_pem_);
  }

  SslUniquePtr<X509> Ca() {
    absl::StatusOr<SslUniquePtr<X509>> ca = ParseCertificatePem(*ca_pem_);
    EXPECT_TRUE(ca.ok()) << ca.status();
    return ca.ok() ? std::move(*ca) : nullptr;
  }

  static hsm::testing::OpenedToken* opened_;
  static hsm::JwsSigner* ca_key_;
  static std::string* ca_pem_;
  std::string dir_;
};

hsm::testing::OpenedToken* ListenerCertificateTest::opened_ = nullptr;
hsm::JwsSigner* ListenerCertificateTest::ca_key_ = nullptr;
std::string* ListenerCertificateTest::ca_pem_ = nullptr;

TEST_F(ListenerCertificateTest, MakesA0600KeyAndACertificateTheAgentCaVerifiesForEveryName) {
  const AcmeServerConfig config = Config("https://signer.lab.test:8443/acme");
  ASSERT_THAT(Ensure(config),
              ::acme_signer::testing::IsOkAndHolds(ListenerCertificateAction::kCreated));

  EXPECT_EQ(Mode(config.tls_private_key), 0600u);
  SslUniquePtr<EVP_PKEY> key = KeyFile(config.tls_private_key);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(EVP_PKEY_get_base_id(key.get()), EVP_PKEY_EC);
  char group[64] = {0};
  size_t group_length = 0;
  ASSERT_EQ(EVP_PKEY_get_group_name(key.get(), group, sizeof(group), &group_length), 1);
  EXPECT_STREQ(group, "prime256v1");
  EXPECT_THAT(ReadAll(config.tls_private_key), HasSubstr("-----BEGIN PRIVATE KEY-----"));

  SslUniquePtr<X509> cert = CertificateFile(config.tls_certificate);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_THAT(Names(cert.get()),
              ElementsAre(Pair("DNS", "signer.lab.test"), Pair("DNS", "localhost"),
                          Pair("IP", "127.0.0.1"), Pair("IP", "::1")));
  SslUniquePtr<X509> ca = Ca();
  EXPECT_EQ(VerifyServer(ca.get(), cert.get(), "signer.lab.test", nullptr), X509_V_OK);
  EXPECT_EQ(VerifyServer(ca.get(), cert.get(), "localhost", nullptr), X509_V_OK);
  EXPECT_EQ(VerifyServer(ca.get(), cert.get(), nullptr, "127.0.0.1"), X509_V_OK);
  EXPECT_EQ(VerifyServer(ca.get(), cert.get(), nullptr, "::1"), X509_V_OK);
  EXPECT_EQ(VerifyServer(ca.get(), cert.get(), "other.lab.test", nullptr),
            X509_V_ERR_HOSTNAME_MISMATCH);

  // Validity like the gRPC server certificate's.
  absl::StatusOr<absl::Time> not_after = NotAfter(*cert);
  ASSERT_TRUE(not_after.ok()) << not_after.status();
  const absl::Duration lifetime = *not_after - absl::Now();
  EXPECT_GT(lifetime, absl::Hours(24 * (kServerCertificateDays - 1)));
  EXPECT_LE(lifetime, absl::Hours(24 * (kServerCertificateDays + 1)));
}

TEST_F(ListenerCertificateTest, AnIpHostInTheExternalUrlBecomesAnIpNameOnce) {
  {
    const AcmeServerConfig config = Config("https://127.0.0.1:14000", "v4");
    ASSERT_TRUE(Ensure(config).ok());
    SslUniquePtr<X509> cert = CertificateFile(config.tls_certificate);
    ASSERT_NE(cert, nullptr);
    EXPECT_THAT(Names(cert.get()),
                ElementsAre(Pair("DNS", "localhost"), Pair("IP", "127.0.0.1"), Pair("IP", "::1")));
  }
  {
    const AcmeServerConfig config = Config("https://[::1]:14000", "v6");
    ASSERT_TRUE(Ensure(config).ok());
    SslUniquePtr<X509> cert = CertificateFile(config.tls_certificate);
    ASSERT_NE(cert, nullptr);
    EXPECT_THAT(Names(cert.get()),
                ElementsAre(Pair("DNS", "localhost"), Pair("IP", "::1"), Pair("IP", "127.0.0.1")));
  }
  {
    const AcmeServerConfig config = Config("https://192.0.2.10", "lan");
    ASSERT_TRUE(Ensure(config).ok());
    SslUniquePtr<X509> cert = CertificateFile(config.tls_certificate);
    ASSERT_NE(cert, nullptr);
    EXPECT_THAT(Names(cert.get()), ElementsAre(Pair("DNS", "localhost"), Pair("IP", "192.0.2.10"),
                                               Pair("IP", "127.0.0.1"), Pair("IP", "::1")));
    SslUniquePtr<X509> ca = Ca();
    EXPECT_EQ(VerifyServer(ca.get(), cert.get(), nullptr, "192.0.2.10"), X509_V_OK);
  }
}

TEST_F(ListenerCertificateTest, ASecondRunKeepsBothFilesUnchanged) {
  const AcmeServerConfig config = Config("https://127.0.0.1:14000");
  ASSERT_TRUE(Ensure(config).ok());
  const std::string cert_before = ReadAll(config.tls_certificate);
  const std::string key_before = ReadAll(config.tls_private_key);
  ASSERT_THAT(Ensure(config),
              ::acme_signer::testing::IsOkAndHolds(ListenerCertificateAction::kKept));
  EXPECT_EQ(ReadAll(config.tls_certificate), cert_before);
  EXPECT_EQ(ReadAll(config.tls_private_key), key_before);
  EXPECT_EQ(Mode(config.tls_private_key), 0600u);
}

TEST_F(ListenerCertificateTest, KeepsAPairTheOperatorGotFromAnotherCa) {
  const AcmeServerConfig config = Config("https://signer.lab.test");
  auto supplied = ::acme_signer::testing::MakeSelfSignedServerCertificate(
      "the operator's certificate", "signer.lab.test", "DNS:signer.lab.test", absl::Hours(24));
  ASSERT_TRUE(supplied.ok()) << supplied.status();
  auto cert_pem = ToPem(supplied->cert.get(), PEM_write_bio_X509, "the certificate");
  ASSERT_TRUE(cert_pem.ok());
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio.get(), supplied->key.get(), nullptr, nullptr, 0, nullptr,
                                     nullptr),
            1);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  WriteText(config.tls_certificate, *cert_pem);
  WriteText(config.tls_private_key, std::string(data, static_cast<size_t>(length)));

  ASSERT_THAT(Ensure(config),
              ::acme_signer::testing::IsOkAndHolds(ListenerCertificateAction::kKept));
  EXPECT_EQ(ReadAll(config.tls_certificate), *cert_pem);
}

TEST_F(ListenerCertificateTest, AKeyWithoutItsCertificateIsAnErrorNamingBothFiles) {
  const AcmeServerConfig config = Config("https://127.0.0.1:14000");
  WriteText(config.tls_private_key, "not looked at");
  EXPECT_THAT(Ensure(config),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(config.tls_private_key), HasSubstr(config.tls_certificate),
                             HasSubstr("exists but acme_server.tls_certificate"))));
  EXPECT_EQ(ReadAll(config.tls_private_key), "not looked at");
  EXPECT_FALSE(fs::exists(config.tls_certificate));
}

TEST_F(ListenerCertificateTest, ACertificateWithoutItsKeyIsAnErrorNamingBothFiles) {
  const AcmeServerConfig config = Config("https://127.0.0.1:14000");
  WriteText(config.tls_certificate, "not looked at");
  EXPECT_THAT(Ensure(config),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(config.tls_private_key), HasSubstr(config.tls_certificate),
                             HasSubstr("exists but acme_server.tls_private_key"))));
  EXPECT_EQ(ReadAll(config.tls_certificate), "not looked at");
  EXPECT_FALSE(fs::exists(config.tls_private_key));
}

TEST_F(ListenerCertificateTest, ACertificateForAnotherKeyIsRefused) {
  const AcmeServerConfig first = Config("https://127.0.0.1:14000", "a");
  const AcmeServerConfig second = Config("https://127.0.0.1:14000", "b");
  ASSERT_TRUE(Ensure(first).ok());
  ASSERT_TRUE(Ensure(second).ok());
  AcmeServerConfig crossed = first;
  crossed.tls_private_key = second.tls_private_key;
  EXPECT_THAT(Ensure(crossed), StatusIs(absl::StatusCode::kFailedPrecondition,
                                        HasSubstr("is not a certificate for the key")));
}

TEST_F(ListenerCertificateTest, AKeyFileThatIsNotAPlainPemKeyIsRefusedWithoutQuotingIt) {
  const AcmeServerConfig config = Config("https://127.0.0.1:14000");
  ASSERT_TRUE(Ensure(config).ok());
  const std::string garbage =
      "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----\n";
  WriteText(config.tls_private_key, garbage);
  EXPECT_THAT(Ensure(config), StatusIs(absl::StatusCode::kInvalidArgument,
                                       AllOf(HasSubstr("is not an unencrypted PEM private key"),
                                             Not(HasSubstr("c2VjcmV0LWJ5dGVz")))));

  // An encrypted key fails the same way instead of prompting for a passphrase.
  SslUniquePtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  static const char kPass[] = "passphrase";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_256_cbc(), kPass,
                                          sizeof(kPass) - 1, nullptr, nullptr),
            1);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  WriteText(config.tls_private_key, std::string(data, static_cast<size_t>(length)));
  EXPECT_THAT(Ensure(config), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("is not an unencrypted PEM private key")));
}

TEST_F(ListenerCertificateTest, AFailedCertificateWriteRemovesTheNewKey) {
  AcmeServerConfig config = Config("https://127.0.0.1:14000");
  config.tls_certificate = dir_ + "/missing-dir/front-door.pem";
  EXPECT_THAT(Ensure(config), StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing-dir")));
  EXPECT_FALSE(fs::exists(config.tls_private_key));
  EXPECT_FALSE(fs::exists(config.tls_certificate));
  // Nothing half-made is left: the next run, with the directory there, makes both.
  fs::create_directories(dir_ + "/missing-dir");
  EXPECT_THAT(Ensure(config),
              ::acme_signer::testing::IsOkAndHolds(ListenerCertificateAction::kCreated));
}

TEST_F(ListenerCertificateTest, OneFileForBothIsRefusedWhenInitHasToMakeThem) {
  AcmeServerConfig config = Config("https://127.0.0.1:14000");
  config.tls_private_key = config.tls_certificate;
  EXPECT_THAT(Ensure(config),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("init makes them as two")));
  EXPECT_FALSE(fs::exists(config.tls_certificate));
}

}  // namespace
}  // namespace acme_signer::signer::frontdoor
