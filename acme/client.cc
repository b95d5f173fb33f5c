#include "acme/client.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "acme/eab.h"
#include "acme/json_util.h"
#include "acme/jwk.h"
#include "acme/jws.h"
#include "acme/problem.h"
#include "common/base64url.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "http/headers.h"
#include "http/url.h"

namespace acme_signer::acme {
namespace {

using internal::Json;
using internal::SanitizeForMessage;

constexpr absl::string_view kJoseJson = "application/jose+json";
constexpr absl::string_view kJson = "application/json";
constexpr absl::string_view kProblemJson = "application/problem+json";
constexpr absl::string_view kPemChain = "application/pem-certificate-chain";

bool IsSuccess(int status) { return status >= 200 && status < 300; }

// A response the client cannot use: the CA is unusable for this request.
absl::Status Unusable(absl::string_view context, absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(context, ": ", what));
}
absl::Status Unusable(absl::string_view context, const absl::Status& status) {
  return Unusable(context, status.message());
}
// A body that does not parse as what was asked for.
absl::Status Malformed(absl::string_view context, const absl::Status& status) {
  return Unusable(context, absl::StrCat("malformed response from the CA: ", status.message()));
}

absl::Status CheckContentType(const http::HttpResponse& response, absl::string_view expected,
                              absl::string_view context) {
  const std::string media_type = http::MediaType(response.Header("content-type"));
  if (media_type != expected) {
    return Unusable(context,
                    absl::StrCat("the CA answered with content type \"",
                                 SanitizeForMessage(media_type, 80), "\", expected ", expected));
  }
  return absl::OkStatus();
}

// A KidSigner's JWS must be the one asked for: the protected header names `url`, `nonce` and
// the account, and the payload is `payload`. A mismatch is a signer bug (or, for acme-signer's
// SignJws, a version skew); posting it would only earn a confusing CA error.
absl::Status CheckKidJws(absl::string_view jws, absl::string_view url, absl::string_view nonce,
                         absl::string_view kid, absl::string_view payload) {
  constexpr absl::string_view kWhat = "the JWS from the account's signer";
  ASSIGN_OR_RETURN(Json parsed, internal::ParseJsonObject(jws, kWhat));
  ASSIGN_OR_RETURN(std::string protected_b64, internal::RequiredString(parsed, "protected", kWhat));
  ASSIGN_OR_RETURN(std::string payload_b64, internal::RequiredString(parsed, "payload", kWhat));
  RETURN_IF_ERROR(internal::RequiredString(parsed, "signature", kWhat).status());
  ASSIGN_OR_RETURN(std::string header_json,
                   DecodeBase64Url(protected_b64, "its protected header"));
  ASSIGN_OR_RETURN(Json header, internal::ParseJsonObject(header_json, "its protected header"));
  const std::pair<absl::string_view, absl::string_view> expectations[] = {
      {"url", url}, {"nonce", nonce}, {"kid", kid}};
  for (const auto& [field, expected] : expectations) {
    ASSIGN_OR_RETURN(std::string value,
                     internal::RequiredString(header, field, "its protected header"));
    if (value != expected) {
      return absl::InvalidArgumentError(
          absl::StrCat(kWhat, " has ", field, " \"", SanitizeForMessage(value, 200),
                       "\", expected \"", SanitizeForMessage(expected, 200), "\""));
    }
  }
  if (payload_b64 != Base64Url(payload)) {
    return absl::InvalidArgumentError(absl::StrCat(kWhat, " signs another payload"));
  }
  return absl::OkStatus();
}

// Every request to the CA, timed and counted in the process metrics (common/metrics.h; the
// signer serves them on /metrics): latency by method, and answers by HTTP status, with
// "transport_error" when no answer came back (connection refused, TLS, timeout). Retries are
// separate requests, each counted: that is what the CA saw.
absl::StatusOr<http::HttpResponse> DoCounted(http::HttpClient& http,
                                             const http::HttpRequest& request) {
  static MetricFamily<Histogram>& latency = ProcessMetrics().HistogramFamily(
      "acme_signer_ca_request_duration_seconds",
      "Time from sending a request to the ACME CA to its complete answer (or transport error).",
      LatencyBuckets(), {"method"});
  static MetricFamily<Counter>& answers = ProcessMetrics().CounterFamily(
      "acme_signer_ca_responses_total",
      "Requests to the ACME CA by the HTTP status of the answer (\"transport_error\": none).",
      {"status"});
  const char* method = request.method == http::HttpMethod::kGet    ? "GET"
                       : request.method == http::HttpMethod::kHead ? "HEAD"
                                                                   : "POST";
  const absl::Time start = absl::Now();
  absl::StatusOr<http::HttpResponse> response = http.Do(request);
  latency.WithLabels({method}).ObserveDuration(absl::Now() - start);
  // Statuses are three digits; anything else (a broken server) is one bounded label value.
  const std::string status = !response.ok() ? "transport_error"
                             : (response->status >= 100 && response->status <= 599)
                                 ? absl::StrCat(response->status)
                                 : "invalid";
  answers.WithLabels({status}).Increment();
  return response;
}

std::string RfcTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", time, absl::UTCTimeZone());
}

}  // namespace

