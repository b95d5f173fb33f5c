#include "agent/relay_issuer.h"

#include <algorithm>

#include "absl/cleanup/cleanup.h"
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

// Why an order went invalid, from the order's error or its failed challenges.
std::string InvalidOrderReason(const pb::Order& order) {
  std::vector<std::string> reasons;
  if (order.has_error()) reasons.push_back(ProblemText(order.error()));
  for (const pb::Authorization& authz : order.authorizations()) {
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

absl::Duration NextPoll(const pb::Order& order, absl::Duration backoff,
                        const RelayIssueOptions& options) {
  if (order.retry_after_seconds() > 0) {
    return std::clamp(absl::Seconds(order.retry_after_seconds()), options.min_poll,
                      absl::Minutes(10));
  }
  return std::clamp(backoff, options.min_poll, options.max_poll);
}

// Polls the order until its status is not `waiting_status`.
absl::StatusOr<pb::Order> WaitWhile(SignerClient& signer, pb::Order order,
                                    pb::OrderStatus waiting_status, absl::Duration timeout,
                                    absl::string_view what, const RelayIssueOptions& options) {
  const absl::Time start = absl::Now();
  absl::Duration backoff = options.min_poll;
  while (order.status() == waiting_status) {
    const absl::Duration waited = absl::Now() - start;
    if (waited > timeout) {
      return absl::DeadlineExceededError(absl::StrCat(
          "gave up ", what, " after ", absl::FormatDuration(absl::Trunc(waited, absl::Seconds(1))),
          "; order ", order.url(), " is still ", pb::OrderStatus_Name(order.status()),
          " (run the command again later: the order continues at the CA)"));
    }
    const absl::Duration pause = NextPoll(order, backoff, options);
    options.progress(absl::StrCat(what, " (", absl::FormatDuration(absl::Trunc(waited, absl::Seconds(1))),
                                  " so far, next check in ", absl::FormatDuration(pause), ")"));
    options.sleep(pause);
    backoff = std::min(backoff * 2, options.max_poll);
    ASSIGN_OR_RETURN(order, signer.GetOrder(order.url()));
  }
  return order;
}

}  // namespace

absl::StatusOr<IssuedChain> IssueThroughSigner(SignerClient& signer, ChallengeSolver& solver,
                                               const RelayIssueOptions& options) {
  if (options.domains.empty()) return absl::InvalidArgumentError("no --domain given");
  options.progress(absl::StrCat("requesting a certificate for ", absl::StrJoin(options.domains, ", ")));
  ASSIGN_OR_RETURN(pb::Order order, signer.CreateOrder(options.domains, options.replaces));

  // Which authorizations need work, and with which challenge.
  std::vector<std::pair<std::string, const pb::Challenge*>> to_solve;  // domain, challenge
  for (const pb::Authorization& authz : order.authorizations()) {
    if (authz.status() == pb::AUTHORIZATION_STATUS_VALID) {
      options.progress(absl::StrCat(authz.identifier().value(),
                                    ": already authorized, nothing to solve"));
      continue;
    }
    if (authz.status() != pb::AUTHORIZATION_STATUS_PENDING) {
      return absl::FailedPreconditionError(absl::StrCat(
          "authorization for ", authz.identifier().value(), " is ",
          pb::AuthorizationStatus_Name(authz.status()), "; start a new request"));
    }
    const pb::Challenge* chosen = nullptr;
    std::vector<std::string> offered;
    for (const pb::Challenge& challenge : authz.challenges()) {
      offered.push_back(challenge.type());
      if (challenge.type() == solver.ChallengeType() && chosen == nullptr) chosen = &challenge;
    }
    if (chosen == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the CA offers no ", solver.ChallengeType(), " challenge for ",
          authz.identifier().value(), " (offered: ",
          offered.empty() ? "none" : absl::StrJoin(offered, ", "),
          "); choose another method (--standalone/--webroot for http-01, "
          "--manual-auth-hook with --preferred-challenges dns for dns-01)"));
    }
    to_solve.emplace_back(authz.identifier().value(), chosen);
  }

  if (!to_solve.empty()) {
    RETURN_IF_ERROR(solver.Start());
    absl::Cleanup clean_up = [&solver] { solver.CleanUp(); };
    const std::string all_domains = absl::StrJoin(options.domains, ",");
    for (size_t i = 0; i < to_solve.size(); ++i) {
      const pb::Challenge& challenge = *to_solve[i].second;
      ChallengeTask task{to_solve[i].first, challenge.token(), challenge.key_authorization(),
                         challenge.dns01_txt_value(), static_cast<int>(to_solve.size() - i - 1),
                         all_domains};
      RETURN_IF_ERROR(solver.Present(task));
    }
    for (const auto& [domain, challenge] : to_solve) {
      options.progress(absl::StrCat(domain, ": asking the CA to validate (", challenge->type(), ")"));
      RETURN_IF_ERROR(signer.AnswerChallenge(challenge->url()).status());
    }
    ASSIGN_OR_RETURN(order, signer.GetOrder(order.url()));
    // Wait inside the solver's scope: the CA validates asynchronously after the answer, so
    // the responder (or webroot file, or DNS record) must stay up until the order leaves
    // `pending`. Cleaning up here made a slow validator find nothing (connection refused).
    ASSIGN_OR_RETURN(order,
                     WaitWhile(signer, order, pb::ORDER_STATUS_PENDING, options.validation_timeout,
                               "waiting for validation", options));
  }
  // Also without challenges of ours: a CA may still be checking pre-validated names.
  ASSIGN_OR_RETURN(order, WaitWhile(signer, order, pb::ORDER_STATUS_PENDING,
                                    options.validation_timeout, "waiting for validation", options));
  if (order.status() == pb::ORDER_STATUS_INVALID) {
    return absl::FailedPreconditionError(
        absl::StrCat("the CA refused the order: ", InvalidOrderReason(order)));
  }
  if (order.status() == pb::ORDER_STATUS_READY) {
    options.progress("submitting the certificate signing request");
    ASSIGN_OR_RETURN(order, signer.FinalizeOrder(order.url(), options.csr_der));
  }
  ASSIGN_OR_RETURN(order, WaitWhile(signer, order, pb::ORDER_STATUS_PROCESSING,
                                    options.processing_timeout, "waiting for the CA to issue",
                                    options));
  if (order.status() != pb::ORDER_STATUS_VALID) {
    return absl::FailedPreconditionError(absl::StrCat(
        "order ended ", pb::OrderStatus_Name(order.status()), ": ", InvalidOrderReason(order)));
  }
  ASSIGN_OR_RETURN(pb::GetCertificateResponse cert,
                   signer.GetCertificate(order.url(), options.preferred_chain));
  IssuedChain issued;
  issued.order_url = order.url();
  issued.pem_chain = cert.pem_chain();
  issued.serial = cert.serial();
  issued.not_after = absl::FromUnixSeconds(cert.not_after().seconds());
  return issued;
}

}  // namespace acme_signer::agent
