// acme-signer inventory: the certificates issued through the signer.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/cli.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "signer/audit_record.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/runtime.h"
#include "signer/state_store.h"

namespace acme_signer::signer {
namespace {

absl::Status PrintInventory(const ArgParser& parser) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store, OpenStateStore(config));
  const std::optional<std::string> account = parser.Get("account");
  if (account.has_value() && config.FindAccount(*account) == nullptr) {
    ASSIGN_OR_RETURN(std::optional<AccountRecord> recorded, store->FindAccount(*account));
    // An account removed from the config still has its certificates in the store.
    if (!recorded.has_value()) return config.AccountNamedByFlag(*account).status();
  }
  ASSIGN_OR_RETURN(std::vector<CertificateRecord> certs,
                   store->ListInventory(parser.Get("agent"), account));
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
                     {"revocation_reason", c.revoked ? nlohmann::json(c.revocation_reason)
                                                     : nlohmann::json(nullptr)}});
    }
    std::cout << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat("%-40s %-12s %-12s %-25s %-8s %s\n", "SERIAL", "AGENT",
                               "ACCOUNT", "NOT AFTER", "REVOKED", "NAMES");
  for (const CertificateRecord& c : certs) {
    std::cout << absl::StrFormat("%-40s %-12s %-12s %-25s %-8s %s\n", c.serial, c.agent,
                                 c.account,
                                 absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", c.not_after,
                                                  absl::UTCTimeZone()),
                                 c.revoked ? "yes" : "no", absl::StrJoin(c.names, ","));
  }
  std::cout << certs.size() << " certificate(s)\n";
  return absl::OkStatus();
}

}  // namespace

int RunInventory(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-signer inventory --config FILE [--agent NAME] [--account NAME] [--json]");
  parser.Value("config", "FILE", "signer configuration (TOML)")
      .Value("agent", "NAME", "only this agent's certificates")
      .Value("account", "NAME", "only the certificates issued with this [[accounts]] account")
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
  if (absl::Status s = PrintInventory(parser); !s.ok()) {
    std::cerr << "acme-signer inventory: " << s.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace acme_signer::signer
