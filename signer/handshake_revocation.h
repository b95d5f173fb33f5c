// Refusing revoked agent certificates in the TLS handshake, before any call is made.
//
// server.revoked_agent_certs used to be checked only per call (SignerService's Admit), so a
// revoked agent could make any number of calls, each refused with an fsync'ed record. With
// this check in the handshake a revoked certificate costs no record per call, only one per
// connection attempt, and those are folded per identity like every refusal
// (signer/refusal_budget.h). The per-call check stays, as defence in depth and for
// connections that were established before the certificate was revoked (a reload does not
// close connections).
//
// The list is read from the ConfigHolder on every handshake, so SIGHUP reloads keep working
// without a restart.
//
// Thread-safety: thread-safe (gRPC runs handshakes concurrently).
#ifndef ACME_SIGNER_SIGNER_HANDSHAKE_REVOCATION_H_
#define ACME_SIGNER_SIGNER_HANDSHAKE_REVOCATION_H_

#include <grpcpp/security/tls_certificate_verifier.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "signer/config_holder.h"
#include "signer/refusal_budget.h"

namespace acme_signer::signer {

// The rpc name of audit records for refused handshakes.
inline constexpr absl::string_view kHandshakeRpcName = "TlsHandshake";

class RevokedCertificateCheck {
 public:
  // Both must outlive the check (and the gRPC server using it).
  RevokedCertificateCheck(const ConfigHolder* config, RefusalBudget* refusals)
      : config_(config), refusals_(refusals) {}

  // `leaf_pem`: the client certificate that TLS has verified against the agent CA. OK when its
  // fingerprint is not in the current server.revoked_agent_certs; otherwise PermissionDenied
  // naming the fingerprint (and agent), after the refusal was given to the RefusalBudget (a
  // deny record with rpc "TlsHandshake"). InvalidArgument for a certificate that is not PEM.
  absl::Status Check(absl::string_view leaf_pem) const;

 private:
  const ConfigHolder* const config_;
  RefusalBudget* const refusals_;
};

// A gRPC certificate verifier running `check` (not owned, must outlive the server) on every
// client certificate, synchronously.
std::shared_ptr<grpc::experimental::CertificateVerifier> MakeRevocationVerifier(
    const RevokedCertificateCheck* check);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_HANDSHAKE_REVOCATION_H_
