#include "signer/agent_call_limiter.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace acme_signer::signer {

AgentCallLimiter::Slot::~Slot() {
  if (limiter_ != nullptr) limiter_->Release(agent_);
}

absl::StatusOr<AgentCallLimiter::Slot> AgentCallLimiter::Acquire(absl::string_view agent,
                                                                 int limit) {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(agent);
  const int count = it == in_flight_.end() ? 0 : it->second;
  if (count >= limit) {
    return absl::ResourceExhaustedError(absl::StrCat("agent ", agent, " already has ", count,
                                                     " calls in flight, the most allowed "
                                                     "(server.max_rpcs_in_flight_per_agent = ",
                                                     limit, "); wait for them to finish"));
  }
  if (it == in_flight_.end()) {
    in_flight_.emplace(agent, 1);
  } else {
    ++it->second;
  }
  return Slot(this, std::string(agent));
}

int AgentCallLimiter::InFlight(absl::string_view agent) const {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(agent);
  return it == in_flight_.end() ? 0 : it->second;
}

void AgentCallLimiter::Release(const std::string& agent) {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(agent);
  if (it == in_flight_.end()) return;
  if (--it->second <= 0) in_flight_.erase(it);
}

}  // namespace acme_signer::signer
