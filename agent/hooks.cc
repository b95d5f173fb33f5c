#include "agent/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <memory>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/unique_fd.h"
#include "common/files.h"

extern char** environ;

namespace acme_signer::agent {
namespace {

// Enough stderr to find the last few lines of any realistic error.
constexpr size_t kStderrKeepBytes = 16 * 1024;
// How long output is still collected after the shell has exited (see header).
constexpr absl::Duration kDrainAfterExit = absl::Seconds(1);

// The environment for the child: ours, minus names the hook overrides, plus the hook's.
std::vector<std::string> BuildEnvironment(const HookEnv& env) {
  absl::flat_hash_set<std::string> overridden;
  for (const auto& [name, value] : env) overridden.insert(name);
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    absl::string_view name = entry.substr(0, entry.find('='));
    if (!overridden.contains(name)) out.emplace_back(entry);
  }
  for (const auto& [name, value] : env) out.push_back(absl::StrCat(name, "=", value));
  return out;
}

class SpawnAttr {
 public:
  SpawnAttr() { ok_ = posix_spawnattr_init(&attr_) == 0; }
  ~SpawnAttr() {
    if (ok_) posix_spawnattr_destroy(&attr_);
  }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
  bool ok() const { return ok_; }
  posix_spawnattr_t* get() { return &attr_; }

 private:
  posix_spawnattr_t attr_;
  bool ok_ = false;
};

class SpawnFileActions {
 public:
  SpawnFileActions() { ok_ = posix_spawn_file_actions_init(&actions_) == 0; }
  ~SpawnFileActions() {
    if (ok_) posix_spawn_file_actions_destroy(&actions_);
  }
  SpawnFileActions(const SpawnFileActions&) = delete;
  SpawnFileActions& operator=(const SpawnFileActions&) = delete;
  bool ok() const { return ok_; }
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
  bool ok_ = false;
};

std::string LastLines(const std::string& text, size_t n) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n', absl::SkipWhitespace());
  size_t start = lines.size() > n ? lines.size() - n : 0;
  return absl::StrJoin(lines.begin() + static_cast<long>(start), lines.end(), " | ");
}

std::string DescribeExit(int wait_status) {
  if (WIFEXITED(wait_status)) return absl::StrCat("exited with status ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return absl::StrCat("was killed by signal ", WTERMSIG(wait_status));
  return "ended abnormally";
}

std::string Join(const std::vector<std::string>& v, absl::string_view sep) {
  return absl::StrJoin(v, sep);
}

// Refuses what the shell could not be given intact.
absl::Status CheckHookInputs(absl::string_view hook_name, const std::string& command,
                             const HookEnv& env) {
  if (command.empty()) return absl::InvalidArgumentError(absl::StrCat(hook_name, " is empty"));
  if (command.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(hook_name, " contains a NUL byte"));
  }
  for (const auto& [name, value] : env) {
    if (name.empty() || name.find_first_of("=\0", 0, 2) != std::string::npos ||
        value.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(hook_name, ": invalid environment variable name or value for \"",
                       absl::CEscape(name), "\""));
    }
  }
  return absl::OkStatus();
}

// A started hook: its pid (also its process group) and the read ends of its stdout and stderr.
struct RunningHook {
  pid_t pid = -1;
  UniqueFd out;
  UniqueFd err;
};

