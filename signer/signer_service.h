// SignerService: the acmesigner.v1.Signer gRPC service. For every call it
//   1. authenticates the agent from its verified client certificate (rpc_auth.h),
//   2. finds the agent's policy (deny when the agent is not configured),
//   3. checks the request against that policy (names, CSR, ownership of orders, rate),
//   4. relays one ACME step through the engine (never waiting on the CA: polling is the
//      agent's job), and
//   5. writes an audit record, durable before the reply. A finalize (the step that issues a
//      certificate) is also recorded before it is sent to the CA, so an audit log that cannot
//      be written stops issuance (fail closed).
// Denials are always accounted for: written at once, or (identical repeats, refusals beyond
// the caller's budget) counted into a later record (signer/refusal_budget.h). New orders are
// refused while the audit log's disk is below audit.min_free_bytes (signer/audit_space.h).
// Errors reach the agent as gRPC statuses with the reason.
//
// Thread-safety: thread-safe; gRPC calls handlers concurrently.
#ifndef ACME_SIGNER_SIGNER_SIGNER_SERVICE_H_
#define ACME_SIGNER_SIGNER_SIGNER_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "acme/client.h"
#include "acmesigner/v1/signer.grpc.pb.h"
#include "hsm/jws_signer.h"
#include "signer/account_set.h"
#include "signer/agent_call_limiter.h"
#include "signer/agent_seen.h"
#include "signer/audit_log.h"
#include "signer/audit_record.h"
#include "signer/audit_space.h"
#include "signer/config_holder.h"
#include "signer/handshake_revocation.h"
#include "signer/jws_request_classifier.h"
#include "signer/order_adoption.h"
#include "signer/proto_convert.h"
#include "signer/rate_limiter.h"
#include "signer/refusal_budget.h"
#include "signer/rpc_auth.h"
#include "signer/state_store.h"

namespace acme_signer::signer {

class SignerService final : public ::acmesigner::v1::Signer::Service {
 public:
  // Everything the service uses; all must outlive it.
  struct Deps {
    ConfigHolder* config = nullptr;
    // The signer's ACME accounts; each request acts as one (signer/account_set.h).
    AccountSet* accounts = nullptr;
    StateStore* store = nullptr;
    AuditAppender* audit = nullptr;
    RateLimiter* rate_limiter = nullptr;
    // Caps each agent's calls in flight (server.max_rpcs_in_flight_per_agent).
    AgentCallLimiter* call_limiter = nullptr;
    // Optional: refusals pass through it (folded, budgeted per identity); when null, every
    // refusal is written at once.
    RefusalBudget* refusals = nullptr;
    // Optional: also consulted per call for revoked certificates (the state store's, as
    // `acme-signer agents revoke` records them), besides server.revoked_agent_certs.
    const RevokedCertificateCheck* revocation = nullptr;
    // Optional: notes each admitted agent for `acme-signer agents list` (throttled).
    AgentSeenRecorder* seen = nullptr;
    // The agent CA key (hsm.agent_ca_key), for RenewAgentCertificate; when null that RPC is
    // refused as unavailable on this signer.
    const hsm::JwsSigner* agent_ca_key = nullptr;
  };
  explicit SignerService(Deps deps);

