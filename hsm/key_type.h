// KeyType: the asymmetric key kinds acme-signer generates in a token, and their JWS algorithms.
// Plain values; thread-safe.
#ifndef ACME_SIGNER_HSM_KEY_TYPE_H_
#define ACME_SIGNER_HSM_KEY_TYPE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer::hsm {

enum class KeyType {
  kEcP256,   // ES256, the default: small, fast, accepted by every ACME CA.
  kEcP384,   // ES384
  kRsa2048,  // RS256
  kRsa3072,  // RS256
  kRsa4096,  // RS256
};

// Parses "ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096".
// InvalidArgument naming the value and the accepted names otherwise.
absl::StatusOr<KeyType> ParseKeyType(absl::string_view name);

// The inverse of ParseKeyType ("ec-p256", ...).
std::string KeyTypeName(KeyType type);

// The JWS "alg" for signatures made with this key type: "ES256", "ES384" or "RS256".
absl::string_view JwsAlgorithm(KeyType type);

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_KEY_TYPE_H_
