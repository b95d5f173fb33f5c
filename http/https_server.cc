#include "http/https_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/secret.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/x509.h"

namespace acme_signer::http {
namespace {

// TLS 1.2 and 1.3 only, GnuTLS's default cipher suites otherwise.
constexpr char kTlsPriorities[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";

// Bodies up to this size beyond the cap are read and dropped so that the answer reaches the
// client on a healthy connection (see the header comment).
constexpr uint64_t kMinDrainBytes = uint64_t{1} << 20;

// Per-connection memory of libmicrohttpd (its default, stated): bounds the request head.
constexpr size_t kConnectionMemory = 32 * 1024;

constexpr char kInternalErrorBody[] = "internal server error\n";

struct DaemonDeleter {
  void operator()(MHD_Daemon* daemon) const { MHD_stop_daemon(daemon); }
};
using DaemonPtr = std::unique_ptr<MHD_Daemon, DaemonDeleter>;

struct ResponseDeleter {
  void operator()(MHD_Response* response) const { MHD_destroy_response(response); }
};
using ResponsePtr = std::unique_ptr<MHD_Response, ResponseDeleter>;

// MHD_OPTION_URI_LOG_CALLBACK's function type (microhttpd.h names it only in a comment).
using UriCallback = void* (*)(void* cls, const char* uri, MHD_Connection* connection);

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
  std::string host;
  absl::string_view port_text;
  ListenAddress out;
  if (absl::StartsWith(listen, "[")) {
    const size_t close = listen.find(']');
    if (close == absl::string_view::npos || listen.substr(close + 1, 1) != ":") {
      return bad("expected \"[ipv6-address]:port\"");
    }
    host = std::string(listen.substr(1, close - 1));
    port_text = listen.substr(close + 2);
    out.ipv6 = true;
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == absl::string_view::npos || listen.find(':') != colon) {
      return bad("expected \"ipv4-address:port\" or \"[ipv6-address]:port\"");
    }
    host = std::string(listen.substr(0, colon));
    port_text = listen.substr(colon + 1);
  }
  uint32_t port = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
      !absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return bad(absl::StrCat("port \"", port_text, "\" is not a number in 0..65535"));
  }
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

// What one request has gathered between libmicrohttpd's callbacks. Created by the URI
// callback (the first one for every request), destroyed by the completion callback.
struct RequestState {
  std::string raw_target;  // request target as sent, query included
  bool headers_seen = false;
  std::string body;
  bool body_too_large = false;
  uint64_t dropped_bytes = 0;  // body bytes read and dropped after the cap was passed
};

bool HasNul(absl::string_view text) { return text.find('\0') != absl::string_view::npos; }

int NoPassphrase(char*, int, int, void*) { return -1; }

// Checks with OpenSSL, before GnuTLS sees them, that the certificate chain parses and that
// the key is an unencrypted PEM key matching its first certificate: clearer errors than
// GnuTLS's, and GnuTLS 3.7 leaks memory on some of these failures.
absl::Status CheckCertificateAndKey(absl::string_view certificate_pem, const Secret& key_pem) {
  absl::StatusOr<std::vector<SslUniquePtr<X509>>> chain = ReadPemCertificates(certificate_pem);
  if (!chain.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTPS server: the TLS certificate: ", chain.status().message()));
  }
  if (chain->empty()) {
    return absl::InvalidArgumentError(
        "HTTPS server: the TLS certificate holds no PEM CERTIFICATE block");
  }
  SslUniquePtr<BIO> bio(
      BIO_new_mem_buf(key_pem.reveal().data(), static_cast<int>(key_pem.reveal().size())));
  if (bio == nullptr) return SslError(absl::StatusCode::kInternal, "BIO_new_mem_buf");
  SslUniquePtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "HTTPS server: the TLS private key is not an unencrypted PEM private key");
  }
  if (X509_check_private_key(chain->front().get(), key.get()) != 1) {
    SslErrors();  // drop the queue: the message says it all
    return absl::InvalidArgumentError(
        "HTTPS server: the TLS private key does not match the TLS certificate (the first of "
        "the chain)");
  }
  return absl::OkStatus();
}

}  // namespace

