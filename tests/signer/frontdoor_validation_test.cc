// The front door's challenge validation against real loopback servers: DNS through a
// pebble-challtestsrv started by PebbleEnv (plus a scripted UDP responder for NXDOMAIN, which
// challtestsrv never answers, and a silent one for timeouts), http-01 against the project's
// Http01Responder and a scripted HTTP server for redirects. No address other than loopback.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "acme/key_authorization.h"
#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/curl_http_client.h"
#include "http/http01_responder.h"
#include "nlohmann/json.hpp"
#include "signer/frontdoor/dns01_validator.h"
#include "signer/frontdoor/dns_resolver.h"
#include "signer/frontdoor/http01_validator.h"
#include "signer/frontdoor/network_allowlist.h"
#include "tests/testing/pebble_env.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer::frontdoor {
namespace {

using ::acme_signer::testing::IsOk;
using ::acme_signer::testing::PebbleEnv;
using ::acme_signer::testing::StatusIs;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kToken[] = "tok3n_Abc-123";
constexpr char kKeyAuthorization[] = "tok3n_Abc-123.thumbprint-of-the-account-key";

// A socket on 127.0.0.1 with an ephemeral port.
UniqueFd LoopbackSocket(int type, uint16_t* port) {
  UniqueFd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!fd.valid() || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return UniqueFd();
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

// A background loop over one socket until destruction (a pipe wakes it up).
class SocketLoop {
 public:
  virtual ~SocketLoop() { StopLoop(); }

 protected:
  void StartLoop(UniqueFd socket) {
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    wake_read_ = UniqueFd(pipe_fds[0]);
    wake_write_ = UniqueFd(pipe_fds[1]);
    socket_ = std::move(socket);
    thread_ = std::thread([this] {
      for (;;) {
        pollfd fds[2] = {{socket_.get(), POLLIN, 0}, {wake_read_.get(), POLLIN, 0}};
        if (::poll(fds, 2, 1000) < 0) continue;
        if (fds[1].revents != 0) return;
        if (fds[0].revents != 0) OnReadable(socket_.get());
      }
    });
  }
  void StopLoop() {
    if (!thread_.joinable()) return;
    (void)!::write(wake_write_.get(), "x", 1);
    thread_.join();
  }
  virtual void OnReadable(int fd) = 0;

 private:
  UniqueFd socket_;
  UniqueFd wake_read_;
  UniqueFd wake_write_;
  std::thread thread_;
};

// Answers every DNS query over UDP with an empty answer and the given rcode (3 = NXDOMAIN).
class ScriptedDnsServer : public SocketLoop {
 public:
  explicit ScriptedDnsServer(int rcode) : rcode_(rcode) {
    UniqueFd fd = LoopbackSocket(SOCK_DGRAM, &port_);
    EXPECT_TRUE(fd.valid());
    StartLoop(std::move(fd));
  }
  ~ScriptedDnsServer() override { StopLoop(); }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  void OnReadable(int fd) override {
    unsigned char buffer[512];
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    const ssize_t n =
        ::recvfrom(fd, buffer, sizeof(buffer), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 12) return;
    buffer[2] = static_cast<unsigned char>(0x80 | (buffer[2] & 0x01));  // QR, keep RD.
    buffer[3] = static_cast<unsigned char>(0x80 | rcode_);              // RA, rcode.
    for (int i = 6; i < 12; ++i) buffer[i] = 0;                         // No AN/NS/AR.
    ::sendto(fd, buffer, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), from_len);
  }
  const int rcode_;
  uint16_t port_ = 0;
};

// A tiny HTTP server on 127.0.0.1: path -> full canned response. Counts connections.
class ScriptedHttpServer : public SocketLoop {
 public:
  ScriptedHttpServer() {
    UniqueFd fd = LoopbackSocket(SOCK_STREAM, &port_);
    EXPECT_TRUE(fd.valid());
    EXPECT_EQ(::listen(fd.get(), 16), 0);
    StartLoop(std::move(fd));
  }
  ~ScriptedHttpServer() override { StopLoop(); }
  uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }

