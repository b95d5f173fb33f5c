#include "signer/signer_service.h"

#include <grpcpp/security/auth_context.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "acme/ari.h"
#include "acme/certificate_chain.h"
#include "acme/jws.h"
#include "acme/problem.h"
#include "acme/revocation_reason.h"
#include "acme/server_problem.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/x509.h"
#include "signer/agent_certificates.h"
#include "signer/csr_checks.h"
#include "signer/identifier_text.h"
#include "signer/jws_request_classifier.h"
#include "signer/name_policy.h"
#include "signer/order_resource.h"

namespace acme_signer::signer {
namespace {

// Audit records carry what the agent sent, so without a bound their size is the agent's to
// choose: a refused 1 MB request would become a 1 MB record (and an fdatasync) per call.
// "dns:" plus the longest valid DNS name (253): a name that passed policy is never cut.
constexpr size_t kMaxAuditedIdentifierLength = 4 + 253;
// URLs, reasons and errors in a record; longer ones are cut and marked.
constexpr size_t kMaxAuditedTextLength = 2048;

void BoundForAudit(std::string& text, size_t max_length) {
  if (text.size() <= max_length) return;
  const size_t original = text.size();
  text.resize(max_length);
  absl::StrAppend(&text, "... (", original, " bytes, cut for the audit log)");
}

// `identifier` cut so that its recorded text ("type:value", signer/identifier_text.h) is at
// most kMaxAuditedIdentifierLength plus the cut marker, as BoundForAudit cuts other text.
Identifier BoundIdentifierForAudit(Identifier identifier) {
  std::string text = IdentifierText(identifier);
  if (text.size() <= kMaxAuditedIdentifierLength) return identifier;
  BoundForAudit(text, kMaxAuditedIdentifierLength);
  if (identifier.type.size() < kMaxAuditedIdentifierLength) {
    // The cut falls in the value (types are "dns"): the text stays exactly `text`.
    identifier.value = text.substr(identifier.type.size() + 1);
  } else {
    BoundForAudit(identifier.type, kMaxAuditedIdentifierLength);
    identifier.value.clear();
  }
  return identifier;
}

// Sets the identifiers of a request as recorded: at most as many as the agent may order (so
// an allowed order is recorded whole), each bounded (BoundIdentifierForAudit), and the
// number of those left out.
void SetAuditedIdentifiers(const std::vector<Identifier>& identifiers, int max_identifiers,
                           AuditRequest& request) {
  const size_t keep =
      std::min(identifiers.size(), static_cast<size_t>(std::max(max_identifiers, 1)));
  request.identifiers.clear();
  for (size_t i = 0; i < keep; ++i) {
    request.identifiers.push_back(BoundIdentifierForAudit(identifiers[i]));
  }
  request.identifiers_not_recorded = identifiers.size() - keep;
}

// The chain facts (serial, notAfter) of a DER certificate, through the engine's PEM parser so
// serials are formatted the same way everywhere.
absl::StatusOr<acme::CertificateChain> ParseCertificateDer(absl::string_view der) {
  absl::StatusOr<SslUniquePtr<X509>> cert = ::acme_signer::ParseCertificateDer(der);
  if (!cert.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate_der is not one DER X.509 certificate: ", cert.status().message()));
  }
  ASSIGN_OR_RETURN(std::string pem, CertificateToPem(**cert));
  return acme::ParsePemChain(pem, "");
}

// The caller's client certificate as the TLS layer verified it (gRPC's "x509_pem_cert").
absl::StatusOr<SslUniquePtr<X509>> CallerCertificate(const grpc::ServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return absl::UnauthenticatedError("the call carries no client certificate");
  std::vector<grpc::string_ref> pems = auth->FindPropertyValues("x509_pem_cert");
  if (pems.size() != 1) {
    return absl::UnauthenticatedError("the TLS layer reported no client certificate");
  }
  return ParseCertificatePem(absl::string_view(pems[0].data(), pems[0].size()));
}

// DER SubjectPublicKeyInfo of a CSR's key; InvalidArgument when the CSR cannot be read.
absl::StatusOr<std::string> CsrPublicKeyDer(absl::string_view csr_der) {
  absl::StatusOr<SslUniquePtr<X509_REQ>> csr = ParseCsrDer(csr_der);
  if (!csr.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("csr_der is not a DER PKCS#10 request: ", csr.status().message()));
  }
  EVP_PKEY* key = X509_REQ_get0_pubkey(csr->get());
  if (key == nullptr) return absl::InvalidArgumentError("csr_der carries no usable public key");
  return PublicKeyToDer(key);
}

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

}  // namespace

// One RPC in flight: who called, under which policy, and its audit record.
class SignerService::Call {
 public:
  Call(const SignerService& service, const grpc::ServerContext& context, absl::string_view rpc)
      : service_(service), context_(context), config_(service.deps_.config->Get()) {
    record_.rpc = std::string(rpc);
    record_.peer = context.peer();
  }

  // Authenticates the caller and finds its policy. On failure the denial is recorded and
  // the returned status is what the caller gets.
  absl::Status Admit() {
    absl::StatusOr<PeerAgent> agent = AuthenticateCall(context_, config_->server.trust_domain);
    if (!agent.ok()) return Deny(agent.status());
    record_.agent = agent->name;
    record_.client_cert_sha256 = agent->cert_sha256_hex;
    // Checked before the policy lookup so a revoked certificate of an agent that was also
    // removed from [[agents]] is still reported as revoked.
    const RevokedCertificateCheck* revocation = service_.deps_.revocation;
    if (revocation != nullptr ? revocation->IsRevoked(*config_, agent->cert_sha256_hex)
                              : config_->server.IsRevoked(agent->cert_sha256_hex)) {
      return Deny(
          absl::PermissionDeniedError(absl::StrCat("client certificate ", agent->cert_sha256_hex,
                                                   " of agent ", agent->name, " is revoked")));
    }
    policy_ = config_->FindAgent(agent->name);
    if (policy_ == nullptr) {
      return Deny(absl::PermissionDeniedError(
          absl::StrCat("agent ", agent->name, " is not configured on this signer")));
    }
    // Held until the call returns, so one agent cannot occupy every server thread.
    absl::StatusOr<AgentCallLimiter::Slot> slot = service_.deps_.call_limiter->Acquire(
        agent->name, static_cast<int>(config_->server.max_rpcs_in_flight_per_agent));
    if (!slot.ok()) return Deny(slot.status());
    slot_.emplace(*std::move(slot));
    if (service_.deps_.seen != nullptr) service_.deps_.seen->Note(agent->name, context_.peer());
    return absl::OkStatus();
  }

