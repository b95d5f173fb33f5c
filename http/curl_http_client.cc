#include "http/curl_http_client.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "http/curl_handles.h"
#include "http/url.h"
#include "http/version.h"

namespace acme_signer::http {
namespace {

// Idle easy handles kept for connection reuse; more concurrent callers just create more. A
// handle dropped for lack of room closes its connection, so the next caller pays a new TCP +
// TLS handshake (and libcurl a new SSL_CTX with the CA bundle loaded again) on both ends: the
// signer relays many agents' calls at once, and with room for 4 a fleet of 40-100 agents made
// about one new connection to the CA per certificate. 32 covers that concurrency; an idle
// handle costs one open connection and its TLS state.
constexpr size_t kMaxIdleHandles = 32;

absl::string_view MethodName(HttpMethod method) {
  switch (method) {
    case HttpMethod::kGet:
      return "GET";
    case HttpMethod::kHead:
      return "HEAD";
    case HttpMethod::kPost:
      return "POST";
  }
  return "?";
}

// Header text must not smuggle extra lines into the request.
bool IsSafeHeaderText(absl::string_view text) {
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

// State shared with curl's callbacks during one transfer.
struct Transfer {
  size_t max_body = 0;
  bool body_too_large = false;
  HttpResponse response;
};

size_t OnBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  if (transfer->response.body.size() + n > transfer->max_body) {
    transfer->body_too_large = true;
    return 0;  // Anything other than n aborts the transfer with CURLE_WRITE_ERROR.
  }
  transfer->response.body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  absl::string_view line(data, n);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new status line (e.g. after "100 Continue"): only the final response's headers count.
    transfer->response.headers.clear();
    return n;
  }
  if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
    // Obsolete line folding: continuation of the previous field value.
    if (!transfer->response.headers.empty()) {
      std::string& value = transfer->response.headers.back().second;
      absl::string_view more = absl::StripAsciiWhitespace(line);
      if (!more.empty()) absl::StrAppend(&value, value.empty() ? "" : " ", more);
    }
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos || colon == 0) return n;  // Blank line or junk.
  std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, colon)));
  std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  transfer->response.headers.emplace_back(std::move(name), std::move(value));
  return n;
}

// OK when `url` parses and its scheme is one this client may fetch.
absl::Status CheckUrl(absl::string_view url, bool require_https) {
  absl::StatusOr<Url> parsed = Url::Parse(url);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("malformed URL: ", parsed.status().message()));
  }
  if (!parsed->is_https() && (require_https || !parsed->is_http_or_https())) {
    return absl::InvalidArgumentError(require_https ? "refusing a non-https URL (https is required)"
                                                    : "only http and https URLs are supported");
  }
  return absl::OkStatus();
}

// The request's header lines for curl, checked so that none can smuggle in another line.
absl::StatusOr<CurlSlist> HeaderLines(const HttpRequest& request) {
  CurlSlist headers;
  auto add_header = [&headers](const std::string& line) { return CurlSlistAppend(headers, line); };
  // curl would otherwise add "Expect: 100-continue" to larger POSTs and wait for it.
  bool ok = add_header("Expect:");
  if (request.method == HttpMethod::kPost && !request.content_type.empty()) {
    if (!IsSafeHeaderText(request.content_type)) {
      return absl::InvalidArgumentError("content type contains a line break");
    }
    ok = ok && add_header(absl::StrCat("Content-Type: ", request.content_type));
  }
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar) ||
        !IsSafeHeaderText(value)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid request header \"", name, "\""));
    }
    ok = ok && add_header(absl::StrCat(name, ": ", value));
  }
  if (!ok) return absl::ResourceExhaustedError("out of memory building headers");
  return headers;
}

// Sets every option of one transfer on `h`: the project's fixed policy (see the header), the
// client's options and the request. `headers`, `transfer` and `error_buffer` must outlive the
// transfer. The first failing option's code, or CURLE_OK.
CURLcode ConfigureTransfer(CURL* h, const CurlHttpClientOptions& options,
                           const HttpRequest& request, curl_slist* headers, Transfer& transfer,
                           char* error_buffer) {
  CURLcode rc = CURLE_OK;
  auto set = [&rc](CURLcode r) {
    if (rc == CURLE_OK) rc = r;
  };
  set(SetBaseTransferOptions(h, request.url.c_str(), options.require_https ? "https" : "http,https",
                             error_buffer));
  set(curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L));
  set(curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L));
  set(curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2)));
  if (!options.ca_bundle_path.empty()) {
    set(curl_easy_setopt(h, CURLOPT_CAINFO, options.ca_bundle_path.c_str()));
  }
  set(curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(absl::ToInt64Milliseconds(options.connect_timeout))));
  set(curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(absl::ToInt64Milliseconds(options.total_timeout))));
  set(curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
                       static_cast<curl_off_t>(options.max_response_bytes)));
  set(curl_easy_setopt(h, CURLOPT_USERAGENT, options.user_agent.c_str()));
  set(curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers));
  set(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody));
  set(curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer));
  set(curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader));
  set(curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer));
  switch (request.method) {
    case HttpMethod::kGet:
      set(curl_easy_setopt(h, CURLOPT_HTTPGET, 1L));
      break;
    case HttpMethod::kHead:
      set(curl_easy_setopt(h, CURLOPT_NOBODY, 1L));
      break;
    case HttpMethod::kPost:
      set(curl_easy_setopt(h, CURLOPT_POST, 1L));
      set(curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                           static_cast<curl_off_t>(request.body.size())));
      set(curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data()));
      break;
  }
  return rc;
}

