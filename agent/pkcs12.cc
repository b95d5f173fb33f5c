#include "agent/pkcs12.h"

#include <openssl/pkcs12.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/x509.h"

namespace acme_signer::agent {
namespace {

// The certificates of a PEM bundle as the stack PKCS12_create_ex takes.
absl::StatusOr<X509Stack> ReadCertificates(absl::string_view pem, const char* what) {
  absl::StatusOr<std::vector<SslUniquePtr<X509>>> read = ReadPemCertificates(pem);
  if (!read.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot parse ", what, ": ", read.status().message()));
  }
  X509Stack certs(sk_X509_new_null());
  if (certs == nullptr) return SslError(absl::StatusCode::kInternal, "sk_X509_new_null");
  for (SslUniquePtr<X509>& cert : *read) {
    if (sk_X509_push(certs.get(), cert.get()) == 0) {
      return SslError(absl::StatusCode::kInternal, "sk_X509_push");
    }
    cert.release();  // the stack owns it now
  }
  return certs;
}

}  // namespace

absl::StatusOr<std::string> BuildPkcs12(const PrivateKey& key, absl::string_view cert_pem,
                                        absl::string_view chain_pem, const Secret& password,
                                        Pkcs12Mode mode, absl::string_view friendly_name) {
  auto leaf = ReadCertificates(cert_pem, "certificate");
  if (!leaf.ok()) return leaf.status();
  if (sk_X509_num(leaf->get()) < 1) {
    return absl::InvalidArgumentError("no certificate in the certificate PEM");
  }
  X509* cert = sk_X509_value(leaf->get(), 0);
  if (!key.MatchesCertificate(cert)) {
    return absl::InvalidArgumentError("the private key does not belong to the certificate");
  }
  auto chain = ReadCertificates(chain_pem, "chain");
  if (!chain.ok()) return chain.status();

  const int nid =
      mode == Pkcs12Mode::kModern ? NID_aes_256_cbc : NID_pbe_WithSHA1And3_Key_TripleDES_CBC;
  const std::string name(friendly_name);
  // The MAC is added separately below so its digest is chosen here, not by OpenSSL's default.
  SslUniquePtr<PKCS12> p12(PKCS12_create_ex(
      password.reveal().data(), name.empty() ? nullptr : name.c_str(), key.get(), cert,
      chain->get(), nid, nid, kPkcs12Iterations, /*mac_iter=*/-1, /*keytype=*/0, nullptr, nullptr));
  if (p12 == nullptr) return SslError(absl::StatusCode::kInternal, "cannot create PKCS#12");
  const EVP_MD* mac_md = mode == Pkcs12Mode::kModern ? EVP_sha256() : EVP_sha1();
  if (PKCS12_set_mac(p12.get(), password.reveal().data(), static_cast<int>(password.size()),
                     nullptr, 0, kPkcs12Iterations, mac_md) != 1) {
    return SslError(absl::StatusCode::kInternal, "cannot add the PKCS#12 MAC");
  }
  return ToDer(p12.get(), i2d_PKCS12, "the PKCS#12 file");
}

}  // namespace acme_signer::agent
