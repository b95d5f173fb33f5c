// EnrollmentService: the acmesigner.v1.Enrollment gRPC service, one-token enrolment of a new
// agent. It runs on its own listener (server.enroll_listen; StartEnrollmentServer in
// signer/grpc_server.h): TLS with the signer's certificate and no client certificate, because
// a host that is not yet enrolled has none. The mTLS listener keeps requiring a verified client
// certificate in the handshake, so no RPC there can be left open by a forgotten per-call
// exemption; only these two RPCs are reachable without one.
//
// GetEnrollmentInfo answers public facts (the agent CA certificate, the trust domain, the mTLS
// port); the agent checks the CA's SHA-256 against the fingerprint the operator gave it.
//
// EnrollAgent, in order:
//   1. refuses a caller address that used up its failed attempts (PeerFailureLimiter);
//   2. checks the request's shape (token length, CSR parses, name is an agent name) without
//      touching the token: a malformed request does not use the token up;
//   3. redeems the token (single use, in one SQLite transaction): unknown, used and expired
//      tokens get ONE message toward the caller; the audit record has the precise reason;
//   4. from here the token is used up, whatever follows: the token's agent must have an
//      [[agents]] entry, the request's name (when given) must be the token's agent;
//   5. issues and records the certificate (signer/agent_certificates.h, source "token", lifetime
//      server.agent_certificate_lifetime);
//   6. writes the allow record durably before the reply (fail closed: no record, no answer).
// Every refusal is audited through the RefusalBudget (folded like every other refusal) and
// counted against the caller's address. Audit records never hold the token: at most the first
// 12 hex digits of its SHA-256 ("token sha256 1a2b3c4d5e6f..."), which is what the operator can
// match against `acme-signer enroll-agent --token` (it prints nothing else about a token). An
// unknown token is recorded as "unknown enrolment token" without a label, so that a flood of
// guesses from one address folds into one record.
//
// Thread-safety: thread-safe; gRPC calls handlers concurrently.
#ifndef ACME_SIGNER_SIGNER_ENROLLMENT_SERVICE_H_
#define ACME_SIGNER_SIGNER_ENROLLMENT_SERVICE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "acmesigner/v1/signer.grpc.pb.h"
#include "hsm/jws_signer.h"
#include "signer/audit_log.h"
#include "signer/config_holder.h"
#include "signer/peer_failure_limiter.h"
#include "signer/refusal_budget.h"
#include "signer/state_store.h"

namespace acme_signer::signer {

namespace pb = ::acmesigner::v1;

// Token text: this prefix, then base64url of 32 random bytes (256 bits). The prefix makes a
// leaked token recognisable (secret scanners, logs) and a pasted fingerprint distinguishable.
inline constexpr absl::string_view kEnrollmentTokenPrefix = "acme-enroll-";
// Requests with a longer token are refused before anything is looked up.
inline constexpr size_t kMaxEnrollmentTokenLength = 256;
// Token lifetimes `acme-signer enroll-agent --token --ttl` accepts.
inline constexpr absl::Duration kDefaultEnrollmentTokenTtl = absl::Hours(1);
inline const absl::Duration kMinEnrollmentTokenTtl = absl::Minutes(1);
inline const absl::Duration kMaxEnrollmentTokenTtl = absl::Hours(24 * 7);
// The RPC name in audit records.
inline constexpr absl::string_view kEnrollAgentRpc = "Enrollment/EnrollAgent";
// What a caller with an unknown, used or expired token is told (one message for all three).
inline constexpr absl::string_view kTokenRefusedMessage =
    "enrolment token refused: it is unknown, already used or expired; ask the signer's "
    "operator for a new one (acme-signer enroll-agent --name NAME --token)";

// A new random token (kEnrollmentTokenPrefix + 43 base64url characters).
absl::StatusOr<std::string> NewEnrollmentToken();
// The stored form of a token: lowercase hex SHA-256 of its text.
std::string EnrollmentTokenHash(absl::string_view token);
// Parses a token lifetime: an absl duration ("90m", "1h", "36h") or "<n>d";
// kMinEnrollmentTokenTtl..kMaxEnrollmentTokenTtl. InvalidArgument names the value and bounds.
absl::StatusOr<absl::Duration> ParseEnrollmentTokenTtl(absl::string_view text);
// Lowercase hex SHA-256 of the DER of the first certificate in `ca_pem`: the fingerprint
// `acme-agent enroll --ca-fingerprint` pins. InvalidArgument for a PEM without a certificate.
absl::StatusOr<std::string> CaCertificateSha256(absl::string_view ca_pem);

class EnrollmentService final : public pb::Enrollment::Service {
 public:
  // Everything the service uses; pointers must outlive it.
  struct Deps {
    ConfigHolder* config = nullptr;
    StateStore* store = nullptr;
    AuditAppender* audit = nullptr;
    // Optional: refusals pass through it (folded, budgeted); when null each is written at once.
    RefusalBudget* refusals = nullptr;
    PeerFailureLimiter* peer_failures = nullptr;
    const hsm::JwsSigner* ca_key = nullptr;  // the agent CA key (HSM)
    std::string ca_cert_pem;                 // server.agent_ca_cert's content
    uint32_t signer_port = 0;                // the mTLS listener's bound port
    std::function<absl::Time()> clock = [] { return absl::Now(); };
  };
  explicit EnrollmentService(Deps deps);

  ::grpc::Status GetEnrollmentInfo(::grpc::ServerContext* context,
                                   const pb::GetEnrollmentInfoRequest* request,
                                   pb::GetEnrollmentInfoResponse* response) override;
  ::grpc::Status EnrollAgent(::grpc::ServerContext* context, const pb::EnrollAgentRequest* request,
                             pb::EnrollAgentResponse* response) override;

 private:
  Deps deps_;
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_ENROLLMENT_SERVICE_H_
