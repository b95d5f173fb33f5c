// JWK helpers: the RFC 7638 thumbprint of an account key, and canonical JWKs.
// Pure functions; thread-safe.
#ifndef ACME_SIGNER_ACME_JWK_H_
#define ACME_SIGNER_ACME_JWK_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer::acme {

// Rewrites a public JWK in the RFC 7638 §3 canonical form: only the required members for its
// "kty" (EC: crv,kty,x,y; RSA: e,kty,n; OKP: crv,kty,x), sorted, no whitespace.
// InvalidArgument for unparsable JSON, an unsupported kty, or a missing/non-string member.
absl::StatusOr<std::string> CanonicalJwk(absl::string_view jwk_json);

// base64url(SHA-256(CanonicalJwk(jwk_json))), the RFC 7638 JWK thumbprint used in key
// authorizations (RFC 8555 §8.1). Accepts any JWK that CanonicalJwk accepts.
absl::StatusOr<std::string> JwkThumbprint(absl::string_view jwk_json);

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_JWK_H_
