#include "http/curl_http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/headers.h"
#include "http/http01_responder.h"
#include "common/unique_fd.h"
#include "nlohmann/json.hpp"
#include "tests/testing/pebble_env.h"

namespace acme_signer::http {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;

std::unique_ptr<CurlHttpClient> MustCreate(CurlHttpClient::Options options) {
  auto client = CurlHttpClient::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(client).value() : nullptr;
}

CurlHttpClient::Options PlainHttp() {
  CurlHttpClient::Options options;
  options.require_https = false;
  return options;
}

void ExpectStatus(const absl::Status& status, absl::StatusCode code, absl::string_view fragment) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_THAT(status.message(), HasSubstr(std::string(fragment)));
}

// Serves one fixed raw HTTP response to every connection and records each request's head,
// so tests can control exactly what the client sees and check what it sent.
class CannedServer {
 public:
  explicit CannedServer(std::string response) : response_(std::move(response)) {
    listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listener_.get(), 16) != 0 ||
        ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "canned server could not listen";
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~CannedServer() {
    stopping_ = true;
    ::shutdown(listener_.get(), SHUT_RDWR);  // Wakes accept().
    if (thread_.joinable()) thread_.join();
  }
  std::string url(absl::string_view path = "/") const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }
  std::vector<std::string> requests() {
    absl::MutexLock lock(&mutex_);
    return requests_;
  }

 private:
  void Run() {
    while (!stopping_) {
      UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!client.valid()) return;
      std::string request;
      char buffer[4096];
      // Read the head, then as much body as Content-Length announces.
      size_t want = std::string::npos;
      while (want == std::string::npos || request.size() < want) {
        ssize_t n = ::recv(client.get(), buffer, sizeof(buffer), 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<size_t>(n));
        const size_t end = request.find("\r\n\r\n");
        if (want == std::string::npos && end != std::string::npos) {
          size_t body = 0;
          const size_t cl = absl::AsciiStrToLower(request).find("content-length:");
          if (cl != std::string::npos && cl < end) body = std::stoul(request.substr(cl + 15));
          want = end + 4 + body;
        }
      }
      {
        absl::MutexLock lock(&mutex_);
        requests_.push_back(request);
      }
      (void)::send(client.get(), response_.data(), response_.size(), MSG_NOSIGNAL);
    }
  }

  const std::string response_;
  UniqueFd listener_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  absl::Mutex mutex_;
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mutex_);
};

// ---- Option validation and request checks that need no server --------------------------

TEST(CurlHttpClientCreateTest, RejectsBadOptions) {
  CurlHttpClient::Options missing_ca;
  missing_ca.ca_bundle_path = "/nonexistent/ca.pem";
  ExpectStatus(CurlHttpClient::Create(missing_ca).status(), absl::StatusCode::kInvalidArgument,
               "CA bundle \"/nonexistent/ca.pem\" is not a readable file");

  CurlHttpClient::Options zero_timeout;
  zero_timeout.total_timeout = absl::ZeroDuration();
  ExpectStatus(CurlHttpClient::Create(zero_timeout).status(), absl::StatusCode::kInvalidArgument,
               "total_timeout must be positive");

  CurlHttpClient::Options zero_connect;
  zero_connect.connect_timeout = absl::Seconds(-1);
  ExpectStatus(CurlHttpClient::Create(zero_connect).status(), absl::StatusCode::kInvalidArgument,
               "connect_timeout must be positive");

  CurlHttpClient::Options zero_limit;
  zero_limit.max_response_bytes = 0;
  ExpectStatus(CurlHttpClient::Create(zero_limit).status(), absl::StatusCode::kInvalidArgument,
               "max_response_bytes must be positive");

  CurlHttpClient::Options bad_agent;
  bad_agent.user_agent = "x\r\nInjected: 1";
  ExpectStatus(CurlHttpClient::Create(bad_agent).status(), absl::StatusCode::kInvalidArgument,
               "user_agent");
}

TEST(CurlHttpClientTest, DefaultUserAgentNamesTheProjectAndVersion) {
  EXPECT_THAT(DefaultUserAgent(), StartsWith("acme-signer/"));
  EXPECT_GT(DefaultUserAgent().size(), std::string("acme-signer/").size());
}

