#include "signer/frontdoor/acme_server.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "acme/ari.h"
#include "acme/certificate_chain.h"
#include "acme/jwk.h"
#include "acme/jws_verify.h"
#include "acme/key_authorization.h"
#include "acme/problem.h"
#include "acme/revocation_reason.h"
#include "acme/server_problem.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "common/status_macros.h"
#include "common/work_queue.h"
#include "common/x509.h"
#include "http/url.h"
#include "nlohmann/json.hpp"
#include "signer/csr_checks.h"
#include "signer/frontdoor/credentials.h"
#include "signer/name_policy.h"

namespace acme_signer::signer::frontdoor {
namespace {

using Json = nlohmann::json;
using http::ServerRequest;
using http::ServerResponse;
namespace pt = acme::problem_type;
using acme::Identifier;

constexpr size_t kObjectIdBytes = 16;
constexpr size_t kTokenBytes = 32;
constexpr size_t kMaxIdentifiersInRequest = 100;
constexpr size_t kMaxContacts = 10;
// Validations at once (each bounded by the validators' timeouts: 20 s by default).
constexpr int kValidationWorkers = 8;
constexpr absl::Duration kOrderLifetime = absl::Hours(24 * 7);
// What clients are told to wait between polls of a pending or processing order.
constexpr int kRetryAfterSeconds = 1;
// RFC 9773 §4.2: how long a client should wait before asking again.
constexpr int kRenewalInfoRetryAfterSeconds = 6 * 3600;

constexpr absl::string_view kKindOrder = "order";
constexpr absl::string_view kKindAuthz = "authz";
constexpr absl::string_view kKindCert = "cert";

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

absl::Time ParseRfc3339OrPast(const std::string& text) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) return absl::InfinitePast();
  return t;
}

absl::Status Problem(absl::string_view type, absl::string_view detail) {
  return acme::ServerProblemStatus(type, detail);
}
absl::Status Problem(absl::string_view type, absl::string_view detail, int http_status) {
  return acme::ServerProblemStatus(type, detail, http_status);
}

// A CA's problem document (carried by `status`) as the problem the client gets; other errors
// become serverInternal with `what` (the message goes to the journal, not to the client).
absl::Status UpstreamFailure(const absl::Status& status, absl::string_view what) {
  if (std::optional<acme::Problem> ca = acme::GetProblem(status); ca.has_value()) {
    const std::string type = ca->ShortType();
    if (!absl::StrContains(type, ':')) {
      acme::ServerProblem problem;
      problem.type = type;
      problem.detail = ca->detail.empty() ? std::string(what) : ca->detail;
      problem.http_status = ca->status >= 400 && ca->status <= 599 ? ca->status
                                                                   : acme::DefaultHttpStatus(type);
      problem.subproblems = ca->subproblems;
      return problem.ToStatus();
    }
  }
  std::cerr << "acme-signer: front door: " << what << ": " << status.message() << std::endl;
  // The upstream issuer's own refusals (no dns-01 hook for a CA that asks for validation, a
  // hook that failed or timed out) say why in operator terms and carry no secret: the client
  // gets them. Anything else (transport, HSM) stays in the journal.
  // A hook's stderr (which could carry anything the hook printed) stays in the journal.
  if (absl::IsFailedPrecondition(status) || absl::IsDeadlineExceeded(status)) {
    absl::string_view message = status.message();
    message = message.substr(0, message.find("; stderr"));
    return Problem(pt::kServerInternal, absl::StrCat(what, ": ", message));
  }
  return Problem(pt::kServerInternal,
                 absl::StrCat(what, " (the signer's journal has the reason)"));
}

Json IdentifierJson(const Identifier& identifier) {
  return Json{{"type", identifier.type}, {"value", identifier.value}};
}

Json ProblemJson(absl::string_view type, absl::string_view detail, int status) {
  acme::ServerProblem problem = acme::MakeServerProblem(type, detail);
  problem.http_status = status;
  return Json::parse(problem.ToJson());
}

std::vector<Identifier> IdentifiersFromJson(const Json& array) {
  std::vector<Identifier> out;
  for (const Json& item : array) {
    out.push_back(Identifier{item.value("type", ""), item.value("value", "")});
  }
  return out;
}

}  // namespace

struct AcmeServer::Impl {
  std::string external_url;  // no trailing '/'
  std::string base_path;     // the external URL's path ("" or "/acme")
  Deps deps;
  // Serialises read-modify-write of orders and authorizations (never held across network I/O).
  absl::Mutex objects_mu;
  // Challenge validations in progress; the last member, so it stops (joining its workers)
  // before anything they use goes away.
  std::unique_ptr<WorkQueue> validations;

  absl::Time Now() const { return deps.clock ? deps.clock() : absl::Now(); }
  std::string Url(absl::string_view path) const { return absl::StrCat(external_url, path); }
  std::string DirectoryUrl() const { return Url("/directory"); }
  std::string AccountUrl(absl::string_view id) const { return Url(absl::StrCat("/acct/", id)); }
  std::string OrderUrl(absl::string_view id) const { return Url(absl::StrCat("/order/", id)); }
  std::string AuthzUrl(absl::string_view id) const { return Url(absl::StrCat("/authz/", id)); }
  std::string CertUrl(absl::string_view id) const { return Url(absl::StrCat("/cert/", id)); }
  std::string ChallengeUrl(absl::string_view authz, size_t index) const {
    return Url(absl::StrCat("/chall/", authz, "/", index));
  }

  // --- responses --------------------------------------------------------------------------

  void AddCommonHeaders(ServerResponse& response, bool with_nonce) {
    response.headers.emplace_back("Link", absl::StrCat("<", DirectoryUrl(), ">;rel=\"index\""));
    response.headers.emplace_back("Cache-Control", "no-store");
    if (with_nonce) {
      absl::StatusOr<std::string> nonce = deps.nonces->Issue();
      if (nonce.ok()) response.headers.emplace_back("Replay-Nonce", *nonce);
    }
  }

  static ServerResponse JsonResponse(int status, const Json& body) {
    ServerResponse response;
    response.status = status;
    response.headers.emplace_back("Content-Type", "application/json");
    response.body = body.dump();
    return response;
  }

  ServerResponse ProblemResponse(const absl::Status& status, bool with_nonce) {
    acme::ServerProblem problem = acme::ProblemForStatus(status);
    ServerResponse response;
    response.status = problem.http_status;
    response.headers.emplace_back("Content-Type", std::string(acme::kProblemContentType));
    response.body = problem.ToJson();
    if (problem.type == pt::kRateLimited) response.headers.emplace_back("Retry-After", "60");
    if (!problem.location.empty()) response.headers.emplace_back("Location", problem.location);
    AddCommonHeaders(response, with_nonce);
    return response;
  }

  // --- audit ------------------------------------------------------------------------------

  // Allowed: durable before the reply; a failure turns the reply into serverInternal.
  absl::Status AuditAllowed(AuditRecord record) {
    record.decision = AuditDecision::kAllow;
    absl::StatusOr<uint64_t> appended = deps.audit->Append(record);
    if (!appended.ok()) {
      std::cerr << "acme-signer: front door: cannot write the audit log, refusing: "
                << appended.status().message() << std::endl;
      return Problem(pt::kServerInternal, "the signer cannot record this request; try later");
    }
    return absl::OkStatus();
  }

  void AuditRefused(AuditRecord record, const absl::Status& why) {
    record.decision = AuditDecision::kDeny;
    const acme::ServerProblem problem = acme::ProblemForStatus(why);
    record.reason = absl::StrCat(problem.type, ": ", problem.detail);
    absl::Status written = deps.refusals != nullptr ? deps.refusals->Refuse(record)
                                                    : deps.audit->Append(record).status();
    if (!written.ok()) {
      std::cerr << "acme-signer: front door: cannot audit a refusal: " << written.message()
                << std::endl;
    }
  }

  // --- policy -----------------------------------------------------------------------------

  // The host's policy when it may use the front door; unauthorized otherwise.
  absl::StatusOr<const AgentPolicy*> FrontDoorPolicy(const SignerConfig& config,
                                                     absl::string_view host) {
    const AgentPolicy* policy = config.FindAgent(host);
    if (policy == nullptr) {
      return Problem(pt::kUnauthorized,
                     absl::StrCat("host ", host, " is not configured on this signer"));
    }
    if (!policy->front_door) {
      return Problem(pt::kUnauthorized,
                     absl::StrCat("host ", host,
                                  " may not use the ACME front door (front_door = false)"));
    }
    return policy;
  }

