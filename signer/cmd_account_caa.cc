// acme-signer account caa --config F --account NAME --domain D [--ca-domain CA]
//     [--validation-methods m1,m2] [--check [--resolver HOST:PORT]]
//
// Prints the RFC 8657 CAA records that let the account's CA issue for D (and *.D) only to this
// account: D. CAA 0 issue "<ca-domain>; accounturi=<account URL>[; validationmethods=...]".
// The CA's CAA domain is what its directory lists in meta.caaIdentities (RFC 8555 §7.1.1),
// fetched from the account's directory URL; --ca-domain gives it when the CA lists none (or
// to skip the fetch). The account URL is the one `acme-signer init` recorded.
//
// --check resolves D's live CAA records (c-ares, signer/frontdoor/dns_resolver.h; the system
// resolver or --resolver), takes the relevant set (RFC 8659: the closest one walking up the
// labels) and says whether it binds issuance to this account and, when not, who else could
// still get a certificate (signer/caa_policy.h). Exit 0 when bound, 1 when not.
//
// Read-only (config, state store, DNS, the CA's directory): works while serve runs.
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "acme/resources.h"
#include "common/cli.h"
#include "common/status_macros.h"
#include "http/curl_http_client.h"
#include "signer/account_set.h"
#include "signer/caa_policy.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/frontdoor/dns_resolver.h"
#include "signer/runtime.h"
#include "signer/state_store.h"

namespace acme_signer::signer {
namespace {

constexpr char kUsage[] =
    "acme-signer account caa --config FILE --account NAME --domain D [--ca-domain CA] "
    "[--validation-methods http-01,dns-01] [--check [--resolver HOST:PORT]]";

// The CA's CAA identities from its directory (meta.caaIdentities).
absl::StatusOr<std::vector<std::string>> DirectoryCaaIdentities(const AccountConfig& account) {
  ASSIGN_OR_RETURN(std::unique_ptr<http::CurlHttpClient> http,
                   http::CurlHttpClient::Create(CaHttpOptions(account)));
  http::HttpRequest request;
  request.url = account.directory_url;
  absl::StatusOr<http::HttpResponse> response = http->Do(request);
  if (!response.ok()) {
    return absl::Status(response.status().code(),
                        absl::StrCat("fetching the directory ", account.directory_url, ": ",
                                     response.status().message()));
  }
  if (response->status != 200) {
    return absl::UnavailableError(absl::StrCat("fetching the directory ", account.directory_url,
                                               ": HTTP status ", response->status));
  }
  absl::StatusOr<acme::Directory> directory = acme::ParseDirectory(response->body);
  if (!directory.ok()) {
    return absl::UnavailableError(absl::StrCat("the directory ", account.directory_url,
                                               " does not parse: ", directory.status().message()));
  }
  return directory->meta.caa_identities;
}

// The validation methods of --validation-methods: RFC 8657 method names, comma-separated.
absl::StatusOr<std::vector<std::string>> ValidationMethods(const std::optional<std::string>& flag) {
  std::vector<std::string> methods;
  if (!flag.has_value()) return methods;
  for (absl::string_view raw : absl::StrSplit(*flag, ',')) {
    const std::string method = absl::AsciiStrToLower(absl::StripAsciiWhitespace(raw));
    if (method.empty()) continue;
    for (char c : method) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') {
        return absl::InvalidArgumentError(
            absl::StrCat("--validation-methods: \"", method,
                         "\" is not a validation method name (e.g. http-01, dns-01, tls-alpn-01)"));
      }
    }
    methods.push_back(method);
  }
  if (methods.empty()) return absl::InvalidArgumentError("--validation-methods: empty list");
  return methods;
}

