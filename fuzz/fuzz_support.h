// Shared pieces of the libFuzzer harnesses: a fixed, fuzz-only EC P-256 key (the "account key"
// a CSR must not reuse, and the audit key checkpoints are verified against), a JwsSigner over
// it used to write seed audit logs (and to sign the audit log of the front door harness), and
// an HS256 MacSigner over a fixed key (the front door harness's EAB master key).
//
// The keys are throwaways committed in the source: they protect nothing, they only make the
// harnesses deterministic so a crashing input reproduces with the same keys.
//
// Thread-safety: FixedKey() and FixedKeySpkiDer() initialize once and are then read-only.
#ifndef ACME_SIGNER_FUZZ_FUZZ_SUPPORT_H_
#define ACME_SIGNER_FUZZ_FUZZ_SUPPORT_H_

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hsm/jws_signer.h"
#include "hsm/mac_signer.h"

namespace acme_signer::fuzz {

// The fixed P-256 key (private; owned by the process, never freed).
EVP_PKEY* FixedKey();

// Its SubjectPublicKeyInfo, DER.
const std::string& FixedKeySpkiDer();

// ES256 over FixedKey(), for writing seed inputs.
class FixedKeySigner : public hsm::JwsSigner {
 public:
  absl::string_view Algorithm() const override { return "ES256"; }
  const std::string& PublicJwk() const override { return jwk_; }
  const std::string& PublicKeyDer() const override { return FixedKeySpkiDer(); }
  absl::StatusOr<std::string> Sign(absl::string_view data) const override;

 private:
  // Not needed by the audit log; the verifier only uses the DER key.
  std::string jwk_ = "{}";
};

// HS256 over a fixed 32-byte key (software HMAC, common/crypto.h).
class FixedMacSigner : public hsm::MacSigner {
 public:
  absl::string_view Algorithm() const override { return "HS256"; }
  absl::StatusOr<std::string> Sign(absl::string_view data) const override;
};

// The fuzzer input as text.
inline absl::string_view AsText(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace acme_signer::fuzz

#endif  // ACME_SIGNER_FUZZ_FUZZ_SUPPORT_H_
