#include "acme/resources.h"

#include <array>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "acme/json_util.h"
#include "common/base64url.h"
#include "common/status_macros.h"

namespace acme_signer::acme {
namespace {

using internal::Json;

template <typename Enum, size_t N>
absl::StatusOr<Enum> ParseEnum(const Json& obj, absl::string_view what,
                               const std::array<std::pair<absl::string_view, Enum>, N>& values) {
  ASSIGN_OR_RETURN(std::string text, internal::RequiredString(obj, "status", what));
  for (const auto& [name, value] : values) {
    if (name == text) return value;
  }
  return absl::InvalidArgumentError(absl::StrCat(what,
                                                 ".status in the server's response has "
                                                 "an unknown value \"",
                                                 internal::SanitizeForMessage(text, 40), "\""));
}

template <typename Enum, size_t N>
absl::string_view EnumName(Enum value,
                           const std::array<std::pair<absl::string_view, Enum>, N>& values) {
  for (const auto& [name, v] : values) {
    if (v == value) return name;
  }
  return "unknown";
}

constexpr std::array<std::pair<absl::string_view, AccountStatus>, 3> kAccountStatuses{{
    {"valid", AccountStatus::kValid},
    {"deactivated", AccountStatus::kDeactivated},
    {"revoked", AccountStatus::kRevoked},
}};
constexpr std::array<std::pair<absl::string_view, OrderStatus>, 5> kOrderStatuses{{
    {"pending", OrderStatus::kPending},
    {"ready", OrderStatus::kReady},
    {"processing", OrderStatus::kProcessing},
    {"valid", OrderStatus::kValid},
    {"invalid", OrderStatus::kInvalid},
}};
constexpr std::array<std::pair<absl::string_view, AuthorizationStatus>, 6> kAuthzStatuses{{
    {"pending", AuthorizationStatus::kPending},
    {"valid", AuthorizationStatus::kValid},
    {"invalid", AuthorizationStatus::kInvalid},
    {"deactivated", AuthorizationStatus::kDeactivated},
    {"expired", AuthorizationStatus::kExpired},
    {"revoked", AuthorizationStatus::kRevoked},
}};
constexpr std::array<std::pair<absl::string_view, ChallengeStatus>, 4> kChallengeStatuses{{
    {"pending", ChallengeStatus::kPending},
    {"processing", ChallengeStatus::kProcessing},
    {"valid", ChallengeStatus::kValid},
    {"invalid", ChallengeStatus::kInvalid},
}};

const Json* Member(const Json& obj, absl::string_view field) {
  auto it = obj.find(std::string(field));
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<std::optional<Problem>> OptionalProblem(const Json& obj, absl::string_view what) {
  const Json* error = Member(obj, "error");
  if (error == nullptr) return std::optional<Problem>();
  if (!error->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ".error in the server's response is not an object"));
  }
  auto problem = ParseProblem(internal::DumpJson(*error));
  if (!problem.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ".error is not a valid problem document: ", problem.status().message()));
  }
  return std::optional<Problem>(*std::move(problem));
}

absl::StatusOr<Identifier> ParseIdentifier(const Json& obj, absl::string_view what) {
  if (!obj.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " in the server's response is not an object"));
  }
  ASSIGN_OR_RETURN(std::string type, internal::RequiredString(obj, "type", what));
  ASSIGN_OR_RETURN(std::string value, internal::RequiredString(obj, "value", what));
  return Identifier{std::move(type), std::move(value)};
}

absl::StatusOr<std::string> OptionalStringOrEmpty(const Json& obj, absl::string_view field,
                                                  absl::string_view what) {
  ASSIGN_OR_RETURN(std::optional<std::string> value, internal::OptionalString(obj, field, what));
  return value.value_or("");
}

absl::StatusOr<std::string> OptionalUrlOrEmpty(const Json& obj, absl::string_view field,
                                               absl::string_view what) {
  ASSIGN_OR_RETURN(std::optional<std::string> value, internal::OptionalHttpsUrl(obj, field, what));
  return value.value_or("");
}

