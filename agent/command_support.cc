#include "agent/command_support.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <set>

#include "absl/strings/str_cat.h"
#include "agent/commands.h"
#include "agent/identity.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace acme_signer::agent {

namespace {

OutputMode& MutableOutput() {
  static OutputMode mode;
  return mode;
}

// Warn()'s messages waiting for the --json object.
std::vector<std::string>& PendingWarnings() {
  static std::vector<std::string> warnings;
  return warnings;
}

// Adds "warnings" to a --json object when Warn() was called.
void AddWarnings(nlohmann::json& out) {
  if (!PendingWarnings().empty()) out["warnings"] = PendingWarnings();
}

// Warns once per process about the identity certificate `cert` when it is past its
// WarningTime: `run` connects for every pass.
void WarnIfIdentityExpiring(const AgentConfig& config, const IdentityCertificate& cert) {
  static std::set<std::string> warned;
  std::optional<std::string> warning = IdentityExpiryWarning(config, cert, absl::Now());
  if (!warning.has_value() || !warned.insert(cert.sha256).second) return;
  Warn(*warning);
}

}  // namespace

const OutputMode& CurrentOutput() { return MutableOutput(); }

void RecordOutputMode(const ArgParser* parsed, const std::vector<std::string>& args) {
  OutputMode& mode = MutableOutput();
  if (parsed == nullptr) {
    // The flags did not parse, so --json is looked for by hand: a script that asked for JSON
    // gets JSON even for a typo.
    mode = OutputMode();
    mode.json = std::find(args.begin(), args.end(), "--json") != args.end();
    return;
  }
  mode.quiet = parsed->Has("quiet");
  mode.json = parsed->Has("json");
  mode.verbose = parsed->Has("verbose");
}

void CommandContext::Progress(const std::string& line) const {
  if (!quiet && !json) std::cerr << line << std::endl;
}

void CommandContext::Detail(const std::string& line) const {
  if (verbose) std::cerr << "  [verbose] " << line << std::endl;
}

void CommandContext::Say(const std::string& line) const {
  if (!quiet && !json) std::cout << line << std::endl;
}

void CommandContext::Problem(const std::string& line) const {
  if (!json) std::cerr << line << std::endl;
}

void Warn(const std::string& message) {
  if (CurrentOutput().json) {
    PendingWarnings().push_back(message);
  } else {
    std::cerr << "acme-agent: warning: " << message << std::endl;
  }
}

const char* ExitCodeName(int exit_code) {
  switch (exit_code) {
    case kExitOk:
      return "ok";
    case kExitUsage:
      return "usage";
    case kExitDenied:
      return "denied";
    case kExitUnreachable:
      return "unreachable";
    default:
      return "failed";
  }
}

nlohmann::json JsonError(const absl::Status& status, int exit_code) {
  return {{"code", ExitCodeName(exit_code)},
          {"exit_code", exit_code},
          {"message", std::string(status.message())}};
}

void PrintJsonResult(const std::string& command, nlohmann::json result) {
  nlohmann::json out = {{"ok", true}, {"command", command}};
  for (auto& [key, value] : result.items()) {
    if (key != "ok" && key != "command") out[key] = std::move(value);
  }
  AddWarnings(out);
  std::cout << out.dump() << std::endl;
}

// Exit codes 3 and 4 blame the signer, so only a status the signer client marked may have
// them: the same absl codes come from this host too (ErrnoStatus makes EACCES and EROFS
// PermissionDenied; lock contention is Unavailable), and a local fault that exits "refused by
// policy" or "signer unreachable" sends the operator to the wrong machine.
int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  if (IsConfigProblem(status)) return kExitUsage;
  if (!IsFromSigner(status)) return kExitFailure;
  switch (status.code()) {
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return kExitDenied;
    case absl::StatusCode::kUnavailable:
      return kExitUnreachable;
    default:
      return kExitFailure;
  }
}

void AddCommonOptions(ArgParser& parser) {
  parser.Value("config", "FILE", "agent configuration (default /etc/acme-agent/agent.toml)", 'c')
      .Value("config-dir", "DIR", "where certificates live (default: config_dir, /etc/acme-agent)")
      .Bool("quiet", "print nothing but errors (also nothing when nothing was due)", 'q')
      .Bool("verbose", "print each step in detail on stderr (signer, ACME, files, hooks)", 'v')
      .Bool("json", "print the result, or the error, as one JSON object on stdout")
      .Bool("non-interactive", "never prompt (acme-agent never does; accepted for certbot)", 'n');
}