std::string ServerRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "";
}

struct HttpsServer::Impl {
  Impl(HttpsServerOptions o, RequestHandler h)
      : options(std::move(o)),
        handler(std::move(h)),
        drain_limit(std::max<uint64_t>(kMinDrainBytes, uint64_t{4} * options.max_body_bytes)) {}

  // libmicrohttpd callbacks; `cls` is the Impl.
  static void* OnUri(void* cls, const char* uri, MHD_Connection* connection);
  static MHD_Result OnAccess(void* cls, MHD_Connection* connection, const char* url,
                             const char* method, const char* version, const char* upload_data,
                             size_t* upload_data_size, void** request_context);
  static void OnCompleted(void* cls, MHD_Connection* connection, void** request_context,
                          MHD_RequestTerminationCode code);
  static void OnLog(void* cls, const char* format, va_list args);

  // Calls the handler for the request and queues its answer.
  MHD_Result Answer(MHD_Connection* connection, const char* method, RequestState& state) const;
  // The handler's response, or the 500 answer when the handler throws.
  ServerResponse CallHandler(const ServerRequest& request) const;

  const HttpsServerOptions options;  // private_key_pem is always empty here
  const RequestHandler handler;
  const uint64_t drain_limit;
  int port = 0;

  absl::Mutex log_mutex;
  // While Start runs, libmicrohttpd's messages are kept here for the error; afterwards they go
  // to options.log.
  bool starting ABSL_GUARDED_BY(log_mutex) = true;
  std::vector<std::string> start_messages ABSL_GUARDED_BY(log_mutex);

  // Last member: destroyed (stopped) first, while everything its threads use still exists.
  DaemonPtr daemon;
};

void* HttpsServer::Impl::OnUri(void* /*cls*/, const char* uri, MHD_Connection* /*connection*/) {
  try {
    auto state = std::make_unique<RequestState>();
    state->raw_target = uri == nullptr ? "" : uri;
    return state.release();  // owned by libmicrohttpd until OnCompleted
  } catch (...) {
    return nullptr;  // OnAccess refuses the request (connection closed)
  }
}

void HttpsServer::Impl::OnCompleted(void* /*cls*/, MHD_Connection* /*connection*/,
                                    void** request_context, MHD_RequestTerminationCode /*code*/) {
  std::unique_ptr<RequestState> state(static_cast<RequestState*>(*request_context));
  *request_context = nullptr;
}

void HttpsServer::Impl::OnLog(void* cls, const char* format, va_list args) {
  auto* impl = static_cast<Impl*>(cls);
  char buffer[1024];
  const int n = std::vsnprintf(buffer, sizeof(buffer), format, args);
  if (n < 0) return;
  absl::string_view message(buffer, std::min<size_t>(static_cast<size_t>(n), sizeof(buffer) - 1));
  message = absl::StripTrailingAsciiWhitespace(message);
  if (message.empty()) return;
  {
    absl::MutexLock lock(&impl->log_mutex);
    if (impl->starting) {
      impl->start_messages.emplace_back(message);
      return;
    }
  }
  if (impl->options.log) {
    try {
      impl->options.log(message);
    } catch (...) {
      // A log sink that throws must not unwind through libmicrohttpd.
    }
  }
}

