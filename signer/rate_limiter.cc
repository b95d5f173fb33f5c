#include "signer/rate_limiter.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "signer/name_policy.h"

namespace acme_signer::signer {

RateLimiter::RateLimiter(absl::Duration window) : window_(window) {}

absl::Status RateLimiter::TryAcquire(absl::string_view agent, int limit, absl::Time now) {
  const std::string rate = absl::StrCat(limit, " orders per ", absl::FormatDuration(window_));
  if (limit < 1) {
    return absl::ResourceExhaustedError(
        absl::StrCat("agent ", EscapeForError(agent), " may place no orders (limit ", rate, ")"));
  }
  absl::MutexLock lock(&mutex_);
  std::vector<absl::Time>& admitted = admitted_[agent];
  const absl::Time cutoff = now - window_;
  std::erase_if(admitted, [&](absl::Time t) { return t <= cutoff; });
  if (static_cast<int>(admitted.size()) >= limit) {
    // The order that frees a slot is the limit-th newest: after it leaves the window, exactly
    // limit - 1 remain.
    std::vector<absl::Time> sorted = admitted;
    std::sort(sorted.begin(), sorted.end());
    const absl::Time next = sorted[sorted.size() - static_cast<size_t>(limit)] + window_;
    return absl::ResourceExhaustedError(
        absl::StrCat("agent ", EscapeForError(agent), " exceeded its rate limit of ", rate,
                     "; next order allowed in ",
                     absl::FormatDuration(absl::Ceil(next - now, absl::Seconds(1)))));
  }
  admitted.push_back(now);
  return absl::OkStatus();
}

}  // namespace acme_signer::signer
