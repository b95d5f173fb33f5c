#include "acme/issuance.h"

#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "acme/key_authorization.h"
#include "acme/problem.h"
#include "common/status_macros.h"

namespace acme_signer::acme {
namespace {

struct Presented {
  Authorization authz;
  Challenge challenge;
  std::string key_authorization;
};

std::string Describe(const Identifier& id) { return absl::StrCat(id.type, ":", id.value); }

// The status for an authorization that can no longer become valid.
absl::Status AuthorizationFailed(const Authorization& authz) {
  const std::string context = absl::StrCat("authorization for ", Describe(authz.identifier), " is ",
                                           ToString(authz.status));
  for (const Challenge& challenge : authz.challenges) {
    if (challenge.error.has_value()) {
      return ProblemToStatus(*challenge.error,
                             absl::StrCat(context, " (", challenge.type, " challenge)"));
    }
  }
  return absl::FailedPreconditionError(absl::StrCat(context, "; the CA gave no reason"));
}

absl::StatusOr<const Challenge*> ChooseChallenge(const Authorization& authz,
                                                 const std::vector<std::string>& supported) {
  for (const std::string& type : supported) {
    const Challenge* challenge = authz.Find(type);
    if (challenge != nullptr && challenge->IsKnownType()) return challenge;
  }
  std::vector<std::string> offered;
  for (const Challenge& challenge : authz.challenges) {
    offered.push_back(absl::StrCat(challenge.type, " (", ToString(challenge.status), ")"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("authorization for ", Describe(authz.identifier),
                   " offers no challenge this client can "
                   "solve: the CA offered [",
                   absl::StrJoin(offered, ", "), "], the solver supports [",
                   absl::StrJoin(supported, ", "), "]"));
}

absl::StatusOr<Order> PollOrder(AcmeClient& client, Order order,
                                std::optional<absl::Duration> retry_after, OrderStatus waiting_in,
                                const PollPolicy& policy) {
  Backoff backoff(policy);
  while (order.status == waiting_in) {
    RETURN_IF_ERROR(backoff.Wait(
        retry_after, absl::StrCat("order ", order.url, " (", ToString(waiting_in), ")")));
    ASSIGN_OR_RETURN(Fetched<Order> fetched, client.GetOrder(order.url));
    order = std::move(fetched.value);
    retry_after = fetched.retry_after;
  }
  return order;
}

absl::Status OrderFailed(const Order& order) {
  const std::string context = absl::StrCat("order ", order.url, " is invalid");
  if (order.error.has_value()) return ProblemToStatus(*order.error, context);
  return absl::FailedPreconditionError(absl::StrCat(context, "; the CA gave no reason"));
}

}  // namespace

absl::StatusOr<IssuedCertificate> IssueCertificate(AcmeClient& client,
                                                   const NewOrderOptions& order_options,
                                                   absl::string_view csr_der,
                                                   ChallengeSolver& solver,
                                                   const IssueOptions& options) {
  IssuedCertificate result;
  ASSIGN_OR_RETURN(Fetched<Order> created, client.CreateOrder(order_options));
  Order order = std::move(created.value);
  std::optional<absl::Duration> order_retry_after = created.retry_after;

  std::vector<Presented> presented;
  absl::Cleanup clean_up = [&] {
    for (const Presented& p : presented) solver.CleanUp(p.authz, p.challenge, p.key_authorization);
  };

  if (order.status == OrderStatus::kPending) {
    ASSIGN_OR_RETURN(std::string thumbprint, client.AccountThumbprint());
    const std::vector<std::string> supported = solver.SupportedTypes();
    // First publish and answer every challenge, then poll: the CA validates them in parallel.
    std::vector<std::string> to_poll;
    for (const std::string& url : order.authorizations) {
      ASSIGN_OR_RETURN(Fetched<Authorization> fetched, client.GetAuthorization(url));
      const Authorization& authz = fetched.value;
      if (authz.status == AuthorizationStatus::kValid) {
        ++result.authorizations_already_valid;
        continue;
      }
      if (authz.status != AuthorizationStatus::kPending) return AuthorizationFailed(authz);
      ASSIGN_OR_RETURN(const Challenge* challenge, ChooseChallenge(authz, supported));
      ASSIGN_OR_RETURN(std::string key_authorization,
                       KeyAuthorization(challenge->token, thumbprint));
      if (absl::Status status = solver.Present(authz, *challenge, key_authorization);
          !status.ok()) {
        return absl::Status(status.code(),
                            absl::StrCat("publishing the ", challenge->type, " response for ",
                                         Describe(authz.identifier), ": ", status.message()));
      }
      presented.push_back(Presented{authz, *challenge, key_authorization});
      // A challenge already processing was answered by an earlier run: just wait for it.
      if (challenge->status == ChallengeStatus::kPending) {
        RETURN_IF_ERROR(client.AnswerChallenge(challenge->url).status());
        ++result.challenges_answered;
      }
      to_poll.push_back(url);
    }
    for (const std::string& url : to_poll) {
      Backoff backoff(options.poll);
      std::optional<absl::Duration> retry_after;
      while (true) {
        RETURN_IF_ERROR(backoff.Wait(retry_after, absl::StrCat("authorization ", url)));
        ASSIGN_OR_RETURN(Fetched<Authorization> fetched, client.GetAuthorization(url));
        if (fetched.value.status == AuthorizationStatus::kValid) break;
        if (fetched.value.status != AuthorizationStatus::kPending) {
          return AuthorizationFailed(fetched.value);
        }
        retry_after = fetched.retry_after;
      }
    }
    // The order turns ready once the CA notices; polling it is usually one request.
    ASSIGN_OR_RETURN(Fetched<Order> fetched, client.GetOrder(order.url));
    order = std::move(fetched.value);
    order_retry_after = fetched.retry_after;
    ASSIGN_OR_RETURN(order, PollOrder(client, std::move(order), order_retry_after,
                                      OrderStatus::kPending, options.poll));
  } else if (order.status == OrderStatus::kReady) {
    // Ready at creation: every authorization is already valid (reuse, Sectigo
    // pre-validation), so none needs fetching.
    result.authorizations_already_valid = static_cast<int>(order.authorizations.size());
  }
  if (order.status == OrderStatus::kInvalid) return OrderFailed(order);
  if (order.status == OrderStatus::kReady) {
    ASSIGN_OR_RETURN(Fetched<Order> finalized,
                     client.FinalizeOrder(order.url, order.finalize, csr_der));
    order = std::move(finalized.value);
    order_retry_after = finalized.retry_after;
  }
  // "ready" can linger for a moment after finalize on some CAs; treat it like processing.
  if (order.status == OrderStatus::kReady) {
    ASSIGN_OR_RETURN(order, PollOrder(client, std::move(order), order_retry_after,
                                      OrderStatus::kReady, options.poll));
    order_retry_after.reset();
  }
  ASSIGN_OR_RETURN(order, PollOrder(client, std::move(order), order_retry_after,
                                    OrderStatus::kProcessing, options.poll));
  if (order.status == OrderStatus::kInvalid) return OrderFailed(order);
  if (order.status != OrderStatus::kValid) {
    return absl::FailedPreconditionError(absl::StrCat("order ", order.url, " is ",
                                                      ToString(order.status),
                                                      " after finalization; expected valid"));
  }
  ASSIGN_OR_RETURN(CertificateDownload download, client.GetCertificate(order.certificate));
  const size_t chosen = SelectChain(download.chains, options.preferred_chain);
  result.chain = download.chains[chosen];
  result.all_chains = std::move(download.chains);
  result.order = std::move(order);
  return result;
}

}  // namespace acme_signer::acme
