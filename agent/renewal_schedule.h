// When to renew a certificate and when `acme-agent run` should wake up next. Pure functions:
// the caller injects `now` and the random numbers, so tests are deterministic.
//
// Policy:
//  * Without ARI: renew once less than a third of the lifetime remains (certbot's default for
//    90-day certificates is 30 days, i.e. the same rule), moved EARLIER by up to
//    min(lifetime/24, max_jitter) so a fleet that got its certificates at the same moment
//    spreads out without ever renewing later than the one-third point.
//  * With an ARI suggestedWindow (RFC 9773 §4.2): a uniformly random time inside the window; a
//    window in the past means "now". A window starting at or after notAfter is ignored as bogus.
//  * Callers should draw the random number from StableFraction(<cert serial>), so repeated
//    checks of the same certificate agree on the time instead of re-rolling it every run.
// Thread-safe: pure functions.
#ifndef ACME_SIGNER_AGENT_RENEWAL_SCHEDULE_H_
#define ACME_SIGNER_AGENT_RENEWAL_SCHEDULE_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace acme_signer::agent {

struct RenewalWindow {  // ARI suggestedWindow
  absl::Time start;
  absl::Time end;
};

struct ScheduleOptions {
  absl::Duration max_jitter = absl::Hours(12);        // early-renewal spread without ARI
  absl::Duration min_sleep = absl::Minutes(1);        // `run` never spins
  absl::Duration max_sleep = absl::Hours(12);         // `run` re-checks (and re-fetches ARI)
  absl::Duration wake_jitter = absl::Minutes(10);     // added to every sleep
  absl::Duration backoff_initial = absl::Minutes(5);  // first retry after a failure
  absl::Duration backoff_max = absl::Hours(6);
};

// The moment renewal becomes due. `random01` must be in [0, 1) (clamped otherwise).
absl::Time RenewalTime(absl::Time not_before, absl::Time not_after,
                       const std::optional<RenewalWindow>& ari, double random01,
                       const ScheduleOptions& options = ScheduleOptions());

// When a lineage's current certificate is due and why: "revoked" (the lineage recorded it as
// revoked: due at `now`, whatever its dates or ARI window say), "ari" (RenewalTime inside the
// CA's window) or "lifetime" (RenewalTime's one-third rule).
struct RenewalDecision {
  absl::Time due;
  std::string reason;
};
RenewalDecision DecideRenewal(absl::Time now, bool revoked, absl::Time not_before,
                              absl::Time not_after, const std::optional<RenewalWindow>& ari,
                              double random01, const ScheduleOptions& options = ScheduleOptions());

inline bool IsRenewalDue(absl::Time now, absl::Time renewal_time) { return now >= renewal_time; }

// When `run` should check again: at the earliest renewal time across lineages, but no sooner
// than min_sleep and no later than max_sleep from now, plus random01 * wake_jitter. With no
// lineage, after max_sleep (+ jitter).
absl::Time NextCheckTime(absl::Time now, std::optional<absl::Time> earliest_renewal,
                         double random01, const ScheduleOptions& options = ScheduleOptions());

// Delay before retrying after `consecutive_failures` (>= 1) failed attempts: exponential from
// backoff_initial, capped at backoff_max, with "equal jitter" (half fixed, half random) so
// agents that failed together (signer outage) do not retry together. 0 for 0 failures.
absl::Duration FailureBackoff(int consecutive_failures, double random01,
                              const ScheduleOptions& options = ScheduleOptions());

// A number in [0, 1) derived from SHA-256 of `seed`: stable for the same seed, spread evenly
// across seeds (e.g. certificate serial numbers).
double StableFraction(absl::string_view seed);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_RENEWAL_SCHEDULE_H_