  // The account behind a kid URL; NotFound when there is none.
  absl::StatusOr<FrontDoorAccount> AccountForKid(absl::string_view kid) {
    absl::string_view id = kid;
    const std::string prefix = AccountUrl("");
    if (!absl::ConsumePrefix(&id, prefix) || id.empty()) {
      return absl::NotFoundError("not an account URL of this server");
    }
    ASSIGN_OR_RETURN(std::optional<FrontDoorAccount> account,
                     deps.store->FindFrontDoorAccount(id));
    if (!account.has_value()) return absl::NotFoundError("no such account");
    return *account;
  }

  // OK when `policy`'s host may still act as signer account `signer_account` (the account of
  // its credential); unauthorized, naming both and the remedy, otherwise.
  static absl::Status CheckAccountAllowed(const AgentPolicy& policy,
                                          absl::string_view signer_account) {
    if (policy.MayUseAccount(signer_account)) return absl::OkStatus();
    return Problem(pt::kUnauthorized,
                   absl::StrCat("host ", policy.name, " may no longer use the signer's account \"",
                                signer_account,
                                "\" that its EAB credential belongs to; ask the "
                                "signer's operator for a credential of an account it may use (",
                                absl::StrJoin(policy.accounts, ", "), ")"));
  }

  // OK when `account` may be used: valid (not deactivated, not revoked with its host), its
  // host still allowed the front door by the running configuration, and still allowed the
  // signer account of its credential.
  absl::Status CheckUsable(const FrontDoorAccount& account) {
    if (account.status != "valid") {
      return Problem(pt::kUnauthorized,
                     absl::StrCat("account ", AccountUrl(account.id), " is ", account.status));
    }
    std::shared_ptr<const SignerConfig> config = deps.config->Get();
    ASSIGN_OR_RETURN(const AgentPolicy* policy, FrontDoorPolicy(*config, account.host));
    return CheckAccountAllowed(*policy, account.signer_account);
  }

  // The signer account `name` upstream. serverInternal when this signer does not serve it (an
  // order or credential of an account since removed from the configuration).
  absl::StatusOr<UpstreamAccount> Upstream(absl::string_view name) {
    auto it = deps.accounts.find(name);
    if (it == deps.accounts.end()) {
      return Problem(pt::kServerInternal,
                     absl::StrCat("the signer's account \"", name,
                                  "\" is not configured on this signer any more; ask the "
                                  "signer's operator"));
    }
    if (it->second.deactivated) {
      return Problem(pt::kUnauthorized,
                     absl::StrCat("the signer's account \"", name,
                                  "\" was deactivated at its CA; ask the signer's operator for "
                                  "a credential of another account"));
    }
    return it->second;
  }

  // --- request authentication -------------------------------------------------------------

  struct Authenticated {
    acme::VerifiedJws jws;
    std::optional<FrontDoorAccount> account;  // set for kid-form requests
  };

  absl::StatusOr<Authenticated> Authenticate(const ServerRequest& request, absl::string_view path,
                                             acme::JwsKeyForm key_form, AuditRecord& record) {
    if (request.body_too_large) {
      return Problem(pt::kMalformed, "request body too large", 413);
    }
    RETURN_IF_ERROR(acme::CheckJoseContentType(request.Header("content-type")));
    acme::JwsRequestRules rules;
    rules.expected_url = Url(path);
    rules.key_form = key_form;
    std::optional<FrontDoorAccount> account;
    // Refusals are attributed to an account (host and thumbprint in the audit record, its
    // refusal budget) only when the whole request verified (signature and nonce: a replayed
    // request may come from anyone holding a copy), or when the account itself is the reason
    // (revoked, deactivated, host no longer allowed): an unverified kid names nobody.
    bool account_refused = false;
    acme::AccountKeyLookup lookup = [&](absl::string_view kid) -> absl::StatusOr<std::string> {
      ASSIGN_OR_RETURN(FrontDoorAccount found, AccountForKid(kid));
      account = found;
      if (absl::Status usable = CheckUsable(found); !usable.ok()) {
        account_refused = true;
        return usable;
      }
      return found.jwk;
    };
    acme::NonceConsumer consume = [&](absl::string_view nonce) {
      return deps.nonces->Consume(nonce);
    };
    absl::StatusOr<acme::VerifiedJws> verified =
        acme::VerifyJwsRequest(request.body, rules, lookup, consume);
    if (account.has_value() && (verified.ok() || account_refused)) {
      record.agent = account->host;
      record.account = account->signer_account;
      record.account_thumbprint = account->thumbprint;
    }
    if (!verified.ok()) return verified.status();
    record.account_thumbprint = verified->thumbprint;
    return Authenticated{*std::move(verified), std::move(account)};
  }

  // --- objects ----------------------------------------------------------------------------

  absl::StatusOr<std::optional<Json>> LoadObject(absl::string_view kind, absl::string_view id,
                                                 std::string* owner) {
    ASSIGN_OR_RETURN(std::optional<FrontDoorObject> object,
                     deps.store->GetFrontDoorObject(kind, id));
    if (!object.has_value()) return std::nullopt;
    if (owner != nullptr) *owner = object->account;
    Json body = Json::parse(object->body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) {
      return absl::InternalError(absl::StrCat("stored front-door ", kind, " ", id, " is corrupt"));
    }
    return body;
  }

  absl::Status StoreObject(absl::string_view kind, absl::string_view id,
                           absl::string_view account, const Json& body) {
    FrontDoorObject object;
    object.kind = std::string(kind);
    object.id = std::string(id);
    object.account = std::string(account);
    object.body = body.dump();
    return deps.store->PutFrontDoorObject(object);
  }

  // The object `id` of `kind` owned by `account`; another account's object is answered exactly
  // like a missing one (404), so ids of other hosts cannot be probed.
  absl::StatusOr<Json> OwnedObject(absl::string_view kind, absl::string_view id,
                                   const FrontDoorAccount& account) {
    std::string owner;
    ASSIGN_OR_RETURN(std::optional<Json> body, LoadObject(kind, id, &owner));
    if (!body.has_value() || owner != account.id) {
      return Problem(pt::kMalformed, absl::StrCat("no such ", kind, " for this account"), 404);
    }
    return *std::move(body);
  }

  // Brings a pending order's status up to date from its authorizations and its expiry.
  absl::Status RefreshOrder(absl::string_view id, Json& order, absl::string_view account)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(objects_mu) {
    const std::string status = order.value("status", "");
    if (status != "pending" && status != "ready") return absl::OkStatus();
    std::string next = "ready";
    for (const Json& authz_id : order["authorizations"]) {
      ASSIGN_OR_RETURN(std::optional<Json> authz,
                       LoadObject(kKindAuthz, authz_id.get<std::string>(), nullptr));
      const std::string authz_status = authz.has_value() ? authz->value("status", "") : "";
      if (authz_status == "valid") continue;
      if (authz_status == "pending") {
        next = "pending";
        continue;
      }
      next = "invalid";
      order["error"] = ProblemJson(pt::kUnauthorized,
                                   absl::StrCat("an authorization of this order is ",
                                                authz_status.empty() ? "missing" : authz_status),
                                   403);
      break;
    }
    if (next != "invalid" && ParseRfc3339OrPast(order.value("expires", "")) < Now()) {
      next = "invalid";
      order["error"] = ProblemJson(pt::kMalformed, "the order expired", 400);
    }
    if (next == status) return absl::OkStatus();
    order["status"] = next;
    return StoreObject(kKindOrder, id, account, order);
  }

  Json OrderForClient(absl::string_view id, const Json& order) {
    Json out = Json::object();
    out["status"] = order["status"];
    out["expires"] = order["expires"];
    out["identifiers"] = order["identifiers"];
    Json authorizations = Json::array();
    for (const Json& authz_id : order["authorizations"]) {
      authorizations.push_back(AuthzUrl(authz_id.get<std::string>()));
    }
    out["authorizations"] = std::move(authorizations);
    out["finalize"] = Url(absl::StrCat("/order/", id, "/finalize"));
    for (const char* optional : {"notBefore", "notAfter", "error", "replaces"}) {
      if (order.contains(optional)) out[optional] = order[optional];
    }
    if (order.contains("certificate")) {
      out["certificate"] = CertUrl(order["certificate"].get<std::string>());
    }
    return out;
  }

