// JWK helpers: the RFC 7638 thumbprint of an account key, canonical JWKs, and the checked
// public key behind a JWK received from elsewhere (the signer's account key in direct mode).
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

// An account's public key, checked: what a host that does not hold the private key knows.
struct PublicAccountKey {
  std::string algorithm;  // JWS alg: "ES256", "ES384", "ES512" or "RS256"
  std::string jwk;        // RFC 7638 canonical form
  std::string spki_der;   // DER SubjectPublicKeyInfo, derived from the JWK
};

// Parses `public_jwk` (any member order) as a key for JWS `algorithm` and derives its SPKI,
// which also checks it. InvalidArgument when the JSON, a member, the curve point or the RSA
// numbers are malformed, or the key does not fit the algorithm (ES256 needs P-256, ES384
// P-384, ES512 P-521, RS256 an RSA key of at least 2048 bits).
absl::StatusOr<PublicAccountKey> ParsePublicAccountKey(absl::string_view algorithm,
                                                       absl::string_view public_jwk);

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_JWK_H_
