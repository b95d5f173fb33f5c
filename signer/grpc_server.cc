#include "signer/grpc_server.h"

#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/crypto.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace acme_signer::signer {

absl::StatusOr<RunningServer> StartGrpcServer(const SignerConfig& config, grpc::Service* service,
                                              const RevokedCertificateCheck* revocation) {
  ASSIGN_OR_RETURN(std::string cert_pem, ReadFile(config.server.tls_cert));
  ASSIGN_OR_RETURN(Secret key_pem, ReadSecretFile(config.server.tls_key));
  ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(config.server.agent_ca_cert));

  // The TLS credentials (rather than SslServerCredentials) because only they take a
  // certificate verifier: the revocation list is checked in the handshake. TLS 1.2 is their
  // minimum version, as it was before.
  std::vector<grpc::experimental::IdentityKeyCertPair> identity(1);
  identity[0].private_key = std::string(key_pem.reveal());
  identity[0].certificate_chain = cert_pem;
  auto provider =
      std::make_shared<grpc::experimental::StaticDataCertificateProvider>(ca_pem, identity);
  // The provider keeps its own copy of the key; wipe ours.
  OPENSSL_cleanse(identity[0].private_key.data(), identity[0].private_key.size());
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_root_certs();
  tls.watch_identity_key_cert_pairs();
  // A certificate is always required. When the check verifies chains itself (serve), gRPC does
  // not, so that every refused certificate reaches the check and is reported with its subject
  // (signer/handshake_revocation.h); otherwise gRPC verifies it against the agent CA first.
  tls.set_cert_request_type(revocation->verifies_chain()
                                ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY
                                : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  tls.set_certificate_verifier(MakeRevocationVerifier(revocation));
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::experimental::TlsServerCredentials(tls);

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

absl::StatusOr<RunningServer> StartEnrollmentServer(const SignerConfig& config,
                                                    grpc::Service* service) {
  if (!config.server.enroll_listen.has_value()) {
    return absl::FailedPreconditionError("server.enroll_listen is not set");
  }
  ASSIGN_OR_RETURN(std::string cert_pem, ReadFile(config.server.tls_cert));
  ASSIGN_OR_RETURN(Secret key_pem, ReadSecretFile(config.server.tls_key));
  std::vector<grpc::experimental::IdentityKeyCertPair> identity(1);
  identity[0].private_key = std::string(key_pem.reveal());
  identity[0].certificate_chain = cert_pem;
  auto provider =
      std::make_shared<grpc::experimental::StaticDataCertificateProvider>(identity);
  OPENSSL_cleanse(identity[0].private_key.data(), identity[0].private_key.size());
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  // A host that is not enrolled has no certificate to send; the token authenticates it.
  tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::experimental::TlsServerCredentials(tls);

  grpc::ServerBuilder builder;
  // No health service here: the listener serves the Enrollment service and nothing else.
  builder.SetOption(std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(nullptr));
  RunningServer running;
  const std::string& address = *config.server.enroll_listen;
  builder.AddListeningPort(address, credentials, &running.port);
  builder.RegisterService(service);
  // A token and a CSR: far below this.
  builder.SetMaxReceiveMessageSize(64 << 10);
  builder.SetMaxSendMessageSize(1 << 20);
  grpc::ResourceQuota quota("acme-signer-enroll");
  quota.SetMaxThreads(8);
  builder.SetResourceQuota(quota);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 2);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             static_cast<int>(config.server.handshake_timeout_ms));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, 5 * 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 10 * 1000);
  running.server = builder.BuildAndStart();
  if (running.server == nullptr || running.port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address,
                                               " (server.enroll_listen: address in use, or not "
                                               "an address of this host?)"));
  }
  return running;
}

}  // namespace acme_signer::signer
