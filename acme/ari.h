// ACME Renewal Information (RFC 9773): the certificate identifier and the renewalInfo
// response. Pure functions; thread-safe.
#ifndef ACME_SIGNER_ACME_ARI_H_
#define ACME_SIGNER_ACME_ARI_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace acme_signer::acme {

// The ARI certificate identifier of a DER certificate (RFC 9773 §4.1):
// base64url(AKI keyIdentifier) "." base64url(serial number's DER content octets).
// InvalidArgument when the certificate does not parse or has no Authority Key Identifier
// with a keyIdentifier (ARI cannot name such a certificate).
absl::StatusOr<std::string> AriCertificateId(absl::string_view certificate_der);

struct RenewalInfo {
  std::string certificate_id;
  absl::Time window_start;
  absl::Time window_end;
  std::string explanation_url;                // empty when absent
  std::optional<absl::Duration> retry_after;  // the response's Retry-After, when present
};

// Parses a renewalInfo response body (RFC 9773 §4.2). InvalidArgument naming the field for
// bad JSON, a missing suggestedWindow, unparsable RFC 3339 times, end before start, or an
// explanationURL that is not https.
absl::StatusOr<RenewalInfo> ParseRenewalInfo(absl::string_view json);

// A window to use when the CA has no ARI: the last third of the certificate's validity
// (what certbot and the signer's default do). InvalidArgument for an unparsable certificate.
absl::StatusOr<RenewalInfo> DefaultRenewalWindow(absl::string_view certificate_der);

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_ARI_H_