  Json AuthzForClient(absl::string_view id, const Json& authz) {
    Json out = Json::object();
    out["identifier"] = authz["identifier"];
    out["status"] = authz["status"];
    out["expires"] = authz["expires"];
    if (authz.value("wildcard", false)) out["wildcard"] = true;
    Json challenges = Json::array();
    size_t index = 0;
    for (const Json& challenge : authz["challenges"]) {
      challenges.push_back(ChallengeForClient(id, index++, challenge));
    }
    out["challenges"] = std::move(challenges);
    return out;
  }

  Json ChallengeForClient(absl::string_view authz_id, size_t index, const Json& challenge) {
    Json out = Json::object();
    out["type"] = challenge["type"];
    out["url"] = ChallengeUrl(authz_id, index);
    out["status"] = challenge["status"];
    out["token"] = challenge["token"];
    if (challenge.contains("validated")) out["validated"] = challenge["validated"];
    if (challenge.contains("error")) out["error"] = challenge["error"];
    return out;
  }

  Json AccountForClient(const FrontDoorAccount& account) {
    Json out = Json::object();
    out["status"] = account.status;
    out["contact"] = account.contact;
    return out;
  }

  // --- endpoints --------------------------------------------------------------------------

  ServerResponse Directory() {
    Json directory = {
        {"newNonce", Url("/new-nonce")},
        {"newAccount", Url("/new-account")},
        {"newOrder", Url("/new-order")},
        {"revokeCert", Url("/revoke-cert")},
        {"keyChange", Url("/key-change")},
        {"renewalInfo", Url("/renewal-info")},
        {"meta", {{"externalAccountRequired", true}}},
    };
    ServerResponse response = JsonResponse(200, directory);
    response.headers.emplace_back("Cache-Control", "public, max-age=0, no-cache");
    return response;
  }

  ServerResponse NewNonce(const ServerRequest& request) {
    ServerResponse response;
    response.status = request.method == "HEAD" ? 200 : 204;
    AddCommonHeaders(response, /*with_nonce=*/true);
    return response;
  }

  absl::StatusOr<ServerResponse> NewAccount(const ServerRequest& request, AuditRecord& record) {
    ASSIGN_OR_RETURN(Authenticated auth,
                     Authenticate(request, "/new-account", acme::JwsKeyForm::kJwk, record));
    ASSIGN_OR_RETURN(Json payload, acme::ParseJwsPayloadObject(auth.jws.payload));
    ASSIGN_OR_RETURN(std::optional<FrontDoorAccount> existing,
                     deps.store->FindFrontDoorAccountByThumbprint(auth.jws.thumbprint));
    if (existing.has_value()) {
      record.agent = existing->host;
      record.account = existing->signer_account;
      if (existing->status != "valid") {
        return Problem(pt::kUnauthorized, absl::StrCat("the account of this key is ",
                                                       existing->status));
      }
      record.reason = "existing account returned";
      record.request.url = AccountUrl(existing->id);
      RETURN_IF_ERROR(AuditAllowed(record));
      ServerResponse response = JsonResponse(200, AccountForClient(*existing));
      response.headers.emplace_back("Location", AccountUrl(existing->id));
      return response;
    }
    if (payload.contains("onlyReturnExisting")) {
      if (!payload["onlyReturnExisting"].is_boolean()) {
        return Problem(pt::kMalformed, "onlyReturnExisting is not a boolean");
      }
      if (payload["onlyReturnExisting"].get<bool>()) {
        return Problem(pt::kAccountDoesNotExist, "no account exists with the provided key");
      }
    }
    std::vector<std::string> contact;
    if (payload.contains("contact")) {
      ASSIGN_OR_RETURN(contact, Contacts(payload["contact"]));
    }
    std::shared_ptr<const SignerConfig> config = deps.config->Get();
    std::string eab_host;
    std::string eab_account;
    acme::EabKeyLookup eab_lookup = [&](absl::string_view eab_kid) -> absl::StatusOr<Secret> {
      ASSIGN_OR_RETURN(std::optional<FrontDoorCredential> credential,
                       deps.store->FindFrontDoorCredential(eab_kid));
      if (!credential.has_value()) return absl::NotFoundError("unknown EAB key id");
      eab_host = credential->host;
      eab_account = credential->account;
      if (credential->disabled) {
        return Problem(pt::kUnauthorized, "this EAB credential has been disabled");
      }
      if (credential->account_thumbprint.has_value()) {
        return Problem(pt::kUnauthorized,
                       "this EAB key id is already bound to an account; a key id registers one "
                       "account, once (ask the signer's operator for another credential)");
      }
      ASSIGN_OR_RETURN(const AgentPolicy* policy, FrontDoorPolicy(*config, credential->host));
      RETURN_IF_ERROR(CheckAccountAllowed(*policy, credential->account));
      return DeriveEabHmacKey(*deps.eab_master, eab_kid);
    };
    absl::StatusOr<acme::VerifiedEab> eab =
        acme::VerifyExternalAccountBinding(payload, auth.jws, eab_lookup);
    if (!eab_host.empty()) {
      record.agent = eab_host;
      record.account = eab_account;
    }
    if (!eab.ok()) return eab.status();

    FrontDoorAccount account;
    ASSIGN_OR_RETURN(account.id, RandomBase64Url(kObjectIdBytes, "an account id"));
    account.host = eab_host;
    account.eab_kid = eab->eab_kid;
    account.signer_account = eab_account;
    account.jwk = auth.jws.jwk;
    account.thumbprint = auth.jws.thumbprint;
    account.contact = std::move(contact);
    account.created = Now();
    absl::Status created = deps.store->CreateFrontDoorAccount(account);
    if (absl::IsFailedPrecondition(created) || absl::IsNotFound(created)) {
      // Bound or disabled between the check and the binding (a concurrent newAccount).
      return Problem(pt::kUnauthorized, "this EAB key id cannot register an account any more");
    }
    if (absl::IsAlreadyExists(created)) {
      return Problem(pt::kMalformed, "an account with this key was created concurrently; retry");
    }
    RETURN_IF_ERROR(created);
    record.reason = absl::StrCat("account created with EAB key id ", account.eab_kid);
    record.request.url = AccountUrl(account.id);
    RETURN_IF_ERROR(AuditAllowed(record));
    ServerResponse response = JsonResponse(201, AccountForClient(account));
    response.headers.emplace_back("Location", AccountUrl(account.id));
    return response;
  }

  static absl::StatusOr<std::vector<std::string>> Contacts(const Json& value) {
    if (!value.is_array()) return Problem(pt::kMalformed, "contact is not an array");
    if (value.size() > kMaxContacts) {
      return Problem(pt::kInvalidContact, absl::StrCat("more than ", kMaxContacts, " contacts"));
    }
    std::vector<std::string> out;
    for (const Json& item : value) {
      if (!item.is_string()) return Problem(pt::kMalformed, "a contact is not a string");
      const std::string text = item.get<std::string>();
      if (!absl::StartsWith(text, "mailto:")) {
        return Problem(pt::kUnsupportedContact, "only mailto: contacts are supported");
      }
      if (text.size() > 320 || text.size() < 10 || !absl::StrContains(text, '@') ||
          absl::StrContains(text, ',') ||
          std::any_of(text.begin(), text.end(),
                      [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; })) {
        return Problem(pt::kInvalidContact, "a contact is not one mailto: address");
      }
      out.push_back(text);
    }
    return out;
  }

  absl::StatusOr<ServerResponse> AccountEndpoint(const ServerRequest& request,
                                                 absl::string_view path, absl::string_view id,
                                                 AuditRecord& record) {
    ASSIGN_OR_RETURN(Authenticated auth,
                     Authenticate(request, path, acme::JwsKeyForm::kKid, record));
    FrontDoorAccount account = *auth.account;
    if (account.id != id) {
      return Problem(pt::kUnauthorized, "the request's kid is not this account", 403);
    }
    record.request.url = AccountUrl(id);
    if (!auth.jws.is_post_as_get()) {
      ASSIGN_OR_RETURN(Json payload, acme::ParseJwsPayloadObject(auth.jws.payload));
      if (payload.contains("contact")) {
        ASSIGN_OR_RETURN(account.contact, Contacts(payload["contact"]));
        record.reason = "contact updated";
      }
      if (payload.contains("status")) {
        if (payload["status"] != "deactivated") {
          return Problem(pt::kMalformed, "an account's status can only be set to deactivated");
        }
        account.status = "deactivated";
        record.reason = "account deactivated";
      }
      RETURN_IF_ERROR(deps.store->UpdateFrontDoorAccount(account));
    }
    if (record.reason.empty()) record.reason = "account read";
    RETURN_IF_ERROR(AuditAllowed(record));
    ServerResponse response = JsonResponse(200, AccountForClient(account));
    response.headers.emplace_back("Location", AccountUrl(id));
    return response;
  }

