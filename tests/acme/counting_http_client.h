// CountingHttpClient: an http::HttpClient decorator that forwards to another client and
// records the method and URL of every request, to count and print what a flow costs.
// Thread-safe.
#ifndef ACME_SIGNER_TESTS_ACME_COUNTING_HTTP_CLIENT_H_
#define ACME_SIGNER_TESTS_ACME_COUNTING_HTTP_CLIENT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "http/http_client.h"

namespace acme_signer::acme::testing {

class CountingHttpClient : public http::HttpClient {
 public:
  explicit CountingHttpClient(http::HttpClient& inner) : inner_(inner) {}

  absl::StatusOr<http::HttpResponse> Do(const http::HttpRequest& request) override {
    auto response = inner_.Do(request);
    absl::MutexLock lock(&mu_);
    log_.push_back(Entry{request.method, request.url, response.ok() ? response->status : -1});
    return response;
  }

  struct Entry {
    http::HttpMethod method;
    std::string url;
    int status;
  };
  std::vector<Entry> log() const {
    absl::MutexLock lock(&mu_);
    return log_;
  }
  void Reset() {
    absl::MutexLock lock(&mu_);
    log_.clear();
  }

 private:
  http::HttpClient& inner_;
  mutable absl::Mutex mu_;
  std::vector<Entry> log_ ABSL_GUARDED_BY(mu_);
};

}  // namespace acme_signer::acme::testing

#endif  // ACME_SIGNER_TESTS_ACME_COUNTING_HTTP_CLIENT_H_