  // Chooses the account the call acts as: `requested` ([[accounts]] name) or, when empty, the
  // agent's default. Refused (and recorded) when the agent may not use it.
  absl::Status ChooseAccount(absl::string_view requested) {
    absl::StatusOr<ServedAccount*> chosen =
        service_.deps_.accounts->ForAgent(*policy_, requested);
    if (!chosen.ok()) {
      record_.account = std::string(requested);
      return Deny(chosen.status());
    }
    account_ = *chosen;
    record_.account = account_->name();
    return absl::OkStatus();
  }

  // The account an existing order (or its resource, or certificate) was made with. Refused
  // when that account is no longer configured or the agent may no longer use it.
  absl::Status UseAccountOf(absl::string_view account_name, absl::string_view what) {
    record_.account = std::string(account_name);
    absl::StatusOr<ServedAccount*> chosen =
        service_.deps_.accounts->ForAgent(*policy_, account_name);
    if (!chosen.ok()) {
      return Deny(absl::FailedPreconditionError(
          absl::StrCat(what, " belongs to account ", account_name, ": ",
                       chosen.status().message())));
    }
    account_ = *chosen;
    return absl::OkStatus();
  }

  // The order at `order_url` when the caller's agent owns it (the one ownership check of
  // GetOrder, FinalizeOrder and GetCertificate), its account chosen for the call. Otherwise
  // the refusal, already recorded: an order of another agent and an order unknown to the
  // signer are refused alike, so an agent cannot learn which order URLs exist.
  absl::StatusOr<OrderRecord> OwnOrder(const std::string& order_url) {
    record_.request.order_url = order_url;
    absl::StatusOr<OrderRecord> order = service_.deps_.store->FindOrder(order_url);
    if (!order.ok() && order.status().code() == absl::StatusCode::kUnavailable) {
      return StoreUnavailable(order.status());
    }
    if (!order.ok() || order->agent != agent()) {
      return Deny(absl::PermissionDeniedError(
          absl::StrCat("order ", order_url, " was not created by agent ", agent())));
    }
    RETURN_IF_ERROR(UseAccountOf(order->account, absl::StrCat("order ", order_url)));
    return order;
  }

  // The resource at `url` (a challenge or authorization) when it belongs to an order of the
  // caller's agent, with that order's account chosen for the call; else the refusal, recorded.
  absl::Status OwnResource(const std::string& url, OrderResourceKind kind) {
    record_.request.url = url;
    absl::StatusOr<OrderResource> owned = service_.deps_.store->FindOrderResource(url, agent());
    if (!owned.ok() && owned.status().code() == absl::StatusCode::kUnavailable) {
      return StoreUnavailable(owned.status());
    }
    if (!owned.ok() || owned->agent != agent() || owned->kind != kind) {
      return Deny(absl::PermissionDeniedError(
          absl::StrCat(OrderResourceKindName(kind), " ", url,
                       " does not belong to an order of agent ", agent())));
    }
    std::string account(kDefaultAccountName);  // rows from before accounts name no order
    if (!owned->order_url.empty()) {
      absl::StatusOr<OrderRecord> order = service_.deps_.store->FindOrder(owned->order_url);
      if (order.ok()) account = order->account;
    }
    return UseAccountOf(account, absl::StrCat(OrderResourceKindName(kind), " ", url));
  }

  // Admit, then OwnOrder: the start of every RPC that names one of the caller's orders.
  absl::StatusOr<OrderRecord> AdmitForOrder(const std::string& order_url) {
    RETURN_IF_ERROR(Admit());
    return OwnOrder(order_url);
  }

  // Records a denial (policy, ownership, bad request) and returns `why` for the caller.
  // Repeats and refusals beyond the identity's budget are folded into later records
  // (signer/refusal_budget.h), so a caller that only makes refused calls cannot fill the disk.
  absl::Status Deny(absl::Status why) {
    record_.decision = AuditDecision::kDeny;
    record_.reason = std::string(why.message());
    if (RefusalBudget* refusals = service_.deps_.refusals; refusals != nullptr) {
      BoundRecord();
      if (absl::Status s = refusals->Refuse(record_); !s.ok()) return AuditUnavailable(s);
      return why;
    }
    absl::StatusOr<uint64_t> seq = Append();
    if (!seq.ok()) return AuditUnavailable(seq.status());
    return why;
  }

  // Records that policy allows the step before it is sent to the CA (used where the step
  // issues something). The caller must not proceed unless this returns OK.
  absl::Status RecordIntent(absl::string_view reason) {
    record_.decision = AuditDecision::kAllow;
    record_.reason = std::string(reason);
    absl::StatusOr<uint64_t> seq = Append();
    if (!seq.ok()) return AuditUnavailable(seq.status());
    return absl::OkStatus();
  }

  // Records the allowed step's outcome (the CA's answer or error) and returns what the caller
  // gets: `result`, or Unavailable when the record cannot be made durable.
  absl::Status Finish(absl::Status result) {
    record_.decision = AuditDecision::kAllow;
    if (record_.reason.empty()) record_.reason = "allowed by policy";
    if (!result.ok()) record_.outcome.error = std::string(result.message());
    absl::StatusOr<uint64_t> seq = Append();
    if (!seq.ok()) return AuditUnavailable(seq.status());
    return result;
  }