// stdin from /dev/null, stdout and stderr into the pipes; its own process group, so a timeout
// can kill everything the hook started; default signal handling and an empty mask, whatever
// the agent itself has set up.
void ConfigureSpawn(SpawnFileActions& actions, SpawnAttr& attr, int out_fd, int err_fd) {
  posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(actions.get(), out_fd, 1);
  posix_spawn_file_actions_adddup2(actions.get(), err_fd, 2);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setflags(attr.get(),
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(attr.get(), 0);
  posix_spawnattr_setsigmask(attr.get(), &empty);
  posix_spawnattr_setsigdefault(attr.get(), &defaults);
}

// Starts `/bin/sh -c command` with the hook's environment.
absl::StatusOr<RunningHook> StartHook(absl::string_view hook_name, const std::string& command,
                                      const HookEnv& env, const HookOptions& options) {
  // posix_spawn reports a shell that cannot be executed only where it can spawn with vfork
  // semantics; elsewhere (e.g. under valgrind) the child just exits 127. Check first, so a
  // misconfigured shell is always named as such.
  if (::access(std::string(options.shell).c_str(), X_OK) != 0) {
    return ErrnoStatus(errno, absl::StrCat(hook_name, ": cannot run ", options.shell));
  }
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return ErrnoStatus(errno, "cannot create pipe");
  RunningHook hook;
  hook.out = UniqueFd(out_pipe[0]);
  UniqueFd out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return ErrnoStatus(errno, "cannot create pipe");
  hook.err = UniqueFd(err_pipe[0]);
  UniqueFd err_write(err_pipe[1]);

  SpawnFileActions actions;
  SpawnAttr attr;
  if (!actions.ok() || !attr.ok()) return absl::InternalError("posix_spawn setup failed");
  ConfigureSpawn(actions, attr, out_write.get(), err_write.get());

  std::vector<std::string> env_strings = BuildEnvironment(env);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string shell(options.shell), dash_c("-c"), cmd(command);
  char* argv[] = {shell.data(), dash_c.data(), cmd.data(), nullptr};
  int rc = posix_spawn(&hook.pid, shell.c_str(), actions.get(), attr.get(), argv, envp.data());
  if (rc != 0) return ErrnoStatus(rc, absl::StrCat(hook_name, ": cannot run ", shell));
  return hook;
}

// How a hook ended, and what it printed.
struct HookEnd {
  HookOutput output;
  std::string stderr_text;
  bool timed_out = false;
  int wait_status = 0;
};

// Appends what one read from the hook's stdout (bounded by max_stdout_bytes) or stderr (only
// the tail is kept) gave; false at end of file.
bool ReadHookPipe(int fd, bool is_stdout, const HookOptions& options, HookEnd& end) {
  char buf[4096];
  ssize_t got = ::read(fd, buf, sizeof(buf));
  if (got < 0 && errno == EINTR) return true;
  if (got <= 0) return false;
  if (is_stdout) {
    size_t room = options.max_stdout_bytes - end.output.stdout_text.size();
    size_t take = std::min(room, static_cast<size_t>(got));
    end.output.stdout_text.append(buf, take);
    if (take < static_cast<size_t>(got)) end.output.stdout_truncated = true;
  } else {
    end.stderr_text.append(buf, static_cast<size_t>(got));
    if (end.stderr_text.size() > kStderrKeepBytes) {
      end.stderr_text.erase(0, end.stderr_text.size() - kStderrKeepBytes);
    }
  }
  return true;
}

// Reads the hook's output until both pipes close, the deadline passes, or the shell has been
// gone for kDrainAfterExit; then waits for the shell (still bounded by the deadline).
absl::StatusOr<HookEnd> CollectUntilExit(RunningHook& hook, const HookOptions& options) {
  HookEnd end;
  const absl::Time deadline = absl::Now() + options.timeout;
  absl::Time drain_deadline = absl::InfiniteFuture();
  bool exited = false;
  while (hook.out.valid() || hook.err.valid()) {
    absl::Time now = absl::Now();
    if (now >= deadline) {
      end.timed_out = !exited;
      break;
    }
    if (now >= drain_deadline) break;
    pollfd fds[2];
    nfds_t n = 0;
    if (hook.out.valid()) fds[n++] = {hook.out.get(), POLLIN, 0};
    if (hook.err.valid()) fds[n++] = {hook.err.get(), POLLIN, 0};
    // Short slices so the child's exit and the deadline are noticed without a SIGCHLD handler.
    int slice_ms = static_cast<int>(
        absl::ToInt64Milliseconds(std::min(absl::Milliseconds(100), deadline - now)) + 1);
    int ready = ::poll(fds, n, slice_ms);
    if (ready < 0 && errno != EINTR) {
      const int poll_errno = errno;
      ::kill(-hook.pid, SIGKILL);
      ::waitpid(hook.pid, nullptr, 0);
      return ErrnoStatus(poll_errno, "poll");
    }
    for (nfds_t i = 0; ready > 0 && i < n; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const bool is_out = fds[i].fd == hook.out.get();
      if (!ReadHookPipe(fds[i].fd, is_out, options, end)) (is_out ? hook.out : hook.err).reset();
    }
    if (!exited && ::waitpid(hook.pid, &end.wait_status, WNOHANG) == hook.pid) {
      exited = true;
      drain_deadline = absl::Now() + kDrainAfterExit;
    }
  }
  // Pipes closed; the shell is about to exit. Wait for it, still bounded by the deadline.
  while (!exited && !end.timed_out) {
    if (::waitpid(hook.pid, &end.wait_status, WNOHANG) == hook.pid) {
      exited = true;
    } else if (absl::Now() >= deadline) {
      end.timed_out = true;
    } else {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  if (end.timed_out) {
    ::kill(-hook.pid, SIGKILL);
    ::waitpid(hook.pid, &end.wait_status, 0);
  }
  return end;
}

}  // namespace

absl::StatusOr<HookOutput> RunHook(absl::string_view hook_name, const std::string& command,
                                   const HookEnv& env, const HookOptions& options) {
  if (absl::Status s = CheckHookInputs(hook_name, command, env); !s.ok()) return s;
  absl::StatusOr<RunningHook> hook = StartHook(hook_name, command, env, options);
  if (!hook.ok()) return hook.status();
  absl::StatusOr<HookEnd> end = CollectUntilExit(*hook, options);
  if (!end.ok()) return end.status();
  if (end->timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(hook_name, " `", command, "` did not finish within ",
                     absl::FormatDuration(options.timeout), " and was killed"));
  }
  if (!WIFEXITED(end->wait_status) || WEXITSTATUS(end->wait_status) != 0) {
    std::string tail = LastLines(end->stderr_text, options.stderr_tail_lines);
    return absl::AbortedError(absl::StrCat(hook_name, " `", command, "` ",
                                           DescribeExit(end->wait_status),
                                           tail.empty() ? "" : "; stderr: ", tail));
  }
  return std::move(end->output);
}

HookEnv AuthHookEnv(const ChallengeHookVars& vars) {
  HookEnv env = {
      {"CERTBOT_DOMAIN", vars.domain},
      {"CERTBOT_VALIDATION", vars.validation},
      {"CERTBOT_REMAINING_CHALLENGES", absl::StrCat(vars.remaining_challenges)},
      {"CERTBOT_ALL_DOMAINS", Join(vars.all_domains, ",")},
      {"ACME_AGENT_HOOK", "auth"},
      {"ACME_AGENT_LINEAGE", vars.lineage},
      {"ACME_AGENT_CHALLENGE_TYPE", vars.challenge_type},
  };
  if (!vars.token.empty()) env.emplace_back("CERTBOT_TOKEN", vars.token);
  return env;
}

HookEnv CleanupHookEnv(const ChallengeHookVars& vars, absl::string_view auth_output) {
  HookEnv env = AuthHookEnv(vars);
  for (auto& [name, value] : env) {
    if (name == "ACME_AGENT_HOOK") value = "cleanup";
  }
  env.emplace_back("CERTBOT_AUTH_OUTPUT", std::string(auth_output));
  return env;
}

HookEnv DeployHookEnv(absl::string_view lineage, absl::string_view live_dir,
                      const std::vector<std::string>& domains) {
  return {
      {"RENEWED_LINEAGE", std::string(live_dir)},
      {"RENEWED_DOMAINS", Join(domains, " ")},
      {"ACME_AGENT_HOOK", "deploy"},
      {"ACME_AGENT_LINEAGE", std::string(lineage)},
  };
}

HookEnv PreHookEnv() { return {{"ACME_AGENT_HOOK", "pre"}}; }

HookEnv PostHookEnv(const std::vector<std::string>& renewed_domains,
                    const std::vector<std::string>& failed_domains) {
  return {
      {"RENEWED_DOMAINS", Join(renewed_domains, " ")},
      {"FAILED_DOMAINS", Join(failed_domains, " ")},
      {"ACME_AGENT_HOOK", "post"},
  };
}

}  // namespace acme_signer::agent