absl::Status AcmeClient::CheckOptions(AcmeClientOptions& options) {
  RETURN_IF_ERROR(internal::CheckHttpsUrl(options.directory_url, "ACME directory URL"));
  if (!options.account_url.empty()) {
    RETURN_IF_ERROR(internal::CheckHttpsUrl(options.account_url, "ACME account URL"));
  }
  if (options.max_bad_nonce_retries < 0) {
    return absl::InvalidArgumentError("max_bad_nonce_retries must not be negative");
  }
  if (options.max_unavailable_retries < 0) {
    return absl::InvalidArgumentError("max_unavailable_retries must not be negative");
  }
  if (!options.now) options.now = [] { return absl::Now(); };
  if (!options.sleep) options.sleep = [](absl::Duration d) { absl::SleepFor(d); };
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AcmeClient>> AcmeClient::Create(http::HttpClient& http,
                                                               const hsm::JwsSigner& account_key,
                                                               AcmeClientOptions options) {
  RETURN_IF_ERROR(CheckOptions(options));
  auto local = std::make_unique<LocalKidSigner>(account_key);
  const KidSigner& account = *local;
  return std::unique_ptr<AcmeClient>(
      new AcmeClient(http, account, std::move(local), std::move(options)));
}

absl::StatusOr<std::unique_ptr<AcmeClient>> AcmeClient::Create(http::HttpClient& http,
                                                               const KidSigner& account,
                                                               AcmeClientOptions options) {
  RETURN_IF_ERROR(CheckOptions(options));
  return std::unique_ptr<AcmeClient>(new AcmeClient(http, account, nullptr, std::move(options)));
}

AcmeClient::AcmeClient(http::HttpClient& http, const KidSigner& account,
                       std::unique_ptr<LocalKidSigner> local, AcmeClientOptions options)
    : http_(http),
      options_(std::move(options)),
      nonces_(options_.nonce_pool_capacity),
      account_(&account),
      account_url_(options_.account_url) {
  if (local != nullptr) local_signers_.push_back(std::move(local));
}

// ---------------------------------------------------------------------------------------------
// Plumbing.

void AcmeClient::KeepNonce(const http::HttpResponse& response) {
  const std::string nonce = response.Header("replay-nonce");
  if (!nonce.empty()) nonces_.Put(nonce);  // Put drops anything that is not a valid nonce
}

std::optional<absl::Duration> AcmeClient::RetryAfter(const http::HttpResponse& response) const {
  const std::string value = response.Header("retry-after");
  if (value.empty()) return std::nullopt;
  auto parsed = http::ParseRetryAfter(value, options_.now());
  // An unparsable hint is ignored: the caller's own back-off applies.
  if (!parsed.ok()) return std::nullopt;
  return *parsed;
}

bool AcmeClient::WaitToRetryUnavailable(const http::HttpResponse& response, int* retries) const {
  if (response.status != 503 || *retries >= options_.max_unavailable_retries) return false;
  const std::optional<absl::Duration> wait = RetryAfter(response);
  if (!wait.has_value() || *wait > options_.max_retry_after_wait) return false;
  ++*retries;
  options_.sleep(std::max(*wait, absl::ZeroDuration()));
  return true;
}

absl::StatusOr<http::HttpResponse> AcmeClient::Fetch(const http::HttpRequest& request) {
  int retries = 0;
  while (true) {
    ASSIGN_OR_RETURN(http::HttpResponse response, DoCounted(http_, request));
    if (!WaitToRetryUnavailable(response, &retries)) return response;
  }
}

absl::StatusOr<Directory> AcmeClient::GetDirectory() {
  {
    absl::MutexLock lock(&mu_);
    if (directory_.has_value()) return *directory_;
  }
  const std::string context =
      absl::StrCat("fetching the ACME directory ", SanitizeForMessage(options_.directory_url));
  http::HttpRequest request;
  request.method = http::HttpMethod::kGet;
  request.url = options_.directory_url;
  auto response = Fetch(request);
  if (!response.ok()) {
    return absl::Status(response.status().code(),
                        absl::StrCat(context, ": ", response.status().message()));
  }
  KeepNonce(*response);
  if (!IsSuccess(response->status)) {
    if (response->status >= 300 && response->status < 400) {
      return Unusable(context, absl::StrCat("the server answered HTTP ", response->status,
                                            " (redirect); redirects are not followed, use the "
                                            "final directory URL"));
    }
    return Unusable(context, absl::StrCat("the server answered HTTP ", response->status,
                                          "; check the directory URL"));
  }
  RETURN_IF_ERROR(CheckContentType(*response, kJson, context));
  auto directory = ParseDirectory(response->body);
  if (!directory.ok()) return Malformed(context, directory.status());
  absl::MutexLock lock(&mu_);
  directory_ = *directory;
  return *directory_;
}

absl::StatusOr<std::string> AcmeClient::TakeNonce() {
  if (std::optional<std::string> nonce = nonces_.Take()) return *std::move(nonce);
  ASSIGN_OR_RETURN(Directory directory, GetDirectory());
  constexpr absl::string_view kContext = "fetching a nonce from the CA's newNonce";
  http::HttpRequest request;
  request.method = http::HttpMethod::kHead;
  request.url = directory.new_nonce;
  auto response = Fetch(request);
  if (!response.ok()) {
    return absl::Status(response.status().code(),
                        absl::StrCat(kContext, ": ", response.status().message()));
  }
  if (!IsSuccess(response->status)) {
    return Unusable(kContext, absl::StrCat("the CA answered HTTP ", response->status));
  }
  const std::string nonce = response->Header("replay-nonce");
  if (nonce.empty()) return Unusable(kContext, "the response has no Replay-Nonce header");
  if (absl::Status valid = http::ValidateReplayNonce(nonce); !valid.ok()) {
    return Unusable(kContext,
                    absl::StrCat("the Replay-Nonce header is invalid: ", valid.message()));
  }
  return nonce;
}

absl::StatusOr<const hsm::JwsSigner*> AcmeClient::RequireLocalAccountKey(
    absl::string_view context) const {
  if (const hsm::JwsSigner* key = local_account_key(); key != nullptr) return key;
  return absl::FailedPreconditionError(absl::StrCat(
      context,
      ": not available in direct mode (the account key is in acme-signer, which signs only "
      "kid-form requests; manage the account with acme-signer)"));
}

AcmeClient::Signed AcmeClient::AccountKid() const {
  absl::MutexLock lock(&mu_);
  return Signed{account_, nullptr};
}

absl::StatusOr<std::string> AcmeClient::SignedBody(absl::string_view url,
                                                   absl::string_view payload, Signed how,
                                                   absl::string_view kid, std::string nonce,
                                                   absl::string_view context) {
  if (how.account == nullptr) return SignJws(*how.jwk_key, url, std::move(nonce), kid, payload);
  absl::StatusOr<std::string> jws =
      how.account->SignKid(KidJwsRequest{url, kid, nonce, payload, how.order_url_hint});
  absl::Status usable = jws.ok() ? CheckKidJws(*jws, url, nonce, kid, payload) : jws.status();
  if (usable.ok()) return jws;
  // The nonce never reached the CA: it is still good for the next request.
  nonces_.Put(std::move(nonce));
  if (jws.ok()) return absl::InternalError(absl::StrCat(context, ": ", usable.message()));
  // Keep the signer's payloads: they say where a refusal came from (the agent maps
  // acme-signer's refusal to its own exit code).
  absl::Status refused(usable.code(), absl::StrCat(context, ": ", usable.message()));
  usable.ForEachPayload([&refused](absl::string_view type, const absl::Cord& value) {
    refused.SetPayload(type, value);
  });
  return refused;
}

absl::StatusOr<http::HttpResponse> AcmeClient::Post(absl::string_view url,
                                                    absl::string_view payload, Signed how,
                                                    absl::string_view context,
                                                    absl::string_view accept) {
  std::string kid;
  if (how.account != nullptr) {
    kid = account_url();
    if (kid.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(context,
                       ": no ACME account URL is known; register the account first (`acme-signer "
                       "init`) or configure its URL"));
    }
  }
  int bad_nonce_retries = 0;
  int unavailable_retries = 0;
  bool key_switch_retried = false;
  while (true) {
    ASSIGN_OR_RETURN(std::string nonce, TakeNonce());
    ASSIGN_OR_RETURN(std::string body, SignedBody(url, payload, how, kid, nonce, context));
    http::HttpRequest request;
    request.method = http::HttpMethod::kPost;
    request.url = std::string(url);
    request.body = std::move(body);
    request.content_type = std::string(kJoseJson);
    if (!accept.empty()) request.headers.emplace_back("Accept", std::string(accept));
    auto response = DoCounted(http_, request);
    if (!response.ok()) {
      return absl::Status(response.status().code(),
                          absl::StrCat(context, ": ", response.status().message()));
    }
    KeepNonce(*response);
    const std::string media_type = http::MediaType(response->Header("content-type"));
    if (response->status == 400 && bad_nonce_retries < options_.max_bad_nonce_retries &&
        (media_type == kProblemJson || media_type == kJson)) {
      auto problem = ParseProblem(response->body);
      // RFC 8555 §6.5: the rejection carries a fresh nonce (kept above); retry with it.
      if (problem.ok() && problem->Is("badNonce")) {
        ++bad_nonce_retries;
        continue;
      }
    }
    // Signed with an account key that was switched meanwhile (ChangeAccountKey,
    // UseAccountKey: a key rollover while this request was under way): the CA may have
    // refused the old key; retried once with the current one.
    if (how.account != nullptr && !key_switch_retried && response->status >= 400 &&
        response->status < 500) {
      const KidSigner* current = &account();
      if (current != how.account) {
        how.account = current;
        key_switch_retried = true;
        continue;
      }
    }
    if (WaitToRetryUnavailable(*response, &unavailable_retries)) continue;
    return response;
  }
}