  const std::string& agent() const { return record_.agent; }
  const AgentPolicy& policy() const { return *policy_; }
  // The account chosen by ChooseAccount / OwnOrder / OwnResource.
  ServedAccount& account() const { return *account_; }
  acme::AcmeClient& acme() const { return *account_->acme; }
  const SignerConfig& config() const { return *config_; }
  AuditRecord& record() { return record_; }

 private:
  // Every agent-controlled text of the record bounded (see kMaxAuditedTextLength).
  void BoundRecord() {
    BoundForAudit(record_.reason, kMaxAuditedTextLength);
    BoundForAudit(record_.request.order_url, kMaxAuditedTextLength);
    BoundForAudit(record_.request.url, kMaxAuditedTextLength);
    BoundForAudit(record_.request.finalize_url, kMaxAuditedTextLength);
    BoundForAudit(record_.outcome.error, kMaxAuditedTextLength);
  }

  absl::StatusOr<uint64_t> Append() {
    BoundRecord();
    return service_.deps_.audit->Append(record_);
  }

  // A state store that cannot be read (the database is down) is not a refusal of the
  // caller: Unavailable, so the agent tries again (on another replica), and nothing recorded,
  // since nothing was decided.
  static absl::Status StoreUnavailable(const absl::Status& why) {
    return absl::UnavailableError(
        absl::StrCat("the state store cannot be read, so the signer cannot act: ", why.message()));
  }

  static absl::Status AuditUnavailable(const absl::Status& why) {
    return absl::UnavailableError(absl::StrCat(
        "the audit log cannot be written, so the signer refuses to act (fail closed): ",
        why.message()));
  }

  const SignerService& service_;
  const grpc::ServerContext& context_;
  std::shared_ptr<const SignerConfig> config_;
  const AgentPolicy* policy_ = nullptr;
  ServedAccount* account_ = nullptr;
  std::optional<AgentCallLimiter::Slot> slot_;
  AuditRecord record_;
};

SignerService::SignerService(Deps deps) : deps_(deps) {}

absl::Status SignerService::CheckAuditSpace(const SignerConfig& config) {
  return audit_space_.Check(config.audit.log, static_cast<uint64_t>(config.audit.min_free_bytes));
}

absl::Status SignerService::FillOrder(acme::AcmeClient& acme, const acme::Order& order,
                                      std::optional<absl::Duration> retry_after,
                                      const std::string& agent, pb::Order* out) {
  ToProto(order, retry_after, out);
  ASSIGN_OR_RETURN(std::string thumbprint, acme.AccountThumbprint());
  for (const std::string& authz_url : order.authorizations) {
    ASSIGN_OR_RETURN(auto authz, acme.GetAuthorization(authz_url));
    RETURN_IF_ERROR(deps_.store->RecordOrderResource(
        OrderResource{authz_url, order.url, agent, OrderResourceKind::kAuthorization}));
    for (const acme::Challenge& challenge : authz.value.challenges) {
      RETURN_IF_ERROR(deps_.store->RecordOrderResource(
          OrderResource{challenge.url, order.url, agent, OrderResourceKind::kChallenge}));
    }
    RETURN_IF_ERROR(ToProto(authz.value, thumbprint, out->add_authorizations()));
  }
  return absl::OkStatus();
}

grpc::Status SignerService::GetAccount(Context* context, const pb::GetAccountRequest* request,
                                       pb::GetAccountResponse* response) {
  Call call(*this, *context, "GetAccount");
  if (absl::Status s = call.Admit(); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = call.ChooseAccount(request->account()); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<std::string> thumbprint = call.acme().AccountThumbprint();
  if (thumbprint.ok()) {
    response->set_account(call.account().name());
    response->set_directory_url(call.account().config.directory_url);
    response->set_account_url(call.acme().account_url());
    response->set_jwk_thumbprint(*thumbprint);
    response->set_jws_algorithm(std::string(call.acme().account().Algorithm()));
    response->set_account_jwk(call.acme().account().PublicJwk());
    for (const std::string& name : call.policy().accounts) {
      const ServedAccount* choice = deps_.accounts->Find(name);
      if (choice == nullptr || choice->deactivated()) continue;  // not usable: not offered
      pb::AccountChoice* out = response->add_accounts();
      out->set_name(name);
      out->set_directory_url(choice->config.directory_url);
      out->set_is_default(name == call.policy().default_account);
    }
  }
  return ToGrpcStatus(call.Finish(thumbprint.status()));
}

grpc::Status SignerService::CreateOrder(Context* context, const pb::CreateOrderRequest* request,
                                        pb::Order* response) {
  Call call(*this, *context, "CreateOrder");
  if (absl::Status s = call.Admit(); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = call.ChooseAccount(request->account()); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<std::vector<acme::Identifier>> ids = FromProto(request->identifiers());
  if (!ids.ok()) return ToGrpcStatus(call.Deny(ids.status()));
  SetAuditedIdentifiers(*ids, call.policy().max_identifiers_per_order, call.record().request);
  if (absl::Status s = CheckIdentifiers(call.policy(), *ids); !s.ok()) {
    return ToGrpcStatus(call.Deny(s));
  }
  if (request->replaces().size() > 512) {
    return ToGrpcStatus(call.Deny(absl::InvalidArgumentError("replaces is longer than 512 bytes")));
  }
  if (absl::Status s = CheckAuditSpace(call.config()); !s.ok()) {
    return ToGrpcStatus(call.Deny(s));
  }
  if (absl::Status s =
          deps_.rate_limiter->TryAcquire(call.agent(), call.policy().orders_per_hour, absl::Now());
      !s.ok()) {
    return ToGrpcStatus(call.Deny(s));
  }

  acme::NewOrderOptions options;
  options.identifiers = *ids;
  options.replaces = request->replaces();
  if (request->has_not_before()) options.not_before = FromTimestamp(request->not_before());
  if (request->has_not_after()) options.not_after = FromTimestamp(request->not_after());

  absl::Status result = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto order, call.acme().CreateOrder(options));
    call.record().request.order_url = order.value.url;
    call.record().outcome.acme_status = std::string(acme::ToString(order.value.status));
    RETURN_IF_ERROR(deps_.store->RecordOrder(order.value.url, call.agent(), order.value.identifiers,
                                             order.value.finalize, call.account().name()));
    return FillOrder(call.acme(), order.value, order.retry_after, call.agent(), response);
  }();
  return ToGrpcStatus(call.Finish(result));
}