  void Redirect(const std::string& path, int status, const std::string& location) {
    Set(path, absl::StrCat("HTTP/1.1 ", status, " Moved\r\nLocation: ", location,
                           "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
  }
  void Serve(const std::string& path, const std::string& body) {
    Set(path, absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ",
                           body.size(), "\r\nConnection: close\r\n\r\n", body));
  }
  std::vector<std::string> requests() const {
    absl::MutexLock lock(&mutex_);
    return requests_;
  }

 private:
  void Set(const std::string& path, std::string response) {
    absl::MutexLock lock(&mutex_);
    responses_[path] = std::move(response);
  }
  void OnReadable(int listener) override {
    UniqueFd conn(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) return;
    ++connections_;
    timeval tv{2, 0};
    ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string head;
    char buffer[1024];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384) {
      const ssize_t n = ::recv(conn.get(), buffer, sizeof(buffer), 0);
      if (n <= 0) return;
      head.append(buffer, static_cast<size_t>(n));
    }
    const size_t start = head.find(' ') + 1;
    const std::string path = head.substr(start, head.find(' ', start) - start);
    std::string response =
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    {
      absl::MutexLock lock(&mutex_);
      requests_.push_back(head.substr(0, head.find("\r\n\r\n")));
      if (auto it = responses_.find(path); it != responses_.end()) response = it->second;
    }
    (void)!::send(conn.get(), response.data(), response.size(), MSG_NOSIGNAL);
  }

  uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  mutable absl::Mutex mutex_;
  std::map<std::string, std::string> responses_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mutex_);
};

class FrontDoorValidationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!::acme_signer::testing::CheckPebbleTools().ok()) return;
    absl::StatusOr<std::unique_ptr<PebbleEnv>> env = PebbleEnv::Start();
    ASSERT_THAT(env, IsOk());
    env_ = env->release();
    http::CurlHttpClient::Options options;
    options.require_https = false;
    options.total_timeout = absl::Seconds(10);
    management_ = http::CurlHttpClient::Create(options)->release();
  }
  static void TearDownTestSuite() {
    delete management_;
    management_ = nullptr;
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    ACME_SIGNER_REQUIRE_PEBBLE_TOOLS();
    ASSERT_NE(env_, nullptr);
    resolver_ = MakeResolver(absl::StrCat("127.0.0.1:", env_->dns_port()));
    ASSERT_NE(resolver_, nullptr);
  }

  static std::shared_ptr<const DnsResolver> MakeResolver(const std::string& servers) {
    DnsResolver::Options options;
    options.servers = servers;
    options.try_timeout = absl::Milliseconds(400);
    options.tries = 2;
    options.lookup_timeout = absl::Seconds(3);
    absl::StatusOr<std::unique_ptr<DnsResolver>> resolver = DnsResolver::Create(options);
    EXPECT_THAT(resolver, IsOk());
    return resolver.ok() ? std::shared_ptr<const DnsResolver>(*std::move(resolver)) : nullptr;
  }

  // POSTs to challtestsrv's management API (mock DNS data).
  static void Challtestsrv(const std::string& path, const nlohmann::json& body) {
    http::HttpRequest request;
    request.method = http::HttpMethod::kPost;
    request.url = absl::StrCat(env_->challtestsrv_url(), path);
    request.content_type = "application/json";
    request.body = body.dump();
    absl::StatusOr<http::HttpResponse> response = management_->Do(request);
    ASSERT_THAT(response, IsOk());
    ASSERT_EQ(response->status, 200) << path;
  }

  std::unique_ptr<Http01Validator> MakeHttp01(int port, std::vector<std::string> allow,
                                              absl::Duration timeout = absl::Seconds(10)) {
    Http01Validator::Options options;
    options.port = port;
    options.timeout = timeout;
    options.connect_timeout = absl::Seconds(2);
    absl::StatusOr<NetworkAllowlist> list =
        allow.empty() ? NetworkAllowlist::Default() : NetworkAllowlist::Parse(allow);
    EXPECT_THAT(list, IsOk());
    absl::StatusOr<std::unique_ptr<Http01Validator>> validator =
        Http01Validator::Create(options, resolver_, *list);
    EXPECT_THAT(validator, IsOk());
    return validator.ok() ? *std::move(validator) : nullptr;
  }

  static std::string ChallengePath(const std::string& token = kToken) {
    return absl::StrCat(http::kAcmeChallengePathPrefix, token);
  }

  static PebbleEnv* env_;
  static http::CurlHttpClient* management_;
  std::shared_ptr<const DnsResolver> resolver_;
};

