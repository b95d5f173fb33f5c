// AgentCallLimiter: the per-agent cap on calls in flight (server.max_rpcs_in_flight_per_agent).
#ifndef ACME_SIGNER_SIGNER_AGENT_CALL_LIMITER_H_
#define ACME_SIGNER_SIGNER_AGENT_CALL_LIMITER_H_

#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace acme_signer::signer {

// How many calls each agent has in flight. The gRPC server has a fixed number of threads
// (server.max_concurrent_rpcs) and refuses any call that finds all of them busy, whoever
// makes it; capping each agent's share keeps one busy or hostile agent from taking every
// thread from the others. Thread-safe.
//
// One per server: cmd_serve owns it and hands it to SignerService (SignerService::Deps), as
// it does the RateLimiter; tests construct their own.
class AgentCallLimiter {
 public:
  // One admitted call; releases its place when destroyed. Movable, not copyable.
  class Slot {
   public:
    Slot(Slot&& other) noexcept
        : limiter_(std::exchange(other.limiter_, nullptr)), agent_(std::move(other.agent_)) {}
    Slot& operator=(Slot&&) = delete;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();

   private:
    friend class AgentCallLimiter;
    Slot(AgentCallLimiter* limiter, std::string agent)
        : limiter_(limiter), agent_(std::move(agent)) {}
    AgentCallLimiter* limiter_;
    std::string agent_;
  };

  AgentCallLimiter() = default;
  AgentCallLimiter(const AgentCallLimiter&) = delete;
  AgentCallLimiter& operator=(const AgentCallLimiter&) = delete;

  // Admits one more call of `agent` when it has fewer than `limit` in flight (the Slot must
  // live as long as the call); otherwise ResourceExhausted naming the agent and the limit.
  // One agent's calls never count against another's.
  absl::StatusOr<Slot> Acquire(absl::string_view agent, int limit) ABSL_LOCKS_EXCLUDED(mu_);

  // Calls of `agent` admitted and not yet released.
  int InFlight(absl::string_view agent) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Release(const std::string& agent) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  // Only agents with calls in flight have an entry, so the map stays as small as the number
  // of busy agents.
  absl::flat_hash_map<std::string, int> in_flight_ ABSL_GUARDED_BY(mu_);
};
}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AGENT_CALL_LIMITER_H_
