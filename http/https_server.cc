#include "http/https_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/crypto.h"
#include "common/secret.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/unique_fd.h"
#include "common/x509.h"
#include "http/host_port.h"

namespace acme_signer::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// Bodies up to this size beyond the cap are read and dropped so that the answer reaches the
// client on a healthy connection (see the header comment).
constexpr uint64_t kMinDrainBytes = uint64_t{1} << 20;

// The largest request head (request line and header fields) read; a larger one is answered
// 431 without the handler.
constexpr uint32_t kMaxHeadBytes = 32 * 1024;

// Bytes read from the connection per body read.
constexpr size_t kBodyChunkBytes = 16 * 1024;

// How long a TLS close_notify exchange may take after the last answer of a connection.
constexpr absl::Duration kMaxShutdownTime = absl::Seconds(5);

constexpr char kInternalErrorBody[] = "internal server error\n";

// A parsed listen address.
struct ListenAddress {
  sockaddr_storage storage{};
  bool ipv6 = false;
  uint16_t port = 0;
};

absl::StatusOr<ListenAddress> ParseListen(absl::string_view listen) {
  auto bad = [listen](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("HTTPS listen address \"", listen, "\": ", why));
  };
  absl::StatusOr<HostPort> split = SplitHostPort(listen);
  if (!split.ok()) return bad(split.status().message());
  const std::string& host = split->host;
  ListenAddress out;
  out.ipv6 = split->bracketed;
  const int port = split->port;
  out.port = static_cast<uint16_t>(port);
  if (out.ipv6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) != 1) {
      return bad(absl::StrCat("\"", host, "\" is not a numeric IPv6 address"));
    }
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
    if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) != 1) {
      return bad(absl::StrCat("\"", host, "\" is not a numeric IPv4 address"));
    }
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
  }
  return out;
}

// "ipv4:1.2.3.4:port" / "ipv6:[::1]:port"; "" for anything else.
std::string FormatPeer(const sockaddr* address) {
  if (address == nullptr) return "";
  char text[INET6_ADDRSTRLEN] = {};
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    if (::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text)) == nullptr) return "";
    return absl::StrCat("ipv4:", text, ":", ntohs(v4->sin_port));
  }
  if (address->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
    if (::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text)) == nullptr) return "";
    return absl::StrCat("ipv6:[", text, "]:", ntohs(v6->sin6_port));
  }
  return "";
}

bool HasNul(absl::string_view text) { return text.find('\0') != absl::string_view::npos; }

absl::string_view View(beast::string_view text) {
  return absl::string_view(text.data(), text.size());
}

// RFC 9110 token characters (header field names).
bool IsToken(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u)) continue;
    if (absl::string_view("!#$%&'*+-.^_`|~").find(c) == absl::string_view::npos) return false;
  }
  return true;
}

bool IsFieldValue(absl::string_view text) {
  return text.find_first_of(absl::string_view("\r\n\0", 3)) == absl::string_view::npos;
}

