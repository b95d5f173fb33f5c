#include "http/http01_responder.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/curl_http_client.h"
#include "common/unique_fd.h"

namespace acme_signer::http {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;
using namespace std::string_literals;

constexpr char kToken[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
constexpr char kKeyAuthorization[] =
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";

// ---- ParseRequestHead -------------------------------------------------------------------

TEST(ParseRequestHeadTest, ParsesRequestLineAndLowerCasesHeaderNames) {
  auto head = ParseRequestHead(
      "GET /.well-known/acme-challenge/abc HTTP/1.1\r\nHost: example.com\r\n"
      "User-Agent:  Go-http-client/1.1 \r\nAccept: */*\r\n\r\n");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->method, "GET");
  EXPECT_EQ(head->target, "/.well-known/acme-challenge/abc");
  EXPECT_EQ(head->minor_version, 1);
  EXPECT_THAT(head->headers,
              ElementsAre(Pair("host", "example.com"), Pair("user-agent", "Go-http-client/1.1"),
                          Pair("accept", "*/*")));
}

TEST(ParseRequestHeadTest, AcceptsHttp10WithoutHost) {
  auto head = ParseRequestHead("GET / HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->minor_version, 0);
  EXPECT_THAT(head->headers, IsEmpty());
}

TEST(ParseRequestHeadTest, RejectsMalformedHeads) {
  const std::pair<std::string, std::string> cases[] = {
      {"GET / HTTP/1.1\r\nHost: x\r\n", "does not end with an empty line"},
      {"", "does not end with an empty line"},
      {"\r\n\r\n", "request line"},
      {"GET /  HTTP/1.1\r\nHost: x\r\n\r\n", "request line"},
      {"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", "request line"},
      {"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", "method is not a token"},
      {"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", "request target"},
      {"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n", "request target"},
      {"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "unsupported HTTP version"},
      {"GET / http/1.1\r\nHost: x\r\n\r\n", "unsupported HTTP version"},
      {"GET / HTTP/1.1\r\n\r\n", "without Host"},
      {"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", "more than one Host"},
      {"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "obsolete line folding"},
      {"GET / HTTP/1.1\r\nHost x\r\n\r\n", "without ':'"},
      {"GET / HTTP/1.1\r\nBad Name: v\r\nHost: x\r\n\r\n", "header name"},
      {"GET / HTTP/1.1\r\nHost: x\r\nA: b\x01\r\n\r\n", "control character"},
      {"GET / HTTP/1.1\nHost: x\r\n\r\n", "request line"},
      {"GET / HTTP/1.1\r\nHost: x\0y\r\n\r\n"s, "control character"},
  };
  for (const auto& [input, fragment] : cases) {
    auto head = ParseRequestHead(input);
    EXPECT_EQ(head.status().code(), absl::StatusCode::kInvalidArgument) << input;
    EXPECT_THAT(head.status().message(), HasSubstr(fragment)) << input;
  }
}

// ---- Http01Responder over real sockets ------------------------------------------------

// Sends `request` raw and returns everything the server sends back until it closes.
std::string RawExchange(uint16_t port, absl::string_view request, int family = AF_INET) {
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return "socket failed";
  sockaddr_storage storage{};
  socklen_t length;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    length = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    a->sin6_addr = in6addr_loopback;
    length = sizeof(*a);
  }
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    return absl::StrCat("connect failed: errno ", errno);
  }
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // The server may close early (e.g. after 431); read what it said.
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd.get(), SHUT_WR);
  std::string out;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

class Http01ResponderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(responder_.Start().ok());
    ASSERT_TRUE(responder_.AddToken(kToken, kKeyAuthorization).ok());
    CurlHttpClient::Options options;
    options.require_https = false;
    auto client = CurlHttpClient::Create(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(client).value();
  }

  std::string Url(absl::string_view path) const {
    return absl::StrCat("http://127.0.0.1:", responder_.port(), path);
  }
  absl::StatusOr<HttpResponse> Get(absl::string_view path, HttpMethod method = HttpMethod::kGet) {
    HttpRequest request;
    request.method = method;
    request.url = Url(path);
    return client_->Do(request);
  }

  Http01Responder responder_{Http01Responder::Options{}};
  std::unique_ptr<CurlHttpClient> client_;
};

TEST_F(Http01ResponderTest, ServesTheKeyAuthorizationForARegisteredToken) {
  ASSERT_NE(responder_.port(), 0);
  auto response = Get(absl::StrCat(kAcmeChallengePathPrefix, kToken));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, kKeyAuthorization);
  EXPECT_EQ(response->Header("content-type"), "text/plain");
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_EQ(responder_.challenge_responses_served(), 1);
}

