// RemoteAccountKey: the public half of an ACME account key whose private half lives elsewhere
// (acme-signer's HSM), as an hsm::JwsSigner. The agent's direct mode gives it to AcmeClient
// together with AcmeClientOptions::remote_kid_jws: the client then needs the key only for
// AccountThumbprint() (key authorizations), never to sign.
//
// Thread-safety: immutable after Create; thread-safe.
#ifndef ACME_SIGNER_ACME_REMOTE_ACCOUNT_KEY_H_
#define ACME_SIGNER_ACME_REMOTE_ACCOUNT_KEY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hsm/jws_signer.h"

namespace acme_signer::acme {

class RemoteAccountKey : public hsm::JwsSigner {
 public:
  // `algorithm` is the JWS alg of the key ("ES256", "ES384" or "RS256"), `public_jwk` its
  // public JWK (any member order; kept in RFC 7638 canonical form). The DER SPKI is derived
  // from the JWK, which also checks it: InvalidArgument when the JSON, a member, the curve
  // point or the RSA numbers are malformed, or the key does not fit the algorithm (ES256
  // needs P-256, ES384 P-384, RS256 an RSA key of at least 2048 bits).
  static absl::StatusOr<std::unique_ptr<RemoteAccountKey>> Create(absl::string_view algorithm,
                                                                  absl::string_view public_jwk);

  absl::string_view Algorithm() const override { return algorithm_; }
  const std::string& PublicJwk() const override { return jwk_; }
  const std::string& PublicKeyDer() const override { return spki_der_; }
  // Always FailedPrecondition: the private key is not here. Reaching this is a bug (a request
  // that should have gone through the remote signer).
  absl::StatusOr<std::string> Sign(absl::string_view data) const override;

 private:
  RemoteAccountKey(std::string algorithm, std::string jwk, std::string spki_der)
      : algorithm_(std::move(algorithm)), jwk_(std::move(jwk)), spki_der_(std::move(spki_der)) {}

  const std::string algorithm_;
  const std::string jwk_;
  const std::string spki_der_;
};

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_REMOTE_ACCOUNT_KEY_H_
