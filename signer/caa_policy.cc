#include "signer/caa_policy.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "acme/dns_names.h"
#include "common/status_macros.h"

namespace acme_signer::signer {
namespace {

std::string NormaliseDomain(absl::string_view domain) {
  absl::string_view bare = absl::StripAsciiWhitespace(domain);
  absl::ConsumeSuffix(&bare, ".");
  return absl::AsciiStrToLower(bare);
}

bool KnownTag(absl::string_view tag) {
  for (absl::string_view known :
       {"issue", "issuewild", "iodef", "contactemail", "contactphone", "issuevmc", "issuemail"}) {
    if (absl::EqualsIgnoreCase(tag, known)) return true;
  }
  return false;
}

}  // namespace

std::string CaaIssueValue::Parameter(absl::string_view key) const {
  for (const auto& [k, v] : parameters) {
    if (absl::EqualsIgnoreCase(k, key)) return v;
  }
  return "";
}

absl::StatusOr<CaaIssueValue> ParseCaaIssueValue(absl::string_view value) {
  CaaIssueValue out;
  std::vector<absl::string_view> parts = absl::StrSplit(value, ';');
  const absl::string_view issuer = absl::StripAsciiWhitespace(parts[0]);
  out.issuer_domain = NormaliseDomain(issuer);
  // RFC 8659 §4.2: the issuer is a domain name of LDH labels (or absent: ";" grants nobody).
  if (!out.issuer_domain.empty()) {
    RETURN_IF_ERROR(acme::ValidateLdhName("CAA issuer domain", out.issuer_domain));
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    const absl::string_view parameter = absl::StripAsciiWhitespace(parts[i]);
    if (parameter.empty()) continue;  // "ca.example;" and "ca.example; ;" are fine
    const size_t eq = parameter.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter \"", parameter, "\" is not of the form key=value"));
    }
    out.parameters.emplace_back(std::string(absl::StripAsciiWhitespace(parameter.substr(0, eq))),
                                std::string(absl::StripAsciiWhitespace(parameter.substr(eq + 1))));
  }
  return out;
}

std::vector<std::string> CaaRecordLines(absl::string_view domain,
                                        const std::vector<std::string>& ca_domains,
                                        absl::string_view account_url,
                                        const std::vector<std::string>& validation_methods) {
  const std::string owner = absl::StrCat(NormaliseDomain(domain), ".");
  std::vector<std::string> lines;
  for (absl::string_view tag : {"issue", "issuewild"}) {
    for (const std::string& ca : ca_domains) {
      std::string value = absl::StrCat(NormaliseDomain(ca), "; accounturi=", account_url);
      if (!validation_methods.empty()) {
        absl::StrAppend(&value, "; validationmethods=", absl::StrJoin(validation_methods, ","));
      }
      lines.push_back(absl::StrCat(owner, " CAA 0 ", tag, " \"", value, "\""));
    }
  }
  return lines;
}