TEST(CurlHttpClientTest, RefusesPlainHttpWhenHttpsIsRequired) {
  auto client = MustCreate(CurlHttpClient::Options());
  HttpRequest request;
  request.url = "http://127.0.0.1:1/dir";
  ExpectStatus(client->Do(request).status(), absl::StatusCode::kInvalidArgument,
               "GET http://127.0.0.1:1/dir: refusing a non-https URL");
}

TEST(CurlHttpClientTest, RefusesMalformedAndNonHttpUrls) {
  auto client = MustCreate(PlainHttp());
  HttpRequest request;
  request.url = "not a url";
  ExpectStatus(client->Do(request).status(), absl::StatusCode::kInvalidArgument,
               "GET not a url: malformed URL");
  request.url = "ftp://127.0.0.1/file";
  ExpectStatus(client->Do(request).status(), absl::StatusCode::kInvalidArgument,
               "only http and https URLs are supported");
  request.url = "file:///etc/passwd";
  ExpectStatus(client->Do(request).status(), absl::StatusCode::kInvalidArgument,
               "only http and https URLs are supported");
}

TEST(CurlHttpClientTest, RefusesHeadersThatWouldInjectLines) {
  auto client = MustCreate(PlainHttp());
  HttpRequest request;
  request.url = "http://127.0.0.1:1/";
  request.headers = {{"Accept", "a\r\nX-Evil: 1"}};
  ExpectStatus(client->Do(request).status(), absl::StatusCode::kInvalidArgument,
               "invalid request header \"Accept\"");
  request.headers = {{"Bad Name", "v"}};
  ExpectStatus(client->Do(request).status(), absl::StatusCode::kInvalidArgument,
               "invalid request header");
}

TEST(CurlHttpClientTest, ReportsConnectionRefusedAsUnavailableNamingTheUrl) {
  // Bind a port and close it so nothing listens there.
  uint16_t port;
  {
    Http01Responder probe(Http01Responder::Options{});
    ASSERT_TRUE(probe.Start().ok());
    port = probe.port();
  }
  auto client = MustCreate(PlainHttp());
  HttpRequest request;
  request.url = absl::StrCat("http://127.0.0.1:", port, "/x");
  ExpectStatus(client->Do(request).status(), absl::StatusCode::kUnavailable,
               absl::StrCat("GET http://127.0.0.1:", port, "/x: "));
}

// ---- Against a canned raw server ------------------------------------------------------

TEST(CurlHttpClientTest, AConnectionClosedWithoutAnAnswerIsNamedAsSuch) {
  CannedServer server("");  // reads the request, then closes
  auto client = MustCreate(PlainHttp());
  HttpRequest request;
  request.url = server.url("/order");
  ExpectStatus(client->Do(request).status(), absl::StatusCode::kUnavailable,
               "the server closed the connection without answering");
}

TEST(CurlHttpClientTest, AnAnswerCutShortIsABrokenConnection) {
  CannedServer server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"status\":");
  auto client = MustCreate(PlainHttp());
  HttpRequest request;
  request.url = server.url("/order");
  ExpectStatus(client->Do(request).status(), absl::StatusCode::kUnavailable,
               "the connection broke while reading the answer");
}

TEST(CurlHttpClientTest, LowerCasesHeaderNamesTrimsValuesAndKeepsRepeatsInOrder) {
  CannedServer server(
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nLink:  <https://a.example/1>;rel=\"up\" \r\n"
      "Replay-Nonce: abc\r\nLINK: <https://a.example/2>;rel=\"up\"\r\nX-Folded: one\r\n"
      "  two\r\nConnection: close\r\n\r\nok");
  auto client = MustCreate(PlainHttp());
  HttpRequest request;
  request.url = server.url("/thing");
  auto response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "ok");
  EXPECT_EQ(response->Header("replay-nonce"), "abc");
  EXPECT_THAT(response->Headers("link"),
              ElementsAre("<https://a.example/1>;rel=\"up\"", "<https://a.example/2>;rel=\"up\""));
  EXPECT_EQ(response->Header("x-folded"), "one two");
}

