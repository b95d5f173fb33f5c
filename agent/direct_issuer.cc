#include "agent/direct_issuer.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "acme/certificate_chain.h"
#include "acme/client.h"
#include "acme/json_util.h"
#include "acme/jwk.h"
#include "acme/key_authorization.h"
#include "acme/problem.h"
#include "acme/remote_account_key.h"
#include "common/status_macros.h"
#include "http/curl_http_client.h"

namespace acme_signer::agent {
namespace {

// Counts what one issuance costs (reported as a progress line).
class CountingHttpClient : public http::HttpClient {
 public:
  explicit CountingHttpClient(http::HttpClient& inner) : inner_(inner) {}
  absl::StatusOr<http::HttpResponse> Do(const http::HttpRequest& request) override {
    ++requests_;
    return inner_.Do(request);
  }
  int requests() const { return requests_; }

 private:
  http::HttpClient& inner_;
  std::atomic<int> requests_{0};
};

std::string ProblemText(const acme::Problem& problem) {
  std::string text = absl::StrCat(problem.ShortType(), ": ", problem.detail);
  for (const acme::Subproblem& sub : problem.subproblems) {
    absl::StrAppend(&text, "; ", sub.identifier.has_value() ? sub.identifier->value : "",
                    sub.identifier.has_value() ? ": " : "", sub.type, ": ", sub.detail);
  }
  return text;
}

// Why an order went invalid: its error, and the failed challenges of its authorizations
// (fetched now: the order itself does not carry them).
std::string InvalidOrderReason(acme::AcmeClient& client, const acme::Order& order) {
  std::vector<std::string> reasons;
  if (order.error.has_value()) reasons.push_back(ProblemText(*order.error));
  for (const std::string& url : order.authorizations) {
    absl::StatusOr<acme::Fetched<acme::Authorization>> authz = client.GetAuthorization(url);
    if (!authz.ok()) continue;  // best effort: the order's own error is already there
    for (const acme::Challenge& challenge : authz->value.challenges) {
      if (challenge.error.has_value()) {
        reasons.push_back(absl::StrCat(authz->value.identifier.value, " (", challenge.type,
                                       "): ", ProblemText(*challenge.error)));
      }
    }
  }
  if (reasons.empty()) return "the CA gave no reason";
  // The CA's words reach the terminal and logs: no control characters, bounded.
  return acme::internal::SanitizeForMessage(absl::StrJoin(reasons, "; "), 2000);
}

absl::Duration NextPoll(std::optional<absl::Duration> retry_after, absl::Duration backoff,
                        const RelayIssueOptions& options) {
  if (retry_after.has_value() && *retry_after > absl::ZeroDuration()) {
    return std::clamp(*retry_after, options.min_poll, absl::Minutes(10));
  }
  return std::clamp(backoff, options.min_poll, options.max_poll);
}

// Polls the order while its status is one of `waiting`.
absl::StatusOr<acme::Fetched<acme::Order>> WaitWhile(acme::AcmeClient& client,
                                                     acme::Fetched<acme::Order> order,
                                                     std::vector<acme::OrderStatus> waiting,
                                                     absl::Duration timeout, absl::string_view what,
                                                     const RelayIssueOptions& options) {
  const absl::Time start = absl::Now();
  absl::Duration backoff = options.min_poll;
  while (std::find(waiting.begin(), waiting.end(), order.value.status) != waiting.end()) {
    const absl::Duration waited = absl::Now() - start;
    if (waited > timeout) {
      return absl::DeadlineExceededError(absl::StrCat(
          "gave up ", what, " after ", absl::FormatDuration(absl::Trunc(waited, absl::Seconds(1))),
          "; order ", order.value.url, " is still ", acme::ToString(order.value.status),
          " (run the command again later: the order continues at the CA)"));
    }
    const absl::Duration pause = NextPoll(order.retry_after, backoff, options);
    options.progress(absl::StrCat(what, " (",
                                  absl::FormatDuration(absl::Trunc(waited, absl::Seconds(1))),
                                  " so far, next check in ", absl::FormatDuration(pause), ")"));
    options.sleep(pause);
    backoff = std::min(backoff * 2, options.max_poll);
    const std::string url = order.value.url;
    ASSIGN_OR_RETURN(order, client.GetOrder(url));
  }
  return order;
}

// OK when `authz` is for a name in `requested` (a wildcard authorization for "*.<its name>").
absl::Status CheckRequestedName(const acme::Authorization& authz,
                                const std::vector<std::string>& requested) {
  const std::string name = absl::AsciiStrToLower(authz.identifier.value);
  const std::string wanted = authz.wildcard ? absl::StrCat("*.", name) : name;
  const bool asked =
      authz.identifier.type == "dns" &&
      std::any_of(requested.begin(), requested.end(), [&wanted](const std::string& domain) {
        return absl::AsciiStrToLower(domain) == wanted;
      });
  if (!asked) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the CA's authorization ", acme::internal::SanitizeForMessage(authz.url, 200), " is for ",
        acme::internal::SanitizeForMessage(authz.identifier.type, 16), " identifier \"",
        acme::internal::SanitizeForMessage(authz.identifier.value, 260),
        "\", which this host did not request; refusing to act on it"));
  }
  return absl::OkStatus();
}

