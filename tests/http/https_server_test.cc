#include "http/https_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/sigpipe_guard.h"
#include "common/ssl_unique_ptr.h"
#include "common/unique_fd.h"
#include "common/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/curl_handles.h"
#include "http/curl_http_client.h"
#include "tests/testing/server_certificate.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::http {
namespace {

using ::acme_signer::testing::IsOk;
using ::acme_signer::testing::StatusIs;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;

struct PemPair {
  std::string certificate;
  std::string private_key;
};

absl::StatusOr<PemPair> MakePemPair() {
  auto made =
      testing::MakeSelfSignedServerCertificate("the test HTTPS server certificate", "localhost",
                                               "DNS:localhost,IP:127.0.0.1,IP:::1", absl::Hours(2));
  if (!made.ok()) return made.status();
  PemPair out;
  auto cert = CertificateToPem(*made->cert);
  if (!cert.ok()) return cert.status();
  out.certificate = *std::move(cert);
  auto key = ToPem(
      made->key.get(),
      [](BIO* bio, EVP_PKEY* key) {
        return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
      },
      "the test server key");
  if (!key.ok()) return key.status();
  out.private_key = *std::move(key);
  return out;
}

// A request as the handler saw it, for the assertions.
struct Seen {
  absl::Mutex mutex;
  std::vector<ServerRequest> requests;

  void Add(const ServerRequest& request) {
    absl::MutexLock lock(&mutex);
    requests.push_back(request);
  }
  std::vector<ServerRequest> All() {
    absl::MutexLock lock(&mutex);
    return requests;
  }
};

// The answer of a plain libcurl request (for what CurlHttpClient does not do: chunked
// uploads, Expect: 100-continue, TLS version caps).
struct RawAnswer {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string error;
};

struct RawRequest {
  std::string url;
  std::string method = "GET";
  std::string body;
  bool chunked = false;
  bool expect_continue = false;
  long ssl_version = CURL_SSLVERSION_TLSv1_2;
};

size_t AppendToString(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

struct UploadSource {
  const std::string* body;
  size_t offset = 0;
};

size_t ReadFromSource(char* buffer, size_t size, size_t count, void* in) {
  auto* source = static_cast<UploadSource*>(in);
  const size_t n = std::min(size * count, source->body->size() - source->offset);
  std::copy_n(source->body->data() + source->offset, n, buffer);
  source->offset += n;
  return n;
}

RawAnswer DoRaw(const RawRequest& request, const std::string& ca_file) {
  RawAnswer answer;
  CurlEasyHandle easy(curl_easy_init());
  if (easy == nullptr) {
    answer.code = CURLE_OUT_OF_MEMORY;
    return answer;
  }
  char error[CURL_ERROR_SIZE] = {};
  CurlSlist headers;
  UploadSource source{&request.body};
  CURL* e = easy.get();
  curl_easy_setopt(e, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(e, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(e, CURLOPT_SSLVERSION, request.ssl_version);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &AppendToString);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &answer.body);
  if (request.method == "POST") {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, &ReadFromSource);
    curl_easy_setopt(e, CURLOPT_READDATA, &source);
    if (request.chunked) {
      CurlSlistAppend(headers, "Transfer-Encoding: chunked");
    } else {
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }
    CurlSlistAppend(headers, request.expect_continue ? "Expect: 100-continue" : "Expect:");
    // Wait for the server's 100 (or its final answer) for as long as the test allows.
    curl_easy_setopt(e, CURLOPT_EXPECT_100_TIMEOUT_MS, 30000L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());
  }
  answer.code = curl_easy_perform(e);
  answer.error = error;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &answer.status);
  return answer;
}

bool CanBindIpv6Loopback() {
  UniqueFd fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return false;
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_addr = in6addr_loopback;
  return ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
}

// A TCP connection to 127.0.0.1:port that sends nothing.
UniqueFd ConnectSilently(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!fd.valid() ||
      ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    return UniqueFd();
  }
  return fd;
}

