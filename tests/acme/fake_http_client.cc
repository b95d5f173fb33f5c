#include "tests/acme/fake_http_client.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace acme_signer::acme::testing {

std::string DirectoryJson(bool external_account_required, const std::string& extra) {
  return absl::StrCat(
      R"({"keyChange":"https://ca.test/rollover-account-key",)",
      R"("meta":{"externalAccountRequired":)", external_account_required ? "true" : "false",
      R"(,"termsOfService":"data:text/plain,Do%20what%20thou%20wilt"},)",
      R"("newAccount":"https://ca.test/sign-me-up","newNonce":"https://ca.test/nonce-plz",)",
      R"("newOrder":"https://ca.test/order-plz","revokeCert":"https://ca.test/revoke-cert")",
      extra.empty() ? "" : ",", extra, "}");
}

void FakeHttpClient::Add(http::HttpResponse response, bool nonce) {
  absl::MutexLock lock(&mu_);
  if (nonce && response.Header("replay-nonce").empty()) {
    response.headers.emplace_back("replay-nonce", absl::StrCat("nonce-", ++nonce_counter_));
  }
  responses_.push_back(std::move(response));
}

void FakeHttpClient::AddJson(int status, std::string body,
                             std::vector<std::pair<std::string, std::string>> headers) {
  http::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers = std::move(headers);
  response.headers.emplace_back("content-type", "application/json; charset=utf-8");
  Add(std::move(response));
}

void FakeHttpClient::AddProblem(int status, const std::string& type, const std::string& detail,
                                std::vector<std::pair<std::string, std::string>> headers) {
  http::HttpResponse response;
  response.status = status;
  response.body = absl::StrCat(R"({"type":"urn:ietf:params:acme:error:)", type, R"(","detail":")",
                               detail, R"(","status":)", status, "}");
  response.headers = std::move(headers);
  response.headers.emplace_back("content-type", "application/problem+json; charset=utf-8");
  Add(std::move(response));
}

void FakeHttpClient::AddDirectory(bool external_account_required, const std::string& extra) {
  http::HttpResponse response;
  response.status = 200;
  response.body = DirectoryJson(external_account_required, extra);
  response.headers.emplace_back("content-type", "application/json; charset=utf-8");
  Add(std::move(response), /*nonce=*/false);
}

void FakeHttpClient::AddNonce() {
  http::HttpResponse response;
  response.status = 200;
  Add(std::move(response));
}

void FakeHttpClient::AddError(absl::Status status) {
  absl::MutexLock lock(&mu_);
  responses_.push_back(std::move(status));
}

absl::StatusOr<http::HttpResponse> FakeHttpClient::Do(const http::HttpRequest& request) {
  absl::MutexLock lock(&mu_);
  requests_.push_back(request);
  if (responses_.empty()) {
    return absl::InternalError(
        absl::StrCat("FakeHttpClient: no canned response left for ", request.url));
  }
  absl::StatusOr<http::HttpResponse> response = std::move(responses_.front());
  responses_.pop_front();
  return response;
}

std::vector<http::HttpRequest> FakeHttpClient::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

size_t FakeHttpClient::remaining() const {
  absl::MutexLock lock(&mu_);
  return responses_.size();
}

}  // namespace acme_signer::acme::testing