absl::StatusOr<http::HttpResponse> AcmeClient::PostExpecting(absl::string_view url,
                                                             absl::string_view payload, Signed how,
                                                             absl::string_view context,
                                                             absl::string_view accept) {
  ASSIGN_OR_RETURN(http::HttpResponse response, Post(url, payload, how, context, accept));
  if (IsSuccess(response.status)) return response;
  return ErrorResponse(response, context);
}

absl::Status AcmeClient::ErrorResponse(const http::HttpResponse& response,
                                       absl::string_view context) const {
  if (response.status >= 300 && response.status < 400) {
    return Unusable(context,
                    absl::StrCat("the CA answered HTTP ", response.status, " redirecting to \"",
                                 SanitizeForMessage(response.Header("location"), 200),
                                 "\"; ACME redirects are never followed"));
  }
  const std::string media_type = http::MediaType(response.Header("content-type"));
  // RFC 8555 requires application/problem+json; plain JSON problems are accepted too.
  if (media_type == kProblemJson || media_type == kJson) {
    auto problem = ParseProblem(response.body);
    if (problem.ok()) {
      if (problem->status == 0) problem->status = response.status;
      problem->retry_after = RetryAfter(response);
      return ProblemToStatus(*problem, context);
    }
  }
  std::string retry;
  if (const std::optional<absl::Duration> wait = RetryAfter(response); wait.has_value()) {
    retry = absl::StrCat("; the CA asks to retry after ", absl::FormatDuration(*wait));
  }
  return Unusable(context, absl::StrCat("the CA answered HTTP ", response.status,
                                        " without a problem document (content type \"",
                                        SanitizeForMessage(media_type, 80), "\"): \"",
                                        SanitizeForMessage(response.body, 200), "\"", retry));
}

