// Obtaining a certificate version for a lineage: make (or reuse) the key on this host, build
// the CSR, solve challenges, have the signer get the certificate, write the new version and
// switch live/ atomically, then run the deploy hook. Shared by certonly, renew and run.
//
// Failure never loses data: the key and certificate files of the new version are written
// only after the certificate arrived, and live/ is switched in one rename, so any failure
// (signer unreachable, denial, CA error, disk full, read-only file system, kill) leaves the
// previous version live. A failure after issuance says that a certificate was issued and what
// the next run does: a version that could not be written completely is removed (the next run
// requests a new one); a saved version that could not go live is finished by the next run
// (FinishInterruptedInstall).
#ifndef ACME_SIGNER_AGENT_OBTAIN_H_
#define ACME_SIGNER_AGENT_OBTAIN_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/challenge_solver.h"
#include "agent/command_support.h"
#include "agent/hooks.h"
#include "agent/renewal_config.h"
#include "agent/signer_client.h"

namespace acme_signer::agent {

struct ObtainResult {
  std::string lineage;
  int version = 0;
  std::string serial;
  absl::Time not_after;
  std::string live_dir;
  bool dry_run = false;  // validated only: nothing was issued, saved or hooked
  int authorizations_deactivated = 0;
};

// The solver the renewal config asks for; manual hooks run with `hook_options` (timeout,
// progress lines).
absl::StatusOr<std::unique_ptr<ChallengeSolver>> MakeSolver(const RenewalConfig& config,
                                                            const std::string& lineage,
                                                            const HookOptions& hook_options);

struct ObtainOptions {
  std::string replaces;  // ARI id of the certificate being renewed ("" for a first issuance)
  // --dry-run: everything up to and including validation happens (key and CSR in memory, the
  // signer's policy, the CA, the challenges), then the authorizations are deactivated: nothing
  // is finalized, written or hooked (the result has dry_run set and no version or serial).
  bool dry_run = false;
  // renew: the executables of renewal-hooks/deploy/ (ListHookDirectory), run in this order
  // after the install and before config.deploy_hook, as certbot runs them.
  std::vector<std::string> deploy_hook_files;
};

// Obtains and installs a new version of `lineage` as `config` describes (see ObtainOptions).
// Runs the deploy hooks after a successful install (a failure is reported but the new version
// stays installed, as with certbot). Pre- and post-hooks are the caller's (they run once per
// invocation).
absl::StatusOr<ObtainResult> ObtainCertificate(const CommandContext& context, SignerClient& signer,
                                               const std::string& lineage,
                                               const RenewalConfig& config,
                                               const ObtainOptions& options);

// Finishes an install an earlier run could not finish: it saved version N+1 in archive/ but
// was killed, or could not write live/, before switching live/NAME. The newest pending version
// whose four files are present, whose key matches its certificate, whose names are
// `config.domains` and which is valid and newer than the live one is made live, and the deploy
// hook runs; incomplete or corrupt pending versions are removed. Returns the version made
// live, nullopt when there was none. The caller holds the RunLock.
absl::StatusOr<std::optional<int>> FinishInterruptedInstall(const CommandContext& context,
                                                            const std::string& lineage,
                                                            const RenewalConfig& config);

// The hook options of this run: agent.toml's hook timeout, progress lines while a hook runs.
HookOptions HookOptionsFor(const CommandContext& context);

// Runs a --pre-hook or --post-hook (`which`) once; "" runs nothing.
absl::Status RunPrePostHook(const CommandContext& context, const std::string& which,
                            const std::string& command, const HookEnv& env);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_OBTAIN_H_