// The TLS context: the chain (leaf first) and its key, TLS 1.2 and 1.3 only. Checks with
// OpenSSL that the chain parses and the key is an unencrypted PEM key matching the leaf.
absl::StatusOr<SslUniquePtr<SSL_CTX>> MakeTlsContext(absl::string_view certificate_pem,
                                                     const Secret& key_pem) {
  absl::StatusOr<std::vector<SslUniquePtr<X509>>> chain = ReadPemCertificates(certificate_pem);
  if (!chain.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTPS server: the TLS certificate: ", chain.status().message()));
  }
  if (chain->empty()) {
    return absl::InvalidArgumentError(
        "HTTPS server: the TLS certificate holds no PEM CERTIFICATE block");
  }
  absl::StatusOr<SslUniquePtr<EVP_PKEY>> key =
      ParsePrivateKeyPem(key_pem, "HTTPS server: the TLS private key");
  if (!key.ok()) return key.status();
  if (X509_check_private_key(chain->front().get(), key->get()) != 1) {
    SslErrors();  // drop the queue: the message says it all
    return absl::InvalidArgumentError(
        "HTTPS server: the TLS private key does not match the TLS certificate (the first of "
        "the chain)");
  }
  SslUniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr) return SslError(absl::StatusCode::kInternal, "SSL_CTX_new");
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1) {
    return SslError(absl::StatusCode::kInternal, "SSL_CTX_set_min_proto_version");
  }
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                     SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_use_certificate(ctx.get(), chain->front().get()) != 1) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "HTTPS server: the TLS certificate was refused by OpenSSL");
  }
  for (size_t i = 1; i < chain->size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx.get(), (*chain)[i].get()) != 1) {
      return SslError(absl::StatusCode::kInvalidArgument,
                      absl::StrCat("HTTPS server: TLS certificate ", i + 1,
                                   " of the chain was refused by OpenSSL"));
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx.get(), key->get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "HTTPS server: the TLS private key was refused by OpenSSL");
  }
  return ctx;
}

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

}  // namespace

std::string ServerRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "";
}

struct HttpsServer::Impl {
  class Session;

  Impl(HttpsServerOptions o, RequestHandler h)
      : options(std::move(o)),
        handler(std::move(h)),
        drain_limit(std::max<uint64_t>(kMinDrainBytes, uint64_t{4} * options.max_body_bytes)),
        timeout(ToChrono(options.connection_timeout)),
        shutdown_timeout(ToChrono(std::min(options.connection_timeout, kMaxShutdownTime))) {}
  ~Impl() { Stop(); }

  // Arms the wait for the next connection (on the acceptor's strand).
  void Accept();
  void OnAcceptable(const beast::error_code& ec);
  // A connection ended (its Session is destroyed): resumes accepting when it was paused.
  void ConnectionClosed();
  void Log(absl::string_view message) const;
  // The handler's response, or the 500 answer when the handler throws.
  ServerResponse CallHandler(const ServerRequest& request) const;
  void Stop();

  const HttpsServerOptions options;  // private_key_pem is always empty here
  const RequestHandler handler;
  const uint64_t drain_limit;
  const std::chrono::steady_clock::duration timeout;
  const std::chrono::steady_clock::duration shutdown_timeout;
  int port = 0;

  absl::Mutex mutex;
  int connections ABSL_GUARDED_BY(mutex) = 0;
  bool accepting ABSL_GUARDED_BY(mutex) = false;  // a wait for the next connection is armed
  bool stopping ABSL_GUARDED_BY(mutex) = false;

  // Destroyed in reverse order: the sessions (owned by handlers queued in `io`) go before
  // the TLS context they use.
  std::unique_ptr<asio::ssl::context> tls;
  std::unique_ptr<asio::io_context> io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> accept_retry;  // after a failed accept (EMFILE...)
  std::vector<std::thread> threads;
};

