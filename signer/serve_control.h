// Finding and reloading a running `acme-signer serve` from another process: the pid file that
// serve holds, the reload outcome it publishes, and `acme-signer reload` (also what
// `agents revoke` and the systemd unit's ExecReload use).
//
// The pid file is <state.dir>/serve.pid. Serve creates it, takes a POSIX write lock on it
// (fcntl F_SETLK) for its whole life and writes its pid into it. Whether a signer runs is
// decided by the lock, not by the file's content: a pid file left behind by a killed signer is
// not locked (the kernel drops the lock with the process), and the pid of the lock holder is
// what F_GETLK reports, so a reused pid is never signalled. A second serve on the same state
// dir is refused (it would share the audit log and the database).
//
// The reload outcome is <state.dir>/reload-status, written atomically by serve at start
// (generation 0) and after every SIGHUP (generation 1, 2, ...): "key value" lines
//   pid <pid>            the serve process that wrote it
//   generation <n>
//   result ok|refused|started
//   time <RFC 3339 UTC>
//   revoked_in_store <n> agent certificates revoked in the state store, as loaded
//   store_loaded 1|0     whether the store's revocations were (re)loaded by this reload
//   started_ns <n>       CLOCK_MONOTONIC (system-wide) when serve took the signal
//   message <text>       one line
// `acme-signer reload` reads it, sends SIGHUP and waits for a newer generation of the same pid
// that started after the signal was sent (a reload already under way when it was sent may have
// read the state store before the caller changed it).
//
// Thread-safety: ServePidFile and the functions are not meant to be shared across threads.
#ifndef ACME_SIGNER_SIGNER_SERVE_CONTROL_H_
#define ACME_SIGNER_SIGNER_SERVE_CONTROL_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"
#include "signer/config.h"

namespace acme_signer::signer {

std::string ServePidFilePath(const SignerConfig& config);
std::string ReloadStatusPath(const SignerConfig& config);

// The pid file of a running serve: locked and holding our pid until destroyed (then removed).
class ServePidFile {
 public:
  // FailedPrecondition naming the other process when another serve holds it; errno errors
  // naming the path otherwise.
  static absl::StatusOr<std::unique_ptr<ServePidFile>> Acquire(const std::string& path);
  ~ServePidFile();
  ServePidFile(const ServePidFile&) = delete;
  ServePidFile& operator=(const ServePidFile&) = delete;

 private:
  ServePidFile(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  UniqueFd fd_;
};

// The pid of the serve process holding the pid file at `path`, or nullopt when none does
// (no file, or a stale one). Errors: the file exists but cannot be opened or queried.
absl::StatusOr<std::optional<pid_t>> RunningServePid(const std::string& path);

struct ReloadStatus {
  pid_t pid = 0;
  int64_t generation = -1;
  std::string result;  // "started" | "ok" | "refused"
  absl::Time time = absl::InfinitePast();
  int64_t revoked_in_store = 0;
  // Whether the store's revoked agent certificates were loaded (a refused config reload
  // still loads them).
  bool store_loaded = false;
  int64_t started_ns = 0;  // MonotonicNanos() when serve took the signal
  std::string message;
};

// CLOCK_MONOTONIC in nanoseconds: the same clock in every process of the host.
int64_t MonotonicNanos();

absl::Status WriteReloadStatus(const std::string& path, const ReloadStatus& status);
// nullopt when the file does not exist; InvalidArgument naming the path when it is unreadable.
absl::StatusOr<std::optional<ReloadStatus>> ReadReloadStatus(const std::string& path);

// What RequestReload found.
struct ReloadOutcome {
  enum class Kind { kAccepted, kRefused, kNotRunning };
  Kind kind = Kind::kNotRunning;
  pid_t pid = 0;
  ReloadStatus status;  // the signer's answer (kAccepted, kRefused)
};

// Signals the serve process of `config` (SIGHUP) and waits up to `timeout` for its answer.
// kNotRunning when no process holds the pid file. DeadlineExceeded when it did not answer in
// time; PermissionDenied (from kill) when this user may not signal it.
absl::StatusOr<ReloadOutcome> RequestReload(const SignerConfig& config, absl::Duration timeout);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_SERVE_CONTROL_H_
