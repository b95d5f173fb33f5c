// HttpsServer: a small HTTPS/1.1 server for the signer's ACME front door, on libmicrohttpd
// (Debian libmicrohttpd-dev; TLS by its GnuTLS backend). It owns the listener, TLS, request
// parsing and connection limits; what to answer is the handler's.
//
// Behaviour:
//  - One listening socket on `listen` ("host:port", "[v6]:port"; port 0 = pick one, see
//    port()). The host is a numeric address (no name resolution); an IPv6 listener is
//    IPv6-only ("[::]:443" does not take IPv4 connections). TLS only (certificate chain and
//    private key given as PEM in memory), TLS 1.2 and 1.3 (GnuTLS priorities
//    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2").
//  - A pool of `threads` worker threads calls the handler (concurrently); each request is
//    handled once its whole body has arrived. Each thread serves its share of the connections
//    (max_connections / threads), so a slow handler delays only its own thread's clients.
//  - Bounded: at most max_connections connections, connection_timeout of inactivity per
//    connection (whole seconds, at least 1), max_body_bytes of body per request. A longer body
//    is not buffered: the handler is called with body_too_large = true and an empty body (the
//    front door answers it with its own problem document and audit record). How: a body of up
//    to max(1 MiB, 4 * max_body_bytes) is read and discarded, then the handler is called and
//    the connection stays usable; a larger declared Content-Length is answered at once, without
//    reading the body, and the connection is closed after the answer (clients that send
//    "Expect: 100-continue" never send the body; one that keeps sending may see a reset
//    before it reads the answer); a larger chunked body is cut off: the connection is closed
//    without an answer and the handler is not called. A request head larger than
//    libmicrohttpd's per-connection memory (32 KiB) is answered 431 by libmicrohttpd, without
//    the handler.
//  - Header names reach the handler lower-cased; the path is the request target without the
//    query (not decoded: the front door compares paths byte for byte).
//  - The handler's response is sent as given (status, headers, body); HEAD responses carry
//    no body (Content-Length is that of the body the handler gave). A Content-Length header
//    from the handler is ignored (the server computes it). A handler that throws, or whose
//    response cannot be sent (status outside 200..599, a header with CR, LF or NUL), is
//    answered 500 text/plain (never propagated).
//  - libmicrohttpd's diagnostics never reach stderr: they go to HttpsServerOptions::log when
//    set (never with key material), and those of a failed Start into its error.
//
// Thread-safety: Start/port/Stop from one thread; the handler (and log) are called from many.
#ifndef ACME_SIGNER_HTTP_HTTPS_SERVER_H_
#define ACME_SIGNER_HTTP_HTTPS_SERVER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace acme_signer::http {

struct ServerRequest {
  std::string method;  // "GET", "HEAD", "POST", ...
  std::string path;    // request target without "?query", e.g. "/acme/order/abc"
  std::string query;   // after '?', without it; empty when none
  // In arrival order; names lower-cased, values as sent.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool body_too_large = false;  // the body exceeded max_body_bytes and was dropped
  std::string peer;             // "ipv4:127.0.0.1:5555" / "ipv6:[::1]:5555" (the gRPC form)

  // The first header named `name` (lower case), or "" when absent.
  std::string Header(absl::string_view name) const;
};

struct ServerResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // may repeat (Link)
  std::string body;
};

using RequestHandler = std::function<ServerResponse(const ServerRequest&)>;

struct HttpsServerOptions {
  std::string listen;           // "127.0.0.1:0", "[::]:8443", "0.0.0.0:14443"
  std::string certificate_pem;  // leaf first, then any intermediates
  std::string private_key_pem;  // secret: never logged; wiped after Start
  size_t max_body_bytes = 64 * 1024;
  int threads = 4;
  int max_connections = 256;
  absl::Duration connection_timeout = absl::Seconds(30);
  // Where libmicrohttpd's runtime diagnostics go (one line each, no trailing newline: TLS
  // handshake failures, accept errors...); null drops them. Called from worker threads.
  std::function<void(absl::string_view message)> log;
};

class HttpsServer {
 public:
  // Binds and starts serving. Errors: InvalidArgument naming a bad option (listen address,
  // certificate or key that GnuTLS cannot load, threads/max_connections < 1, max_connections
  // < threads, max_body_bytes or connection_timeout not positive, a null handler);
  // Unavailable when the address cannot be bound (in use, not local), naming it; Internal
  // when libmicrohttpd fails otherwise (threads, memory), with its message. The private key
  // is wiped from `options` whatever the outcome.
  static absl::StatusOr<std::unique_ptr<HttpsServer>> Start(HttpsServerOptions options,
                                                            RequestHandler handler);

  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;
  // Stop().
  ~HttpsServer();

  // The bound port (the chosen one when listen asked for 0).
  int port() const;

  // Stops accepting, waits for handlers in progress to return, closes. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit HttpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace acme_signer::http

#endif  // ACME_SIGNER_HTTP_HTTPS_SERVER_H_
