// The gRPC channel from the agent to the signer's replicas, and the service config that makes
// it fail over:
//  - round_robin over every address of the target (agent/signer_target.h), so a replica that
//    is down, or a listening socket that never answers, does not hold calls up while another
//    replica is ready (pick_first, gRPC's default, would wait on the first address);
//  - client-side health checking (healthCheckConfig, service ""): a replica whose standard
//    health service says NOT_SERVING (its database or HSM is down) gets no calls;
//  - a retryPolicy for the reads (UNAVAILABLE, up to 3 attempts), so a read that lands on a
//    replica dying under it is sent to another at once; agent/signer_retry.h waits out
//    longer outages, for every call;
//  - reconnect backoff capped at 2 s (gRPC's default grows to 120 s), so a restarted replica
//    is used again within seconds;
//  - service configs from DNS (TXT records) are ignored: the agent's behaviour is its own.
// All of this is in gRPC's core in Debian's 1.51 (tests/agent/signer_channel_test.cc runs it).
//
// Thread-safety: the functions are thread-safe; a channel is.
#ifndef ACME_SIGNER_AGENT_SIGNER_CHANNEL_H_
#define ACME_SIGNER_AGENT_SIGNER_CHANNEL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "agent/signer_target.h"

namespace acme_signer::agent {

// The methods of acmesigner.v1.Signer that gRPC itself retries (they change nothing at the
// CA, or nothing a repeat would change): GetAccount, GetOrder, GetCertificate,
// GetRenewalInfo, AnswerChallenge; round robin skips replicas whose standard health service
// reports NOT_SERVING. Both only when the target may name several replicas
// (SignerTarget::MayNameSeveral); for one signer the config is plain round robin.
std::string SignerServiceConfigJson(bool several_replicas = true);

// A channel to `target` with the service config above. `server_name` (when not empty) is the
// name checked in the replicas' certificates (SignerTarget::ServerName).
std::shared_ptr<grpc::Channel> CreateSignerChannel(
    const SignerTarget& target, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const std::string& server_name);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_SIGNER_CHANNEL_H_
