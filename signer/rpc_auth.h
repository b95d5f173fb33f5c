// Who is calling: the agent identity of a gRPC call, taken from the client certificate that
// the TLS layer has already verified against the agent CA.
// Thread-safe.
#ifndef ACME_SIGNER_SIGNER_RPC_AUTH_H_
#define ACME_SIGNER_SIGNER_RPC_AUTH_H_

#include <grpcpp/server_context.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "signer/agent_identity.h"

namespace acme_signer::signer {

// The caller's identity. Unauthenticated when the call carries no verified client
// certificate (only possible on an insecure port, which the signer never opens) or when the
// certificate has no valid agent URI SAN for `trust_domain`; the message says which.
absl::StatusOr<PeerAgent> AuthenticateCall(const grpc::ServerContext& context,
                                           absl::string_view trust_domain);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_RPC_AUTH_H_
