#include "acme/poll.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace acme_signer::acme {

Backoff::Backoff(const PollPolicy& policy)
    : policy_(policy), deadline_(policy.now() + policy.timeout), next_(policy.initial) {}

absl::Duration Backoff::NextDelay(std::optional<absl::Duration> retry_after) const {
  if (retry_after.has_value()) return std::max(*retry_after, policy_.initial);
  return std::clamp(next_, absl::ZeroDuration(), policy_.max_interval);
}

absl::Status Backoff::Wait(std::optional<absl::Duration> retry_after, absl::string_view what) {
  absl::Duration delay = NextDelay(retry_after);
  const double jitter = std::clamp(policy_.jitter, 0.0, 1.0);
  if (jitter > 0 && delay > absl::ZeroDuration()) {
    delay *= retry_after.has_value() ? absl::Uniform(bitgen_, 1.0, 1.0 + jitter)
                                     : absl::Uniform(bitgen_, 1.0 - jitter, 1.0);
  }
  const absl::Time now = policy_.now();
  if (now + delay > deadline_) {
    std::string message =
        absl::StrCat(what, " did not finish within ", absl::FormatDuration(policy_.timeout), " (",
                     polls_, " polls)");
    if (retry_after.has_value()) {
      absl::StrAppend(&message, "; the CA asked to wait ", absl::FormatDuration(*retry_after),
                      " more");
    }
    absl::StrAppend(&message, "; it may still complete: poll it again later");
    return absl::DeadlineExceededError(message);
  }
  policy_.sleep(delay);
  ++polls_;
  next_ = std::min(next_ * 2, policy_.max_interval);
  return absl::OkStatus();
}

}  // namespace acme_signer::acme
