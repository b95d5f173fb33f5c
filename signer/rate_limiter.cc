#include "signer/rate_limiter.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "signer/name_policy.h"

namespace acme_signer::signer {

RateLimiter::RateLimiter(StateStore& store, absl::Duration window)
    : store_(store), window_(window) {}

absl::Status RateLimiter::TryAcquire(absl::string_view agent, int limit, absl::Time now) {
  const std::string rate = absl::StrCat(limit, " orders per ", absl::FormatDuration(window_));
  if (limit < 1) {
    return absl::ResourceExhaustedError(
        absl::StrCat("agent ", EscapeForError(agent), " may place no orders (limit ", rate, ")"));
  }
  absl::StatusOr<RateDecision> decision = store_.AdmitRateEvent(agent, limit, window_, now);
  if (!decision.ok()) {
    return absl::Status(decision.status().code(),
                        absl::StrCat("cannot check the rate limit of agent ", EscapeForError(agent),
                                     ": ", decision.status().message()));
  }
  if (!decision->admitted) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "agent ", EscapeForError(agent), " exceeded its rate limit of ", rate,
        "; next order allowed in ",
        absl::FormatDuration(absl::Ceil(decision->next_free - now, absl::Seconds(1)))));
  }
  return absl::OkStatus();
}

}  // namespace acme_signer::signer