PebbleEnv* FrontDoorValidationTest::env_ = nullptr;
http::CurlHttpClient* FrontDoorValidationTest::management_ = nullptr;

// ---- DnsResolver ----

TEST_F(FrontDoorValidationTest, ResolverReturnsTheMockARecord) {
  absl::StatusOr<std::vector<IpAddress>> addresses = resolver_->LookupAddresses("web1.lab.test");
  ASSERT_THAT(addresses, IsOk());
  ASSERT_EQ(addresses->size(), 1u);
  EXPECT_EQ((*addresses)[0].ToString(), "127.0.0.1");

  Challtestsrv("/add-a", {{"host", "other.lab.test."}, {"addresses", {"127.0.0.2", "127.0.0.3"}}});
  addresses = resolver_->LookupAddresses("other.lab.test");
  ASSERT_THAT(addresses, IsOk());
  std::vector<std::string> texts;
  for (const IpAddress& a : *addresses) texts.push_back(a.ToString());
  EXPECT_THAT(texts, ElementsAre("127.0.0.2", "127.0.0.3"));
}

TEST_F(FrontDoorValidationTest, ResolverReturnsTxtRecordsAndSaysWhenThereAreNone) {
  ASSERT_THAT(env_->SetTxtRecord("_acme-challenge.txt.lab.test", "value-1"), IsOk());
  absl::StatusOr<std::vector<std::string>> txt =
      resolver_->LookupTxt("_acme-challenge.txt.lab.test");
  ASSERT_THAT(txt, IsOk());
  EXPECT_THAT(*txt, ElementsAre("value-1"));

  EXPECT_THAT(
      resolver_->LookupTxt("_acme-challenge.none.lab.test"),
      StatusIs(absl::StatusCode::kNotFound,
               AllOf(HasSubstr("_acme-challenge.none.lab.test"), HasSubstr("no TXT records"))));
}

TEST_F(FrontDoorValidationTest, ResolverReturnsCaaRecordsAndSaysWhenThereAreNone) {
  ASSERT_THAT(env_->SetCaaRecords("caa.lab.test", {{"issue", "ca.test; accounturi=https://a/1"},
                                                   {"iodef", "mailto:sec@lab.test"}}),
              IsOk());
  absl::StatusOr<std::vector<CaaRecord>> caa = resolver_->LookupCaa("caa.lab.test");
  ASSERT_THAT(caa, IsOk());
  ASSERT_EQ(caa->size(), 2u);
  EXPECT_EQ((*caa)[0].flags, 0);
  EXPECT_EQ((*caa)[0].tag, "issue");
  EXPECT_EQ((*caa)[0].value, "ca.test; accounturi=https://a/1");
  EXPECT_EQ((*caa)[1].tag, "iodef");
  EXPECT_EQ((*caa)[1].value, "mailto:sec@lab.test");

  ASSERT_THAT(env_->ClearCaaRecords("caa.lab.test"), IsOk());
  EXPECT_THAT(resolver_->LookupCaa("caa.lab.test"),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("caa.lab.test"), HasSubstr("no CAA records"))));
}

TEST_F(FrontDoorValidationTest, ResolverReportsServfail) {
  Challtestsrv("/set-servfail", {{"host", "broken.lab.test."}});
  EXPECT_THAT(resolver_->LookupAddresses("broken.lab.test"),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("broken.lab.test"), HasSubstr("SERVFAIL"))));
}

TEST_F(FrontDoorValidationTest, ResolverReportsNxdomain) {
  ScriptedDnsServer nxdomain(/*rcode=*/3);
  std::shared_ptr<const DnsResolver> resolver = MakeResolver(nxdomain.address());
  ASSERT_NE(resolver, nullptr);
  EXPECT_THAT(resolver->LookupAddresses("gone.lab.test"),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("gone.lab.test"), HasSubstr("NXDOMAIN"))));
  EXPECT_THAT(resolver->LookupTxt("_acme-challenge.gone.lab.test"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("NXDOMAIN")));
}

