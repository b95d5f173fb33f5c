#include "agent/order_flow.h"

#include <algorithm>
#include <initializer_list>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace acme_signer::agent {
namespace {

absl::Duration NextPoll(const OrderView& order, absl::Duration backoff,
                        const RelayIssueOptions& options) {
  if (order.retry_after.has_value() && *order.retry_after > absl::ZeroDuration()) {
    return std::clamp(*order.retry_after, options.min_poll, absl::Minutes(10));
  }
  return std::clamp(backoff, options.min_poll, options.max_poll);
}

// Polls the order while its status is one of `waiting`, up to `timeout`.
absl::StatusOr<OrderView> WaitWhile(OrderBackend& backend, OrderView order,
                                    std::initializer_list<acme::OrderStatus> waiting,
                                    absl::Duration timeout, absl::string_view what,
                                    const RelayIssueOptions& options) {
  const absl::Time start = absl::Now();
  absl::Duration backoff = options.min_poll;
  while (std::find(waiting.begin(), waiting.end(), order.status) != waiting.end()) {
    const absl::Duration waited = absl::Now() - start;
    const std::string waited_text = absl::FormatDuration(absl::Trunc(waited, absl::Seconds(1)));
    if (waited > timeout) {
      return absl::DeadlineExceededError(absl::StrCat(
          "gave up ", what, " after ", waited_text, "; order ", order.url, " is still ",
          acme::ToString(order.status),
          " (run the command again later: the order continues at the CA)"));
    }
    const absl::Duration pause = NextPoll(order, backoff, options);
    options.progress(absl::StrCat(what, " (", waited_text, " so far, next check in ",
                                  absl::FormatDuration(pause), ")"));
    options.sleep(pause);
    backoff = std::min(backoff * 2, options.max_poll);
    ASSIGN_OR_RETURN(order, backend.GetOrder(order.url));
  }
  return order;
}

struct ToSolve {
  std::string name;
  ChallengeView challenge;
};

// The challenges this host must solve among the order's authorizations; counts those that
// need none in `issued`.
absl::StatusOr<std::vector<ToSolve>> ChallengesToSolve(OrderBackend& backend,
                                                       const OrderView& order,
                                                       absl::string_view type,
                                                       const RelayIssueOptions& options,
                                                       IssuedChain& issued) {
  ASSIGN_OR_RETURN(std::vector<AuthorizationView> authorizations,
                   backend.Authorizations(order, type));
  std::vector<ToSolve> to_solve;
  for (AuthorizationView& authz : authorizations) {
    if (authz.status == acme::AuthorizationStatus::kValid) {
      options.progress(absl::StrCat(authz.name, ": already authorized, nothing to solve"));
      ++issued.authorizations_already_valid;
      continue;
    }
    if (authz.status != acme::AuthorizationStatus::kPending) {
      return absl::FailedPreconditionError(absl::StrCat("authorization for ", authz.name, " is ",
                                                        acme::ToString(authz.status),
                                                        "; start a new request"));
    }
    if (!authz.challenge.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the CA offers no ", type, " challenge for ", authz.name, " (offered: ",
          authz.offered_types.empty() ? "none" : absl::StrJoin(authz.offered_types, ", "),
          "); choose another method (--standalone/--webroot for http-01, "
          "--manual-auth-hook with --preferred-challenges dns for dns-01)"));
    }
    to_solve.push_back(ToSolve{std::move(authz.name), *std::move(authz.challenge)});
  }
  return to_solve;
}

// Whether `item`'s challenge is no longer pending at the CA (answered already), fetched afresh.
absl::StatusOr<bool> ChallengeLeftPending(OrderBackend& backend, const OrderView& order,
                                          const ToSolve& item) {
  ASSIGN_OR_RETURN(OrderView fresh, backend.GetOrder(order.url));
  ASSIGN_OR_RETURN(std::vector<AuthorizationView> authorizations,
                   backend.Authorizations(fresh, item.challenge.type));
  for (const AuthorizationView& authz : authorizations) {
    if (authz.name != item.name || !authz.challenge.has_value()) continue;
    if (authz.challenge->url != item.challenge.url) continue;
    return authz.challenge->status != acme::ChallengeStatus::kPending;
  }
  return false;
}

// Publishes every answer, asks the CA to validate the pending challenges and waits while the
// order is pending, all inside the solver's scope: the CA validates asynchronously after the
// answer, so the responder (or webroot file, or DNS record) must stay up until the order
// leaves `pending` (cleaning up earlier made a slow validator find nothing).
absl::StatusOr<OrderView> SolveAndValidate(OrderBackend& backend, ChallengeSolver& solver,
                                           const OrderView& order,
                                           const std::vector<ToSolve>& to_solve,
                                           const RelayIssueOptions& options,
                                           IssuedChain& issued) {
  RETURN_IF_ERROR(solver.Start());
  absl::Cleanup clean_up = [&solver] { solver.CleanUp(); };
  const std::string all_domains = absl::StrJoin(options.domains, ",");
  for (size_t i = 0; i < to_solve.size(); ++i) {
    const ChallengeView& challenge = to_solve[i].challenge;
    ChallengeTask task{to_solve[i].name,
                       challenge.token,
                       challenge.key_authorization,
                       challenge.dns01_txt_value,
                       static_cast<int>(to_solve.size() - i - 1),
                       all_domains};
    RETURN_IF_ERROR(solver.Present(task));
  }
  for (const ToSolve& item : to_solve) {
    // A challenge already processing was answered by an earlier run: just wait for it.
    if (item.challenge.status != acme::ChallengeStatus::kPending) continue;
    options.progress(
        absl::StrCat(item.name, ": asking the CA to validate (", item.challenge.type, ")"));
    if (absl::Status answered = backend.AnswerChallenge(item.challenge); !answered.ok()) {
      // An answer retried on another signer replica after its reply was lost may be refused
      // by the CA because the first one reached it: the challenge has left `pending`.
      absl::StatusOr<bool> left = ChallengeLeftPending(backend, order, item);
      if (!left.ok() || !*left) return answered;
    }
    ++issued.challenges_answered;
  }
  ASSIGN_OR_RETURN(OrderView polled, backend.GetOrder(order.url));
  return WaitWhile(backend, std::move(polled), {acme::OrderStatus::kPending},
                   options.validation_timeout, "waiting for validation", options);
}

