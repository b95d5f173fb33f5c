// CAA (RFC 8659) with account and method binding (RFC 8657) for `acme-signer account caa`:
// the records that let a CA issue for a domain only to one ACME account, and the judgement of
// a domain's live records: do they bind issuance to that account, and who else could still
// get a certificate.
//
// Rules applied (RFC 8659 §3, §4.2, §4.3; RFC 8657 §3):
//  - The relevant record set is the closest one walking up the labels of the domain (the
//    domain itself first, then its parents; the root is not queried). No CAA anywhere: any CA
//    may issue to anyone.
//  - A set without "issue" records restricts nothing (iodef alone says nothing about issuers).
//  - Wildcard certificates are governed by "issuewild" when the set has any, else by "issue".
//  - A record grants issuance to the CA named by its issuer domain (compared without case and
//    trailing dot); an empty issuer domain grants nothing. "accounturi=URL" limits the grant
//    to that account; a record without it grants to every account at that CA.
//  - An unknown property with the critical flag forbids every CA from issuing.
//  - A value that does not parse grants nothing (CAs do not issue on it).
//
// Plain functions and value types: thread-compatible.
#ifndef ACME_SIGNER_SIGNER_CAA_POLICY_H_
#define ACME_SIGNER_SIGNER_CAA_POLICY_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "signer/frontdoor/dns_resolver.h"

namespace acme_signer::signer {

// The value of an issue/issuewild property: "issuer.example; accounturi=...; k=v".
struct CaaIssueValue {
  std::string issuer_domain;  // lower-case, without trailing dot; empty = no CA
  std::vector<std::pair<std::string, std::string>> parameters;  // in order, keys as sent

  // The value of parameter `key` (case-insensitive key), or "" when absent.
  std::string Parameter(absl::string_view key) const;
};

// InvalidArgument naming what is wrong (bad issuer domain, parameter without '=').
absl::StatusOr<CaaIssueValue> ParseCaaIssueValue(absl::string_view value);

// Zone-file lines ("D. CAA 0 issue \"ca; accounturi=URL; validationmethods=m1,m2\"", then the
// same with issuewild) for each of `ca_domains`. `validation_methods` empty = the parameter is
// left out (every method the CA offers).
std::vector<std::string> CaaRecordLines(absl::string_view domain,
                                        const std::vector<std::string>& ca_domains,
                                        absl::string_view account_url,
                                        const std::vector<std::string>& validation_methods);

// The names whose CAA records RFC 8659 consults for `domain`, closest first ("a.b.c" → a.b.c,
// b.c, c). A leading "*." is dropped; a trailing dot is ignored.
std::vector<std::string> CaaLookupNames(absl::string_view domain);

// The relevant record set, as found by FindRelevantCaa.
struct RelevantCaa {
  std::string owner;  // the name the set was found at; empty when no name has CAA records
  std::vector<frontdoor::CaaRecord> records;
};

// Walks CaaLookupNames(domain) with `resolver` and returns the first non-empty set. NotFound
// and NXDOMAIN at a name move on to its parent; any other DNS failure is returned (the
// answer cannot be judged without it).
absl::StatusOr<RelevantCaa> FindRelevantCaa(const frontdoor::DnsResolver& resolver,
                                            absl::string_view domain);

struct CaaJudgement {
  // True when every grant of the set (for ordinary and for wildcard certificates) is to
  // `account_url` at one of the CA's domains and at least one such grant exists.
  bool bound = false;
  // True when no CA may issue at all (a critical unknown property, or only empty issuers).
  bool nobody = false;
  // One line each: what lets someone else (or nobody) get a certificate, or what binds it.
  std::vector<std::string> findings;
};

// Judges the relevant set `caa` for certificates of `domain` (and *.domain) from the CA known
// by `ca_domains`, for the account `account_url`.
CaaJudgement JudgeCaa(const RelevantCaa& caa, absl::string_view domain,
                      const std::vector<std::string>& ca_domains, absl::string_view account_url);

// "0 issue \"value\"", as the record is shown.
std::string FormatCaaRecord(const frontdoor::CaaRecord& record);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_CAA_POLICY_H_