TEST_F(Http01ResponderTest, AnswersHeadWithHeadersOnly) {
  auto response = Get(absl::StrCat(kAcmeChallengePathPrefix, kToken), HttpMethod::kHead);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "");
  EXPECT_EQ(response->Header("content-length"), std::to_string(sizeof(kKeyAuthorization) - 1));
}

TEST_F(Http01ResponderTest, AcceptsAbsoluteFormTargets) {
  std::string reply = RawExchange(
      responder_.port(), absl::StrCat("GET http://example.com", kAcmeChallengePathPrefix, kToken,
                                      " HTTP/1.1\r\nHost: example.com\r\n\r\n"));
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, HasSubstr(kKeyAuthorization));
}

TEST_F(Http01ResponderTest, ReadsAbsoluteFormTargetsAsTheirOriginForm) {
  // The path and query of the absolute form are what the origin form would be: a query after
  // the token is not part of it, in either form.
  for (const std::string& target :
       {absl::StrCat("http://example.com", kAcmeChallengePathPrefix, kToken, "?x=1"),
        absl::StrCat(kAcmeChallengePathPrefix, kToken, "?x=1"), std::string("http://example.com"),
        std::string("HTTP://example.com:80?x=1")}) {
    EXPECT_THAT(RawExchange(responder_.port(),
                            absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: example.com\r\n\r\n")),
                StartsWith("HTTP/1.1 404 Not Found\r\n"))
        << target;
  }
  EXPECT_THAT(RawExchange(responder_.port(),
                          absl::StrCat("GET HTTP://user@EXAMPLE.com:80", kAcmeChallengePathPrefix,
                                       kToken, " HTTP/1.1\r\nHost: example.com\r\n\r\n")),
              StartsWith("HTTP/1.1 200 OK\r\n"));
  // An absolute form the URL parser refuses is a bad request, not a path.
  for (const std::string& target :
       {std::string("http:///.well-known/acme-challenge/x"), std::string("http://[::1/x"),
        std::string("http://example.com:99999/x"), std::string("http://")}) {
    EXPECT_THAT(RawExchange(responder_.port(),
                            absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: example.com\r\n\r\n")),
                StartsWith("HTTP/1.1 400 Bad Request\r\n"))
        << target;
  }
  EXPECT_EQ(responder_.challenge_responses_served(), 1);
}

TEST_F(Http01ResponderTest, ReturnsNotFoundForUnknownTokensAndOtherPaths) {
  for (const std::string& path :
       {absl::StrCat(kAcmeChallengePathPrefix, "unknown"), std::string("/"),
        std::string("/index.html"), std::string(kAcmeChallengePathPrefix),
        absl::StrCat(kAcmeChallengePathPrefix, kToken, "/extra"),
        absl::StrCat(kAcmeChallengePathPrefix, "..%2F", kToken)}) {
    auto response = Get(path);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 404) << path;
    EXPECT_THAT(response->body, Not(HasSubstr(kKeyAuthorization)));
  }
  EXPECT_EQ(responder_.challenge_responses_served(), 0);
}

TEST_F(Http01ResponderTest, StopsServingARemovedToken) {
  responder_.RemoveToken(kToken);
  responder_.RemoveToken("never-added");
  auto response = Get(absl::StrCat(kAcmeChallengePathPrefix, kToken));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 404);
}

TEST_F(Http01ResponderTest, ReplacesTheKeyAuthorizationWhenATokenIsAddedAgain) {
  ASSERT_TRUE(responder_.AddToken(kToken, "second").ok());
  auto response = Get(absl::StrCat(kAcmeChallengePathPrefix, kToken));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, "second");
}

