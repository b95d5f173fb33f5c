// Facts about an issued leaf certificate that the agent needs for listing and renewal decisions.
// Thread-safe: pure functions.
#ifndef ACME_SIGNER_AGENT_CERTIFICATE_INFO_H_
#define ACME_SIGNER_AGENT_CERTIFICATE_INFO_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace acme_signer::agent {

struct CertificateInfo {
  std::vector<std::string> dns_names;  // subjectAltName dNSNames, in certificate order
  absl::Time not_before;
  absl::Time not_after;
  std::string serial_hex;  // uppercase hex, no separators; printed only as SerialText (x509.h)
};

// Parses the FIRST certificate of a PEM bundle (cert.pem or fullchain.pem).
// InvalidArgument when there is no parsable certificate or its validity dates are unreadable.
absl::StatusOr<CertificateInfo> ReadCertificateInfo(absl::string_view pem);

// The state `acme-agent certificates` prints after the expiry date, in certbot's wording:
// "VALID: N days", "VALID: 1 day", "VALID: N hour(s)", "INVALID: EXPIRED"; "REVOKED" when the
// lineage recorded this certificate as revoked (whatever its dates say).
std::string ValidityText(absl::Time not_after, bool revoked, absl::Time now);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_CERTIFICATE_INFO_H_
