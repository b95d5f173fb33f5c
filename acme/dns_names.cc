#include "acme/dns_names.h"

#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace acme_signer::acme {
namespace {

// Longest name echoed back in an error; hostile input must not flood logs.
constexpr size_t kMaxEchoLength = 80;

std::string Echo(absl::string_view text) {
  if (text.size() > kMaxEchoLength) {
    return absl::StrCat(absl::CHexEscape(text.substr(0, kMaxEchoLength)), "...");
  }
  return absl::CHexEscape(text);
}

absl::Status InvalidName(absl::string_view name, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("invalid DNS name \"", Echo(name), "\": ", why));
}

// The label rules a DNS name adds to CheckLdhLabel: a clearer word for '*' and non-ASCII, and
// the "??--" labels RFC 5891 reserves for "xn--".
absl::Status CheckDnsNameLabel(absl::string_view label) {
  for (char c : label) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return absl::InvalidArgumentError(
          "non-ASCII character; give internationalised names as punycode A-labels (xn--...)");
    }
    if (c == '*') {
      return absl::InvalidArgumentError("'*' is only allowed as the whole leftmost label");
    }
  }
  if (absl::Status s = CheckLdhLabel(label); !s.ok()) return s;
  if (label.size() >= 4 && label.substr(2, 2) == "--" && label.substr(0, 2) != "xn") {
    return absl::InvalidArgumentError(
        "hyphens in the 3rd and 4th positions are reserved for \"xn--\"");
  }
  return absl::OkStatus();
}

// The label rules of CheckLdhLabel; query names (ValidateDnsQueryName) also take '_' and
// uppercase letters.
struct LabelRules {
  bool underscore_and_any_case = false;
};

absl::Status CheckLabel(absl::string_view label, LabelRules rules) {
  if (label.empty()) return absl::InvalidArgumentError("empty label");
  if (label.size() > kMaxDnsLabelLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("label longer than ", kMaxDnsLabelLength, " characters"));
  }
  for (char c : label) {
    const auto u = static_cast<unsigned char>(c);
    if (rules.underscore_and_any_case) {
      if (!absl::ascii_isalnum(u) && c != '-' && c != '_') {
        return absl::InvalidArgumentError("character other than letters, digits, '-' and '_'");
      }
      continue;
    }
    if (absl::ascii_isupper(u)) {
      return absl::InvalidArgumentError("uppercase letter; use lowercase (a-z, 0-9 and '-')");
    }
    if (!absl::ascii_islower(u) && !absl::ascii_isdigit(u) && c != '-') {
      return absl::InvalidArgumentError(
          "character other than a-z, 0-9 and '-' (letters, digits, hyphen)");
    }
  }
  if (label.front() == '-' || label.back() == '-') {
    return absl::InvalidArgumentError("label starts or ends with '-'");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckLdhLabel(absl::string_view label) { return CheckLabel(label, LabelRules{}); }

absl::Status ValidateDnsQueryName(absl::string_view name) {
  absl::string_view bare = name;
  absl::ConsumeSuffix(&bare, ".");
  const auto invalid = [name](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid DNS query name \"", Echo(name), "\": ", why));
  };
  if (bare.empty()) return invalid("empty");
  if (bare.size() > kMaxDnsNameLength) {
    return invalid(absl::StrCat("longer than ", kMaxDnsNameLength, " characters"));
  }
  for (absl::string_view label : absl::StrSplit(bare, '.')) {
    absl::Status s = CheckLabel(label, LabelRules{.underscore_and_any_case = true});
    if (!s.ok()) return invalid(s.message());
  }
  return absl::OkStatus();
}

absl::Status ValidateLdhName(absl::string_view what, absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat("invalid ", what, ": empty"));
  if (name.size() > kMaxDnsNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", what, ": longer than ", kMaxDnsNameLength, " characters"));
  }
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (absl::Status s = CheckLdhLabel(label); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid ", what, " \"", Echo(name), "\": ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSingleLabelName(absl::string_view what, absl::string_view name) {
  if (absl::StrContains(name, '.')) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", what, " \"", Echo(name),
                                                   "\": one label, so no '.' (a-z, 0-9 and '-')"));
  }
  return ValidateLdhName(what, name);
}

absl::Status ValidateAccountName(absl::string_view name) {
  return ValidateSingleLabelName("account name", name);
}

absl::Status ValidateDnsName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("invalid DNS name: empty");
  if (name.size() > kMaxDnsNameLength) {
    return InvalidName(name, absl::StrCat("longer than ", kMaxDnsNameLength, " characters"));
  }
  if (name.back() == '.') return InvalidName(name, "trailing dot; give the name without it");
  const std::vector<absl::string_view> labels = absl::StrSplit(name, '.');
  for (absl::string_view label : labels) {
    if (absl::Status s = CheckDnsNameLabel(label); !s.ok()) return InvalidName(name, s.message());
  }
  if (labels.size() < 2) return InvalidName(name, "a single label is not a public DNS name");
  bool all_digits = true;
  for (char c : labels.back()) all_digits = all_digits && absl::ascii_isdigit(c);
  if (all_digits) {
    return InvalidName(name, "all-numeric last label (IP addresses are not DNS identifiers)");
  }
  return absl::OkStatus();
}

absl::Status ValidateDnsIdentifier(absl::string_view name) {
  if (name.size() > kMaxDnsNameLength) {
    return InvalidName(name, absl::StrCat("longer than ", kMaxDnsNameLength, " characters"));
  }
  if (!absl::StartsWith(name, "*.")) return ValidateDnsName(name);
  absl::Status status = ValidateDnsName(name.substr(2));
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid wildcard name \"", Echo(name), "\": ", status.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NormalizeDnsName(absl::string_view name) {
  std::string out = absl::AsciiStrToLower(name);
  if (!out.empty() && out.back() == '.') out.pop_back();
  if (absl::Status s = ValidateDnsIdentifier(out); !s.ok()) return s;
  return out;
}

absl::Status ValidateDnsNames(absl::Span<const std::string> names) {
  if (names.empty()) return absl::InvalidArgumentError("no domain names given");
  absl::flat_hash_set<absl::string_view> seen;
  for (const std::string& name : names) {
    absl::StatusOr<std::string> normalized = NormalizeDnsName(name);
    if (!normalized.ok()) return normalized.status();
    if (*normalized != name) {
      return absl::InvalidArgumentError(absl::StrCat(
          "domain name \"", Echo(name), "\" is not normalized (expected \"", *normalized, "\")"));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("domain name \"", name, "\" is repeated"));
    }
  }
  return absl::OkStatus();
}

}  // namespace acme_signer::acme