  using Context = ::grpc::ServerContext;
  ::grpc::Status GetAccount(Context* context, const pb::GetAccountRequest* request,
                            pb::GetAccountResponse* response) override;
  ::grpc::Status CreateOrder(Context* context, const pb::CreateOrderRequest* request,
                             pb::Order* response) override;
  ::grpc::Status GetOrder(Context* context, const pb::GetOrderRequest* request,
                          pb::Order* response) override;
  ::grpc::Status AnswerChallenge(Context* context, const pb::AnswerChallengeRequest* request,
                                 pb::Challenge* response) override;
  ::grpc::Status DeactivateAuthorization(Context* context,
                                         const pb::DeactivateAuthorizationRequest* request,
                                         pb::Authorization* response) override;
  ::grpc::Status FinalizeOrder(Context* context, const pb::FinalizeOrderRequest* request,
                               pb::Order* response) override;
  ::grpc::Status GetCertificate(Context* context, const pb::GetCertificateRequest* request,
                                pb::GetCertificateResponse* response) override;
  ::grpc::Status RevokeCertificate(Context* context, const pb::RevokeCertificateRequest* request,
                                   pb::RevokeCertificateResponse* response) override;
  ::grpc::Status GetRenewalInfo(Context* context, const pb::GetRenewalInfoRequest* request,
                                pb::GetRenewalInfoResponse* response) override;
  ::grpc::Status SignJws(Context* context, const pb::SignJwsRequest* request,
                         pb::SignJwsResponse* response) override;
  // The caller's own mTLS certificate, renewed: a new certificate from the agent CA for the
  // CSR's (new) public key, naming the caller's verified identity, valid for
  // server.agent_certificate_lifetime, recorded in the state store (renewed_from = the
  // caller's fingerprint). Refused (and audited) besides Admit's checks when the calling
  // certificate is revoked in the state store (`acme-signer agents revoke`), is less than
  // half-way through its lifetime (the agent renews at two thirds; this keeps an agent from
  // minting certificates at will), has been renewed kMaxRenewalsPerCertificate times already,
  // or when the CSR carries the calling certificate's own key.
  ::grpc::Status RenewAgentCertificate(Context* context,
                                       const pb::RenewAgentCertificateRequest* request,
                                       pb::RenewAgentCertificateResponse* response) override;

  // How often one certificate may be renewed: more than once so that an agent whose reply was
  // lost (network, crash before the new files were written) can ask again.
  static constexpr int kMaxRenewalsPerCertificate = 3;

  // A finalize holds the order (StateStore::ClaimOrderFinalize) for three times the account's
  // CA request timeout, within these bounds: long enough for the CA's answer, short enough
  // that an agent's retries (110 s by default) outlast the claim of a replica that died holding it.
  // (The CA itself refuses to finalize an order that left `ready`; the claim keeps two
  // replicas from racing to it, and tells the second what happened.)
  static constexpr absl::Duration kMinFinalizeClaimLease = absl::Seconds(60);
  static constexpr absl::Duration kMaxFinalizeClaimLease = absl::Seconds(90);

  // OK, or why no new order may start now: the audit log's file system is below
  // audit.min_free_bytes (signer/audit_space.h). For every RPC that creates an order
  // (CreateOrder; SignJws for the directory's newOrder).
  absl::Status CheckAuditSpace(const SignerConfig& config);

 private:
  class Call;

  // The order with its authorizations (one POST-as-GET each), challenges carrying key
  // authorizations; remembers which agent owns each challenge URL.
  absl::Status FillOrder(acme::AcmeClient& acme, const acme::Order& order,
                         std::optional<absl::Duration> retry_after, const std::string& agent,
                         pb::Order* out);

  // SignJws in steps. ClassifySignJws: what the request is (jws_request_classifier.h), with
  // the lookups answered by `adoption` and the store; sets `revoked_certificate` to the
  // certificate a revokeCert names. RememberAllowedJws: what the signer records of an allowed
  // request before the signature leaves (newOrder intent, revocation, adopted order).
  // SignWithAccountKey: the kid JWS itself, with the CA's nonce unless the agent sent one.
  absl::StatusOr<JwsClassification> ClassifySignJws(
      Call& call, const pb::SignJwsRequest& request, const acme::Directory& directory,
      OrderAdoption& adoption, std::optional<CertificateRecord>& revoked_certificate);
  absl::Status RememberAllowedJws(Call& call, const JwsClassification& classified,
                                  OrderAdoption& adoption,
                                  const std::optional<CertificateRecord>& revoked_certificate);
  absl::Status SignWithAccountKey(ServedAccount& account, const pb::SignJwsRequest& request,
                                  pb::SignJwsResponse* response);

  // FinalizeOrder of an order that may have been finalized already (a retry whose first
  // answer was lost): true, with `response` filled in from the CA's order, when the order is
  // processing or valid (and a valid order's certificate carries the CSR's key); false when
  // the CA still waits for a finalize. Errors: the CA's; FailedPrecondition when the
  // certificate is for another key.
  absl::StatusOr<bool> AnswerIfFinalizedEarlier(Call& call, const pb::FinalizeOrderRequest& request,
                                                pb::Order* response);

  Deps deps_;
  AuditSpaceFloor audit_space_;
  std::atomic<uint64_t> finalize_calls_{0};  // names each finalize's claim
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_SIGNER_SERVICE_H_
