#include "signer/agent_certificates.h"

#include <algorithm>
#include <string>
#include <utility>

#include "common/status_macros.h"
#include "common/x509.h"
#include "signer/agent_ca.h"

namespace acme_signer::signer {

absl::StatusOr<IssuedAgentCertificate> IssueAndRecordAgentCertificate(
    const hsm::JwsSigner& ca_key, absl::string_view ca_cert_pem,
    const AgentCertificateRequest& request, StateStore& store) {
  ASSIGN_OR_RETURN(SslUniquePtr<X509> ca, ParseCertificatePem(ca_cert_pem));
  ASSIGN_OR_RETURN(absl::Time ca_not_after, NotAfter(*ca));
  LeafValidity validity;
  // Backdated like the `days` form, so a host whose clock runs a little slow accepts it.
  validity.not_before = request.now - absl::Minutes(5);
  validity.not_after = std::min(request.now + request.lifetime, ca_not_after);
  validity.not_before =
      std::max(validity.not_before, validity.not_after - absl::Hours(24) * kMaxLeafDays);
  if (validity.not_after <= request.now) {
    return absl::FailedPreconditionError(
        "the agent CA certificate has expired; agent certificates cannot be issued until it is "
        "replaced");
  }
  ASSIGN_OR_RETURN(std::string pem,
                   IssueAgentCertificate(ca_key, ca_cert_pem, request.csr, request.agent_name,
                                         request.trust_domain, validity));
  ASSIGN_OR_RETURN(SslUniquePtr<X509> cert, ParseCertificatePem(pem));
  IssuedAgentCertificate issued;
  AgentCertificateRecord& record = issued.record;
  ASSIGN_OR_RETURN(record.sha256, CertificateSha256Hex(*cert));
  ASSIGN_OR_RETURN(record.serial, SerialHex(*cert));
  ASSIGN_OR_RETURN(record.not_before, NotBefore(*cert));
  ASSIGN_OR_RETURN(record.not_after, NotAfter(*cert));
  record.agent = std::string(request.agent_name);
  record.issued_at = request.now;
  record.source = std::string(request.source);
  record.renewed_from = request.renewed_from;
  RETURN_IF_ERROR(store.RecordAgentCertificate(record));
  issued.certificate_pem = std::move(pem);
  return issued;
}

}  // namespace acme_signer::signer
