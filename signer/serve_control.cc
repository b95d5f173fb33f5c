#include "signer/serve_control.h"

#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace acme_signer::signer {
namespace {

struct flock WholeFileWriteLock() {
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 0;
  return lock;
}

}  // namespace

std::string ServePidFilePath(const SignerConfig& config) {
  return absl::StrCat(config.state.dir, "/serve.pid");
}

std::string ReloadStatusPath(const SignerConfig& config) {
  return absl::StrCat(config.state.dir, "/reload-status");
}

absl::StatusOr<std::unique_ptr<ServePidFile>> ServePidFile::Acquire(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (fd.get() < 0) return ErrnoStatus(errno, absl::StrCat("cannot open pid file ", path));
  struct flock lock = WholeFileWriteLock();
  if (::fcntl(fd.get(), F_SETLK, &lock) != 0) {
    const int error = errno;
    if (error == EACCES || error == EAGAIN) {
      struct flock holder = WholeFileWriteLock();
      std::string who = "another process";
      if (::fcntl(fd.get(), F_GETLK, &holder) == 0 && holder.l_type != F_UNLCK) {
        who = absl::StrCat("process ", holder.l_pid);
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "another acme-signer serve (", who, ") already runs with this state dir (it holds ",
          path, "); stop it first, or use `acme-signer reload` to reload it"));
    }
    return ErrnoStatus(error, absl::StrCat("cannot lock pid file ", path));
  }
  const std::string content = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd.get(), 0) != 0 ||
      ::pwrite(fd.get(), content.data(), content.size(), 0) !=
          static_cast<ssize_t>(content.size())) {
    return ErrnoStatus(errno, absl::StrCat("cannot write pid file ", path));
  }
  return std::unique_ptr<ServePidFile>(new ServePidFile(path, std::move(fd)));
}

ServePidFile::~ServePidFile() {
  // Removed while still locked, so no other serve can have taken it over in between.
  ::unlink(path_.c_str());
}

absl::StatusOr<std::optional<pid_t>> RunningServePid(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<pid_t>();
    return ErrnoStatus(errno, absl::StrCat("cannot open pid file ", path));
  }
  struct flock holder = WholeFileWriteLock();
  if (::fcntl(fd.get(), F_GETLK, &holder) != 0) {
    return ErrnoStatus(errno, absl::StrCat("cannot query the lock of pid file ", path));
  }
  if (holder.l_type == F_UNLCK || holder.l_pid <= 0) return std::optional<pid_t>();
  return std::optional<pid_t>(holder.l_pid);
}

int64_t MonotonicNanos() {
  struct timespec now {};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

absl::Status WriteReloadStatus(const std::string& path, const ReloadStatus& status) {
  // The message is one line whatever the error said.
  const std::string message =
      absl::StrReplaceAll(status.message, {{"\n", " "}, {"\r", " "}});
  const std::string text = absl::StrCat(
      "pid ", status.pid, "\ngeneration ", status.generation, "\nresult ", status.result,
      "\ntime ", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", status.time, absl::UTCTimeZone()),
      "\nrevoked_in_store ", status.revoked_in_store, "\nstore_loaded ",
      status.store_loaded ? 1 : 0, "\nstarted_ns ", status.started_ns, "\nmessage ", message,
      "\n");
  return WriteFileAtomically(path, text, 0644);
}

absl::StatusOr<std::optional<ReloadStatus>> ReadReloadStatus(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, 64 << 10);
  if (absl::IsNotFound(text.status())) return std::optional<ReloadStatus>();
  RETURN_IF_ERROR(text.status());
  ReloadStatus status;
  bool have_pid = false, have_generation = false;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (kv.first == "pid") {
      int32_t pid = 0;
      have_pid = absl::SimpleAtoi(kv.second, &pid);
      status.pid = pid;
    } else if (kv.first == "generation") {
      have_generation = absl::SimpleAtoi(kv.second, &status.generation);
    } else if (kv.first == "result") {
      status.result = std::string(kv.second);
    } else if (kv.first == "time") {
      std::string error;
      absl::ParseTime(absl::RFC3339_full, kv.second, &status.time, &error);
    } else if (kv.first == "revoked_in_store") {
      if (!absl::SimpleAtoi(kv.second, &status.revoked_in_store)) status.revoked_in_store = 0;
    } else if (kv.first == "started_ns") {
      if (!absl::SimpleAtoi(kv.second, &status.started_ns)) status.started_ns = 0;
    } else if (kv.first == "store_loaded") {
      status.store_loaded = kv.second == "1";
    } else if (kv.first == "message") {
      status.message = std::string(kv.second);
    }
  }
  if (!have_pid || !have_generation || status.result.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a reload status written by acme-signer serve"));
  }
  return std::optional<ReloadStatus>(std::move(status));
}

absl::StatusOr<ReloadOutcome> RequestReload(const SignerConfig& config, absl::Duration timeout) {
  ReloadOutcome outcome;
  ASSIGN_OR_RETURN(std::optional<pid_t> pid, RunningServePid(ServePidFilePath(config)));
  if (!pid.has_value()) return outcome;  // kNotRunning
  outcome.pid = *pid;
  const std::string status_path = ReloadStatusPath(config);
  ASSIGN_OR_RETURN(std::optional<ReloadStatus> before, ReadReloadStatus(status_path));
  const int64_t before_generation =
      before.has_value() && before->pid == *pid ? before->generation : -1;
  const int64_t sent_ns = MonotonicNanos();
  if (::kill(*pid, SIGHUP) != 0) {
    if (errno == ESRCH) return ReloadOutcome();  // exited in between
    return ErrnoStatus(errno, absl::StrCat("cannot signal acme-signer serve (pid ", *pid,
                                           "); run this as the user serve runs as, or root"));
  }
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<std::optional<ReloadStatus>> now = ReadReloadStatus(status_path);
    if (now.ok() && now->has_value() && (*now)->pid == *pid &&
        (*now)->generation > before_generation && (*now)->started_ns >= sent_ns) {
      outcome.status = **now;
      outcome.kind = outcome.status.result == "ok" ? ReloadOutcome::Kind::kAccepted
                                                   : ReloadOutcome::Kind::kRefused;
      return outcome;
    }
    if (absl::Now() >= deadline) break;
    if (::kill(*pid, 0) != 0 && errno == ESRCH) {
      return absl::UnavailableError(absl::StrCat(
          "acme-signer serve (pid ", *pid, ") exited before answering the reload"));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "acme-signer serve (pid ", *pid, ") did not report the reload within ",
      absl::FormatDuration(timeout), " (", status_path, " unchanged); see its log"));
}

}  // namespace acme_signer::signer