// Sends `raw` over TLS to 127.0.0.1:port (certificate not checked: the test's own server) and
// returns everything read back until the server closes (bounded by a 30 s receive timeout).
std::string RawTlsExchange(int port, const std::string& raw) {
  UniqueFd fd = ConnectSilently(port);
  if (!fd.valid()) return "<connect failed>";
  timeval wait{30, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
  SslUniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) return "<SSL_CTX_new failed>";
  ScopedSigpipeBlock no_sigpipe;  // the server may close first
  SslUniquePtr<SSL> ssl(SSL_new(ctx.get()));
  if (ssl == nullptr || SSL_set_fd(ssl.get(), fd.get()) != 1 || SSL_connect(ssl.get()) != 1) {
    return "<TLS handshake failed>";
  }
  if (SSL_write(ssl.get(), raw.data(), static_cast<int>(raw.size())) != static_cast<int>(raw.size())) {
    return "<write failed>";
  }
  std::string out;
  char buffer[4096];
  for (int i = 0; i < 1000; ++i) {
    const int n = SSL_read(ssl.get(), buffer, sizeof(buffer));
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

class HttpsServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_THAT(CurlGlobalInit(), IsOk());
    auto pems = MakePemPair();
    ASSERT_TRUE(pems.ok()) << pems.status();
    pems_ = new PemPair(*std::move(pems));
    std::string dir = ::testing::TempDir() + "https_server_test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    ca_file_ = new std::string(dir + "/ca.pem");
    ASSERT_THAT(WriteFileAtomically(*ca_file_, pems_->certificate, 0644), IsOk());
  }
  static void TearDownTestSuite() {
    if (ca_file_ != nullptr) {
      ::unlink(ca_file_->c_str());
      ::rmdir(ca_file_->substr(0, ca_file_->rfind('/')).c_str());
    }
    delete pems_;
    delete ca_file_;
    pems_ = nullptr;
    ca_file_ = nullptr;
  }

  HttpsServerOptions Options(std::string listen = "127.0.0.1:0") const {
    HttpsServerOptions options;
    options.listen = std::move(listen);
    options.certificate_pem = pems_->certificate;
    options.private_key_pem = pems_->private_key;
    options.threads = 4;
    options.max_connections = 64;
    options.connection_timeout = absl::Seconds(10);
    return options;
  }

  // A handler that records the request and answers `response`.
  RequestHandler Recording(ServerResponse response) {
    return [this, response](const ServerRequest& request) {
      seen_.Add(request);
      return response;
    };
  }

  std::unique_ptr<HttpsServer> StartOrDie(HttpsServerOptions options, RequestHandler handler) {
    auto server = HttpsServer::Start(std::move(options), std::move(handler));
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  std::unique_ptr<CurlHttpClient> Client() const {
    CurlHttpClientOptions options;
    options.ca_bundle_path = *ca_file_;
    options.connect_timeout = absl::Seconds(10);
    options.total_timeout = absl::Seconds(30);
    auto client = CurlHttpClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  static std::string Url(const HttpsServer& server, absl::string_view path) {
    return absl::StrCat("https://127.0.0.1:", server.port(), path);
  }

  static PemPair* pems_;
  static std::string* ca_file_;
  Seen seen_;
};

PemPair* HttpsServerTest::pems_ = nullptr;
std::string* HttpsServerTest::ca_file_ = nullptr;

TEST_F(HttpsServerTest, GetRoundTripPassesPathQueryHeadersAndPeer) {
  ServerResponse canned;
  canned.status = 201;
  canned.headers = {{"Content-Type", "application/json"},
                    {"Link", "<https://ca.test/dir>;rel=\"index\""},
                    {"Link", "<https://ca.test/alt/1>;rel=\"alternate\""},
                    {"Replay-Nonce", "abc"}};
  canned.body = "{\"ok\":true}";
  auto server = StartOrDie(Options(), Recording(canned));
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->port(), 0);
  auto client = Client();
  ASSERT_NE(client, nullptr);

  HttpRequest request;
  request.url = Url(*server, "/acme/order/a%2Fb?x=1%2F&y");
  request.headers = {{"X-Custom-Header", "Some Value"}, {"X-Custom-Header", "second"}};
  auto response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "{\"ok\":true}");
  EXPECT_EQ(response->Header("content-type"), "application/json");
  EXPECT_EQ(response->Header("replay-nonce"), "abc");
  EXPECT_THAT(response->Headers("link"), ElementsAre("<https://ca.test/dir>;rel=\"index\"",
                                                     "<https://ca.test/alt/1>;rel=\"alternate\""));

  const auto seen = seen_.All();
  ASSERT_EQ(seen.size(), 1u);
  const ServerRequest& got = seen[0];
  EXPECT_EQ(got.method, "GET");
  EXPECT_EQ(got.path, "/acme/order/a%2Fb");  // not decoded
  EXPECT_EQ(got.query, "x=1%2F&y");
  EXPECT_THAT(got.headers, Contains(Pair("x-custom-header", "Some Value")));
  EXPECT_THAT(got.headers, Contains(Pair("x-custom-header", "second")));
  EXPECT_THAT(got.headers, Contains(Pair("host", absl::StrCat("127.0.0.1:", server->port()))));
  for (const auto& [name, value] : got.headers) {
    EXPECT_EQ(name, absl::AsciiStrToLower(name));
  }
  EXPECT_EQ(got.Header("x-custom-header"), "Some Value");
  EXPECT_EQ(got.Header("absent"), "");
  EXPECT_THAT(got.peer, StartsWith("ipv4:127.0.0.1:"));
  EXPECT_FALSE(got.body_too_large);
  EXPECT_THAT(got.body, IsEmpty());
}