struct ToSolve {
  acme::Authorization authz;
  acme::Challenge challenge;
  std::string key_authorization;
};

// The challenges this host must solve, from the order's authorizations.
absl::StatusOr<std::vector<ToSolve>> ChallengesToSolve(acme::AcmeClient& client,
                                                       const acme::Order& order,
                                                       const std::string& thumbprint,
                                                       absl::string_view type,
                                                       const RelayIssueOptions& options) {
  std::vector<ToSolve> to_solve;
  for (const std::string& url : order.authorizations) {
    ASSIGN_OR_RETURN(acme::Fetched<acme::Authorization> fetched, client.GetAuthorization(url));
    acme::Authorization& authz = fetched.value;
    // The CA is untrusted input: its identifier reaches hooks (CERTBOT_DOMAIN), file names and
    // the terminal, so it must be one of the names this host asked for.
    RETURN_IF_ERROR(CheckRequestedName(authz, options.domains));
    const std::string& name = authz.identifier.value;
    if (authz.status == acme::AuthorizationStatus::kValid) {
      options.progress(absl::StrCat(name, ": already authorized, nothing to solve"));
      continue;
    }
    if (authz.status != acme::AuthorizationStatus::kPending) {
      return absl::FailedPreconditionError(absl::StrCat("authorization for ", name, " is ",
                                                        acme::ToString(authz.status),
                                                        "; start a new request"));
    }
    const acme::Challenge* chosen = authz.Find(type);
    if (chosen == nullptr) {
      std::vector<std::string> offered;
      for (const acme::Challenge& challenge : authz.challenges) offered.push_back(challenge.type);
      return absl::FailedPreconditionError(
          absl::StrCat("the CA offers no ", type, " challenge for ", name,
                       " (offered: ", offered.empty() ? "none" : absl::StrJoin(offered, ", "),
                       "); choose another method (--standalone/--webroot for http-01, "
                       "--manual-auth-hook with --preferred-challenges dns for dns-01)"));
    }
    ASSIGN_OR_RETURN(std::string key_authorization,
                     acme::KeyAuthorization(chosen->token, thumbprint));
    acme::Challenge challenge = *chosen;
    to_solve.push_back(
        ToSolve{std::move(authz), std::move(challenge), std::move(key_authorization)});
  }
  return to_solve;
}

