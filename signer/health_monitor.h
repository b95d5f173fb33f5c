// HealthMonitor: whether this replica can serve right now, decided from a short list of
// probes (serve uses two: the state database and the HSM) and reported through a listener
// (serve sets the standard gRPC health service with it, which agents' client-side health
// checking follows: a replica that cannot reach its database or its HSM leaves their round
// robin until it can again).
//
// The verdict is SERVING when the latest run of every probe succeeded and no probe has been
// running for longer than Options::probe_timeout; otherwise NOT_SERVING, with a reason naming
// each failing probe ("database: ...; hsm: ..."). A probe that hangs (a network HSM or a
// database host that stops answering) cannot be interrupted, but it is noticed: a second
// thread, the watchdog, turns it into NOT_SERVING after probe_timeout, and the replica serves
// again by itself once the probe returns and a later run succeeds. Before the first verdict the
// monitor counts as SERVING (what gRPC's health service says by default), so the listener only
// hears about changes.
//
// The verdict is advisory for load balancing: failing closed is the job of the store and the
// audit appender, whose errors refuse the RPC whatever the health service says.
//
// Thread-safety: thread-safe. The listener is called from the thread that changed the verdict
// (a CheckNow() caller, the prober or the watchdog), never concurrently with itself, and must
// not call back into the monitor. Probes are run one at a time, never concurrently.
#ifndef ACME_SIGNER_SIGNER_HEALTH_MONITOR_H_
#define ACME_SIGNER_SIGNER_HEALTH_MONITOR_H_

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace acme_signer::signer {

class HealthMonitor {
 public:
  struct Probe {
    std::string name;  // for the reason text, e.g. "database"
    // OK when the dependency answers. Should bound its own waits; the watchdog covers the
    // rest. The message goes into the reason (and the log): it must not carry secrets.
    std::function<absl::Status()> check;
  };

  struct Options {
    // Pause between two runs of the probes.
    absl::Duration interval = absl::Seconds(1);
    // A probe running longer than this makes the verdict NOT_SERVING.
    absl::Duration probe_timeout = absl::Seconds(5);
    // The clock (tests inject one to exercise the watchdog without sleeping).
    std::function<absl::Time()> now = [] { return absl::Now(); };
  };

  // Told each new verdict: `serving`, and when not serving why.
  using Listener = std::function<void(bool serving, absl::string_view why)>;

  HealthMonitor(std::vector<Probe> probes, Options options, Listener listener);
  // Stop()s.
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  // Runs every probe once on the calling thread, then decides. Returns the verdict.
  absl::Status CheckNow();
  // The watchdog's step: decides again from the latest results and the probe in flight
  // (a probe running for longer than probe_timeout counts as failed). Returns the verdict.
  absl::Status CheckForStalledProbe();

  // Starts the prober (CheckNow, then every `interval`) and the watchdog (every `interval`).
  // Once only.
  void Start();
  // Stops both threads; waits for a probe in flight to return.
  void Stop();

  // OK while serving, else Unavailable with the reason.
  absl::Status verdict() const;

  // When the latest run of every probe ended (whatever the results), by Options::now;
  // InfinitePast before the first. A prober stuck in a probe stops moving it: serve's systemd
  // watchdog pings only while it is recent (signer/systemd_notify.h).
  absl::Time last_run_finished() const;

 private:
  struct ProbeState {
    absl::Status last = absl::OkStatus();
    absl::Time running_since = absl::InfiniteFuture();  // InfiniteFuture when not running
  };

  // Computes the verdict from `states_` (under mu_) and tells the listener when it changed.
  absl::Status Decide();
  // Waits `interval` or until Stop(); false when stopping.
  bool Pause();

  const std::vector<Probe> probes_;
  const Options options_;
  const Listener listener_;

  // Held across probe runs so that probes never overlap (CheckNow from a test and the prober).
  absl::Mutex run_mu_;
  // Held while deciding and telling the listener, so notifications keep their order.
  absl::Mutex decide_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::vector<ProbeState> states_ ABSL_GUARDED_BY(mu_);
  bool serving_ ABSL_GUARDED_BY(mu_) = true;
  std::string why_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_run_finished_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::thread prober_;
  std::thread watchdog_;
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_HEALTH_MONITOR_H_
