#include "agent/signer_client.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/signer_channel.h"
#include "agent/signer_target.h"
#include "agent/signer_tls_check.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace acme_signer::agent {
namespace {

constexpr absl::string_view kUnreachable = "signer unreachable or refused the connection: ";

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  std::string message = status.error_message();
  // UNAVAILABLE is both "no connection" (gRPC's own text) and a refusal the signer chose
  // (e.g. its audit log cannot be written); only the first gets the connection hint.
  if (IsConnectionFailure(status)) message = absl::StrCat(kUnreachable, message);
  return MarkFromSigner(absl::Status(static_cast<absl::StatusCode>(status.error_code()), message));
}

}  // namespace

bool IsConnectionFailure(const grpc::Status& status) {
  const std::string& message = status.error_message();
  return status.error_code() == grpc::StatusCode::UNAVAILABLE &&
         // pick_first says "failed to connect to all addresses", round_robin "connections to
         // all backends failing" (agent/signer_channel.h).
         (message.empty() || absl::StrContains(message, "failed to connect") ||
          absl::StrContains(message, "connections to all backends failing") ||
          absl::StrContains(message, "Connection refused") ||
          absl::StrContains(message, "Socket closed") || absl::StrContains(message, "handshake"));
}

absl::Status MarkFromSigner(absl::Status status) {
  if (!status.ok()) status.SetPayload(kStatusOriginPayload, absl::Cord(kStatusOriginSigner));
  return status;
}

absl::Status MarkConfigProblem(absl::Status status) {
  if (!status.ok()) status.SetPayload(kStatusOriginPayload, absl::Cord(kStatusOriginConfig));
  return status;
}

bool IsConfigProblem(const absl::Status& status) {
  const auto origin = status.GetPayload(kStatusOriginPayload);
  return origin.has_value() && *origin == kStatusOriginConfig;
}

bool IsFromSigner(const absl::Status& status) {
  const auto origin = status.GetPayload(kStatusOriginPayload);  // absl::optional<absl::Cord>
  return origin.has_value() && *origin == kStatusOriginSigner;
}

absl::Status WithMessage(const absl::Status& status, absl::string_view message) {
  absl::Status out(status.code(), message);
  status.ForEachPayload([&out](absl::string_view type_url, const absl::Cord& payload) {
    out.SetPayload(type_url, payload);
  });
  return out;
}

absl::StatusOr<std::unique_ptr<SignerClient>> SignerClient::Connect(
    const SignerConnection& connection) {
  if (connection.address.empty()) return absl::InvalidArgumentError("no signer address configured");
  ASSIGN_OR_RETURN(SignerTarget target, SignerTarget::Parse(connection.address));
  ASSIGN_OR_RETURN(std::string server_name, target.ServerName(connection.server_name));
  grpc::SslCredentialsOptions ssl;
  ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(connection.ca_cert));
  ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadFile(connection.client_cert));
  ASSIGN_OR_RETURN(Secret key, ReadSecretFile(connection.client_key));
  ssl.pem_private_key = std::string(key.reveal());
  std::shared_ptr<grpc::Channel> channel =
      CreateSignerChannel(target, grpc::SslCredentials(ssl), server_name);
  OPENSSL_cleanse(ssl.pem_private_key.data(), ssl.pem_private_key.size());
  SignerRetryOptions retry;
  retry.window = connection.retry_window;
  if (connection.retry_sleep) retry.sleep = connection.retry_sleep;
  return std::unique_ptr<SignerClient>(
      new SignerClient(pb::Signer::NewStub(channel), connection, std::move(retry)));
}

absl::Status SignerClient::ExplainConnectionFailure() {
  if (certificate_checked_.exchange(true)) return absl::OkStatus();
  // gRPC does not say why a handshake failed; the commonest reason is this host's [signer]
  // ca, which deserves its own message and exit code rather than "unreachable".
  absl::Status certificate =
      CheckSignerCertificate(connection_, std::min(connection_.call_timeout, absl::Seconds(10)));
  if (certificate.code() == absl::StatusCode::kPermissionDenied) {
    return MarkFromSigner(certificate);  // the signer refused this agent: exit 3
  }
  if (!certificate.ok()) return MarkConfigProblem(certificate);
  return absl::OkStatus();
}

template <typename Request, typename Response, typename Method>
absl::StatusOr<Response> SignerClient::Invoke(absl::string_view name, Method method,
                                              const Request& request) {
  absl::Status last;
  int attempt = 1;
  for (;; ++attempt) {
    const absl::Time start = retry_.Now();
    grpc::ClientContext context;
    context.set_deadline(
        absl::ToChronoTime(retry_.AttemptDeadline(start, connection_.call_timeout)));
    Response response;
    const grpc::Status status = ((*stub_).*method)(&context, request, &response);
    if (status.ok()) {
      retry_.Answered();
      return response;
    }
    last = FromGrpc(status);
    if (IsConnectionFailure(status)) {
      RETURN_IF_ERROR(ExplainConnectionFailure());
    }
    if (!SignerRetry::IsRetryable(last.code())) {
      retry_.Answered();  // a replica answered: refusals and CA errors are not retried
      return last;
    }
    if (!retry_.BackOff(start, attempt)) break;
  }
  if (attempt == 1) return last;  // no retries configured: the error as it came
  const std::optional<absl::Time> since = retry_.outage_start();
  const absl::Duration lasted = since.has_value() ? retry_.Now() - *since : absl::ZeroDuration();
  return MarkFromSigner(absl::UnavailableError(absl::StrCat(
      "no signer replica could serve ", name, " (", connection_.address, "): gave up after ",
      attempt, " attempts in ", absl::FormatDuration(absl::Trunc(lasted, absl::Seconds(1))),
      " ([signer] retry_seconds); the last error: ", last.message())));
}

