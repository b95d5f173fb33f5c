#include "signer/rpc_auth.h"

#include <grpcpp/security/auth_context.h>

#include "absl/strings/str_cat.h"

namespace acme_signer::signer {

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
      IdentifyPeerAgentPem(absl::string_view(pems[0].data(), pems[0].size()), trust_domain);
  if (!agent.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("client certificate names no agent: ", agent.status().message()));
  }
  return agent;
}

}  // namespace acme_signer::signer