TEST_F(Http01ResponderTest, RejectsOtherMethodsWithMethodNotAllowed) {
  HttpRequest request;
  request.method = HttpMethod::kPost;
  request.url = Url(absl::StrCat(kAcmeChallengePathPrefix, kToken));
  request.body = std::string(100000, 'x');  // A body the server never reads.
  request.content_type = "text/plain";
  auto response = client_->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->Header("allow"), "GET, HEAD");

  std::string reply =
      RawExchange(responder_.port(), "DELETE / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
}

TEST_F(Http01ResponderTest, AnswersGarbageWithBadRequest) {
  const std::string garbage[] = {
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s,  // A TLS ClientHello start.
      "GET /.well-known/acme-chall"s,                   // Cut short, then EOF.
      "hello\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n",  // No Host.
      "GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n"s,
  };
  for (const std::string& bytes : garbage) {
    EXPECT_THAT(RawExchange(responder_.port(), bytes), StartsWith("HTTP/1.1 400 Bad Request\r\n"));
  }
  // The server is still healthy afterwards.
  auto response = Get(absl::StrCat(kAcmeChallengePathPrefix, kToken));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
}

TEST_F(Http01ResponderTest, RejectsOversizedRequestHeads) {
  std::string request =
      absl::StrCat("GET / HTTP/1.1\r\nHost: x\r\nX-Big: ", std::string(16 * 1024, 'a'), "\r\n\r\n");
  EXPECT_THAT(RawExchange(responder_.port(), request),
              StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
}

TEST_F(Http01ResponderTest, ClosesAConnectionThatSendsNothingWithoutAnAnswer) {
  // The client half-closes right away; the server sees EOF before any request.
  EXPECT_EQ(RawExchange(responder_.port(), ""), "");
}

TEST_F(Http01ResponderTest, ASlowClientDoesNotBlockOtherRequests) {
  UniqueFd slow(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(responder_.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(slow.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const char partial[] = "GET /.well-known/acme-chal";
  ASSERT_GT(::send(slow.get(), partial, sizeof(partial) - 1, MSG_NOSIGNAL), 0);

  // While the slow request is still incomplete, others are answered.
  for (int i = 0; i < 3; ++i) {
    auto response = Get(absl::StrCat(kAcmeChallengePathPrefix, kToken));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 200);
  }

  // And the slow client still gets its answer once it finishes.
  const std::string rest = absl::StrCat("lenge/", kToken, " HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_GT(::send(slow.get(), rest.data(), rest.size(), MSG_NOSIGNAL), 0);
  std::string reply;
  char buffer[1024];
  for (ssize_t n; (n = ::recv(slow.get(), buffer, sizeof(buffer), 0)) > 0;) {
    reply.append(buffer, static_cast<size_t>(n));
  }
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
}

TEST(Http01ResponderTimeoutTest, DropsAClientThatNeverCompletesItsRequest) {
  Http01Responder::Options options;
  options.read_timeout = absl::Milliseconds(100);
  Http01Responder responder(options);
  ASSERT_TRUE(responder.Start().ok());
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(responder.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_GT(::send(fd.get(), "GET / HT", 8, MSG_NOSIGNAL), 0);
  // Blocks until the server gives up on us: EOF, no response bytes.
  char buffer[64];
  EXPECT_EQ(::recv(fd.get(), buffer, sizeof(buffer), 0), 0);
}

TEST_F(Http01ResponderTest, ServesConcurrentClients) {
  constexpr int kThreads = 8;
  constexpr int kRequestsPerThread = 10;
  std::atomic<int> ok_count{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRequestsPerThread; ++i) {
        auto response = Get(absl::StrCat(kAcmeChallengePathPrefix, kToken));
        if (response.ok() && response->status == 200 && response->body == kKeyAuthorization) {
          ok_count.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok_count.load(), kThreads * kRequestsPerThread);
  EXPECT_EQ(responder_.challenge_responses_served(), kThreads * kRequestsPerThread);
}

TEST_F(Http01ResponderTest, ReportsABindConflictNamingTheAddress) {
  Http01Responder::Options options;
  options.port = responder_.port();
  Http01Responder second(options);
  absl::Status status = second.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), absl::StrCat("cannot listen on 127.0.0.1:", responder_.port(),
                                           ": Address already in use"));
  EXPECT_EQ(second.port(), 0);
}

TEST_F(Http01ResponderTest, RefusesToStartTwiceButRestartsAfterStop) {
  absl::Status again = responder_.Start();
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.message(), HasSubstr("already listening on 127.0.0.1:"));

  responder_.Stop();
  EXPECT_EQ(responder_.port(), 0);
  EXPECT_EQ(responder_.listen_address(), "");
  responder_.Stop();  // Idempotent.
  ASSERT_TRUE(responder_.Start().ok());
  auto response = Get(absl::StrCat(kAcmeChallengePathPrefix, kToken));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, kKeyAuthorization);  // Tokens survive a restart.
}

TEST(Http01ResponderConfigTest, RejectsNonNumericAddresses) {
  for (const char* address : {"localhost", "", "127.0.0.1:80", "[::1", "300.1.1.1"}) {
    Http01Responder::Options options;
    options.address = address;
    Http01Responder responder(options);
    absl::Status status = responder.Start();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_THAT(status.message(), HasSubstr("not a numeric IPv4 or IPv6 address"));
  }
}

TEST(Http01ResponderConfigTest, RejectsTokensThatAreNotBase64Url) {
  Http01Responder responder(Http01Responder::Options{});
  for (const char* token : {"", "a/b", "a.b", "../x", "a b", "tok="}) {
    absl::Status status = responder.AddToken(token, "x");
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_THAT(status.message(), HasSubstr("base64url"));
  }
}

TEST(Http01ResponderIpv6Test, ServesOnIpv6Loopback) {
  Http01Responder::Options options;
  options.address = "[::1]";
  Http01Responder responder(options);
  absl::Status status = responder.Start();
  if (absl::IsUnavailable(status) &&
      absl::StrContains(status.message(), "Cannot assign requested address")) {
    GTEST_SKIP() << "no IPv6 loopback on this machine: " << status;
  }
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(responder.listen_address(), absl::StrCat("[::1]:", responder.port()));
  ASSERT_TRUE(responder.AddToken(kToken, kKeyAuthorization).ok());
  std::string reply = RawExchange(
      responder.port(),
      absl::StrCat("GET ", kAcmeChallengePathPrefix, kToken, " HTTP/1.1\r\nHost: [::1]\r\n\r\n"),
      AF_INET6);
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, HasSubstr(kKeyAuthorization));
}

TEST(Http01ResponderLifetimeTest, DestructorStopsARunningServerWithOpenConnections) {
  uint16_t port = 0;
  UniqueFd idle(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  {
    Http01Responder responder(Http01Responder::Options{});
    ASSERT_TRUE(responder.Start().ok());
    port = responder.port();
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(idle.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }
  // The idle connection was closed by the destructor, and the port is free again.
  char buffer[8];
  EXPECT_LE(::recv(idle.get(), buffer, sizeof(buffer), 0), 0);
  Http01Responder::Options options;
  options.port = port;
  Http01Responder again(options);
  EXPECT_TRUE(again.Start().ok());
}

TEST(Http01ResponderHandlerTest, AnswersEveryGetAndHeadThroughTheHandler) {
  Http01Responder::Options options;
  options.handler = [](absl::string_view path) {
    PlainResponse answer;
    if (path != "/metrics") {
      answer.status = 404;
      answer.body = "no\n";
      return answer;
    }
    answer.content_type = "text/plain; version=0.0.4";
    answer.body = "up 1\n";
    return answer;
  };
  Http01Responder responder(options);
  ASSERT_TRUE(responder.Start().ok());
  const std::string got =
      RawExchange(responder.port(), "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_THAT(got, ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(got, HasSubstr("Content-Type: text/plain; version=0.0.4\r\n"));
  EXPECT_THAT(got, ::testing::EndsWith("\r\n\r\nup 1\n"));
  const std::string head =
      RawExchange(responder.port(), "HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_THAT(head, HasSubstr("Content-Length: 5\r\n"));
  EXPECT_THAT(head, ::testing::EndsWith("\r\n\r\n"));
  EXPECT_THAT(RawExchange(responder.port(), "GET /other HTTP/1.1\r\nHost: a\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(RawExchange(responder.port(), "POST /metrics HTTP/1.1\r\nHost: a\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 405 "));
}

}  // namespace
}  // namespace acme_signer::http
