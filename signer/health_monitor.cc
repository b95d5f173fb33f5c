#include "signer/health_monitor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace acme_signer::signer {

HealthMonitor::HealthMonitor(std::vector<Probe> probes, Options options, Listener listener)
    : probes_(std::move(probes)),
      options_(std::move(options)),
      listener_(std::move(listener)),
      states_(probes_.size()) {}

HealthMonitor::~HealthMonitor() { Stop(); }

absl::Status HealthMonitor::CheckNow() {
  {
    absl::MutexLock run(&run_mu_);
    for (size_t i = 0; i < probes_.size(); ++i) {
      {
        absl::MutexLock lock(&mu_);
        states_[i].running_since = options_.now();
      }
      absl::Status result = probes_[i].check();
      absl::MutexLock lock(&mu_);
      states_[i].last = std::move(result);
      states_[i].running_since = absl::InfiniteFuture();
    }
    absl::MutexLock lock(&mu_);
    last_run_finished_ = options_.now();
  }
  return Decide();
}

absl::Status HealthMonitor::CheckForStalledProbe() { return Decide(); }

absl::Status HealthMonitor::Decide() {
  absl::MutexLock decide(&decide_mu_);
  bool changed = false;
  bool serving = true;
  std::string why;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.now();
    std::vector<std::string> failures;
    for (size_t i = 0; i < probes_.size(); ++i) {
      const ProbeState& state = states_[i];
      if (state.running_since != absl::InfiniteFuture() &&
          now - state.running_since > options_.probe_timeout) {
        failures.push_back(absl::StrCat(probes_[i].name, ": no answer for ",
                                        absl::FormatDuration(now - state.running_since)));
      } else if (!state.last.ok()) {
        failures.push_back(absl::StrCat(probes_[i].name, ": ", state.last.message()));
      }
    }
    serving = failures.empty();
    why = absl::StrJoin(failures, "; ");
    changed = serving != serving_;
    serving_ = serving;
    why_ = why;
  }
  // Only a change of serving/not serving is reported: a reason that changes while the replica
  // stays down would otherwise log once per interval.
  if (changed && listener_) listener_(serving, why);
  if (serving) return absl::OkStatus();
  return absl::UnavailableError(why);
}

absl::Status HealthMonitor::verdict() const {
  absl::MutexLock lock(&mu_);
  if (serving_) return absl::OkStatus();
  return absl::UnavailableError(why_);
}

absl::Time HealthMonitor::last_run_finished() const {
  absl::MutexLock lock(&mu_);
  return last_run_finished_;
}

bool HealthMonitor::Pause() {
  absl::MutexLock lock(&mu_);
  const bool* stopping = &stopping_;
  mu_.AwaitWithTimeout(absl::Condition(stopping), options_.interval);
  return !stopping_;
}

void HealthMonitor::Start() {
  if (prober_.joinable()) return;
  prober_ = std::thread([this] {
    do {
      CheckNow().IgnoreError();  // the listener hears about it
    } while (Pause());
  });
  watchdog_ = std::thread([this] {
    while (Pause()) CheckForStalledProbe().IgnoreError();
  });
}

void HealthMonitor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (prober_.joinable()) prober_.join();
  if (watchdog_.joinable()) watchdog_.join();
}

}  // namespace acme_signer::signer
