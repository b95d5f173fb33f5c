// acme-signer account list: one row per [[accounts]] entry (then accounts only the state store
// still knows): name, directory URL, account URL, key type, key thumbprint, status,
// certificates issued with it, and whether `acme-signer init` registered it.
//
// Read-only: the state store (shared SQLite, as `agents list`) and the config; the thumbprint
// is the one recorded at registration / key rollover (AccountRecord::key_thumbprint), so the
// HSM is not opened and the command works while serve runs.
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/cli.h"
#include "common/status_macros.h"
#include "hsm/key_type.h"
#include "nlohmann/json.hpp"
#include "signer/audit_record.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/runtime.h"
#include "signer/state_store.h"

namespace acme_signer::signer {
namespace {

struct AccountRow {
  std::string name;
  const AccountConfig* config = nullptr;  // null: only in the store
  std::optional<AccountRecord> record;
  int certificates = 0;

  bool registered() const { return record.has_value() && !record->account_url.empty(); }
  std::string status() const {
    if (!registered()) return "not-registered";
    return record->status.empty() ? "valid" : record->status;
  }
  std::string directory_url() const {
    if (config != nullptr) return config->directory_url;
    return record.has_value() ? record->directory_url : "";
  }
};

nlohmann::json RowJson(const AccountRow& row) {
  auto or_null = [](const std::string& s) {
    return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
  };
  nlohmann::json out = {
      {"name", row.name},
      {"configured", row.config != nullptr},
      {"directory_url", row.directory_url()},
      {"registered", row.registered()},
      {"status", row.status()},
      {"certificates", row.certificates},
      {"key_type", row.config != nullptr ? nlohmann::json(hsm::KeyTypeName(row.config->key_type))
                                         : nlohmann::json(nullptr)},
      {"key", row.config != nullptr ? nlohmann::json(row.config->key) : nlohmann::json(nullptr)},
  };
  out["account_url"] = row.record.has_value() ? or_null(row.record->account_url) : nullptr;
  out["key_thumbprint"] = row.record.has_value() ? or_null(row.record->key_thumbprint) : nullptr;
  out["registered_at"] = row.registered() && row.record->registered_at != absl::InfinitePast()
                             ? nlohmann::json(FormatAuditTime(row.record->registered_at))
                             : nlohmann::json(nullptr);
  out["updated_at"] = row.record.has_value() && row.record->updated_at != absl::InfinitePast()
                          ? nlohmann::json(FormatAuditTime(row.record->updated_at))
                          : nlohmann::json(nullptr);
  out["rollover_in_progress"] = row.record.has_value() && !row.record->rollover_new_key.empty();
  return out;
}

absl::Status ListAccounts(const ArgParser& parser) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store, OpenStateStore(config));
  ASSIGN_OR_RETURN(std::vector<AccountRecord> records, store->ListAccounts());
  ASSIGN_OR_RETURN(std::vector<CertificateRecord> certificates, store->ListInventory());

  // Config order first, then accounts only the store knows, by name.
  std::vector<AccountRow> rows;
  std::map<std::string, size_t> index;
  for (const AccountConfig& account : config.accounts) {
    index[account.name] = rows.size();
    rows.push_back(AccountRow{account.name, &account, std::nullopt, 0});
  }
  std::map<std::string, const AccountRecord*> unconfigured;
  for (const AccountRecord& record : records) {
    auto it = index.find(record.name);
    if (it != index.end()) {
      rows[it->second].record = record;
    } else {
      unconfigured[record.name] = &record;
    }
  }
  for (const auto& [name, record] : unconfigured) {
    index[name] = rows.size();
    rows.push_back(AccountRow{name, nullptr, *record, 0});
  }
  int other = 0;  // certificates of an account neither configured nor recorded
  for (const CertificateRecord& certificate : certificates) {
    auto it = index.find(certificate.account);
    if (it != index.end()) {
      ++rows[it->second].certificates;
    } else {
      ++other;
    }
  }

  if (parser.Has("json")) {
    nlohmann::json out = nlohmann::json::array();
    for (const AccountRow& row : rows) out.push_back(RowJson(row));
    std::cout << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat("%-12s %-15s %-9s %-6s %-45s %s\n", "NAME", "STATUS", "KEY", "CERTS",
                               "KEY THUMBPRINT", "DIRECTORY");
  for (const AccountRow& row : rows) {
    std::cout << absl::StrFormat(
        "%-12s %-15s %-9s %-6d %-45s %s\n", row.name,
        absl::StrCat(row.status(), row.config == nullptr ? ",not-configured" : ""),
        row.config != nullptr ? hsm::KeyTypeName(row.config->key_type) : "-", row.certificates,
        row.record.has_value() && !row.record->key_thumbprint.empty() ? row.record->key_thumbprint
                                                                      : "-",
        row.directory_url());
    if (row.registered()) {
      std::cout << "    account URL: " << row.record->account_url << "\n";
    } else {
      std::cout << "    not registered: run `acme-signer init --config " << config.source
                << " --account " << row.name << "`\n";
    }
    if (row.record.has_value() && !row.record->rollover_new_key.empty()) {
      std::cout << "    key rollover in progress to " << row.record->rollover_new_key << "\n";
    }
  }
  std::cout << rows.size() << " account(s); CERTS: certificates issued with the account";
  if (other > 0) std::cout << " (" << other << " more of accounts not listed)";
  std::cout << "\n";
  return absl::OkStatus();
}

}  // namespace

int RunAccountList(const std::vector<std::string>& args) {
  ArgParser parser("acme-signer account list --config FILE [--json]");
  parser.Value("config", "FILE", "signer configuration (TOML)")
      .Bool("json", "print a JSON array instead of a table")
      .Required("config");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer account list: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  if (absl::Status s = ListAccounts(parser); !s.ok()) {
    std::cerr << "acme-signer account list: " << s.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace acme_signer::signer
