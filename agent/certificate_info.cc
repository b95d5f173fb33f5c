#include "agent/certificate_info.h"

#include <openssl/x509v3.h>

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/x509.h"

namespace acme_signer::agent {

absl::StatusOr<CertificateInfo> ReadCertificateInfo(absl::string_view pem) {
  ASSIGN_OR_RETURN(SslUniquePtr<X509> cert, ParseCertificatePem(pem));
  CertificateInfo info;
  ASSIGN_OR_RETURN(info.not_before, NotBefore(*cert));
  ASSIGN_OR_RETURN(info.not_after, NotAfter(*cert));
  // Upper case as it has always been here: the renewal spread is derived from this text.
  absl::StatusOr<std::string> serial = SerialHex(*cert);
  if (serial.ok()) info.serial_hex = absl::AsciiStrToUpper(*serial);

  SslUniquePtr<GENERAL_NAMES> sans(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
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

std::string ValidityText(absl::Time not_after, bool revoked, absl::Time now) {
  if (revoked) return "REVOKED";
  if (not_after <= now) return "INVALID: EXPIRED";
  const absl::Duration left = not_after - now;
  const int64_t days = left / absl::Hours(24);
  if (days == 1) return "VALID: 1 day";
  if (days < 1) return absl::StrCat("VALID: ", left / absl::Hours(1), " hour(s)");
  return absl::StrCat("VALID: ", days, " days");
}

}  // namespace acme_signer::agent
