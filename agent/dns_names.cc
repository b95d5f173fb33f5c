#include "agent/dns_names.h"

#include <arpa/inet.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace acme_signer::agent {
namespace {

bool IsLdhLabel(absl::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

bool IsIpAddress(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

absl::StatusOr<std::string> NormalizeDnsName(absl::string_view name) {
  std::string out = absl::AsciiStrToLower(name);
  if (!out.empty() && out.back() == '.') out.pop_back();
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid domain name \"", absl::CEscape(name), "\": ", why));
  };
  if (out.empty()) return bad("empty");
  if (out.size() > 253) return bad("longer than 253 characters");
  if (IsIpAddress(out)) return bad("IP addresses are not supported, only DNS names");
  std::vector<absl::string_view> labels = absl::StrSplit(out, '.');
  if (labels.size() < 2) return bad("needs at least two labels (e.g. example.com)");
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i == 0 && labels[i] == "*") continue;
    if (labels[i].find('*') != absl::string_view::npos) {
      return bad("a wildcard is only allowed as the whole first label (*.example.com)");
    }
    if (!IsLdhLabel(labels[i])) {
      return bad("each label must be 1-63 letters, digits or inner hyphens");
    }
  }
  return out;
}

absl::Status ValidateDnsNames(absl::Span<const std::string> names) {
  if (names.empty()) return absl::InvalidArgumentError("no domain names given");
  absl::flat_hash_set<absl::string_view> seen;
  for (const std::string& name : names) {
    auto normalized = NormalizeDnsName(name);
    if (!normalized.ok()) return normalized.status();
    if (*normalized != name) {
      return absl::InvalidArgumentError(absl::StrCat("domain name \"", absl::CEscape(name),
                                                     "\" is not normalized (expected \"",
                                                     *normalized, "\")"));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("domain name \"", name, "\" is repeated"));
    }
  }
  return absl::OkStatus();
}

}  // namespace acme_signer::agent
