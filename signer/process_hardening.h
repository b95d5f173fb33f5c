// Tightens the signer process before it touches secrets: no core dumps, not ptrace-attachable
// by other processes of the same user (PR_SET_DUMPABLE 0), and no running as root unless the
// config allows it.
#ifndef ACME_SIGNER_SIGNER_PROCESS_HARDENING_H_
#define ACME_SIGNER_SIGNER_PROCESS_HARDENING_H_

#include "absl/status/status.h"

namespace acme_signer::signer {

// FailedPrecondition when running as uid 0 and `allow_root` is false.
absl::Status HardenProcess(bool allow_root);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_PROCESS_HARDENING_H_
