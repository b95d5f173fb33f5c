#include "signer/agent_seen.h"

#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "http/host_port.h"

namespace acme_signer::signer {

bool AgentSeenRecorder::Note(absl::string_view agent, absl::string_view grpc_peer) {
  const absl::Time now = clock_();
  AgentSeen seen;
  seen.agent = std::string(agent);
  seen.at = now;
  seen.peer = http::PeerAddress(grpc_peer);
  {
    absl::MutexLock lock(&mu_);
    Last& last = last_[seen.agent];
    if (now - last.written < interval_ && last.peer == seen.peer) return false;
    last.written = now;
    last.peer = seen.peer;
  }
  if (absl::Status s = store_->NoteAgentSeen(seen); !s.ok()) {
    std::cerr << "acme-signer: cannot note that agent " << seen.agent
              << " was seen: " << s.message() << std::endl;
    absl::MutexLock lock(&mu_);
    last_[seen.agent].written = absl::InfinitePast();
    return false;
  }
  return true;
}

}  // namespace acme_signer::signer
