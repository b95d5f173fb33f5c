// The audit record of a reload of `acme-signer serve` (SIGHUP: `acme-signer reload`,
// `systemctl reload`, `kill -HUP`). Policy lives in the config file, so every change of policy
// an auditor must be able to see goes through here: rpc "Admin/reload", the sender of the
// signal as agent ("admin:<user>", signer/admin_identity.h), decision allow when the new
// configuration is in force and deny when it was refused (the running one kept), the reason
// the daemon gave, and the SHA-256 of the config file as it was read, so an auditor can match
// a policy to the file an operator kept.
//
// Thread-safety: a free function.
#ifndef ACME_SIGNER_SIGNER_RELOAD_AUDIT_H_
#define ACME_SIGNER_SIGNER_RELOAD_AUDIT_H_

#include <sys/types.h>

#include <string>

#include "signer/audit_record.h"
#include "signer/serve_control.h"

namespace acme_signer::signer {

inline constexpr char kReloadAuditRpc[] = "Admin/reload";

// `config_text` is the file's content as serve read it for this reload (empty when it could
// not be read: the reason then says so).
AuditRecord ReloadAuditRecord(const ReloadStatus& status, const std::string& config_text,
                              uid_t sender_uid, pid_t sender_pid);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_RELOAD_AUDIT_H_
