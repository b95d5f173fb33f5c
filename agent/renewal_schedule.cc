#include "agent/renewal_schedule.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "common/crypto.h"

namespace acme_signer::agent {
namespace {

double Clamp01(double r) {
  if (!(r >= 0.0)) return 0.0;  // also catches NaN
  if (r >= 1.0) return 0.999999999;
  return r;
}

}  // namespace

absl::Time RenewalTime(absl::Time not_before, absl::Time not_after,
                       const std::optional<RenewalWindow>& ari, double random01,
                       const ScheduleOptions& options) {
  const double r = Clamp01(random01);
  if (ari.has_value() && ari->start < not_after) {
    if (ari->end <= ari->start) return ari->start;
    return ari->start + (ari->end - ari->start) * r;
  }
  const absl::Duration lifetime = not_after - not_before;
  if (lifetime <= absl::ZeroDuration()) return not_before;  // nonsense dates: renew now
  const absl::Time one_third_left = not_after - lifetime / 3;
  const absl::Duration spread = std::min(lifetime / 24, options.max_jitter);
  return one_third_left - spread * r;
}

RenewalDecision DecideRenewal(absl::Time now, bool revoked, absl::Time not_before,
                              absl::Time not_after, const std::optional<RenewalWindow>& ari,
                              double random01, const ScheduleOptions& options) {
  if (revoked) return {now, "revoked"};
  const bool uses_ari = ari.has_value() && ari->start < not_after;
  return {RenewalTime(not_before, not_after, ari, random01, options),
          uses_ari ? "ari" : "lifetime"};
}

absl::Time NextCheckTime(absl::Time now, std::optional<absl::Time> earliest_renewal,
                         double random01, const ScheduleOptions& options) {
  absl::Duration delay = options.max_sleep;
  if (earliest_renewal.has_value()) {
    delay = std::clamp(*earliest_renewal - now, options.min_sleep, options.max_sleep);
  }
  return now + delay + options.wake_jitter * Clamp01(random01);
}

absl::Duration FailureBackoff(int consecutive_failures, double random01,
                              const ScheduleOptions& options) {
  if (consecutive_failures <= 0) return absl::ZeroDuration();
  absl::Duration base = options.backoff_initial;
  for (int i = 1; i < consecutive_failures && base < options.backoff_max; ++i) base *= 2;
  base = std::min(base, options.backoff_max);
  return base / 2 + (base / 2) * Clamp01(random01);
}

double StableFraction(absl::string_view seed) {
  const std::string digest = Sha256(seed);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(digest[i]);
  // 53 bits fit a double's mantissa exactly, so the result is < 1.
  return static_cast<double>(v >> 11) / static_cast<double>(uint64_t{1} << 53);
}

}  // namespace acme_signer::agent