absl::StatusOr<pb::GetAccountResponse> SignerClient::GetAccount(const std::string& account) {
  pb::GetAccountRequest request;
  request.set_account(account);
  return Invoke<pb::GetAccountRequest, pb::GetAccountResponse>(
      "GetAccount", &pb::Signer::Stub::GetAccount, request);
}

absl::StatusOr<pb::Order> SignerClient::CreateOrder(const std::vector<std::string>& dns_names,
                                                    const std::string& replaces,
                                                    const std::string& account) {
  pb::CreateOrderRequest request;
  request.set_account(account);
  for (const std::string& name : dns_names) {
    pb::Identifier* id = request.add_identifiers();
    id->set_type(pb::IDENTIFIER_TYPE_DNS);
    id->set_value(name);
  }
  request.set_replaces(replaces);
  return Invoke<pb::CreateOrderRequest, pb::Order>("CreateOrder", &pb::Signer::Stub::CreateOrder,
                                                   request);
}

absl::StatusOr<pb::Order> SignerClient::GetOrder(const std::string& order_url) {
  pb::GetOrderRequest request;
  request.set_order_url(order_url);
  return Invoke<pb::GetOrderRequest, pb::Order>("GetOrder", &pb::Signer::Stub::GetOrder, request);
}

absl::StatusOr<pb::Challenge> SignerClient::AnswerChallenge(const std::string& challenge_url) {
  pb::AnswerChallengeRequest request;
  request.set_challenge_url(challenge_url);
  return Invoke<pb::AnswerChallengeRequest, pb::Challenge>(
      "AnswerChallenge", &pb::Signer::Stub::AnswerChallenge, request);
}

absl::StatusOr<pb::Authorization> SignerClient::DeactivateAuthorization(
    const std::string& authorization_url) {
  pb::DeactivateAuthorizationRequest request;
  request.set_authorization_url(authorization_url);
  return Invoke<pb::DeactivateAuthorizationRequest, pb::Authorization>(
      "DeactivateAuthorization", &pb::Signer::Stub::DeactivateAuthorization, request);
}

absl::StatusOr<pb::Order> SignerClient::FinalizeOrder(const std::string& order_url,
                                                      const std::string& csr_der) {
  pb::FinalizeOrderRequest request;
  request.set_order_url(order_url);
  request.set_csr_der(csr_der);
  return Invoke<pb::FinalizeOrderRequest, pb::Order>("FinalizeOrder",
                                                     &pb::Signer::Stub::FinalizeOrder, request);
}

absl::StatusOr<pb::GetCertificateResponse> SignerClient::GetCertificate(
    const std::string& order_url, const std::string& preferred_chain) {
  pb::GetCertificateRequest request;
  request.set_order_url(order_url);
  request.set_preferred_chain(preferred_chain);
  return Invoke<pb::GetCertificateRequest, pb::GetCertificateResponse>(
      "GetCertificate", &pb::Signer::Stub::GetCertificate, request);
}

absl::Status SignerClient::RevokeCertificate(const std::string& certificate_der, int reason_code) {
  pb::RevokeCertificateRequest request;
  request.set_certificate_der(certificate_der);
  request.set_reason_code(reason_code);
  return Invoke<pb::RevokeCertificateRequest, pb::RevokeCertificateResponse>(
             "RevokeCertificate", &pb::Signer::Stub::RevokeCertificate, request)
      .status();
}

absl::StatusOr<pb::GetRenewalInfoResponse> SignerClient::GetRenewalInfo(
    const std::string& certificate_der, const std::string& account) {
  pb::GetRenewalInfoRequest request;
  request.set_certificate_der(certificate_der);
  request.set_account(account);
  return Invoke<pb::GetRenewalInfoRequest, pb::GetRenewalInfoResponse>(
      "GetRenewalInfo", &pb::Signer::Stub::GetRenewalInfo, request);
}

absl::StatusOr<pb::SignJwsResponse> SignerClient::SignJws(const std::string& url,
                                                          const std::string& payload,
                                                          const std::string& nonce,
                                                          const std::string& order_url,
                                                          const std::string& account) {
  pb::SignJwsRequest request;
  request.set_account(account);
  request.set_url(url);
  request.set_payload(payload);
  request.set_nonce(nonce);
  request.set_order_url(order_url);
  return Invoke<pb::SignJwsRequest, pb::SignJwsResponse>("SignJws", &pb::Signer::Stub::SignJws,
                                                         request);
}

absl::StatusOr<pb::RenewAgentCertificateResponse> SignerClient::RenewAgentCertificate(
    const std::string& csr_der) {
  pb::RenewAgentCertificateRequest request;
  request.set_csr_der(csr_der);
  return Invoke<pb::RenewAgentCertificateRequest, pb::RenewAgentCertificateResponse>(
      "RenewAgentCertificate", &pb::Signer::Stub::RenewAgentCertificate, request);
}

}  // namespace acme_signer::agent