// One connection: TLS handshake, then requests one after the other (keep-alive). Owned by
// the completion handlers of its pending operation; all of them run on its own strand.
class HttpsServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpsServer::Impl& impl, tcp::socket socket, std::string peer)
      : impl_(impl), stream_(std::move(socket), *impl.tls), peer_(std::move(peer)) {}
  ~Session() { impl_.ConnectionClosed(); }

  void Start() {
    beast::get_lowest_layer(stream_).expires_after(impl_.timeout);
    stream_.async_handshake(asio::ssl::stream_base::server,
                            [self = shared_from_this()](const beast::error_code& ec) {
                              self->OnHandshake(ec);
                            });
  }

 private:
  void OnHandshake(const beast::error_code& ec) {
    if (ec) {
      impl_.Log(absl::StrCat("TLS handshake with ", peer_, " failed: ", ec.message()));
      return;
    }
    ReadHead();
  }

  // A request that HTTP/1.1 cannot parse (not one cut short by the end of the connection).
  static bool IsMalformed(const beast::error_code& ec) {
    return ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
           ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message &&
           ec != bhttp::error::short_read && ec != bhttp::error::need_more;
  }

  void ReadHead() {
    parser_.emplace();
    parser_->header_limit(kMaxHeadBytes);
    parser_->body_limit(boost::none);  // gathered and capped by OnBody
    body_.clear();
    body_too_large_ = false;
    dropped_bytes_ = 0;
    beast::get_lowest_layer(stream_).expires_after(impl_.timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](const beast::error_code& ec, size_t) {
                               self->OnHead(ec);
                             });
  }

  void OnHead(beast::error_code ec) {
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
      SendFixed(431, "request header fields too large\n");
      return;
    }
    if (IsMalformed(ec)) {
      impl_.Log(absl::StrCat("bad request from ", peer_, ": ", ec.message()));
      SendFixed(400, "bad request\n");
      return;
    }
    if (ec) return;  // closed, timed out or reset: nothing to answer
    const auto& request = parser_->get();
    const boost::optional<uint64_t> length = parser_->content_length();
    const bool expect_continue =
        absl::EqualsIgnoreCase(View(request[bhttp::field::expect]), "100-continue");
    if (length.has_value() && *length > impl_.options.max_body_bytes) {
      body_too_large_ = true;
      if (*length > impl_.drain_limit) {
        // Too large even to drain: answer now, then close without reading the body.
        Dispatch(/*close_after=*/true);
        return;
      }
    } else if (length.has_value() && *length > 0) {
      body_.reserve(static_cast<size_t>(*length));
    }
    if (expect_continue && request.version() >= 11 && !parser_->is_done()) {
      continue_.emplace(bhttp::status::continue_, request.version());
      beast::get_lowest_layer(stream_).expires_after(impl_.timeout);
      bhttp::async_write(stream_, *continue_,
                         [self = shared_from_this()](const beast::error_code& ec, size_t) {
                           if (!ec) self->ReadBody();
                         });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) {
      Dispatch(/*close_after=*/false);
      return;
    }
    auto& body = parser_->get().body();
    body.data = chunk_.data();
    body.size = chunk_.size();
    beast::get_lowest_layer(stream_).expires_after(impl_.timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](const beast::error_code& ec, size_t) {
                        self->OnBody(ec);
                      });
  }

  void OnBody(beast::error_code ec) {
    if (ec == bhttp::error::need_buffer) ec = {};
    if (IsMalformed(ec)) {
      impl_.Log(absl::StrCat("bad request body from ", peer_, ": ", ec.message()));
      SendFixed(400, "bad request\n");
      return;
    }
    if (ec) return;  // closed, timed out or reset: nothing to answer
    const size_t got = chunk_.size() - parser_->get().body().size;
    if (!body_too_large_ && body_.size() + got <= impl_.options.max_body_bytes) {
      body_.append(chunk_.data(), got);
    } else {
      if (!body_too_large_) {
        body_too_large_ = true;
        dropped_bytes_ = body_.size();
        std::string().swap(body_);
      }
      dropped_bytes_ += got;
      // A chunked body past the drain limit: give up on this connection, unanswered.
      if (dropped_bytes_ > impl_.drain_limit) return;
    }
    ReadBody();
  }

  // Calls the handler and sends its answer.
  void Dispatch(bool close_after) {
    const auto& message = parser_->get();
    ServerRequest request;
    request.method = std::string(View(message.method_string()));
    const absl::string_view target = View(message.target());
    const size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != absl::string_view::npos) {
      request.query = std::string(target.substr(question + 1));
    }
    for (const auto& field : message) {
      request.headers.emplace_back(absl::AsciiStrToLower(View(field.name_string())),
                                   std::string(View(field.value())));
    }
    request.body_too_large = body_too_large_;
    if (!body_too_large_) request.body = std::move(body_);
    request.peer = peer_;
    const bool head = message.method() == bhttp::verb::head;
    const bool keep_alive = message.keep_alive() && !close_after;
    const unsigned version = message.version();

    ServerResponse answer = impl_.CallHandler(request);
    response_.emplace();
    if (!BuildResponse(std::move(answer), head, *response_)) {
      response_.emplace();
      ServerResponse error;
      error.status = 500;
      error.headers = {{"Content-Type", "text/plain"}};
      error.body = kInternalErrorBody;
      BuildResponse(std::move(error), head, *response_);
    }
    response_->version(version);
    response_->keep_alive(keep_alive);
    Write(/*abortive_close=*/close_after);
  }

  // `out` from `in`; false when `in` cannot be sent as given.
  static bool BuildResponse(ServerResponse in, bool head,
                            bhttp::response<bhttp::string_body>& out) {
    if (in.status < 200 || in.status > 599) return false;
    out.result(static_cast<unsigned>(in.status));
    for (const auto& [name, value] : in.headers) {
      if (!IsToken(name) || !IsFieldValue(value)) return false;
      // The server frames the body itself.
      if (absl::EqualsIgnoreCase(name, "Content-Length") ||
          absl::EqualsIgnoreCase(name, "Transfer-Encoding") ||
          absl::EqualsIgnoreCase(name, "Connection")) {
        continue;
      }
      out.insert(beast::string_view(name.data(), name.size()),
                 beast::string_view(value.data(), value.size()));
    }
    if (head) {
      out.content_length(in.body.size());  // and no body
    } else {
      out.body() = std::move(in.body);
      out.content_length(out.body().size());
    }
    return true;
  }

  // An answer made here, without the handler; the connection is closed after it.
  void SendFixed(unsigned status, absl::string_view body) {
    response_.emplace();
    response_->result(status);
    response_->version(11);
    response_->set(bhttp::field::content_type, "text/plain");
    response_->body() = std::string(body);
    response_->content_length(body.size());
    response_->keep_alive(false);
    Write(/*abortive_close=*/true);
  }

  void Write(bool abortive_close) {
    beast::get_lowest_layer(stream_).expires_after(impl_.timeout);
    bhttp::async_write(stream_, *response_,
                       [self = shared_from_this(), abortive_close](const beast::error_code& ec,
                                                                   size_t) {
                         self->OnWritten(ec, abortive_close);
                       });
  }

  void OnWritten(const beast::error_code& ec, bool abortive_close) {
    if (ec) return;
    const bool keep_alive = response_->keep_alive();
    response_.reset();
    if (abortive_close) {
      // Unread request bytes may follow: no close_notify exchange, just the end.
      beast::error_code ignored;
      beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
      return;
    }
    if (keep_alive) {
      ReadHead();
      return;
    }
    beast::get_lowest_layer(stream_).expires_after(impl_.shutdown_timeout);
    stream_.async_shutdown([self = shared_from_this()](const beast::error_code&) {});
  }

  HttpsServer::Impl& impl_;
  TlsStream stream_;
  const std::string peer_;
  beast::flat_buffer buffer_{2 * kMaxHeadBytes};
  std::optional<bhttp::request_parser<bhttp::buffer_body>> parser_;
  std::array<char, kBodyChunkBytes> chunk_;
  std::string body_;
  bool body_too_large_ = false;
  uint64_t dropped_bytes_ = 0;  // body bytes read and dropped after the cap was passed
  std::optional<bhttp::response<bhttp::empty_body>> continue_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
};

