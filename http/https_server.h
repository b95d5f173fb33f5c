// HttpsServer: a small HTTPS/1.1 server for the signer's ACME front door, on Boost.Beast and
// Boost.Asio (Debian libboost1.81-dev, header-only; TLS by OpenSSL, like the rest of the
// project). Beast parses and frames HTTP/1.1 (chunked bodies included) and Asio's OpenSSL
// stream speaks TLS; this file owns the listener, the per-connection loop (handshake, read
// head, read body, answer, keep-alive), the limits and the thread pool. What to answer is
// the handler's.
//
// Behaviour:
//  - One listening socket on `listen` ("host:port", "[v6]:port"; port 0 = pick one, see
//    port()). The host is a numeric address (no name resolution); an IPv6 listener is
//    IPv6-only ("[::]:443" does not take IPv4 connections). Sockets are close-on-exec. TLS
//    only (certificate chain and private key given as PEM in memory, loaded by OpenSSL), TLS
//    1.2 and 1.3 (OpenSSL's default cipher suites; no renegotiation, no compression).
//  - `threads` I/O threads serve all the connections and call the handler (concurrently, at
//    most `threads` at once); each request is handled once its whole body has arrived. The
//    handler runs on an I/O thread: a slow handler takes one thread away from the other
//    connections while it runs.
//  - Bounded: at most max_connections connections (at the limit the listener stops
//    accepting until one ends: newer clients wait in the kernel's backlog), connection_timeout
//    for each step of a connection (the TLS handshake, reading a request head, each read of
//    at most 16 KiB of body, writing an answer; an idle keep-alive connection is closed after
//    it), max_body_bytes of body per request. A longer body is not buffered: the handler is
//    called with body_too_large = true and an empty body (the front door answers it with its
//    own problem document and audit record). How: a body of up to max(1 MiB, 4 *
//    max_body_bytes) is read and discarded, then the handler is called and the connection
//    stays usable; a larger declared Content-Length is answered at once, without reading the
//    body, and the connection is closed after the answer (clients that send
//    "Expect: 100-continue" never send the body; one that keeps sending may see a reset
//    before it reads the answer); a larger chunked body is cut off: the connection is closed
//    without an answer and the handler is not called. A request head (request line and
//    header fields) larger than 32 KiB is answered 431, a malformed one 400, both without the
//    handler and followed by the end of the connection. "Expect: 100-continue" is answered
//    100 before the body is read.
//  - Header names reach the handler lower-cased, in arrival order; the path is the request
//    target without the query (not decoded: the front door compares paths byte for byte).
//  - The handler's response is sent as given (status, headers, body); HEAD responses carry
//    no body (Content-Length is that of the body the handler gave). Content-Length,
//    Transfer-Encoding and Connection headers from the handler are ignored (the server frames
//    the answer and decides keep-alive). A handler that throws, or whose response cannot be
//    sent (status outside 200..599, a header name that is not a token, a value with CR, LF
//    or NUL), is answered 500 text/plain (never propagated).
//  - Diagnostics (failed TLS handshakes, malformed requests, accept errors) never reach
//    stderr: they go to HttpsServerOptions::log when set (never with key material).
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

#include "absl/status/status.h"
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
  // Where the server's runtime diagnostics go (one line each, no trailing newline: TLS
  // handshake failures, malformed requests, accept errors...); null drops them. Called from
  // the I/O threads.
  std::function<void(absl::string_view message)> log;
};

// OK when `listen` is what HttpsServerOptions::listen accepts: "a.b.c.d:port" or
// "[v6]:port" with a numeric address (no host names: the listener binds one address) and a
// port 0..65535; InvalidArgument naming what is wrong otherwise. For config validation.
absl::Status ValidateHttpsListen(absl::string_view listen);

class HttpsServer {
 public:
  // Binds and starts serving. Errors: InvalidArgument naming a bad option (listen address,
  // certificate or key that OpenSSL cannot load or that do not match, threads/max_connections
  // < 1, max_connections < threads, max_body_bytes or connection_timeout not positive, a null
  // handler); Unavailable when the address cannot be bound (in use, not local), naming it;
  // Internal when the server fails otherwise (sockets, threads, memory), with the reason. The
  // private key is wiped from `options` whatever the outcome.
  static absl::StatusOr<std::unique_ptr<HttpsServer>> Start(HttpsServerOptions options,
                                                            RequestHandler handler);

  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;
  // Stop().
  ~HttpsServer();

  // The bound port (the chosen one when listen asked for 0).
  int port() const;

  // Stops accepting, waits for handlers in progress to return (their answers may or may not
  // still leave),
  // closes the listener and every connection. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit HttpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace acme_signer::http

#endif  // ACME_SIGNER_HTTP_HTTPS_SERVER_H_
