#include "signer/grpc_server.h"

#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace acme_signer::signer {

absl::StatusOr<RunningServer> StartGrpcServer(const SignerConfig& config, grpc::Service* service) {
  ASSIGN_OR_RETURN(std::string cert_pem, ReadFile(config.server.tls_cert));
  ASSIGN_OR_RETURN(Secret key_pem, ReadSecretFile(config.server.tls_key));
  ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(config.server.agent_ca_cert));

  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = ca_pem;
  ssl.pem_key_cert_pairs.push_back({std::string(key_pem.reveal()), cert_pem});
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(ssl);
  // gRPC keeps its own copy of the key; wipe ours.
  OPENSSL_cleanse(ssl.pem_key_cert_pairs[0].private_key.data(),
                  ssl.pem_key_cert_pairs[0].private_key.size());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  RunningServer running;
  std::string address = config.server.listen;
  builder.AddListeningPort(address, credentials, &running.port);
  builder.RegisterService(service);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.server.max_message_bytes));
  builder.SetMaxSendMessageSize(16 << 20);
  grpc::ResourceQuota quota("acme-signer");
  quota.SetMaxThreads(static_cast<int>(config.server.max_concurrent_rpcs) + 4);
  builder.SetResourceQuota(quota);
  // Keep the sync server's polling threads instead of creating and destroying one per burst.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              static_cast<int>(config.server.max_concurrent_rpcs));
  // Idle or stalled connections are not allowed to hold resources forever. The handshake
  // timeout is the one that applies before the client certificate is checked, so it is what
  // bounds how long an unauthenticated peer can keep a socket open by saying nothing.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             static_cast<int>(config.server.handshake_timeout_ms));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 5 * 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, 60 * 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 30 * 1000);
  running.server = builder.BuildAndStart();
  if (running.server == nullptr || (running.port == 0 && !absl::StartsWith(address, "unix:"))) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", address, " (address in use, or not an address of this host?)"));
  }
  return running;
}

}  // namespace acme_signer::signer
