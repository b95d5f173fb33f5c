#include "agent/relay_issuer.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace acme_signer::agent {
namespace {

std::string ProblemText(const pb::Problem& problem) {
  std::string text = absl::StrCat(problem.type(), ": ", problem.detail());
  for (const pb::Subproblem& sub : problem.subproblems()) {
    absl::StrAppend(&text, "; ", sub.identifier().value(), ": ", sub.type(), ": ", sub.detail());
  }
  return text;
}

absl::StatusOr<acme::OrderStatus> FromProto(pb::OrderStatus status) {
  switch (status) {
    case pb::ORDER_STATUS_PENDING:
      return acme::OrderStatus::kPending;
    case pb::ORDER_STATUS_READY:
      return acme::OrderStatus::kReady;
    case pb::ORDER_STATUS_PROCESSING:
      return acme::OrderStatus::kProcessing;
    case pb::ORDER_STATUS_VALID:
      return acme::OrderStatus::kValid;
    case pb::ORDER_STATUS_INVALID:
      return acme::OrderStatus::kInvalid;
    default:
      return absl::InternalError(absl::StrCat("the signer sent an order with status ",
                                              pb::OrderStatus_Name(status)));
  }
}

acme::AuthorizationStatus FromProto(pb::AuthorizationStatus status) {
  switch (status) {
    case pb::AUTHORIZATION_STATUS_PENDING:
      return acme::AuthorizationStatus::kPending;
    case pb::AUTHORIZATION_STATUS_VALID:
      return acme::AuthorizationStatus::kValid;
    case pb::AUTHORIZATION_STATUS_DEACTIVATED:
      return acme::AuthorizationStatus::kDeactivated;
    case pb::AUTHORIZATION_STATUS_EXPIRED:
      return acme::AuthorizationStatus::kExpired;
    case pb::AUTHORIZATION_STATUS_REVOKED:
      return acme::AuthorizationStatus::kRevoked;
    default:  // INVALID, and UNSPECIFIED (never sent) as the state nothing can be done in
      return acme::AuthorizationStatus::kInvalid;
  }
}

acme::ChallengeStatus FromProto(pb::ChallengeStatus status) {
  switch (status) {
    case pb::CHALLENGE_STATUS_PROCESSING:
      return acme::ChallengeStatus::kProcessing;
    case pb::CHALLENGE_STATUS_VALID:
      return acme::ChallengeStatus::kValid;
    case pb::CHALLENGE_STATUS_INVALID:
      return acme::ChallengeStatus::kInvalid;
    default:  // PENDING (UNSPECIFIED is never sent)
      return acme::ChallengeStatus::kPending;
  }
}

}  // namespace

absl::StatusOr<OrderView> RelayOrderBackend::Seen(pb::Order order) {
  ASSIGN_OR_RETURN(acme::OrderStatus status, FromProto(order.status()));
  OrderView view;
  view.url = order.url();
  view.status = status;
  if (order.retry_after_seconds() > 0) view.retry_after = absl::Seconds(order.retry_after_seconds());
  view.authorizations = order.authorizations_size();
  last_ = std::move(order);
  return view;
}

absl::StatusOr<OrderView> RelayOrderBackend::CreateOrder(const std::vector<std::string>& domains,
                                                         const std::string& replaces) {
  ASSIGN_OR_RETURN(pb::Order order, signer_.CreateOrder(domains, replaces, account_));
  return Seen(std::move(order));
}

absl::StatusOr<OrderView> RelayOrderBackend::GetOrder(const std::string& order_url) {
  ASSIGN_OR_RETURN(pb::Order order, signer_.GetOrder(order_url));
  return Seen(std::move(order));
}

absl::StatusOr<std::vector<AuthorizationView>> RelayOrderBackend::Authorizations(
    const OrderView& order, absl::string_view challenge_type) {
  if (last_.url() != order.url) {
    ASSIGN_OR_RETURN(pb::Order fetched, signer_.GetOrder(order.url));
    RETURN_IF_ERROR(Seen(std::move(fetched)).status());
  }
  std::vector<AuthorizationView> views;
  for (const pb::Authorization& authz : last_.authorizations()) {
    AuthorizationView view;
    view.name = authz.identifier().value();
    view.url = authz.url();
    view.status = FromProto(authz.status());
    for (const pb::Challenge& challenge : authz.challenges()) {
      view.offered_types.push_back(challenge.type());
      if (challenge.type() != challenge_type || view.challenge.has_value()) continue;
      view.challenge = ChallengeView{challenge.type(),
                                     challenge.url(),
                                     FromProto(challenge.status()),
                                     challenge.token(),
                                     challenge.key_authorization(),
                                     challenge.dns01_txt_value()};
    }
    views.push_back(std::move(view));
  }
  return views;
}

absl::Status RelayOrderBackend::AnswerChallenge(const ChallengeView& challenge) {
  return signer_.AnswerChallenge(challenge.url).status();
}

absl::Status RelayOrderBackend::DeactivateAuthorization(const std::string& authorization_url) {
  return signer_.DeactivateAuthorization(authorization_url).status();
}

absl::StatusOr<OrderView> RelayOrderBackend::Finalize(const OrderView& order,
                                                      const std::string& csr_der) {
  ASSIGN_OR_RETURN(pb::Order finalized, signer_.FinalizeOrder(order.url, csr_der));
  return Seen(std::move(finalized));
}

std::string RelayOrderBackend::FailureReason(const OrderView&) {
  // The signer's last answer carries the order's error and its authorizations' challenges.
  std::vector<std::string> reasons;
  if (last_.has_error()) reasons.push_back(ProblemText(last_.error()));
  for (const pb::Authorization& authz : last_.authorizations()) {
    for (const pb::Challenge& challenge : authz.challenges()) {
      if (challenge.has_error()) {
        reasons.push_back(absl::StrCat(authz.identifier().value(), " (", challenge.type(),
                                       "): ", ProblemText(challenge.error())));
      }
    }
  }
  if (reasons.empty()) return "the CA gave no reason";
  return absl::StrJoin(reasons, "; ");
}

absl::StatusOr<IssuedChain> RelayOrderBackend::Download(const OrderView& order,
                                                        const std::string& preferred_chain) {
  ASSIGN_OR_RETURN(pb::GetCertificateResponse cert,
                   signer_.GetCertificate(order.url, preferred_chain));
  IssuedChain issued;
  issued.order_url = order.url;
  issued.pem_chain = cert.pem_chain();
  issued.serial = cert.serial();
  issued.not_after = absl::FromUnixSeconds(cert.not_after().seconds());
  return issued;
}

absl::StatusOr<IssuedChain> IssueThroughSigner(SignerClient& signer, ChallengeSolver& solver,
                                               const RelayIssueOptions& options) {
  RelayOrderBackend backend(signer, options.account);
  return RunOrderFlow(backend, solver, options);
}

}  // namespace acme_signer::agent
