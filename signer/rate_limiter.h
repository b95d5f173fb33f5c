// Per-agent sliding-window limit on orders (AgentPolicy::orders_per_hour).
//
// RateLimiter is thread-safe. It keeps, per agent, the times of the orders admitted within the
// last `window`, so memory is bounded by (number of agents) x (their limits). Time is passed
// in by the caller (`now`), which keeps the limiter deterministic under test; in production
// pass absl::Now(). If the clock steps backwards, orders recorded "in the future" keep counting
// until they fall out of the window, so a clock step can only make the limit stricter.
#ifndef ACME_SIGNER_SIGNER_RATE_LIMITER_H_
#define ACME_SIGNER_SIGNER_RATE_LIMITER_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace acme_signer::signer {

class RateLimiter {
 public:
  explicit RateLimiter(absl::Duration window = absl::Hours(1));

  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Admits one order for `agent` at `now` when fewer than `limit` orders were admitted in
  // (now - window, now], and records it. Otherwise records nothing and returns
  // ResourceExhausted naming the agent, the limit and when the next order will be admitted.
  // A `limit` below 1 admits nothing. One agent's usage never affects another's.
  absl::Status TryAcquire(absl::string_view agent, int limit, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mutex_);


 private:
  const absl::Duration window_;
  absl::Mutex mutex_;
  // Admission times per agent, oldest first (modulo clock steps); entries that left the
  // window are dropped on the agent's next TryAcquire.
  absl::flat_hash_map<std::string, std::vector<absl::Time>> admitted_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_RATE_LIMITER_H_