  absl::StatusOr<ServerResponse> KeyChange(const ServerRequest& request, AuditRecord& record) {
    ASSIGN_OR_RETURN(Authenticated auth,
                     Authenticate(request, "/key-change", acme::JwsKeyForm::kKid, record));
    ASSIGN_OR_RETURN(acme::VerifiedKeyChange change, acme::VerifyKeyChange(auth.jws));
    ASSIGN_OR_RETURN(std::optional<FrontDoorAccount> holder,
                     deps.store->FindFrontDoorAccountByThumbprint(change.thumbprint));
    if (holder.has_value()) {
      return KeyInUse(holder->id);
    }
    FrontDoorAccount account = *auth.account;
    account.jwk = change.new_jwk;
    account.thumbprint = change.thumbprint;
    absl::Status updated = deps.store->UpdateFrontDoorAccount(account);
    if (absl::IsAlreadyExists(updated)) {
      // Another account took the key between the check above and the update.
      absl::StatusOr<std::optional<FrontDoorAccount>> winner =
          deps.store->FindFrontDoorAccountByThumbprint(change.thumbprint);
      return KeyInUse(winner.ok() && winner->has_value() ? (*winner)->id : "");
    }
    RETURN_IF_ERROR(updated);
    record.reason = absl::StrCat("account key changed to thumbprint ", change.thumbprint);
    record.request.url = AccountUrl(account.id);
    RETURN_IF_ERROR(AuditAllowed(record));
    ServerResponse response = JsonResponse(200, AccountForClient(account));
    response.headers.emplace_back("Location", AccountUrl(account.id));
    return response;
  }
  // keyChange to a key account `holder` already has: 409 with that account's Location
  // (RFC 8555 §7.3.5).
  absl::Status KeyInUse(absl::string_view holder) {
    acme::ServerProblem problem = acme::MakeServerProblem(
        pt::kMalformed, "the new key is already the key of another account");
    problem.http_status = 409;
    if (!holder.empty()) problem.location = AccountUrl(holder);
    return problem.ToStatus();
  }

  // newOrder's identifiers: dns only, in lower case.
  static absl::StatusOr<std::vector<Identifier>> RequestedIdentifiers(const Json& payload) {
    if (!payload.contains("identifiers") || !payload["identifiers"].is_array() ||
        payload["identifiers"].empty()) {
      return Problem(pt::kMalformed, "identifiers must be a non-empty array");
    }
    if (payload["identifiers"].size() > kMaxIdentifiersInRequest) {
      return Problem(pt::kRejectedIdentifier, "too many identifiers");
    }
    std::vector<Identifier> identifiers;
    for (const Json& item : payload["identifiers"]) {
      if (!item.is_object() || !item.contains("type") || !item["type"].is_string() ||
          !item.contains("value") || !item["value"].is_string()) {
        return Problem(pt::kMalformed, "an identifier is not {\"type\": ..., \"value\": ...}");
      }
      Identifier identifier{item["type"].get<std::string>(), item["value"].get<std::string>()};
      if (identifier.type != "dns") {
        return Problem(pt::kUnsupportedIdentifier,
                       absl::StrCat("identifier type \"", EscapeForError(identifier.type),
                                    "\" is not supported (dns only)"));
      }
      identifier.value = absl::AsciiStrToLower(identifier.value);
      identifiers.push_back(std::move(identifier));
    }
    return identifiers;
  }

  // The order the CA is asked for: the identifiers, and newOrder's notBefore, notAfter and
  // replaces (ARI) as the client sent them.
  static absl::StatusOr<UpstreamOrderRequest> UpstreamRequest(
      const Json& payload, const std::vector<Identifier>& identifiers) {
    UpstreamOrderRequest upstream_request;
    upstream_request.identifiers = identifiers;
    for (const char* field : {"notBefore", "notAfter"}) {
      if (!payload.contains(field)) continue;
      absl::Time t;
      std::string error;
      if (!payload[field].is_string() ||
          !absl::ParseTime(absl::RFC3339_full, payload[field].get<std::string>(), &t, &error)) {
        return Problem(pt::kMalformed, absl::StrCat(field, " is not an RFC 3339 time"));
      }
      (std::string(field) == "notBefore" ? upstream_request.not_before
                                         : upstream_request.not_after) = t;
    }
    if (payload.contains("replaces")) {
      if (!payload["replaces"].is_string()) {
        return Problem(pt::kMalformed, "replaces is not a string");
      }
      upstream_request.replaces = payload["replaces"].get<std::string>();
    }
    return upstream_request;
  }

  // Whether the signer takes a new order of `host` now: room in the audit log's file system,
  // and the host's orders per hour.
  absl::Status CheckOrderCapacity(const SignerConfig& config, const AgentPolicy& policy,
                                  const std::string& host) {
    if (deps.audit_space != nullptr) {
      if (absl::Status space = deps.audit_space->Check(
              config.audit.log, static_cast<uint64_t>(config.audit.min_free_bytes));
          !space.ok()) {
        return Problem(pt::kRateLimited,
                       "the signer is not taking new orders now (audit log disk nearly full)", 503);
      }
    }
    if (absl::Status rate = deps.rate_limiter->TryAcquire(host, policy.orders_per_hour, Now());
        !rate.ok()) {
      return Problem(pt::kRateLimited, rate.message());
    }
    return absl::OkStatus();
  }

  // Stores a new pending authorization of `identifier` for order `order_id` (http-01 and
  // dns-01; dns-01 only for a wildcard) and returns its id.
  absl::StatusOr<std::string> StoreNewAuthorization(const Identifier& identifier,
                                                    const std::string& order_id,
                                                    const FrontDoorAccount& account,
                                                    absl::Time now) {
    ASSIGN_OR_RETURN(std::string authz_id, RandomBase64Url(kObjectIdBytes, "an authz id"));
    Json authz = Json::object();
    const bool wildcard = absl::StartsWith(identifier.value, "*.");
    authz["order"] = order_id;
    authz["identifier"] =
        IdentifierJson(Identifier{"dns", wildcard ? identifier.value.substr(2) : identifier.value});
    authz["status"] = "pending";
    authz["expires"] = Rfc3339(now + kOrderLifetime);
    if (wildcard) authz["wildcard"] = true;
    authz["challenges"] = Json::array();
    for (absl::string_view type : {acme::kHttp01, acme::kDns01}) {
      if (wildcard && type == acme::kHttp01) continue;
      ASSIGN_OR_RETURN(std::string token, RandomBase64Url(kTokenBytes, "a challenge token"));
      authz["challenges"].push_back(
          Json{{"type", std::string(type)}, {"token", token}, {"status", "pending"}});
    }
    RETURN_IF_ERROR(StoreObject(kKindAuthz, authz_id, account.id, authz));
    return authz_id;
  }

  absl::StatusOr<ServerResponse> NewOrder(const ServerRequest& request, AuditRecord& record) {
    ASSIGN_OR_RETURN(Authenticated auth,
                     Authenticate(request, "/new-order", acme::JwsKeyForm::kKid, record));
    const FrontDoorAccount& account = *auth.account;
    ASSIGN_OR_RETURN(Json payload, acme::ParseJwsPayloadObject(auth.jws.payload));
    ASSIGN_OR_RETURN(std::vector<Identifier> identifiers, RequestedIdentifiers(payload));
    record.request.identifiers = identifiers;
    std::shared_ptr<const SignerConfig> config = deps.config->Get();
    ASSIGN_OR_RETURN(const AgentPolicy* policy, FrontDoorPolicy(*config, account.host));
    if (absl::Status names = CheckIdentifiers(*policy, identifiers); !names.ok()) {
      return Problem(absl::IsInvalidArgument(names) ? pt::kMalformed : pt::kRejectedIdentifier,
                     names.message());
    }
    ASSIGN_OR_RETURN(UpstreamOrderRequest upstream_request, UpstreamRequest(payload, identifiers));
    RETURN_IF_ERROR(CheckOrderCapacity(*config, *policy, account.host));

    ASSIGN_OR_RETURN(UpstreamAccount upstream, Upstream(account.signer_account));
    absl::StatusOr<std::string> upstream_url = upstream.upstream->CreateOrder(upstream_request);
    if (!upstream_url.ok()) {
      return UpstreamFailure(upstream_url.status(), "the CA did not accept the order");
    }

    const absl::Time now = Now();
    ASSIGN_OR_RETURN(std::string order_id, RandomBase64Url(kObjectIdBytes, "an order id"));
    Json order = Json::object();
    order["status"] = "pending";
    order["expires"] = Rfc3339(now + kOrderLifetime);
    order["identifiers"] = Json::array();
    for (const Identifier& identifier : identifiers) {
      order["identifiers"].push_back(IdentifierJson(identifier));
    }
    for (const char* field : {"notBefore", "notAfter", "replaces"}) {
      if (payload.contains(field)) order[field] = payload[field];
    }
    order["host"] = account.host;
    order["account"] = account.signer_account;
    order["upstream"] = *upstream_url;
    order["authorizations"] = Json::array();
    for (const Identifier& identifier : identifiers) {
      ASSIGN_OR_RETURN(std::string authz_id,
                       StoreNewAuthorization(identifier, order_id, account, now));
      order["authorizations"].push_back(authz_id);
    }
    RETURN_IF_ERROR(StoreObject(kKindOrder, order_id, account.id, order));
    record.request.order_url = OrderUrl(order_id);
    record.reason = "order created";
    record.outcome.acme_status = "pending";
    RETURN_IF_ERROR(AuditAllowed(record));
    ServerResponse response = JsonResponse(201, OrderForClient(order_id, order));
    response.headers.emplace_back("Location", OrderUrl(order_id));
    return response;
  }

