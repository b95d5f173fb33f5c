// HttpClient: the transport the ACME engine speaks through. The production implementation
// is CurlHttpClient (http/curl_http_client.h); unit tests substitute canned responses.
// Thread-safety: implementations must allow concurrent calls from many threads.
#ifndef ACME_SIGNER_HTTP_HTTP_CLIENT_H_
#define ACME_SIGNER_HTTP_HTTP_CLIENT_H_

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer::http {

enum class HttpMethod { kGet, kHead, kPost };

struct HttpRequest {
  HttpMethod method = HttpMethod::kGet;
  std::string url;
  // For POST: the body, sent with `content_type` (ACME uses "application/jose+json").
  std::string body;
  std::string content_type;
  // Extra request headers, e.g. {"Accept", "application/pem-certificate-chain"}.
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpResponse {
  int status = 0;
  // Response headers in arrival order; names lower-cased, values trimmed. A header that
  // appears several times (Link) appears several times here.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The first value of header `name` (lower-case), or empty when absent.
  std::string Header(absl::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return value;
    }
    return {};
  }
  // Every value of header `name` (lower-case), in order.
  std::vector<std::string> Headers(absl::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [key, value] : headers) {
      if (key == name) out.push_back(value);
    }
    return out;
  }
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // Performs one request. A non-2xx status is NOT an error here: the response is returned so
  // the caller can read the ACME problem document. Errors are transport failures only:
  // Unavailable (connect failure, timeout, TLS failure), InvalidArgument (non-https URL when
  // https is required), ResourceExhausted (body over the size limit), with the URL named.
  virtual absl::StatusOr<HttpResponse> Do(const HttpRequest& request) = 0;
};

}  // namespace acme_signer::http

#endif  // ACME_SIGNER_HTTP_HTTP_CLIENT_H_