TEST_F(HttpsServerTest, HeadGets200WithoutBody) {
  ServerResponse canned;
  canned.headers = {{"Replay-Nonce", "nonce-1"}, {"Cache-Control", "no-store"}};
  auto server = StartOrDie(Options(), Recording(canned));
  ASSERT_NE(server, nullptr);
  auto client = Client();
  ASSERT_NE(client, nullptr);

  HttpRequest request;
  request.method = HttpMethod::kHead;
  request.url = Url(*server, "/new-nonce");
  auto response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("replay-nonce"), "nonce-1");
  EXPECT_EQ(response->Header("content-length"), "0");
  EXPECT_THAT(response->body, IsEmpty());
  ASSERT_EQ(seen_.All().size(), 1u);
  EXPECT_EQ(seen_.All()[0].method, "HEAD");
}

TEST_F(HttpsServerTest, HeadOmitsTheBodyTheHandlerGave) {
  ServerResponse canned;
  canned.body = "a body that HEAD must not carry";
  auto server = StartOrDie(Options(), Recording(canned));
  ASSERT_NE(server, nullptr);
  auto client = Client();
  ASSERT_NE(client, nullptr);

  HttpRequest request;
  request.method = HttpMethod::kHead;
  request.url = Url(*server, "/directory");
  auto response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("content-length"), absl::StrCat(canned.body.size()));
  EXPECT_THAT(response->body, IsEmpty());
  // The same connection still works: no stray body bytes were sent after the head.
  request.method = HttpMethod::kGet;
  response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, canned.body);
}

TEST_F(HttpsServerTest, PostBodyReachesTheHandler) {
  auto server = StartOrDie(Options(), [](const ServerRequest& request) {
    ServerResponse response;
    response.body =
        absl::StrCat(request.method, " ", request.body.size(), " ", request.Header("content-type"));
    return response;
  });
  ASSERT_NE(server, nullptr);
  auto client = Client();
  ASSERT_NE(client, nullptr);

  HttpRequest request;
  request.method = HttpMethod::kPost;
  request.url = Url(*server, "/new-account");
  request.content_type = "application/jose+json";
  request.body = std::string(50000, 'j');
  auto response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "POST 50000 application/jose+json");
}

TEST_F(HttpsServerTest, PostBodyContentIsExact) {
  auto server = StartOrDie(Options(), Recording(ServerResponse{}));
  ASSERT_NE(server, nullptr);
  auto client = Client();
  ASSERT_NE(client, nullptr);
  std::string body;
  for (int i = 0; i < 5000; ++i) absl::StrAppend(&body, i, ",");
  HttpRequest request;
  request.method = HttpMethod::kPost;
  request.url = Url(*server, "/x");
  request.body = body;
  ASSERT_TRUE(client->Do(request).ok());
  ASSERT_EQ(seen_.All().size(), 1u);
  EXPECT_EQ(seen_.All()[0].body, body);
  EXPECT_FALSE(seen_.All()[0].body_too_large);
}

TEST_F(HttpsServerTest, BodyOfExactlyTheCapIsKept) {
  HttpsServerOptions options = Options();
  options.max_body_bytes = 1024;
  auto server = StartOrDie(std::move(options), Recording(ServerResponse{}));
  ASSERT_NE(server, nullptr);
  auto client = Client();
  ASSERT_NE(client, nullptr);
  HttpRequest request;
  request.method = HttpMethod::kPost;
  request.url = Url(*server, "/x");
  request.body = std::string(1024, 'b');
  ASSERT_TRUE(client->Do(request).ok());
  ASSERT_EQ(seen_.All().size(), 1u);
  EXPECT_FALSE(seen_.All()[0].body_too_large);
  EXPECT_EQ(seen_.All()[0].body.size(), 1024u);
}

ServerResponse TooLargeAnswer(const ServerRequest& request) {
  ServerResponse response;
  response.status = request.body_too_large ? 413 : 200;
  response.headers = {{"Content-Type", "application/problem+json"}};
  response.body = request.body_too_large ? "{\"detail\":\"too large\"}" : "fine";
  return response;
}

