#include "signer/name_policy.h"

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "acme/dns_names.h"
#include "common/status_macros.h"

namespace acme_signer::signer {
namespace {

// Longest name echoed back in an error; hostile input must not flood logs.
constexpr size_t kMaxEchoLength = 80;

std::string Echo(absl::string_view text) { return EscapeForError(text); }

// Whether `name` lies strictly under `suffix` ("a.b.x" is under "x"; "x" is not).
bool IsStrictlyUnder(absl::string_view name, absl::string_view suffix) {
  return name.size() > suffix.size() + 1 && absl::EndsWith(name, suffix) &&
         name[name.size() - suffix.size() - 1] == '.';
}

// One parsed allowed_names entry.
struct Pattern {
  enum class Kind { kExact, kOneLabel, kAnyDepth };
  Kind kind;
  absl::string_view base;  // The name itself (kExact) or the suffix after "*." / "**.".
};

bool ParsePattern(absl::string_view entry, Pattern& out) {
  if (!ValidateNamePattern(entry).ok()) return false;
  if (absl::StartsWith(entry, "**.")) {
    out = {Pattern::Kind::kAnyDepth, entry.substr(3)};
  } else if (absl::StartsWith(entry, "*.")) {
    out = {Pattern::Kind::kOneLabel, entry.substr(2)};
  } else {
    out = {Pattern::Kind::kExact, entry};
  }
  return true;
}

// Whether a non-wildcard name is covered by the pattern.
bool CoversName(const Pattern& pattern, absl::string_view name) {
  switch (pattern.kind) {
    case Pattern::Kind::kExact:
      return name == pattern.base;
    case Pattern::Kind::kOneLabel:
      return IsStrictlyUnder(name, pattern.base) &&
             name.substr(0, name.size() - pattern.base.size() - 1).find('.') ==
                 absl::string_view::npos;
    case Pattern::Kind::kAnyDepth:
      return IsStrictlyUnder(name, pattern.base);
  }
  return false;
}

// Whether the pattern covers every name a "*.base" certificate is valid for.
bool CoversWildcard(const Pattern& pattern, absl::string_view base) {
  switch (pattern.kind) {
    case Pattern::Kind::kExact:
      return false;  // An exact entry never grants a wildcard certificate.
    case Pattern::Kind::kOneLabel:
      return base == pattern.base;
    case Pattern::Kind::kAnyDepth:
      return base == pattern.base || IsStrictlyUnder(base, pattern.base);
  }
  return false;
}

absl::Status Denied(const AgentPolicy& policy, absl::string_view name, absl::string_view why) {
  return absl::PermissionDeniedError(
      absl::StrCat("agent ", Echo(policy.name), " may not request ", Echo(name), ": ", why));
}

}  // namespace

std::string EscapeForError(absl::string_view text) {
  if (text.size() > kMaxEchoLength) {
    return absl::StrCat(absl::CHexEscape(text.substr(0, kMaxEchoLength)), "...");
  }
  return absl::CHexEscape(text);
}

absl::Status ValidateNamePattern(absl::string_view pattern) {
  absl::string_view base = pattern;
  if (absl::StartsWith(base, "**.")) {
    base.remove_prefix(3);
  } else if (absl::StartsWith(base, "*.")) {
    base.remove_prefix(2);
  } else {
    return acme::ValidateDnsName(pattern);
  }
  absl::Status status = acme::ValidateDnsName(base);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid name pattern \"", Echo(pattern), "\": ", status.message()));
  }
  return absl::OkStatus();
}

bool AgentPolicy::MayUseAccount(absl::string_view account) const {
  return std::find(accounts.begin(), accounts.end(), account) != accounts.end();
}

absl::Status ValidateAgentPolicy(const AgentPolicy& policy) {
  if (policy.name.empty()) return absl::InvalidArgumentError("agent policy without a name");
  const std::string where = absl::StrCat("agent ", Echo(policy.name), ": ");
  if (policy.allowed_names.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, "allowed_names is empty"));
  }
  for (const std::string& entry : policy.allowed_names) {
    absl::Status status = ValidateNamePattern(entry);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "allowed_names entry: ", status.message()));
    }
  }
  if (policy.key_types.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, "key_types is empty"));
  }
  for (const std::string& key_type : policy.key_types) {
    if (key_type != kKeyTypeEcP256 && key_type != kKeyTypeEcP384 && key_type != kKeyTypeRsa2048 &&
        key_type != kKeyTypeRsa3072 && key_type != kKeyTypeRsa4096) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "unknown key type \"", Echo(key_type),
                       "\" (expected ec-p256, ec-p384, rsa-2048, rsa-3072 or rsa-4096)"));
    }
  }
  if (policy.max_identifiers_per_order < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "max_identifiers_per_order must be >= 1"));
  }
  if (policy.orders_per_hour < 1) {
    return absl::InvalidArgumentError(absl::StrCat(where, "orders_per_hour must be >= 1"));
  }
  return absl::OkStatus();
}

absl::Status CheckName(const AgentPolicy& policy, absl::string_view name) {
  RETURN_IF_ERROR(acme::ValidateDnsIdentifier(name));
  const bool wildcard = absl::StartsWith(name, "*.");
  const absl::string_view base = wildcard ? name.substr(2) : name;
  if (wildcard && !policy.allow_wildcard_certificates) {
    return Denied(policy, name, "wildcard certificates are not allowed for this agent");
  }
  for (const std::string& entry : policy.allowed_names) {
    Pattern pattern;
    if (!ParsePattern(entry, pattern)) continue;
    if (wildcard ? CoversWildcard(pattern, base) : CoversName(pattern, name)) {
      return absl::OkStatus();
    }
  }
  return Denied(policy, name,
                wildcard ? "no \"*.\" or \"**.\" entry in its allowed names covers this wildcard"
                         : "not in its allowed names");
}

absl::Status CheckIdentifiers(const AgentPolicy& policy,
                              const std::vector<Identifier>& identifiers) {
  if (identifiers.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent ", Echo(policy.name), " sent an order without identifiers"));
  }
  if (identifiers.size() > static_cast<size_t>(std::max(policy.max_identifiers_per_order, 0))) {
    return absl::PermissionDeniedError(
        absl::StrCat("agent ", Echo(policy.name), " may not request ", identifiers.size(),
                     " identifiers in one order (at most ", policy.max_identifiers_per_order, ")"));
  }
  absl::flat_hash_set<absl::string_view> seen;
  for (const Identifier& identifier : identifiers) {
    if (identifier.type != "dns") {
      return absl::PermissionDeniedError(absl::StrCat(
          "agent ", Echo(policy.name), " may not request ", Echo(identifier.value),
          ": identifier type \"", Echo(identifier.type), "\" is not supported (only \"dns\")"));
    }
    if (!seen.insert(identifier.value).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate identifier ", Echo(identifier.value)));
    }
    RETURN_IF_ERROR(CheckName(policy, identifier.value));
  }
  return absl::OkStatus();
}

}  // namespace acme_signer::signer
