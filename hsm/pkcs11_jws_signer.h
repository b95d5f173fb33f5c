// Pkcs11JwsSigner: JwsSigner over a private key inside a PKCS#11 token (ES256/ES384 via
// CKM_ECDSA over a SHA-2 digest computed here, RS256 via CKM_SHA256_RSA_PKCS). Created by
// Token; holds the Token alive. Thread-safe: each Sign leases its own session.
#ifndef ACME_SIGNER_HSM_PKCS11_JWS_SIGNER_H_
#define ACME_SIGNER_HSM_PKCS11_JWS_SIGNER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hsm/jws_signer.h"
#include "hsm/objects.h"
#include "hsm/public_key.h"
#include "hsm/token.h"

namespace acme_signer::hsm {

class Pkcs11JwsSigner final : public JwsSigner {
 public:
  // Signs a fixed message and verifies it with `public_key` before returning the signer:
  // FailedPrecondition when the private key and public key do not belong together.
  static absl::StatusOr<std::unique_ptr<Pkcs11JwsSigner>> Create(std::shared_ptr<Token> token,
                                                                 std::unique_ptr<ObjectRef> key,
                                                                 PublicKey public_key);

  absl::string_view Algorithm() const override { return JwsAlgorithm(public_key_.type); }
  const std::string& PublicJwk() const override { return public_key_.jwk; }
  const std::string& PublicKeyDer() const override { return public_key_.der; }
  absl::StatusOr<std::string> Sign(absl::string_view data) const override;

 private:
  Pkcs11JwsSigner(std::shared_ptr<Token> token, std::unique_ptr<ObjectRef> key,
                  PublicKey public_key)
      : token_(std::move(token)), key_(std::move(key)), public_key_(std::move(public_key)) {}
  absl::StatusOr<std::string> SignInToken(absl::string_view data) const;

  const std::shared_ptr<Token> token_;
  const std::unique_ptr<ObjectRef> key_;
  const PublicKey public_key_;
};

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_PKCS11_JWS_SIGNER_H_
