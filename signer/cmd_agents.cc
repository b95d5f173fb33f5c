// acme-signer agents list | revoke.
//
// list: one row per [[agents]] entry and per agent that has certificates in the state store:
// identity, current certificate (the newest one not revoked), revoked state, last seen, policy.
//
// revoke: revokes a host. Every front-door EAB credential issued to it is disabled and every
// front-door ACME account registered with them is marked revoked (the front door reads the
// account on every request); every agent (mTLS) certificate recorded for it is marked revoked
// in the state store, and the running signer is asked to reload (`acme-signer reload`
// machinery, signer/serve_control.h), which loads the store's revoked fingerprints: from then
// on the handshake and every call, on new and established connections, refuse them.
//
// Works while serve runs (rows in the shared SQLite store, as enroll-client). Not written to the
// audit log by this process (only serve appends to it); the refusals that follow are.
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/cli.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "signer/agent_identity.h"
#include "signer/audit_record.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/process_hardening.h"
#include "signer/runtime.h"
#include "signer/serve_control.h"
#include "signer/state_store.h"

namespace acme_signer::signer {
namespace {

constexpr char kUsage[] =
    "usage: acme-signer agents list --config FILE [--json]\n"
    "       acme-signer agents revoke --config FILE --name NAME\n";

// How long `agents revoke` waits for the running signer's answer.
constexpr absl::Duration kReloadTimeout = absl::Seconds(10);

std::string TableTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// What `agents list` shows about one agent.
struct AgentRow {
  std::string name;
  const AgentPolicy* policy = nullptr;  // null: not in [[agents]]
  std::optional<AgentCertificateRecord> current;
  int certificates = 0;
  int revoked = 0;
  std::optional<AgentSeen> seen;
};

// Whether `cert` is refused by the signer: revoked in the store or listed in
// server.revoked_agent_certs.
bool Refused(const SignerConfig& config, const AgentCertificateRecord& cert) {
  return cert.revoked || config.server.IsRevoked(cert.sha256);
}

// "active", "expired", "revoked" (every certificate refused), "no certificate", with
// " (not configured)" for an agent without [[agents]] entry.
std::string State(const AgentRow& row, absl::Time now) {
  std::string state;
  if (row.current.has_value()) {
    state = row.current->not_after <= now ? "expired" : "active";
  } else if (row.certificates > 0) {
    state = "revoked";
  } else {
    state = "no-certificate";
  }
  if (row.policy == nullptr) absl::StrAppend(&state, ",not-configured");
  return state;
}

std::string PolicySummary(const AgentPolicy& p) {
  std::vector<std::string> parts;
  parts.push_back(absl::StrCat("names=", absl::StrJoin(p.allowed_names, ",")));
  if (p.allow_wildcard_certificates) parts.push_back("wildcards");
  parts.push_back(absl::StrCat("keys=", absl::StrJoin(p.key_types, ",")));
  parts.push_back(absl::StrCat("orders/h=", p.orders_per_hour));
  parts.push_back(absl::StrCat("max-ids=", p.max_identifiers_per_order));
  if (p.allow_sign_jws) parts.push_back("sign-jws");
  if (p.front_door) parts.push_back("front-door");
  return absl::StrJoin(parts, " ");
}

nlohmann::json RowJson(const SignerConfig& config, const AgentRow& row, absl::Time now) {
  nlohmann::json out = {
      {"name", row.name},
      {"identity", AgentUri(config.server.trust_domain, row.name)},
      {"configured", row.policy != nullptr},
      {"state", State(row, now)},
      {"certificates", row.certificates},
      {"revoked_certificates", row.revoked},
  };
  if (row.current.has_value()) {
    const AgentCertificateRecord& c = *row.current;
    out["certificate"] = {{"sha256", c.sha256},
                          {"serial", c.serial},
                          {"not_before", FormatAuditTime(c.not_before)},
                          {"not_after", FormatAuditTime(c.not_after)},
                          {"issued_at", FormatAuditTime(c.issued_at)},
                          {"source", c.source},
                          {"expired", c.not_after <= now}};
  } else {
    out["certificate"] = nullptr;
  }
  out["other_certificates"] = row.certificates - (row.current.has_value() ? 1 : 0);
  if (row.seen.has_value()) {
    out["last_seen"] = {{"time", FormatAuditTime(row.seen->at)}, {"peer", row.seen->peer}};
  } else {
    out["last_seen"] = nullptr;
  }
  if (row.policy != nullptr) {
    const AgentPolicy& p = *row.policy;
    out["policy"] = {{"allowed_names", p.allowed_names},
                     {"allow_wildcard_certificates", p.allow_wildcard_certificates},
                     {"key_types", p.key_types},
                     {"orders_per_hour", p.orders_per_hour},
                     {"max_identifiers_per_order", p.max_identifiers_per_order},
                     {"allow_sign_jws", p.allow_sign_jws},
                     {"front_door", p.front_door}};
  } else {
    out["policy"] = nullptr;
  }
  return out;
}

absl::Status ListAgents(const ArgParser& parser) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store, OpenStateStore(config));
  ASSIGN_OR_RETURN(std::vector<AgentCertificateRecord> certs, store->ListAgentCertificates());
  ASSIGN_OR_RETURN(std::vector<AgentSeen> seen, store->ListAgentsSeen());
  const absl::Time now = absl::Now();

