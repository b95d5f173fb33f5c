#include "signer/agent_seen.h"

#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace acme_signer::signer {

std::string PeerAddress(absl::string_view grpc_peer) {
  absl::string_view peer = grpc_peer;
  if (absl::ConsumePrefix(&peer, "unix:")) return std::string(peer);
  if (!absl::ConsumePrefix(&peer, "ipv4:")) absl::ConsumePrefix(&peer, "ipv6:");
  if (absl::StartsWith(peer, "[")) {
    const size_t close = peer.find(']');
    if (close != absl::string_view::npos) return std::string(peer.substr(1, close - 1));
  }
  const size_t colon = peer.rfind(':');
  if (colon != absl::string_view::npos && peer.find(':') == colon) {
    peer = peer.substr(0, colon);
  }
  return std::string(peer);
}

bool AgentSeenRecorder::Note(absl::string_view agent, absl::string_view grpc_peer) {
  const absl::Time now = clock_();
  AgentSeen seen;
  seen.agent = std::string(agent);
  seen.at = now;
  seen.peer = PeerAddress(grpc_peer);
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