TEST_F(FrontDoorValidationTest, ResolverTimesOutWithinItsBound) {
  uint16_t port = 0;
  UniqueFd silent = LoopbackSocket(SOCK_DGRAM, &port);  // Receives, never answers.
  ASSERT_TRUE(silent.valid());
  std::shared_ptr<const DnsResolver> resolver = MakeResolver(absl::StrCat("127.0.0.1:", port));
  const absl::Time start = absl::Now();
  EXPECT_THAT(resolver->LookupAddresses("slow.lab.test"),
              StatusIs(absl::StatusCode::kDeadlineExceeded,
                       AllOf(HasSubstr("slow.lab.test"), HasSubstr("timed out"))));
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  // A caller's earlier deadline wins.
  const absl::Time again = absl::Now();
  EXPECT_THAT(resolver->LookupTxt("slow.lab.test", absl::Now() + absl::Milliseconds(300)),
              StatusIs(absl::StatusCode::kDeadlineExceeded, ::testing::_));
  EXPECT_LT(absl::Now() - again, absl::Seconds(1));
}

TEST_F(FrontDoorValidationTest, ResolverRefusesBadNamesAndBadServerSettings) {
  EXPECT_THAT(resolver_->LookupAddresses("bad name.lab.test"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad name.lab.test")));
  EXPECT_THAT(resolver_->LookupAddresses(""),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  for (const char* bad :
       {"127.0.0.1:99999", "resolver.lab:53", "[::1", "127.0.0.1:", "[127.0.0.1]:53"}) {
    DnsResolver::Options options;
    options.servers = bad;
    EXPECT_THAT(DnsResolver::Create(options),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(bad)))
        << bad;
  }
  DnsResolver::Options v6;
  v6.servers = "[::1]:5353, 127.0.0.1";
  absl::StatusOr<std::unique_ptr<DnsResolver>> resolver = DnsResolver::Create(v6);
  ASSERT_THAT(resolver, IsOk());
  EXPECT_EQ((*resolver)->Describe(), "resolver [::1]:5353,127.0.0.1:53");
  EXPECT_EQ((*DnsResolver::Create(DnsResolver::Options()))->Describe(), "the system resolver");
}

// ---- dns-01 ----

TEST_F(FrontDoorValidationTest, Dns01SucceedsWithTheRightTxtRecord) {
  absl::StatusOr<std::string> value = acme::Dns01TxtValue(kKeyAuthorization);
  ASSERT_THAT(value, IsOk());
  ASSERT_THAT(env_->SetTxtRecord("_acme-challenge.dns1.lab.test", "some-other-record"), IsOk());
  ASSERT_THAT(env_->SetTxtRecord("_acme-challenge.dns1.lab.test", *value), IsOk());
  auto validator = Dns01Validator::Create(resolver_);
  ASSERT_THAT(validator, IsOk());
  absl::StatusOr<ValidationResult> result =
      (*validator)->Validate("dns1.lab.test", kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_TRUE(result->ok()) << result->detail;
  // A wildcard is validated at the base name's record.
  result = (*validator)->Validate("*.dns1.lab.test", kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_TRUE(result->ok()) << result->detail;
}

TEST_F(FrontDoorValidationTest, Dns01FollowsACnameDelegation) {
  // The usual set-up for hosts whose zone cannot be updated: _acme-challenge delegated by
  // CNAME to a zone that can.
  absl::StatusOr<std::string> value = acme::Dns01TxtValue(kKeyAuthorization);
  ASSERT_THAT(value, IsOk());
  Challtestsrv("/set-cname", {{"host", "_acme-challenge.cname.lab.test."},
                              {"target", "cname-lab-test.acme.delegated.test."}});
  ASSERT_THAT(env_->SetTxtRecord("cname-lab-test.acme.delegated.test", *value), IsOk());
  auto validator = Dns01Validator::Create(resolver_);
  ASSERT_THAT(validator, IsOk());
  absl::StatusOr<ValidationResult> result =
      (*validator)->Validate("cname.lab.test", kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_TRUE(result->ok()) << result->problem_type << ": " << result->detail;
}

TEST_F(FrontDoorValidationTest, Dns01RefusesWrongAndMissingRecords) {
  ASSERT_THAT(env_->SetTxtRecord("_acme-challenge.dns2.lab.test", "wrong\x01value"), IsOk());
  auto validator = Dns01Validator::Create(resolver_);
  ASSERT_THAT(validator, IsOk());
  absl::StatusOr<ValidationResult> result =
      (*validator)->Validate("dns2.lab.test", kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->problem_type, "unauthorized");
  EXPECT_THAT(result->detail, AllOf(HasSubstr("_acme-challenge.dns2.lab.test"),
                                    HasSubstr("wrong\\x01value"), HasSubstr("expected")));

  result = (*validator)->Validate("dns3.lab.test", kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->problem_type, "unauthorized");
  EXPECT_THAT(result->detail, HasSubstr("No TXT record found at _acme-challenge.dns3.lab.test"));

  EXPECT_THAT((*validator)->Validate("not a name", kKeyAuthorization),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST_F(FrontDoorValidationTest, Dns01ReportsDnsProblems) {
  Challtestsrv("/set-servfail", {{"host", "_acme-challenge.dns4.lab.test."}});
  auto validator = Dns01Validator::Create(resolver_);
  ASSERT_THAT(validator, IsOk());
  absl::StatusOr<ValidationResult> result =
      (*validator)->Validate("dns4.lab.test", kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->problem_type, "dns");
  EXPECT_THAT(result->detail, HasSubstr("SERVFAIL"));

  ScriptedDnsServer nxdomain(3);
  auto nx_validator = Dns01Validator::Create(MakeResolver(nxdomain.address()));
  ASSERT_THAT(nx_validator, IsOk());
  result = (*nx_validator)->Validate("dns5.lab.test", kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->problem_type, "dns");
  EXPECT_THAT(result->detail,
              AllOf(HasSubstr("NXDOMAIN"), HasSubstr("_acme-challenge.dns5.lab.test")));
}

// ---- http-01 ----

TEST_F(FrontDoorValidationTest, Http01SucceedsAgainstTheResponder) {
  http::Http01Responder responder(http::Http01Responder::Options{});
  ASSERT_THAT(responder.Start(), IsOk());
  ASSERT_THAT(responder.AddToken(kToken, absl::StrCat(kKeyAuthorization, "\r\n")), IsOk());
  auto validator = MakeHttp01(responder.port(), {"127.0.0.0/8"});
  ASSERT_NE(validator, nullptr);
  absl::StatusOr<ValidationResult> result =
      validator->Validate("web1.lab.test", kToken, kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_TRUE(result->ok()) << result->problem_type << ": " << result->detail;
  ASSERT_EQ(result->records.size(), 1u);
  EXPECT_EQ(result->records[0].address_used, "127.0.0.1");
  EXPECT_EQ(result->records[0].url,
            absl::StrCat("http://web1.lab.test:", responder.port(), ChallengePath()));
  EXPECT_EQ(responder.challenge_responses_served(), 1);

  // An IP identifier (RFC 8738) is fetched without DNS.
  result = validator->Validate("127.0.0.1", kToken, kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_TRUE(result->ok()) << result->detail;
}

TEST_F(FrontDoorValidationTest, Http01PinsIpv6AddressesToo) {
  http::Http01Responder::Options options;
  options.address = "::1";
  http::Http01Responder responder(options);
  if (absl::Status started = responder.Start(); !started.ok()) {
    GTEST_SKIP() << "no IPv6 loopback here: " << started;
  }
  ASSERT_THAT(responder.AddToken(kToken, kKeyAuthorization), IsOk());
  Challtestsrv("/add-aaaa", {{"host", "web6.lab.test."}, {"addresses", {"::1"}}});
  auto validator = MakeHttp01(responder.port(), {"::1"});
  ASSERT_NE(validator, nullptr);
  absl::StatusOr<ValidationResult> result =
      validator->Validate("web6.lab.test", kToken, kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_TRUE(result->ok()) << result->problem_type << ": " << result->detail;
  ASSERT_FALSE(result->records.empty());
  EXPECT_EQ(result->records.back().address_used, "::1");
  // The IPv4 address challtestsrv also returns (127.0.0.1) is outside this allowlist.
  EXPECT_THAT(result->records.back().addresses_refused, ElementsAre("127.0.0.1"));
  result = validator->Validate("::1", kToken, kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_TRUE(result->ok()) << result->problem_type << ": " << result->detail;
}

TEST_F(FrontDoorValidationTest, Http01RefusesAWrongBodyA404AndAnOversizedBody) {
  http::Http01Responder responder(http::Http01Responder::Options{});
  ASSERT_THAT(responder.Start(), IsOk());
  ASSERT_THAT(responder.AddToken(kToken, "not-the-key-authorization\x7f"), IsOk());
  auto validator = MakeHttp01(responder.port(), {"127.0.0.0/8"});
  ASSERT_NE(validator, nullptr);

  absl::StatusOr<ValidationResult> result =
      validator->Validate("web1.lab.test", kToken, kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->problem_type, "unauthorized");
  EXPECT_THAT(result->detail, AllOf(HasSubstr("127.0.0.1"), HasSubstr("web1.lab.test"),
                                    HasSubstr("not-the-key-authorization\\x7f")));

  result = validator->Validate("web1.lab.test", "unknownToken", kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->problem_type, "unauthorized");
  EXPECT_THAT(result->detail, HasSubstr("HTTP 404"));

  ASSERT_THAT(responder.AddToken(kToken, std::string(9000, 'x')), IsOk());
  result = validator->Validate("web1.lab.test", kToken, kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->problem_type, "unauthorized");
  EXPECT_THAT(result->detail, HasSubstr("larger than 8192 bytes"));
}

TEST_F(FrontDoorValidationTest, Http01FollowsARedirectChainAndRechecksEachHop) {
  ScriptedHttpServer server;
  const std::string port = absl::StrCat(server.port());
  server.Redirect(ChallengePath(), 302, "/hop2");
  server.Redirect("/hop2", 301, absl::StrCat("http://web2.lab.test:", port, "/final?x=1#frag"));
  server.Serve("/final?x=1", absl::StrCat(kKeyAuthorization, "\n"));
  auto validator = MakeHttp01(server.port(), {"127.0.0.0/8"});
  ASSERT_NE(validator, nullptr);
  absl::StatusOr<ValidationResult> result =
      validator->Validate("web1.lab.test", kToken, kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_TRUE(result->ok()) << result->problem_type << ": " << result->detail;
  ASSERT_EQ(result->records.size(), 3u);
  EXPECT_EQ(result->records[2].hostname, "web2.lab.test");
  std::vector<std::string> requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_THAT(requests[2], AllOf(HasSubstr("GET /final?x=1 HTTP/1.1"),
                                 HasSubstr(absl::StrCat("Host: web2.lab.test:", port))));
}

TEST_F(FrontDoorValidationTest, Http01RefusesARedirectToARefusedAddress) {
  ScriptedHttpServer server;
  Challtestsrv("/add-a", {{"host", "internal.lab.test."}, {"addresses", {"127.0.0.2"}}});
  server.Redirect(ChallengePath(), 302,
                  absl::StrCat("http://internal.lab.test:", server.port(), "/secret"));
  auto validator = MakeHttp01(server.port(), {"127.0.0.1/32"});
  ASSERT_NE(validator, nullptr);
  absl::StatusOr<ValidationResult> result =
      validator->Validate("web1.lab.test", kToken, kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->problem_type, "connection");
  EXPECT_THAT(result->detail, AllOf(HasSubstr("internal.lab.test"), HasSubstr("127.0.0.2")));
  EXPECT_EQ(server.connections(), 1);  // Only the first hop.
  ASSERT_EQ(result->records.size(), 2u);
  EXPECT_THAT(result->records[1].addresses_refused, ElementsAre("127.0.0.2"));
  EXPECT_THAT(result->records[1].address_used, IsEmpty());
}

TEST_F(FrontDoorValidationTest, Http01RefusesBadRedirects) {
  ScriptedHttpServer server;
  const std::string port = absl::StrCat(server.port());
  auto validator = MakeHttp01(server.port(), {"127.0.0.0/8"});
  ASSERT_NE(validator, nullptr);
  struct Case {
    std::string location;
    std::string why;
  };
  for (const Case& c : {Case{"http://web1.lab.test:1/x", "port 1 is not followed"},
                        Case{absl::StrCat("http://127.0.0.1:", port, "/x"), "not IP addresses"},
                        Case{"ftp://web1.lab.test/x", "only http and https"},
                        Case{absl::StrCat("http://user:pw@web1.lab.test:", port, "/x"), "userinfo"},
                        Case{ChallengePath(), "too many redirects (more than 10)"}}) {
    server.Redirect(ChallengePath(), 302, c.location);
    absl::StatusOr<ValidationResult> result =
        validator->Validate("web1.lab.test", kToken, kKeyAuthorization);
    ASSERT_THAT(result, IsOk());
    EXPECT_EQ(result->problem_type, "connection") << c.location;
    EXPECT_THAT(result->detail, HasSubstr(c.why)) << c.location;
  }
}

TEST_F(FrontDoorValidationTest, Http01RefusesAddressesOutsideTheAllowlistBeforeConnecting) {
  ScriptedHttpServer server;
  server.Serve(ChallengePath(), kKeyAuthorization);
  for (const std::vector<std::string>& allow :
       {std::vector<std::string>{"10.0.0.0/8"}, std::vector<std::string>{} /* default */}) {
    auto validator = MakeHttp01(server.port(), allow);
    ASSERT_NE(validator, nullptr);
    absl::StatusOr<ValidationResult> result =
        validator->Validate("web1.lab.test", kToken, kKeyAuthorization);
    ASSERT_THAT(result, IsOk());
    EXPECT_EQ(result->problem_type, "connection");
    EXPECT_THAT(result->detail, AllOf(HasSubstr("web1.lab.test"), HasSubstr("127.0.0.1"),
                                      HasSubstr("may not connect")));
    result = validator->Validate("127.0.0.1", kToken, kKeyAuthorization);
    ASSERT_THAT(result, IsOk());
    EXPECT_EQ(result->problem_type, "connection");
  }
  EXPECT_EQ(server.connections(), 0);
}

TEST_F(FrontDoorValidationTest, Http01TimesOutAgainstASilentServer) {
  uint16_t port = 0;
  UniqueFd silent = LoopbackSocket(SOCK_STREAM, &port);  // Accepts (backlog), never answers.
  ASSERT_TRUE(silent.valid());
  ASSERT_EQ(::listen(silent.get(), 4), 0);
  auto validator = MakeHttp01(port, {"127.0.0.0/8"}, absl::Seconds(2));
  ASSERT_NE(validator, nullptr);
  const absl::Time start = absl::Now();
  absl::StatusOr<ValidationResult> result =
      validator->Validate("web1.lab.test", kToken, kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->problem_type, "connection");
  EXPECT_THAT(result->detail, AllOf(HasSubstr("timed out"), HasSubstr("127.0.0.1")));
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
}

TEST_F(FrontDoorValidationTest, Http01ReportsDnsProblemsAndRefusedConnections) {
  Challtestsrv("/set-servfail", {{"host", "broken-web.lab.test."}});
  uint16_t port = 0;
  { UniqueFd closed = LoopbackSocket(SOCK_STREAM, &port); }  // Nothing listens there now.
  auto validator = MakeHttp01(port, {"127.0.0.0/8"});
  ASSERT_NE(validator, nullptr);
  absl::StatusOr<ValidationResult> result =
      validator->Validate("broken-web.lab.test", kToken, kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->problem_type, "dns");
  EXPECT_THAT(result->detail, HasSubstr("SERVFAIL"));

  result = validator->Validate("web1.lab.test", kToken, kKeyAuthorization);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->problem_type, "connection");
  EXPECT_THAT(result->detail, HasSubstr("connection failed"));
}

TEST_F(FrontDoorValidationTest, Http01RefusesMalformedInputBeforeAnyIo) {
  auto validator = MakeHttp01(80, {"127.0.0.0/8"});
  ASSERT_NE(validator, nullptr);
  EXPECT_THAT(validator->Validate("web1.lab.test", "bad/token", kKeyAuthorization),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token")));
  EXPECT_THAT(validator->Validate("*.lab.test", kToken, kKeyAuthorization),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(validator->Validate("web1.lab.test", kToken, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  Http01Validator::Options bad;
  bad.port = 0;
  EXPECT_THAT(Http01Validator::Create(bad, resolver_, NetworkAllowlist::Default()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("port")));
}

}  // namespace
}  // namespace acme_signer::signer::frontdoor