TEST_F(HttpsServerTest, BodyOverTheCapIsDroppedAndStillAnswered) {
  HttpsServerOptions options = Options();
  options.max_body_bytes = 1024;
  auto server = StartOrDie(std::move(options), [this](const ServerRequest& request) {
    seen_.Add(request);
    return TooLargeAnswer(request);
  });
  ASSERT_NE(server, nullptr);
  auto client = Client();
  ASSERT_NE(client, nullptr);

  HttpRequest request;
  request.method = HttpMethod::kPost;
  request.url = Url(*server, "/new-order");
  request.body = std::string(100 * 1024, 'x');
  auto response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->body, "{\"detail\":\"too large\"}");
  // A small request afterwards is served normally.
  request.body = "small";
  response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);

  const auto seen = seen_.All();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[0].body_too_large);
  EXPECT_THAT(seen[0].body, IsEmpty());
  EXPECT_EQ(seen[0].path, "/new-order");
  EXPECT_FALSE(seen[1].body_too_large);
  EXPECT_EQ(seen[1].body, "small");
}

TEST_F(HttpsServerTest, ChunkedBodiesAreGatheredAndCapped) {
  HttpsServerOptions options = Options();
  options.max_body_bytes = 1024;
  auto server = StartOrDie(std::move(options), [this](const ServerRequest& request) {
    seen_.Add(request);
    return TooLargeAnswer(request);
  });
  ASSERT_NE(server, nullptr);
  RawRequest small;
  small.url = Url(*server, "/chunked");
  small.method = "POST";
  small.chunked = true;
  small.body = std::string(1000, 's');
  RawAnswer answer = DoRaw(small, *ca_file_);
  ASSERT_EQ(answer.code, CURLE_OK) << answer.error;
  EXPECT_EQ(answer.status, 200);

  RawRequest large = small;
  large.body = std::string(200 * 1024, 'l');
  answer = DoRaw(large, *ca_file_);
  ASSERT_EQ(answer.code, CURLE_OK) << answer.error;
  EXPECT_EQ(answer.status, 413);

  const auto seen = seen_.All();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].body, small.body);
  EXPECT_FALSE(seen[0].body_too_large);
  EXPECT_TRUE(seen[1].body_too_large);
  EXPECT_THAT(seen[1].body, IsEmpty());
}

TEST_F(HttpsServerTest, HugeDeclaredBodyIsAnsweredWithoutReadingIt) {
  HttpsServerOptions options = Options();
  options.max_body_bytes = 1024;
  auto server = StartOrDie(std::move(options), [this](const ServerRequest& request) {
    seen_.Add(request);
    return TooLargeAnswer(request);
  });
  ASSERT_NE(server, nullptr);
  RawRequest request;
  request.url = Url(*server, "/huge");
  request.method = "POST";
  request.expect_continue = true;
  request.body = std::string(8 << 20, 'h');
  RawAnswer answer = DoRaw(request, *ca_file_);
  ASSERT_EQ(answer.code, CURLE_OK) << answer.error;
  EXPECT_EQ(answer.status, 413);
  EXPECT_EQ(answer.body, "{\"detail\":\"too large\"}");
  const auto seen = seen_.All();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].body_too_large);
  EXPECT_THAT(seen[0].body, IsEmpty());
}

TEST_F(HttpsServerTest, HugeDeclaredBodyWithoutExpectStillReachesTheHandler) {
  HttpsServerOptions options = Options();
  options.max_body_bytes = 1024;
  auto server = StartOrDie(std::move(options), [this](const ServerRequest& request) {
    seen_.Add(request);
    return TooLargeAnswer(request);
  });
  ASSERT_NE(server, nullptr);
  RawRequest request;
  request.url = Url(*server, "/huge");
  request.method = "POST";
  request.body = std::string(8 << 20, 'h');
  // The client keeps sending while the server answers and closes, so it may see a reset
  // instead of the 413 (the header comment says so); the handler is called either way.
  RawAnswer answer = DoRaw(request, *ca_file_);
  if (answer.code == CURLE_OK) {
    EXPECT_EQ(answer.status, 413);
  }
  const auto seen = seen_.All();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].body_too_large);
}

TEST_F(HttpsServerTest, OversizedRequestHeadIsRefusedWithoutTheHandler) {
  auto server = StartOrDie(Options(), Recording(ServerResponse{}));
  ASSERT_NE(server, nullptr);
  auto client = Client();
  ASSERT_NE(client, nullptr);
  HttpRequest request;
  request.url = Url(*server, "/big-head");
  request.headers = {{"X-Big", std::string(64 * 1024, 'h')}};
  // The server answers 431 and closes while the client may still be sending the head, so
  // the client may see a reset instead; the handler never sees the request.
  auto response = client->Do(request);
  if (response.ok()) {
    EXPECT_EQ(response->status, 431);
  }
  EXPECT_TRUE(seen_.All().empty());
}

