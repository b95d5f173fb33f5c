// Issuing an agent's mTLS client certificate and recording it, in one place for every way an
// agent gets one: `acme-signer enroll-agent` (CSR exchange), one-token enrolment (the
// Enrollment service) and renewal (Signer.RenewAgentCertificate). The record in the state store
// (agent_certificates) is what `acme-signer agents list` shows and `agents revoke` revokes.
//
// Thread-safety: thread-safe (as far as the JwsSigner and StateStore are, which they are).
#ifndef ACME_SIGNER_SIGNER_AGENT_CERTIFICATES_H_
#define ACME_SIGNER_SIGNER_AGENT_CERTIFICATES_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hsm/jws_signer.h"
#include "signer/state_store.h"

namespace acme_signer::signer {

// How an agent certificate came to be (AgentCertificateRecord::source).
inline constexpr absl::string_view kAgentCertSourceEnroll = "enroll-agent";
inline constexpr absl::string_view kAgentCertSourceToken = "token";
inline constexpr absl::string_view kAgentCertSourceRenewal = "renewal";

struct AgentCertificateRequest {
  absl::string_view csr;           // PKCS#10, PEM or DER; only its public key is used
  absl::string_view agent_name;    // an [[agents]] name (one DNS label)
  absl::string_view trust_domain;  // server.trust_domain
  // Valid from `now` minus 5 minutes (clock skew) to `now` plus `lifetime`, clamped to the
  // CA certificate's notAfter.
  absl::Duration lifetime;
  absl::string_view source;                  // one of kAgentCertSource*
  std::optional<std::string> renewed_from;   // renewal: fingerprint of the calling certificate
  absl::Time now;
};

struct IssuedAgentCertificate {
  std::string certificate_pem;
  AgentCertificateRecord record;  // as stored
};

// Issues the certificate from the agent CA (signer/agent_ca.h) and records it before returning
// it: a certificate that exists is always listed. Errors as IssueAgentCertificate's, plus the
// store's.
absl::StatusOr<IssuedAgentCertificate> IssueAndRecordAgentCertificate(
    const hsm::JwsSigner& ca_key, absl::string_view ca_cert_pem,
    const AgentCertificateRequest& request, StateStore& store);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AGENT_CERTIFICATES_H_
