#include "signer/enrollment_service.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/status_macros.h"
#include "common/x509.h"
#include "signer/agent_certificates.h"
#include "signer/agent_identity.h"
#include "signer/audit_record.h"
#include "signer/proto_convert.h"

namespace acme_signer::signer {
namespace {

// A CSR is a few hundred bytes (RSA 8192: about 1.2 KiB); anything far larger is not one.
constexpr size_t kMaxCsrBytes = 16 * 1024;
// How much of a token's SHA-256 an audit record names.
constexpr size_t kAuditedHashDigits = 12;

// What the audit log may say about a token.
std::string TokenLabel(absl::string_view token_hash) {
  return absl::StrCat("token sha256 ", token_hash.substr(0, kAuditedHashDigits), "...");
}

// One EnrollAgent call: its audit record and the decisions it writes.
class EnrollCall {
 public:
  EnrollCall(const EnrollmentService::Deps& deps, const grpc::ServerContext& context)
      : deps_(deps) {
    record_.rpc = std::string(kEnrollAgentRpc);
    record_.peer = context.peer();
  }

  // Records the refusal (`reason` precise, for the audit log), counts it against the caller's
  // address, and returns what the caller is told: `toward_caller`, or Unavailable when the
  // refusal could not be recorded (fail closed).
  absl::Status Deny(absl::string_view reason, absl::Status toward_caller) {
    if (deps_.peer_failures != nullptr) deps_.peer_failures->NoteFailure(record_.peer);
    record_.decision = AuditDecision::kDeny;
    record_.reason = std::string(reason);
    absl::Status written;
    if (deps_.refusals != nullptr) {
      written = deps_.refusals->Refuse(record_);
    } else {
      written = deps_.audit->Append(record_).status();
    }
    if (!written.ok()) return AuditUnavailable(written);
    return toward_caller;
  }
  // The same text for the log and the caller.
  absl::Status Deny(absl::Status why) {
    const std::string reason(why.message());
    return Deny(reason, std::move(why));
  }

  // Records the enrolment durably; the certificate is returned only when this is OK.
  absl::Status Allow(absl::string_view reason) {
    record_.decision = AuditDecision::kAllow;
    record_.reason = std::string(reason);
    absl::StatusOr<uint64_t> seq = deps_.audit->Append(record_);
    if (!seq.ok()) return AuditUnavailable(seq.status());
    return absl::OkStatus();
  }

  AuditRecord& record() { return record_; }

 private:
  static absl::Status AuditUnavailable(const absl::Status& why) {
    return absl::UnavailableError(absl::StrCat(
        "the audit log cannot be written, so the signer refuses to act (fail closed): ",
        why.message()));
  }

  const EnrollmentService::Deps& deps_;
  AuditRecord record_;
};

}  // namespace

absl::StatusOr<std::string> NewEnrollmentToken() {
  ASSIGN_OR_RETURN(std::string random, RandomBase64Url(32, "enrolment token"));
  return absl::StrCat(kEnrollmentTokenPrefix, random);
}

std::string EnrollmentTokenHash(absl::string_view token) { return Sha256Hex(token); }

absl::StatusOr<absl::Duration> ParseEnrollmentTokenTtl(absl::string_view text) {
  absl::Duration ttl;
  bool parsed = false;
  if (absl::EndsWith(text, "d")) {
    int64_t days = 0;
    parsed = absl::SimpleAtoi(text.substr(0, text.size() - 1), &days) && days >= 0 && days <= 7;
    ttl = absl::Hours(24 * days);
  } else {
    parsed = absl::ParseDuration(text, &ttl);
  }
  if (!parsed || ttl < kMinEnrollmentTokenTtl || ttl > kMaxEnrollmentTokenTtl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--ttl \"", text, "\": give a duration from 1m to 7d, e.g. \"15m\", \"1h\" or \"2d\""));
  }
  return ttl;
}

absl::StatusOr<std::string> CaCertificateSha256(absl::string_view ca_pem) {
  ASSIGN_OR_RETURN(SslUniquePtr<X509> ca, ParseCertificatePem(ca_pem));
  return CertificateSha256Hex(*ca);
}

EnrollmentService::EnrollmentService(Deps deps) : deps_(std::move(deps)) {}

grpc::Status EnrollmentService::GetEnrollmentInfo(grpc::ServerContext*,
                                                  const pb::GetEnrollmentInfoRequest*,
                                                  pb::GetEnrollmentInfoResponse* response) {
  std::shared_ptr<const SignerConfig> config = deps_.config->Get();
  response->set_ca_certificate_pem(deps_.ca_cert_pem);
  response->set_trust_domain(config->server.trust_domain);
  response->set_signer_port(deps_.signer_port);
  return grpc::Status::OK;
}

