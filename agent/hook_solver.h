// HookSolver: certbot's --manual authenticator with --manual-auth-hook and
// --manual-cleanup-hook, for http-01 or dns-01. Hooks run through RunHook (hooks.h) with
// certbot's variables, so existing certbot hook scripts work unchanged:
//   auth:    CERTBOT_DOMAIN, CERTBOT_VALIDATION (http-01: the key authorization, to be served
//            at /.well-known/acme-challenge/$CERTBOT_TOKEN; dns-01: the TXT value for
//            _acme-challenge.$CERTBOT_DOMAIN), CERTBOT_TOKEN (http-01 only),
//            CERTBOT_REMAINING_CHALLENGES, CERTBOT_ALL_DOMAINS
//   cleanup: the same plus CERTBOT_AUTH_OUTPUT, the auth hook's stdout for that challenge with
//            surrounding whitespace removed (certbot strips it too)
//
// As in certbot, the agent does not wait for DNS propagation after the last dns-01 auth hook:
// a hook that needs to wait sleeps (or polls its DNS provider) before exiting, within
// --hook-timeout.
//
// Cleanup runs for every challenge whose auth hook was started, including one whose auth hook
// failed or timed out (it may have created a record before failing); cleanup errors are
// warnings on stderr, never failures of the run.
// Not thread-safe (see challenge_solver.h).
#ifndef ACME_SIGNER_AGENT_HOOK_SOLVER_H_
#define ACME_SIGNER_AGENT_HOOK_SOLVER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "agent/challenge_solver.h"
#include "agent/hooks.h"

namespace acme_signer::agent {

class HookSolver final : public ChallengeSolver {
 public:
  // `challenge_type` "http-01" or "dns-01" (--preferred-challenges); `lineage` is the
  // certificate name (ACME_AGENT_LINEAGE); `cleanup_hook` may be empty (no cleanup); each hook
  // run is limited to `timeout`; `progress` (optional) gets "waiting for manual auth hook …"
  // lines while a hook runs longer than a few seconds (a DNS hook waiting for propagation).
  HookSolver(std::string challenge_type, std::string lineage, std::string auth_hook,
             std::string cleanup_hook, absl::Duration timeout,
             std::function<void(const std::string&)> progress = nullptr);
  // Runs CleanUp() if the caller did not, so records are not left behind on an early return.
  ~HookSolver() override;
  HookSolver(const HookSolver&) = delete;
  HookSolver& operator=(const HookSolver&) = delete;

  absl::string_view ChallengeType() const override { return challenge_type_; }
  // InvalidArgument when the challenge type is not http-01/dns-01 or the auth hook is empty.
  absl::Status Start() override;
  // Runs the auth hook for `task`. Errors are RunHook's (DeadlineExceeded, Aborted with the exit
  // status and stderr tail, ...) and start with "manual auth hook (--manual-auth-hook) for
  // <domain>".
  absl::Status Present(const ChallengeTask& task) override;
  // Runs the cleanup hook for every presented challenge, in presentation order.
  void CleanUp() override;

 private:
  struct Presented {
    ChallengeHookVars vars;
    std::string auth_output;
  };

  std::string challenge_type_;
  std::string lineage_;
  std::string auth_hook_;
  std::string cleanup_hook_;
  HookOptions options_;
  std::vector<Presented> presented_;
};

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_HOOK_SOLVER_H_