  absl::StatusOr<ServerResponse> GetOrder(const ServerRequest& request, absl::string_view path,
                                          absl::string_view id, AuditRecord& record) {
    ASSIGN_OR_RETURN(Authenticated auth,
                     Authenticate(request, path, acme::JwsKeyForm::kKid, record));
    record.request.order_url = OrderUrl(id);
    Json order;
    {
      absl::MutexLock lock(&objects_mu);
      ASSIGN_OR_RETURN(order, OwnedObject(kKindOrder, id, *auth.account));
      RETURN_IF_ERROR(RefreshOrder(id, order, auth.account->id));
    }
    record.request.identifiers = IdentifiersFromJson(order["identifiers"]);
    record.reason = "order read";
    record.outcome.acme_status = order.value("status", "");
    RETURN_IF_ERROR(AuditAllowed(record));
    ServerResponse response = JsonResponse(200, OrderForClient(id, order));
    response.headers.emplace_back("Location", OrderUrl(id));
    const std::string status = order.value("status", "");
    if (status == "pending" || status == "processing") {
      response.headers.emplace_back("Retry-After", absl::StrCat(kRetryAfterSeconds));
    }
    return response;
  }

  absl::StatusOr<ServerResponse> Authorization(const ServerRequest& request,
                                               absl::string_view path, absl::string_view id,
                                               AuditRecord& record) {
    ASSIGN_OR_RETURN(Authenticated auth,
                     Authenticate(request, path, acme::JwsKeyForm::kKid, record));
    record.request.url = AuthzUrl(id);
    Json authz;
    {
      absl::MutexLock lock(&objects_mu);
      ASSIGN_OR_RETURN(authz, OwnedObject(kKindAuthz, id, *auth.account));
      if (!auth.jws.is_post_as_get()) {
        ASSIGN_OR_RETURN(Json payload, acme::ParseJwsPayloadObject(auth.jws.payload));
        if (!payload.contains("status") || payload["status"] != "deactivated") {
          return Problem(pt::kMalformed,
                         "an authorization can only be updated to status deactivated");
        }
        const std::string status = authz.value("status", "");
        if (status != "pending" && status != "valid") {
          return Problem(pt::kMalformed,
                         absl::StrCat("an authorization that is ", status,
                                      " cannot be deactivated"));
        }
        authz["status"] = "deactivated";
        RETURN_IF_ERROR(StoreObject(kKindAuthz, id, auth.account->id, authz));
        record.reason = "authorization deactivated";
      }
    }
    record.request.identifiers = {IdentifiersFromJson(Json::array({authz["identifier"]}))};
    if (record.reason.empty()) record.reason = "authorization read";
    record.outcome.acme_status = authz.value("status", "");
    RETURN_IF_ERROR(AuditAllowed(record));
    ServerResponse response = JsonResponse(200, AuthzForClient(id, authz));
    if (authz.value("status", "") == "pending") {
      response.headers.emplace_back("Retry-After", absl::StrCat(kRetryAfterSeconds));
    }
    return response;
  }

  absl::StatusOr<ServerResponse> Challenge(const ServerRequest& request, absl::string_view path,
                                           absl::string_view authz_id, size_t index,
                                           AuditRecord& record) {
    ASSIGN_OR_RETURN(Authenticated auth,
                     Authenticate(request, path, acme::JwsKeyForm::kKid, record));
    const FrontDoorAccount& account = *auth.account;
    record.request.url = ChallengeUrl(authz_id, index);
    Json authz;
    Json challenge;
    bool validate = false;
    {
      absl::MutexLock lock(&objects_mu);
      ASSIGN_OR_RETURN(authz, OwnedObject(kKindAuthz, authz_id, account));
      if (index >= authz["challenges"].size()) {
        return Problem(pt::kMalformed, "no such challenge for this account", 404);
      }
      challenge = authz["challenges"][index];
      if (!auth.jws.is_post_as_get()) {
        ASSIGN_OR_RETURN(Json payload, acme::ParseJwsPayloadObject(auth.jws.payload));
        (void)payload;  // RFC 8555 §7.5.1: the response is an empty object; members ignored
        if (challenge.value("status", "") == "pending" && authz.value("status", "") == "pending") {
          challenge["status"] = "processing";
          authz["challenges"][index] = challenge;
          RETURN_IF_ERROR(StoreObject(kKindAuthz, authz_id, account.id, authz));
          validate = true;
        }
      }
    }
    const Identifier identifier{"dns", authz["identifier"].value("value", "")};
    const bool wildcard = authz.value("wildcard", false);
    record.request.identifiers = {
        Identifier{"dns", wildcard ? absl::StrCat("*.", identifier.value) : identifier.value}};
    if (validate) {
      // Validation takes up to the validators' timeouts: it runs on a worker, and the client
      // polls the authorization (or the challenge) meanwhile, as with any CA.
      record.reason = absl::StrCat(challenge.value("type", ""), " validation started");
      RETURN_IF_ERROR(AuditAllowed(record));
      const std::string authz_key(authz_id);
      AuditRecord result_record = record;
      result_record.rpc = "FrontDoor/validation";
      const bool queued = validations->Enqueue(WorkQueue::Job{
          [this, authz_key, index, account, identifier, result_record] {
            ValidateChallenge(authz_key, index, account, identifier.value, result_record);
          },
          [this, authz_key, index, account] {
            absl::MutexLock lock(&objects_mu);
            absl::StatusOr<Json> stored = OwnedObject(kKindAuthz, authz_key, account);
            if (!stored.ok()) return;
            (*stored)["challenges"][index]["status"] = "pending";
            (void)StoreObject(kKindAuthz, authz_key, account.id, *stored);
          }});
      if (!queued) {
        return Problem(pt::kServerInternal, "the signer is shutting down; try again later");
      }
      ServerResponse response = JsonResponse(200, ChallengeForClient(authz_id, index, challenge));
      response.headers.emplace_back("Link",
                                    absl::StrCat("<", AuthzUrl(authz_id), ">;rel=\"up\""));
      response.headers.emplace_back("Retry-After", absl::StrCat(kRetryAfterSeconds));
      return response;
    }
    if (record.reason.empty()) record.reason = "challenge read";
    record.outcome.acme_status = challenge.value("status", "");
    RETURN_IF_ERROR(AuditAllowed(record));
    ServerResponse response = JsonResponse(200, ChallengeForClient(authz_id, index, challenge));
    response.headers.emplace_back("Link",
                                  absl::StrCat("<", AuthzUrl(authz_id), ">;rel=\"up\""));
    return response;
  }

