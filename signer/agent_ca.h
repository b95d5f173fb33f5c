// The agent CA: a small private CA whose key lives in the HSM and which issues the mTLS
// certificates of the signer (server) and of the agents (clients).
//
// Certificates are assembled with OpenSSL and signed through hsm::JwsSigner, so the CA key
// never leaves the token: the TBSCertificate DER is signed by the HSM, the JWS-form signature
// (r||s for ES256/ES384, PKCS#1 v1.5 for RS256) is converted to X.509 form, the Certificate DER
// is assembled, and the result is verified against the CA public key before it is returned
// (a token that returns a wrong signature yields Internal, never a bad certificate).
//
// Profiles (all v3, random positive 128-bit serials, notBefore 5 minutes in the past to absorb
// clock skew, signature ecdsa-with-SHA256/-SHA384 or sha256WithRSAEncryption by the CA key's
// JWS algorithm):
//   CA:     subject = issuer = CN=<common_name>; basicConstraints critical CA:TRUE, pathlen:0;
//           keyUsage critical keyCertSign, cRLSign; subjectKeyIdentifier.
//   agent:  subject CN=<agent name>; exactly one subjectAltName, the URI
//           spiffe://<trust_domain>/agent/<name> (names in the CSR are ignored);
//           basicConstraints critical CA:FALSE; keyUsage critical digitalSignature;
//           extendedKeyUsage clientAuth; subject and authority key identifiers.
//   server: subject CN=<first name>; subjectAltName DNS/IP names; extendedKeyUsage serverAuth;
//           otherwise as agent.
// Leaf validity is clamped to the CA certificate's notAfter.
//
// Accepted subject keys: EC P-256, EC P-384, RSA 2048..8192 bits. Anything else is refused
// with InvalidArgument naming the key.
//
// Thread-safety: the functions are thread-safe (as far as the JwsSigner is, which it must be).
#ifndef ACME_SIGNER_SIGNER_AGENT_CA_H_
#define ACME_SIGNER_SIGNER_AGENT_CA_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hsm/jws_signer.h"

namespace acme_signer::signer {

// Longest leaf validity accepted, in days.
inline constexpr int kMaxLeafDays = 3650;

// Creates the self-signed CA certificate for `key` (PEM). `common_name`: 1..64 printable
// characters; `validity`: 1 day .. 30 years. Errors: InvalidArgument for bad parameters,
// Unimplemented for a key algorithm other than ES256/ES384/RS256, the signer's errors
// (Unavailable, PermissionDenied) as they are, Internal when the signature does not verify.
absl::StatusOr<std::string> CreateSelfSignedCaCertificate(const hsm::JwsSigner& key,
                                                          std::string common_name,
                                                          absl::Duration validity);

// Issues an agent client certificate (PEM) for the public key in `csr` (PKCS#10, PEM or DER).
// The CSR's self-signature must verify; its subject and requested extensions are ignored.
// `days`: 1..kMaxLeafDays. Errors: InvalidArgument for an unparsable CSR, a CSR whose signature
// does not verify, a weak or unsupported key, a bad agent name/trust domain or days;
// FailedPrecondition when `ca_cert_pem` is not a CA certificate for `ca_key`; otherwise as for
// CreateSelfSignedCaCertificate.
absl::StatusOr<std::string> IssueAgentCertificate(const hsm::JwsSigner& ca_key,
                                                  absl::string_view ca_cert_pem,
                                                  absl::string_view csr,
                                                  absl::string_view agent_name,
                                                  absl::string_view trust_domain, int days);

// An explicit validity window for a leaf certificate.
struct LeafValidity {
  absl::Time not_before;
  absl::Time not_after;
};

// As above, but valid exactly from `validity.not_before` to `validity.not_after` (not clamped,
// not backdated). The window may lie in the past or the future: this is how tests get a
// certificate from the real agent CA that every TLS peer must refuse as expired or not yet
// valid; `acme-signer enroll-agent` always uses the `days` form. Errors as for the `days`
// form, plus InvalidArgument when the window is empty, longer than kMaxLeafDays or ends after
// the CA certificate.
absl::StatusOr<std::string> IssueAgentCertificate(
    const hsm::JwsSigner& ca_key, absl::string_view ca_cert_pem, absl::string_view csr,
    absl::string_view agent_name, absl::string_view trust_domain, const LeafValidity& validity);

// Issues the signer's own TLS server certificate (PEM) for `public_key` (SubjectPublicKeyInfo,
// PEM "PUBLIC KEY" or DER; the private half is the 0600 key file init writes, not an HSM key).
// `dns_names` (lowercase host names, e.g. "localhost", "signer.dept.example") and
// `ip_addresses` ("127.0.0.1", "::1") become the subjectAltName; at least one name in total.
// Errors as for IssueAgentCertificate.
absl::StatusOr<std::string> IssueServerCertificate(const hsm::JwsSigner& ca_key,
                                                   absl::string_view ca_cert_pem,
                                                   absl::string_view public_key,
                                                   const std::vector<std::string>& dns_names,
                                                   const std::vector<std::string>& ip_addresses,
                                                   int days);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AGENT_CA_H_
