// What the acme-agent subcommands share: loading the agent config with command-line
// overrides, connecting to the signer, printing progress (or not, with --quiet; more with
// --verbose) and results (or JSON, with --json), errors in one form (Fail, UsageError), and
// the lock that keeps two runs from writing one lineage at once.
//
// Output rules, the same for every command (docs/agent.md "Output"):
//   stdout  results: text, or with --json exactly ONE JSON object, errors included:
//           {"ok": true, "command": "renew", ...result fields...}
//           {"ok": false, "command": "renew", "error": {"code": "denied", "exit_code": 3,
//            "message": "..."}, ...any partial result...}
//   stderr  progress lines (not with --quiet or --json), detail lines (--verbose, also with
//           --json), warnings and errors (also with --quiet; not with --json: errors are in
//           the JSON object, Warn()'s warnings in its "warnings" list; only a failed
//           pre/post-hook's or metrics file's warning still goes to stderr).
// --quiet prints nothing on success (nor when nothing was due); warnings and errors still go
// to stderr.
#ifndef ACME_SIGNER_AGENT_COMMAND_SUPPORT_H_
#define ACME_SIGNER_AGENT_COMMAND_SUPPORT_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/agent_config.h"
#include "agent/signer_client.h"
#include "common/cli.h"
#include "common/unique_fd.h"
#include "nlohmann/json.hpp"

namespace acme_signer::agent {

// How a command prints: --quiet, --json, --verbose. ParseOrExit records the parsed flags
// process-wide (CurrentOutput), so error paths that have no CommandContext yet (a config that
// does not load) print the same way.
struct OutputMode {
  bool quiet = false;
  bool json = false;
  bool verbose = false;
};

// The mode the last ParseOrExit saw (all false before any). Not thread-safe to change; a
// command parses once, in main's thread, before anything else runs.
const OutputMode& CurrentOutput();

// Sets CurrentOutput() from parsed flags; with `parsed` null (the flags did not parse), from
// a literal "--json" in `args` alone.
void RecordOutputMode(const ArgParser* parsed, const std::vector<std::string>& args);

struct CommandContext {
  AgentConfig config;
  std::string config_path;
  bool quiet = false;
  bool json = false;
  bool verbose = false;

  // A progress line on stderr unless --quiet or --json.
  void Progress(const std::string& line) const;
  // A detail line on stderr with --verbose (each signer/ACME step, files, hook commands).
  void Detail(const std::string& line) const;
  // A result line on stdout unless --quiet or --json.
  void Say(const std::string& line) const;
  // A warning or error line on stderr, also with --quiet; not with --json, where the caller
  // puts it in the JSON object (e.g. renew's "agent_identity" error).
  void Problem(const std::string& line) const;
};

// A warning that belongs to no one command's result (e.g. the agent's own certificate about
// to expire): "acme-agent: warning: MESSAGE" on stderr, also with --quiet; with --json kept
// for the one JSON object, whose "warnings" list (PrintJsonResult, Fail) carries it.
void Warn(const std::string& message);

// The machine-readable name of an exit code, the "code" of a --json error: "failed" (1),
// "usage" (2), "denied" (3), "unreachable" (4).
const char* ExitCodeName(int exit_code);

// The --json error member for `status` leaving with `exit_code`:
// {"code": ExitCodeName(exit_code), "exit_code": N, "message": "..."}.
nlohmann::json JsonError(const absl::Status& status, int exit_code);

// Prints a --json result: `result` with "ok": true, "command" and (when Warn() was called)
// "warnings" added, one line on stdout.
void PrintJsonResult(const std::string& command, nlohmann::json result);

// Loads --config (default /etc/acme-agent/agent.toml) and applies --config-dir.
absl::StatusOr<CommandContext> LoadContext(const ArgParser& parser);

// Whether ConnectToSigner warns about an identity past its WarningTime.
enum class ExpiryWarning {
  kWarn,
  // For the connection that renews the identity: its own result says whether it worked.
  kSkip,
};

// Connects to the signer named in the config with the agent's enrolled identity. First
// completes an interrupted identity replacement and checks the identity's dates locally
// (agent/identity.h): an expired or not yet valid certificate is a configuration problem
// (exit 2) whose message has the date and the commands that fix it; one past its WarningTime
// is warned about (Warn, once per process and certificate) with the date and the fix.
absl::StatusOr<std::unique_ptr<SignerClient>> ConnectToSigner(
    const AgentConfig& config, ExpiryWarning warning = ExpiryWarning::kWarn);

// An exclusive lock on <config-dir>/.lock held for the object's lifetime (flock). Unavailable
// when another acme-agent holds it, the errno's code (ErrnoStatus) when the lock file cannot
// be opened; both are this host's errors (exit 1), never marked as the signer's.
class RunLock {
 public:
  static absl::StatusOr<std::unique_ptr<RunLock>> Acquire(const std::string& config_dir);
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  explicit RunLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // closing it releases the lock
};

// Prints `status` as "acme-agent <command>: message" on stderr (or, with --json, the one JSON
// error object on stdout) and returns its exit code (ExitCodeFor: 3 and 4 only for statuses
// marked as the signer's). `context` may be null: CurrentOutput() then decides the form.
// `partial` (a JSON object) adds result fields to the JSON error, e.g. renew's per-lineage list.
int Fail(const CommandContext* context, const std::string& command, const absl::Status& status,
         const nlohmann::json& partial = nlohmann::json::object());

// As Fail, for a command line or configuration that cannot be used: exit 2 (kExitUsage).
// `command` "" for errors before a command is known ("acme-agent: ...").
int UsageError(const std::string& command, const absl::Status& status);

// Parses args with `parser`; on --help prints help; returns an exit code when the command
// should stop (help or usage error), nullopt to continue. Records --json/--quiet/--verbose in
// CurrentOutput() (a usage error with --json anywhere in args is a JSON object too).
std::optional<int> ParseOrExit(ArgParser& parser, const std::vector<std::string>& args,
                               const std::string& command);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_COMMAND_SUPPORT_H_