MHD_Result HttpsServer::Impl::OnAccess(void* cls, MHD_Connection* connection, const char* /*url*/,
                                       const char* method, const char* /*version*/,
                                       const char* upload_data, size_t* upload_data_size,
                                       void** request_context) {
  auto* impl = static_cast<Impl*>(cls);
  auto* state = static_cast<RequestState*>(*request_context);
  if (state == nullptr) return MHD_NO;  // OnUri ran out of memory
  try {
    if (!state->headers_seen) {
      // First call: the head is complete, no body yet.
      state->headers_seen = true;
      const char* length =
          MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
      uint64_t declared = 0;
      if (length != nullptr && absl::SimpleAtoi(length, &declared) &&
          declared > impl->options.max_body_bytes) {
        state->body_too_large = true;
        // Too large even to drain: answer now; libmicrohttpd then skips the body and closes.
        if (declared > impl->drain_limit) return impl->Answer(connection, method, *state);
      } else if (length != nullptr && declared > 0) {
        state->body.reserve(static_cast<size_t>(declared));
      }
      return MHD_YES;
    }
    if (*upload_data_size > 0) {
      const size_t size = *upload_data_size;
      *upload_data_size = 0;
      if (!state->body_too_large && state->body.size() + size <= impl->options.max_body_bytes) {
        state->body.append(upload_data, size);
        return MHD_YES;
      }
      if (!state->body_too_large) {
        state->body_too_large = true;
        state->dropped_bytes = state->body.size();
      }
      if (!state->body.empty()) std::string().swap(state->body);
      state->dropped_bytes += size;
      // A chunked body past the drain limit: give up on this connection.
      return state->dropped_bytes > impl->drain_limit ? MHD_NO : MHD_YES;
    }
    return impl->Answer(connection, method, *state);
  } catch (...) {
    return MHD_NO;  // out of memory while gathering: close the connection
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

namespace {

// The MHD response for `response`, or null when it cannot be sent as given.
ResponsePtr BuildMhdResponse(const ServerResponse& response) {
  if (response.status < 200 || response.status > 599) return nullptr;
  ResponsePtr out(MHD_create_response_from_buffer(
      response.body.size(), const_cast<char*>(response.body.data()), MHD_RESPMEM_MUST_COPY));
  if (out == nullptr) return nullptr;
  for (const auto& [name, value] : response.headers) {
    // libmicrohttpd computes Content-Length itself and refuses one from the application.
    if (absl::EqualsIgnoreCase(name, MHD_HTTP_HEADER_CONTENT_LENGTH)) continue;
    if (HasNul(name) || HasNul(value) ||
        MHD_add_response_header(out.get(), name.c_str(), value.c_str()) != MHD_YES) {
      return nullptr;
    }
  }
  return out;
}

MHD_Result QueueInternalError(MHD_Connection* connection) {
  ResponsePtr response(MHD_create_response_from_buffer(sizeof(kInternalErrorBody) - 1,
                                                       const_cast<char*>(kInternalErrorBody),
                                                       MHD_RESPMEM_PERSISTENT));
  if (response == nullptr || MHD_add_response_header(response.get(), MHD_HTTP_HEADER_CONTENT_TYPE,
                                                     "text/plain") != MHD_YES) {
    return MHD_NO;
  }
  return MHD_queue_response(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, response.get());
}

}  // namespace

MHD_Result HttpsServer::Impl::Answer(MHD_Connection* connection, const char* method,
                                     RequestState& state) const {
  ServerRequest request;
  request.method = method == nullptr ? "" : method;
  const size_t question = state.raw_target.find('?');
  request.path = state.raw_target.substr(0, question);
  if (question != std::string::npos) request.query = state.raw_target.substr(question + 1);
  MHD_get_connection_values_n(
      connection, MHD_HEADER_KIND,
      [](void* cls, MHD_ValueKind, const char* key, size_t key_size, const char* value,
         size_t value_size) -> MHD_Result {
        auto* headers = static_cast<std::vector<std::pair<std::string, std::string>>*>(cls);
        headers->emplace_back(absl::AsciiStrToLower(absl::string_view(key, key_size)),
                              value == nullptr ? std::string() : std::string(value, value_size));
        return MHD_YES;
      },
      &request.headers);
  if (state.body_too_large) {
    request.body_too_large = true;
  } else {
    request.body = std::move(state.body);
  }
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  request.peer = FormatPeer(info == nullptr ? nullptr : info->client_addr);

  const ServerResponse response = CallHandler(request);
  ResponsePtr mhd_response = BuildMhdResponse(response);
  if (mhd_response == nullptr) return QueueInternalError(connection);
  // libmicrohttpd holds its own reference until the response is sent.
  return MHD_queue_response(connection, static_cast<unsigned int>(response.status),
                            mhd_response.get());
}

HttpsServer::HttpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpsServer::~HttpsServer() { Stop(); }

int HttpsServer::port() const { return impl_->port; }

void HttpsServer::Stop() {
  // MHD_stop_daemon closes the listener and every connection, and joins the worker threads
  // (so handlers in progress finish first).
  impl_->daemon.reset();
}

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
        options.threads, "): each thread serves its share"));
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
  if (absl::Status s = CheckCertificateAndKey(options.certificate_pem, private_key); !s.ok()) {
    return s;
  }

  // Whole seconds, rounded up.
  const int64_t timeout_seconds = std::clamp<int64_t>(
      absl::ToInt64Seconds(absl::Ceil(options.connection_timeout, absl::Seconds(1))), 1,
      std::numeric_limits<unsigned int>::max());

  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  const HttpsServerOptions& o = impl->options;
  unsigned int flags = MHD_USE_TLS | MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
  if (address->ipv6) flags |= MHD_USE_IPv6;
  // clang-format off
  MHD_Daemon* daemon = MHD_start_daemon(
      // The port only for libmicrohttpd's messages: MHD_OPTION_SOCK_ADDR is what it binds.
      flags, address->port, /*apc=*/nullptr, nullptr, &Impl::OnAccess, impl.get(),
      // The logger first, so that option errors reach it too.
      MHD_OPTION_EXTERNAL_LOGGER, static_cast<MHD_LogCallback>(&Impl::OnLog),
          static_cast<void*>(impl.get()),
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<const sockaddr*>(&address->storage),
      MHD_OPTION_HTTPS_MEM_CERT, static_cast<const char*>(o.certificate_pem.c_str()),
      MHD_OPTION_HTTPS_MEM_KEY, static_cast<const char*>(private_key.mutable_value().c_str()),
      MHD_OPTION_HTTPS_PRIORITIES, static_cast<const char*>(kTlsPriorities),
      MHD_OPTION_THREAD_POOL_SIZE, static_cast<unsigned int>(o.threads),
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned int>(o.max_connections),
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned int>(timeout_seconds),
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, kConnectionMemory,
      MHD_OPTION_URI_LOG_CALLBACK, static_cast<UriCallback>(&Impl::OnUri),
          static_cast<void*>(impl.get()),
      MHD_OPTION_NOTIFY_COMPLETED, static_cast<MHD_RequestCompletedCallback>(&Impl::OnCompleted),
          static_cast<void*>(impl.get()),
      MHD_OPTION_END);
  // clang-format on
  // libmicrohttpd read the key only while starting (GnuTLS keeps its own copy).
  private_key = Secret();

  std::vector<std::string> messages;
  {
    absl::MutexLock lock(&impl->log_mutex);
    impl->starting = false;
    messages.swap(impl->start_messages);
  }
  if (daemon == nullptr) {
    const std::string why = messages.empty() ? std::string("libmicrohttpd gave no reason")
                                             : absl::StrJoin(messages, "; ");
    const std::string where = absl::StrCat("HTTPS server on ", o.listen, ": ");
    if (absl::StrContains(why, "bind") || absl::StrContains(why, "listen")) {
      return absl::UnavailableError(absl::StrCat(where, "cannot listen: ", why));
    }
    if (absl::StrContains(why, "certificate") || absl::StrContains(why, "key")) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "the TLS certificate or private key was refused: ", why));
    }
    return absl::InternalError(absl::StrCat(where, "libmicrohttpd failed to start: ", why));
  }
  impl->daemon.reset(daemon);
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
  impl->port = info == nullptr ? 0 : info->port;
  return std::unique_ptr<HttpsServer>(new HttpsServer(std::move(impl)));
}

}  // namespace acme_signer::http
