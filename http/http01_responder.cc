#include "http/http01_responder.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <list>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base64url.h"
#include "common/files.h"
#include "http/url.h"

namespace acme_signer::http {
namespace {

constexpr size_t kListenBacklog = 128;

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

bool IsToken(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

// Visible ASCII only: no spaces, controls or bytes >= 0x80 in a request target.
bool IsTargetChar(char c) { return c > 0x20 && c < 0x7f; }

// Field values: VCHAR, obs-text, SP and HTAB; no other controls.
bool IsFieldValueChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

// False when the bytes received so far cannot start an HTTP request line: a control or
// non-ASCII byte before the first line break.
bool PlausibleRequestLine(absl::string_view received) {
  const size_t line_end = received.find('\n');
  const absl::string_view line = received.substr(0, line_end);
  for (size_t i = 0; i < line.size(); ++i) {
    const auto u = static_cast<unsigned char>(line[i]);
    const bool final_cr = u == '\r' && i + 1 == line.size() && line_end != absl::string_view::npos;
    if ((u < 0x20 && !final_cr) || u >= 0x7f) return false;
  }
  return true;
}

std::string StatusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
  }
  return "Error";
}

std::string BuildResponse(int status, absl::string_view body, bool include_body,
                          absl::string_view extra_headers = "",
                          absl::string_view content_type = "text/plain") {
  return absl::StrCat("HTTP/1.1 ", status, " ", StatusText(status),
                      "\r\nContent-Type: ", content_type, "\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\nCache-Control: no-store\r\n", extra_headers, "\r\n",
                      include_body ? body : "");
}

// One client connection, driven by the serving thread only.
struct Connection {
  enum class State { kReading, kWriting, kDraining };
  UniqueFd fd;
  absl::Time deadline;
  State state = State::kReading;
  std::string in;
  std::string out;
  size_t out_offset = 0;
};

// After the response, unread request bytes (a POST body) would make close() send a RST that
// can destroy the response in flight, so input is drained until EOF for at most this long.
constexpr absl::Duration kDrainTime = absl::Seconds(1);
// After accept() fails for lack of descriptors, wait before retrying instead of spinning.
constexpr absl::Duration kAcceptBackoff = absl::Milliseconds(100);

// Parsed listen address: IPv4 or IPv6 socket address.
struct ListenAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
  std::string host;  // For messages: "127.0.0.1" or "[::1]".
};

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view address, uint16_t port) {
  ListenAddress out;
  std::string text(address);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out.length = sizeof(sockaddr_in);
    out.family = AF_INET;
    out.host = text;
    return out;
  }
  out.storage = {};
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    out.length = sizeof(sockaddr_in6);
    out.family = AF_INET6;
    out.host = absl::StrCat("[", text, "]");
    return out;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("http-01 responder: \"", address, "\" is not a numeric IPv4 or IPv6 address"));
}

}  // namespace

absl::StatusOr<RequestHead> ParseRequestHead(absl::string_view head) {
  auto bad = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("malformed HTTP request: ", why));
  };
  if (!absl::ConsumeSuffix(&head, "\r\n\r\n")) {
    return bad("head does not end with an empty line (CRLF CRLF)");
  }
  // Split into lines; the last line has no CRLF left after the suffix was removed.
  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  RequestHead out;

  // request-line = method SP request-target SP HTTP-version
  absl::string_view request_line = lines[0];
  if (request_line.find('\n') != absl::string_view::npos ||
      request_line.find('\r') != absl::string_view::npos) {
    return bad("bare CR or LF in the request line");
  }
  std::vector<absl::string_view> parts = absl::StrSplit(request_line, ' ');
  if (parts.size() != 3) return bad("request line is not \"METHOD TARGET VERSION\"");
  if (!IsToken(parts[0])) return bad("method is not a token");
  if (parts[1].empty() || !std::all_of(parts[1].begin(), parts[1].end(), IsTargetChar)) {
    return bad("request target is empty or has invalid characters");
  }
  absl::string_view version = parts[2];
  if (version == "HTTP/1.1") {
    out.minor_version = 1;
  } else if (version == "HTTP/1.0") {
    out.minor_version = 0;
  } else {
    return bad("unsupported HTTP version (only HTTP/1.0 and HTTP/1.1)");
  }
  out.method = std::string(parts[0]);
  out.target = std::string(parts[1]);

  bool has_host = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (line.empty()) return bad("empty line inside the header section");
    if (line[0] == ' ' || line[0] == '\t') return bad("obsolete line folding");
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) return bad("header line without ':'");
    absl::string_view name = line.substr(0, colon);
    if (!IsToken(name)) return bad("header name is not a token");
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (!std::all_of(value.begin(), value.end(), IsFieldValueChar)) {
      return bad("control character in a header value");
    }
    std::string lower_name = absl::AsciiStrToLower(name);
    if (lower_name == "host") {
      if (has_host) return bad("more than one Host header");
      has_host = true;
    }
    out.headers.emplace_back(std::move(lower_name), std::string(value));
  }
  if (out.minor_version == 1 && !has_host) return bad("HTTP/1.1 request without Host header");
  return out;
}

