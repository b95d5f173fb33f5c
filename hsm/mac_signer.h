// MacSigner: a secret MAC key (the EAB HMAC key) held as a handle in the HSM.
// Thread-safe.
#ifndef ACME_SIGNER_HSM_MAC_SIGNER_H_
#define ACME_SIGNER_HSM_MAC_SIGNER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer::hsm {

class MacSigner {
 public:
  virtual ~MacSigner() = default;

  // The JWS "alg" value: "HS256".
  virtual absl::string_view Algorithm() const = 0;

  // Returns the MAC of `data` (32 bytes for HS256).
  virtual absl::StatusOr<std::string> Sign(absl::string_view data) const = 0;
};

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_MAC_SIGNER_H_
