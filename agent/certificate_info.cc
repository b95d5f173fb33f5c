#include "agent/certificate_info.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <memory>

#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"

namespace acme_signer::agent {
namespace {

absl::StatusOr<absl::Time> ToTime(const ASN1_TIME* t, const char* which) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    std::string("certificate has an unreadable ") + which);
  }
  return absl::FromTM(tm, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<CertificateInfo> ParseCertificatePem(absl::string_view pem) {
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return SslError(absl::StatusCode::kInternal, "BIO_new_mem_buf");
  SslUniquePtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument, "no PEM certificate found");
  }
  CertificateInfo info;
  auto not_before = ToTime(X509_get0_notBefore(cert.get()), "notBefore");
  if (!not_before.ok()) return not_before.status();
  auto not_after = ToTime(X509_get0_notAfter(cert.get()), "notAfter");
  if (!not_after.ok()) return not_after.status();
  info.not_before = *not_before;
  info.not_after = *not_after;

  SslUniquePtr<BIGNUM> serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  if (serial != nullptr) {
    std::unique_ptr<char, OpenSslFreeDeleter> hex(BN_bn2hex(serial.get()));
    if (hex != nullptr) info.serial_hex = hex.get();
  }

  std::unique_ptr<GENERAL_NAMES, void (*)(GENERAL_NAMES*)> sans(
      static_cast<GENERAL_NAMES*>(
          X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)),
      GENERAL_NAMES_free);
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
      if (gn->type != GEN_DNS) continue;
      const ASN1_IA5STRING* s = gn->d.dNSName;
      info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                  static_cast<size_t>(ASN1_STRING_length(s)));
    }
  }
  return info;
}

}  // namespace acme_signer::agent