absl::StatusOr<CommandContext> LoadContext(const ArgParser& parser) {
  CommandContext context;
  context.config_path = parser.GetOr("config", kDefaultAgentConfigPath);
  ASSIGN_OR_RETURN(context.config, LoadAgentConfig(context.config_path));
  if (parser.Has("config-dir")) context.config.config_dir = *parser.Get("config-dir");
  context.quiet = parser.Has("quiet");
  context.json = parser.Has("json");
  context.verbose = parser.Has("verbose");
  context.Detail(absl::StrCat("config ", context.config_path, "; certificates in ",
                              context.config.config_dir, "; signer ",
                              context.config.signer.address));
  return context;
}

absl::StatusOr<std::unique_ptr<SignerClient>> ConnectToSigner(const AgentConfig& config,
                                                              ExpiryWarning warning) {
  // The identity is checked here, before any connection: the signer would only fail the
  // handshake, which reads as "unreachable".
  RETURN_IF_ERROR(FinishInterruptedIdentityReplacement(config).status());
  if (absl::StatusOr<IdentityCertificate> identity = ReadIdentityCertificate(config);
      identity.ok()) {
    RETURN_IF_ERROR(CheckIdentityUsable(config, *identity, absl::Now()));
    if (warning == ExpiryWarning::kWarn) WarnIfIdentityExpiring(config, *identity);
  }
  SignerConnection connection;
  connection.address = config.signer.address;
  connection.ca_cert = config.signer.ca;
  connection.server_name = config.signer.tls_server_name;
  connection.client_cert = config.identity.cert;
  connection.client_key = config.identity.key;
  connection.retry_window = config.signer.retry_window;
  if (CurrentOutput().verbose) {
    std::cerr << "  [verbose] connecting to the signer at " << connection.address
              << " (mutual TLS: client certificate " << connection.client_cert << ", CA "
              << connection.ca_cert << ")" << std::endl;
  }
  absl::StatusOr<std::unique_ptr<SignerClient>> client = SignerClient::Connect(connection);
  if (!client.ok() && client.status().code() == absl::StatusCode::kNotFound) {
    return absl::FailedPreconditionError(absl::StrCat(
        client.status().message(),
        " (has this host been enrolled? run `acme-agent enroll` and have the operator sign the "
        "CSR with `acme-signer enroll-agent`)"));
  }
  return client;
}

absl::StatusOr<std::unique_ptr<RunLock>> RunLock::Acquire(const std::string& config_dir) {
  ::mkdir(config_dir.c_str(), 0755);
  const std::string path = absl::StrCat(config_dir, "/.lock");
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("cannot open lock file ", path));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    return absl::UnavailableError(
        absl::StrCat("another acme-agent is running (", path, " is locked); try again later"));
  }
  return std::unique_ptr<RunLock>(new RunLock(std::move(fd)));
}

namespace {

int PrintError(bool json, const std::string& command, const absl::Status& status, int exit_code,
               const nlohmann::json& partial) {
  if (json) {
    nlohmann::json out = {{"ok", false}};
    if (!command.empty()) out["command"] = command;
    if (partial.is_object()) {
      for (const auto& [key, value] : partial.items()) {
        if (key != "ok" && key != "command" && key != "error") out[key] = value;
      }
    }
    out["error"] = JsonError(status, exit_code);
    AddWarnings(out);
    std::cout << out.dump() << std::endl;
  } else {
    std::cerr << "acme-agent" << (command.empty() ? "" : " ") << command << ": " << status.message()
              << std::endl;
  }
  return exit_code;
}

}  // namespace

int Fail(const CommandContext* context, const std::string& command, const absl::Status& status,
         const nlohmann::json& partial) {
  const bool json = context != nullptr ? context->json : CurrentOutput().json;
  return PrintError(json, command, status, ExitCodeFor(status), partial);
}

int UsageError(const std::string& command, const absl::Status& status) {
  return PrintError(CurrentOutput().json, command, status, kExitUsage, nlohmann::json::object());
}

std::optional<int> ParseOrExit(ArgParser& parser, const std::vector<std::string>& args,
                               const std::string& command) {
  const absl::Status parsed = parser.Parse(args);
  RecordOutputMode(parsed.ok() ? &parser : nullptr, args);
  if (!parsed.ok()) return UsageError(command, parsed);
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  return std::nullopt;
}

}  // namespace acme_signer::agent