TEST_F(HttpsServerTest, MalformedRequestIsAnswered400WithoutTheHandler) {
  auto server = StartOrDie(Options(), Recording(ServerResponse{}));
  ASSERT_NE(server, nullptr);
  const std::string answer =
      RawTlsExchange(server->port(), "GET /x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n");
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 400 ")) << answer;
  EXPECT_TRUE(seen_.All().empty());
}

TEST_F(HttpsServerTest, PipelinedRequestsAreAnsweredInOrder) {
  auto server = StartOrDie(Options(), [](const ServerRequest& request) {
    ServerResponse response;
    response.body = absl::StrCat(request.method, " ", request.path, " ", request.body);
    return response;
  });
  ASSERT_NE(server, nullptr);
  const std::string answer = RawTlsExchange(
      server->port(),
      "POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
      "GET /two HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  const size_t one = answer.find("POST /one abc");
  const size_t two = answer.find("GET /two ");
  const size_t three = answer.find("GET /three ");
  ASSERT_NE(one, std::string::npos) << answer;
  ASSERT_NE(two, std::string::npos) << answer;
  ASSERT_NE(three, std::string::npos) << answer;
  EXPECT_LT(one, two);
  EXPECT_LT(two, three);
}

TEST_F(HttpsServerTest, ChunkedBodyBeyondTheDrainLimitIsCutOff) {
  HttpsServerOptions options = Options();
  options.max_body_bytes = 1024;
  auto server = StartOrDie(std::move(options), [this](const ServerRequest& request) {
    seen_.Add(request);
    return TooLargeAnswer(request);
  });
  ASSERT_NE(server, nullptr);
  RawRequest request;
  request.url = Url(*server, "/chunked");
  request.method = "POST";
  request.chunked = true;
  request.body = std::string(3 << 20, 'c');
  RawAnswer answer = DoRaw(request, *ca_file_);
  EXPECT_NE(answer.code, CURLE_OK);
  EXPECT_EQ(answer.status, 0);
  EXPECT_TRUE(seen_.All().empty());
}

TEST_F(HttpsServerTest, HandlerExceptionIsAnswered500) {
  auto server = StartOrDie(Options(), [](const ServerRequest&) -> ServerResponse {
    throw std::runtime_error("handler bug");
  });
  ASSERT_NE(server, nullptr);
  auto client = Client();
  ASSERT_NE(client, nullptr);
  HttpRequest request;
  request.url = Url(*server, "/boom");
  auto response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 500);
  EXPECT_THAT(response->body, Not(HasSubstr("handler bug")));
  // The server keeps serving.
  response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 500);
}

TEST_F(HttpsServerTest, UnsendableResponseIsAnswered500) {
  auto server = StartOrDie(Options(), [](const ServerRequest& request) {
    ServerResponse response;
    if (request.path == "/bad-status") response.status = 42;
    if (request.path == "/bad-header") response.headers = {{"X-Split", "a\r\nInjected: yes"}};
    if (request.path == "/content-length") {
      response.headers = {{"Content-Length", "999"}};
      response.body = "four";
    }
    return response;
  });
  ASSERT_NE(server, nullptr);
  auto client = Client();
  ASSERT_NE(client, nullptr);
  HttpRequest request;
  for (const char* path : {"/bad-status", "/bad-header"}) {
    request.url = Url(*server, path);
    auto response = client->Do(request);
    ASSERT_TRUE(response.ok()) << path << ": " << response.status();
    EXPECT_EQ(response->status, 500) << path;
    EXPECT_EQ(response->Header("injected"), "") << path;
  }
  request.url = Url(*server, "/content-length");
  auto response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("content-length"), "4");
  EXPECT_EQ(response->body, "four");
}

