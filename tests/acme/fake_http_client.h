// FakeHttpClient: a test double for http::HttpClient that answers with canned responses in
// the order they were queued and records every request. Used to replay recorded CA
// conversations (Pebble, Sectigo-style) and malformed responses.
// Thread-safe (a mutex around the queue), though tests use it from one thread.
#ifndef ACME_SIGNER_TESTS_ACME_FAKE_HTTP_CLIENT_H_
#define ACME_SIGNER_TESTS_ACME_FAKE_HTTP_CLIENT_H_

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "http/http_client.h"

namespace acme_signer::acme::testing {

inline constexpr char kDirectoryUrl[] = "https://ca.test/dir";

// Pebble-like directory JSON on https://ca.test; `extra` members are merged in (e.g.
// R"("renewalInfo":"https://ca.test/ari")").
std::string DirectoryJson(bool external_account_required = true, const std::string& extra = "");

class FakeHttpClient : public http::HttpClient {
 public:
  // Queues a response. When `nonce` is true and the response has no Replay-Nonce, one is
  // added ("nonce-<n>"), as every ACME response carries one.
  void Add(http::HttpResponse response, bool nonce = true);
  void AddJson(int status, std::string body,
               std::vector<std::pair<std::string, std::string>> headers = {});
  void AddProblem(int status, const std::string& type, const std::string& detail,
                  std::vector<std::pair<std::string, std::string>> headers = {});
  // Shorthands for the first steps of most conversations.
  void AddDirectory(bool external_account_required = true, const std::string& extra = "");
  void AddNonce();
  // A transport error.
  void AddError(absl::Status status);

  absl::StatusOr<http::HttpResponse> Do(const http::HttpRequest& request) override;

  std::vector<http::HttpRequest> requests() const;
  size_t remaining() const;

 private:
  mutable absl::Mutex mu_;
  std::deque<absl::StatusOr<http::HttpResponse>> responses_ ABSL_GUARDED_BY(mu_);
  std::vector<http::HttpRequest> requests_ ABSL_GUARDED_BY(mu_);
  int nonce_counter_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace acme_signer::acme::testing

#endif  // ACME_SIGNER_TESTS_ACME_FAKE_HTTP_CLIENT_H_
