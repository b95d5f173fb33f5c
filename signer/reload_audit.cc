#include "signer/reload_audit.h"

#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "signer/admin_identity.h"

namespace acme_signer::signer {

AuditRecord ReloadAuditRecord(const ReloadStatus& status, const std::string& config_text,
                              uid_t sender_uid, pid_t sender_pid) {
  AuditRecord record;
  record.agent = AdminIdentity(sender_uid);
  record.peer = absl::StrCat("pid:", sender_pid);
  record.rpc = kReloadAuditRpc;
  record.decision = status.result == "ok" ? AuditDecision::kAllow : AuditDecision::kDeny;
  record.reason = absl::StrCat(
      status.message, "; config sha256 ",
      config_text.empty() ? std::string("(unreadable)") : Sha256Hex(config_text));
  return record;
}

}  // namespace acme_signer::signer
