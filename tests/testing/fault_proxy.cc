#include "tests/testing/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/sigpipe_guard.h"
#include "common/ssl_errors.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "nlohmann/json.hpp"
#include "tests/testing/server_certificate.h"

namespace acme_signer::testing {
namespace {

constexpr size_t kMaxRequestBytes = 1 << 20;
constexpr int kSocketTimeoutSeconds = 30;

std::string ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

// A parsed HTTP/1.1 request.
struct Request {
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  std::string Header(absl::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return value;
    }
    return {};
  }
};

bool WriteAll(SSL* ssl, absl::string_view data) {
  while (!data.empty()) {
    const int n = SSL_write(ssl, data.data(), static_cast<int>(data.size()));
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads one request; nullopt when the peer went away or sent something unusable.
std::optional<Request> ReadRequest(SSL* ssl) {
  std::string buffer;
  char chunk[16384];
  size_t header_end = std::string::npos;
  while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
    if (buffer.size() > kMaxRequestBytes) return std::nullopt;
    const int n = SSL_read(ssl, chunk, sizeof(chunk));
    if (n <= 0) return std::nullopt;
    buffer.append(chunk, static_cast<size_t>(n));
  }
  Request request;
  std::vector<std::string> lines =
      absl::StrSplit(absl::string_view(buffer).substr(0, header_end), "\r\n");
  std::vector<std::string> request_line = absl::StrSplit(lines[0], ' ');
  if (request_line.size() != 3) return std::nullopt;
  request.method = request_line[0];
  request.path = request_line[1];
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    request.headers.emplace_back(
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(lines[i].substr(0, colon))),
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
  }
  size_t length = 0;
  if (std::string cl = request.Header("content-length"); !cl.empty()) {
    if (!absl::SimpleAtoi(cl, &length) || length > kMaxRequestBytes) return std::nullopt;
  }
  request.body = buffer.substr(header_end + 4);
  while (request.body.size() < length) {
    const int n = SSL_read(ssl, chunk, sizeof(chunk));
    if (n <= 0) return std::nullopt;
    request.body.append(chunk, static_cast<size_t>(n));
  }
  request.body.resize(length);
  return request;
}

}  // namespace

Fault Fault::Status(int status, absl::string_view retry_after, absl::string_view acme_error,
                    absl::string_view detail) {
  Fault fault;
  fault.kind = Kind::kStatus;
  fault.status = status;
  fault.retry_after = std::string(retry_after);
  if (!acme_error.empty()) {
    nlohmann::json problem = {{"type", absl::StrCat("urn:ietf:params:acme:error:", acme_error)},
                              {"detail", std::string(detail)},
                              {"status", status}};
    fault.body = problem.dump();
  }
  return fault;
}

Fault Fault::Garbage() {
  Fault fault;
  fault.kind = Kind::kGarbage;
  fault.status = 200;
  fault.content_type = "application/json";
  // Starts like an order, then turns into binary noise and markup: not JSON.
  fault.body =
      absl::StrCat(R"({"status": "valid", "identifiers": [{)",
                   absl::string_view("\x01\xfe\xff\x00\x7f", 5), "<html><b>upstream garbage</b>");
  return fault;
}

Fault Fault::Close() {
  Fault fault;
  fault.kind = Kind::kClose;
  return fault;
}

Fault Fault::Hang() {
  Fault fault;
  fault.kind = Kind::kHang;
  return fault;
}

Fault Fault::Rewrite(absl::string_view from, absl::string_view to) {
  Fault fault;
  fault.kind = Kind::kRewrite;
  fault.forward_first = true;
  fault.rewrite_from = std::string(from);
  fault.rewrite_to = std::string(to);
  return fault;
}

absl::StatusOr<std::unique_ptr<FaultProxy>> FaultProxy::Start(Options options) {
  std::vector<std::string> origins = options.more_upstream_origins;
  origins.push_back(options.upstream_origin);
  for (const std::string& origin : origins) {
    if (!absl::StartsWith(origin, "https://")) {
      return absl::InvalidArgumentError(
          absl::StrCat("FaultProxy: upstream origin \"", origin, "\" is not https://host:port"));
    }
  }
  std::unique_ptr<FaultProxy> proxy(new FaultProxy(std::move(options)));
  RETURN_IF_ERROR(proxy->Init());
  return proxy;
}

