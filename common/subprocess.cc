#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/unique_fd.h"

namespace acme_signer {
namespace {

// How long output is still collected after the program has exited (see header).
constexpr absl::Duration kDrainAfterExit = absl::Seconds(1);

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

absl::Status CheckInputs(absl::string_view what, const std::vector<std::string>& argv,
                         const std::vector<std::string>& env) {
  if (argv.empty() || argv[0].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": no program to run"));
  }
  for (const std::string& arg : argv) {
    if (arg.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": an argument contains a NUL byte"));
    }
  }
  for (const std::string& entry : env) {
    if (entry.find('\0') != std::string::npos || entry.find('=') == std::string::npos ||
        entry.front() == '=') {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": invalid environment entry (NAME=VALUE without NUL bytes)"));
    }
  }
  return absl::OkStatus();
}

// A started program: its pid (also its process group) and the read ends of its stdout and
// stderr.
struct Running {
  pid_t pid = -1;
  UniqueFd out;
  UniqueFd err;
};

// stdin from /dev/null, stdout and stderr into the pipes; its own process group, so a timeout
// can kill everything the program started; default signal handling and an empty mask,
// whatever the caller itself has set up.
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

absl::StatusOr<Running> Start(absl::string_view what, const std::vector<std::string>& argv,
                              const std::vector<std::string>& env) {
  // posix_spawn reports a program that cannot be executed only where it can spawn with vfork
  // semantics; elsewhere (e.g. under valgrind) the child just exits 127. Check first, so a
  // misconfigured program is always named as such.
  if (::access(argv[0].c_str(), X_OK) != 0) {
    return ErrnoStatus(errno, absl::StrCat(what, ": cannot run ", argv[0]));
  }
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return ErrnoStatus(errno, "cannot create pipe");
  Running running;
  running.out = UniqueFd(out_pipe[0]);
  UniqueFd out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return ErrnoStatus(errno, "cannot create pipe");
  running.err = UniqueFd(err_pipe[0]);
  UniqueFd err_write(err_pipe[1]);

  SpawnFileActions actions;
  SpawnAttr attr;
  if (!actions.ok() || !attr.ok()) return absl::InternalError("posix_spawn setup failed");
  ConfigureSpawn(actions, attr, out_write.get(), err_write.get());

  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (std::string& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);
  std::vector<std::string> env_strings = env;
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  int rc = posix_spawn(&running.pid, args[0].c_str(), actions.get(), attr.get(), argp.data(),
                       envp.data());
  if (rc != 0) return ErrnoStatus(rc, absl::StrCat(what, ": cannot run ", argv[0]));
  return running;
}

// Appends what one read from stdout (bounded by max_stdout_bytes) or stderr (only the tail is
// kept) gave; false at end of file.
bool ReadPipe(int fd, bool is_stdout, const SubprocessOptions& options, SubprocessResult& end) {
  char buf[4096];
  ssize_t got = ::read(fd, buf, sizeof(buf));
  if (got < 0 && errno == EINTR) return true;
  if (got <= 0) return false;
  if (is_stdout) {
    size_t room = options.max_stdout_bytes - end.stdout_text.size();
    size_t take = std::min(room, static_cast<size_t>(got));
    end.stdout_text.append(buf, take);
    if (take < static_cast<size_t>(got)) end.stdout_truncated = true;
  } else {
    end.stderr_tail.append(buf, static_cast<size_t>(got));
    if (end.stderr_tail.size() > options.max_stderr_bytes) {
      end.stderr_tail.erase(0, end.stderr_tail.size() - options.max_stderr_bytes);
      end.stderr_truncated = true;
    }
  }
  return true;
}

// Reads the output until both pipes close, the deadline passes, or the program has been gone
// for kDrainAfterExit; then waits for it (still bounded by the deadline).
absl::StatusOr<SubprocessResult> CollectUntilExit(Running& running,
                                                  const SubprocessOptions& options) {
  SubprocessResult end;
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options.timeout;
  absl::Time drain_deadline = absl::InfiniteFuture();
  bool exited = false;
  const absl::Duration every = std::max(options.still_running_every, absl::Milliseconds(100));
  absl::Time next_report = start + every;
  // Reports the wait while the program has not exited (bounded: at most one call per `every`).
  const auto report = [&](absl::Time now) {
    if (exited || !options.still_running || now < next_report) return;
    next_report = now + every;
    options.still_running(now - start);
  };
  while (running.out.valid() || running.err.valid()) {
    absl::Time now = absl::Now();
    report(now);
    if (now >= deadline) {
      end.timed_out = !exited;
      break;
    }
    if (now >= drain_deadline) break;
    pollfd fds[2];
    nfds_t n = 0;
    if (running.out.valid()) fds[n++] = {running.out.get(), POLLIN, 0};
    if (running.err.valid()) fds[n++] = {running.err.get(), POLLIN, 0};
    // Short slices so the child's exit and the deadline are noticed without a SIGCHLD handler.
    int slice_ms = static_cast<int>(
        absl::ToInt64Milliseconds(std::min(absl::Milliseconds(100), deadline - now)) + 1);
    int ready = ::poll(fds, n, slice_ms);
    if (ready < 0 && errno != EINTR) {
      const int poll_errno = errno;
      ::kill(-running.pid, SIGKILL);
      ::waitpid(running.pid, nullptr, 0);
      return ErrnoStatus(poll_errno, "poll");
    }
    for (nfds_t i = 0; ready > 0 && i < n; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const bool is_out = fds[i].fd == running.out.get();
      if (!ReadPipe(fds[i].fd, is_out, options, end)) (is_out ? running.out : running.err).reset();
    }
    if (!exited && ::waitpid(running.pid, &end.wait_status, WNOHANG) == running.pid) {
      exited = true;
      drain_deadline = absl::Now() + kDrainAfterExit;
    }
  }
  // Pipes closed; the program is about to exit. Wait for it, still bounded by the deadline.
  while (!exited && !end.timed_out) {
    if (::waitpid(running.pid, &end.wait_status, WNOHANG) == running.pid) {
      exited = true;
    } else if (absl::Now() >= deadline) {
      end.timed_out = true;
    } else {
      report(absl::Now());
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  if (end.timed_out) {
    ::kill(-running.pid, SIGKILL);
    ::waitpid(running.pid, &end.wait_status, 0);
  }
  return end;
}

}  // namespace

absl::StatusOr<SubprocessResult> RunSubprocess(absl::string_view what,
                                               const std::vector<std::string>& argv,
                                               const std::vector<std::string>& env,
                                               const SubprocessOptions& options) {
  if (absl::Status s = CheckInputs(what, argv, env); !s.ok()) return s;
  absl::StatusOr<Running> running = Start(what, argv, env);
  if (!running.ok()) return running.status();
  return CollectUntilExit(*running, options);
}

std::string DescribeExit(int wait_status) {
  if (WIFEXITED(wait_status)) return absl::StrCat("exited with status ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return absl::StrCat("was killed by signal ", WTERMSIG(wait_status));
  return "ended abnormally";
}

}  // namespace acme_signer