// The issuance itself.
absl::StatusOr<IssuedChain> Issue(SignerClient& signer, ChallengeSolver& solver,
                                  const RelayIssueOptions& options, const std::string& ca_bundle) {
  if (options.domains.empty()) return absl::InvalidArgumentError("no --domain given");
  ASSIGN_OR_RETURN(pb::GetAccountResponse account, signer.GetAccount());
  if (account.account_jwk().empty()) {
    return absl::FailedPreconditionError(
        "the signer did not send its account's public key (account_jwk): it is too old for "
        "direct mode; update acme-signer or issue without --direct");
  }
  absl::StatusOr<std::unique_ptr<acme::RemoteAccountKey>> account_key =
      acme::RemoteAccountKey::Create(account.jws_algorithm(), account.account_jwk());
  if (!account_key.ok()) {
    return absl::Status(account_key.status().code(),
                        absl::StrCat("the signer's account key: ", account_key.status().message()));
  }
  ASSIGN_OR_RETURN(std::string thumbprint, acme::JwkThumbprint((*account_key)->PublicJwk()));
  if (thumbprint != account.jwk_thumbprint()) {
    return absl::InternalError(absl::StrCat("the signer's account JWK has thumbprint ", thumbprint,
                                            " but the signer reported ", account.jwk_thumbprint()));
  }

  http::CurlHttpClient::Options http_options;
  http_options.ca_bundle_path = ca_bundle;
  absl::StatusOr<std::unique_ptr<http::CurlHttpClient>> curl =
      http::CurlHttpClient::Create(std::move(http_options));
  if (!curl.ok()) {
    return absl::Status(curl.status().code(),
                        absl::StrCat("[direct] ca_bundle: ", curl.status().message()));
  }
  CountingHttpClient http(**curl);
  std::atomic<int> sign_calls{0};
  // The order every request after newOrder belongs to: the signer signs only for resources of
  // an order it knows is this agent's, and adopts the order the first time it is named.
  // Written once below, on this thread, before any request that reads it.
  std::string current_order;
  acme::AcmeClientOptions client_options;
  client_options.directory_url = account.directory_url();
  client_options.account_url = account.account_url();
  client_options.remote_kid_jws =
      [&signer, &sign_calls, &current_order](
          absl::string_view url, absl::string_view payload, absl::string_view nonce,
          absl::string_view order_url_hint) -> absl::StatusOr<std::string> {
    ++sign_calls;
    const std::string order_url =
        order_url_hint.empty() ? current_order : std::string(order_url_hint);
    absl::StatusOr<pb::SignJwsResponse> signed_jws =
        signer.SignJws(std::string(url), std::string(payload), std::string(nonce), order_url);
    if (!signed_jws.ok()) return signed_jws.status();
    return signed_jws->flattened_json();
  };
  ASSIGN_OR_RETURN(std::unique_ptr<acme::AcmeClient> client,
                   acme::AcmeClient::Create(http, **account_key, std::move(client_options)));

  options.progress(absl::StrCat("requesting a certificate for ",
                                absl::StrJoin(options.domains, ", "), " from ",
                                account.directory_url(), " (direct mode)"));
  // The first contact with the CA from this host: say what decides trust when it fails.
  if (absl::StatusOr<acme::Directory> directory = client->GetDirectory(); !directory.ok()) {
    return absl::Status(
        directory.status().code(),
        absl::StrCat(directory.status().message(),
                     " (in direct mode this host connects to the CA itself, trusting ",
                     ca_bundle.empty() ? "the system trust store" : ca_bundle,
                     "; set [direct] ca_bundle in agent.toml, or issue without --direct)"));
  }
  acme::NewOrderOptions new_order;
  for (const std::string& name : options.domains) new_order.identifiers.push_back({"dns", name});
  new_order.replaces = options.replaces;
  ASSIGN_OR_RETURN(acme::Fetched<acme::Order> order, client->CreateOrder(new_order));
  current_order = order.value.url;

  if (order.value.status == acme::OrderStatus::kPending) {
    ASSIGN_OR_RETURN(
        std::vector<ToSolve> to_solve,
        ChallengesToSolve(*client, order.value, thumbprint, solver.ChallengeType(), options));
    if (!to_solve.empty()) {
      RETURN_IF_ERROR(solver.Start());
      absl::Cleanup clean_up = [&solver] { solver.CleanUp(); };
      // Everything is published before the CA is asked to look (hooks rely on this, as with
      // certbot: a DNS hook may wait for propagation on the last challenge only).
      const std::string all_domains = absl::StrJoin(options.domains, ",");
      for (size_t i = 0; i < to_solve.size(); ++i) {
        ASSIGN_OR_RETURN(std::string txt, acme::Dns01TxtValue(to_solve[i].key_authorization));
        ChallengeTask task{to_solve[i].authz.identifier.value,
                           to_solve[i].challenge.token,
                           to_solve[i].key_authorization,
                           std::move(txt),
                           static_cast<int>(to_solve.size() - i - 1),
                           all_domains};
        RETURN_IF_ERROR(solver.Present(task));
      }
      for (const ToSolve& item : to_solve) {
        // A challenge already processing was answered by an earlier run: just wait for it.
        if (item.challenge.status != acme::ChallengeStatus::kPending) continue;
        options.progress(absl::StrCat(item.authz.identifier.value, ": asking the CA to validate (",
                                      item.challenge.type, ")"));
        RETURN_IF_ERROR(client->AnswerChallenge(item.challenge.url).status());
      }
      const std::string url = order.value.url;
      ASSIGN_OR_RETURN(order, client->GetOrder(url));
      // Wait inside the solver's scope: the CA validates while we wait.
      ASSIGN_OR_RETURN(order,
                       WaitWhile(*client, std::move(order), {acme::OrderStatus::kPending},
                                 options.validation_timeout, "waiting for validation", options));
    }
  }
  // Also without challenges of ours: a CA may still be checking pre-validated names.
  ASSIGN_OR_RETURN(order, WaitWhile(*client, std::move(order), {acme::OrderStatus::kPending},
                                    options.validation_timeout, "waiting for validation", options));
  if (order.value.status == acme::OrderStatus::kInvalid) {
    return absl::FailedPreconditionError(
        absl::StrCat("the CA refused the order: ", InvalidOrderReason(*client, order.value)));
  }
  if (order.value.status == acme::OrderStatus::kReady) {
    options.progress("submitting the certificate signing request");
    ASSIGN_OR_RETURN(order,
                     client->FinalizeOrder(order.value.url, order.value.finalize, options.csr_der));
  }
  // "ready" can linger for a moment after finalize on some CAs; wait it out like processing.
  ASSIGN_OR_RETURN(order,
                   WaitWhile(*client, std::move(order),
                             {acme::OrderStatus::kReady, acme::OrderStatus::kProcessing},
                             options.processing_timeout, "waiting for the CA to issue", options));
  if (order.value.status != acme::OrderStatus::kValid) {
    return absl::FailedPreconditionError(absl::StrCat("order ended ",
                                                      acme::ToString(order.value.status), ": ",
                                                      InvalidOrderReason(*client, order.value)));
  }
  // Alternate chains cost a request each; fetch them only when there is a preference.
  ASSIGN_OR_RETURN(acme::CertificateDownload download,
                   client->GetCertificate(order.value.certificate,
                                          /*with_alternates=*/!options.preferred_chain.empty()));
  const acme::CertificateChain& chain =
      download.chains[acme::SelectChain(download.chains, options.preferred_chain)];
  options.progress(absl::StrCat("direct mode: ", http.requests(), " HTTPS requests to the CA, ",
                                sign_calls.load(), " requests signed by acme-signer"));
  IssuedChain issued;
  issued.order_url = order.value.url;
  issued.pem_chain = chain.pem_chain;
  issued.serial = chain.serial_hex;
  issued.not_after = chain.not_after;
  return issued;
}

}  // namespace

absl::StatusOr<IssuedChain> IssueDirect(SignerClient& signer, ChallengeSolver& solver,
                                        const RelayIssueOptions& options,
                                        const std::string& ca_bundle) {
  // A refused SignJws keeps the signer's mark through the ACME client (it copies the hook's
  // payloads), so a policy refusal in direct mode exits 3 as in relay mode.
  return Issue(signer, solver, options, ca_bundle);
}

}  // namespace acme_signer::agent