absl::StatusOr<Challenge> ChallengeFromJson(const Json& obj, absl::string_view what) {
  if (!obj.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " in the server's response is not an object"));
  }
  Challenge challenge;
  challenge.raw_json = internal::DumpJson(obj);
  ASSIGN_OR_RETURN(challenge.type, internal::RequiredString(obj, "type", what));
  ASSIGN_OR_RETURN(challenge.url, internal::RequiredHttpsUrl(obj, "url", what));
  ASSIGN_OR_RETURN(challenge.status, ParseEnum(obj, what, kChallengeStatuses));
  ASSIGN_OR_RETURN(challenge.validated, OptionalStringOrEmpty(obj, "validated", what));
  ASSIGN_OR_RETURN(challenge.error, OptionalProblem(obj, what));
  if (challenge.IsKnownType()) {
    ASSIGN_OR_RETURN(challenge.token, internal::RequiredString(obj, "token", what));
    // The token ends up in a URL path served by the http-01 responder, so only the
    // base64url alphabet (RFC 8555 §8.1) is accepted: no "/", "..", or control characters.
    // Entropy is the CA's business, so there is no lower length bound beyond non-empty.
    if (challenge.token.size() > 256 || !IsBase64Url(challenge.token)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what,
                       ".token in the server's response is not a base64url token of "
                       "1 to 256 characters"));
    }
  } else {
    ASSIGN_OR_RETURN(challenge.token, OptionalStringOrEmpty(obj, "token", what));
  }
  return challenge;
}

}  // namespace

absl::string_view ToString(AccountStatus status) { return EnumName(status, kAccountStatuses); }
absl::string_view ToString(OrderStatus status) { return EnumName(status, kOrderStatuses); }
absl::string_view ToString(AuthorizationStatus status) { return EnumName(status, kAuthzStatuses); }
absl::string_view ToString(ChallengeStatus status) { return EnumName(status, kChallengeStatuses); }

absl::StatusOr<Directory> ParseDirectory(absl::string_view json) {
  constexpr absl::string_view kWhat = "directory";
  ASSIGN_OR_RETURN(Json obj, internal::ParseJsonObject(json, kWhat));
  Directory dir;
  ASSIGN_OR_RETURN(dir.new_nonce, internal::RequiredHttpsUrl(obj, "newNonce", kWhat));
  ASSIGN_OR_RETURN(dir.new_account, internal::RequiredHttpsUrl(obj, "newAccount", kWhat));
  ASSIGN_OR_RETURN(dir.new_order, internal::RequiredHttpsUrl(obj, "newOrder", kWhat));
  ASSIGN_OR_RETURN(dir.new_authz, OptionalUrlOrEmpty(obj, "newAuthz", kWhat));
  ASSIGN_OR_RETURN(dir.revoke_cert, OptionalUrlOrEmpty(obj, "revokeCert", kWhat));
  ASSIGN_OR_RETURN(dir.key_change, OptionalUrlOrEmpty(obj, "keyChange", kWhat));
  ASSIGN_OR_RETURN(dir.renewal_info, OptionalUrlOrEmpty(obj, "renewalInfo", kWhat));
  if (const Json* meta = Member(obj, "meta"); meta != nullptr) {
    constexpr absl::string_view kMeta = "directory.meta";
    if (!meta->is_object()) {
      return absl::InvalidArgumentError("directory.meta in the server's response is not an object");
    }
    // termsOfService and website are shown to people, not requested: any string will do.
    ASSIGN_OR_RETURN(dir.meta.terms_of_service,
                     OptionalStringOrEmpty(*meta, "termsOfService", kMeta));
    ASSIGN_OR_RETURN(dir.meta.website, OptionalStringOrEmpty(*meta, "website", kMeta));
    ASSIGN_OR_RETURN(dir.meta.caa_identities,
                     internal::OptionalStringArray(*meta, "caaIdentities", kMeta));
    ASSIGN_OR_RETURN(dir.meta.external_account_required,
                     internal::OptionalBool(*meta, "externalAccountRequired", kMeta, false));
  }
  return dir;
}

absl::StatusOr<Account> ParseAccount(absl::string_view json) {
  constexpr absl::string_view kWhat = "account";
  ASSIGN_OR_RETURN(Json obj, internal::ParseJsonObject(json, kWhat));
  Account account;
  ASSIGN_OR_RETURN(account.status, ParseEnum(obj, kWhat, kAccountStatuses));
  ASSIGN_OR_RETURN(account.contact, internal::OptionalStringArray(obj, "contact", kWhat));
  ASSIGN_OR_RETURN(account.orders, OptionalUrlOrEmpty(obj, "orders", kWhat));
  return account;
}

