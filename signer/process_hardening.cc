#include "signer/process_hardening.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

#include "common/files.h"

namespace acme_signer::signer {

absl::Status HardenProcess(bool allow_root) {
  if (::geteuid() == 0 && !allow_root) {
    return absl::FailedPreconditionError(
        "refusing to run as root: run as the acme-signer user (see deploy/acme-signer.service), "
        "or set server.allow_root = true");
  }
  struct rlimit no_core = {0, 0};
  if (::setrlimit(RLIMIT_CORE, &no_core) != 0) return ErrnoStatus(errno, "setrlimit(RLIMIT_CORE)");
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return ErrnoStatus(errno, "prctl(PR_SET_DUMPABLE)");
  return absl::OkStatus();
}

}  // namespace acme_signer::signer
