// RunSubprocess: runs one program to completion, bounded in time and output, the one place
// that spawns child processes (the agent's certbot-style hooks, agent/hooks.h, and the
// signer's upstream dns-01 hook, signer/frontdoor/upstream_issuer.h, are built on it).
//
// The child gets exactly `argv` (argv[0] is the program's path; no PATH search) and exactly
// the environment `env` ("NAME=VALUE" entries; callers that want the parent's environment
// pass it themselves). stdin is /dev/null; stdout and stderr go to pipes. It runs in its own
// process group with default signal dispositions and an empty signal mask; on timeout the
// whole group gets SIGKILL. stdout is kept up to max_stdout_bytes, stderr's last
// max_stderr_bytes. Once the program has exited, output is collected for at most one more
// second, so a daemon it started that keeps the pipes open cannot stall the caller.
//
// Thread-safety: thread-safe (posix_spawn, no shared state).
#ifndef ACME_SIGNER_COMMON_SUBPROCESS_H_
#define ACME_SIGNER_COMMON_SUBPROCESS_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace acme_signer {

struct SubprocessOptions {
  absl::Duration timeout = absl::Minutes(5);
  size_t max_stdout_bytes = 64 * 1024;
  size_t max_stderr_bytes = 16 * 1024;  // the tail is kept
  // Called from the waiting thread every `still_running_every` while the program runs (with
  // the time since it started), e.g. for "waiting for deploy-hook (10s)" lines; none if empty.
  std::function<void(absl::Duration)> still_running;
  absl::Duration still_running_every = absl::Seconds(5);
};

struct SubprocessResult {
  std::string stdout_text;
  bool stdout_truncated = false;
  std::string stderr_tail;
  bool stderr_truncated = false;  // the beginning of stderr was dropped
  bool timed_out = false;         // killed (with its process group) at the timeout
  int wait_status = 0;            // waitpid status; meaningful when !timed_out
};

// Runs argv[0] with `argv` and `env` and waits for it (see above). `what` ("deploy hook")
// starts the error messages. A program that runs but fails is NOT an error here: look at
// timed_out and wait_status. Errors: InvalidArgument (empty argv, a NUL byte in an argument
// or entry, an entry without '='), the errno status of access(X_OK) when argv[0] cannot be
// executed ("<what>: cannot run <argv[0]>"), Internal / errno statuses for spawn failures.
absl::StatusOr<SubprocessResult> RunSubprocess(absl::string_view what,
                                               const std::vector<std::string>& argv,
                                               const std::vector<std::string>& env,
                                               const SubprocessOptions& options);

// "exited with status 3", "was killed by signal 9".
std::string DescribeExit(int wait_status);

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_SUBPROCESS_H_