grpc::Status SignerService::GetOrder(Context* context, const pb::GetOrderRequest* request,
                                     pb::Order* response) {
  Call call(*this, *context, "GetOrder");
  if (absl::StatusOr<OrderRecord> owned = call.AdmitForOrder(request->order_url()); !owned.ok()) {
    return ToGrpcStatus(owned.status());
  }
  absl::Status result = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto order, call.acme().GetOrder(request->order_url()));
    call.record().outcome.acme_status = std::string(acme::ToString(order.value.status));
    RETURN_IF_ERROR(
        deps_.store->SetOrderStatus(request->order_url(), acme::ToString(order.value.status)));
    return FillOrder(call.acme(), order.value, order.retry_after, call.agent(), response);
  }();
  return ToGrpcStatus(call.Finish(result));
}

grpc::Status SignerService::AnswerChallenge(Context* context,
                                            const pb::AnswerChallengeRequest* request,
                                            pb::Challenge* response) {
  Call call(*this, *context, "AnswerChallenge");
  if (absl::Status s = call.Admit(); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = call.OwnResource(request->challenge_url(), OrderResourceKind::kChallenge);
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::Status result = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto challenge, call.acme().AnswerChallenge(request->challenge_url()));
    call.record().outcome.acme_status = std::string(acme::ToString(challenge.value.status));
    ASSIGN_OR_RETURN(std::string thumbprint, call.acme().AccountThumbprint());
    return ToProto(challenge.value, thumbprint, response);
  }();
  return ToGrpcStatus(call.Finish(result));
}

grpc::Status SignerService::DeactivateAuthorization(
    Context* context, const pb::DeactivateAuthorizationRequest* request,
    pb::Authorization* response) {
  Call call(*this, *context, "DeactivateAuthorization");
  if (absl::Status s = call.Admit(); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = call.OwnResource(request->authorization_url(),
                                        OrderResourceKind::kAuthorization);
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::Status result = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto authz, call.acme().DeactivateAuthorization(request->authorization_url()));
    call.record().outcome.acme_status = std::string(acme::ToString(authz.value.status));
    ASSIGN_OR_RETURN(std::string thumbprint, call.acme().AccountThumbprint());
    return ToProto(authz.value, thumbprint, response);
  }();
  return ToGrpcStatus(call.Finish(result));
}

namespace {

// How long a finalize holds its order (SignerService::kMinFinalizeClaimLease).
absl::Duration FinalizeClaimLease(const AccountConfig* account) {
  const int64_t timeout_ms = account != nullptr ? account->request_timeout_ms : 30000;
  return std::clamp(absl::Milliseconds(3 * timeout_ms), SignerService::kMinFinalizeClaimLease,
                    SignerService::kMaxFinalizeClaimLease);
}

}  // namespace

absl::StatusOr<bool> SignerService::AnswerIfFinalizedEarlier(
    Call& call, const pb::FinalizeOrderRequest& request, pb::Order* response) {
  ASSIGN_OR_RETURN(auto current, call.acme().GetOrder(request.order_url()));
  const acme::OrderStatus status = current.value.status;
  if (status != acme::OrderStatus::kProcessing && status != acme::OrderStatus::kValid) {
    return false;
  }
  if (status == acme::OrderStatus::kValid && !current.value.certificate.empty()) {
    // The certificate must be for this CSR's key: an agent that finalized with another key
    // (a new run that reused nothing but the order URL) would otherwise install a certificate
    // it has no key for.
    ASSIGN_OR_RETURN(acme::CertificateDownload download,
                     call.acme().GetCertificate(current.value.certificate, false));
    if (download.chains.empty()) return absl::InternalError("the CA sent no certificate");
    ASSIGN_OR_RETURN(SslUniquePtr<X509> leaf, ParseCertificatePem(download.chains[0].pem_chain));
    const EVP_PKEY* leaf_key = X509_get0_pubkey(leaf.get());
    if (leaf_key == nullptr) return absl::InternalError("the issued certificate has no key");
    ASSIGN_OR_RETURN(std::string issued_key, PublicKeyToDer(leaf_key));
    ASSIGN_OR_RETURN(std::string csr_key, CsrPublicKeyDer(request.csr_der()));
    if (issued_key != csr_key) {
      return absl::FailedPreconditionError(
          absl::StrCat("order ", request.order_url(),
                       " was already finalized with another key; create a new order for this key"));
    }
  }
  call.record().outcome.acme_status = std::string(acme::ToString(status));
  RETURN_IF_ERROR(deps_.store->SetOrderStatus(request.order_url(), acme::ToString(status)));
  ToProto(current.value, current.retry_after, response);
  return true;
}