  // Runs the validation of challenge `index` of authorization `authz_id` (on a worker) and
  // records its outcome in the authorization and the audit log.
  void ValidateChallenge(const std::string& authz_id, size_t index,
                         const FrontDoorAccount& account, const std::string& name,
                         AuditRecord record) {
    Json challenge;
    {
      absl::MutexLock lock(&objects_mu);
      absl::StatusOr<Json> authz = OwnedObject(kKindAuthz, authz_id, account);
      if (!authz.ok()) return;
      challenge = (*authz)["challenges"][index];
    }
    const std::string type = challenge.value("type", "");
    const std::string token = challenge.value("token", "");
    absl::StatusOr<ValidationResult> result;
    absl::StatusOr<std::string> key_authorization =
        acme::KeyAuthorization(token, account.thumbprint);
    if (!key_authorization.ok()) {
      result = key_authorization.status();
    } else if (type == acme::kHttp01) {
      result = deps.http01->Validate(name, token, *key_authorization);
    } else {
      result = deps.dns01->Validate(name, *key_authorization);
    }
    absl::MutexLock lock(&objects_mu);
    absl::StatusOr<Json> authz = OwnedObject(kKindAuthz, authz_id, account);
    if (!authz.ok()) return;
    challenge = (*authz)["challenges"][index];
    if (result.ok() && result->ok()) {
      challenge["status"] = "valid";
      challenge["validated"] = Rfc3339(Now());
      if (authz->value("status", "") == "pending") (*authz)["status"] = "valid";
      record.reason = absl::StrCat(type, " validation succeeded: ", result->detail);
      record.outcome.acme_status = "valid";
    } else {
      const std::string problem_type =
          result.ok() ? result->problem_type : std::string(pt::kMalformed);
      const std::string detail =
          result.ok() ? result->detail : std::string(result.status().message());
      challenge["status"] = "invalid";
      challenge["error"] = ProblemJson(problem_type, detail, 400);
      if (authz->value("status", "") == "pending") (*authz)["status"] = "invalid";
      record.reason = absl::StrCat(type, " validation failed: ", problem_type, ": ", detail);
      record.outcome.acme_status = "invalid";
      record.outcome.error = detail;
    }
    (*authz)["challenges"][index] = challenge;
    if (absl::Status stored = StoreObject(kKindAuthz, authz_id, account.id, *authz);
        !stored.ok()) {
      std::cerr << "acme-signer: front door: cannot store a validation result: "
                << stored.message() << std::endl;
    }
    (void)AuditAllowed(record);
  }

  absl::StatusOr<ServerResponse> Finalize(const ServerRequest& request, absl::string_view path,
                                          absl::string_view id, AuditRecord& record) {
    ASSIGN_OR_RETURN(Authenticated auth,
                     Authenticate(request, path, acme::JwsKeyForm::kKid, record));
    const FrontDoorAccount account = *auth.account;
    record.request.order_url = OrderUrl(id);
    record.request.finalize_url = Url(path);
    ASSIGN_OR_RETURN(Json payload, acme::ParseJwsPayloadObject(auth.jws.payload));
    if (!payload.contains("csr") || !payload["csr"].is_string()) {
      return Problem(pt::kMalformed, "the finalize payload has no csr string");
    }
    absl::StatusOr<std::string> csr_der =
        DecodeBase64Url(payload["csr"].get<std::string>(), "csr");
    if (!csr_der.ok()) return Problem(pt::kBadCsr, "csr is not base64url");
    record.request.csr_sha256 = Sha256Hex(*csr_der);
    std::shared_ptr<const SignerConfig> config = deps.config->Get();
    ASSIGN_OR_RETURN(const AgentPolicy* policy, FrontDoorPolicy(*config, account.host));
    ASSIGN_OR_RETURN(acme::PublicAccountKey account_key,
                     acme::ParsePublicAccountKey(auth.jws.alg, account.jwk));

    Json order;
    {
      absl::MutexLock lock(&objects_mu);
      ASSIGN_OR_RETURN(order, OwnedObject(kKindOrder, id, account));
      RETURN_IF_ERROR(RefreshOrder(id, order, account.id));
      const std::string status = order.value("status", "");
      record.request.identifiers = IdentifiersFromJson(order["identifiers"]);
      // The account the order was created with (orders from before accounts: the credential's).
      record.account = order.value("account", account.signer_account);
      if (status != "ready") {
        return Problem(pt::kOrderNotReady,
                       absl::StrCat("the order is ", status, ", not ready: ",
                                    status == "pending" ? "validate its authorizations first"
                                                        : "it cannot be finalized"));
      }
      absl::StatusOr<CsrSummary> csr = CheckCsr(*csr_der, record.request.identifiers, *policy,
                                                account_key.spki_der);
      if (!csr.ok()) return Problem(pt::kBadCsr, csr.status().message());
      // Durable before the CSR leaves for the CA: an audit log that cannot be written stops
      // issuance.
      record.reason = "finalize allowed; sent to the CA";
      record.outcome.acme_status = "processing";
      RETURN_IF_ERROR(AuditAllowed(record));
      order["status"] = "processing";
      // Kept (a CSR is public) so that a restart can resume the order (ResumeProcessingOrders).
      order["csr"] = payload["csr"];
      RETURN_IF_ERROR(StoreObject(kKindOrder, id, account.id, order));
    }
    const std::string order_id(id);
    absl::StatusOr<UpstreamAccount> upstream = Upstream(record.account);
    absl::Status started = upstream.status();
    if (upstream.ok()) {
      started = upstream->upstream->Finalize(
          order.value("upstream", ""), *csr_der,
          [this, order_id, account, record](absl::StatusOr<UpstreamCertificate> result) {
            FinishOrder(order_id, account, record, std::move(result));
          });
    }
    if (!started.ok()) {
      const absl::Status problem =
          upstream.ok()
              ? Problem(pt::kServerInternal, "the signer is shutting down; try again later")
              : upstream.status();
      absl::MutexLock lock(&objects_mu);
      order["status"] = "invalid";
      order["error"] = Json::parse(acme::ProblemForStatus(problem).ToJson(), nullptr, false);
      (void)StoreObject(kKindOrder, id, account.id, order);
      return problem;
    }
    ServerResponse response = JsonResponse(200, OrderForClient(id, order));
    response.headers.emplace_back("Location", OrderUrl(id));
    response.headers.emplace_back("Retry-After", absl::StrCat(kRetryAfterSeconds));
    return response;
  }

  // Orders left `processing` by an earlier run (stopped or killed between finalize and the
  // certificate): finalize them upstream again (the upstream issuer picks up an order in any
  // state: ready → finalize, processing → poll, valid → download), so the host's client, still
  // polling, gets its certificate. Returns how many were resumed.
  absl::StatusOr<int> ResumeProcessingOrders() {
    ASSIGN_OR_RETURN(std::vector<FrontDoorObject> orders,
                     deps.store->ListFrontDoorObjectsWithStatus(kKindOrder, "processing"));
    int resumed = 0;
    for (const FrontDoorObject& object : orders) {
      Json order = Json::parse(object.body, nullptr, /*allow_exceptions=*/false);
      ASSIGN_OR_RETURN(std::optional<FrontDoorAccount> account,
                       deps.store->FindFrontDoorAccount(object.account));
      absl::StatusOr<std::string> csr_der =
          order.is_object() && order.contains("csr") && order["csr"].is_string()
              ? DecodeBase64Url(order["csr"].get<std::string>(), "csr")
              : absl::StatusOr<std::string>(absl::NotFoundError("no CSR kept"));
      AuditRecord record;
      record.rpc = "FrontDoor/finalize";
      record.request.order_url = OrderUrl(object.id);
      if (account.has_value()) {
        record.agent = account->host;
        record.account = account->signer_account;
        record.account_thumbprint = account->thumbprint;
      }
      if (order.is_object()) {
        record.account = order.value("account", record.account);
        if (order.contains("identifiers")) {
          record.request.identifiers = IdentifiersFromJson(order["identifiers"]);
        }
      }
      absl::StatusOr<UpstreamAccount> upstream = Upstream(record.account);
      if (!account.has_value() || !csr_der.ok() || !upstream.ok()) {
        FrontDoorAccount owner;
        owner.id = object.account;
        FinishOrder(object.id, account.value_or(owner), record,
                    absl::FailedPreconditionError(
                        "the signer restarted while the order was processing, and the order "
                        "cannot be resumed; start a new order"));
        continue;
      }
      const std::string order_id = object.id;
      const FrontDoorAccount owner = *account;
      absl::Status started = upstream->upstream->Finalize(
          order.value("upstream", ""), *csr_der,
          [this, order_id, owner, record](absl::StatusOr<UpstreamCertificate> result) {
            FinishOrder(order_id, owner, record, std::move(result));
          });
      if (started.ok()) ++resumed;
    }
    return resumed;
  }