// The end of a dry run: the order is ready, nothing is finalized; every authorization of the
// order is deactivated (RFC 8555 §7.5.2) so the CA does not reuse what the dry run proved.
absl::StatusOr<IssuedChain> DeactivateAfterDryRun(OrderBackend& backend, const OrderView& order,
                                                  absl::string_view type,
                                                  const RelayIssueOptions& options,
                                                  IssuedChain counts) {
  counts.order_url = order.url;
  counts.dry_run = true;
  ASSIGN_OR_RETURN(std::vector<AuthorizationView> authorizations,
                   backend.Authorizations(order, type));
  for (const AuthorizationView& authz : authorizations) {
    if (authz.url.empty()) continue;
    if (absl::Status s = backend.DeactivateAuthorization(authz.url); !s.ok()) {
      options.progress(absl::StrCat("dry run: warning: could not deactivate the authorization for ",
                                    authz.name, ": ", s.message()));
      continue;
    }
    ++counts.authorizations_deactivated;
  }
  options.progress(
      absl::StrCat("dry run: validated; ", counts.authorizations_deactivated,
                   " authorization(s) deactivated, nothing finalized",
                   counts.authorizations_already_valid > 0
                       ? absl::StrCat(" (", counts.authorizations_already_valid,
                                      " were already valid at the CA and were not validated again)")
                       : ""));
  return counts;
}

}  // namespace

absl::StatusOr<IssuedChain> RunOrderFlow(OrderBackend& backend, ChallengeSolver& solver,
                                         const RelayIssueOptions& options) {
  if (options.domains.empty()) return absl::InvalidArgumentError("no --domain given");
  options.progress(absl::StrCat("requesting a certificate for ",
                                absl::StrJoin(options.domains, ", "), backend.Destination()));
  ASSIGN_OR_RETURN(OrderView order, backend.CreateOrder(options.domains, options.replaces));
  IssuedChain counts;
  if (order.status == acme::OrderStatus::kPending) {
    ASSIGN_OR_RETURN(std::vector<ToSolve> to_solve,
                     ChallengesToSolve(backend, order, solver.ChallengeType(), options, counts));
    if (!to_solve.empty()) {
      ASSIGN_OR_RETURN(order, SolveAndValidate(backend, solver, order, to_solve, options, counts));
    }
  } else if (order.status == acme::OrderStatus::kReady) {
    // Ready at creation: every authorization is already valid (reuse, pre-validation).
    counts.authorizations_already_valid = order.authorizations;
  }
  // Also without challenges of ours: a CA may still be checking pre-validated names.
  ASSIGN_OR_RETURN(order, WaitWhile(backend, std::move(order), {acme::OrderStatus::kPending},
                                    options.validation_timeout, "waiting for validation", options));
  if (order.status == acme::OrderStatus::kInvalid) {
    return absl::FailedPreconditionError(
        absl::StrCat("the CA refused the order: ", backend.FailureReason(order)));
  }
  if (options.dry_run) {
    if (order.status != acme::OrderStatus::kReady && order.status != acme::OrderStatus::kValid) {
      return absl::FailedPreconditionError(
          absl::StrCat("dry run: the order is ", acme::ToString(order.status),
                       " after validation, not ready: ", backend.FailureReason(order)));
    }
    return DeactivateAfterDryRun(backend, order, solver.ChallengeType(), options, counts);
  }
  if (order.status == acme::OrderStatus::kReady) {
    options.progress("submitting the certificate signing request");
    ASSIGN_OR_RETURN(order, backend.Finalize(order, options.csr_der));
  }
  // "ready" can linger for a moment after finalize on some CAs; wait it out like processing.
  ASSIGN_OR_RETURN(order, WaitWhile(backend, std::move(order),
                                    {acme::OrderStatus::kReady, acme::OrderStatus::kProcessing},
                                    options.processing_timeout, "waiting for the CA to issue",
                                    options));
  if (order.status != acme::OrderStatus::kValid) {
    return absl::FailedPreconditionError(absl::StrCat(
        "order ended ", acme::ToString(order.status), ": ", backend.FailureReason(order)));
  }
  ASSIGN_OR_RETURN(IssuedChain issued, backend.Download(order, options.preferred_chain));
  issued.authorizations_already_valid = counts.authorizations_already_valid;
  issued.challenges_answered = counts.challenges_answered;
  return issued;
}

}  // namespace acme_signer::agent