grpc::Status SignerService::FinalizeOrder(Context* context, const pb::FinalizeOrderRequest* request,
                                          pb::Order* response) {
  Call call(*this, *context, "FinalizeOrder");
  absl::StatusOr<OrderRecord> order = call.AdmitForOrder(request->order_url());
  if (!order.ok()) return ToGrpcStatus(order.status());
  call.record().request.finalize_url = order->finalize_url;
  call.record().request.identifiers = order->identifiers;
  absl::StatusOr<CsrSummary> csr = CheckCsr(request->csr_der(), order->identifiers, call.policy(),
                                            call.acme().account().PublicKeyDer());
  if (!csr.ok()) return ToGrpcStatus(call.Deny(csr.status()));
  call.record().request.csr_sha256 = csr->csr_sha256_hex;

  // A finalize repeated after its answer was lost (the agent retries on another replica):
  // the order already left `ready`, so it is answered with the order, not sent again.
  constexpr absl::string_view kRepeated =
      "finalize repeated: the order was already finalized (answered with the order, not sent "
      "to the CA again)";
  if (order->status == acme::ToString(acme::OrderStatus::kProcessing) ||
      order->status == acme::ToString(acme::OrderStatus::kValid)) {
    call.record().reason = std::string(kRepeated);
    absl::StatusOr<bool> earlier = AnswerIfFinalizedEarlier(call, *request, response);
    if (!earlier.ok() || *earlier) return ToGrpcStatus(call.Finish(earlier.status()));
    call.record().reason.clear();  // the CA has it ready after all: finalize below
  }

  // One finalize per order at a time, across replicas and within this one: the claim's
  // holder names this call.
  const std::string holder = absl::StrCat(call.config().state.ReplicaName(), "/pid ", ::getpid(),
                                          "/call ", ++finalize_calls_);
  const absl::Duration lease = FinalizeClaimLease(call.config().FindAccount(order->account));
  if (absl::Status claimed =
          deps_.store->ClaimOrderFinalize(request->order_url(), holder, absl::Now(), lease);
      !claimed.ok()) {
    if (claimed.code() != absl::StatusCode::kFailedPrecondition) {
      return ToGrpcStatus(call.Finish(absl::UnavailableError(
          absl::StrCat("cannot serialize the finalize: ", claimed.message()))));
    }
    // Another call holds the order. Its finalize may have gone through already (this is the
    // agent's retry of it): then the order is the answer; else the agent tries again later.
    call.record().reason = absl::StrCat("finalize concurrent with another: ", claimed.message());
    absl::StatusOr<bool> earlier = AnswerIfFinalizedEarlier(call, *request, response);
    if (!earlier.ok() || *earlier) return ToGrpcStatus(call.Finish(earlier.status()));
    return ToGrpcStatus(call.Finish(absl::AbortedError(
        absl::StrCat(claimed.message(), "; the order is still ready: try again shortly"))));
  }
  absl::Cleanup release = [&] {
    (void)deps_.store->ReleaseOrderFinalize(request->order_url(), holder);
  };

  // Issuance happens at the CA as soon as it accepts the CSR: the decision must be durable
  // before the request leaves.
  if (absl::Status s = call.RecordIntent("CSR passed the agent's policy"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::Status result = [&]() -> absl::Status {
    absl::StatusOr<acme::Fetched<acme::Order>> finalized =
        call.acme().FinalizeOrder(request->order_url(), order->finalize_url, request->csr_der());
    if (!finalized.ok()) {
      // orderNotReady: an earlier finalize reached the CA but its answer (and the status
      // update) was lost with the replica that sent it.
      const std::optional<acme::Problem> problem = acme::GetProblem(finalized.status());
      if (problem.has_value() && problem->Is(acme::problem_type::kOrderNotReady)) {
        absl::StatusOr<bool> earlier = AnswerIfFinalizedEarlier(call, *request, response);
        if (earlier.ok() && *earlier) {
          call.record().reason = std::string(kRepeated);
          return absl::OkStatus();
        }
      }
      return finalized.status();
    }
    call.record().outcome.acme_status = std::string(acme::ToString(finalized->value.status));
    RETURN_IF_ERROR(
        deps_.store->SetOrderStatus(request->order_url(), acme::ToString(finalized->value.status)));
    ToProto(finalized->value, finalized->retry_after, response);
    return absl::OkStatus();
  }();
  return ToGrpcStatus(call.Finish(result));
}

grpc::Status SignerService::GetCertificate(Context* context,
                                           const pb::GetCertificateRequest* request,
                                           pb::GetCertificateResponse* response) {
  Call call(*this, *context, "GetCertificate");
  if (absl::StatusOr<OrderRecord> owned = call.AdmitForOrder(request->order_url()); !owned.ok()) {
    return ToGrpcStatus(owned.status());
  }
  absl::Status result = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto order, call.acme().GetOrder(request->order_url()));
    call.record().outcome.acme_status = std::string(acme::ToString(order.value.status));
    if (order.value.status != acme::OrderStatus::kValid || order.value.certificate.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("order ", request->order_url(), " is ", acme::ToString(order.value.status),
                       ", not valid: poll GetOrder until it is valid"));
    }
    ASSIGN_OR_RETURN(acme::CertificateDownload download,
                     call.acme().GetCertificate(order.value.certificate));
    std::string preferred = request->preferred_chain();
    // The live config's value (reloadable), for the order's account.
    const AccountConfig* account_config = call.config().FindAccount(call.account().name());
    if (preferred.empty() && account_config != nullptr &&
        account_config->preferred_chain.has_value()) {
      preferred = *account_config->preferred_chain;
    }
    const size_t chosen = acme::SelectChain(download.chains, preferred);
    const acme::CertificateChain& chain = download.chains[chosen];
    response->set_pem_chain(chain.pem_chain);
    response->set_serial(chain.serial_hex);
    response->set_issuer_common_name(chain.issuer_common_name);
    ToTimestamp(chain.not_after, response->mutable_not_after());
    for (size_t i = 0; i < download.chains.size(); ++i) {
      if (i == chosen) continue;
      pb::CertificateChain* alt = response->add_alternates();
      alt->set_pem_chain(download.chains[i].pem_chain);
      alt->set_issuer_common_name(download.chains[i].issuer_common_name);
    }
    order.value.url = request->order_url();
    RETURN_IF_ERROR(
        deps_.store->RecordCertificate(InventoryRecordFor(chain, call.agent(), call.account().name(), order.value)));
    call.record().outcome.serial = chain.serial_hex;
    call.record().outcome.not_after = FormatAuditTime(chain.not_after);
    return absl::OkStatus();
  }();
  return ToGrpcStatus(call.Finish(result));
}