  // The upstream issuer's answer for order `order_id`: the certificate, or why not.
  void FinishOrder(const std::string& order_id, const FrontDoorAccount& account,
                   AuditRecord record, absl::StatusOr<UpstreamCertificate> result) {
    record.rpc = "FrontDoor/issue";
    absl::Status outcome = [&]() -> absl::Status {
      if (!result.ok()) return result.status();
      if (result->chains.empty()) return absl::InternalError("the CA returned no chain");
      ASSIGN_OR_RETURN(acme::CertificateChain chain,
                       acme::ParsePemChain(result->chains[0], result->certificate_url));
      ASSIGN_OR_RETURN(SslUniquePtr<X509> leaf, ParseCertificateDer(chain.leaf_der));
      CertificateRecord inventory;
      inventory.serial = chain.serial_hex;
      inventory.agent = account.host;
      inventory.account = record.account;
      for (const Identifier& identifier : record.request.identifiers) {
        inventory.names.push_back(identifier.value);
      }
      ASSIGN_OR_RETURN(inventory.not_before, NotBefore(*leaf));
      inventory.not_after = chain.not_after;
      inventory.order_url = OrderUrl(order_id);
      inventory.certificate_sha256 = Sha256Hex(chain.leaf_der);
      RETURN_IF_ERROR(deps.store->RecordCertificate(inventory));
      ASSIGN_OR_RETURN(std::string cert_id, RandomBase64Url(kObjectIdBytes, "a certificate id"));
      Json cert = Json::object();
      cert["order"] = order_id;
      cert["host"] = account.host;
      cert["chains"] = result->chains;
      cert["serial"] = chain.serial_hex;
      cert["sha256"] = inventory.certificate_sha256;
      cert["upstream"] = result->certificate_url;
      RETURN_IF_ERROR(StoreObject(kKindCert, cert_id, account.id, cert));
      {
        absl::MutexLock lock(&objects_mu);
        ASSIGN_OR_RETURN(Json order, OwnedObject(kKindOrder, order_id, account));
        order["status"] = "valid";
        order["certificate"] = cert_id;
        RETURN_IF_ERROR(StoreObject(kKindOrder, order_id, account.id, order));
      }
      record.reason = "certificate issued";
      record.outcome.acme_status = "valid";
      record.outcome.serial = chain.serial_hex;
      record.outcome.not_after = Rfc3339(chain.not_after);
      return AuditAllowed(record);
    }();
    if (outcome.ok()) return;
    const absl::Status problem = UpstreamFailure(outcome, "the CA did not issue the certificate");
    const acme::ServerProblem document = acme::ProblemForStatus(problem);
    absl::MutexLock lock(&objects_mu);
    absl::StatusOr<Json> order = OwnedObject(kKindOrder, order_id, account);
    if (order.ok()) {
      (*order)["status"] = "invalid";
      (*order)["error"] = Json::parse(document.ToJson(), nullptr, false);
      (void)StoreObject(kKindOrder, order_id, account.id, *order);
    }
    record.reason = "the CA did not issue the certificate";
    record.outcome.acme_status = "invalid";
    record.outcome.error = absl::StrCat(document.type, ": ", document.detail);
    (void)AuditAllowed(record);
  }

  absl::StatusOr<ServerResponse> Certificate(const ServerRequest& request,
                                             absl::string_view path, absl::string_view id,
                                             size_t chain_index, AuditRecord& record) {
    ASSIGN_OR_RETURN(Authenticated auth,
                     Authenticate(request, path, acme::JwsKeyForm::kKid, record));
    record.request.url = Url(path);
    ASSIGN_OR_RETURN(Json cert, OwnedObject(kKindCert, id, *auth.account));
    const Json& chains = cert["chains"];
    if (chain_index >= chains.size()) {
      return Problem(pt::kMalformed, "no such certificate chain", 404);
    }
    record.reason = "certificate downloaded";
    record.outcome.serial = cert.value("serial", "");
    RETURN_IF_ERROR(AuditAllowed(record));
    ServerResponse response;
    response.status = 200;
    response.headers.emplace_back("Content-Type", "application/pem-certificate-chain");
    response.body = chains[chain_index].get<std::string>();
    for (size_t i = 0; i < chains.size(); ++i) {
      if (i == chain_index) continue;
      const std::string url = i == 0 ? CertUrl(id) : absl::StrCat(CertUrl(id), "/", i);
      response.headers.emplace_back("Link", absl::StrCat("<", url, ">;rel=\"alternate\""));
    }
    return response;
  }

  absl::StatusOr<ServerResponse> RevokeCert(const ServerRequest& request, AuditRecord& record) {
    ASSIGN_OR_RETURN(Authenticated auth,
                     Authenticate(request, "/revoke-cert", acme::JwsKeyForm::kJwkOrKid, record));
    ASSIGN_OR_RETURN(Json payload, acme::ParseJwsPayloadObject(auth.jws.payload));
    if (!payload.contains("certificate") || !payload["certificate"].is_string()) {
      return Problem(pt::kMalformed, "the revocation payload has no certificate string");
    }
    absl::StatusOr<std::string> der =
        DecodeBase64Url(payload["certificate"].get<std::string>(), "certificate");
    if (!der.ok()) return Problem(pt::kMalformed, "certificate is not base64url");
    absl::StatusOr<SslUniquePtr<X509>> cert = ParseCertificateDer(*der);
    if (!cert.ok()) return Problem(pt::kMalformed, "certificate is not a DER X.509 certificate");
    acme::RevocationReason reason = acme::RevocationReason::kUnspecified;
    if (payload.contains("reason")) {
      if (!payload["reason"].is_number_integer()) {
        return Problem(pt::kBadRevocationReason, "reason is not an integer");
      }
      absl::StatusOr<acme::RevocationReason> parsed =
          acme::RevocationReasonFromCode(payload["reason"].get<int64_t>());
      if (!parsed.ok()) return Problem(pt::kBadRevocationReason, parsed.status().message());
      reason = *parsed;
      record.request.revocation_reason = absl::StrCat(static_cast<int>(reason));
    }
    record.request.certificate_sha256 = Sha256Hex(*der);
    ASSIGN_OR_RETURN(std::optional<CertificateRecord> known,
                     deps.store->FindCertificateBySha256(record.request.certificate_sha256));
    // The owner: the account of the order it was issued for.
    std::string owner;
    if (known.has_value()) {
      absl::string_view order_id = known->order_url;
      if (absl::ConsumePrefix(&order_id, OrderUrl(""))) {
        ASSIGN_OR_RETURN(std::optional<Json> order, LoadObject(kKindOrder, order_id, &owner));
        (void)order;
      }
    }
    if (owner.empty()) {
      return Problem(pt::kUnauthorized,
                     "this certificate was not issued through this front door", 403);
    }
    record.agent = known->agent;
    record.account = known->account;
    record.outcome.serial = known->serial;
    if (auth.jws.has_kid()) {
      if (auth.account->id != owner) {
        return Problem(pt::kUnauthorized,
                       "only the account that ordered a certificate (or its key) may revoke it",
                       403);
      }
    } else {
      // Signed by the certificate's own key: the jwk must be the certificate's public key.
      ASSIGN_OR_RETURN(acme::PublicAccountKey key,
                       acme::ParsePublicAccountKey(auth.jws.alg, auth.jws.jwk));
      EVP_PKEY* cert_key = X509_get0_pubkey(cert->get());
      absl::StatusOr<std::string> cert_spki =
          cert_key == nullptr ? absl::InternalError("no key") : PublicKeyToDer(cert_key);
      if (!cert_spki.ok() || *cert_spki != key.spki_der) {
        return Problem(pt::kUnauthorized,
                       "the request is signed neither by the ordering account nor by the "
                       "certificate's key",
                       403);
      }
    }
    if (known->revoked) {
      return Problem(pt::kAlreadyRevoked, "the certificate is already revoked");
    }
    // Revoked by the account it was issued to.
    ASSIGN_OR_RETURN(UpstreamAccount upstream, Upstream(known->account));
    if (absl::Status revoked = upstream.acme->Revoke(*der, reason); !revoked.ok()) {
      return UpstreamFailure(revoked, "the CA did not revoke the certificate");
    }
    RETURN_IF_ERROR(deps.store->MarkRevoked(known->serial, static_cast<int>(reason), Now()));
    record.reason = "certificate revoked";
    RETURN_IF_ERROR(AuditAllowed(record));
    ServerResponse response;
    response.status = 200;
    return response;
  }

