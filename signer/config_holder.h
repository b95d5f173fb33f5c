// ConfigHolder: the signer's current configuration, swapped atomically on SIGHUP.
// Readers take a snapshot (shared_ptr) per call, so a reload never changes the policy under a
// request that is already running. Thread-safe.
#ifndef ACME_SIGNER_SIGNER_CONFIG_HOLDER_H_
#define ACME_SIGNER_SIGNER_CONFIG_HOLDER_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "signer/config.h"

namespace acme_signer::signer {

class ConfigHolder {
 public:
  explicit ConfigHolder(SignerConfig config)
      : current_(std::make_shared<const SignerConfig>(std::move(config))) {}

  std::shared_ptr<const SignerConfig> Get() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return current_;
  }

  // Loads `path` again. On success the new config replaces the old one for every later call;
  // on any error the old config stays in force and the error (naming key and line) is
  // returned. Settings that only take effect at start-up (listen and enroll_listen addresses,
  // TLS files, gRPC server limits, HSM, state and audit paths, every [acme_server] key and the
  // section's presence) must not change: a reload that changes them is refused (FailedPrecondition
  // naming the key). The hosts' policies and front_door flags reload.
  absl::Status Reload(const std::string& path) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const SignerConfig> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_CONFIG_HOLDER_H_
