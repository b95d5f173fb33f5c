// Runs certbot-compatible hooks: each hook is a shell command run as `/bin/sh -c COMMAND`
// (certbot does the same, so existing hook lines keep working), with certbot's environment
// variables added to the agent's own environment:
//
//   auth / cleanup (manual authenticator):
//     CERTBOT_DOMAIN, CERTBOT_VALIDATION, CERTBOT_TOKEN (http-01 only),
//     CERTBOT_REMAINING_CHALLENGES, CERTBOT_ALL_DOMAINS (comma-separated, as certbot),
//     CERTBOT_AUTH_OUTPUT (cleanup only: the auth hook's stdout)
//   deploy: RENEWED_LINEAGE (live/NAME directory), RENEWED_DOMAINS (space-separated)
//   post:   RENEWED_DOMAINS, FAILED_DOMAINS (space-separated)
//   all:    ACME_AGENT_HOOK (pre|post|deploy|auth|cleanup), ACME_AGENT_LINEAGE (certificate name),
//           ACME_AGENT_CHALLENGE_TYPE (auth/cleanup: http-01|dns-01)
//
// Hooks in certbot's renewal-hooks/{pre,deploy,post}/ directories (ListHookDirectory) are run
// by RunHookFile: the file itself is executed (argv = its path, no shell), with the same
// environment as the command of the same kind.
//
// While a hook runs longer than HookOptions::progress_every, HookOptions::progress gets a line
// "waiting for deploy-hook `CMD` (10s)" each interval. A failed hook's error ends with the last
// lines of its stderr (at most stderr_tail_lines lines and kMaxStderrShown characters, control
// characters replaced), so the user sees why without opening a log.
//
// Values travel in the environment, never in argv (argv is world-readable in /proc). stdin is
// /dev/null. The hook runs in its own process group; on timeout the whole group gets SIGKILL.
// stdout is captured up to a limit (it becomes CERTBOT_AUTH_OUTPUT); the tail of stderr is kept
// for the error message. Once the shell itself has exited, output is collected for at most one
// more second, so a daemon started by a hook that keeps the pipes open cannot stall the agent.
//
// Processes are run by common/subprocess.h (RunSubprocess).
//
// Thread-safety: RunHook may be called from several threads (posix_spawn, no shared state).
#ifndef ACME_SIGNER_AGENT_HOOKS_H_
#define ACME_SIGNER_AGENT_HOOKS_H_

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace acme_signer::agent {

// Variables to add (or override) in the hook's environment, in order.
using HookEnv = std::vector<std::pair<std::string, std::string>>;

struct HookOptions {
  absl::Duration timeout = absl::Minutes(5);
  size_t max_stdout_bytes = 64 * 1024;
  size_t stderr_tail_lines = 5;
  const char* shell = "/bin/sh";
  // Progress lines while the hook runs (none when empty), every progress_every.
  std::function<void(const std::string&)> progress;
  absl::Duration progress_every = absl::Seconds(5);
};

// The most stderr text a hook failure quotes.
inline constexpr size_t kMaxStderrShown = 1000;

struct HookOutput {
  std::string stdout_text;
  bool stdout_truncated = false;
};

// Runs `command` and waits for it. `hook_name` ("deploy hook") starts every error message.
// Errors: DeadlineExceeded (timed out; the process group was killed), Aborted (non-zero exit
// or killed by a signal; message has the code and the last stderr lines), Internal (could not
// start the shell), InvalidArgument (empty command, or a NUL byte in the command or env).
absl::StatusOr<HookOutput> RunHook(absl::string_view hook_name, const std::string& command,
                                   const HookEnv& env, const HookOptions& options = HookOptions());

// Runs the executable file `path` (argv = {path}; no shell) as RunHook runs a command: same
// environment, timeout, progress and errors.
absl::StatusOr<HookOutput> RunHookFile(absl::string_view hook_name, const std::string& path,
                                       const HookEnv& env,
                                       const HookOptions& options = HookOptions());

// certbot's renewal-hooks/<kind>/ directory under `config_dir` (kind: "pre", "deploy",
// "post"): the regular files in it that are executable, sorted by name (certbot's lexical
// order), and a note for each entry skipped (not executable, not a regular file, a backup
// ending in '~'). An absent directory is empty. At most 1000 entries are looked at.
struct HookDirectory {
  std::string dir;
  std::vector<std::string> executables;  // full paths
  std::vector<std::string> skipped;      // "renewal-hooks/deploy/x: not executable, skipped"
};
absl::StatusOr<HookDirectory> ListHookDirectory(const std::string& config_dir,
                                                absl::string_view kind);

// What the auth/cleanup hooks of one challenge need to know.
struct ChallengeHookVars {
  std::string lineage;           // certificate name
  std::string challenge_type;    // "http-01" or "dns-01"
  std::string domain;            // identifier being validated (without "*.")
  std::string validation;        // http-01: key authorization; dns-01: TXT record value
  std::string token;             // http-01 token; empty for dns-01
  int remaining_challenges = 0;  // challenges still to be set up after this one
  std::vector<std::string> all_domains;
};

HookEnv AuthHookEnv(const ChallengeHookVars& vars);
HookEnv CleanupHookEnv(const ChallengeHookVars& vars, absl::string_view auth_output);
HookEnv DeployHookEnv(absl::string_view lineage, absl::string_view live_dir,
                      const std::vector<std::string>& domains);
HookEnv PreHookEnv();
HookEnv PostHookEnv(const std::vector<std::string>& renewed_domains,
                    const std::vector<std::string>& failed_domains);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_HOOKS_H_
