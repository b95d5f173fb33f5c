#include "acme/ari.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "acme/json_util.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/x509.h"

namespace acme_signer::acme {
namespace {

absl::StatusOr<absl::Time> ParseRfc3339(const internal::Json& obj, absl::string_view field,
                                        absl::string_view what) {
  ASSIGN_OR_RETURN(std::string text, internal::RequiredString(obj, field, what));
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ".", field, " is not an RFC 3339 time: \"",
                                                   internal::SanitizeForMessage(text, 60), "\""));
  }
  return time;
}

}  // namespace

absl::StatusOr<std::string> AriCertificateId(absl::string_view certificate_der) {
  ASSIGN_OR_RETURN(SslUniquePtr<X509> cert, ParseCertificateDer(certificate_der));
  const ASN1_OCTET_STRING* key_id = X509_get0_authority_key_id(cert.get());
  if (key_id == nullptr || ASN1_STRING_length(key_id) <= 0) {
    return absl::InvalidArgumentError(
        "certificate has no Authority Key Identifier keyIdentifier, so ARI cannot name it");
  }
  // The serial's DER content octets: i2d gives tag + length + content; the content keeps the
  // leading 0x00 that a positive serial with the high bit set needs (RFC 9773 §4.1).
  ASSIGN_OR_RETURN(const std::string der, ToDer(X509_get0_serialNumber(cert.get()),
                                                i2d_ASN1_INTEGER, "the certificate serial"));
  size_t header = 2;
  if (der.size() > 1 && (der[1] & 0x80)) header += der[1] & 0x7f;
  if (header >= der.size()) {
    return absl::InvalidArgumentError("certificate serial number has a malformed encoding");
  }
  absl::string_view serial = absl::string_view(der).substr(header);
  absl::string_view aki(reinterpret_cast<const char*>(ASN1_STRING_get0_data(key_id)),
                        static_cast<size_t>(ASN1_STRING_length(key_id)));
  return absl::StrCat(Base64Url(aki), ".", Base64Url(serial));
}

absl::StatusOr<RenewalInfo> ParseRenewalInfo(absl::string_view json) {
  ASSIGN_OR_RETURN(internal::Json obj, internal::ParseJsonObject(json, "renewalInfo"));
  auto window = obj.find("suggestedWindow");
  if (window == obj.end() || window->is_null()) {
    return absl::InvalidArgumentError(
        "renewalInfo.suggestedWindow is missing from the server's response");
  }
  if (!window->is_object()) {
    return absl::InvalidArgumentError(
        "renewalInfo.suggestedWindow in the server's response is not an object");
  }
  RenewalInfo info;
  ASSIGN_OR_RETURN(info.window_start,
                   ParseRfc3339(*window, "start", "renewalInfo.suggestedWindow"));
  ASSIGN_OR_RETURN(info.window_end, ParseRfc3339(*window, "end", "renewalInfo.suggestedWindow"));
  if (info.window_end < info.window_start) {
    return absl::InvalidArgumentError(
        "renewalInfo.suggestedWindow.end is before its start in the server's response");
  }
  ASSIGN_OR_RETURN(std::optional<std::string> explanation,
                   internal::OptionalHttpsUrl(obj, "explanationURL", "renewalInfo"));
  info.explanation_url = explanation.value_or("");
  return info;
}

absl::StatusOr<RenewalInfo> DefaultRenewalWindow(absl::string_view certificate_der) {
  ASSIGN_OR_RETURN(SslUniquePtr<X509> cert, ParseCertificateDer(certificate_der));
  ASSIGN_OR_RETURN(absl::Time not_before, NotBefore(*cert));
  ASSIGN_OR_RETURN(absl::Time not_after, NotAfter(*cert));
  if (not_after <= not_before) {
    return absl::InvalidArgumentError("certificate's notAfter is not after its notBefore");
  }
  RenewalInfo info;
  info.window_start = not_before + (not_after - not_before) * 2 / 3;
  info.window_end = not_after;
  auto id = AriCertificateId(certificate_der);
  if (id.ok()) info.certificate_id = *id;
  return info;
}

}  // namespace acme_signer::acme
