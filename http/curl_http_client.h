// CurlHttpClient: the production HttpClient, over libcurl.
//
// Policy baked in (not configurable, because ACME never needs otherwise):
//  - TLS peer and host verification are always on; TLS 1.2 is the minimum.
//  - Redirects are never followed; a 3xx comes back as a response.
//  - Only https:// URLs, unless Options::require_https is false (plain http is for tests of
//    the http-01 responder and for talking to loopback test tools).
//  - The response body is bounded (Options::max_response_bytes).
//
// Thread-safety: Do() may be called concurrently from many threads. Each call uses its own
// CURL easy handle, taken from a small pool so that sequential calls can reuse connections.
#ifndef ACME_SIGNER_HTTP_CURL_HTTP_CLIENT_H_
#define ACME_SIGNER_HTTP_CURL_HTTP_CLIENT_H_

#include <curl/curl.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "http/curl_handles.h"
#include "http/http_client.h"

namespace acme_signer::http {

// "acme-signer/<project version>", the default User-Agent.
std::string DefaultUserAgent();

struct CurlHttpClientOptions {
  // PEM file of trusted CA certificates; empty means the system default trust store.
  std::string ca_bundle_path;
  absl::Duration connect_timeout = absl::Seconds(10);
  // Whole request, connect included.
  absl::Duration total_timeout = absl::Seconds(60);
  // A response body larger than this fails the request with ResourceExhausted.
  size_t max_response_bytes = 4 << 20;
  std::string user_agent = DefaultUserAgent();
  // When true, a URL that is not https:// fails with InvalidArgument before any I/O.
  bool require_https = true;
};

class CurlHttpClient : public HttpClient {
 public:
  using Options = CurlHttpClientOptions;

  // Validates `options` (InvalidArgument naming the bad field: non-positive timeouts, zero
  // body limit, a CA bundle path that is not a readable file) and initialises libcurl once
  // per process.
  static absl::StatusOr<std::unique_ptr<CurlHttpClient>> Create(Options options);

  ~CurlHttpClient() override;
  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;

  // See HttpClient::Do. Errors, all naming the method and URL:
  //  InvalidArgument   malformed URL, non-https URL with require_https, bad header text;
  //  ResourceExhausted body over max_response_bytes;
  //  Unavailable       DNS/connect failure, timeout ("timed out: ..."), TLS failure ("TLS
  //                    failure: <curl's reason>"), connection closed without an answer ("the
  //                    server closed the connection without answering") or broken mid-answer.
  // Request and response bodies are never logged or copied into errors.
  absl::StatusOr<HttpResponse> Do(const HttpRequest& request) override;

  const Options& options() const { return options_; }

 private:
  using EasyHandle = CurlEasyHandle;

  explicit CurlHttpClient(Options options);
  EasyHandle Acquire();
  void Release(EasyHandle handle);

  const Options options_;
  absl::Mutex mutex_;
  std::vector<EasyHandle> idle_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace acme_signer::http

#endif  // ACME_SIGNER_HTTP_CURL_HTTP_CLIENT_H_