  absl::StatusOr<ServerResponse> RenewalInfo(absl::string_view ari_id) {
    // "<base64url AKI>.<base64url serial>" (RFC 9773 §4.1).
    std::vector<std::string> parts = absl::StrSplit(ari_id, '.');
    if (parts.size() != 2) return Problem(pt::kMalformed, "not an RFC 9773 certificate id", 404);
    absl::StatusOr<std::string> serial = DecodeBase64Url(parts[1], "serial");
    if (!serial.ok() || serial->empty()) {
      return Problem(pt::kMalformed, "not an RFC 9773 certificate id", 404);
    }
    // Serials compare as numbers: the DER form may carry a leading zero byte.
    auto significant = [](absl::string_view hex) {
      while (hex.size() > 1 && hex.front() == '0') hex.remove_prefix(1);
      return std::string(hex);
    };
    const std::string wanted = significant(absl::BytesToHexString(*serial));
    ASSIGN_OR_RETURN(std::vector<CertificateRecord> inventory, deps.store->ListInventory());
    std::optional<std::string> leaf_der;
    std::string issued_to;  // the signer account the certificate was issued to
    for (const CertificateRecord& record : inventory) {
      if (significant(absl::AsciiStrToLower(record.serial)) != wanted) continue;
      absl::string_view order_id = record.order_url;
      if (!absl::ConsumePrefix(&order_id, OrderUrl(""))) continue;
      ASSIGN_OR_RETURN(std::optional<Json> order, LoadObject(kKindOrder, order_id, nullptr));
      if (!order.has_value() || !order->contains("certificate")) continue;
      ASSIGN_OR_RETURN(std::optional<Json> cert,
                       LoadObject(kKindCert, (*order)["certificate"].get<std::string>(), nullptr));
      if (!cert.has_value() || (*cert)["chains"].empty()) continue;
      ASSIGN_OR_RETURN(acme::CertificateChain chain,
                       acme::ParsePemChain((*cert)["chains"][0].get<std::string>(), ""));
      absl::StatusOr<std::string> id = acme::AriCertificateId(chain.leaf_der);
      if (id.ok() && *id == ari_id) {
        leaf_der = chain.leaf_der;
        issued_to = record.account;
      }
      break;
    }
    if (!leaf_der.has_value()) {
      return Problem(pt::kMalformed, "no certificate with this id was issued here", 404);
    }
    // Asked as the account it was issued to; the default window when that one is gone.
    absl::StatusOr<UpstreamAccount> upstream = Upstream(issued_to);
    absl::StatusOr<acme::RenewalInfo> info =
        upstream.ok() ? upstream->acme->GetRenewalInfo(*leaf_der) : upstream.status();
    if (!info.ok()) info = acme::DefaultRenewalWindow(*leaf_der);
    RETURN_IF_ERROR(info.status());
    Json body = {{"suggestedWindow",
                  {{"start", Rfc3339(info->window_start)}, {"end", Rfc3339(info->window_end)}}}};
    if (!info->explanation_url.empty()) body["explanationURL"] = info->explanation_url;
    ServerResponse response = JsonResponse(200, body);
    response.headers.emplace_back("Retry-After", absl::StrCat(kRenewalInfoRetryAfterSeconds));
    return response;
  }

  // --- routing ----------------------------------------------------------------------------

  ServerResponse Route(const ServerRequest& request) {
    absl::string_view path = request.path;
    // RFC 8555 §6.5: every response to a POST carries a fresh nonce, errors included.
    const bool post = request.method == "POST";
    if (!absl::ConsumePrefix(&path, base_path) || path.empty()) {
      return ProblemResponse(Problem(pt::kMalformed, "no such resource", 404), post);
    }
    if (path == "/directory") {
      if (request.method != "GET" && request.method != "HEAD") {
        return MethodNotAllowed("GET", post);
      }
      ServerResponse response = Directory();
      AddCommonHeaders(response, false);
      return response;
    }
    if (path == "/new-nonce") {
      if (request.method != "GET" && request.method != "HEAD") {
        return MethodNotAllowed("GET, HEAD", post);
      }
      return NewNonce(request);
    }
    if (absl::StartsWith(path, "/renewal-info/")) {
      if (request.method != "GET" && request.method != "HEAD") {
        return MethodNotAllowed("GET", post);
      }
      absl::StatusOr<ServerResponse> info = RenewalInfo(path.substr(strlen("/renewal-info/")));
      if (!info.ok()) return ProblemResponse(info.status(), false);
      AddCommonHeaders(*info, false);
      return *std::move(info);
    }
    if (request.method != "POST") return MethodNotAllowed("POST");

    AuditRecord record;
    record.peer = request.peer;
    absl::StatusOr<ServerResponse> response = Dispatch(request, path, record);
    if (!response.ok()) {
      ServerResponse problem = ProblemResponse(response.status(), true);
      AuditRefused(std::move(record), response.status());
      return problem;
    }
    AddCommonHeaders(*response, true);
    return *std::move(response);
  }

  ServerResponse MethodNotAllowed(absl::string_view allow, bool with_nonce = false) {
    ServerResponse response =
        ProblemResponse(Problem(pt::kMalformed, "method not allowed", 405), with_nonce);
    response.headers.emplace_back("Allow", std::string(allow));
    return response;
  }

  absl::StatusOr<ServerResponse> Dispatch(const ServerRequest& request, absl::string_view path,
                                          AuditRecord& record) {
    std::vector<absl::string_view> parts = absl::StrSplit(path.substr(1), '/');
    const absl::string_view head = parts[0];
    record.rpc = absl::StrCat("FrontDoor/", head);
    if (path == "/new-account") return NewAccount(request, record);
    if (path == "/new-order") return NewOrder(request, record);
    if (path == "/key-change") return KeyChange(request, record);
    if (path == "/revoke-cert") return RevokeCert(request, record);
    if (head == "acct" && parts.size() == 2 && !parts[1].empty()) {
      return AccountEndpoint(request, path, parts[1], record);
    }
    if (head == "order" && parts.size() == 2 && !parts[1].empty()) {
      return GetOrder(request, path, parts[1], record);
    }
    if (head == "order" && parts.size() == 3 && parts[2] == "finalize") {
      record.rpc = "FrontDoor/finalize";
      return Finalize(request, path, parts[1], record);
    }
    if (head == "authz" && parts.size() == 2 && !parts[1].empty()) {
      return Authorization(request, path, parts[1], record);
    }
    size_t index = 0;
    if (head == "chall" && parts.size() == 3 && absl::SimpleAtoi(parts[2], &index) &&
        parts[2].size() <= 2) {
      return Challenge(request, path, parts[1], index, record);
    }
    if (head == "cert" && (parts.size() == 2 || parts.size() == 3)) {
      size_t chain = 0;
      if (parts.size() == 3 && (!absl::SimpleAtoi(parts[2], &chain) || parts[2].size() > 2)) {
        return Problem(pt::kMalformed, "no such resource", 404);
      }
      return Certificate(request, path, parts[1], chain, record);
    }
    record.rpc = "FrontDoor/unknown";
    return Problem(pt::kMalformed, "no such resource", 404);
  }
};


absl::StatusOr<std::unique_ptr<AcmeServer>> AcmeServer::Create(std::string external_url,
                                                               Deps deps) {
  if (deps.config == nullptr || deps.store == nullptr || deps.audit == nullptr ||
      deps.rate_limiter == nullptr || deps.eab_master == nullptr || deps.nonces == nullptr ||
      deps.http01 == nullptr || deps.dns01 == nullptr || deps.accounts.empty()) {
    return absl::InvalidArgumentError("the ACME front door is missing a dependency");
  }
  for (const auto& [name, account] : deps.accounts) {
    if (account.upstream == nullptr || account.acme == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("the ACME front door is missing the upstream of account ", name));
    }
  }
  while (absl::EndsWith(external_url, "/")) external_url.pop_back();
  absl::StatusOr<http::Url> url = http::ParseHttpsUrl(external_url);
  if (!url.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("[acme_server] external_url: ", url.status().message()));
  }
  auto impl = std::make_unique<Impl>();
  impl->base_path = url->path();
  while (absl::EndsWith(impl->base_path, "/")) impl->base_path.pop_back();
  impl->external_url = std::move(external_url);
  impl->deps = std::move(deps);
  impl->validations = std::make_unique<WorkQueue>(kValidationWorkers);
  return std::unique_ptr<AcmeServer>(new AcmeServer(std::move(impl)));
}

AcmeServer::AcmeServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AcmeServer::~AcmeServer() = default;

absl::StatusOr<int> AcmeServer::ResumeProcessingOrders() { return impl_->ResumeProcessingOrders(); }

ServerResponse AcmeServer::Handle(const ServerRequest& request) {
  try {
    return impl_->Route(request);
  } catch (const std::exception& e) {
    std::cerr << "acme-signer: front door: internal error: " << e.what() << std::endl;
    return impl_->ProblemResponse(absl::InternalError(e.what()), request.method == "POST");
  }
}

}  // namespace acme_signer::signer::frontdoor
