// Http01Responder: a minimal HTTP/1.1 server that answers ACME http-01 validation requests
// (RFC 8555 section 8.3): GET /.well-known/acme-challenge/<token> returns the registered key
// authorization as text/plain. Used by the agent's --standalone mode and by tests.
//
// Behaviour: one background thread multiplexes the listening socket and all connections with
// poll() on non-blocking sockets, so a slow or silent client cannot delay others. Each
// connection gets one response and is closed ("Connection: close"). Limits: request head
// (request line + headers) at most Options::max_head_bytes (else 431), complete within
// Options::read_timeout (else the connection is dropped), at most Options::max_connections
// open at once (further clients wait in the listen backlog).
// Responses: 200 for a known token (GET or HEAD), 404 for an unknown token or any other path,
// 405 for other methods, 400 for a malformed request.
//
// The same server also answers other plain-HTTP GET endpoints (the signer's Prometheus
// metrics): with Options::handler set, every GET/HEAD is answered by the handler instead of the
// token table. It is reused rather than adding a plain-TCP mode to the Beast HTTPS server
// because it already has the shape a scrape needs (plain HTTP, one short answer per
// connection, bounded connections and head size, a read timeout) for about twenty lines.
//
// Thread-safety: every method may be called from any thread. AddToken/RemoveToken take
// effect for requests whose head is completed afterwards.
#ifndef ACME_SIGNER_HTTP_HTTP01_RESPONDER_H_
#define ACME_SIGNER_HTTP_HTTP01_RESPONDER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"

namespace acme_signer::http {

// The parsed request line and header fields of an HTTP/1.x request.
struct RequestHead {
  std::string method;     // Case-sensitive token, e.g. "GET".
  std::string target;     // Request target as sent, e.g. "/.well-known/acme-challenge/abc".
  int minor_version = 1;  // HTTP/1.<minor_version>; only 0 and 1 are accepted.
  // Field names lower-cased, values with surrounding whitespace removed, in order.
  std::vector<std::pair<std::string, std::string>> headers;
};

// Parses `head`: the bytes of a request up to and including the empty line ("\r\n\r\n").
// Pure function (no I/O, no global state), safe on arbitrary bytes. Errors are
// InvalidArgument saying what is malformed: request line shape, method token, target
// characters, HTTP version, header field syntax, obsolete line folding, missing Host in
// HTTP/1.1.
absl::StatusOr<RequestHead> ParseRequestHead(absl::string_view head);

// The path under which http-01 tokens are served.
inline constexpr absl::string_view kAcmeChallengePathPrefix = "/.well-known/acme-challenge/";

// What an Http01Responder::Options::handler answers.
struct PlainResponse {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
};

class Http01Responder {
 public:
  struct Options {
    // Numeric IPv4 or IPv6 address to bind ("127.0.0.1", "::1", "0.0.0.0", "::"); IPv6 may
    // be written in brackets. IPv6 sockets are IPv6-only.
    std::string address = "127.0.0.1";
    // 0 picks an ephemeral port; read it back with port() after Start().
    uint16_t port = 0;
    absl::Duration read_timeout = absl::Seconds(10);
    size_t max_head_bytes = 8 * 1024;
    size_t max_connections = 64;
    // When set, answers every GET/HEAD request instead of the http-01 token table. Called on
    // the serving thread (one request at a time: keep it quick) with the request path
    // (absolute-form authority and "?query" removed). Its status must be one of 200, 400,
    // 404, 405, 500 or 503 (others are sent as 500).
    std::function<PlainResponse(absl::string_view path)> handler;
  };

  explicit Http01Responder(Options options);
  // Stops the server (see Stop).
  ~Http01Responder();
  Http01Responder(const Http01Responder&) = delete;
  Http01Responder& operator=(const Http01Responder&) = delete;

  // Binds, listens and starts the serving thread. Errors:
  //  InvalidArgument     address is not a numeric IPv4/IPv6 address;
  //  FailedPrecondition  already running;
  //  Unavailable         "cannot listen on <addr>:<port>: <strerror>" (e.g. address in use,
  //                      permission denied for a port below 1024).
  // May be called again after Stop().
  absl::Status Start();

  // Closes the listener and all connections and joins the thread. Idempotent.
  void Stop();

  // The bound port (the ephemeral one when Options::port was 0); 0 when not running.
  uint16_t port() const { return bound_port_.load(); }
  // "address:port" / "[v6address]:port" of the listener, for messages; empty when stopped.
  std::string listen_address() const;

  // Serves `key_authorization` at /.well-known/acme-challenge/<token>, replacing any earlier
  // value for `token`. InvalidArgument when the token is empty or not base64url (RFC 8555
  // tokens are base64url, so anything else could never be requested correctly).
  absl::Status AddToken(absl::string_view token, absl::string_view key_authorization);
  // Stops serving `token`; unknown tokens are ignored.
  void RemoveToken(absl::string_view token);

  // Number of 200 responses sent so far (lets tests check that a validator came by).
  int64_t challenge_responses_served() const { return served_.load(); }

 private:
  void Serve(UniqueFd listener, UniqueFd wake_read);
  // Builds the full response for one request head (or for a parse failure).
  std::string Respond(absl::string_view head);

  const Options options_;
  absl::Mutex mutex_;
  absl::flat_hash_map<std::string, std::string> tokens_ ABSL_GUARDED_BY(mutex_);
  std::atomic<uint16_t> bound_port_{0};
  std::atomic<int64_t> served_{0};

  // Start and Stop serialize on lifecycle_mutex_. The serving thread owns the listener and
  // the read end of the wake-up pipe while it runs; Stop writes to wake_write_ and joins.
  mutable absl::Mutex lifecycle_mutex_;
  std::thread thread_ ABSL_GUARDED_BY(lifecycle_mutex_);
  UniqueFd wake_write_ ABSL_GUARDED_BY(lifecycle_mutex_);
  std::string listen_address_ ABSL_GUARDED_BY(lifecycle_mutex_);
};

}  // namespace acme_signer::http

#endif  // ACME_SIGNER_HTTP_HTTP01_RESPONDER_H_