Http01Responder::Http01Responder(Options options) : options_(std::move(options)) {}

Http01Responder::~Http01Responder() { Stop(); }

std::string Http01Responder::listen_address() const {
  absl::MutexLock lock(&lifecycle_mutex_);
  return listen_address_;
}

absl::Status Http01Responder::AddToken(absl::string_view token,
                                       absl::string_view key_authorization) {
  if (!IsBase64Url(token)) {
    return absl::InvalidArgumentError("http-01 token must be non-empty base64url ([A-Za-z0-9_-])");
  }
  absl::MutexLock lock(&mutex_);
  tokens_[token] = std::string(key_authorization);
  return absl::OkStatus();
}

void Http01Responder::RemoveToken(absl::string_view token) {
  absl::MutexLock lock(&mutex_);
  tokens_.erase(token);
}

absl::Status Http01Responder::Start() {
  absl::MutexLock lock(&lifecycle_mutex_);
  if (thread_.joinable()) {
    return absl::FailedPreconditionError(
        absl::StrCat("http-01 responder already listening on ", listen_address_));
  }
  auto address = ParseListenAddress(options_.address, options_.port);
  if (!address.ok()) return address.status();
  const std::string requested = absl::StrCat(address->host, ":", options_.port);
  auto listen_error = [&requested](int err) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", requested, ": ", std::strerror(err)));
  };

  UniqueFd listener(
      ::socket(address->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
  if (!listener.valid()) return listen_error(errno);
  const int one = 1;
  // Lets a restarted responder rebind while old connections sit in TIME_WAIT; on Linux it
  // does not allow two live listeners on one port, so conflicts are still reported.
  ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (address->family == AF_INET6) {
    ::setsockopt(listener.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address->storage),
             address->length) != 0 ||
      ::listen(listener.get(), kListenBacklog) != 0) {
    return listen_error(errno);
  }
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof(bound);
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &bound_length) != 0) {
    return listen_error(errno);
  }
  const uint16_t port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    return ErrnoStatus(errno, "http-01 responder: creating the wake-up pipe");
  }
  UniqueFd wake_read(pipe_fds[0]);
  wake_write_.reset(pipe_fds[1]);

  listen_address_ = absl::StrCat(address->host, ":", port);
  bound_port_.store(port);
  thread_ = std::thread([this, l = std::move(listener), w = std::move(wake_read)]() mutable {
    Serve(std::move(l), std::move(w));
  });
  return absl::OkStatus();
}

void Http01Responder::Stop() {
  absl::MutexLock lock(&lifecycle_mutex_);
  if (!thread_.joinable()) return;
  const char byte = 0;
  // The pipe is non-blocking and only ever gets this one byte, so the write cannot block.
  (void)!::write(wake_write_.get(), &byte, 1);
  thread_.join();
  wake_write_.reset();
  listen_address_.clear();
  bound_port_.store(0);
}

std::string Http01Responder::Respond(absl::string_view head) {
  auto parsed = ParseRequestHead(head);
  if (!parsed.ok()) {
    return BuildResponse(400, absl::StrCat(parsed.status().message(), "\n"), true);
  }
  const bool is_head = parsed->method == "HEAD";
  if (parsed->method != "GET" && !is_head) {
    return BuildResponse(405, "only GET and HEAD are supported\n", true, "Allow: GET, HEAD\r\n");
  }
  absl::string_view path = parsed->target;
  // Absolute-form (RFC 9112 section 3.2.2), as a proxy sends it: the one URL parser takes the
  // path and query from it (a fragment, which no request target may carry, is dropped).
  std::string origin_form;
  if (absl::StartsWithIgnoreCase(path, "http://")) {
    absl::StatusOr<Url> url = Url::Parse(path);
    if (!url.ok()) {
      return BuildResponse(
          400,
          absl::StrCat("malformed HTTP request: request target: ", url.status().message(), "\n"),
          !is_head);
    }
    origin_form = url->path();
    if (url->query().has_value()) absl::StrAppend(&origin_form, "?", *url->query());
    path = origin_form;
  }
  if (options_.handler) {
    path = path.substr(0, path.find('?'));
    PlainResponse answer = options_.handler(path);
    static constexpr int kSendable[] = {200, 400, 404, 405, 500, 503};
    if (std::find(std::begin(kSendable), std::end(kSendable), answer.status) ==
            std::end(kSendable) ||
        !std::all_of(answer.content_type.begin(), answer.content_type.end(), IsFieldValueChar)) {
      return BuildResponse(500, "handler gave an unsendable answer\n", !is_head);
    }
    return BuildResponse(answer.status, answer.body, !is_head, "", answer.content_type);
  }
  if (absl::ConsumePrefix(&path, kAcmeChallengePathPrefix) && IsBase64Url(path)) {
    std::string key_authorization;
    bool found = false;
    {
      absl::MutexLock lock(&mutex_);
      auto it = tokens_.find(path);
      if (it != tokens_.end()) {
        key_authorization = it->second;
        found = true;
      }
    }
    if (found) {
      served_.fetch_add(1);
      return BuildResponse(200, key_authorization, !is_head);
    }
  }
  return BuildResponse(404, "no such challenge token\n", !is_head);
}

