// What `acme-signer serve` tells systemd (sd_notify(3), Type=notify units): READY=1 once the
// listeners are bound and the HSM self-test passed, STATUS= lines, RELOADING=1 around a SIGHUP
// reload, STOPPING=1 on shutdown, and WATCHDOG=1 pings while the process proves it is alive.
//
// Without NOTIFY_SOCKET in the environment (serve run by hand, in tests, under another
// supervisor) every call is a no-op; so is the watchdog without WATCHDOG_USEC (or with a
// WATCHDOG_PID that is not this process).
//
// Thread-safety: the free functions are thread-safe; SystemdWatchdog is used from one thread
// (its pinging thread is its own).
#ifndef ACME_SIGNER_SIGNER_SYSTEMD_NOTIFY_H_
#define ACME_SIGNER_SIGNER_SYSTEMD_NOTIFY_H_

#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace acme_signer::signer {

// READY=1 with STATUS=`status`. Call once everything a client needs answers.
void NotifySystemdReady(absl::string_view status);
// RELOADING=1 with STATUS=`status` (a SIGHUP reload started; READY=1 follows when it ends).
void NotifySystemdReloading(absl::string_view status);
// STATUS=`status` alone.
void NotifySystemdStatus(absl::string_view status);
// STOPPING=1 with STATUS=`status`.
void NotifySystemdStopping(absl::string_view status);

// The "STATE=1\nSTATUS=<status>" text sd_notify is given; newlines and other control
// characters in `status` become spaces, since each line of the datagram is one assignment.
std::string SystemdNotifyText(absl::string_view state, absl::string_view status);

// Pings WATCHDOG=1 at half the interval systemd asked for (WATCHDOG_USEC), but only while
// `alive` says the process is alive: a process whose liveness check stalls stops pinging and
// systemd restarts it (WatchdogSec=). What "alive" means is the caller's (serve: see
// cmd_serve.cc).
class SystemdWatchdog {
 public:
  // nullptr when systemd asked for no watchdog (sd_watchdog_enabled(3) <= 0). `alive` is
  // called on the pinging thread and is given the watchdog interval.
  static std::unique_ptr<SystemdWatchdog> StartIfEnabled(
      std::function<bool(absl::Duration interval)> alive);

  // Stops the pinging thread.
  ~SystemdWatchdog();
  SystemdWatchdog(const SystemdWatchdog&) = delete;
  SystemdWatchdog& operator=(const SystemdWatchdog&) = delete;

  absl::Duration interval() const { return interval_; }

 private:
  SystemdWatchdog(absl::Duration interval, std::function<bool(absl::Duration)> alive);
  void Run();

  const absl::Duration interval_;
  const std::function<bool(absl::Duration)> alive_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_SYSTEMD_NOTIFY_H_
