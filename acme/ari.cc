#include "acme/ari.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "acme/digest.h"
#include "acme/json_util.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"

namespace acme_signer::acme {
namespace {

absl::StatusOr<SslUniquePtr<X509>> ParseDer(absl::string_view der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  SslUniquePtr<X509> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (cert == nullptr || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return SslError(absl::StatusCode::kInvalidArgument, "certificate is not valid DER");
  }
  return cert;
}

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

absl::StatusOr<absl::Time> AsnTime(const ASN1_TIME* time) {
  struct tm tm;
  std::memset(&tm, 0, sizeof(tm));
  if (ASN1_TIME_to_tm(time, &tm) != 1) {
    return absl::InvalidArgumentError("certificate has an unreadable validity time");
  }
  return absl::FromTM(tm, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<std::string> AriCertificateId(absl::string_view certificate_der) {
  ASSIGN_OR_RETURN(SslUniquePtr<X509> cert, ParseDer(certificate_der));
  const ASN1_OCTET_STRING* key_id = X509_get0_authority_key_id(cert.get());
  if (key_id == nullptr || ASN1_STRING_length(key_id) <= 0) {
    return absl::InvalidArgumentError(
        "certificate has no Authority Key Identifier keyIdentifier, so ARI cannot name it");
  }
  // The serial's DER content octets: i2d gives tag + length + content; the content keeps the
  // leading 0x00 that a positive serial with the high bit set needs (RFC 9773 §4.1).
  unsigned char* der = nullptr;
  const int der_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert.get()), &der);
  if (der_len <= 2) return SslError(absl::StatusCode::kInvalidArgument, "certificate serial");
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owner(der);
  size_t header = 2;
  if (der[1] & 0x80) header += der[1] & 0x7f;
  if (header >= static_cast<size_t>(der_len)) {
    return absl::InvalidArgumentError("certificate serial number has a malformed encoding");
  }
  absl::string_view serial(reinterpret_cast<const char*>(der) + header,
                           static_cast<size_t>(der_len) - header);
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
  ASSIGN_OR_RETURN(SslUniquePtr<X509> cert, ParseDer(certificate_der));
  ASSIGN_OR_RETURN(absl::Time not_before, AsnTime(X509_get0_notBefore(cert.get())));
  ASSIGN_OR_RETURN(absl::Time not_after, AsnTime(X509_get0_notAfter(cert.get())));
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