absl::StatusOr<http::HttpResponse> AcmeClient::PostAsGetKid(absl::string_view url,
                                                            absl::string_view context,
                                                            absl::string_view accept) {
  return PostExpecting(url, "", AccountKid(), context, accept);
}

absl::Status AcmeClient::CheckSameOrigin(absl::string_view url, absl::string_view what) {
  RETURN_IF_ERROR(internal::CheckHttpsUrl(url, what));
  // Both parse: CheckHttpsUrl just accepted `url`, Create() the directory URL.
  absl::StatusOr<http::Url> directory = http::Url::Parse(options_.directory_url);
  absl::StatusOr<http::Url> target = http::Url::Parse(url);
  if (!directory.ok() || !target.ok() || directory->Origin() != target->Origin()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " \"", SanitizeForMessage(url, 200), "\" is not on the directory's origin ",
        directory.ok() ? directory->Origin() : std::string("(unparsable)")));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Account.

std::string AcmeClient::account_url() const {
  absl::MutexLock lock(&mu_);
  return account_url_;
}

const KidSigner& AcmeClient::account() const {
  absl::MutexLock lock(&mu_);
  return *account_;
}

const hsm::JwsSigner* AcmeClient::local_account_key() const {
  absl::MutexLock lock(&mu_);
  if (local_signers_.empty()) return nullptr;
  return &local_signers_.back()->key();
}

