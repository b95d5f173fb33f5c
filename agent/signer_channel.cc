#include "agent/signer_channel.h"

#include <grpc/grpc.h>

#include "absl/strings/str_cat.h"

namespace acme_signer::agent {

std::string SignerServiceConfigJson(bool several_replicas) {
  // One signer: nothing to turn to. Its refusal (e.g. "the audit log cannot be written ...",
  // UNAVAILABLE) reaches the caller as it is, instead of gRPC's "backend unhealthy" or a
  // repeat of the call that the same signer would refuse again; the agent's own retry window
  // (agent/signer_retry.h) still applies.
  if (!several_replicas) return R"({"loadBalancingConfig":[{"round_robin":{}}]})";
  std::string names;
  for (const char* method :
       {"GetAccount", "GetOrder", "GetCertificate", "GetRenewalInfo", "AnswerChallenge"}) {
    if (!names.empty()) names += ",";
    absl::StrAppend(&names, R"({"service":"acmesigner.v1.Signer","method":")", method, R"("})");
  }
  return absl::StrCat(
      R"({"loadBalancingConfig":[{"round_robin":{}}],)",
      R"("healthCheckConfig":{"serviceName":""},)", R"("methodConfig":[{"name":[)", names, R"(],)",
      R"("retryPolicy":{"maxAttempts":3,"initialBackoff":"0.1s","maxBackoff":"1s",)",
      R"("backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}]})");
}

std::shared_ptr<grpc::Channel> CreateSignerChannel(
    const SignerTarget& target, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const std::string& server_name) {
  grpc::ChannelArguments args;
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  args.SetMaxReceiveMessageSize(16 << 20);
  args.SetServiceConfigJSON(SignerServiceConfigJson(target.MayNameSeveral()));
  args.SetInt(GRPC_ARG_SERVICE_CONFIG_DISABLE_RESOLUTION, 1);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(target.text(), credentials, args);
}

}  // namespace acme_signer::agent
