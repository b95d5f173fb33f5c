// Finalize-time checks on an agent's PKCS#10 certificate signing request.
//
// CheckCsr is a pure function (no I/O), safe to call from any thread. It parses the DER CSR,
// verifies its self-signature and refuses anything the signer would not vouch for; the full
// list is in docs/policy.md ("CSR checks"). In short, a CSR is accepted only when:
//   - it is exactly one DER PKCS#10 v1 request (no trailing bytes) of at most kMaxCsrDerSize,
//     self-signed with ECDSA or RSA PKCS#1 v1.5 over SHA-256/384/512, and the signature
//     verifies;
//   - its key is not the ACME account key (checked before the signature, so such a CSR is
//     refused as what it is even though its signature cannot verify), and is EC P-256/P-384
//     or RSA 2048/3072/4096 (e = 65537) listed in the agent's key_types;
//   - its subject is empty or a single commonName, its only attribute is extensionRequest,
//     and it requests only subjectAltName (dNSName entries only), keyUsage
//     (digitalSignature/keyEncipherment/keyAgreement), extendedKeyUsage (serverAuth/clientAuth)
//     and basicConstraints CA:FALSE without pathLen, each at most once;
//   - its subjectAltName dNSNames are exactly the order's identifiers (as a set, no
//     duplicates), a commonName if present is one of them, and all pass CheckIdentifiers.
#ifndef ACME_SIGNER_SIGNER_CSR_CHECKS_H_
#define ACME_SIGNER_SIGNER_CSR_CHECKS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "signer/name_policy.h"

namespace acme_signer::signer {

// Larger CSRs are refused before parsing: an RSA-4096 CSR with 100 names is about 5 KiB.
inline constexpr size_t kMaxCsrDerSize = 32 * 1024;

// What an accepted CSR asks for, for the audit log.
struct CsrSummary {
  std::vector<std::string> names;  // subjectAltName dNSNames, sorted.
  std::string key_type;            // One of the AgentPolicy::key_types names, e.g. "ec-p256".
  std::string csr_sha256_hex;      // Lowercase hex SHA-256 of the CSR DER as given.
  std::string spki_sha256_hex;     // Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo.
};

// Checks `csr_der` against the order it finalizes and the agent's policy.
// `account_public_key_der` is the ACME account key as a DER SubjectPublicKeyInfo; it is
// required (an empty value is an error, never a skipped check).
// Errors: InvalidArgument when the CSR (or the account key) cannot be parsed or verified;
// PermissionDenied when it parses but asks for something refused. Messages name the agent
// and what was refused.
absl::StatusOr<CsrSummary> CheckCsr(absl::string_view csr_der,
                                    const std::vector<Identifier>& order_identifiers,
                                    const AgentPolicy& policy,
                                    absl::string_view account_public_key_der);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_CSR_CHECKS_H_
