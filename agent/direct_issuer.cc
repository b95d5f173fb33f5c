#include "agent/direct_issuer.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "acme/certificate_chain.h"
#include "acme/json_util.h"
#include "acme/key_authorization.h"
#include "acme/problem.h"
#include "agent/remote_kid_signer.h"
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

// The challenge of `type` in `authz`, with the answer this host publishes.
absl::StatusOr<std::optional<ChallengeView>> ChallengeOfType(const acme::Authorization& authz,
                                                             absl::string_view type,
                                                             const std::string& thumbprint) {
  const acme::Challenge* chosen = authz.Find(type);
  if (chosen == nullptr) return std::nullopt;
  ASSIGN_OR_RETURN(std::string key_authorization,
                   acme::KeyAuthorization(chosen->token, thumbprint));
  ASSIGN_OR_RETURN(std::string txt, acme::Dns01TxtValue(key_authorization));
  return ChallengeView{chosen->type,  chosen->url,   chosen->status,
                       chosen->token, std::move(key_authorization), std::move(txt)};
}

}  // namespace

std::string DirectOrderBackend::Destination() const {
  return absl::StrCat(" from ", options_.directory_url, " (direct mode)");
}

OrderView DirectOrderBackend::Seen(acme::Fetched<acme::Order> fetched) {
  last_ = std::move(fetched.value);
  return OrderView{last_.url, last_.status, fetched.retry_after,
                   static_cast<int>(last_.authorizations.size())};
}

absl::StatusOr<OrderView> DirectOrderBackend::CreateOrder(const std::vector<std::string>& domains,
                                                          const std::string& replaces) {
  acme::NewOrderOptions new_order;
  for (const std::string& name : domains) new_order.identifiers.push_back({"dns", name});
  new_order.replaces = replaces;
  ASSIGN_OR_RETURN(acme::Fetched<acme::Order> order, client_.CreateOrder(new_order));
  requested_ = domains;
  options_.order_created(order.value.url);
  return Seen(std::move(order));
}

absl::StatusOr<OrderView> DirectOrderBackend::GetOrder(const std::string& order_url) {
  ASSIGN_OR_RETURN(acme::Fetched<acme::Order> order, client_.GetOrder(order_url));
  return Seen(std::move(order));
}

absl::StatusOr<std::vector<AuthorizationView>> DirectOrderBackend::Authorizations(
    const OrderView& order, absl::string_view challenge_type) {
  if (last_.url != order.url) RETURN_IF_ERROR(GetOrder(order.url).status());
  std::vector<AuthorizationView> views;
  for (const std::string& url : last_.authorizations) {
    ASSIGN_OR_RETURN(acme::Fetched<acme::Authorization> fetched, client_.GetAuthorization(url));
    const acme::Authorization& authz = fetched.value;
    RETURN_IF_ERROR(CheckRequestedName(authz, requested_));
    AuthorizationView view;
    view.name = authz.identifier.value;
    view.url = url;
    view.status = authz.status;
    for (const acme::Challenge& challenge : authz.challenges) {
      view.offered_types.push_back(challenge.type);
    }
    // Only a pending authorization is solved: no key authorization is needed otherwise.
    if (authz.status == acme::AuthorizationStatus::kPending) {
      ASSIGN_OR_RETURN(view.challenge, ChallengeOfType(authz, challenge_type, thumbprint_));
    }
    views.push_back(std::move(view));
  }
  return views;
}

absl::Status DirectOrderBackend::AnswerChallenge(const ChallengeView& challenge) {
  return client_.AnswerChallenge(challenge.url).status();
}

absl::Status DirectOrderBackend::DeactivateAuthorization(const std::string& authorization_url) {
  return client_.DeactivateAuthorization(authorization_url).status();
}

absl::StatusOr<OrderView> DirectOrderBackend::Finalize(const OrderView& order,
                                                       const std::string& csr_der) {
  if (last_.url != order.url) RETURN_IF_ERROR(GetOrder(order.url).status());
  ASSIGN_OR_RETURN(acme::Fetched<acme::Order> finalized,
                   client_.FinalizeOrder(order.url, last_.finalize, csr_der));
  return Seen(std::move(finalized));
}

std::string DirectOrderBackend::FailureReason(const OrderView&) {
  std::vector<std::string> reasons;
  if (last_.error.has_value()) reasons.push_back(ProblemText(*last_.error));
  for (const std::string& url : last_.authorizations) {
    absl::StatusOr<acme::Fetched<acme::Authorization>> authz = client_.GetAuthorization(url);
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

absl::StatusOr<IssuedChain> DirectOrderBackend::Download(const OrderView& order,
                                                         const std::string& preferred_chain) {
  if (last_.url != order.url) RETURN_IF_ERROR(GetOrder(order.url).status());
  ASSIGN_OR_RETURN(acme::CertificateDownload download,
                   client_.GetCertificate(last_.certificate,
                                          /*with_alternates=*/!preferred_chain.empty()));
  const acme::CertificateChain& chain =
      download.chains[acme::SelectChain(download.chains, preferred_chain)];
  IssuedChain issued;
  issued.order_url = order.url;
  issued.pem_chain = chain.pem_chain;
  issued.serial = chain.serial_hex;
  issued.not_after = chain.not_after;
  return issued;
}

absl::StatusOr<IssuedChain> IssueDirect(SignerClient& signer, ChallengeSolver& solver,
                                        const RelayIssueOptions& options,
                                        const std::string& ca_bundle) {
  if (options.domains.empty()) return absl::InvalidArgumentError("no --domain given");
  ASSIGN_OR_RETURN(std::unique_ptr<RemoteKidSigner> account,
                   RemoteKidSigner::Create(signer, options.account));
  http::CurlHttpClient::Options http_options;
  http_options.ca_bundle_path = ca_bundle;
  absl::StatusOr<std::unique_ptr<http::CurlHttpClient>> curl =
      http::CurlHttpClient::Create(std::move(http_options));
  if (!curl.ok()) {
    return absl::Status(curl.status().code(),
                        absl::StrCat("[direct] ca_bundle: ", curl.status().message()));
  }
  CountingHttpClient http(**curl);
  acme::AcmeClientOptions client_options;
  client_options.directory_url = account->account().directory_url();
  client_options.account_url = account->account().account_url();
  ASSIGN_OR_RETURN(std::unique_ptr<acme::AcmeClient> client,
                   acme::AcmeClient::Create(http, *account, std::move(client_options)));

  // The first contact with the CA from this host: say what decides trust when it fails.
  if (absl::StatusOr<acme::Directory> directory = client->GetDirectory(); !directory.ok()) {
    return absl::Status(
        directory.status().code(),
        absl::StrCat(directory.status().message(),
                     " (in direct mode this host connects to the CA itself, trusting ",
                     ca_bundle.empty() ? "the system trust store" : ca_bundle,
                     "; set [direct] ca_bundle in agent.toml, or issue without --direct)"));
  }
  DirectOrderBackend::Options backend_options;
  backend_options.directory_url = account->account().directory_url();
  backend_options.order_created = [&account](const std::string& url) { account->SetOrder(url); };
  DirectOrderBackend backend(*client, account->thumbprint(), std::move(backend_options));
  ASSIGN_OR_RETURN(IssuedChain issued, RunOrderFlow(backend, solver, options));
  options.progress(absl::StrCat("direct mode: ", http.requests(), " HTTPS requests to the CA, ",
                                account->sign_calls(), " requests signed by acme-signer"));
  return issued;
}

}  // namespace acme_signer::agent