TEST(CurlHttpClientTest, ReturnsRedirectsWithoutFollowingThem) {
  CannedServer server(
      "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\n"
      "Connection: close\r\n\r\n");
  auto client = MustCreate(PlainHttp());
  HttpRequest request;
  request.url = server.url();
  auto response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 302);
  EXPECT_EQ(response->Header("location"), "http://127.0.0.1:1/elsewhere");
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(CurlHttpClientTest, ReturnsErrorStatusesAsResponsesNotErrors) {
  const std::string problem = R"({"type":"urn:ietf:params:acme:error:x"})";
  CannedServer server(absl::StrCat(
      "HTTP/1.1 400 Bad Request\r\nContent-Type: application/problem+json\r\nContent-Length: ",
      problem.size(), "\r\nConnection: close\r\n\r\n", problem));
  auto client = MustCreate(PlainHttp());
  HttpRequest request;
  request.url = server.url();
  auto response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(MediaType(response->Header("content-type")), "application/problem+json");
  EXPECT_THAT(response->body, HasSubstr("urn:ietf:params:acme:error:x"));
}

TEST(CurlHttpClientTest, SendsPostBodyContentTypeExtraHeadersAndUserAgentWithoutExpect) {
  CannedServer server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  CurlHttpClient::Options options = PlainHttp();
  options.user_agent = "acme-signer-test/1";
  auto client = MustCreate(options);
  HttpRequest request;
  request.method = HttpMethod::kPost;
  request.url = server.url("/new-order");
  request.content_type = "application/jose+json";
  request.body = std::string(5000, 'j');  // Large enough that curl would add Expect.
  request.headers = {{"Accept", "application/pem-certificate-chain"}};
  auto response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(server.requests().size(), 1u);
  const std::string sent = server.requests()[0];
  EXPECT_THAT(sent, StartsWith("POST /new-order HTTP/1.1\r\n"));
  EXPECT_THAT(sent, HasSubstr("\r\nContent-Type: application/jose+json\r\n"));
  EXPECT_THAT(sent, HasSubstr("\r\nAccept: application/pem-certificate-chain\r\n"));
  EXPECT_THAT(sent, HasSubstr("\r\nUser-Agent: acme-signer-test/1\r\n"));
  EXPECT_THAT(sent, Not(HasSubstr("Expect:")));
  EXPECT_THAT(sent, HasSubstr(absl::StrCat("\r\n\r\n", std::string(5000, 'j'))));
}

TEST(CurlHttpClientTest, FailsWithResourceExhaustedWhenTheBodyExceedsTheLimit) {
  // Announced length over the limit, and a chunked body with no announced length.
  CannedServer announced(
      absl::StrCat("HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n"
                   "Connection: close\r\n\r\n",
                   std::string(2000, 'a')));
  CannedServer chunked(
      absl::StrCat("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                   "Connection: close\r\n\r\n7d0\r\n",
                   std::string(2000, 'a'), "\r\n0\r\n\r\n"));
  CurlHttpClient::Options options = PlainHttp();
  options.max_response_bytes = 1000;
  auto client = MustCreate(options);
  for (CannedServer* server : {&announced, &chunked}) {
    HttpRequest request;
    request.url = server->url("/big");
    ExpectStatus(client->Do(request).status(), absl::StatusCode::kResourceExhausted,
                 absl::StrCat("GET ", server->url("/big"),
                              ": response body exceeds the limit of 1000 bytes"));
  }
}

TEST(CurlHttpClientTest, FailsWithResourceExhaustedForALargeKeyAuthorizationFromTheResponder) {
  Http01Responder responder(Http01Responder::Options{});
  ASSERT_TRUE(responder.Start().ok());
  ASSERT_TRUE(responder.AddToken("tok", std::string(64 * 1024, 'k')).ok());
  CurlHttpClient::Options options = PlainHttp();
  options.max_response_bytes = 16 * 1024;
  auto client = MustCreate(options);
  HttpRequest request;
  request.url =
      absl::StrCat("http://127.0.0.1:", responder.port(), kAcmeChallengePathPrefix, "tok");
  ExpectStatus(client->Do(request).status(), absl::StatusCode::kResourceExhausted,
               "exceeds the limit of 16384 bytes");
}

// ---- Against Pebble over TLS -----------------------------------------------------------

class CurlHttpClientPebbleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::CheckPebbleTools().ok()) return;
    auto env = testing::PebbleEnv::Start();
    ASSERT_TRUE(env.ok()) << env.status();
    env_ = std::move(env).value().release();
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    ACME_SIGNER_REQUIRE_PEBBLE_TOOLS();
    ASSERT_NE(env_, nullptr);
  }
  void TearDown() override {
    if (HasFailure() && env_ != nullptr) std::cerr << env_->LogTail();
  }
  static CurlHttpClient::Options TrustingPebble() {
    CurlHttpClient::Options options;
    options.ca_bundle_path = env_->ca_bundle_path();
    return options;
  }

  static testing::PebbleEnv* env_;
};
testing::PebbleEnv* CurlHttpClientPebbleTest::env_ = nullptr;

