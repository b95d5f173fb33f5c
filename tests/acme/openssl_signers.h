// Test-only in-memory implementations of hsm::JwsSigner and hsm::MacSigner on OpenSSL, plus
// helpers that verify JWS signatures and make certificates. Production keys live in the HSM
// (hsm/); these exist so unit tests of the ACME engine need no token.
#ifndef ACME_SIGNER_TESTS_ACME_OPENSSL_SIGNERS_H_
#define ACME_SIGNER_TESTS_ACME_OPENSSL_SIGNERS_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/ssl_unique_ptr.h"
#include "hsm/jws_signer.h"
#include "hsm/mac_signer.h"

namespace acme_signer::acme::testing {

// Thread-safe: Sign may be called concurrently.
class OpenSslJwsSigner : public hsm::JwsSigner {
 public:
  // A fresh P-256 (ES256), P-384 (ES384), P-521 (ES512) or RSA (RS256, 2048 bits unless
  // told) key.
  static std::unique_ptr<OpenSslJwsSigner> GenerateEs256();
  static std::unique_ptr<OpenSslJwsSigner> GenerateEs384();
  static std::unique_ptr<OpenSslJwsSigner> GenerateEs512();
  static std::unique_ptr<OpenSslJwsSigner> GenerateRs256(int bits = 2048);
  // A fresh P-256 (ES256) key, for tests that keep the signer by value.
  OpenSslJwsSigner();

  absl::string_view Algorithm() const override { return alg_; }
  const std::string& PublicJwk() const override { return jwk_; }
  const std::string& PublicKeyDer() const override { return spki_der_; }
  absl::StatusOr<std::string> Sign(absl::string_view data) const override;

  EVP_PKEY* pkey() const { return pkey_.get(); }
  std::string PublicKeyPem() const;
  int sign_calls() const { return sign_calls_; }
  // After `signatures` more successful signatures, Sign fails with Unavailable("test token
  // removed"), like a token that went away.
  void FailAfter(int signatures) { fail_after_ = sign_calls_ + signatures; }
  // Sign succeeds again (undoes FailAfter), like a token that came back.
  void Recover() { fail_after_ = -1; }

 private:
  OpenSslJwsSigner(SslUniquePtr<EVP_PKEY> pkey, std::string alg);
  SslUniquePtr<EVP_PKEY> pkey_;
  std::string alg_;
  std::string jwk_;
  std::string spki_der_;
  mutable std::atomic<int> sign_calls_{0};
  std::atomic<int> fail_after_{-1};
};

class OpenSslMacSigner : public hsm::MacSigner {
 public:
  explicit OpenSslMacSigner(std::string key) : key_(std::move(key)) {}
  absl::string_view Algorithm() const override { return "HS256"; }
  absl::StatusOr<std::string> Sign(absl::string_view data) const override;

 private:
  std::string key_;
};

// HMAC-SHA256(key, data).
std::string HmacSha256(absl::string_view key, absl::string_view data);

// Verifies a JWS signature (ES256 r||s or RS256) over `signing_input` with the DER SPKI.
absl::Status VerifyJwsSignature(absl::string_view alg, absl::string_view spki_der,
                                absl::string_view signing_input, absl::string_view signature);

// A decoded flattened JWS.
struct DecodedJws {
  std::string protected_json;
  std::string payload_json;
  std::string signature;
  std::string signing_input;
};
absl::StatusOr<DecodedJws> DecodeFlattenedJws(absl::string_view body);

struct CertSpec {
  std::string subject_cn = "leaf.example";
  std::vector<std::string> dns_names = {"leaf.example"};
  std::string issuer_cn = "Test Issuer";
  std::string serial_hex = "0123456789abcdef";
  std::string aki_hex;  // empty: no AKI extension
  absl::Duration validity = absl::Hours(24 * 90);
};
// A self-contained DER certificate matching `spec`, signed by a throwaway key.
std::string MakeCertificateDer(const CertSpec& spec);
// The same as PEM.
std::string DerToPem(absl::string_view der);

// A DER PKCS#10 CSR for `dns_names` (SANs; the first is also the CN) signed by `key`.
std::string MakeCsrDer(EVP_PKEY* key, const std::vector<std::string>& dns_names);

}  // namespace acme_signer::acme::testing

#endif  // ACME_SIGNER_TESTS_ACME_OPENSSL_SIGNERS_H_
