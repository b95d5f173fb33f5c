// The certificate's private key, generated and kept on the web host (the signer never sees it).
// Key types follow certbot's flags: --key-type ecdsa|rsa, --elliptic-curve secp256r1|secp384r1,
// --rsa-key-size 2048|3072|4096. Serialization is unencrypted PKCS#8 PEM, the format certbot
// writes to privkey.pem, held in a wiping Secret. No function here prints or logs key material;
// error messages name paths and parameters only.
//
// Thread-safety: a PrivateKey is immutable after creation; const methods may be called from
// several threads.
#ifndef ACME_SIGNER_AGENT_PRIVATE_KEY_H_
#define ACME_SIGNER_AGENT_PRIVATE_KEY_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/secret.h"
#include "common/ssl_unique_ptr.h"

namespace acme_signer::agent {

enum class KeyType { kEcdsa, kRsa };

// What kind of key to generate. Build it with ParseKeySpec() to get certbot's validation.
struct KeySpec {
  KeyType type = KeyType::kEcdsa;
  std::string elliptic_curve = "secp256r1";  // used when type == kEcdsa
  int rsa_key_size = 2048;                   // used when type == kRsa

  // certbot's names: "ecdsa" / "rsa".
  std::string KeyTypeName() const;
  // "ECDSA secp256r1" / "RSA 3072", for messages.
  std::string Describe() const;
};

// Validates certbot-style values. InvalidArgument naming the flag value when the key type is not
// "ecdsa"/"rsa", the curve is not secp256r1/secp384r1 (prime256v1 and P-256/P-384 are accepted as
// aliases and normalized), or the RSA size is not 2048, 3072 or 4096.
absl::StatusOr<KeySpec> ParseKeySpec(absl::string_view key_type, absl::string_view elliptic_curve,
                                     int rsa_key_size);

class PrivateKey {
 public:
  // Generates a fresh key. Internal on an OpenSSL failure (message carries OpenSSL's reason).
  static absl::StatusOr<PrivateKey> Generate(const KeySpec& spec);

  // Parses a PEM private key (PKCS#8 or traditional). Encrypted keys are refused rather than
  // prompting for a passphrase. InvalidArgument when the PEM cannot be parsed or the key is not
  // one certbot would make (EC P-256/P-384, RSA >= 2048 bits); the message never contains PEM.
  static absl::StatusOr<PrivateKey> FromPem(const Secret& pem);

  // Reads and parses a PEM key file (for --reuse-key). Errors name the path.
  static absl::StatusOr<PrivateKey> Load(const std::string& path);

  PrivateKey(PrivateKey&&) = default;
  PrivateKey& operator=(PrivateKey&&) = default;
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;

  // Unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----").
  absl::StatusOr<Secret> ToPem() const;

  // The key's actual parameters (curve or modulus size), as a KeySpec.
  const KeySpec& spec() const { return spec_; }

  // True when `cert`'s public key is this key's public half.
  bool MatchesCertificate(X509* cert) const;

  // Borrowed OpenSSL handle, valid as long as this object lives.
  EVP_PKEY* get() const { return key_.get(); }

 private:
  PrivateKey(SslUniquePtr<EVP_PKEY> key, KeySpec spec)
      : key_(std::move(key)), spec_(std::move(spec)) {}

  SslUniquePtr<EVP_PKEY> key_;
  KeySpec spec_;
};

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_PRIVATE_KEY_H_
