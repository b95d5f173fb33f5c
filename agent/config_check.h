// `acme-agent check-config`: what can be known about an agent configuration without the signer.
// First ParseAgentConfig's problems (every one, "file:line: key: what"); when the file parses,
// the files it names (common/config_paths.h): [signer] ca readable, the identity key private
// (0600/0400) and its certificate readable (both written by `acme-agent enroll`), [direct]
// ca_bundle and [defaults] webroot_path when set, config_dir a writable directory; then every
// renewal/NAME.conf under config_dir, parsed as `renew` reads it (each problem with its own
// file and line). Run it as the user the agent runs as.
//
// Thread-safety: a pure function of the file system; thread-safe.
#ifndef ACME_SIGNER_AGENT_CONFIG_CHECK_H_
#define ACME_SIGNER_AGENT_CONFIG_CHECK_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace acme_signer::agent {

struct AgentConfigCheckResult {
  // "file:line: key: what" (or "file: key: what"); empty = OK.
  std::vector<std::string> problems;
  // When the file parsed: the signer, the identity and how many renewal configs there are.
  std::vector<std::string> summary;
};

// Checks the config `text` read from `source`; `config_dir_override` is --config-dir.
AgentConfigCheckResult CheckAgentConfig(absl::string_view text, const std::string& source,
                                        const std::optional<std::string>& config_dir_override);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_CONFIG_CHECK_H_