TEST_F(HttpsServerTest, ServesConcurrentRequestsOnAllThreads) {
  constexpr int kThreads = 4;
  constexpr int kClients = 16;
  constexpr int kRequestsPerClient = 4;
  std::atomic<int> in_handler{0};
  std::atomic<int> most_in_handler{0};
  std::atomic<int> handled{0};
  HttpsServerOptions options = Options();
  options.threads = kThreads;
  auto server = StartOrDie(std::move(options), [&](const ServerRequest& request) {
    const int now = in_handler.fetch_add(1) + 1;
    int most = most_in_handler.load();
    while (now > most && !most_in_handler.compare_exchange_weak(most, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    in_handler.fetch_sub(1);
    handled.fetch_add(1);
    ServerResponse response;
    response.body = request.path;
    return response;
  });
  ASSERT_NE(server, nullptr);
  auto client = Client();
  ASSERT_NE(client, nullptr);

  std::vector<std::future<int>> results;
  for (int c = 0; c < kClients; ++c) {
    results.push_back(std::async(std::launch::async, [&, c] {
      int ok = 0;
      for (int i = 0; i < kRequestsPerClient; ++i) {
        HttpRequest request;
        const std::string path = absl::StrCat("/c", c, "/", i);
        request.url = Url(*server, path);
        auto response = client->Do(request);
        if (response.ok() && response->status == 200 && response->body == path) ++ok;
      }
      return ok;
    }));
  }
  int ok = 0;
  for (auto& result : results) {
    ASSERT_EQ(result.wait_for(std::chrono::seconds(120)), std::future_status::ready);
    ok += result.get();
  }
  EXPECT_EQ(ok, kClients * kRequestsPerClient);
  EXPECT_EQ(handled.load(), kClients * kRequestsPerClient);
  EXPECT_LE(most_in_handler.load(), kThreads);
}

TEST_F(HttpsServerTest, OneThreadAndOneConnectionServe) {
  HttpsServerOptions options = Options();
  options.threads = 1;
  options.max_connections = 1;
  auto server = StartOrDie(std::move(options), Recording(ServerResponse{}));
  ASSERT_NE(server, nullptr);
  auto client = Client();
  ASSERT_NE(client, nullptr);
  HttpRequest request;
  request.url = Url(*server, "/one");
  for (int i = 0; i < 3; ++i) {
    auto response = client->Do(request);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 200);
  }
}

TEST_F(HttpsServerTest, ConnectionsBeyondTheLimitWaitForAFreeSlot) {
  HttpsServerOptions options = Options();
  options.threads = 1;
  options.max_connections = 2;
  options.connection_timeout = absl::Seconds(60);
  auto server = StartOrDie(std::move(options), Recording(ServerResponse{}));
  ASSERT_NE(server, nullptr);
  UniqueFd first = ConnectSilently(server->port());
  UniqueFd second = ConnectSilently(server->port());
  ASSERT_TRUE(first.valid());
  ASSERT_TRUE(second.valid());
  auto client = Client();
  ASSERT_NE(client, nullptr);
  auto request = std::async(std::launch::async, [&] {
    HttpRequest get;
    get.url = Url(*server, "/third");
    return client->Do(get);
  });
  // Both slots are taken by silent clients (for up to 60 s): the third is not served...
  EXPECT_EQ(request.wait_for(std::chrono::seconds(1)), std::future_status::timeout);
  EXPECT_TRUE(seen_.All().empty());
  // ...until one of them goes away.
  first.reset();
  ASSERT_EQ(request.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto response = request.get();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  ASSERT_EQ(seen_.All().size(), 1u);
  EXPECT_EQ(seen_.All()[0].path, "/third");
}

TEST_F(HttpsServerTest, PortZeroPicksAPortThatServes) {
  auto first = StartOrDie(Options("127.0.0.1:0"), Recording(ServerResponse{}));
  auto second = StartOrDie(Options("127.0.0.1:0"), Recording(ServerResponse{}));
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_GT(first->port(), 0);
  EXPECT_GT(second->port(), 0);
  EXPECT_NE(first->port(), second->port());
  auto client = Client();
  ASSERT_NE(client, nullptr);
  for (const HttpsServer* server : {first.get(), second.get()}) {
    HttpRequest request;
    request.url = Url(*server, "/");
    auto response = client->Do(request);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 200);
  }
}

TEST_F(HttpsServerTest, ServesIpv6Loopback) {
  if (!CanBindIpv6Loopback()) GTEST_SKIP() << "no IPv6 loopback (::1) on this machine";
  auto server = StartOrDie(Options("[::1]:0"), Recording(ServerResponse{}));
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->port(), 0);
  auto client = Client();
  ASSERT_NE(client, nullptr);
  HttpRequest request;
  request.url = absl::StrCat("https://[::1]:", server->port(), "/v6");
  auto response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  ASSERT_EQ(seen_.All().size(), 1u);
  EXPECT_THAT(seen_.All()[0].peer, StartsWith("ipv6:[::1]:"));
  // IPv6-only: the IPv4 loopback on the same port is not this server.
  request.url = Url(*server, "/v4");
  response = client->Do(request);
  EXPECT_EQ(seen_.All().size(), 1u);
}

