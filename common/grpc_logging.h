// gRPC's own log lines (gpr_log). Left alone, gRPC prints them on stderr in its own format
// ("E1201 04:07:21.123 1234 ssl_transport_security.cc:1453] Handshake failed with fatal error
// SSL_ERROR_SSL: ..."), once per failed connection attempt: noise that reads like a crash, and
// on the signer an unbounded log a stranger can grow by connecting. acme-signer and acme-agent
// route them through here: the agent drops handshake failures (it reports the failed call
// itself, with the fix), the signer folds them per interval (signer/handshake_failures.h).
//
// Thread-safety: RouteGrpcLogging may be called at any time; the handler runs on gRPC's
// threads, concurrently, and must not call into gRPC.
#ifndef ACME_SIGNER_COMMON_GRPC_LOGGING_H_
#define ACME_SIGNER_COMMON_GRPC_LOGGING_H_

#include <functional>
#include <string>

#include "absl/strings/string_view.h"

namespace acme_signer {

struct GrpcLogLine {
  char severity = 'E';  // 'D', 'I' or 'E'
  std::string file;     // base name of gRPC's source file
  int line = 0;
  std::string message;
};

using GrpcLogHandler = std::function<void(const GrpcLogLine&)>;

// Every gRPC log line that passes gRPC's verbosity (GRPC_VERBOSITY; ERROR by default) goes to
// `handler` instead of stderr. Replaces an earlier handler.
void RouteGrpcLogging(GrpcLogHandler handler);

// Whether the line reports a failed TLS handshake (either side).
bool IsHandshakeFailureLine(const GrpcLogLine& line);

// "<program>: grpc: <message>" (control characters escaped), for lines printed as they come.
std::string FormatGrpcLogLine(absl::string_view program, const GrpcLogLine& line);

// For a client that reports failed calls itself (acme-agent): handshake failure lines are
// dropped, every other line is printed on stderr as FormatGrpcLogLine.
void QuietGrpcHandshakeLogging(absl::string_view program);

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_GRPC_LOGGING_H_