absl::Status FaultProxy::Init() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/fault-proxy-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    return ErrnoStatus(errno, absl::StrCat("creating temp dir ", pattern));
  }
  dir_ = pattern;
  cert_path_ = absl::StrCat(dir_, "/fault-proxy-tls.pem");

  // The key stays in memory; clients use the certificate file as their CA bundle.
  ASSIGN_OR_RETURN(ServerCertificate server,
                   MakeSelfSignedServerCertificate("the proxy's certificate", "fault-proxy",
                                                   "IP:127.0.0.1", absl::Hours(24)));
  SslUniquePtr<EVP_PKEY>& key = server.key;
  SslUniquePtr<X509>& cert = server.cert;
  SslUniquePtr<BIO> cert_bio(BIO_new(BIO_s_mem()));
  if (cert_bio == nullptr || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1) {
    return SslError(absl::StatusCode::kInternal, "encoding the proxy's certificate");
  }
  char* pem = nullptr;
  const long pem_size = BIO_get_mem_data(cert_bio.get(), &pem);
  RETURN_IF_ERROR(
      WriteFileAtomically(cert_path_, std::string(pem, static_cast<size_t>(pem_size)), 0644));

  ssl_ctx_.reset(SSL_CTX_new(TLS_server_method()));
  if (ssl_ctx_ == nullptr || SSL_CTX_set_min_proto_version(ssl_ctx_.get(), TLS1_2_VERSION) != 1 ||
      SSL_CTX_use_certificate(ssl_ctx_.get(), cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ssl_ctx_.get(), key.get()) != 1) {
    return SslError(absl::StatusCode::kInternal, "setting up the proxy's TLS context");
  }

  http::CurlHttpClientOptions upstream_options;
  upstream_options.ca_bundle_path = options_.upstream_ca_bundle;
  upstream_options.total_timeout = options_.upstream_timeout;
  ASSIGN_OR_RETURN(upstream_, http::CurlHttpClient::Create(upstream_options));

  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener.valid()) return ErrnoStatus(errno, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listener.get(), 64) != 0 ||
      ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ErrnoStatus(errno, "binding the proxy to 127.0.0.1:0");
  }
  host_ = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  origin_ = absl::StrCat("https://", host_);
  listen_fd_ = listener.release();
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