void HttpsServer::Impl::Log(absl::string_view message) const {
  if (!options.log) return;
  try {
    options.log(message);
  } catch (...) {
    // A log sink that throws must not unwind through the I/O threads.
  }
}

ServerResponse HttpsServer::Impl::CallHandler(const ServerRequest& request) const {
  try {
    return handler(request);
  } catch (...) {
    ServerResponse response;
    response.status = 500;
    response.headers = {{"Content-Type", "text/plain"}};
    response.body = kInternalErrorBody;
    return response;
  }
}

void HttpsServer::Impl::Accept() {
  acceptor->async_wait(tcp::acceptor::wait_read,
                       [this](const beast::error_code& ec) { OnAcceptable(ec); });
}

void HttpsServer::Impl::OnAcceptable(const beast::error_code& ec) {
  if (ec == asio::error::operation_aborted) return;
  sockaddr_storage address{};
  socklen_t address_size = sizeof(address);
  UniqueFd fd;
  if (!ec) {
    fd = UniqueFd(::accept4(acceptor->native_handle(), reinterpret_cast<sockaddr*>(&address),
                            &address_size, SOCK_CLOEXEC | SOCK_NONBLOCK));
  }
  if (!fd.valid()) {
    const int error = errno;
    if (!ec && (error == EAGAIN || error == EWOULDBLOCK || error == ECONNABORTED ||
                error == EINTR)) {
      Accept();
      return;
    }
    // Out of descriptors or memory: try again a little later rather than spin.
    Log(absl::StrCat("HTTPS server: accept failed: ",
                     ec ? ec.message() : std::string(std::strerror(error))));
    accept_retry->expires_after(std::chrono::milliseconds(100));
    accept_retry->async_wait([this](const beast::error_code& wait_error) {
      if (!wait_error) Accept();
    });
    return;
  }
  bool more = false;
  {
    absl::MutexLock lock(&mutex);
    ++connections;
    more = connections < options.max_connections;
    accepting = more;
  }
  try {
    const auto* sa = reinterpret_cast<const sockaddr*>(&address);
    tcp::socket socket(asio::make_strand(*io));
    beast::error_code assign_error;
    socket.assign(sa->sa_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd.get(), assign_error);
    if (assign_error) {
      Log(absl::StrCat("HTTPS server: cannot take a connection: ", assign_error.message()));
      {
        absl::MutexLock lock(&mutex);
        --connections;
        more = accepting = true;
      }
    } else {
      (void)fd.release();  // the socket owns it
      std::make_shared<Session>(*this, std::move(socket), FormatPeer(sa))->Start();
    }
  } catch (const std::exception& e) {
    Log(absl::StrCat("HTTPS server: cannot take a connection: ", e.what()));
  }
  // At max_connections the listener waits (connections queue in its backlog) until a
  // connection ends: see ConnectionClosed.
  if (more) Accept();
}

