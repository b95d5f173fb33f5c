// Certificate signing requests the agent sends to the signer.
//
// Certificate CSR: subjectAltName with one dNSName per requested name, in the given order, and an
// EMPTY subject (no CN). This is what certbot's acme library does since certbot 2.0: a CN is
// optional in ACME (RFC 8555 §7.4), cannot hold names over 64 characters, and would be a second
// copy of a SAN that the signer's exact-match check would have to reason about. The CA still puts
// a CN in the issued certificate if it wants one.
//
// Agent enrollment CSR: subjectAltName with exactly one URI, spiffe://<trust_domain>/agent/<name>,
// the identity the signer's mTLS policy keys on. Also no CN.
//
// Both are signed with SHA-256 (ECDSA or RSA PKCS#1 v1.5) and returned as DER.
// Thread-safe: pure functions.
#ifndef ACME_SIGNER_AGENT_CSR_H_
#define ACME_SIGNER_AGENT_CSR_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "agent/private_key.h"

namespace acme_signer::agent {

// DER CSR for `dns_names` (must pass ValidateDnsNames: normalized, non-empty, no repeats).
// InvalidArgument for bad names; Internal for OpenSSL failures.
absl::StatusOr<std::string> BuildCsrDer(const PrivateKey& key,
                                        absl::Span<const std::string> dns_names);

// "spiffe://<trust_domain>/agent/<agent_name>". InvalidArgument unless the trust domain is
// dot-separated lowercase LDH labels and the agent name one such label: the rules the signer
// applies (acme::ValidateLdhName, acme::ValidateSingleLabelName), so an identity the agent
// accepts is one the signer enrolls.
absl::StatusOr<std::string> AgentSpiffeId(absl::string_view trust_domain,
                                          absl::string_view agent_name);

// DER CSR carrying only the URI SAN AgentSpiffeId(trust_domain, agent_name).
absl::StatusOr<std::string> BuildAgentCsrDer(const PrivateKey& key, absl::string_view trust_domain,
                                             absl::string_view agent_name);

// PEM ("CERTIFICATE REQUEST") encoding of a DER CSR, for writing enrollment requests to files.
// InvalidArgument when `der` is not a CSR.
absl::StatusOr<std::string> CsrDerToPem(absl::string_view der);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_CSR_H_