TEST_F(HttpsServerTest, AcceptsTls12Clients) {
  auto server = StartOrDie(Options(), Recording(ServerResponse{}));
  ASSERT_NE(server, nullptr);
  RawRequest request;
  request.url = Url(*server, "/tls12");
  request.ssl_version = static_cast<long>(CURL_SSLVERSION_TLSv1_2) | CURL_SSLVERSION_MAX_TLSv1_2;
  RawAnswer answer = DoRaw(request, *ca_file_);
  ASSERT_EQ(answer.code, CURLE_OK) << answer.error;
  EXPECT_EQ(answer.status, 200);
  request.ssl_version = CURL_SSLVERSION_TLSv1_3;
  answer = DoRaw(request, *ca_file_);
  ASSERT_EQ(answer.code, CURLE_OK) << answer.error;
  EXPECT_EQ(answer.status, 200);
}

// `key_pem` re-encrypted with a passphrase (PKCS#8, AES-256-CBC).
std::string EncryptedKeyPem(const std::string& key_pem) {
  SslUniquePtr<BIO> in(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  SslUniquePtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) return "";
  auto pem = ToPem(
      key.get(),
      [](BIO* bio, EVP_PKEY* k) {
        char passphrase[] = "passphrase";
        return PEM_write_bio_PKCS8PrivateKey(bio, k, EVP_aes_256_cbc(), passphrase,
                                             sizeof(passphrase) - 1, nullptr, nullptr);
      },
      "the encrypted test key");
  return pem.ok() ? *pem : "";
}

TEST_F(HttpsServerTest, RejectsBadCertificateOrKey) {
  auto other = MakePemPair();
  ASSERT_TRUE(other.ok()) << other.status();
  const std::string encrypted = EncryptedKeyPem(pems_->private_key);
  ASSERT_THAT(encrypted, HasSubstr("ENCRYPTED PRIVATE KEY"));
  struct Case {
    const char* what;
    std::string certificate;
    std::string key;
  };
  const Case cases[] = {
      {"garbage certificate",
       "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", pems_->private_key},
      {"garbage key", pems_->certificate,
       "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
      {"key of another certificate", pems_->certificate, other->private_key},
      {"empty certificate", "", pems_->private_key},
      {"empty key", pems_->certificate, ""},
      {"no certificate block", "just text\n", pems_->private_key},
      {"certificate as key", pems_->certificate, pems_->certificate},
      {"encrypted key", pems_->certificate, encrypted},
  };
  for (const Case& c : cases) {
    HttpsServerOptions options = Options();
    options.certificate_pem = c.certificate;
    options.private_key_pem = c.key;
    auto server = HttpsServer::Start(std::move(options), Recording(ServerResponse{}));
    EXPECT_THAT(server, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("TLS"))) << c.what;
    if (server.ok()) continue;
    // The key never appears in the error.
    EXPECT_THAT(std::string(server.status().message()), Not(HasSubstr("PRIVATE KEY")));
    EXPECT_THAT(std::string(server.status().message()), Not(HasSubstr("AAAA")));
  }
}

TEST_F(HttpsServerTest, RejectsBadOptions) {
  struct Case {
    const char* what;
    HttpsServerOptions options;
    const char* message;
  };
  std::vector<Case> cases;
  for (const char* listen : {"localhost:0", "127.0.0.1", "127.0.0.1:99999", "[::1]0", "::1:0",
                             "[::1:0", "127.0.0.1:", "127.0.0.1:-1", "[127.0.0.1]:0", ""}) {
    cases.push_back({listen, Options(listen), "listen address"});
  }
  cases.push_back({"threads 0", Options(), "threads"});
  cases.back().options.threads = 0;
  cases.push_back({"max_connections 0", Options(), "max_connections"});
  cases.back().options.max_connections = 0;
  cases.push_back({"max_connections < threads", Options(), "max_connections"});
  cases.back().options.max_connections = 2;
  cases.push_back({"max_body_bytes 0", Options(), "max_body_bytes"});
  cases.back().options.max_body_bytes = 0;
  cases.push_back({"timeout 0", Options(), "connection_timeout"});
  cases.back().options.connection_timeout = absl::ZeroDuration();
  for (Case& c : cases) {
    auto server = HttpsServer::Start(std::move(c.options), Recording(ServerResponse{}));
    EXPECT_THAT(server, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.what;
  }
  EXPECT_THAT(HttpsServer::Start(Options(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("handler")));
}

TEST_F(HttpsServerTest, AddressInUseIsUnavailable) {
  auto first = StartOrDie(Options(), Recording(ServerResponse{}));
  ASSERT_NE(first, nullptr);
  const std::string listen = absl::StrCat("127.0.0.1:", first->port());
  auto second = HttpsServer::Start(Options(listen), Recording(ServerResponse{}));
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kUnavailable, HasSubstr(listen)));
}