grpc::Status EnrollmentService::EnrollAgent(grpc::ServerContext* context,
                                            const pb::EnrollAgentRequest* request,
                                            pb::EnrollAgentResponse* response) {
  EnrollCall call(deps_, *context);
  AuditRecord& record = call.record();
  if (deps_.peer_failures != nullptr) {
    if (absl::Status s = deps_.peer_failures->Check(record.peer); !s.ok()) {
      // The record's reason leaves out the varying wait, so repeats fold into one record.
      return ToGrpcStatus(call.Deny(absl::StrCat("too many failed enrolment attempts from ",
                                                 PeerFailureLimiter::Address(record.peer)),
                                    std::move(s)));
    }
  }
  // The request's shape, before the token is looked at (a malformed request keeps it usable).
  const std::string& token = request->token();
  if (token.empty() || token.size() > kMaxEnrollmentTokenLength) {
    return ToGrpcStatus(call.Deny(absl::InvalidArgumentError(absl::StrCat(
        "the enrolment token must be 1..", kMaxEnrollmentTokenLength, " characters"))));
  }
  const std::string token_hash = EnrollmentTokenHash(token);
  const std::string token_label = TokenLabel(token_hash);
  if (!request->name().empty()) {
    if (absl::Status s = ValidateAgentName(request->name()); !s.ok()) {
      return ToGrpcStatus(call.Deny(absl::InvalidArgumentError(
          absl::StrCat("name: ", s.message(), " (", token_label, " not used)"))));
    }
  }
  if (request->csr_der().empty() || request->csr_der().size() > kMaxCsrBytes) {
    return ToGrpcStatus(call.Deny(absl::InvalidArgumentError(absl::StrCat(
        "csr_der must be a DER CSR of 1..", kMaxCsrBytes, " bytes (", token_label, " not used)"))));
  }
  if (absl::StatusOr<SslUniquePtr<X509_REQ>> csr = ParseCsrDer(request->csr_der()); !csr.ok()) {
    return ToGrpcStatus(call.Deny(absl::InvalidArgumentError(
        absl::StrCat("csr_der: ", csr.status().message(), " (", token_label, " not used)"))));
  }

  const absl::Time now = deps_.clock();
  absl::StatusOr<EnrollmentToken> redeemed = deps_.store->RedeemEnrollmentToken(token_hash, now);
  if (!redeemed.ok()) {
    const absl::StatusCode code = redeemed.status().code();
    if (code == absl::StatusCode::kNotFound) {
      // No token label: the hash of a token nobody made tells the operator nothing, and
      // identical reasons let a flood of guesses fold into one record (refusal_budget.h).
      return ToGrpcStatus(call.Deny(redeemed.status().message(),
                                    absl::PermissionDeniedError(kTokenRefusedMessage)));
    }
    if (code == absl::StatusCode::kFailedPrecondition ||
        code == absl::StatusCode::kDeadlineExceeded) {
      return ToGrpcStatus(call.Deny(absl::StrCat(token_label, ": ", redeemed.status().message()),
                                    absl::PermissionDeniedError(kTokenRefusedMessage)));
    }
    // The store failed: nothing was decided about the token.
    return ToGrpcStatus(call.Deny(
        absl::StrCat(token_label, ": ", redeemed.status().message()),
        absl::UnavailableError("the signer cannot read its state store; try again later")));
  }
  // The token is used up from here on, whatever follows. (The CSR's digest is recorded only
  // now: ECDSA CSRs differ at every attempt, and a digest in refusals of unknown tokens would
  // keep a flood of them from folding.)
  const std::string& agent = redeemed->agent;
  record.agent = agent;
  record.request.csr_sha256 = Sha256Hex(request->csr_der());
  std::shared_ptr<const SignerConfig> config = deps_.config->Get();
  if (config->FindAgent(agent) == nullptr) {
    return ToGrpcStatus(call.Deny(absl::PermissionDeniedError(
        absl::StrCat("agent ", agent, " has no [[agents]] entry on this signer (", token_label,
                     " used up); the operator adds one, reloads, and makes a new token"))));
  }
  if (!request->name().empty() && request->name() != agent) {
    return ToGrpcStatus(call.Deny(absl::PermissionDeniedError(absl::StrCat(
        "this token was made for agent ", agent, ", not ", request->name(), " (", token_label,
        " used up); enrol without --name or ask for a token for ", request->name()))));
  }

  AgentCertificateRequest issue;
  issue.csr = request->csr_der();
  issue.agent_name = agent;
  issue.trust_domain = config->server.trust_domain;
  issue.lifetime = config->server.agent_certificate_lifetime;
  issue.source = kAgentCertSourceToken;
  issue.now = now;
  absl::StatusOr<IssuedAgentCertificate> issued =
      IssueAndRecordAgentCertificate(*deps_.ca_key, deps_.ca_cert_pem, issue, *deps_.store);
  if (!issued.ok()) {
    const std::string reason = absl::StrCat("cannot issue the certificate (", token_label,
                                            " used up): ", issued.status().message());
    if (issued.status().code() == absl::StatusCode::kInvalidArgument) {
      return ToGrpcStatus(call.Deny(absl::InvalidArgumentError(reason)));
    }
    return ToGrpcStatus(call.Deny(reason, absl::UnavailableError(reason)));
  }
  record.outcome.serial = issued->record.serial;
  record.outcome.not_after = FormatAuditTime(issued->record.not_after);
  if (absl::Status s = call.Allow(absl::StrCat("enrolled with a one-time ", token_label,
                                               "; certificate sha256 ", issued->record.sha256));
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  response->set_name(agent);
  response->set_trust_domain(config->server.trust_domain);
  response->set_certificate_pem(issued->certificate_pem);
  response->set_ca_certificate_pem(deps_.ca_cert_pem);
  return grpc::Status::OK;
}

}  // namespace acme_signer::signer
