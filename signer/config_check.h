// `acme-signer check-config`: everything that can be known about a signer configuration
// without the HSM PIN and without starting anything. First ParseSignerConfig's problems (every
// one, "file:line: key: what"); when the file parses, the files and directories it names
// (common/config_paths.h): certificates and the agent CA readable, private keys and the PIN
// file private (0600/0400; the PIN file is never opened), CA bundles readable, the upstream
// dns-01 hook executable, the state directory (SQLite) and the audit log's directory writable.
// Run as the service user, so that "readable" means readable by the daemon.
//
// Thread-safety: a pure function of the file system; thread-safe.
#ifndef ACME_SIGNER_SIGNER_CONFIG_CHECK_H_
#define ACME_SIGNER_SIGNER_CONFIG_CHECK_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "signer/config.h"

namespace acme_signer::signer {

struct ConfigCheckResult {
  // "file:line: key: what" (or "file: key: what"), in file order per stage; empty = OK.
  std::vector<std::string> problems;
  // When the file parsed: a few lines naming the agents, accounts and listeners.
  std::vector<std::string> summary;
};

// Checks the config `text` read from `source` (its directory resolves relative paths).
ConfigCheckResult CheckSignerConfig(absl::string_view text, const std::string& source);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_CONFIG_CHECK_H_
