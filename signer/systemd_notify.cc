#include "signer/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace acme_signer::signer {
namespace {

void Notify(absl::string_view state, absl::string_view status) {
  // sd_notify returns 0 without NOTIFY_SOCKET and < 0 when the socket cannot be reached;
  // neither is a reason to stop serving (systemd then times the start out, which says more
  // than a line from us could).
  (void)sd_notify(0, SystemdNotifyText(state, status).c_str());
}

}  // namespace

std::string SystemdNotifyText(absl::string_view state, absl::string_view status) {
  std::string text;
  if (!state.empty()) absl::StrAppend(&text, state, "\n");
  std::string clean(status);
  for (char& c : clean) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  absl::StrAppend(&text, "STATUS=", clean);
  return text;
}

void NotifySystemdReady(absl::string_view status) { Notify("READY=1", status); }
void NotifySystemdReloading(absl::string_view status) { Notify("RELOADING=1", status); }
void NotifySystemdStatus(absl::string_view status) { Notify("", status); }
void NotifySystemdStopping(absl::string_view status) { Notify("STOPPING=1", status); }

std::unique_ptr<SystemdWatchdog> SystemdWatchdog::StartIfEnabled(
    std::function<bool(absl::Duration interval)> alive) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return nullptr;
  std::unique_ptr<SystemdWatchdog> watchdog(
      new SystemdWatchdog(absl::Microseconds(static_cast<int64_t>(usec)), std::move(alive)));
  watchdog->thread_ = std::thread([w = watchdog.get()] { w->Run(); });
  return watchdog;
}

SystemdWatchdog::SystemdWatchdog(absl::Duration interval,
                                 std::function<bool(absl::Duration)> alive)
    : interval_(interval), alive_(std::move(alive)) {}

SystemdWatchdog::~SystemdWatchdog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void SystemdWatchdog::Run() {
  // Half the interval, as sd_watchdog_enabled(3) recommends: one late ping is not a restart.
  const absl::Duration period = interval_ / 2;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), period)) return;
    }
    if (alive_(interval_)) (void)sd_notify(0, "WATCHDOG=1");
  }
}

}  // namespace acme_signer::signer
