// Pkcs11MacSigner: MacSigner (HS256, CKM_SHA256_HMAC) over a secret key inside a PKCS#11
// token. Created by Token; holds the Token alive. Thread-safe.
#ifndef ACME_SIGNER_HSM_PKCS11_MAC_SIGNER_H_
#define ACME_SIGNER_HSM_PKCS11_MAC_SIGNER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hsm/mac_signer.h"
#include "hsm/objects.h"
#include "hsm/token.h"

namespace acme_signer::hsm {

class Pkcs11MacSigner final : public MacSigner {
 public:
  // Computes one MAC before returning, so a key the token will not use for CKM_SHA256_HMAC
  // fails here (FailedPrecondition) rather than at the first ACME request.
  static absl::StatusOr<std::unique_ptr<Pkcs11MacSigner>> Create(std::shared_ptr<Token> token,
                                                                 std::unique_ptr<ObjectRef> key);

  absl::string_view Algorithm() const override { return "HS256"; }
  absl::StatusOr<std::string> Sign(absl::string_view data) const override;

 private:
  // The signature itself; Sign adds the metrics (hsm/sign_metrics.h).
  absl::StatusOr<std::string> SignInToken(absl::string_view data) const;

  Pkcs11MacSigner(std::shared_ptr<Token> token, std::unique_ptr<ObjectRef> key)
      : token_(std::move(token)), key_(std::move(key)) {}

  const std::shared_ptr<Token> token_;
  const std::unique_ptr<ObjectRef> key_;
};

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_PKCS11_MAC_SIGNER_H_
