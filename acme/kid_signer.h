// KidSigner: how an AcmeClient gets the kid-form JWS of its account (RFC 8555 §6.2) — the
// one request the account key answers for every order, authorization, challenge, finalize and
// revocation. Two strategies:
//  - LocalKidSigner (here): the account key is an hsm::JwsSigner on this host (acme-signer).
//  - agent::RemoteKidSigner (agent/remote_kid_signer.h): the key stays in acme-signer's HSM
//    and each JWS comes from its SignJws RPC (the agent's direct mode).
// A strategy also tells the account's public key (JWK, thumbprint, SPKI), which key
// authorizations and the signer's checks need.
//
// Thread-safety: implementations are thread-safe (an AcmeClient signs from many threads).
#ifndef ACME_SIGNER_ACME_KID_SIGNER_H_
#define ACME_SIGNER_ACME_KID_SIGNER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hsm/jws_signer.h"

namespace acme_signer::acme {

// What one kid-form JWS is for.
struct KidJwsRequest {
  absl::string_view url;      // the request URL (protected header "url")
  absl::string_view kid;      // the account URL (protected header "kid")
  absl::string_view nonce;    // the Replay-Nonce to put in the protected header
  absl::string_view payload;  // JSON text; "" for POST-as-GET
  // Finalize only: the order being finalized (a remote signer checks the CSR against it).
  absl::string_view order_url;
};

class KidSigner {
 public:
  virtual ~KidSigner() = default;

  // The JWS "alg" of the account key: "ES256", "ES384" or "RS256".
  virtual absl::string_view Algorithm() const = 0;
  // The account's public key as a JWK in RFC 7638 canonical form.
  virtual const std::string& PublicJwk() const = 0;
  // The account's public key as DER SubjectPublicKeyInfo.
  virtual const std::string& PublicKeyDer() const = 0;

  // The flattened JWS (RFC 7515 §7.2.2, JSON text) of `request`. Errors keep their code and
  // payloads (a remote signer's PermissionDenied stays one, with its origin mark); the
  // AcmeClient adds what it was doing.
  virtual absl::StatusOr<std::string> SignKid(const KidJwsRequest& request) const = 0;
};

// The account key on this host. `key` must outlive the signer.
class LocalKidSigner final : public KidSigner {
 public:
  explicit LocalKidSigner(const hsm::JwsSigner& key) : key_(key) {}
  LocalKidSigner(const LocalKidSigner&) = delete;
  LocalKidSigner& operator=(const LocalKidSigner&) = delete;

  const hsm::JwsSigner& key() const { return key_; }

  absl::string_view Algorithm() const override { return key_.Algorithm(); }
  const std::string& PublicJwk() const override { return key_.PublicJwk(); }
  const std::string& PublicKeyDer() const override { return key_.PublicKeyDer(); }
  // Errors: those of acme::SignJws (the token's, from hsm::JwsSigner::Sign).
  absl::StatusOr<std::string> SignKid(const KidJwsRequest& request) const override;

 private:
  const hsm::JwsSigner& key_;
};

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_KID_SIGNER_H_
