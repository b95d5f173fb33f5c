// Per-agent sliding-window limit on orders (AgentPolicy::orders_per_hour).
//
// RateLimiter is thread-safe. The admitted orders live in the state store
// (StateStore::AdmitRateEvent): every replica on a shared database counts against the same
// limit, and a restart does not reset it. The store keeps, per agent, the times of the orders
// admitted within the last `window`. Time is passed in by the caller (`now`), which keeps the
// limiter deterministic under test; in production pass absl::Now(). If the clock steps
// backwards, orders recorded "in the future" keep counting until they fall out of the window,
// so a clock step can only make the limit stricter. A store error refuses the order (fail
// closed) with the store's status.
#ifndef ACME_SIGNER_SIGNER_RATE_LIMITER_H_
#define ACME_SIGNER_SIGNER_RATE_LIMITER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "signer/state_store.h"

namespace acme_signer::signer {

class RateLimiter {
 public:
  // `store` is not owned and must outlive the limiter.
  explicit RateLimiter(StateStore& store, absl::Duration window = absl::Hours(1));

  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Admits one order for `agent` at `now` when fewer than `limit` orders were admitted in
  // (now - window, now], and records it. Otherwise records nothing and returns
  // ResourceExhausted naming the agent, the limit and when the next order will be admitted.
  // A `limit` below 1 admits nothing. One agent's usage never affects another's.
  absl::Status TryAcquire(absl::string_view agent, int limit, absl::Time now);

 private:
  StateStore& store_;
  const absl::Duration window_;
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_RATE_LIMITER_H_