void Http01Responder::Serve(UniqueFd listener, UniqueFd wake_read) {
  using State = Connection::State;
  std::list<Connection> connections;
  std::vector<pollfd> fds;
  std::vector<Connection*> polled;
  absl::Time accept_paused_until = absl::InfinitePast();
  auto start_response = [](Connection& c, std::string response) {
    c.out = std::move(response);
    c.state = State::kWriting;
    c.in.clear();
  };
  for (;;) {
    absl::Time now = absl::Now();
    // Drop connections past their deadline: a slow client loses only its own request.
    connections.remove_if([now](const Connection& c) { return c.deadline <= now; });

    absl::Time next_deadline = absl::InfiniteFuture();
    fds.clear();
    polled.clear();
    fds.push_back({wake_read.get(), POLLIN, 0});
    const bool accepting =
        connections.size() < options_.max_connections && accept_paused_until <= now;
    if (accept_paused_until > now) next_deadline = accept_paused_until;
    fds.push_back({accepting ? listener.get() : -1, POLLIN, 0});
    for (Connection& c : connections) {
      fds.push_back(
          {c.fd.get(), static_cast<short>(c.state == State::kWriting ? POLLOUT : POLLIN), 0});
      polled.push_back(&c);
      next_deadline = std::min(next_deadline, c.deadline);
    }
    int timeout_ms = -1;
    if (next_deadline != absl::InfiniteFuture()) {
      // Round up so we do not spin just before a deadline.
      timeout_ms =
          static_cast<int>(absl::ToInt64Milliseconds(next_deadline - now + absl::Milliseconds(1)));
      timeout_ms = std::max(timeout_ms, 0);
    }
    const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return;  // poll itself failing leaves nothing sensible to do; Stop() still joins.
    }
    if (fds[0].revents != 0) return;  // Stop() was called; the UniqueFds close everything.
    now = absl::Now();

    for (size_t i = 0; i < polled.size(); ++i) {
      Connection& c = *polled[i];
      if (fds[i + 2].revents == 0) continue;
      if (c.state == State::kReading || c.state == State::kDraining) {
        char buffer[4096];
        const ssize_t n = ::recv(c.fd.get(), buffer, sizeof(buffer), 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n == 0 && c.state == State::kReading && !c.in.empty()) {
          // The client finished sending (half-close) with an incomplete head.
          start_response(c, BuildResponse(400, "malformed HTTP request: incomplete\n", true));
          continue;
        }
        if (n <= 0) {
          c.deadline = absl::InfinitePast();  // EOF or error: done with this connection.
          continue;
        }
        if (c.state == State::kDraining) continue;
        c.in.append(buffer, static_cast<size_t>(n));
        const size_t end = c.in.find("\r\n\r\n");
        if (end != std::string::npos && end + 4 <= options_.max_head_bytes) {
          start_response(c, Respond(absl::string_view(c.in).substr(0, end + 4)));
        } else if (c.in.size() >= options_.max_head_bytes) {
          start_response(c, BuildResponse(431, "request head too large\n", true));
        } else if (!PlausibleRequestLine(c.in)) {
          // Binary junk (a TLS handshake, a port scanner) gets its answer now, not at timeout.
          start_response(c, BuildResponse(400, "malformed HTTP request: not HTTP\n", true));
        }
      } else {
        const ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_offset,
                                 c.out.size() - c.out_offset, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
          c.deadline = absl::InfinitePast();
          continue;
        }
        if (n > 0) c.out_offset += static_cast<size_t>(n);
        if (c.out_offset == c.out.size()) {
          // Half-close so the client sees the end of the response, then wait for its EOF.
          ::shutdown(c.fd.get(), SHUT_WR);
          c.state = State::kDraining;
          c.out.clear();
          c.deadline = std::min(c.deadline, now + kDrainTime);
        }
      }
    }

    if (accepting && (fds[1].revents & POLLIN) != 0) {
      while (connections.size() < options_.max_connections) {
        UniqueFd client(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!client.valid()) {
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            accept_paused_until = now + kAcceptBackoff;
          }
          break;  // EAGAIN: nothing more pending; ECONNABORTED etc.: try again next round.
        }
        Connection& c = connections.emplace_back();
        c.fd = std::move(client);
        c.deadline = now + options_.read_timeout;
      }
    }
  }
}

}  // namespace acme_signer::http