absl::StatusOr<std::string> AcmeClient::AccountThumbprint() const {
  return JwkThumbprint(account().PublicJwk());
}

absl::StatusOr<Account> AcmeClient::NewAccount(const std::string& payload,
                                               absl::string_view context) {
  ASSIGN_OR_RETURN(const hsm::JwsSigner* key, RequireLocalAccountKey(context));
  ASSIGN_OR_RETURN(Directory directory, GetDirectory());
  ASSIGN_OR_RETURN(http::HttpResponse response,
                   PostExpecting(directory.new_account, payload, Signed{nullptr, key}, context));
  const std::string location = response.Header("location");
  if (location.empty()) {
    return Unusable(context, "the CA's response has no Location header (the account URL)");
  }
  if (absl::Status same = CheckSameOrigin(location, "the account URL (Location header)");
      !same.ok()) {
    return Unusable(context, same);
  }
  Account account;
  // Some CAs answer an existing account with an empty body; the URL is what matters.
  if (!response.body.empty()) {
    RETURN_IF_ERROR(CheckContentType(response, kJson, context));
    auto parsed = ParseAccount(response.body);
    if (!parsed.ok()) return Malformed(context, parsed.status());
    account = *std::move(parsed);
  }
  account.url = location;
  if (account.status != AccountStatus::kValid) {
    return absl::FailedPreconditionError(
        absl::StrCat(context, ": the account ", SanitizeForMessage(location, 200), " is ",
                     ToString(account.status), "; a new account key is needed"));
  }
  absl::MutexLock lock(&mu_);
  account_url_ = location;
  return account;
}

absl::StatusOr<Account> AcmeClient::FindAccount() {
  return NewAccount(R"({"onlyReturnExisting":true})", "looking up the ACME account for this key");
}

absl::StatusOr<Account> AcmeClient::CreateAccount(const NewAccountOptions& options) {
  // The EAB key id is not secret and is the first thing to check when the CA refuses it.
  const std::string context = options.eab_kid.empty()
                                  ? std::string("registering the ACME account")
                                  : absl::StrCat("registering the ACME account with EAB key id \"",
                                                 SanitizeForMessage(options.eab_kid, 100), "\"");
  if ((options.eab_mac == nullptr) != options.eab_kid.empty()) {
    return absl::InvalidArgumentError(
        "External Account Binding needs both the key id (--eab-kid) and the HMAC key");
  }
  // Before the EAB MAC is computed: it would be wasted.
  ASSIGN_OR_RETURN(const hsm::JwsSigner* key, RequireLocalAccountKey(context));
  ASSIGN_OR_RETURN(Directory directory, GetDirectory());
  if (directory.meta.external_account_required && options.eab_mac == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(context,
                     ": this CA requires External Account Binding; run `acme-signer init` with "
                     "--eab-kid and --eab-hmac-key-file"));
  }
  Json payload = Json::object();
  if (!options.contact.empty()) payload["contact"] = options.contact;
  if (options.terms_of_service_agreed) payload["termsOfServiceAgreed"] = true;
  if (options.eab_mac != nullptr) {
    ASSIGN_OR_RETURN(payload["externalAccountBinding"],
                     BuildExternalAccountBinding(*options.eab_mac, options.eab_kid,
                                                 directory.new_account, key->PublicJwk()));
  }
  return NewAccount(payload.dump(), context);
}

absl::StatusOr<Account> AcmeClient::RegisterAccount(const NewAccountOptions& options) {
  auto existing = FindAccount();
  if (existing.ok() || existing.status().code() != absl::StatusCode::kNotFound) return existing;
  return CreateAccount(options);
}

