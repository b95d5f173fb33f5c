// The public half of a token key as OpenSSL, DER and JWK: built from the PKCS#11 attributes
// (CKA_EC_PARAMS + CKA_EC_POINT, or CKA_MODULUS + CKA_PUBLIC_EXPONENT), and used to verify
// signatures the token makes (with common/crypto.h VerifyJwsSignature).
// Thread-safe: a PublicKey is immutable after construction.
#ifndef ACME_SIGNER_HSM_PUBLIC_KEY_H_
#define ACME_SIGNER_HSM_PUBLIC_KEY_H_

#include <openssl/evp.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ssl_unique_ptr.h"
#include "hsm/key_type.h"

namespace acme_signer::hsm {

struct PublicKey {
  KeyType type;
  SslUniquePtr<EVP_PKEY> pkey;
  std::string der;  // DER SubjectPublicKeyInfo
  std::string jwk;  // RFC 7638 canonical JWK (required members only, sorted, no whitespace)
};

// DER OID for CKA_EC_PARAMS of an EC key type (P-256 or P-384).
std::string EcParamsFor(KeyType type);

// From CKA_EC_PARAMS (named-curve OID) and CKA_EC_POINT (DER OCTET STRING around the
// uncompressed point, or the bare point as some tokens return it). InvalidArgument for other
// curves or a malformed point.
absl::StatusOr<PublicKey> EcPublicKey(absl::string_view ec_params, absl::string_view ec_point);

// From CKA_MODULUS and CKA_PUBLIC_EXPONENT (big-endian). InvalidArgument for moduli other
// than 2048, 3072 or 4096 bits.
absl::StatusOr<PublicKey> RsaPublicKey(absl::string_view modulus, absl::string_view exponent);

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_PUBLIC_KEY_H_
