#include "signer/peer_failure_limiter.h"

#include "absl/strings/str_cat.h"
#include "http/host_port.h"

namespace acme_signer::signer {

std::string PeerFailureLimiter::Address(absl::string_view peer) {
  return http::PeerWithoutPort(peer);
}

absl::Status PeerFailureLimiter::Check(absl::string_view peer) {
  const std::string address = Address(peer);
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(address);
  if (it == peers_.end()) return absl::OkStatus();
  const absl::Time now = options_.clock();
  const absl::Time window_end = it->second.window_start + options_.window;
  if (now >= window_end) {
    peers_.erase(it);
    return absl::OkStatus();
  }
  if (it->second.failures < options_.max_failures) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("too many failed enrolment attempts from ", address, " (", options_.max_failures,
                   " per ", absl::FormatDuration(options_.window), "); try again in ",
                   absl::FormatDuration(absl::Ceil(window_end - now, absl::Seconds(1)))));
}

void PeerFailureLimiter::NoteFailure(absl::string_view peer) {
  std::string address = Address(peer);
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock();
  auto it = peers_.find(address);
  if (it != peers_.end() && now >= it->second.window_start + options_.window) {
    peers_.erase(it);
    it = peers_.end();
  }
  if (it == peers_.end()) {
    if (peers_.size() >= options_.max_peers) {
      // Drop passed windows; if none passed, the oldest window.
      for (auto e = peers_.begin(); e != peers_.end();) {
        if (now >= e->second.window_start + options_.window) {
          peers_.erase(e++);
        } else {
          ++e;
        }
      }
      if (peers_.size() >= options_.max_peers) {
        auto oldest = peers_.begin();
        for (auto e = peers_.begin(); e != peers_.end(); ++e) {
          if (e->second.window_start < oldest->second.window_start) oldest = e;
        }
        peers_.erase(oldest);
      }
    }
    it = peers_.emplace(std::move(address), Entry{now, 0}).first;
  }
  ++it->second.failures;
}

size_t PeerFailureLimiter::TrackedPeers() const {
  absl::MutexLock lock(&mu_);
  return peers_.size();
}

}  // namespace acme_signer::signer