  // Config order first, then agents only the store knows, by name.
  std::vector<AgentRow> rows;
  std::map<std::string, size_t> index;
  for (const AgentPolicy& policy : config.agents) {
    index[policy.name] = rows.size();
    rows.push_back(AgentRow{policy.name, &policy, std::nullopt, 0, 0, std::nullopt});
  }
  std::map<std::string, std::vector<const AgentCertificateRecord*>> unconfigured;
  for (const AgentCertificateRecord& cert : certs) {
    if (!index.contains(cert.agent)) unconfigured[cert.agent].push_back(&cert);
  }
  for (const auto& [name, unused] : unconfigured) {
    index[name] = rows.size();
    rows.push_back(AgentRow{name, nullptr, std::nullopt, 0, 0, std::nullopt});
  }
  // Oldest issue first, so the last certificate not refused is the newest.
  for (const AgentCertificateRecord& cert : certs) {
    AgentRow& row = rows[index[cert.agent]];
    ++row.certificates;
    if (Refused(config, cert)) {
      ++row.revoked;
    } else {
      row.current = cert;
    }
  }
  for (const AgentSeen& s : seen) {
    auto it = index.find(s.agent);
    if (it != index.end()) rows[it->second].seen = s;
  }

  if (parser.Has("json")) {
    nlohmann::json out = nlohmann::json::array();
    for (const AgentRow& row : rows) out.push_back(RowJson(config, row, now));
    std::cout << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat("%-16s %-16s %-21s %-18s %-6s %s\n", "NAME", "STATE",
                               "CERTIFICATE EXPIRES", "FINGERPRINT", "CERTS", "LAST SEEN");
  for (const AgentRow& row : rows) {
    const std::string expires = row.current.has_value() ? TableTime(row.current->not_after) : "-";
    const std::string fingerprint =
        row.current.has_value() ? absl::StrCat(row.current->sha256.substr(0, 16), "..") : "-";
    const std::string certificates =
        row.revoked > 0 ? absl::StrCat(row.certificates, "/", row.revoked, "r")
                        : absl::StrCat(row.certificates);
    const std::string last_seen =
        row.seen.has_value() ? absl::StrCat(TableTime(row.seen->at), " from ", row.seen->peer)
                             : "never";
    std::cout << absl::StrFormat("%-16s %-16s %-21s %-18s %-6s %s\n", row.name, State(row, now),
                                 expires, fingerprint, certificates, last_seen);
    std::cout << "    " << AgentUri(config.server.trust_domain, row.name) << "  "
              << (row.policy != nullptr ? PolicySummary(*row.policy)
                                        : "no [[agents]] entry: refused")
              << "\n";
  }
  std::cout << rows.size() << " agent(s); CERTS: issued/revoked (r); --json for full "
               "fingerprints\n";
  return absl::OkStatus();
}

absl::Status RevokeHost(const ArgParser& parser) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  RETURN_IF_ERROR(HardenProcess(/*allow_root=*/true));
  const std::string name = *parser.Get("name");
  RETURN_IF_ERROR(ValidateAgentName(name));
  RuntimeParts parts;
  parts.store = true;
  ASSIGN_OR_RETURN(std::unique_ptr<SignerRuntime> runtime, SignerRuntime::Open(config, parts));
  ASSIGN_OR_RETURN(int credentials, runtime->store->DisableFrontDoorCredentials(name));
  ASSIGN_OR_RETURN(int accounts, runtime->store->RevokeFrontDoorAccounts(name));
  ASSIGN_OR_RETURN(int agent_certs, runtime->store->RevokeAgentCertificates(name, absl::Now()));
  std::cout << "host " << name << ": " << credentials
            << " front-door credential(s) disabled, " << accounts
            << " front-door account(s) revoked (refused from their next request on), "
            << agent_certs << " agent certificate(s) revoked\n";