// A failed transfer as a Status: the caller's mistakes are InvalidArgument, the network's and
// the server's Unavailable, each with words a reader of a log can act on.
absl::Status TransferError(CURLcode rc, const char* error_buffer) {
  const std::string reason = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::InvalidArgumentError(reason);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return absl::UnavailableError(absl::StrCat("TLS failure: ", reason));
    case CURLE_OPERATION_TIMEDOUT:
      return absl::UnavailableError(absl::StrCat("timed out: ", reason));
    // curl's own words ("Empty reply from server") are easy to misread as an empty body.
    case CURLE_GOT_NOTHING:
      return absl::UnavailableError(
          absl::StrCat("the server closed the connection without answering (", reason, ")"));
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
      return absl::UnavailableError(
          absl::StrCat("the connection broke while reading the answer (", reason, ")"));
    default:
      return absl::UnavailableError(reason);
  }
}

}  // namespace

std::string DefaultUserAgent() { return absl::StrCat("acme-signer/", ACME_SIGNER_VERSION); }

absl::StatusOr<std::unique_ptr<CurlHttpClient>> CurlHttpClient::Create(Options options) {
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("HTTP client: connect_timeout must be positive");
  }
  if (options.total_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("HTTP client: total_timeout must be positive");
  }
  if (options.max_response_bytes == 0) {
    return absl::InvalidArgumentError("HTTP client: max_response_bytes must be positive");
  }
  if (!IsSafeHeaderText(options.user_agent)) {
    return absl::InvalidArgumentError("HTTP client: user_agent contains a line break or NUL");
  }
  if (!options.ca_bundle_path.empty() && ::access(options.ca_bundle_path.c_str(), R_OK) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HTTP client: CA bundle \"", options.ca_bundle_path, "\" is not a readable file"));
  }
  if (absl::Status init = CurlGlobalInit(); !init.ok()) return init;
  return std::unique_ptr<CurlHttpClient>(new CurlHttpClient(std::move(options)));
}

CurlHttpClient::CurlHttpClient(Options options) : options_(std::move(options)) {}

CurlHttpClient::~CurlHttpClient() = default;

CurlHttpClient::EasyHandle CurlHttpClient::Acquire() {
  {
    absl::MutexLock lock(&mutex_);
    if (!idle_.empty()) {
      EasyHandle handle = std::move(idle_.back());
      idle_.pop_back();
      // Keeps the connection and TLS session caches, drops every option.
      curl_easy_reset(handle.get());
      return handle;
    }
  }
  return EasyHandle(curl_easy_init());
}

void CurlHttpClient::Release(EasyHandle handle) {
  absl::MutexLock lock(&mutex_);
  if (idle_.size() < kMaxIdleHandles) idle_.push_back(std::move(handle));
}

absl::StatusOr<HttpResponse> CurlHttpClient::Do(const HttpRequest& request) {
  // Every error names the request: "POST https://ca.test/new-order: timed out: ...".
  auto named = [&request](const absl::Status& status) {
    return absl::Status(status.code(), absl::StrCat(MethodName(request.method), " ", request.url,
                                                    ": ", status.message()));
  };
  if (absl::Status url = CheckUrl(request.url, options_.require_https); !url.ok()) {
    return named(url);
  }
  absl::StatusOr<CurlSlist> headers = HeaderLines(request);
  if (!headers.ok()) return named(headers.status());

  EasyHandle easy = Acquire();
  if (easy == nullptr) return named(absl::ResourceExhaustedError("curl_easy_init failed"));
  Transfer transfer;
  transfer.max_body = options_.max_response_bytes;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  CURLcode rc =
      ConfigureTransfer(easy.get(), options_, request, headers->get(), transfer, error_buffer);
  if (rc != CURLE_OK) {
    return named(
        absl::InternalError(absl::StrCat("setting up the request: ", curl_easy_strerror(rc))));
  }

  rc = curl_easy_perform(easy.get());
  long status = 0;
  curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &status);
  // The handle must not keep pointers into this frame once it goes back to the pool.
  curl_easy_setopt(easy.get(), CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(easy.get(), CURLOPT_HTTPHEADER, nullptr);
  if (rc == CURLE_OK) Release(std::move(easy));  // A failed transfer's handle is dropped.

  if (transfer.body_too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    return named(absl::ResourceExhaustedError(absl::StrCat("response body exceeds the limit of ",
                                                           options_.max_response_bytes, " bytes")));
  }
  if (rc != CURLE_OK) return named(TransferError(rc, error_buffer));
  transfer.response.status = static_cast<int>(status);
  return std::move(transfer.response);
}

}  // namespace acme_signer::http