std::vector<std::string> CaaLookupNames(absl::string_view domain) {
  std::string name = NormaliseDomain(domain);
  if (absl::StartsWith(name, "*.")) name = name.substr(2);
  std::vector<std::string> names;
  absl::string_view rest = name;
  // At most one name per label (a DNS name has at most 127).
  while (!rest.empty() && names.size() < 128) {
    names.emplace_back(rest);
    const size_t dot = rest.find('.');
    if (dot == absl::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  return names;
}

absl::StatusOr<RelevantCaa> FindRelevantCaa(const frontdoor::DnsResolver& resolver,
                                            absl::string_view domain) {
  for (const std::string& name : CaaLookupNames(domain)) {
    absl::StatusOr<std::vector<frontdoor::CaaRecord>> records = resolver.LookupCaa(name);
    if (records.ok()) return RelevantCaa{name, *std::move(records)};
    if (!absl::IsNotFound(records.status())) return records.status();
  }
  return RelevantCaa{};
}

std::string FormatCaaRecord(const frontdoor::CaaRecord& record) {
  return absl::StrCat(record.flags, " ", record.tag, " \"", record.value, "\"");
}

CaaJudgement JudgeCaa(const RelevantCaa& caa, absl::string_view domain,
                      const std::vector<std::string>& ca_domains, absl::string_view account_url) {
  CaaJudgement judgement;
  const std::string name = NormaliseDomain(domain);
  std::vector<std::string> cas;
  for (const std::string& ca : ca_domains) cas.push_back(NormaliseDomain(ca));
  const std::string ca_text = absl::StrJoin(cas, " or ");
  if (caa.owner.empty()) {
    judgement.findings.push_back(absl::StrCat(
        "no CAA records at ", name, " or any parent: every CA may issue for it, to any account"));
    return judgement;
  }
  for (const frontdoor::CaaRecord& record : caa.records) {
    if (record.critical() && !KnownTag(record.tag)) {
      judgement.nobody = true;
      judgement.findings.push_back(absl::StrCat("[", FormatCaaRecord(record),
                                                "] is a critical property CAs do not know: "
                                                "no CA may issue for ",
                                                name, ", not even to this account"));
    }
  }
  if (judgement.nobody) return judgement;

  auto has_tag = [&caa](absl::string_view tag) {
    return std::any_of(
        caa.records.begin(), caa.records.end(),
        [tag](const frontdoor::CaaRecord& r) { return absl::EqualsIgnoreCase(r.tag, tag); });
  };
  struct Kind {
    std::string tag;
    std::string what;
  };
  std::vector<Kind> kinds;
  if (has_tag("issuewild")) {
    kinds.push_back({"issue", absl::StrCat("certificates for ", name)});
    kinds.push_back({"issuewild", absl::StrCat("wildcard certificates (*.", name, ")")});
  } else {
    kinds.push_back({"issue", absl::StrCat("certificates for ", name, " and *.", name)});
  }
  bool bound = true;
  bool nobody = true;
  for (const Kind& kind : kinds) {
    int ours = 0;
    bool kind_bound = true;
    int grants = 0;
    for (const frontdoor::CaaRecord& record : caa.records) {
      if (!absl::EqualsIgnoreCase(record.tag, kind.tag)) continue;
      const std::string shown = absl::StrCat("[", FormatCaaRecord(record), "]");
      absl::StatusOr<CaaIssueValue> value = ParseCaaIssueValue(record.value);
      if (!value.ok()) {
        judgement.findings.push_back(absl::StrCat(
            shown, " does not parse (", value.status().message(), "): it lets nobody issue"));
        continue;
      }
      if (value->issuer_domain.empty()) continue;  // ";": no CA
      ++grants;
      const std::string account = value->Parameter("accounturi");
      if (std::find(cas.begin(), cas.end(), value->issuer_domain) == cas.end()) {
        kind_bound = false;
        judgement.findings.push_back(absl::StrCat(
            shown, " lets another CA (", value->issuer_domain, ") issue ", kind.what, " to ",
            account.empty() ? "any of its accounts" : absl::StrCat("account ", account)));
      } else if (account.empty()) {
        kind_bound = false;
        judgement.findings.push_back(absl::StrCat(shown, " has no accounturi: any account at ",
                                                  value->issuer_domain, " may get ", kind.what));
      } else if (account != account_url) {
        kind_bound = false;
        judgement.findings.push_back(
            absl::StrCat(shown, " lets another account (", account, ") get ", kind.what));
      } else {
        ++ours;
      }
    }
    if (grants == 0) {
      if (!has_tag(kind.tag)) {
        // Only possible for "issue" when the set has issuewild but no issue: no restriction.
        kind_bound = false;
        nobody = false;
        judgement.findings.push_back(absl::StrCat("no \"", kind.tag, "\" records at ", caa.owner,
                                                  ": every CA may issue ", kind.what,
                                                  ", to any account"));
      } else {
        kind_bound = false;
        judgement.findings.push_back(absl::StrCat("the \"", kind.tag, "\" records at ", caa.owner,
                                                  " let no CA issue ", kind.what,
                                                  " (this account cannot get them either)"));
      }
      bound = false;
      continue;
    }
    nobody = false;
    if (ours == 0) {
      kind_bound = false;
      judgement.findings.push_back(absl::StrCat("no record lets ", ca_text, " issue ", kind.what,
                                                " to this account (", account_url, ")"));
    } else if (kind_bound) {
      judgement.findings.push_back(
          absl::StrCat("only account ", account_url, " at ", ca_text, " may get ", kind.what));
    }
    bound = bound && kind_bound;
  }
  judgement.nobody = nobody;
  judgement.bound = bound && !nobody;
  return judgement;
}

}  // namespace acme_signer::signer
