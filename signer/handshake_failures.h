// HandshakeFailureLog: how refused TLS handshakes on the signer's mTLS port reach the log and
// the audit log, instead of gRPC's raw "E1201 ... Handshake failed ..." line per attempt.
//
// Sources: the certificate verifier (signer/handshake_revocation.h), which sees every client
// certificate presented (untrusted, expired, revoked) and reports it with its subject and URI
// SAN; and gRPC's own log lines (common/grpc_logging.h) for what happens before any
// certificate is seen (the client sent none, offered no acceptable TLS version), which
// OnGrpcLogLine condenses into a reason.
//
// Log: one line per client and interval: "acme-signer: TLS handshake refused: <reason>; client
// certificate subject ..., identity ..., sha256 ..." the first time, and for later ones the
// next line after the interval says how many were left out. The client is the certificate
// (its fingerprint) when one was sent, otherwise the reason: gRPC 1.51 shows neither the
// verifier nor its log lines the transport address, so no address can be named.
//
// Audit: every refused handshake is given to the RefusalBudget as a deny record with rpc
// "TlsHandshake", folded there like every refusal. A certificate that verified under the agent
// CA (revoked) is recorded under its agent and fingerprint; everything else under one shared
// identity (empty agent, fingerprint and peer), with what the client sent in the reason, so
// that strangers making up certificates cannot buy themselves fresh audit budgets.
//
// Memory: at most `max_clients` clients are tracked; beyond that they share one entry.
//
// Thread-safety: thread-safe.
#ifndef ACME_SIGNER_SIGNER_HANDSHAKE_FAILURES_H_
#define ACME_SIGNER_SIGNER_HANDSHAKE_FAILURES_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_logging.h"
#include "signer/refusal_budget.h"

namespace acme_signer::signer {

struct HandshakeFailure {
  std::string reason;  // what failed, e.g. "certificate has expired"
  // The client certificate, when one was presented (empty otherwise).
  std::string cert_sha256;
  std::string subject;   // one line, RFC 2253
  std::string identity;  // its URI SAN(s), as sent
  // A certificate that verified under the agent CA (then refused as revoked): audited under
  // its agent (when it names one) and fingerprint.
  bool verified = false;
  std::string agent;
};

class HandshakeFailureLog {
 public:
  struct Options {
    absl::Duration interval = absl::Seconds(60);
    size_t max_clients = 1024;
    std::function<absl::Time()> clock = [] { return absl::Now(); };
    // Where log lines go (one call per line, without newline); stderr by default.
    std::function<void(const std::string&)> write_line;
  };

  // `refusals` may be null (nothing audited); it must outlive this object.
  HandshakeFailureLog(Options options, RefusalBudget* refusals);

  // Logs (folded) and audits one refused handshake.
  void Report(const HandshakeFailure& failure) ABSL_LOCKS_EXCLUDED(mu_);

  // The signer's handler of gRPC's log lines: handshake failures are reported (those of the
  // verifier, already reported by it, are dropped); other lines are printed as
  // "acme-signer: grpc: <message>".
  void OnGrpcLogLine(const GrpcLogLine& line);

  // The reason for a gRPC handshake-failure log line, or "" for a line that repeats a
  // refusal the verifier reported.
  static std::string ReasonFromGrpcLine(absl::string_view message);

 private:
  struct Client {
    absl::Time logged = absl::InfinitePast();
    uint64_t left_out = 0;
  };
  void WriteLine(const std::string& line) const;

  const Options options_;
  RefusalBudget* const refusals_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Client> clients_ ABSL_GUARDED_BY(mu_);
};

// One line about a client certificate, for messages: "subject CN=x, identity spiffe://...,
// sha256 ab12..." (parts left out when empty).
std::string DescribeClientCertificate(const HandshakeFailure& failure);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_HANDSHAKE_FAILURES_H_