  absl::StatusOr<ReloadOutcome> reload = RequestReload(config, kReloadTimeout);
  if (!reload.ok()) {
    return absl::Status(
        reload.status().code(),
        absl::StrCat("the revocation is recorded, but the running signer was not reloaded: ",
                     reload.status().message(), "; run `acme-signer reload --config ",
                     config.source, "` (or send it SIGHUP)"));
  }
  switch (reload->kind) {
    case ReloadOutcome::Kind::kNotRunning:
      std::cout << "no signer running: the revoked certificates are refused from its next "
                   "start on\n";
      break;
    case ReloadOutcome::Kind::kAccepted:
      std::cout << "reload accepted by the running signer (pid " << reload->pid
                << "): its agent certificates are refused from now on, on open connections "
                   "too\n";
      break;
    case ReloadOutcome::Kind::kRefused:
      if (!reload->status.store_loaded) {
        return absl::InternalError(absl::StrCat(
            "the revocation is recorded, but the running signer (pid ", reload->pid,
            ") could not load it: ", reload->status.message));
      }
      std::cout << "the running signer (pid " << reload->pid
                << ") loaded the revocation (its agent certificates are refused from now on), "
                   "but refused to reload its configuration: "
                << reload->status.message << "\n";
      break;
  }
  if (config.FindAgent(name) != nullptr) {
    std::cout << "its [[agents]] entry is still in " << config.source
              << ": to stop the host altogether, remove the entry and run `acme-signer reload "
                 "--config "
              << config.source
              << "`; certificates issued before the signer recorded agent certificates are "
                 "not in the state store: list their SHA-256 fingerprints in "
                 "server.revoked_agent_certs\n";
  }
  return absl::OkStatus();
}

}  // namespace

int RunAgents(const std::vector<std::string>& args) {
  if (args.empty() || (args[0] != "revoke" && args[0] != "list")) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  const bool list = args[0] == "list";
  const std::string command = absl::StrCat("acme-signer agents ", args[0]);
  ArgParser parser(list ? "acme-signer agents list --config FILE [--json]"
                        : "acme-signer agents revoke --config FILE --name NAME");
  parser.Value("config", "FILE", "signer configuration (TOML)").Required("config");
  if (list) {
    parser.Bool("json", "print a JSON array instead of a table");
  } else {
    parser.Value("name", "NAME", "the host's [[agents]] name").Required("name");
  }
  if (absl::Status s = parser.Parse({args.begin() + 1, args.end()}); !s.ok()) {
    std::cerr << command << ": " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  if (absl::Status s = list ? ListAgents(parser) : RevokeHost(parser); !s.ok()) {
    std::cerr << command << ": " << s.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace acme_signer::signer
