// Starts the signer's gRPC server: TLS 1.2+ with the signer's certificate, client
// certificates required and verified against the agent CA
// (by gRPC, or by `revocation` itself when it has a trust anchor) and then against the revoked
// agent certificates (signer/handshake_revocation.h), message size and concurrency
// limits from the config, and the standard gRPC health service. There is no insecure port.
#ifndef ACME_SIGNER_SIGNER_GRPC_SERVER_H_
#define ACME_SIGNER_SIGNER_GRPC_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/status/statusor.h"
#include "signer/config.h"
#include "signer/handshake_revocation.h"

namespace acme_signer::signer {

struct RunningServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;  // the bound port (useful when the config says port 0)
};

// Reads the TLS files named in `config.server` and starts serving `service`; every client
// certificate also passes `revocation` (not owned; must outlive the server).
// Errors name the file that could not be read, or the listen address that could not be bound.
absl::StatusOr<RunningServer> StartGrpcServer(const SignerConfig& config, grpc::Service* service,
                                              const RevokedCertificateCheck* revocation);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_GRPC_SERVER_H_