absl::Status AcmeClient::ChangeAccountKey(const hsm::JwsSigner& new_key) {
  constexpr absl::string_view kContext = "changing the ACME account key";
  ASSIGN_OR_RETURN(const hsm::JwsSigner* old_key, RequireLocalAccountKey(kContext));
  ASSIGN_OR_RETURN(Directory directory, GetDirectory());
  if (directory.key_change.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kContext, ": the CA's directory does not offer keyChange"));
  }
  const std::string kid = account_url();
  if (kid.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kContext, ": no ACME account URL is known; register the account first"));
  }
  // §7.3.5: the inner JWS is signed by the new key (jwk, no nonce) and names the account and
  // the old key; the outer one is an ordinary kid request signed by the old key.
  Json inner_payload = Json::object();
  inner_payload["account"] = kid;
  ASSIGN_OR_RETURN(inner_payload["oldKey"],
                   internal::ParseJsonObject(old_key->PublicJwk(), "current account JWK"));
  ASSIGN_OR_RETURN(std::string inner,
                   SignJws(new_key, directory.key_change, std::nullopt, "", inner_payload.dump()));
  RETURN_IF_ERROR(PostExpecting(directory.key_change, inner, AccountKid(), kContext).status());
  absl::MutexLock lock(&mu_);
  local_signers_.push_back(std::make_unique<LocalKidSigner>(new_key));
  account_ = local_signers_.back().get();
  return absl::OkStatus();
}

absl::StatusOr<Account> AcmeClient::DeactivateAccount() {
  constexpr absl::string_view kContext = "deactivating the ACME account";
  const std::string kid = account_url();
  if (kid.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kContext, ": no ACME account URL is known; register the account first"));
  }
  ASSIGN_OR_RETURN(http::HttpResponse response,
                   PostExpecting(kid, R"({"status":"deactivated"})", AccountKid(), kContext));
  Account account;
  account.status = AccountStatus::kDeactivated;
  if (!response.body.empty()) {
    RETURN_IF_ERROR(CheckContentType(response, kJson, kContext));
    auto parsed = ParseAccount(response.body);
    if (!parsed.ok()) return Malformed(kContext, parsed.status());
    account = *std::move(parsed);
  }
  account.url = kid;
  if (account.status != AccountStatus::kDeactivated) {
    return Unusable(kContext, absl::StrCat("the CA answered with account status \"",
                                           ToString(account.status),
                                           "\" instead of \"deactivated\""));
  }
  return account;
}