absl::StatusOr<Order> ParseOrder(absl::string_view json) {
  constexpr absl::string_view kWhat = "order";
  ASSIGN_OR_RETURN(Json obj, internal::ParseJsonObject(json, kWhat));
  Order order;
  ASSIGN_OR_RETURN(order.status, ParseEnum(obj, kWhat, kOrderStatuses));
  ASSIGN_OR_RETURN(order.expires, OptionalStringOrEmpty(obj, "expires", kWhat));
  ASSIGN_OR_RETURN(order.not_before, OptionalStringOrEmpty(obj, "notBefore", kWhat));
  ASSIGN_OR_RETURN(order.not_after, OptionalStringOrEmpty(obj, "notAfter", kWhat));
  ASSIGN_OR_RETURN(order.replaces, OptionalStringOrEmpty(obj, "replaces", kWhat));
  if (const Json* ids = Member(obj, "identifiers"); ids != nullptr) {
    if (!ids->is_array()) {
      return absl::InvalidArgumentError(
          "order.identifiers in the server's response is not an array");
    }
    for (const Json& id : *ids) {
      ASSIGN_OR_RETURN(Identifier identifier, ParseIdentifier(id, "order.identifiers[]"));
      order.identifiers.push_back(std::move(identifier));
    }
  }
  const Json* authzs = Member(obj, "authorizations");
  if (authzs == nullptr) {
    return absl::InvalidArgumentError("order.authorizations is missing from the server's response");
  }
  if (!authzs->is_array()) {
    return absl::InvalidArgumentError(
        "order.authorizations in the server's response is not an array");
  }
  for (const Json& url : *authzs) {
    if (!url.is_string()) {
      return absl::InvalidArgumentError(
          "order.authorizations in the server's response contains a non-string element");
    }
    RETURN_IF_ERROR(internal::CheckHttpsUrl(url.get<std::string>(), "order.authorizations[]"));
    order.authorizations.push_back(url.get<std::string>());
  }
  ASSIGN_OR_RETURN(order.finalize, internal::RequiredHttpsUrl(obj, "finalize", kWhat));
  ASSIGN_OR_RETURN(order.certificate, OptionalUrlOrEmpty(obj, "certificate", kWhat));
  if (order.status == OrderStatus::kValid && order.certificate.empty()) {
    return absl::InvalidArgumentError(
        "order.certificate is missing from the server's response although the order is valid");
  }
  ASSIGN_OR_RETURN(order.error, OptionalProblem(obj, kWhat));
  return order;
}

bool Challenge::IsKnownType() const {
  return type == kHttp01 || type == kDns01 || type == kTlsAlpn01;
}

absl::StatusOr<Challenge> ParseChallenge(absl::string_view json) {
  ASSIGN_OR_RETURN(Json obj, internal::ParseJsonObject(json, "challenge"));
  return ChallengeFromJson(obj, "challenge");
}

const Challenge* Authorization::Find(absl::string_view type) const {
  for (const Challenge& challenge : challenges) {
    if (challenge.type == type) return &challenge;
  }
  return nullptr;
}

absl::StatusOr<Authorization> ParseAuthorization(absl::string_view json) {
  constexpr absl::string_view kWhat = "authorization";
  ASSIGN_OR_RETURN(Json obj, internal::ParseJsonObject(json, kWhat));
  Authorization authz;
  const Json* identifier = Member(obj, "identifier");
  if (identifier == nullptr) {
    return absl::InvalidArgumentError(
        "authorization.identifier is missing from the server's response");
  }
  ASSIGN_OR_RETURN(authz.identifier, ParseIdentifier(*identifier, "authorization.identifier"));
  ASSIGN_OR_RETURN(authz.status, ParseEnum(obj, kWhat, kAuthzStatuses));
  ASSIGN_OR_RETURN(authz.expires, OptionalStringOrEmpty(obj, "expires", kWhat));
  ASSIGN_OR_RETURN(authz.wildcard, internal::OptionalBool(obj, "wildcard", kWhat, false));
  const Json* challenges = Member(obj, "challenges");
  if (challenges == nullptr) {
    // A valid authorization needs no challenge (reuse, Sectigo pre-validation); a pending one
    // without challenges cannot be completed.
    if (authz.status == AuthorizationStatus::kPending) {
      return absl::InvalidArgumentError(
          "authorization.challenges is missing from the server's response for a pending "
          "authorization");
    }
    return authz;
  }
  if (!challenges->is_array()) {
    return absl::InvalidArgumentError(
        "authorization.challenges in the server's response is not an array");
  }
  for (const Json& element : *challenges) {
    ASSIGN_OR_RETURN(Challenge challenge, ChallengeFromJson(element, "authorization.challenges[]"));
    authz.challenges.push_back(std::move(challenge));
  }
  return authz;
}

}  // namespace acme_signer::acme
