// acme-signer inventory: the certificates issued through the signer: by agent, account, name
// (signer/audit_query.h's rule) or expiring within DAYS; when the signer recorded each
// (issued at) and whether and why it was revoked.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/cli.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "signer/audit_query.h"
#include "signer/audit_record.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/inventory_filter.h"
#include "signer/runtime.h"
#include "signer/state_store.h"

namespace acme_signer::signer {
namespace {

std::string UtcSeconds(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<InventoryFilter> FilterFromFlags(const ArgParser& parser) {
  InventoryFilter filter;
  filter.now = absl::Now();
  if (parser.Has("name")) {
    ASSIGN_OR_RETURN(filter.name, ParseQueryName(*parser.Get("name")));
  }
  // Up to 100 years: any certificate a CA issues.
  ASSIGN_OR_RETURN(std::optional<long> days, parser.GetInt("expiring", 0, 36500));
  if (days.has_value()) filter.expiring = absl::Hours(24) * *days;
  return filter;
}

absl::Status PrintInventory(const ArgParser& parser, const InventoryFilter& filter) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store, OpenStateStore(config));
  const std::optional<std::string> account = parser.Get("account");
  if (account.has_value() && config.FindAccount(*account) == nullptr) {
    ASSIGN_OR_RETURN(std::optional<AccountRecord> recorded, store->FindAccount(*account));
    // An account removed from the config still has its certificates in the store.
    if (!recorded.has_value()) return config.AccountNamedByFlag(*account).status();
  }
  ASSIGN_OR_RETURN(std::vector<CertificateRecord> all,
                   store->ListInventory(parser.Get("agent"), account));
  std::vector<CertificateRecord> certs;
  for (CertificateRecord& c : all) {
    if (InventoryMatches(filter, c)) certs.push_back(std::move(c));
  }
  if (parser.Has("json")) {
    nlohmann::json out = nlohmann::json::array();
    for (const CertificateRecord& c : certs) {
      out.push_back({{"serial", c.serial},
                     {"agent", c.agent},
                     {"account", c.account},
                     {"names", c.names},
                     {"not_before", FormatAuditTime(c.not_before)},
                     {"not_after", FormatAuditTime(c.not_after)},
                     {"order_url", c.order_url},
                     {"certificate_sha256", c.certificate_sha256},
                     {"revoked", c.revoked},
                     {"revocation_reason",
                      c.revoked ? nlohmann::json(c.revocation_reason) : nlohmann::json(nullptr)},
                     {"revoked_at", c.revoked && c.revoked_at != absl::InfinitePast()
                                        ? nlohmann::json(FormatAuditTime(c.revoked_at))
                                        : nlohmann::json(nullptr)},
                     {"issued_at", FormatAuditTime(c.issued_at)},
                     // "not_before" for certificates recorded before the signer kept the time.
                     {"issued_at_source", c.issued_at_recorded ? "recorded" : "not_before"}});
    }
    std::cout << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  // One token per column (revoked: "no" or "TIME,reason"), so awk '{print $N}' works.
  std::cout << absl::StrFormat("%-40s %-12s %-12s %-21s %-21s %-8s %s\n", "SERIAL", "AGENT",
                               "ACCOUNT", "ISSUED_AT", "NOT_AFTER", "REVOKED", "NAMES");
  for (const CertificateRecord& c : certs) {
    std::cout << absl::StrFormat("%-40s %-12s %-12s %-21s %-21s %-8s %s\n", c.serial, c.agent,
                                 c.account, UtcSeconds(c.issued_at), UtcSeconds(c.not_after),
                                 InventoryRevokedText(c), absl::StrJoin(c.names, ","));
  }
  std::cout << certs.size() << " certificate(s)\n";
  return absl::OkStatus();
}

}  // namespace

int RunInventory(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-signer inventory --config FILE [--agent NAME] [--account NAME] [--name N] "
      "[--expiring DAYS] [--json]");
  parser.Value("config", "FILE", "signer configuration (TOML)")
      .Value("agent", "NAME", "only this agent's certificates")
      .Value("account", "NAME", "only the certificates issued with this [[accounts]] account")
      .Value("name", "N",
             "only certificates naming N (exact, case-insensitive; '*.example.org' = any name "
             "below example.org)")
      .Value("expiring", "DAYS",
             "only certificates not revoked that expire within DAYS days from now")
      .Bool("json", "print JSON instead of a table")
      .Required("config");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer inventory: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  absl::StatusOr<InventoryFilter> filter = FilterFromFlags(parser);
  if (!filter.ok()) {
    std::cerr << "acme-signer inventory: " << filter.status().message() << "\n";
    return kExitUsage;
  }
  if (absl::Status s = PrintInventory(parser, *filter); !s.ok()) {
    std::cerr << "acme-signer inventory: " << s.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace acme_signer::signer
