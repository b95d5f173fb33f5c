// The `acme-signer audit` subcommands that answer questions from the log alone (no HSM, no
// PIN, no state store): `audit query` and `audit checkpoint`. RunAudit (signer/cmd_audit.cc)
// dispatches to them; each takes the arguments after its subcommand name and returns the
// process exit code (signer/commands.h).
#ifndef ACME_SIGNER_SIGNER_CMD_AUDIT_QUERY_H_
#define ACME_SIGNER_SIGNER_CMD_AUDIT_QUERY_H_

#include <string>
#include <vector>

namespace acme_signer::signer {

int RunAuditQuery(const std::vector<std::string>& args);
int RunAuditCheckpoint(const std::vector<std::string>& args);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_CMD_AUDIT_QUERY_H_
