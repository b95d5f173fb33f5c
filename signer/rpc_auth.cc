#include "signer/rpc_auth.h"

#include <grpcpp/security/auth_context.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace acme_signer::signer {
namespace {

// Parsing the client certificate costs more than the rest of a SignJws call, and an agent
// presents the same certificate on every call of a connection. The TLS layer has verified it
// for this handshake; the name derived from it depends only on its bytes and the trust domain.
class IdentityCache {
 public:
  absl::StatusOr<PeerAgent> Identify(absl::string_view pem, absl::string_view trust_domain) {
    std::string key = absl::StrCat(trust_domain, "\n", pem);
    {
      absl::MutexLock lock(&mu_);
      auto it = cache_.find(key);
      if (it != cache_.end()) return it->second;
    }
    absl::StatusOr<PeerAgent> agent = IdentifyPeerAgentPem(pem, trust_domain);
    if (!agent.ok()) return agent;  // failures are not cached: they are rare and audited
    absl::MutexLock lock(&mu_);
    if (cache_.size() >= kMaxEntries) cache_.clear();
    cache_.emplace(std::move(key), *agent);
    return agent;
  }

 private:
  static constexpr size_t kMaxEntries = 1024;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, PeerAgent> cache_ ABSL_GUARDED_BY(mu_);
};

IdentityCache& Cache() {
  static IdentityCache* cache = new IdentityCache();
  return *cache;
}

}  // namespace

absl::StatusOr<PeerAgent> AuthenticateCall(const grpc::ServerContext& context,
                                           absl::string_view trust_domain) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) {
    return absl::UnauthenticatedError("the call carries no verified client certificate");
  }
  std::vector<grpc::string_ref> pems = auth->FindPropertyValues("x509_pem_cert");
  if (pems.size() != 1) {
    return absl::UnauthenticatedError("the TLS layer reported no client certificate");
  }
  absl::StatusOr<PeerAgent> agent =
      Cache().Identify(absl::string_view(pems[0].data(), pems[0].size()), trust_domain);
  if (!agent.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("client certificate names no agent: ", agent.status().message()));
  }
  return agent;
}

}  // namespace acme_signer::signer
