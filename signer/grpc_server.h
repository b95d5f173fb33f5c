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

// The one-token enrolment listener (server.enroll_listen, which must be set): TLS 1.2+ with the
// signer's certificate, NO client certificate requested, only `service` (the Enrollment
// service; no health service, no reflection), requests of at most 64 KiB, a few threads. Kept
// apart from the mTLS listener so that listener keeps refusing every peer without a verified
// client certificate in the handshake. Errors as StartGrpcServer's.
absl::StatusOr<RunningServer> StartEnrollmentServer(const SignerConfig& config,
                                                    grpc::Service* service);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_GRPC_SERVER_H_
