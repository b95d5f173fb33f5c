// Inventory: what a module and a token hold, named by RFC 7512 URIs (formatted by p11-kit), for
// the operator tool and diagnostics. Never reads secret attribute values.
// Thread-safe (each call uses its own session).
#ifndef ACME_SIGNER_HSM_INVENTORY_H_
#define ACME_SIGNER_HSM_INVENTORY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hsm/module.h"
#include "hsm/token.h"

namespace acme_signer::hsm {

struct TokenEntry {
  std::string uri;  // pkcs11:model=...;manufacturer=...;serial=...;token=...
  std::string label;
  bool logged_in_required = false;  // CKF_LOGIN_REQUIRED
};

struct ObjectEntry {
  std::string uri;   // pkcs11:token=...;object=...;id=...;type=...
  std::string kind;  // "private-key ec", "public-key rsa", "secret-key generic", ...
  bool sensitive = false;
  bool extractable = false;
};

// Initialized tokens in the module's slots.
absl::StatusOr<std::vector<TokenEntry>> ListTokens(const Module& module);

// Every object the logged-in token shows (private objects included).
absl::StatusOr<std::vector<ObjectEntry>> ListObjects(Token& token);

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_INVENTORY_H_
