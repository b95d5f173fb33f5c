// The acme-agent subcommands. Each takes the arguments after its name and returns the exit
// code. Exit codes (documented in docs/agent.md):
//   0 success (also: nothing was due)
//   1 failure (the message says what happened and what to do): either nothing was installed
//     and the previous certificate and key are left exactly as they were, or a new
//     certificate was installed and made live but its deploy hook failed (the message says so)
//   2 bad usage or configuration (also: this agent's own certificate has expired or is not
//     yet valid, or [signer] ca is not the CA that signed the signer's certificate)
//   3 refused by the signer's policy (the message names the refused name)
//   4 the signer could not be reached
#ifndef ACME_SIGNER_AGENT_COMMANDS_H_
#define ACME_SIGNER_AGENT_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/cli.h"

namespace acme_signer::agent {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitDenied = 3;
inline constexpr int kExitUnreachable = 4;

// The exit code for a failed operation's status: kExitDenied / kExitUnreachable only for
// statuses the signer client marked as the signer's (IsFromSigner in agent/signer_client.h),
// everything local (files, locks, the CA in direct mode) is kExitFailure.
int ExitCodeFor(const absl::Status& status);

// Adds the options every subcommand takes: --config, --config-dir, --quiet, --verbose, --json,
// --non-interactive.
void AddCommonOptions(ArgParser& parser);

int RunEnroll(const std::vector<std::string>& args);
int RunCertonly(const std::vector<std::string>& args);
int RunRenew(const std::vector<std::string>& args);
int RunLoop(const std::vector<std::string>& args);  // `acme-agent run`
int RunRevoke(const std::vector<std::string>& args);
int RunDelete(const std::vector<std::string>& args);
int RunReconfigure(const std::vector<std::string>& args);
int RunCertificates(const std::vector<std::string>& args);
int RunAccount(const std::vector<std::string>& args);  // `acme-agent account`
int RunCheckConfig(const std::vector<std::string>& args);  // agent/config_check.h

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_COMMANDS_H_