FaultProxy::~FaultProxy() {
  {
    absl::MutexLock lock(&mu_);
    // Under the lock so that hanging connections re-check their condition.
    stopping_ = true;
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  if (acceptor_.joinable()) acceptor_.join();
  {
    absl::MutexLock lock(&threads_mu_);
    for (Connection& c : connections_) {
      if (c.thread.joinable()) c.thread.join();
    }
    connections_.clear();
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (dir_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void FaultProxy::AcceptLoop() {
  while (!stopping_) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    absl::MutexLock lock(&threads_mu_);
    ReapFinished();
    Connection& connection = connections_.emplace_back();
    connection.thread = std::thread([this, fd, &connection] {
      Serve(fd);
      connection.done = true;
    });
  }
}

void FaultProxy::ReapFinished() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (it->done) {
      it->thread.join();
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void FaultProxy::Serve(int raw_fd) {
  UniqueFd fd(raw_fd);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    open_fds_.insert(raw_fd);
  }
  // Unregistered before the descriptor is closed, so Stop never shuts down a reused number.
  struct Unregister {
    FaultProxy* proxy;
    int fd;
    ~Unregister() {
      absl::MutexLock lock(&proxy->mu_);
      proxy->open_fds_.erase(fd);
    }
  };
  Unregister unregister{this, raw_fd};
  timeval timeout{kSocketTimeoutSeconds, 0};
  ::setsockopt(raw_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(raw_fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));

  ScopedSigpipeBlock no_sigpipe;  // a client that hangs up mid-answer: EPIPE, not SIGPIPE
  SslUniquePtr<SSL> ssl(SSL_new(ssl_ctx_.get()));
  if (ssl == nullptr || SSL_set_fd(ssl.get(), raw_fd) != 1 || SSL_accept(ssl.get()) != 1) {
    ERR_clear_error();
    return;
  }
  std::optional<Request> request = ReadRequest(ssl.get());
  if (!request.has_value()) {
    ERR_clear_error();
    return;
  }
  ProxiedRequest record;
  record.method = request->method;
  record.path = request->path;

  std::optional<Fault> fault = TakeFault(request->path);
  http::HttpResponse response;
  bool upstream_answered = false;
  const bool forward =
      !fault.has_value() || fault->forward_first || fault->kind == Fault::Kind::kRewrite;
  if (forward) {
    http::HttpRequest upstream;
    upstream.method = request->method == "POST"   ? http::HttpMethod::kPost
                      : request->method == "HEAD" ? http::HttpMethod::kHead
                                                  : http::HttpMethod::kGet;
    // One request per connection, so round robin per request is what a load balancer in
    // front of replicas does to a client that opens a connection per request.
    const size_t turn = next_upstream_++ % (1 + options_.more_upstream_origins.size());
    record.upstream =
        turn == 0 ? options_.upstream_origin : options_.more_upstream_origins[turn - 1];
    upstream.url = absl::StrCat(record.upstream, request->path);
    upstream.body = request->body;
    upstream.content_type = request->Header("content-type");
    // The upstream builds the URLs it returns (and checks each JWS "url") from this.
    upstream.headers.emplace_back("Host", host_);
    if (std::string accept = request->Header("accept"); !accept.empty()) {
      upstream.headers.emplace_back("Accept", accept);
    }
    absl::StatusOr<http::HttpResponse> answer = upstream_->Do(upstream);
    upstream_answered = answer.ok();
    if (answer.ok()) {
      response = *std::move(answer);
      record.bad_nonce = response.status == 400 &&
                         absl::StrContains(response.body, "urn:ietf:params:acme:error:badNonce");
    } else {
      response.status = 502;
      response.headers = {{"content-type", "text/plain"}};
      response.body = absl::StrCat("fault proxy: upstream failed: ", answer.status().message());
    }
  }
  if (fault.has_value()) {
    record.faulted = true;
    switch (fault->kind) {
      case Fault::Kind::kClose:
        Record(std::move(record));
        return;  // No close_notify either: the peer sees the connection drop.
      case Fault::Kind::kHang: {
        Record(std::move(record));  // now: the test may count it while it hangs
        uint64_t generation = 0;
        {
          absl::MutexLock lock(&mu_);
          generation = release_generation_;
          ++hanging_;
          auto released = [this, generation]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            return stopping_.load() || release_generation_ != generation;
          };
          mu_.Await(absl::Condition(&released));
          --hanging_;
        }
        return;
      }
      case Fault::Kind::kRewrite:
        if (upstream_answered && !fault->rewrite_from.empty() &&
            absl::StrContains(response.body, fault->rewrite_from)) {
          response.body =
              absl::StrReplaceAll(response.body, {{fault->rewrite_from, fault->rewrite_to}});
          record.rewritten = true;
        }
        break;
      case Fault::Kind::kStatus:
      case Fault::Kind::kGarbage:
        response.status = fault->status;
        response.headers.clear();
        response.body = fault->body;
        if (!fault->body.empty())
          response.headers.emplace_back("content-type", fault->content_type);
        if (!fault->retry_after.empty()) {
          response.headers.emplace_back("retry-after", fault->retry_after);
        }
        break;
    }
  }

  record.status = response.status;
  std::string head =
      absl::StrCat("HTTP/1.1 ", response.status, " ", ReasonPhrase(response.status), "\r\n");
  for (const auto& [name, value] : response.headers) {
    if (name == "content-length" || name == "transfer-encoding" || name == "connection" ||
        name == "keep-alive") {
      continue;
    }
    absl::StrAppend(&head, name, ": ", Rewrite(value), "\r\n");
  }
  const std::string body = request->method == "HEAD" ? std::string() : Rewrite(response.body);
  absl::StrAppend(&head, "content-length: ", body.size(), "\r\nconnection: close\r\n\r\n");
  if (WriteAll(ssl.get(), head) && WriteAll(ssl.get(), body)) SSL_shutdown(ssl.get());
  ERR_clear_error();
  Record(std::move(record));
}

std::optional<Fault> FaultProxy::TakeFault(absl::string_view path) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  for (Rule& rule : rules_) {
    if (!absl::StrContains(path, rule.path_substring)) continue;
    if (rule.until.has_value()) {
      if (now < *rule.until) return rule.fault;
      continue;
    }
    if (rule.remaining > 0) {
      --rule.remaining;
      return rule.fault;
    }
  }
  return std::nullopt;
}

void FaultProxy::Record(ProxiedRequest request) {
  absl::MutexLock lock(&mu_);
  log_.push_back(std::move(request));
}

std::string FaultProxy::Rewrite(absl::string_view text) const {
  std::string rewritten = absl::StrReplaceAll(text, {{options_.upstream_origin, origin_}});
  for (const std::string& origin : options_.more_upstream_origins) {
    rewritten = absl::StrReplaceAll(rewritten, {{origin, origin_}});
  }
  return rewritten;
}

void FaultProxy::Inject(absl::string_view path_substring, Fault fault, int times) {
  absl::MutexLock lock(&mu_);
  rules_.push_back(Rule{std::string(path_substring), std::move(fault), times, std::nullopt});
}

void FaultProxy::InjectFor(absl::string_view path_substring, Fault fault, absl::Duration duration) {
  absl::MutexLock lock(&mu_);
  rules_.push_back(Rule{std::string(path_substring), std::move(fault), 0, absl::Now() + duration});
}

void FaultProxy::ClearFaults() {
  absl::MutexLock lock(&mu_);
  rules_.clear();
}

void FaultProxy::ReleaseHangs() {
  absl::MutexLock lock(&mu_);
  ++release_generation_;
}

int FaultProxy::hanging() const {
  absl::MutexLock lock(&mu_);
  return hanging_;
}

bool FaultProxy::WaitForHanging(int n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return hanging_ >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

std::vector<ProxiedRequest> FaultProxy::Requests() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

int FaultProxy::CountRequests(absl::string_view path_substring, absl::string_view method) const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const ProxiedRequest& r : log_) {
    n += absl::StrContains(r.path, path_substring) && (method.empty() || r.method == method);
  }
  return n;
}

int FaultProxy::CountFaulted(absl::string_view path_substring) const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const ProxiedRequest& r : log_) n += r.faulted && absl::StrContains(r.path, path_substring);
  return n;
}

int FaultProxy::CountRewritten(absl::string_view path_substring) const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const ProxiedRequest& r : log_) {
    n += r.rewritten && absl::StrContains(r.path, path_substring);
  }
  return n;
}

int FaultProxy::CountBadNonce() const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const ProxiedRequest& r : log_) n += r.bad_nonce;
  return n;
}

}  // namespace acme_signer::testing