TEST_F(HttpsServerTest, StopIsIdempotentAndClosesTheListener) {
  auto server = StartOrDie(Options(), Recording(ServerResponse{}));
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  server->Stop();
  server->Stop();
  EXPECT_FALSE(ConnectSilently(port).valid());
  server.reset();  // the destructor stops again
}

TEST_F(HttpsServerTest, StopWaitsForHandlersInProgress) {
  std::atomic<bool> entered{false};
  std::atomic<bool> finished{false};
  auto server = StartOrDie(Options(), [&](const ServerRequest&) {
    entered.store(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    finished.store(true);
    return ServerResponse{};
  });
  ASSERT_NE(server, nullptr);
  auto client = Client();
  ASSERT_NE(client, nullptr);
  auto request = std::async(std::launch::async, [&] {
    HttpRequest get;
    get.url = Url(*server, "/slow");
    return client->Do(get);
  });
  for (int i = 0; i < 1000 && !entered.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(entered.load());
  server->Stop();
  EXPECT_TRUE(finished.load());
  ASSERT_EQ(request.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  (void)request.get();  // answered or cut off by the stop: either is fine here
}

TEST_F(HttpsServerTest, SilentClientDoesNotDelayStop) {
  HttpsServerOptions options = Options();
  options.connection_timeout = absl::Seconds(60);
  auto server = StartOrDie(std::move(options), Recording(ServerResponse{}));
  ASSERT_NE(server, nullptr);
  UniqueFd silent = ConnectSilently(server->port());
  ASSERT_TRUE(silent.valid());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let a worker accept it
  auto stopped = std::async(std::launch::async, [&server] { server->Stop(); });
  // Far below the 60 s connection timeout: Stop closes idle connections itself.
  EXPECT_EQ(stopped.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  stopped.wait();
}

TEST_F(HttpsServerTest, SilentClientIsDroppedAfterTheConnectionTimeout) {
  HttpsServerOptions options = Options();
  options.connection_timeout = absl::Seconds(1);
  auto server = StartOrDie(std::move(options), Recording(ServerResponse{}));
  ASSERT_NE(server, nullptr);
  UniqueFd silent = ConnectSilently(server->port());
  ASSERT_TRUE(silent.valid());
  // Bounded wait for the server to close it: recv returns 0 (EOF) or an error, not a timeout.
  timeval wait{30, 0};
  ASSERT_EQ(::setsockopt(silent.get(), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait)), 0);
  // (A TLS alert may come before the end.)
  ssize_t n = 0;
  char buffer[256];
  for (int i = 0; i < 100; ++i) {
    n = ::recv(silent.get(), buffer, sizeof(buffer), 0);
    if (n <= 0) break;
  }
  EXPECT_TRUE(n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
      << "recv returned " << n << " errno " << errno;
  // Requests still work afterwards.
  auto client = Client();
  ASSERT_NE(client, nullptr);
  HttpRequest request;
  request.url = Url(*server, "/after");
  auto response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpsServerTest, LibraryDiagnosticsGoToTheLogCallback) {
  absl::Mutex mutex;
  std::vector<std::string> messages;
  HttpsServerOptions options = Options();
  options.log = [&](absl::string_view message) {
    absl::MutexLock lock(&mutex);
    messages.emplace_back(message);
  };
  auto server = StartOrDie(std::move(options), Recording(ServerResponse{}));
  ASSERT_NE(server, nullptr);
  {
    // Plain HTTP to the TLS port: the handshake fails.
    UniqueFd fd = ConnectSilently(server->port());
    ASSERT_TRUE(fd.valid());
    const std::string plain = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::send(fd.get(), plain.data(), plain.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(plain.size()));
    timeval wait{30, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
    char buffer[256];
    while (::recv(fd.get(), buffer, sizeof(buffer), 0) > 0) {
    }
  }
  server->Stop();  // joins the workers: every message has been delivered
  absl::MutexLock lock(&mutex);
  EXPECT_THAT(messages, Not(IsEmpty()));
  for (const std::string& message : messages) {
    EXPECT_THAT(message, Not(HasSubstr("PRIVATE KEY")));
    EXPECT_FALSE(absl::EndsWith(message, "\n")) << message;
  }
  EXPECT_TRUE(seen_.All().empty());
}

}  // namespace
}  // namespace acme_signer::http
