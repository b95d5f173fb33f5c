#include "agent/signer_retry.h"

#include <algorithm>

namespace acme_signer::agent {
namespace {

// An attempt with less time than this left in the window is not started: it could not
// complete a TLS handshake and a call on a loaded host.
constexpr absl::Duration kShortestAttempt = absl::Milliseconds(500);

}  // namespace

bool SignerRetry::IsRetryable(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kAborted;
}

absl::Time SignerRetry::AttemptDeadline(absl::Time start, absl::Duration call_timeout) const {
  const absl::Time deadline = start + call_timeout;
  absl::MutexLock lock(&mu_);
  if (!outage_start_.has_value() || options_.window <= absl::ZeroDuration()) return deadline;
  return std::min(deadline, *outage_start_ + options_.window);
}

bool SignerRetry::BackOff(absl::Time start, int attempt) {
  if (options_.window <= absl::ZeroDuration() || attempt >= kMaxAttempts) return false;
  absl::Time window_end;
  {
    absl::MutexLock lock(&mu_);
    if (!outage_start_.has_value()) outage_start_ = start;
    window_end = *outage_start_ + options_.window;
  }
  absl::Duration pause = options_.initial_backoff;
  for (int i = 1; i < attempt && pause < options_.max_backoff; ++i) pause *= 2;
  pause = std::min(pause, options_.max_backoff);
  const absl::Duration left = window_end - options_.now() - kShortestAttempt;
  if (left <= absl::ZeroDuration()) return false;
  options_.sleep(std::min(pause, left));
  return true;
}

void SignerRetry::Answered() {
  absl::MutexLock lock(&mu_);
  outage_start_.reset();
}

std::optional<absl::Time> SignerRetry::outage_start() const {
  absl::MutexLock lock(&mu_);
  return outage_start_;
}

}  // namespace acme_signer::agent
