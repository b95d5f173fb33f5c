// JwsSigner: an asymmetric signing key usable for JWS (RFC 7515), held as a handle.
// Implementations keep the private key inside the HSM; callers get signatures and the public
// half only. Implementations are thread-safe: Sign may be called from many threads at once.
#ifndef ACME_SIGNER_HSM_JWS_SIGNER_H_
#define ACME_SIGNER_HSM_JWS_SIGNER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer::hsm {

class JwsSigner {
 public:
  virtual ~JwsSigner() = default;

  // The JWS "alg" value: "ES256", "ES384" or "RS256".
  virtual absl::string_view Algorithm() const = 0;

  // The public key as a JWK in RFC 7638 canonical form: only the required members
  // ({"crv","kty","x","y"} for EC, {"e","kty","n"} for RSA), lexicographic order, no
  // whitespace. Hashing these bytes with SHA-256 gives the JWK thumbprint.
  virtual const std::string& PublicJwk() const = 0;

  // The public key as DER SubjectPublicKeyInfo (for OpenSSL verification and comparisons).
  virtual const std::string& PublicKeyDer() const = 0;

  // Signs `data` (the JWS signing input) and returns the signature in JWS form:
  // for ES256/ES384 the fixed-width big-endian r||s (64/96 bytes), for RS256 the
  // RSASSA-PKCS1-v1_5 SHA-256 signature. Errors: Unavailable when the token is gone after
  // bounded retries, PermissionDenied for PIN problems, Internal for a signature that fails
  // the verify-after-sign check.
  virtual absl::StatusOr<std::string> Sign(absl::string_view data) const = 0;
};

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_JWS_SIGNER_H_
