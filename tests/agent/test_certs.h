// Test-only helpers: a throwaway CA that issues real X.509 certificates with OpenSSL, and a
// temporary directory that removes itself. Header-only because each *_test.cc is its own binary.
#ifndef ACME_SIGNER_TESTS_AGENT_TEST_CERTS_H_
#define ACME_SIGNER_TESTS_AGENT_TEST_CERTS_H_

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/ssl_unique_ptr.h"
#include "gtest/gtest.h"

namespace acme_signer::agent::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "agent_test.XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string ToPem(X509* cert) {
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

inline SslUniquePtr<X509> FromPem(const std::string& pem) {
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return SslUniquePtr<X509>(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// A self-signed EC P-256 CA that signs leaf certificates for arbitrary public keys.
class TestCa {
 public:
  TestCa() : key_(EVP_EC_gen("prime256v1")), cert_(X509_new()) {
    X509_set_version(cert_.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert_.get()), 1);
    X509_NAME* name = X509_get_subject_name(cert_.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("agent test CA"), -1, -1, 0);
    X509_set_issuer_name(cert_.get(), name);
    X509_gmtime_adj(X509_getm_notBefore(cert_.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert_.get()), 3600L * 24 * 365);
    X509_set_pubkey(cert_.get(), key_.get());
    X509_sign(cert_.get(), key_.get(), EVP_sha256());
  }

  std::string cert_pem() const { return ToPem(cert_.get()); }

  // PEM leaf for `subject_key` with dNSName SANs, valid [not_before, not_after].
  std::string Issue(EVP_PKEY* subject_key, const std::vector<std::string>& dns_names,
                    absl::Time not_before, absl::Time not_after, long serial = 1000) const {
    SslUniquePtr<X509> leaf(X509_new());
    X509_set_version(leaf.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(leaf.get()), serial);
    X509_set_issuer_name(leaf.get(), X509_get_subject_name(cert_.get()));
    ASN1_TIME_set(X509_getm_notBefore(leaf.get()), absl::ToTimeT(not_before));
    ASN1_TIME_set(X509_getm_notAfter(leaf.get()), absl::ToTimeT(not_after));
    X509_set_pubkey(leaf.get(), subject_key);
    std::string san;
    for (const std::string& n : dns_names) absl::StrAppend(&san, san.empty() ? "" : ",", "DNS:", n);
    if (!san.empty()) {
      X509V3_CTX ctx;
      X509V3_set_ctx(&ctx, cert_.get(), leaf.get(), nullptr, nullptr, 0);
      SslUniquePtr<X509_EXTENSION> ext(
          X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str()));
      X509_add_ext(leaf.get(), ext.get(), -1);
    }
    X509_sign(leaf.get(), key_.get(), EVP_sha256());
    return ToPem(leaf.get());
  }

 private:
  SslUniquePtr<EVP_PKEY> key_;
  SslUniquePtr<X509> cert_;
};

}  // namespace acme_signer::agent::testing

#endif  // ACME_SIGNER_TESTS_AGENT_TEST_CERTS_H_