absl::Status AcmeClient::UseAccountKey(const hsm::JwsSigner& key) {
  absl::MutexLock lock(&mu_);
  if (local_signers_.empty()) {
    return absl::FailedPreconditionError(
        "switching the account key: this client signs through a remote account (direct mode)");
  }
  local_signers_.push_back(std::make_unique<LocalKidSigner>(key));
  account_ = local_signers_.back().get();
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Orders.

absl::StatusOr<Fetched<Order>> AcmeClient::CreateOrder(const NewOrderOptions& options) {
  if (options.identifiers.empty()) {
    return absl::InvalidArgumentError("an order needs at least one identifier");
  }
  if (options.not_before.has_value() && options.not_after.has_value() &&
      *options.not_after <= *options.not_before) {
    return absl::InvalidArgumentError("the order's notAfter must be after its notBefore");
  }
  const std::string context =
      absl::StrCat("creating an order for ", SanitizeForMessage(options.identifiers[0].value, 100),
                   options.identifiers.size() > 1 ? " and others" : "");
  Json payload = Json::object();
  Json identifiers = Json::array();
  for (const Identifier& id : options.identifiers) {
    if (id.type.empty() || id.value.empty()) {
      return absl::InvalidArgumentError("an order identifier has an empty type or value");
    }
    identifiers.push_back(Json{{"type", id.type}, {"value", id.value}});
  }
  payload["identifiers"] = std::move(identifiers);
  if (options.not_before.has_value()) payload["notBefore"] = RfcTime(*options.not_before);
  if (options.not_after.has_value()) payload["notAfter"] = RfcTime(*options.not_after);
  if (!options.replaces.empty()) payload["replaces"] = options.replaces;
  ASSIGN_OR_RETURN(Directory directory, GetDirectory());
  ASSIGN_OR_RETURN(
      http::HttpResponse response,
      PostExpecting(directory.new_order, internal::DumpJson(payload), AccountKid(), context));
  RETURN_IF_ERROR(CheckContentType(response, kJson, context));
  const std::string location = response.Header("location");
  if (location.empty()) {
    return Unusable(context, "the CA's response has no Location header (the order URL)");
  }
  if (absl::Status same = CheckSameOrigin(location, "the order URL (Location header)");
      !same.ok()) {
    return Unusable(context, same);
  }
  auto order = ParseOrder(response.body);
  if (!order.ok()) return Malformed(context, order.status());
  order->url = location;
  return Fetched<Order>{*std::move(order), RetryAfter(response)};
}

absl::StatusOr<Fetched<Order>> AcmeClient::GetOrder(absl::string_view order_url) {
  const std::string context = absl::StrCat("fetching order ", SanitizeForMessage(order_url, 200));
  RETURN_IF_ERROR(internal::CheckHttpsUrl(order_url, "order URL"));
  ASSIGN_OR_RETURN(http::HttpResponse response, PostAsGetKid(order_url, context));
  RETURN_IF_ERROR(CheckContentType(response, kJson, context));
  auto order = ParseOrder(response.body);
  if (!order.ok()) return Malformed(context, order.status());
  order->url = std::string(order_url);
  return Fetched<Order>{*std::move(order), RetryAfter(response)};
}

absl::StatusOr<Fetched<Authorization>> AcmeClient::GetAuthorization(
    absl::string_view authorization_url) {
  const std::string context =
      absl::StrCat("fetching authorization ", SanitizeForMessage(authorization_url, 200));
  RETURN_IF_ERROR(internal::CheckHttpsUrl(authorization_url, "authorization URL"));
  ASSIGN_OR_RETURN(http::HttpResponse response, PostAsGetKid(authorization_url, context));
  RETURN_IF_ERROR(CheckContentType(response, kJson, context));
  auto authz = ParseAuthorization(response.body);
  if (!authz.ok()) return Malformed(context, authz.status());
  authz->url = std::string(authorization_url);
  return Fetched<Authorization>{*std::move(authz), RetryAfter(response)};
}

absl::StatusOr<Fetched<Challenge>> AcmeClient::AnswerChallenge(absl::string_view challenge_url) {
  const std::string context =
      absl::StrCat("answering challenge ", SanitizeForMessage(challenge_url, 200));
  RETURN_IF_ERROR(internal::CheckHttpsUrl(challenge_url, "challenge URL"));
  ASSIGN_OR_RETURN(http::HttpResponse response,
                   PostExpecting(challenge_url, "{}", AccountKid(), context));
  RETURN_IF_ERROR(CheckContentType(response, kJson, context));
  auto challenge = ParseChallenge(response.body);
  if (!challenge.ok()) return Malformed(context, challenge.status());
  return Fetched<Challenge>{*std::move(challenge), RetryAfter(response)};
}

absl::StatusOr<Fetched<Authorization>> AcmeClient::DeactivateAuthorization(
    absl::string_view authorization_url) {
  const std::string context =
      absl::StrCat("deactivating authorization ", SanitizeForMessage(authorization_url, 200));
  RETURN_IF_ERROR(internal::CheckHttpsUrl(authorization_url, "authorization URL"));
  ASSIGN_OR_RETURN(
      http::HttpResponse response,
      PostExpecting(authorization_url, R"({"status":"deactivated"})", AccountKid(), context));
  RETURN_IF_ERROR(CheckContentType(response, kJson, context));
  auto authz = ParseAuthorization(response.body);
  if (!authz.ok()) return Malformed(context, authz.status());
  authz->url = std::string(authorization_url);
  return Fetched<Authorization>{*std::move(authz), RetryAfter(response)};
}

absl::StatusOr<Fetched<Order>> AcmeClient::FinalizeOrder(absl::string_view order_url,
                                                         absl::string_view finalize_url,
                                                         absl::string_view csr_der) {
  const std::string context = absl::StrCat("finalizing order ", SanitizeForMessage(order_url, 200));
  RETURN_IF_ERROR(internal::CheckHttpsUrl(finalize_url, "finalize URL"));
  if (csr_der.empty()) return absl::InvalidArgumentError("the CSR to finalize with is empty");
  Json payload = Json::object();
  payload["csr"] = Base64Url(csr_der);
  Signed how = AccountKid();
  how.order_url_hint = order_url;
  ASSIGN_OR_RETURN(http::HttpResponse response,
                   PostExpecting(finalize_url, payload.dump(), how, context));
  RETURN_IF_ERROR(CheckContentType(response, kJson, context));
  auto order = ParseOrder(response.body);
  if (!order.ok()) return Malformed(context, order.status());
  order->url = std::string(order_url);
  return Fetched<Order>{*std::move(order), RetryAfter(response)};
}

absl::StatusOr<CertificateChain> AcmeClient::DownloadChain(absl::string_view url,
                                                           http::HttpResponse* response) {
  const std::string context =
      absl::StrCat("downloading certificate ", SanitizeForMessage(url, 200));
  RETURN_IF_ERROR(internal::CheckHttpsUrl(url, "certificate URL"));
  ASSIGN_OR_RETURN(*response, PostAsGetKid(url, context, kPemChain));
  RETURN_IF_ERROR(CheckContentType(*response, kPemChain, context));
  auto chain = ParsePemChain(response->body, url);
  if (!chain.ok()) return Malformed(context, chain.status());
  return chain;
}

absl::StatusOr<CertificateDownload> AcmeClient::GetCertificate(absl::string_view certificate_url,
                                                               bool with_alternates) {
  CertificateDownload download;
  http::HttpResponse response;
  ASSIGN_OR_RETURN(CertificateChain chain, DownloadChain(certificate_url, &response));
  download.chains.push_back(std::move(chain));
  download.retry_after = RetryAfter(response);
  if (!with_alternates) return download;
  const std::vector<std::string> link_values = response.Headers("link");
  if (link_values.empty()) return download;
  auto links = http::ParseLinkHeaders(link_values, certificate_url);
  if (!links.ok()) {
    return Unusable(
        absl::StrCat("downloading certificate ", SanitizeForMessage(certificate_url, 200)),
        absl::StrCat("its Link header is malformed: ", links.status().message()));
  }
  for (const std::string& url : http::LinksWithRel(*links, "alternate")) {
    if (download.chains.size() > options_.max_alternate_chains) break;
    http::HttpResponse alternate_response;
    ASSIGN_OR_RETURN(CertificateChain alternate, DownloadChain(url, &alternate_response));
    download.chains.push_back(std::move(alternate));
  }
  return download;
}

absl::Status AcmeClient::Revocation(absl::string_view certificate_der, RevocationReason reason,
                                    Signed how) {
  constexpr absl::string_view kContext = "revoking the certificate";
  if (certificate_der.empty()) {
    return absl::InvalidArgumentError("the certificate to revoke is empty");
  }
  ASSIGN_OR_RETURN(Directory directory, GetDirectory());
  if (directory.revoke_cert.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kContext, ": the CA's directory does not offer revokeCert"));
  }
  Json payload = Json::object();
  payload["certificate"] = Base64Url(certificate_der);
  payload["reason"] = static_cast<int>(reason);
  return PostExpecting(directory.revoke_cert, payload.dump(), how, kContext).status();
}

