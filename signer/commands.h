// The acme-signer subcommands. Each takes the arguments after its name, prints results to
// stdout and errors to stderr, and returns the process exit code:
//   0 success, 1 failure (the message says what and what to do), 2 bad usage,
//   3 (audit verify) the log is damaged or tampered with,
//   78 (EX_CONFIG, from sysexits.h; serve and init) a start-up error that restarting cannot
//   fix: bad config, PIN rejected or PIN file exposed, token or key missing, an audit log
//   that fails its start-up verification (tampered, truncated, a file missing; see
//   StartupExitCode in signer/runtime.h). deploy/acme-signer.service lists it in
//   RestartPreventExitStatus so systemd does not restart the signer in a loop that hammers
//   the HSM with the same wrong PIN.
#ifndef ACME_SIGNER_SIGNER_COMMANDS_H_
#define ACME_SIGNER_SIGNER_COMMANDS_H_

#include <string>
#include <vector>

namespace acme_signer::signer {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitAuditBad = 3;
inline constexpr int kExitConfig = 78;

int RunInit(const std::vector<std::string>& args);
int RunServe(const std::vector<std::string>& args);
int RunEnrollAgent(const std::vector<std::string>& args);
int RunEnrollClient(const std::vector<std::string>& args);
int RunAudit(const std::vector<std::string>& args);
// `acme-signer audit report`: the auditor's HTML report (signer/cmd_audit_report.cc).
int RunAuditReport(const std::vector<std::string>& args);
int RunInventory(const std::vector<std::string>& args);
int RunAgents(const std::vector<std::string>& args);
int RunReload(const std::vector<std::string>& args);
// `acme-signer check-config --config F`: signer/config_check.h.
int RunCheckConfig(const std::vector<std::string>& args);
// `acme-signer migrate --config F`: creates or upgrades the state store's schema.
int RunMigrate(const std::vector<std::string>& args);
// `acme-signer account list|roll-key|deactivate|caa`: dispatches to the four below (each gets
// the arguments after its subcommand name).
int RunAccount(const std::vector<std::string>& args);
int RunAccountList(const std::vector<std::string>& args);
int RunAccountRollKey(const std::vector<std::string>& args);
int RunAccountDeactivate(const std::vector<std::string>& args);
int RunAccountCaa(const std::vector<std::string>& args);
// `acme-signer backup` / `restore` (signer/backup.h, signer/backup_restore.h).
int RunBackup(const std::vector<std::string>& args);
int RunRestore(const std::vector<std::string>& args);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_COMMANDS_H_