// Exit code on success: 0, or 1 when --check found the domain not bound.
absl::StatusOr<int> Caa(const ArgParser& parser) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  const std::string name = *parser.Get("account");
  ASSIGN_OR_RETURN(const AccountConfig* account, config.AccountNamedByFlag(name));
  std::string domain = absl::AsciiStrToLower(absl::StripAsciiWhitespace(*parser.Get("domain")));
  if (absl::EndsWith(domain, ".")) domain.pop_back();
  if (absl::StartsWith(domain, "*.")) domain = domain.substr(2);
  if (domain.empty() || domain.find('.') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--domain \"", *parser.Get("domain"),
                     "\": give a DNS name such as "
                     "www.example.org (the records cover it and *.name)"));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> methods,
                   ValidationMethods(parser.Get("validation-methods")));

  ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store, OpenStateStore(config));
  ASSIGN_OR_RETURN(std::optional<AccountRecord> record, store->FindAccount(name));
  if (!record.has_value() || record->account_url.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("account ", name,
                     " is not registered, so it has no account URL to bind to; run "
                     "`acme-signer init --config ",
                     config.source, " --account ", name, "` first"));
  }
  if (record->status == "deactivated") {
    std::cerr << "warning: account " << name
              << " is deactivated: records binding a domain to it let no one get a "
                 "certificate\n";
  }

  std::vector<std::string> ca_domains;
  if (std::optional<std::string> flag = parser.Get("ca-domain"); flag.has_value()) {
    for (absl::string_view ca : absl::StrSplit(*flag, ',', absl::SkipWhitespace())) {
      ca_domains.emplace_back(absl::StripAsciiWhitespace(ca));
    }
  } else {
    ASSIGN_OR_RETURN(ca_domains, DirectoryCaaIdentities(*account));
    if (ca_domains.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the directory ", account->directory_url,
          " lists no caaIdentities (RFC 8555 §7.1.1), so the CA's CAA domain is unknown; give "
          "it with --ca-domain (the CA's documentation names it, e.g. sectigo.com, "
          "letsencrypt.org)"));
    }
  }

  std::cout << "; CAA records (RFC 8659, RFC 8657) that let " << absl::StrJoin(ca_domains, ", ")
            << " issue for " << domain << " and *." << domain << " only to account " << name
            << "\n; (" << record->account_url << ")\n";
  for (const std::string& line : CaaRecordLines(domain, ca_domains, record->account_url, methods)) {
    std::cout << line << "\n";
  }
  if (!parser.Has("check")) return kExitOk;

  frontdoor::DnsResolver::Options resolver_options;
  resolver_options.servers = parser.GetOr("resolver", "");
  ASSIGN_OR_RETURN(std::unique_ptr<frontdoor::DnsResolver> resolver,
                   frontdoor::DnsResolver::Create(resolver_options));
  ASSIGN_OR_RETURN(RelevantCaa live, FindRelevantCaa(*resolver, domain));
  std::cout << "\nlive CAA records for " << domain << " (" << resolver->Describe() << "): ";
  if (live.owner.empty()) {
    std::cout << "none at " << domain << " or any parent\n";
  } else {
    std::cout << "the closest set is at " << live.owner << "\n";
    for (const frontdoor::CaaRecord& r : live.records) {
      std::cout << "  " << live.owner << ". CAA " << FormatCaaRecord(r) << "\n";
    }
  }
  const CaaJudgement judgement = JudgeCaa(live, domain, ca_domains, record->account_url);
  std::cout << (judgement.bound ? "BOUND: " : "NOT BOUND: ")
            << (judgement.bound
                    ? absl::StrCat("issuance for ", domain, " is bound to account ", name)
                    : absl::StrCat("issuance for ", domain, " is not bound to account ", name,
                                   judgement.nobody ? " (no CA may issue for it at all)" : ""))
            << "\n";
  for (const std::string& finding : judgement.findings) std::cout << "  - " << finding << "\n";
  if (!judgement.bound) {
    std::cout << "publish the records above (and remove the others) to bind it\n";
  }
  return judgement.bound ? kExitOk : kExitFailure;
}

}  // namespace

int RunAccountCaa(const std::vector<std::string>& args) {
  ArgParser parser(kUsage);
  parser.Value("config", "FILE", "signer configuration (TOML)")
      .Value("account", "NAME", "the [[accounts]] name to bind issuance to")
      .Value("domain", "D", "the domain the records are for (they cover D and *.D)")
      .Value("ca-domain", "CA",
             "the CA's CAA domain(s), comma-separated (default: the directory's caaIdentities)")
      .Value("validation-methods", "LIST",
             "RFC 8657 validationmethods, e.g. http-01,dns-01 (default: left out = any)")
      .Bool("check", "resolve D's live CAA records and say whether they bind it (exit 1: not)")
      .Value("resolver", "HOST:PORT", "DNS resolver for --check (default: the system's)")
      .Required("config")
      .Required("account")
      .Required("domain");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer account caa: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  if (parser.Has("resolver") && !parser.Has("check")) {
    std::cerr << "acme-signer account caa: --resolver is only used with --check\n";
    return kExitUsage;
  }
  absl::StatusOr<int> code = Caa(parser);
  if (!code.ok()) {
    std::cerr << "acme-signer account caa: " << code.status().message() << "\n";
    return absl::IsInvalidArgument(code.status()) ? kExitUsage : kExitFailure;
  }
  return *code;
}

}  // namespace acme_signer::signer
