// Agent identity: how the signer knows which agent is calling.
//
// Every agent client certificate (issued by the signer's agent CA, see signer/agent_ca.h)
// carries exactly one URI subjectAltName, spiffe://<trust_domain>/agent/<name>, and nothing
// else identifies the agent: not the subject CN, not DNS SANs. The parser is strict (exact
// scheme, exact trust domain, exactly the two path segments "agent" and <name>, no query,
// fragment, port or userinfo) so that two spellings can never name the same agent.
//
// Agent names are [a-z0-9-]{1,63}, not starting or ending with '-'. Trust domains are lowercase
// DNS-like names: labels [a-z0-9-]{1,63} separated by '.', total at most 253.
//
// Thread-safety: all functions are thread-safe (pure).
#ifndef ACME_SIGNER_SIGNER_AGENT_IDENTITY_H_
#define ACME_SIGNER_SIGNER_AGENT_IDENTITY_H_

#include <openssl/x509.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer::signer {

// InvalidArgument naming the rule broken, quoting the (printable-escaped) name.
absl::Status ValidateAgentName(absl::string_view name);

// InvalidArgument naming the rule broken.
absl::Status ValidateTrustDomain(absl::string_view trust_domain);

// "spiffe://<trust_domain>/agent/<name>". The inputs must be valid (see above).
std::string AgentUri(absl::string_view trust_domain, absl::string_view agent_name);

// The agent name in `uri`, which must be exactly AgentUri(trust_domain, name) for a valid name.
// PermissionDenied naming what is wrong (wrong scheme, other trust domain, other path shape,
// bad name characters); the URI is quoted with non-printable bytes escaped.
absl::StatusOr<std::string> AgentNameFromUriSan(absl::string_view uri,
                                                absl::string_view trust_domain);

struct PeerAgent {
  std::string name;             // the agent name from the URI SAN
  std::string cert_sha256_hex;  // SHA-256 of the DER certificate, lowercase hex (64 chars)
};

// Identifies the agent from its (already chain-verified) client certificate: the certificate
// must have exactly one URI SAN and it must pass AgentNameFromUriSan. PermissionDenied when the
// certificate has no URI SAN, several, or a wrong one; InvalidArgument for unparsable input.
// Chain verification is the TLS layer's job (gRPC with the agent CA as the only root).
absl::StatusOr<PeerAgent> IdentifyPeerAgent(X509& certificate, absl::string_view trust_domain);

// The same for a PEM certificate, as gRPC reports the peer in "x509_pem_cert".
absl::StatusOr<PeerAgent> IdentifyPeerAgentPem(absl::string_view certificate_pem,
                                               absl::string_view trust_domain);

// PeerAgent::cert_sha256_hex of a PEM certificate, for certificates that name no agent (the
// revocation list holds fingerprints whatever the certificate says). InvalidArgument for
// input that is not a PEM certificate.
absl::StatusOr<std::string> CertificatePemSha256Hex(absl::string_view certificate_pem);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AGENT_IDENTITY_H_
