// Polling policy for the high-level issuance flow: how long to wait between polls of an
// authorization or order and when to give up.
//
// Without a hint the wait grows exponentially from `initial` to `max_interval`, jittered
// downwards by up to `jitter` so many clients do not poll in lock-step. A Retry-After from the
// CA is honoured: the wait is never shorter than it (nor than `initial`, so "Retry-After: 0"
// cannot make a busy loop), jittered upwards. A Retry-After that would cross the deadline
// ends the loop at once with DeadlineExceeded rather than sleeping past it. The total is
// bounded by `timeout`; the defaults are generous because Sectigo keeps orders "processing"
// for minutes.
//
// Backoff is a single poll loop's state; not thread-safe (one per loop).
#ifndef ACME_SIGNER_ACME_POLL_H_
#define ACME_SIGNER_ACME_POLL_H_

#include <functional>
#include <optional>

#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace acme_signer::acme {

struct PollPolicy {
  absl::Duration initial = absl::Seconds(1);
  absl::Duration max_interval = absl::Seconds(30);
  absl::Duration timeout = absl::Minutes(10);
  // Fraction in [0, 1]: waits are multiplied by a random factor in [1 - jitter, 1] (own
  // back-off) or [1, 1 + jitter] (Retry-After).
  double jitter = 0.2;
  // Injected for tests; default to the real clock.
  std::function<absl::Time()> now = [] { return absl::Now(); };
  std::function<void(absl::Duration)> sleep = [](absl::Duration d) { absl::SleepFor(d); };
};

class Backoff {
 public:
  // Starts the clock: the deadline is policy.now() + policy.timeout.
  explicit Backoff(const PollPolicy& policy);

  // Sleeps before the next poll. `retry_after` is the CA's hint from the last response.
  // DeadlineExceeded ("<what> did not finish within <timeout>...") when the next poll would
  // fall after the deadline; nothing is slept then.
  absl::Status Wait(std::optional<absl::Duration> retry_after, absl::string_view what);

  // The delay Wait would sleep next, before jitter.
  absl::Duration NextDelay(std::optional<absl::Duration> retry_after) const;

  int polls() const { return polls_; }

 private:
  const PollPolicy& policy_;
  absl::Time deadline_;
  absl::Duration next_ = absl::ZeroDuration();
  int polls_ = 0;
  absl::BitGen bitgen_;
};

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_POLL_H_