absl::Status AcmeClient::Revoke(absl::string_view certificate_der, RevocationReason reason) {
  return Revocation(certificate_der, reason, AccountKid());
}

absl::Status AcmeClient::RevokeWithCertificateKey(absl::string_view certificate_der,
                                                  RevocationReason reason,
                                                  const hsm::JwsSigner& certificate_key) {
  return Revocation(certificate_der, reason, Signed{nullptr, &certificate_key});
}

absl::StatusOr<RenewalInfo> AcmeClient::GetRenewalInfo(absl::string_view certificate_der) {
  constexpr absl::string_view kContext = "fetching renewal information (ARI)";
  ASSIGN_OR_RETURN(Directory directory, GetDirectory());
  if (directory.renewal_info.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kContext, ": the CA's directory does not offer renewalInfo"));
  }
  ASSIGN_OR_RETURN(std::string id, AriCertificateId(certificate_der));
  http::HttpRequest request;
  request.method = http::HttpMethod::kGet;
  request.url = absl::StrCat(directory.renewal_info,
                             absl::EndsWith(directory.renewal_info, "/") ? "" : "/", id);
  const std::string context = absl::StrCat(kContext, " from ", SanitizeForMessage(request.url));
  auto response = Fetch(request);
  if (!response.ok()) {
    return absl::Status(response.status().code(),
                        absl::StrCat(context, ": ", response.status().message()));
  }
  KeepNonce(*response);
  if (!IsSuccess(response->status)) return ErrorResponse(*response, context);
  RETURN_IF_ERROR(CheckContentType(*response, kJson, context));
  auto info = ParseRenewalInfo(response->body);
  if (!info.ok()) return Malformed(context, info.status());
  info->certificate_id = std::move(id);
  info->retry_after = RetryAfter(*response);
  return info;
}

}  // namespace acme_signer::acme