void HttpsServer::Impl::ConnectionClosed() {
  absl::MutexLock lock(&mutex);
  --connections;
  if (stopping || accepting || connections >= options.max_connections) return;
  accepting = true;
  asio::post(acceptor->get_executor(), [this] { Accept(); });
}

void HttpsServer::Impl::Stop() {
  {
    absl::MutexLock lock(&mutex);
    if (stopping) return;
    stopping = true;
  }
  // The I/O threads return once the handler each runs (if any) has returned.
  if (io != nullptr) io->stop();
  for (std::thread& thread : threads) thread.join();
  threads.clear();
  // Closes the listener, then every connection (their sessions go with the queued handlers).
  accept_retry.reset();
  acceptor.reset();
  work.reset();
  io.reset();
  tls.reset();
}

HttpsServer::HttpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpsServer::~HttpsServer() { Stop(); }

int HttpsServer::port() const { return impl_->port; }

void HttpsServer::Stop() { impl_->Stop(); }

absl::StatusOr<std::unique_ptr<HttpsServer>> HttpsServer::Start(HttpsServerOptions options,
                                                                RequestHandler handler) {
  // Out of `options` first, so that every return below wipes it.
  Secret private_key(std::move(options.private_key_pem));
  options.private_key_pem.clear();

  if (!handler) return absl::InvalidArgumentError("HTTPS server: the request handler is null");
  if (options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTPS server: threads must be at least 1, not ", options.threads));
  }
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HTTPS server: max_connections must be at least 1, not ", options.max_connections));
  }
  if (options.max_connections < options.threads) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HTTPS server: max_connections (", options.max_connections, ") must be at least threads (",
        options.threads, ")"));
  }
  if (options.max_body_bytes < 1) {
    return absl::InvalidArgumentError("HTTPS server: max_body_bytes must be positive");
  }
  if (options.connection_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("HTTPS server: connection_timeout must be positive");
  }
  if (options.certificate_pem.empty() || HasNul(options.certificate_pem)) {
    return absl::InvalidArgumentError("HTTPS server: the TLS certificate is empty or not PEM text");
  }
  if (private_key.empty() || HasNul(private_key.reveal())) {
    return absl::InvalidArgumentError("HTTPS server: the TLS private key is empty or not PEM text");
  }
  absl::StatusOr<ListenAddress> address = ParseListen(options.listen);
  if (!address.ok()) return address.status();
  absl::StatusOr<SslUniquePtr<SSL_CTX>> ctx = MakeTlsContext(options.certificate_pem, private_key);
  // OpenSSL keeps its own copy of the key.
  private_key = Secret();
  if (!ctx.ok()) return ctx.status();

  const std::string where = absl::StrCat("HTTPS server on ", options.listen, ": ");
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  try {
    impl->tls = std::make_unique<asio::ssl::context>(ctx->release());
    impl->io = std::make_unique<asio::io_context>(impl->options.threads);
    impl->work.emplace(impl->io->get_executor());
    impl->acceptor = std::make_unique<tcp::acceptor>(asio::make_strand(*impl->io));
    impl->accept_retry = std::make_unique<asio::steady_timer>(impl->acceptor->get_executor());
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(where, "cannot set up: ", e.what()));
  }

  const int family = address->ipv6 ? AF_INET6 : AF_INET;
  UniqueFd listener(::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listener.valid()) {
    return absl::InternalError(absl::StrCat(where, "socket: ", std::strerror(errno)));
  }
  const int one = 1;
  if (::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      (address->ipv6 &&
       ::setsockopt(listener.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)) {
    return absl::InternalError(absl::StrCat(where, "setsockopt: ", std::strerror(errno)));
  }
  const socklen_t size = address->ipv6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address->storage), size) != 0 ||
      ::listen(listener.get(), SOMAXCONN) != 0) {
    return absl::UnavailableError(
        absl::StrCat(where, "cannot listen: ", std::strerror(errno)));
  }
  sockaddr_storage bound{};
  socklen_t bound_size = sizeof(bound);
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &bound_size) != 0) {
    return absl::InternalError(absl::StrCat(where, "getsockname: ", std::strerror(errno)));
  }
  impl->port = address->ipv6 ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                             : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  beast::error_code ec;
  impl->acceptor->assign(address->ipv6 ? tcp::v6() : tcp::v4(), listener.get(), ec);
  if (ec) return absl::InternalError(absl::StrCat(where, "cannot listen: ", ec.message()));
  (void)listener.release();  // the acceptor owns it

  {
    absl::MutexLock lock(&impl->mutex);
    impl->accepting = true;
  }
  impl->Accept();
  try {
    for (int i = 0; i < impl->options.threads; ++i) {
      impl->threads.emplace_back([raw = impl.get()] {
        // Returns at Stop. An exception out of a completion handler (out of memory) has
        // ended that connection; the thread goes on serving the others.
        for (;;) {
          try {
            raw->io->run();
            return;
          } catch (const std::exception& e) {
            raw->Log(absl::StrCat("HTTPS server: ", e.what()));
          }
        }
      });
    }
  } catch (const std::exception& e) {
    impl->Stop();
    return absl::InternalError(absl::StrCat(where, "cannot start its threads: ", e.what()));
  }
  return std::unique_ptr<HttpsServer>(new HttpsServer(std::move(impl)));
}

absl::Status ValidateHttpsListen(absl::string_view listen) {
  return ParseListen(listen).status();
}

}  // namespace acme_signer::http
