// Key authorizations and the values each challenge type publishes (RFC 8555 §8.1, §8.3,
// §8.4; RFC 8737 for tls-alpn-01). Pure functions; thread-safe.
#ifndef ACME_SIGNER_ACME_KEY_AUTHORIZATION_H_
#define ACME_SIGNER_ACME_KEY_AUTHORIZATION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer::acme {

// token + "." + thumbprint: what http-01 serves at /.well-known/acme-challenge/<token>.
// InvalidArgument when either part is empty or the token contains characters outside
// base64url (it becomes part of a URL path).
absl::StatusOr<std::string> KeyAuthorization(absl::string_view token,
                                             absl::string_view account_thumbprint);

// base64url(SHA-256(key_authorization)): the TXT record value at _acme-challenge.<name>.
absl::StatusOr<std::string> Dns01TxtValue(absl::string_view key_authorization);

// SHA-256(key_authorization), 32 raw bytes: the acmeIdentifier extension value of the
// tls-alpn-01 certificate.
absl::StatusOr<std::string> TlsAlpn01Digest(absl::string_view key_authorization);

// The DNS name that carries the dns-01 TXT record: "_acme-challenge." + name, with a leading
// "*." of a wildcard removed (§8.4).
std::string Dns01RecordName(absl::string_view identifier_value);

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_KEY_AUTHORIZATION_H_
