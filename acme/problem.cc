#include "acme/problem.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "acme/json_util.h"

namespace acme_signer::acme {
namespace {

using internal::Json;
using internal::SanitizeForMessage;

// What the user can do about each error type. Empty when the CA's detail says it all.
std::string Hint(const Problem& problem) {
  const std::string type = problem.ShortType();
  if (type == "externalAccountRequired") {
    return "this CA requires External Account Binding; run `acme-signer init` with --eab-kid "
           "and --eab-hmac-key-file";
  }
  if (type == "unauthorized") {
    return "the CA refused this account for the request; check that the account is valid "
           "and allowed to request these names (and for EAB, that the key id and HMAC key "
           "match what the CA issued)";
  }
  if (type == "rateLimited") {
    if (problem.retry_after.has_value()) {
      return absl::StrCat("the CA is rate limiting this account; retry after ",
                          absl::FormatDuration(*problem.retry_after));
    }
    return "the CA is rate limiting this account; retry later";
  }
  if (type == "rejectedIdentifier") {
    return "the CA will not issue for this name; check the names against the CA's policy";
  }
  if (type == "unsupportedIdentifier") return "the CA does not support this identifier type";
  if (type == "badCSR") return "the CA rejected the CSR; check its names, key type and signature";
  if (type == "malformed") {
    return "the CA considers the request malformed; check the names and values in it (if "
           "they are right, this is a client bug or CA quirk worth reporting)";
  }
  if (type == "accountDoesNotExist") {
    return "no account exists for this key; register it first (`acme-signer init`)";
  }
  if (type == "badNonce") return "the CA kept rejecting nonces; retry later";
  if (type == "serverInternal") return "the CA had an internal error; retry later";
  if (type == "badSignatureAlgorithm") {
    return "the CA does not accept this account key's algorithm; use an ES256 or RS256 key";
  }
  if (type == "badPublicKey") return "the CA does not accept this public key";
  if (type == "invalidContact" || type == "unsupportedContact") {
    return "the CA rejected the contact address; use a mailto: URL it accepts";
  }
  if (type == "userActionRequired") {
    return problem.instance.empty()
               ? "the CA requires action by the account holder (e.g. accepting new terms)"
               : absl::StrCat("the CA requires action by the account holder; see ",
                              SanitizeForMessage(problem.instance, 200));
  }
  if (type == "orderNotReady") return "the order is not ready for finalization yet";
  if (type == "alreadyRevoked") return "the certificate is already revoked";
  if (type == "badRevocationReason") return "the CA does not accept this revocation reason";
  if (type == "caa") return "a CAA record forbids this CA from issuing for the name";
  if (type == "dns" || type == "connection" || type == "incorrectResponse" || type == "tls") {
    return "the CA could not validate the challenge; check DNS and that the responder is "
           "reachable from the CA";
  }
  return "";
}

std::string SubproblemText(const Subproblem& sub) {
  std::string type = absl::StartsWith(sub.type, kAcmeErrorPrefix)
                         ? sub.type.substr(kAcmeErrorPrefix.size())
                         : sub.type;
  std::string text;
  if (sub.identifier.has_value()) {
    absl::StrAppend(&text, SanitizeForMessage(sub.identifier->value, 100), ": ");
  }
  absl::StrAppend(&text, SanitizeForMessage(type, 100));
  if (!sub.detail.empty()) absl::StrAppend(&text, " (", SanitizeForMessage(sub.detail), ")");
  return text;
}

}  // namespace

std::string Problem::ShortType() const {
  if (absl::StartsWith(type, kAcmeErrorPrefix)) return type.substr(kAcmeErrorPrefix.size());
  return type;
}

bool Problem::Is(absl::string_view acme_error) const {
  return absl::StartsWith(type, kAcmeErrorPrefix) &&
         absl::string_view(type).substr(kAcmeErrorPrefix.size()) == acme_error;
}

absl::StatusOr<Problem> ParseProblem(absl::string_view json) {
  auto parsed = internal::ParseJsonObject(json, "problem document");
  if (!parsed.ok()) return parsed.status();
  const Json& obj = *parsed;
  Problem problem;
  problem.raw_json = std::string(json);
  auto type = internal::OptionalString(obj, "type", "problem");
  if (!type.ok()) return type.status();
  problem.type = type->value_or("about:blank");
  auto detail = internal::OptionalString(obj, "detail", "problem");
  if (!detail.ok()) return detail.status();
  problem.detail = detail->value_or("");
  auto instance = internal::OptionalString(obj, "instance", "problem");
  if (!instance.ok()) return instance.status();
  problem.instance = instance->value_or("");
  if (auto it = obj.find("status"); it != obj.end() && !it->is_null()) {
    if (!it->is_number_integer()) {
      return absl::InvalidArgumentError(
          "problem.status in the server's response is not an integer");
    }
    problem.status = static_cast<int>(std::clamp<int64_t>(it->get<int64_t>(), 0, 999));
  }
  if (auto it = obj.find("subproblems"); it != obj.end() && !it->is_null()) {
    if (!it->is_array()) {
      return absl::InvalidArgumentError(
          "problem.subproblems in the server's response is not an array");
    }
    for (const Json& element : *it) {
      if (!element.is_object()) {
        return absl::InvalidArgumentError(
            "problem.subproblems in the server's response contains a non-object element");
      }
      Subproblem sub;
      auto sub_type = internal::OptionalString(element, "type", "problem.subproblems[]");
      if (!sub_type.ok()) return sub_type.status();
      sub.type = sub_type->value_or("about:blank");
      auto sub_detail = internal::OptionalString(element, "detail", "problem.subproblems[]");
      if (!sub_detail.ok()) return sub_detail.status();
      sub.detail = sub_detail->value_or("");
      if (auto id = element.find("identifier"); id != element.end() && !id->is_null()) {
        auto id_type = internal::RequiredString(*id, "type", "problem.subproblems[].identifier");
        if (!id_type.ok()) return id_type.status();
        auto id_value = internal::RequiredString(*id, "value", "problem.subproblems[].identifier");
        if (!id_value.ok()) return id_value.status();
        sub.identifier = Identifier{*id_type, *id_value};
      }
      problem.subproblems.push_back(std::move(sub));
    }
  }
  return problem;
}

absl::StatusCode ProblemCode(const Problem& problem) {
  const std::string type = problem.ShortType();
  if (type == "malformed" || type == "badCSR" || type == "rejectedIdentifier" ||
      type == "unsupportedIdentifier" || type == "invalidContact" || type == "unsupportedContact" ||
      type == "badSignatureAlgorithm" || type == "badPublicKey" || type == "badRevocationReason") {
    return absl::StatusCode::kInvalidArgument;
  }
  if (type == "unauthorized") return absl::StatusCode::kPermissionDenied;
  if (type == "accountDoesNotExist") return absl::StatusCode::kNotFound;
  if (type == "alreadyRevoked") return absl::StatusCode::kAlreadyExists;
  if (type == "rateLimited") return absl::StatusCode::kResourceExhausted;
  if (type == "serverInternal" || type == "badNonce") return absl::StatusCode::kUnavailable;
  if (type == "externalAccountRequired" || type == "orderNotReady" ||
      type == "userActionRequired" || type == "caa" || type == "connection" || type == "dns" ||
      type == "incorrectResponse" || type == "tls" || type == "compound") {
    return absl::StatusCode::kFailedPrecondition;
  }
  if (problem.status >= 500) return absl::StatusCode::kUnavailable;
  return absl::StatusCode::kFailedPrecondition;
}

absl::Status ProblemToStatus(const Problem& problem, absl::string_view context) {
  std::string message =
      absl::StrCat(context, ": the CA answered ", SanitizeForMessage(problem.ShortType(), 100));
  if (problem.status != 0) absl::StrAppend(&message, " (HTTP ", problem.status, ")");
  if (!problem.detail.empty()) {
    absl::StrAppend(&message, ": \"", SanitizeForMessage(problem.detail), "\"");
  }
  if (!problem.subproblems.empty()) {
    std::vector<std::string> parts;
    for (size_t i = 0; i < problem.subproblems.size() && i < 10; ++i) {
      parts.push_back(SubproblemText(problem.subproblems[i]));
    }
    if (problem.subproblems.size() > 10) {
      parts.push_back(absl::StrCat("and ", problem.subproblems.size() - 10, " more"));
    }
    absl::StrAppend(&message, " [", absl::StrJoin(parts, "; "), "]");
  }
  if (const std::string hint = Hint(problem); !hint.empty()) {
    absl::StrAppend(&message, "; ", hint);
  }
  // The agent sees only this message (payloads do not cross gRPC): say when to come back.
  if (problem.retry_after.has_value() && !problem.Is("rateLimited")) {
    absl::StrAppend(&message, "; the CA asks to retry after ",
                    absl::FormatDuration(*problem.retry_after));
  }
  absl::Status status(ProblemCode(problem), message);
  status.SetPayload(kProblemPayloadUrl, absl::Cord(problem.raw_json));
  Json meta = Json::object();
  meta["http_status"] = problem.status;
  if (problem.retry_after.has_value()) {
    meta["retry_after_seconds"] = absl::ToInt64Seconds(*problem.retry_after);
  }
  status.SetPayload(kProblemMetaPayloadUrl, absl::Cord(meta.dump()));
  return status;
}

std::optional<Problem> GetProblem(const absl::Status& status) {
  auto raw = status.GetPayload(kProblemPayloadUrl);
  if (!raw.has_value()) return std::nullopt;
  auto problem = ParseProblem(std::string(*raw));
  if (!problem.ok()) return std::nullopt;
  if (auto meta_text = status.GetPayload(kProblemMetaPayloadUrl)) {
    auto meta = internal::ParseJsonObject(std::string(*meta_text), "problem metadata");
    if (meta.ok()) {
      if (auto it = meta->find("http_status"); it != meta->end() && it->is_number_integer()) {
        problem->status = it->get<int>();
      }
      if (auto it = meta->find("retry_after_seconds");
          it != meta->end() && it->is_number_integer()) {
        problem->retry_after = absl::Seconds(it->get<int64_t>());
      }
    }
  }
  return *std::move(problem);
}

}  // namespace acme_signer::acme
