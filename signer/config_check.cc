#include "signer/config_check.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/config_paths.h"
#include "common/toml_reader.h"

namespace acme_signer::signer {
namespace {

constexpr absl::string_view kProblemsHeader = "invalid configuration:\n";
constexpr absl::string_view kInitWrites = "(acme-signer init writes it)";

PathRequirement ReadableFile() { return PathRequirement(); }

PathRequirement PrivateFile() {
  PathRequirement want;
  want.private_mode = true;
  return want;
}

// The PIN file: only its existence and mode; check-config never opens it.
PathRequirement PinFile() {
  PathRequirement want;
  want.readable = false;
  want.private_mode = true;
  return want;
}

PathRequirement WritableDirectory() {
  PathRequirement want;
  want.kind = PathRequirement::Kind::kDirectory;
  want.writable = true;
  return want;
}

// The "[[accounts]]" dotted prefix of an account: "accounts[i]", or "acme" for the legacy
// section (whose keys sit in [acme]).
std::string AccountPrefix(const AccountConfig& account) { return account.config_key; }

void CheckPaths(const SignerConfig& config, ConfigPathChecker& check) {
  check.Check("server.tls_cert", config.server.tls_cert, ReadableFile(), kInitWrites);
  check.Check("server.tls_key", config.server.tls_key, PrivateFile(), kInitWrites);
  check.Check("server.agent_ca_cert", config.server.agent_ca_cert, ReadableFile(), kInitWrites);
  check.Check("hsm.pin_file", config.hsm.pin_file, PinFile());
  // A module given by path must exist; a p11-kit module name is resolved by p11-kit at start.
  if (std::filesystem::path(config.hsm.module).is_absolute()) {
    check.Check("hsm.module", config.hsm.module, ReadableFile());
  }
  for (const AccountConfig& account : config.accounts) {
    if (account.ca_bundle.has_value()) {
      check.Check(absl::StrCat(AccountPrefix(account), ".ca_bundle"), *account.ca_bundle,
                  ReadableFile());
    }
  }
  // With PostgreSQL too: the dir holds serve's pid and reload status files.
  check.Check("state.dir", config.state.dir, WritableDirectory());
  if (!config.audit.log.empty()) {
    const std::string log_dir = std::filesystem::path(config.audit.log).parent_path().string();
    if (std::optional<std::string> problem = PathProblem(log_dir, WritableDirectory());
        problem.has_value()) {
      check.Report("audit.log", absl::StrCat("its directory ", *problem));
    }
  }
  if (config.acme_server.has_value()) {
    const AcmeServerConfig& door = *config.acme_server;
    check.Check("acme_server.tls_certificate", door.tls_certificate, ReadableFile());
    check.Check("acme_server.tls_private_key", door.tls_private_key, PrivateFile());
    if (door.upstream_dns01_hook.has_value()) {
      PathRequirement executable;
      executable.executable = true;
      check.Check("acme_server.upstream_dns01_hook", *door.upstream_dns01_hook, executable);
    }
  }
}

std::vector<std::string> Summary(const SignerConfig& config) {
  std::vector<std::string> lines;
  std::vector<std::string> agents;
  for (const AgentPolicy& agent : config.agents) agents.push_back(agent.name);
  lines.push_back(absl::StrCat("agents: ", agents.size(),
                               agents.empty() ? "" : absl::StrCat(" (", absl::StrJoin(agents, ", "), ")")));
  std::vector<std::string> accounts;
  for (const AccountConfig& account : config.accounts) {
    accounts.push_back(absl::StrCat(account.name, " ", account.directory_url));
  }
  lines.push_back(absl::StrCat("accounts: ", accounts.size(), " (", absl::StrJoin(accounts, ", "),
                               ")"));
  std::vector<std::string> listeners = {absl::StrCat("agents (gRPC, mTLS) ", config.server.listen)};
  if (config.server.enroll_listen.has_value()) {
    listeners.push_back(absl::StrCat("token enrolment ", *config.server.enroll_listen));
  }
  if (config.acme_server.has_value()) {
    listeners.push_back(absl::StrCat("ACME front door ", config.acme_server->listen));
  }
  if (config.metrics.has_value()) {
    listeners.push_back(
        absl::StrCat("metrics http://", config.metrics->listen, config.metrics->path));
  }
  lines.push_back(absl::StrCat("listeners: ", absl::StrJoin(listeners, ", ")));
  lines.push_back(absl::StrCat(
      "state: ", config.state.backend == StateConfig::Backend::kSqlite ? "sqlite in " : "postgresql, dir ",
      config.state.dir, ", replica ", config.state.ReplicaName()));
  return lines;
}

}  // namespace

ConfigCheckResult CheckSignerConfig(absl::string_view text, const std::string& source) {
  ConfigCheckResult result;
  absl::StatusOr<SignerConfig> config = ParseSignerConfig(text, source);
  if (!config.ok()) {
    absl::string_view message = config.status().message();
    if (absl::StartsWith(message, kProblemsHeader)) message.remove_prefix(kProblemsHeader.size());
    result.problems = absl::StrSplit(message, '\n', absl::SkipEmpty());
    return result;
  }
  // It parsed, so the TOML is well-formed; the document is read again only for key lines.
  absl::StatusOr<toml::table> doc = ParseToml(text, source);
  if (!doc.ok()) {
    result.problems.push_back(std::string(doc.status().message()));
    return result;
  }
  ConfigPathChecker check(source, *doc);
  CheckPaths(*config, check);
  result.problems = check.problems();
  result.summary = Summary(*config);
  return result;
}

}  // namespace acme_signer::signer
