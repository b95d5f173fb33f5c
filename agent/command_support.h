// What the acme-agent subcommands share: loading the agent config with command-line
// overrides, connecting to the signer, printing progress (or not, with --quiet) and results
// (or JSON, with --json), and the lock that keeps two runs from writing one lineage at once.
#ifndef ACME_SIGNER_AGENT_COMMAND_SUPPORT_H_
#define ACME_SIGNER_AGENT_COMMAND_SUPPORT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/agent_config.h"
#include "agent/signer_client.h"
#include "common/cli.h"
#include "nlohmann/json.hpp"

namespace acme_signer::agent {

struct CommandContext {
  AgentConfig config;
  std::string config_path;
  bool quiet = false;
  bool json = false;

  // A progress line on stderr unless --quiet or --json.
  void Progress(const std::string& line) const;
  // A result line on stdout unless --json.
  void Say(const std::string& line) const;
};

// Loads --config (default /etc/acme-agent/agent.toml) and applies --config-dir.
absl::StatusOr<CommandContext> LoadContext(const ArgParser& parser);

// Connects to the signer named in the config with the agent's enrolled identity. First
// completes an interrupted identity replacement and checks the identity's dates locally
// (agent/identity.h): an expired or not yet valid certificate is a configuration problem
// (exit 2) whose message has the date and the commands that fix it.
absl::StatusOr<std::unique_ptr<SignerClient>> ConnectToSigner(const AgentConfig& config);

// An exclusive lock on <config-dir>/.lock held for the object's lifetime (flock). Unavailable
// when another acme-agent holds it, the errno's code (ErrnoStatus) when the lock file cannot
// be opened; both are this host's errors (exit 1), never marked as the signer's.
class RunLock {
 public:
  static absl::StatusOr<std::unique_ptr<RunLock>> Acquire(const std::string& config_dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_;
};

// Prints `status` as "acme-agent <command>: message" (or a JSON error object with --json) and
// returns its exit code (ExitCodeFor: 3 and 4 only for statuses marked as the signer's).
int Fail(const CommandContext* context, const std::string& command, const absl::Status& status);

// Parses args with `parser`; on --help prints help; returns an exit code when the command
// should stop (help or usage error), nullopt to continue.
std::optional<int> ParseOrExit(ArgParser& parser, const std::vector<std::string>& args,
                               const std::string& command);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_COMMAND_SUPPORT_H_
