// AgentSeenRecorder: "last seen" for `acme-signer agents list`. The signer notes every agent
// it serves (a call whose client certificate verified and named an agent) in the state store
// (agents_seen), but at most once per agent and `interval` (and again at once when the peer
// address changes), so calls do not each pay an fsync'ed write.
//
// Thread-safety: thread-safe.
#ifndef ACME_SIGNER_SIGNER_AGENT_SEEN_H_
#define ACME_SIGNER_SIGNER_AGENT_SEEN_H_

#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "signer/state_store.h"

namespace acme_signer::signer {

class AgentSeenRecorder {
 public:
  // `store` must outlive the recorder. `clock` is injectable for tests.
  explicit AgentSeenRecorder(StateStore* store, absl::Duration interval = absl::Minutes(1),
                             std::function<absl::Time()> clock = [] { return absl::Now(); })
      : store_(store), interval_(interval), clock_(std::move(clock)) {}

  // Notes that `agent` was served to `grpc_peer` now (the address as http::PeerAddress gives
  // it, no port). Returns whether a row was written. A
  // failed write is reported on stderr (last seen is informational: the call goes on) and
  // tried again at the next call.
  bool Note(absl::string_view agent, absl::string_view grpc_peer) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Last {
    absl::Time written = absl::InfinitePast();
    std::string peer;
  };
  StateStore* const store_;
  const absl::Duration interval_;
  const std::function<absl::Time()> clock_;
  absl::Mutex mu_;
  // Bounded by the number of agents a certificate can name: the handshake only admits
  // certificates of the agent CA.
  absl::flat_hash_map<std::string, Last> last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AGENT_SEEN_H_