grpc::Status SignerService::RevokeCertificate(Context* context,
                                              const pb::RevokeCertificateRequest* request,
                                              pb::RevokeCertificateResponse*) {
  Call call(*this, *context, "RevokeCertificate");
  if (absl::Status s = call.Admit(); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<acme::CertificateChain> cert = ParseCertificateDer(request->certificate_der());
  if (!cert.ok()) return ToGrpcStatus(call.Deny(cert.status()));
  call.record().outcome.serial = cert->serial_hex;
  call.record().request.certificate_sha256 = Sha256Hex(request->certificate_der());
  call.record().request.revocation_reason = absl::StrCat(request->reason_code());
  absl::StatusOr<acme::RevocationReason> reason =
      acme::RevocationReasonFromCode(request->reason_code());
  if (!reason.ok()) {
    return ToGrpcStatus(call.Deny(
        absl::InvalidArgumentError(absl::StrCat("reason_code: ", reason.status().message()))));
  }
  absl::StatusOr<std::vector<CertificateRecord>> owned = deps_.store->ListInventory(call.agent());
  if (!owned.ok()) return ToGrpcStatus(call.Deny(owned.status()));
  // The whole certificate must be one the agent got, not just its serial: the bytes below go
  // to the CA, and a certificate forged around an owned serial (or another CA's certificate
  // with the same serial) must not pass as the agent's.
  const std::string fingerprint = Sha256Hex(request->certificate_der());
  bool is_owner = false;
  bool serial_only = false;
  std::string issued_with;  // the account the certificate was issued to
  for (const CertificateRecord& c : *owned) {
    if (c.serial != cert->serial_hex) continue;
    if (c.certificate_sha256 == fingerprint) {
      is_owner = true;
      issued_with = c.account;
    }
    serial_only |= c.certificate_sha256 != fingerprint;
  }
  if (!is_owner) {
    return ToGrpcStatus(call.Deny(absl::PermissionDeniedError(absl::StrCat(
        "certificate ", cert->serial_hex, " was not issued to agent ", call.agent(),
        " through this signer",
        serial_only ? " (the agent has a certificate with this serial, but its contents differ)"
                    : ""))));
  }
  if (absl::Status s = call.UseAccountOf(issued_with, absl::StrCat("certificate ",
                                                                   cert->serial_hex));
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (absl::Status s = call.RecordIntent("certificate belongs to the agent"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::Status result = [&]() -> absl::Status {
    RETURN_IF_ERROR(call.acme().Revoke(request->certificate_der(), *reason));
    return deps_.store->MarkRevoked(cert->serial_hex, static_cast<int>(*reason), absl::Now());
  }();
  return ToGrpcStatus(call.Finish(result));
}

grpc::Status SignerService::GetRenewalInfo(Context* context,
                                           const pb::GetRenewalInfoRequest* request,
                                           pb::GetRenewalInfoResponse* response) {
  Call call(*this, *context, "GetRenewalInfo");
  if (absl::Status s = call.Admit(); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<acme::CertificateChain> cert = ParseCertificateDer(request->certificate_der());
  if (!cert.ok()) return ToGrpcStatus(call.Deny(cert.status()));
  call.record().outcome.serial = cert->serial_hex;
  {
    // The CA that issued it answers: the account the inventory says, else the one asked for.
    std::string account = request->account();
    if (account.empty()) {
      absl::StatusOr<std::optional<CertificateRecord>> known =
          deps_.store->FindCertificateBySha256(Sha256Hex(request->certificate_der()));
      if (known.ok() && known->has_value() && (*known)->agent == call.agent()) {
        account = (*known)->account;
      }
    }
    if (absl::Status s = call.ChooseAccount(account); !s.ok()) return ToGrpcStatus(s);
  }
  absl::Status result = [&]() -> absl::Status {
    absl::StatusOr<acme::RenewalInfo> info = call.acme().GetRenewalInfo(request->certificate_der());
    bool from_ca = true;
    if (info.status().code() == absl::StatusCode::kFailedPrecondition) {
      // The CA has no ARI: answer with the standard window (last third of the lifetime).
      info = acme::DefaultRenewalWindow(request->certificate_der());
      from_ca = false;
    }
    RETURN_IF_ERROR(info.status());
    ToTimestamp(info->window_start, response->mutable_suggested_window_start());
    ToTimestamp(info->window_end, response->mutable_suggested_window_end());
    response->set_explanation_url(info->explanation_url);
    response->set_certificate_id(info->certificate_id);
    response->set_from_ca(from_ca);
    if (info->retry_after.has_value()) {
      response->set_retry_after_seconds(
          static_cast<uint32_t>(std::max<int64_t>(0, absl::ToInt64Seconds(*info->retry_after))));
    }
    return absl::OkStatus();
  }();
  return ToGrpcStatus(call.Finish(result));
}

absl::StatusOr<JwsClassification> SignerService::ClassifySignJws(
    Call& call, const pb::SignJwsRequest& request, const acme::Directory& directory,
    OrderAdoption& adoption, std::optional<CertificateRecord>& revoked_certificate) {
  JwsRequestContext jws_context;
  jws_context.directory = CaDirectory{call.account().config.directory_url,
                                      directory.new_nonce,
                                      directory.new_account,
                                      directory.new_order,
                                      directory.revoke_cert,
                                      directory.key_change,
                                      directory.renewal_info,
                                      call.acme().account_url()};
  jws_context.account_public_key_der = call.acme().account().PublicKeyDer();
  jws_context.find_order_by_finalize_url = [&](absl::string_view url) {
    return adoption.FindOrderByFinalizeUrl(url);
  };
  jws_context.find_resource = [&](absl::string_view url) { return adoption.FindResource(url); };
  jws_context.find_certificate_owner =
      [&](absl::string_view sha256_hex) -> std::optional<std::string> {
    absl::StatusOr<std::optional<CertificateRecord>> found =
        deps_.store->FindCertificateBySha256(sha256_hex);
    if (!found.ok() || !found->has_value()) return std::nullopt;
    revoked_certificate = **found;
    return revoked_certificate->agent;
  };
  return ClassifyJwsRequest(jws_context, call.policy(), request.url(), request.payload());
}

absl::Status SignerService::RememberAllowedJws(
    Call& call, const JwsClassification& classified, OrderAdoption& adoption,
    const std::optional<CertificateRecord>& revoked_certificate) {
  switch (classified.kind) {
    case JwsRequestKind::kNewOrder:
      // The order the CA makes of it may later be adopted by this agent, once.
      return deps_.store->RecordNewOrderIntent(call.agent(), call.account().name(),
                                               classified.identifiers, absl::Now(),
                                               kNewOrderIntentLifetime);
    case JwsRequestKind::kRevokeCert: {
      // Allowed only for a certificate the owner lookup found, so it is set.
      const CertificateRecord& cert = *revoked_certificate;
      if (cert.account != call.account().name()) {
        return absl::FailedPreconditionError(
            absl::StrCat("certificate ", cert.serial, " was issued to account ", cert.account,
                         ": revoke it with that account, not ", call.account().name()));
      }
      const int reason = classified.revocation_reason.value_or(0);
      call.record().request.certificate_sha256 = classified.certificate_sha256_hex;
      call.record().request.revocation_reason = absl::StrCat(reason);
      call.record().outcome.serial = cert.serial;
      // The agent posts the revocation itself; the inventory says it was signed for.
      return deps_.store->MarkRevoked(cert.serial, reason, absl::Now());
    }
    default: {
      std::string serial;
      RETURN_IF_ERROR(adoption.Commit(&serial));
      if (!serial.empty()) call.record().outcome.serial = serial;
      return absl::OkStatus();
    }
  }
}

absl::Status SignerService::SignWithAccountKey(ServedAccount& account,
                                               const pb::SignJwsRequest& request,
                                               pb::SignJwsResponse* response) {
  std::string nonce = request.nonce();
  if (nonce.empty()) {
    ASSIGN_OR_RETURN(nonce, account.acme->TakeNonce());
  }
  acme::JwsHeader header;
  // The signer's client holds the account key (account_set.cc makes it with the HSM key).
  const hsm::JwsSigner* account_key = account.acme->local_account_key();
  if (account_key == nullptr) return absl::InternalError("the ACME account key is not here");
  header.alg = std::string(account_key->Algorithm());
  header.nonce = nonce;
  header.url = request.url();
  header.kid = account.acme->account_url();
  ASSIGN_OR_RETURN(acme::JwsSigningInput input,
                   acme::BuildJwsSigningInput(header, request.payload()));
  ASSIGN_OR_RETURN(std::string signature, account_key->Sign(input.signing_input));
  response->set_protected_header(input.protected_b64);
  response->set_payload(input.payload_b64);
  response->set_signature(Base64Url(signature));
  response->set_flattened_json(acme::AssembleFlattenedJws(input, signature));
  return absl::OkStatus();
}

grpc::Status SignerService::SignJws(Context* context, const pb::SignJwsRequest* request,
                                    pb::SignJwsResponse* response) {
  Call call(*this, *context, "SignJws");
  if (absl::Status s = call.Admit(); !s.ok()) return ToGrpcStatus(s);
  call.record().request.url = request->url();
  if (absl::Status s = call.ChooseAccount(request->account()); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<acme::Directory> directory = call.acme().GetDirectory();
  if (!directory.ok()) return ToGrpcStatus(call.Finish(directory.status()));
  if (!request->order_url().empty()) {
    // The order lookup below fetches this URL with a JWS signed by the account key: it must
    // point at the CA, never at a host of the agent's choosing.
    call.record().request.order_url = request->order_url();
    if (absl::Status s = CheckUrlOnCaOrigin(call.account().config.directory_url,
                                            request->order_url(),
                                            "SignJws order_url");
        !s.ok()) {
      return ToGrpcStatus(call.Deny(s));
    }
  }

  // The explicit I/O step: which order the request belongs to, fetched from the CA when it is
  // new to the signer. Nothing is recorded until the request is allowed (RememberAllowedJws).
  absl::StatusOr<OrderAdoption> adoption =
      OrderAdoption::Prepare(call.acme(), call.account().name(), *deps_.store, call.policy(),
                             request->order_url(), request->url());
  if (!adoption.ok()) {
    return ToGrpcStatus(absl::IsPermissionDenied(adoption.status())
                            ? call.Deny(adoption.status())
                            : call.Finish(adoption.status()));
  }

  // The certificate a revokeCert names, as the classifier looked it up (kept for the record).
  std::optional<CertificateRecord> revoked_certificate;
  absl::StatusOr<JwsClassification> classified =
      ClassifySignJws(call, *request, *directory, *adoption, revoked_certificate);
  if (!classified.ok()) return ToGrpcStatus(call.Deny(classified.status()));
  if (classified->kind == JwsRequestKind::kNewOrder) {
    // The same floor as CreateOrder: a new order needs room for its audit records.
    if (absl::Status s = CheckAuditSpace(call.config()); !s.ok()) {
      return ToGrpcStatus(call.Deny(s));
    }
    if (absl::Status s = deps_.rate_limiter->TryAcquire(call.agent(), call.policy().orders_per_hour,
                                                        absl::Now());
        !s.ok()) {
      return ToGrpcStatus(call.Deny(s));
    }
  }
  SetAuditedIdentifiers(classified->identifiers, call.policy().max_identifiers_per_order,
                        call.record().request);
  if (!classified->order_url.empty()) call.record().request.order_url = classified->order_url;
  if (classified->csr.has_value())
    call.record().request.csr_sha256 = classified->csr->csr_sha256_hex;
  call.record().reason = absl::StrCat("allowed ", JwsRequestKindName(classified->kind));
  if (classified->resource.has_value()) {
    absl::StrAppend(&call.record().reason, " of its ",
                    OrderResourceKindName(classified->resource->kind));
  }

  // What the signer must remember of an allowed request, before the signature leaves.
  if (absl::Status remembered =
          RememberAllowedJws(call, *classified, *adoption, revoked_certificate);
      !remembered.ok()) {
    // Another agent adopted the order first, or the newOrder was used up meanwhile: a refusal.
    const bool refused =
        absl::IsAlreadyExists(remembered) || absl::IsFailedPrecondition(remembered);
    return ToGrpcStatus(refused ? call.Deny(absl::PermissionDeniedError(remembered.message()))
                                : call.Finish(remembered));
  }

  // The signature leaves only after the audit record is durable (Finish); it is computed
  // first so a token failure is recorded as the outcome.
  absl::Status finished = call.Finish(SignWithAccountKey(call.account(), *request, response));
  if (!finished.ok()) response->Clear();
  return ToGrpcStatus(finished);
}

grpc::Status SignerService::RenewAgentCertificate(Context* context,
                                                  const pb::RenewAgentCertificateRequest* request,
                                                  pb::RenewAgentCertificateResponse* response) {
  Call call(*this, *context, "RenewAgentCertificate");
  if (absl::Status s = call.Admit(); !s.ok()) return ToGrpcStatus(s);
  call.record().request.csr_sha256 = Sha256Hex(request->csr_der());
  const std::string& caller_sha256 = call.record().client_cert_sha256;
  // Admit checked server.revoked_agent_certs; `acme-signer agents revoke` also marks the
  // certificate revoked in the state store, and a revoked certificate must not buy a new one.
  absl::StatusOr<std::optional<AgentCertificateRecord>> known =
      deps_.store->FindAgentCertificate(caller_sha256);
  if (!known.ok()) return ToGrpcStatus(call.Deny(known.status()));
  if (known->has_value() && (*known)->revoked) {
    return ToGrpcStatus(call.Deny(absl::PermissionDeniedError(
        absl::StrCat("client certificate ", caller_sha256, " of agent ", call.agent(),
                     " is revoked (since ", FormatUtc((*known)->revoked_at),
                     "); it cannot be renewed: enrol the agent again"))));
  }
  if (deps_.agent_ca_key == nullptr) {
    return ToGrpcStatus(call.Deny(absl::UnimplementedError(
        "this signer does not renew agent certificates (it runs without the agent CA key)")));
  }
  absl::StatusOr<SslUniquePtr<X509>> current = CallerCertificate(*context);
  if (!current.ok()) return ToGrpcStatus(call.Deny(current.status()));
  absl::StatusOr<absl::Time> not_before = NotBefore(**current);
  absl::StatusOr<absl::Time> not_after = NotAfter(**current);
  if (!not_before.ok() || !not_after.ok()) {
    return ToGrpcStatus(call.Deny(absl::InvalidArgumentError(
        "the client certificate's validity dates cannot be read")));
  }
  const absl::Time now = absl::Now();
  // The agent renews at two thirds of the lifetime; half-way is its earliest accepted moment,
  // so an agent cannot turn one certificate into a stream of fresh ones.
  const absl::Time earliest = *not_before + (*not_after - *not_before) / 2;
  if (now < earliest) {
    return ToGrpcStatus(call.Deny(absl::FailedPreconditionError(absl::StrCat(
        "client certificate ", caller_sha256, " (valid ", FormatUtc(*not_before), " to ",
        FormatUtc(*not_after), ") is not due for renewal: the signer renews it from ",
        FormatUtc(earliest), ", half-way through its lifetime"))));
  }
  absl::StatusOr<std::vector<AgentCertificateRecord>> issued_before =
      deps_.store->ListAgentCertificates(call.agent());
  if (!issued_before.ok()) return ToGrpcStatus(call.Deny(issued_before.status()));
  const int renewals = static_cast<int>(std::count_if(
      issued_before->begin(), issued_before->end(),
      [&](const AgentCertificateRecord& r) { return r.renewed_from == caller_sha256; }));
  if (renewals >= kMaxRenewalsPerCertificate) {
    return ToGrpcStatus(call.Deny(absl::ResourceExhaustedError(absl::StrCat(
        "client certificate ", caller_sha256, " has already been renewed ", renewals,
        " times; use the newest certificate (acme-agent writes it to [identity] cert) or enrol "
        "the agent again"))));
  }
  absl::StatusOr<std::string> new_key = CsrPublicKeyDer(request->csr_der());
  if (!new_key.ok()) return ToGrpcStatus(call.Deny(new_key.status()));
  absl::StatusOr<std::string> old_key = PublicKeyToDer(X509_get0_pubkey(current->get()));
  if (!old_key.ok()) return ToGrpcStatus(call.Deny(old_key.status()));
  if (*new_key == *old_key) {
    return ToGrpcStatus(call.Deny(absl::InvalidArgumentError(
        "the CSR carries the current certificate's public key: a renewal needs a new key pair "
        "made on the agent host")));
  }
  absl::StatusOr<std::string> ca_pem = ReadFile(call.config().server.agent_ca_cert);
  if (!ca_pem.ok()) {
    return ToGrpcStatus(call.Deny(absl::InternalError(absl::StrCat(
        "server.agent_ca_cert cannot be read: ", ca_pem.status().message()))));
  }
  if (absl::Status s = call.RecordIntent("renewal of the agent's own certificate allowed");
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::Status result = [&]() -> absl::Status {
    AgentCertificateRequest renewal;
    renewal.csr = request->csr_der();
    renewal.agent_name = call.agent();  // the verified identity, never the CSR's
    renewal.trust_domain = call.config().server.trust_domain;
    renewal.lifetime = call.config().server.agent_certificate_lifetime;
    renewal.source = kAgentCertSourceRenewal;
    renewal.renewed_from = caller_sha256;
    renewal.now = now;
    ASSIGN_OR_RETURN(IssuedAgentCertificate issued,
                     IssueAndRecordAgentCertificate(*deps_.agent_ca_key, *ca_pem, renewal,
                                                    *deps_.store));
    call.record().outcome.serial = issued.record.serial;
    call.record().outcome.not_after = FormatAuditTime(issued.record.not_after);
    call.record().outcome.certificate_sha256 = issued.record.sha256;
    response->set_certificate_pem(issued.certificate_pem);
    response->set_ca_certificate_pem(*ca_pem);
    return absl::OkStatus();
  }();
  return ToGrpcStatus(call.Finish(result));
}

}  // namespace acme_signer::signer
