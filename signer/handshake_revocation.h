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
// Two lists: server.revoked_agent_certs, read from the ConfigHolder on every handshake (so
// SIGHUP reloads keep working without a restart), and the agent certificates revoked in the
// state store (`acme-signer agents revoke`), held in memory and loaded again by
// RefreshFromStore, which serve calls at start and on every SIGHUP (`acme-signer reload`,
// which `agents revoke` runs). SignerService's per-call check consults both through IsRevoked,
// so calls on connections established before the revocation are refused too.
//
// With a trust anchor (SetTrustAnchor, which serve sets), the check also verifies the presented
// chain itself, exactly as OpenSSL's TLS server would (chain to the agent CA, validity dates,
// purpose "ssl_client", security level 2), and the gRPC server is told not to
// (..._BUT_DONT_VERIFY): so every refused certificate (untrusted, expired, revoked) is seen
// here and reported to the HandshakeFailureLog with its subject and identity
// (signer/handshake_failures.h) instead of becoming a raw gRPC log line.
//
// Thread-safety: thread-safe (gRPC runs handshakes concurrently). SetTrustAnchor and
// SetFailureLog are called before the server starts.
#ifndef ACME_SIGNER_SIGNER_HANDSHAKE_REVOCATION_H_
#define ACME_SIGNER_SIGNER_HANDSHAKE_REVOCATION_H_

#include <grpcpp/security/tls_certificate_verifier.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/ssl_unique_ptr.h"
#include "signer/config_holder.h"
#include "signer/handshake_failures.h"
#include "signer/refusal_budget.h"
#include "signer/state_store.h"

namespace acme_signer::signer {

// The rpc name of audit records for refused handshakes.
inline constexpr absl::string_view kHandshakeRpcName = "TlsHandshake";
// The start of what the verifier answers gRPC when it refuses a certificate (so that gRPC's
// echo of it in its own log is recognised as already reported).
inline constexpr absl::string_view kHandshakeVerifierMarker =
    "acme-signer refused the client certificate";

class RevokedCertificateCheck {
 public:
  // Both must outlive the check (and the gRPC server using it).
  RevokedCertificateCheck(const ConfigHolder* config, RefusalBudget* refusals)
      : config_(config), refusals_(refusals) {}

  // `leaf_pem`: the client certificate that TLS has verified against the agent CA. OK when its
  // fingerprint is not revoked (IsRevoked with the current config); otherwise PermissionDenied
  // naming the fingerprint (and agent), after the refusal was given to the RefusalBudget (a
  // deny record with rpc "TlsHandshake"). InvalidArgument for a certificate that is not PEM.
  absl::Status Check(absl::string_view leaf_pem) const;

  // The verifier's entry: with a trust anchor, verifies `leaf_pem` with the intermediates of
  // `chain_pem` (the presented chain, leaf first; may be empty) under it first. Every refusal
  // is reported to the failure log when one is set. Unauthenticated for a certificate that
  // does not verify, naming why; otherwise as Check.
  absl::Status CheckPresented(absl::string_view leaf_pem, absl::string_view chain_pem) const;

  // The agent CA certificate(s), PEM. InvalidArgument when none can be read.
  absl::Status SetTrustAnchor(absl::string_view agent_ca_pem);
  bool verifies_chain() const { return trust_ != nullptr; }
  // Not owned; must outlive the check. Null: refusals are audited (revoked) but not logged.
  void SetFailureLog(HandshakeFailureLog* log) { failure_log_ = log; }

  // Whether the certificate with this fingerprint (lowercase hex SHA-256 of its DER) is in
  // `config`'s server.revoked_agent_certs or among the store's revoked agent certificates as
  // last loaded.
  bool IsRevoked(const SignerConfig& config, absl::string_view cert_sha256_hex) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Loads the store's revoked agent certificates, replacing the set held. Returns how many;
  // on error the previous set stays in force.
  absl::StatusOr<size_t> RefreshFromStore(const StateStore& store) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const ConfigHolder* const config_;
  RefusalBudget* const refusals_;
  SslUniquePtr<X509_STORE> trust_;
  HandshakeFailureLog* failure_log_ = nullptr;
  mutable absl::Mutex mu_;
  std::shared_ptr<const absl::flat_hash_set<std::string>> store_revoked_ ABSL_GUARDED_BY(mu_) =
      std::make_shared<const absl::flat_hash_set<std::string>>();
};

// A gRPC certificate verifier running `check` (not owned, must outlive the server) on every
// client certificate, synchronously.
std::shared_ptr<grpc::experimental::CertificateVerifier> MakeRevocationVerifier(
    const RevokedCertificateCheck* check);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_HANDSHAKE_REVOCATION_H_