TEST_F(CurlHttpClientPebbleTest, GetsTheDirectoryOverTlsWithPebblesCertificateAsCa) {
  auto client = MustCreate(TrustingPebble());
  HttpRequest request;
  request.url = env_->directory_url();
  auto response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(MediaType(response->Header("content-type")), "application/json");
  auto directory = nlohmann::json::parse(response->body, nullptr, false);
  ASSERT_FALSE(directory.is_discarded());
  EXPECT_TRUE(directory["newNonce"].is_string());
}

TEST_F(CurlHttpClientPebbleTest, HeadNewNonceReturnsAValidNonceAndAnIndexLink) {
  auto client = MustCreate(TrustingPebble());
  HttpRequest get_dir;
  get_dir.url = env_->directory_url();
  auto dir_response = client->Do(get_dir);
  ASSERT_TRUE(dir_response.ok()) << dir_response.status();
  auto directory = nlohmann::json::parse(dir_response->body, nullptr, false);
  ASSERT_TRUE(directory["newNonce"].is_string());

  HttpRequest head;
  head.method = HttpMethod::kHead;
  head.url = directory["newNonce"].get<std::string>();
  auto response = client->Do(head);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(ValidateReplayNonce(response->Header("replay-nonce")).ok());
  auto links = ParseLinkHeaders(response->Headers("link"), head.url);
  ASSERT_TRUE(links.ok()) << links.status();
  EXPECT_THAT(LinksWithRel(*links, "index"), ElementsAre(env_->directory_url()));
}

TEST_F(CurlHttpClientPebbleTest, FailsWithATlsErrorWithoutPebblesCertificate) {
  auto client = MustCreate(CurlHttpClient::Options());  // System trust store only.
  HttpRequest request;
  request.url = env_->directory_url();
  absl::Status status = client->Do(request).status();
  ExpectStatus(status, absl::StatusCode::kUnavailable,
               absl::StrCat("GET ", env_->directory_url(), ": TLS failure: "));
  // curl's own reason is kept, e.g. "SSL certificate problem: self-signed certificate".
  EXPECT_THAT(status.message(), HasSubstr("certificate"));
}

TEST_F(CurlHttpClientPebbleTest, FailsWithATlsErrorWhenTrustingAnUnrelatedCa) {
  // Pebble's issuing root is a real CA, but not the one behind its TLS certificate.
  auto root = env_->FetchRootCertificatePem();
  ASSERT_TRUE(root.ok()) << root.status();
  const std::string wrong_ca = env_->temp_dir() + "/unrelated-ca.pem";
  ASSERT_TRUE(WriteFileAtomically(wrong_ca, *root, 0644).ok());
  CurlHttpClient::Options options;
  options.ca_bundle_path = wrong_ca;
  auto client = MustCreate(options);
  HttpRequest request;
  request.url = env_->directory_url();
  absl::Status status = client->Do(request).status();
  ExpectStatus(status, absl::StatusCode::kUnavailable,
               absl::StrCat("GET ", env_->directory_url(), ": TLS failure: "));
  EXPECT_THAT(status.message(), HasSubstr("certificate"));
}

TEST_F(CurlHttpClientPebbleTest, EnforcesTheBodyLimitOnTlsResponses) {
  CurlHttpClient::Options options = TrustingPebble();
  options.max_response_bytes = 16;
  auto client = MustCreate(options);
  HttpRequest request;
  request.url = env_->directory_url();
  ExpectStatus(client->Do(request).status(), absl::StatusCode::kResourceExhausted,
               "exceeds the limit of 16 bytes");
}

TEST_F(CurlHttpClientPebbleTest, ServesConcurrentCallersFromOneClient) {
  auto client = MustCreate(TrustingPebble());
  constexpr int kThreads = 6;
  constexpr int kRequestsPerThread = 5;
  std::atomic<int> ok_count{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRequestsPerThread; ++i) {
        HttpRequest request;
        request.url = env_->directory_url();
        auto response = client->Do(request);
        if (response.ok() && response->status == 200) ok_count.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok_count.load(), kThreads * kRequestsPerThread);
}

}  // namespace
}  // namespace acme_signer::http
