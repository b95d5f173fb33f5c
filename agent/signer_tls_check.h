// Why the signer's TLS certificate is refused. When the agent's connection fails in the TLS
// handshake, gRPC reports only "failed to connect", which reads as "signer unreachable" (exit
// 4) although the usual cause is on this host: [signer] ca names the wrong CA file. This
// fetches the signer's certificate chain itself (OpenSSL, no gRPC, no client certificate) and
// verifies it against that file, so the agent can say what is wrong.
// Thread-safety: thread-safe (no shared state).
#ifndef ACME_SIGNER_AGENT_SIGNER_TLS_CHECK_H_
#define ACME_SIGNER_AGENT_SIGNER_TLS_CHECK_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/signer_client.h"

namespace acme_signer::agent {

// OK when the signer's chain verifies against `connection.ca_cert`, names the expected server
// name and the signer accepts this agent's certificate, and also when nothing could be fetched
// (the signer is really unreachable: the caller keeps its own error). Otherwise:
//  * FailedPrecondition, a problem of this host's configuration, e.g. "the signer's
//    certificate (CN=...) is not signed by CN=... (/etc/acme-agent/ca.pem, [signer] ca): unable
//    to get local issuer certificate; ...", or a certificate that does not name the server;
//  * PermissionDenied when the signer's side verifies but the signer closes the connection
//    after (or during) a handshake with this agent's certificate: refused by the signer
//    (revoked, or not from its agent CA).
// With several replicas in the address, each listed one is checked in turn (a DNS name: the
// first address that accepts a connection); the first problem found is returned.
// Each step (connect, handshake, first read) is bounded by `timeout`, and no replica's check
// starts once `timeout` has passed since the first.
absl::Status CheckSignerCertificate(const SignerConnection& connection, absl::Duration timeout);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_SIGNER_TLS_CHECK_H_
