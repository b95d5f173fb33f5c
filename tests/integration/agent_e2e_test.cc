// End to end for the host side: the REAL `acme-agent` binary (certonly, renew, revoke,
// certificates) run as a child process against a SignerLab (real `acme-signer serve`, SoftHSM2,
// Pebble with EAB, mock DNS). The agent gets a clean argv and an agent.toml pointing at the
// lab's signer and web1's enrolled identity; the test checks exit codes, stdout/stderr and the
// files certbot users rely on (live/NAME/*.pem, cert.pfx, renewal hooks).
//
// One lab per suite. Lineages are issued once and shared (Lineage()), so the tests may run in
// any order (--gtest_shuffle) and one at a time (--gtest_filter).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/commands.h"
#include "common/files.h"
#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/certificate_reading.h"
#include "tests/testing/child_process.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

extern char** environ;

namespace acme_signer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::SignerLab;

constexpr char kAgent[] = "web1";
constexpr char kBase[] = "web1.example.test";
// Bound on one acme-agent run (an issuance against Pebble takes a few seconds).
constexpr absl::Duration kAgentTimeout = absl::Minutes(3);

// web1 may have its own name and the whole subtree below it, wildcards included.
std::vector<testing::LabAgentPolicy> SuiteAgents() {
  testing::LabAgentPolicy web1;
  web1.name = kAgent;
  web1.allowed_names = {kBase, absl::StrCat("**.", kBase)};
  web1.allow_wildcard_certificates = true;
  web1.orders_per_hour = 200;
  return {web1};
}

// ---------------------------------------------------------------------------------------------
// Small helpers: files, certificates.

std::string FileOrEmpty(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path, 16 << 20);
  return content.ok() ? *content : std::string();
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string ReadLink(const std::string& path) {
  char buffer[4096];
  const ssize_t n = ::readlink(path.c_str(), buffer, sizeof(buffer));
  return n < 0 ? std::string() : std::string(buffer, static_cast<size_t>(n));
}

std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

using testing::DnsSans;
using testing::ParseChain;

// Lowercase hex without leading zeros, the form both sides can be compared in.
std::string NormalizedSerial(absl::string_view hex) {
  std::string out = absl::AsciiStrToLower(hex);
  out.erase(std::remove(out.begin(), out.end(), ':'), out.end());
  const size_t first = out.find_first_not_of('0');
  return first == std::string::npos ? "0" : out.substr(first);
}

std::string SerialOf(X509* cert) {
  SslUniquePtr<BIGNUM> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (bn == nullptr) return "";
  char* hex = BN_bn2hex(bn.get());
  std::string out = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  return NormalizedSerial(out);
}

// X509_verify_cert of `leaf` against `root_pem` with `untrusted` as intermediates; "" on success,
// else OpenSSL's reason.
std::string VerifyChain(X509* leaf, const std::vector<X509*>& untrusted,
                        absl::string_view root_pem) {
  std::vector<SslUniquePtr<X509>> roots = ParseChain(root_pem);
  if (roots.empty()) return "root PEM holds no certificate";
  SslUniquePtr<X509_STORE> store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), roots[0].get());
  // The stack borrows the certificates (sk_X509_free, not pop_free).
  struct StackFree {
    void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
  };
  std::unique_ptr<STACK_OF(X509), StackFree> chain(sk_X509_new_null());
  for (X509* cert : untrusted) sk_X509_push(chain.get(), cert);
  SslUniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, chain.get());
  if (X509_verify_cert(ctx.get()) == 1) return "";
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

SslUniquePtr<EVP_PKEY> ParsePrivateKey(absl::string_view pem) {
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return SslUniquePtr<EVP_PKEY>(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

struct Pkcs7StackFree {
  void operator()(STACK_OF(PKCS7) * stack) const { sk_PKCS7_pop_free(stack, PKCS7_free); }
};
struct SafeBagStackFree {
  void operator()(STACK_OF(PKCS12_SAFEBAG) * stack) const {
    sk_PKCS12_SAFEBAG_pop_free(stack, PKCS12_SAFEBAG_free);
  }
};

// A UTC time as OpenSSL reads it from a certificate.
absl::Time ToAbslTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTimeT(timegm(&tm));
}

absl::Status WriteScript(const std::string& path, const std::string& text) {
  return WriteFileAtomically(path, text, 0700);
}

// A POSIX shell single-quoted word.
std::string ShellQuote(absl::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// ---------------------------------------------------------------------------------------------
// Running acme-agent.

using AgentResult = testing::ChildResult;

// ---------------------------------------------------------------------------------------------
// A static file server for --webroot: answers GET /.well-known/acme-challenge/<token> with the
// file <webroot>/.well-known/acme-challenge/<token> as it is at request time (what nginx or
// Apache does for a webroot), 404 otherwise. One connection at a time on its own thread.

class StaticChallengeServer {
 public:
  static absl::StatusOr<std::unique_ptr<StaticChallengeServer>> Start(std::string webroot,
                                                                      uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return ErrnoStatus(errno, "socket");
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd, 16) != 0) {
      const int saved = errno;
      ::close(fd);
      return ErrnoStatus(saved, absl::StrCat("listening on 127.0.0.1:", port));
    }
    std::unique_ptr<StaticChallengeServer> server(
        new StaticChallengeServer(std::move(webroot), fd));
    server->thread_ = std::thread([s = server.get()] { s->Serve(); });
    return server;
  }

  ~StaticChallengeServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
  }
  StaticChallengeServer(const StaticChallengeServer&) = delete;
  StaticChallengeServer& operator=(const StaticChallengeServer&) = delete;

  // The tokens a request found a file for.
  std::vector<std::string> served() const {
    std::lock_guard<std::mutex> lock(mu_);
    return served_;
  }

 private:
  StaticChallengeServer(std::string webroot, int fd)
      : webroot_(std::move(webroot)), listen_fd_(fd) {}

  void Serve() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int conn = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      timeval tv{5, 0};
      ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      Answer(conn);
      ::close(conn);
    }
  }

  void Answer(int conn) {
    std::string request;
    char buffer[2048];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 16384) {
      const ssize_t n = ::recv(conn, buffer, sizeof(buffer), 0);
      if (n <= 0) return;
      request.append(buffer, static_cast<size_t>(n));
    }
    const std::vector<std::string> line =
        absl::StrSplit(request.substr(0, request.find("\r\n")), ' ');
    constexpr absl::string_view kPrefix = "/.well-known/acme-challenge/";
    std::string status = "404 Not Found", body = "not found\n";
    if (line.size() == 3 && line[0] == "GET" && absl::StartsWith(line[1], kPrefix)) {
      const std::string token = line[1].substr(kPrefix.size());
      const bool safe = !token.empty() && std::all_of(token.begin(), token.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      });
      absl::StatusOr<std::string> file =
          safe ? ReadFile(absl::StrCat(webroot_, "/.well-known/acme-challenge/", token))
               : absl::NotFoundError("");
      if (file.ok()) {
        status = "200 OK";
        body = *file;
        std::lock_guard<std::mutex> lock(mu_);
        served_.push_back(token);
      }
    }
    const std::string response = absl::StrCat(
        "HTTP/1.1 ", status, "\r\nContent-Type: text/plain\r\nContent-Length: ", body.size(),
        "\r\nConnection: close\r\n\r\n", body);
    size_t sent = 0;
    while (sent < response.size()) {
      const ssize_t n = ::send(conn, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  const std::string webroot_;
  const int listen_fd_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<std::string> served_;
};

// ---------------------------------------------------------------------------------------------

class AgentE2eTest : public testing::SignerLabSuite<AgentE2eTest> {
 public:
  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    options.agents = SuiteAgents();
    options.enroll = {kAgent};
    // Every order validates afresh, so the webroot and hook tests see their challenge served.
    options.pebble_env = {{"PEBBLE_AUTHZREUSE", "0"}};
    return options;
  }

 protected:
  static void SetUpTestSuite() {
    SignerLabSuite::SetUpTestSuite();
    if (!lab_started()) return;
    std::string pattern = absl::StrCat(lab().dir(), "/agent-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) {
      FailSuiteSetUp(ErrnoStatus(errno, "mkdtemp for the agent"));
      return;
    }
    dir_ = new std::string(pattern);
    lineages_ = new std::map<std::string, absl::Status>();
    if (absl::Status s = WriteAgentConfig(); !s.ok()) FailSuiteSetUp(s);
  }

  static void TearDownTestSuite() {
    SignerLabSuite::TearDownTestSuite();  // removes the lab dir, ours included
    delete dir_;
    dir_ = nullptr;
    delete lineages_;
    lineages_ = nullptr;
  }

  // A test that stopped the signer starts it again (and points agent.toml at its new port).
  void TearDown() override {
    if (!lab_started() || lab().signer_running()) return;
    absl::Status started = lab().StartSigner();
    ASSERT_TRUE(started.ok()) << started;
    absl::Status written = WriteAgentConfig();
    ASSERT_TRUE(written.ok()) << written;
  }

  static const std::string& dir() { return *dir_; }
  static std::string config_path() { return absl::StrCat(dir(), "/agent.toml"); }
  static std::string config_dir() { return absl::StrCat(dir(), "/etc"); }
  static std::string live(absl::string_view name) {
    return absl::StrCat(config_dir(), "/live/", name);
  }
  static std::string archive(absl::string_view name) {
    return absl::StrCat(config_dir(), "/archive/", name);
  }

  // agent.toml for web1 at the signer's current address.
  static absl::Status WriteAgentConfig() {
    absl::StatusOr<agent::SignerConnection> connection = lab().Connection(kAgent);
    if (!connection.ok()) return connection.status();
    auto quoted = [](absl::string_view s) { return absl::StrCat("\"", s, "\""); };
    std::string text = absl::StrCat("# Written by tests/integration/agent_e2e_test.cc\n",
                                    "config_dir = ", quoted(config_dir()),
                                    "\n\n[signer]\naddress = ", quoted(lab().signer_address()),
                                    "\nca = ", quoted(connection->ca_cert),
                                    // The signer-down test would otherwise retry 2 minutes.
                                    "\nretry_seconds = 3\n");
    if (!connection->server_name.empty()) {
      absl::StrAppend(&text, "tls_server_name = ", quoted(connection->server_name), "\n");
    }
    absl::StrAppend(&text, "\n[identity]\ntrust_domain = ", quoted(lab().trust_domain()),
                    "\nname = ", quoted(kAgent), "\nkey = ", quoted(connection->client_key),
                    "\ncert = ", quoted(connection->client_cert),
                    "\n\n[defaults]\nhook_timeout_seconds = 60\n");
    return WriteFileAtomically(config_path(), text, 0600);
  }

  // `acme-agent COMMAND --config agent.toml ARGS...`
  static AgentResult Agent(absl::string_view command, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {ACME_AGENT_BIN, std::string(command), "--config",
                                     config_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    testing::ChildOptions options;
    options.scratch_dir = dir();
    options.timeout = kAgentTimeout;
    return testing::RunChild(argv, options);
  }

  static std::vector<std::string> Standalone() {
    return {"--standalone", "--http-01-address", "127.0.0.1", "--http-01-port",
            absl::StrCat(lab().http_port())};
  }

  static std::string DeployHookPath() { return absl::StrCat(dir(), "/deploy-hook.sh"); }
  static std::string DeployHookOutput() { return absl::StrCat(dir(), "/deploy-hook.env"); }

  // Issues lineage `name` once per suite with `certonly ARGS`; later calls return the first
  // outcome. The standalone lineage used by several tests is "sa".
  static absl::Status Lineage(const std::string& name) {
    auto it = lineages_->find(name);
    if (it != lineages_->end()) return it->second;
    std::vector<std::string> args = {"--non-interactive", "--cert-name", name};
    if (name == "sa") {
      // Two names; a deploy hook that records what it was told (stored for renewals).
      absl::Status hook = WriteScript(
          DeployHookPath(),
          absl::StrCat(
              "#!/bin/sh\nset -e\n{\n  echo \"RENEWED_LINEAGE=$RENEWED_LINEAGE\"\n"
              "  echo \"RENEWED_DOMAINS=$RENEWED_DOMAINS\"\n  echo \"HOOK=$ACME_AGENT_HOOK\"\n"
              "} > ",
              ShellQuote(DeployHookOutput()), ".tmp\nmv ", ShellQuote(DeployHookOutput()), ".tmp ",
              ShellQuote(DeployHookOutput()), "\n"));
      if (!hook.ok()) return (*lineages_)[name] = hook;
      args.insert(args.end(), {"-d", kBase, "-d", absl::StrCat("a.", kBase), "--deploy-hook",
                               DeployHookPath()});
    } else {
      args.insert(args.end(), {"-d", absl::StrCat(name, ".", kBase)});
    }
    const std::vector<std::string> standalone = Standalone();
    args.insert(args.end(), standalone.begin(), standalone.end());
    AgentResult r = Agent("certonly", args);
    absl::Status status = r.exit_code == 0
                              ? absl::OkStatus()
                              : absl::InternalError(absl::StrCat(
                                    "certonly for ", name, " failed: ", absl::StrCat(r.exit_code),
                                    "\n", r.out, r.err, "\nsigner log:\n", lab().SignerLogTail()));
    return (*lineages_)[name] = status;
  }

  // Checks everything certbot users rely on in live/NAME at `version`.
  // The version live/NAME points at (0 when it is not a link of the form .NAME.vN).
  static int LiveVersion(const std::string& name) {
    const std::string link = ReadLink(live(name));
    const std::string prefix = absl::StrCat(".", name, ".v");
    int version = 0;
    if (!absl::StartsWith(link, prefix) ||
        !absl::SimpleAtoi(link.substr(prefix.size()), &version)) {
      return 0;
    }
    return version;
  }

  static void ExpectInstalledLineage(const std::string& name,
                                     const std::vector<std::string>& domains) {
    SCOPED_TRACE(absl::StrCat("lineage ", name));
    const int version = LiveVersion(name);
    ASSERT_GE(version, 1) << "live/" << name << " -> " << ReadLink(live(name));
    for (const char* file : {"cert", "chain", "fullchain", "privkey"}) {
      EXPECT_EQ(ReadLink(absl::StrCat(live(name), "/", file, ".pem")),
                absl::StrCat("../../archive/", name, "/", file, version, ".pem"));
    }
    struct stat st;
    ASSERT_EQ(::stat(absl::StrCat(live(name), "/privkey.pem").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    ASSERT_EQ(::stat(absl::StrCat(live(name), "/cert.pem").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0644u);

    const std::string fullchain = FileOrEmpty(absl::StrCat(live(name), "/fullchain.pem"));
    std::vector<SslUniquePtr<X509>> chain = ParseChain(fullchain);
    ASSERT_GE(chain.size(), 2u) << fullchain;
    EXPECT_EQ(fullchain, FileOrEmpty(absl::StrCat(live(name), "/cert.pem")) +
                             FileOrEmpty(absl::StrCat(live(name), "/chain.pem")));
    absl::StatusOr<std::string> root = lab().PebbleRootPem();
    ASSERT_TRUE(root.ok()) << root.status();
    std::vector<X509*> intermediates;
    for (size_t i = 1; i < chain.size(); ++i) intermediates.push_back(chain[i].get());
    EXPECT_EQ(VerifyChain(chain[0].get(), intermediates, *root), "");
    SslUniquePtr<EVP_PKEY> key =
        ParsePrivateKey(FileOrEmpty(absl::StrCat(live(name), "/privkey.pem")));
    ASSERT_NE(key, nullptr);
    EXPECT_EQ(X509_check_private_key(chain[0].get(), key.get()), 1);
    std::vector<std::string> sans = DnsSans(chain[0].get());
    std::vector<std::string> expected = domains;
    std::sort(sans.begin(), sans.end());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(sans, expected);
  }

  static std::map<std::string, std::string> LivePems(const std::string& name) {
    std::map<std::string, std::string> files;
    for (const char* file : {"cert", "chain", "fullchain", "privkey"}) {
      files[file] = FileOrEmpty(absl::StrCat(live(name), "/", file, ".pem"));
    }
    return files;
  }

  static std::string* dir_;
  static std::map<std::string, absl::Status>* lineages_;
};

std::string* AgentE2eTest::dir_ = nullptr;
std::map<std::string, absl::Status>* AgentE2eTest::lineages_ = nullptr;

TEST_F(AgentE2eTest, CertonlyStandaloneInstallsAVerifiedCertificateInCertbotsLayout) {
  ASSERT_TRUE(Lineage("sa").ok()) << Lineage("sa");
  ExpectInstalledLineage("sa", {kBase, absl::StrCat("a.", kBase)});
  // The archive holds the files of version 1, and the renewal config remembers the deploy hook.
  EXPECT_THAT(
      DirEntries(archive("sa")),
      ::testing::IsSupersetOf({"cert1.pem", "chain1.pem", "fullchain1.pem", "privkey1.pem"}));
  const std::string conf = FileOrEmpty(absl::StrCat(config_dir(), "/renewal/sa.conf"));
  EXPECT_THAT(conf, HasSubstr(DeployHookPath()));
  EXPECT_THAT(conf, HasSubstr("standalone"));
}

TEST_F(AgentE2eTest, CertonlyWebrootWritesTheTokenForTheWebServerAndRemovesItAfterwards) {
  const std::string webroot = absl::StrCat(dir(), "/www");
  ASSERT_TRUE(::mkdir(webroot.c_str(), 0755) == 0 || errno == EEXIST) << std::strerror(errno);
  absl::StatusOr<std::unique_ptr<StaticChallengeServer>> server =
      StaticChallengeServer::Start(webroot, lab().http_port());
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string name = absl::StrCat("www.", kBase);
  AgentResult r = Agent(
      "certonly", {"--webroot", "-w", webroot, "-d", name, "--cert-name", "wr", "--force-renewal"});
  const std::vector<std::string> served = (*server)->served();
  server->reset();
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_THAT(r.out, HasSubstr("Successfully received certificate."));
  ExpectInstalledLineage("wr", {name});
  // Pebble fetched the token from the web server, and the agent cleaned the webroot up
  // (including the directories it created).
  EXPECT_FALSE(served.empty()) << "the web server never served a token";
  for (const std::string& token : served) {
    EXPECT_FALSE(Exists(absl::StrCat(webroot, "/.well-known/acme-challenge/", token))) << token;
  }
  EXPECT_FALSE(Exists(absl::StrCat(webroot, "/.well-known"))) << "left behind in the webroot";
}

TEST_F(AgentE2eTest, CertonlyManualDnsHooksObtainAWildcardCertificate) {
  const std::string hook_log = absl::StrCat(dir(), "/dns-hooks.log");
  const std::string url = lab().pebble().challtestsrv_url();
  const std::string auth = absl::StrCat(dir(), "/dns-auth.sh");
  const std::string cleanup = absl::StrCat(dir(), "/dns-cleanup.sh");
  ASSERT_TRUE(WriteScript(auth, absl::StrCat(
                                    "#!/bin/sh\nset -e\n"
                                    "curl -sS -f -X POST -d \"{\\\"host\\\":\\\"_acme-challenge."
                                    "${CERTBOT_DOMAIN}.\\\",\\\"value\\\":\\\"${CERTBOT_VALIDATION}"
                                    "\\\"}\" ",
                                    ShellQuote(url + "/set-txt"), "\n",
                                    "echo \"auth $CERTBOT_DOMAIN $ACME_AGENT_CHALLENGE_TYPE\" >> ",
                                    ShellQuote(hook_log), "\necho published-$CERTBOT_DOMAIN\n"))
                  .ok());
  ASSERT_TRUE(WriteScript(cleanup,
                          absl::StrCat("#!/bin/sh\nset -e\n"
                                       "curl -sS -f -X POST -d \"{\\\"host\\\":\\\"_acme-challenge."
                                       "${CERTBOT_DOMAIN}.\\\"}\" ",
                                       ShellQuote(url + "/clear-txt"), "\n",
                                       "echo \"cleanup $CERTBOT_DOMAIN $CERTBOT_AUTH_OUTPUT\" >> ",
                                       ShellQuote(hook_log), "\n"))
                  .ok());
  const std::string wildcard = absl::StrCat("*.x.", kBase);
  AgentResult r = Agent("certonly", {"--manual-auth-hook", auth, "--manual-cleanup-hook", cleanup,
                                     "--preferred-challenges", "dns", "-d", wildcard, "--cert-name",
                                     "wild", "--force-renewal"});
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n"
                            << lab().SignerLogTail() << "\n"
                            << lab().pebble().LogTail();
  ExpectInstalledLineage("wild", {wildcard});
  const std::string domain = absl::StrCat("x.", kBase);
  // The auth hook ran before the cleanup hook, which saw the auth hook's output.
  const std::string log = FileOrEmpty(hook_log);
  EXPECT_TRUE(absl::StartsWith(log, absl::StrCat("auth ", domain, " dns-01\n"))) << log;
  EXPECT_THAT(log, HasSubstr(absl::StrCat("\ncleanup ", domain, " published-", domain)));
}

TEST_F(AgentE2eTest, ForcedRenewalInstallsVersionTwoAndRunsTheStoredDeployHook) {
  ASSERT_TRUE(Lineage("sa").ok()) << Lineage("sa");
  const int before = LiveVersion("sa");
  ASSERT_GE(before, 1) << ReadLink(live("sa"));
  ::unlink(DeployHookOutput().c_str());
  AgentResult r = Agent("renew", {"--cert-name", "sa", "--force-renewal"});
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("sa: renewed (version ", before + 1)));
  EXPECT_EQ(LiveVersion("sa"), before + 1);
  ExpectInstalledLineage("sa", {kBase, absl::StrCat("a.", kBase)});
  EXPECT_TRUE(Exists(absl::StrCat(archive("sa"), "/cert", before + 1, ".pem")));
  EXPECT_EQ(FileOrEmpty(DeployHookOutput()),
            absl::StrCat("RENEWED_LINEAGE=", live("sa"), "\nRENEWED_DOMAINS=", kBase, " a.", kBase,
                         "\nHOOK=deploy\n"));
}

TEST_F(AgentE2eTest, RenewTakesADeployHookForThisRunAndKeepsItOnceTheRenewalSucceeds) {
  ASSERT_TRUE(Lineage("ov").ok()) << Lineage("ov");
  const std::string conf = absl::StrCat(config_dir(), "/renewal/ov.conf");
  ASSERT_THAT(FileOrEmpty(conf), HasSubstr("deploy_hook = ''"));
  const std::string output = absl::StrCat(dir(), "/override-hook.out");
  ::unlink(output.c_str());
  // As with certbot's renew: certonly's options override the stored ones for this run.
  AgentResult r = Agent("renew", {"--cert-name", "ov", "--force-renewal", "--deploy-hook",
                                  "echo \"$RENEWED_LINEAGE\" > " + ShellQuote(output)});
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_EQ(FileOrEmpty(output), live("ov") + "\n");
  EXPECT_THAT(FileOrEmpty(conf), HasSubstr("override-hook.out"));
}

TEST_F(AgentE2eTest, RenewalWithTheSignerDownExitsFourAndLeavesTheCertificateUntouched) {
  ASSERT_TRUE(Lineage("sa").ok()) << Lineage("sa");
  const std::map<std::string, std::string> before = LivePems("sa");
  const std::string live_link = ReadLink(live("sa"));
  const std::vector<std::string> archive_before = DirEntries(archive("sa"));
  ASSERT_FALSE(before.at("privkey").empty());

  absl::StatusOr<int> stopped = lab().StopSigner();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  ::unlink(DeployHookOutput().c_str());
  AgentResult r = Agent("renew", {"--force-renewal"});
  EXPECT_EQ(r.exit_code, agent::kExitUnreachable) << r;
  EXPECT_THAT(r.err, HasSubstr("the current certificate is unchanged"));
  EXPECT_EQ(LivePems("sa"), before);
  EXPECT_EQ(ReadLink(live("sa")), live_link);
  EXPECT_EQ(DirEntries(archive("sa")), archive_before);
  EXPECT_FALSE(Exists(DeployHookOutput())) << "the deploy hook ran for a failed renewal";
  // TearDown starts the signer again and rewrites agent.toml with its new port; check that the
  // agent reaches it there.
  TearDown();
  AgentResult after = Agent("account", {});
  EXPECT_EQ(after.exit_code, 0) << after;
}

TEST_F(AgentE2eTest, RenewWithoutForceRenewsNothingWhenNothingIsDue) {
  ASSERT_TRUE(Lineage("sa").ok()) << Lineage("sa");
  const std::string live_link = ReadLink(live("sa"));
  AgentResult r = Agent("renew", {});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("No renewals were attempted"));
  EXPECT_EQ(ReadLink(live("sa")), live_link);
}

// certbot's habits on a second certonly: the flags given now override, every stored setting not
// given is kept (and the change is named); the same names without --cert-name find the lineage.
TEST_F(AgentE2eTest, CertonlyAgainKeepsStoredSettingsAndFindsTheLineageWithTheSameNames) {
  const std::string first_name = absl::StrCat("keep.", kBase);
  const std::string second_name = absl::StrCat("keep2.", kBase);
  const std::string conf = absl::StrCat(config_dir(), "/renewal/keep.conf");
  const std::string pfx = absl::StrCat(live("keep"), "/cert.pfx");
  const std::string hook_output = absl::StrCat(dir(), "/keep-hook.out");
  const std::string hook = "echo \"$RENEWED_DOMAINS\" > " + ShellQuote(hook_output);
  const std::vector<std::string> standalone = Standalone();

  std::vector<std::string> first = {"--non-interactive", "--cert-name", "keep",          "-d",
                                    first_name,          "--pfx",       "--deploy-hook", hook};
  first.insert(first.end(), standalone.begin(), standalone.end());
  AgentResult r = Agent("certonly", first);
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  ASSERT_THAT(FileOrEmpty(conf), HasSubstr("pfx = true"));
  ASSERT_TRUE(Exists(pfx));
  ASSERT_EQ(FileOrEmpty(hook_output), first_name + "\n");

  // One more name, nothing else said: --pfx and the deploy hook stay.
  std::vector<std::string> second = {"--non-interactive", "--cert-name", "keep",     "-d",
                                     first_name,          "-d",          second_name};
  second.insert(second.end(), standalone.begin(), standalone.end());
  r = Agent("certonly", second);
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  ExpectInstalledLineage("keep", {first_name, second_name});
  const std::string conf_text = FileOrEmpty(conf);
  EXPECT_THAT(conf_text, HasSubstr("pfx = true"));
  EXPECT_THAT(conf_text, HasSubstr("keep-hook.out"));
  EXPECT_TRUE(Exists(pfx)) << "live/keep/cert.pfx disappeared";
  EXPECT_EQ(FileOrEmpty(hook_output), absl::StrCat(first_name, " ", second_name, "\n"));
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("renewal settings changed: domains ", first_name, " → ",
                                            first_name, ",", second_name, "\n")));
  EXPECT_THAT(r.err, Not(HasSubstr("pfx"))) << "only the changed keys are named";
  EXPECT_THAT(r.err, Not(HasSubstr("deploy_hook"))) << "only the changed keys are named";

  // The same report is progress: nothing with -q; with --json only the object, which has it.
  std::vector<std::string> quiet = {
      "-q", "--force-renewal", "--cert-name",   "keep",           "-d", first_name,
      "-d", second_name,       "--deploy-hook", hook + " # quiet"};
  quiet.insert(quiet.end(), standalone.begin(), standalone.end());
  r = Agent("certonly", quiet);
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_EQ(r.out + r.err, "") << r;
  std::vector<std::string> json = quiet;
  json[0] = "--json";
  json[9] = hook;
  r = Agent("certonly", json);
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_EQ(r.err, "") << r;
  nlohmann::json out = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(out.is_object()) << r.out;
  EXPECT_EQ(out["command"], "certonly");
  ASSERT_TRUE(out["settings_changed"].is_array()) << r.out;
  ASSERT_EQ(out["settings_changed"].size(), 1u) << r.out;
  EXPECT_THAT(out["settings_changed"][0].get<std::string>(), HasSubstr("deploy_hook"));

  // The same names (another order) without --cert-name: that lineage, not due, nothing done.
  const std::vector<std::string> live_before = DirEntries(absl::StrCat(config_dir(), "/live"));
  const std::string link_before = ReadLink(live("keep"));
  std::vector<std::string> third = {"--non-interactive", "-d", second_name, "-d", first_name};
  third.insert(third.end(), standalone.begin(), standalone.end());
  r = Agent("certonly", third);
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("Certificate not yet due for renewal; no action taken"));
  EXPECT_EQ(DirEntries(absl::StrCat(config_dir(), "/live")), live_before);
  EXPECT_FALSE(Exists(live(second_name))) << "a second lineage was created";
  EXPECT_FALSE(Exists(absl::StrCat(config_dir(), "/renewal/", second_name, ".conf")));
  EXPECT_EQ(ReadLink(live("keep")), link_before);
}

TEST_F(AgentE2eTest, PfxFilesHoldTheKeyCertificateAndChainInModernAndLegacyEncryption) {
  const std::string password_file = absl::StrCat(dir(), "/pfx-password");
  ASSERT_TRUE(WriteFileAtomically(password_file, "correct horse\n", 0600).ok());
  absl::StatusOr<std::string> root = lab().PebbleRootPem();
  ASSERT_TRUE(root.ok()) << root.status();
  struct Case {
    std::string lineage;
    std::vector<std::string> flags;
    std::string password;
    int expected_nid;  // the key bag's encryption
  };
  const std::vector<Case> cases = {
      {"pfx-modern", {"--pfx"}, "", NID_pbes2},
      {"pfx-legacy",
       {"--pfx", "--pfx-legacy", "--pfx-password-file", password_file},
       "correct horse",
       NID_pbe_WithSHA1And3_Key_TripleDES_CBC},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.lineage);
    std::vector<std::string> args = {"-d", absl::StrCat(c.lineage, ".", kBase), "--cert-name",
                                     c.lineage, "--force-renewal"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    const std::vector<std::string> standalone = Standalone();
    args.insert(args.end(), standalone.begin(), standalone.end());
    AgentResult r = Agent("certonly", args);
    ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
    EXPECT_THAT(r.out, Not(HasSubstr("correct horse")));
    EXPECT_THAT(r.err, Not(HasSubstr("correct horse")));

    const std::string pfx_path = absl::StrCat(live(c.lineage), "/cert.pfx");
    struct stat st;
    ASSERT_EQ(::stat(pfx_path.c_str(), &st), 0) << pfx_path;
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    const std::string der = FileOrEmpty(pfx_path);
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    SslUniquePtr<PKCS12> p12(d2i_PKCS12(nullptr, &p, static_cast<long>(der.size())));
    ASSERT_NE(p12, nullptr) << "cert.pfx is not DER PKCS#12";
    EXPECT_EQ(PKCS12_verify_mac(p12.get(), "wrong", -1), 0) << "a wrong password passed the MAC";
    ERR_clear_error();
    EVP_PKEY* raw_key = nullptr;
    X509* raw_cert = nullptr;
    STACK_OF(X509)* raw_ca = nullptr;
    ASSERT_EQ(PKCS12_parse(p12.get(), c.password.c_str(), &raw_key, &raw_cert, &raw_ca), 1);
    SslUniquePtr<EVP_PKEY> key(raw_key);
    SslUniquePtr<X509> cert(raw_cert);
    X509Stack ca(raw_ca);
    ASSERT_NE(key, nullptr);
    ASSERT_NE(cert, nullptr);
    EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
    ASSERT_TRUE(ca != nullptr && sk_X509_num(ca.get()) > 0) << "no chain in the PFX";
    std::vector<X509*> intermediates;
    for (int i = 0; i < sk_X509_num(ca.get()); ++i)
      intermediates.push_back(sk_X509_value(ca.get(), i));
    EXPECT_EQ(VerifyChain(cert.get(), intermediates, *root), "");
    // The same certificate as live/NAME/cert.pem.
    std::vector<SslUniquePtr<X509>> live_cert =
        ParseChain(FileOrEmpty(absl::StrCat(live(c.lineage), "/cert.pem")));
    ASSERT_EQ(live_cert.size(), 1u);
    EXPECT_EQ(X509_cmp(cert.get(), live_cert[0].get()), 0);

    // The encryption asked for: the shrouded key bag's algorithm.
    std::unique_ptr<STACK_OF(PKCS7), Pkcs7StackFree> safes(PKCS12_unpack_authsafes(p12.get()));
    ASSERT_NE(safes, nullptr);
    bool found_key_bag = false;
    for (int i = 0; i < sk_PKCS7_num(safes.get()); ++i) {
      PKCS7* safe = sk_PKCS7_value(safes.get(), i);
      if (OBJ_obj2nid(safe->type) != NID_pkcs7_data) continue;
      std::unique_ptr<STACK_OF(PKCS12_SAFEBAG), SafeBagStackFree> bags(PKCS12_unpack_p7data(safe));
      for (int j = 0; bags != nullptr && j < sk_PKCS12_SAFEBAG_num(bags.get()); ++j) {
        const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags.get(), j);
        if (PKCS12_SAFEBAG_get_nid(bag) != NID_pkcs8ShroudedKeyBag) continue;
        const X509_ALGOR* alg = nullptr;
        X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &alg, nullptr);
        const ASN1_OBJECT* oid = nullptr;
        X509_ALGOR_get0(&oid, nullptr, nullptr, alg);
        EXPECT_EQ(OBJ_obj2nid(oid), c.expected_nid);
        found_key_bag = true;
      }
    }
    EXPECT_TRUE(found_key_bag) << "no shrouded key bag in cert.pfx";
  }
}

TEST_F(AgentE2eTest, RevokeMarksTheCertificateRevokedInTheSignersInventory) {
  ASSERT_TRUE(Lineage("rv").ok()) << Lineage("rv");
  std::vector<SslUniquePtr<X509>> leaf =
      ParseChain(FileOrEmpty(absl::StrCat(live("rv"), "/cert.pem")));
  ASSERT_EQ(leaf.size(), 1u);
  const std::string serial = SerialOf(leaf[0].get());

  // Deleted afterwards: a revoked lineage left behind would be due at once for the other
  // tests' `renew` (the suite's tests run in any order).
  AgentResult r =
      Agent("revoke", {"--cert-name", "rv", "--reason", "superseded", "--delete-after-revoke"});
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_THAT(r.out, HasSubstr("revoked"));
  EXPECT_FALSE(Exists(live("rv")));

  absl::StatusOr<testing::CommandResult> inventory =
      lab().RunSignerCommand({"inventory", "--config", lab().config_path(), "--json"});
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  ASSERT_EQ(inventory->exit_code, 0) << inventory->err;
  nlohmann::json list = nlohmann::json::parse(inventory->out, nullptr, false);
  ASSERT_TRUE(list.is_array()) << inventory->out;
  bool found = false;
  for (const nlohmann::json& entry : list) {
    if (NormalizedSerial(entry.value("serial", "")) != serial) continue;
    found = true;
    EXPECT_EQ(entry.value("agent", ""), kAgent);
    EXPECT_TRUE(entry.value("revoked", false)) << entry.dump();
  }
  EXPECT_TRUE(found) << "serial " << serial << " not in:\n" << inventory->out;
}

// Issue 14: a revoked certificate shows as REVOKED, is replaced by the next `renew` although
// it is years from expiry, and `revoke --delete-after-revoke` removes the lineage.
TEST_F(AgentE2eTest, RevokedCertificateShowsRevokedIsReplacedAtOnceAndCanBeDeleted) {
  ASSERT_TRUE(Lineage("rr").ok()) << Lineage("rr");
  auto live_serial = [] {
    std::vector<SslUniquePtr<X509>> leaf =
        ParseChain(FileOrEmpty(absl::StrCat(live("rr"), "/cert.pem")));
    return leaf.size() == 1 ? SerialOf(leaf[0].get()) : std::string();
  };
  const std::string first = live_serial();
  ASSERT_FALSE(first.empty());

  AgentResult revoked = Agent("revoke", {"--cert-name", "rr", "--no-delete-after-revoke"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_TRUE(Exists(absl::StrCat(live("rr"), "/cert.pem"))) << "kept by default";

  AgentResult text = Agent("certificates", {"--cert-name", "rr"});
  ASSERT_EQ(text.exit_code, 0) << text;
  EXPECT_THAT(text.out, HasSubstr("Certificate Name: rr\n"));
  EXPECT_THAT(text.out, HasSubstr("(REVOKED)"));
  EXPECT_THAT(text.out, Not(HasSubstr("VALID:")));
  AgentResult json = Agent("certificates", {"--cert-name", "rr", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  nlohmann::json listed = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(listed.is_object()) << json.out;
  listed = listed["certificates"];
  ASSERT_TRUE(listed.is_array() && listed.size() == 1u) << json.out;
  EXPECT_EQ(listed[0].value("revoked", false), true) << json.out;

  // Not forced: the revocation alone makes it due.
  AgentResult renewed = Agent("renew", {"--cert-name", "rr"});
  ASSERT_EQ(renewed.exit_code, 0) << renewed << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_THAT(renewed.out + renewed.err, HasSubstr("revoked"));
  EXPECT_THAT(renewed.out + renewed.err, Not(HasSubstr("not due")));
  const std::string second = live_serial();
  EXPECT_FALSE(second.empty());
  EXPECT_NE(second, first);
  AgentResult after = Agent("certificates", {"--cert-name", "rr"});
  ASSERT_EQ(after.exit_code, 0) << after;
  EXPECT_THAT(after.out, HasSubstr("VALID:"));
  EXPECT_THAT(after.out, Not(HasSubstr("REVOKED")));
  AgentResult quiet = Agent("renew", {"--cert-name", "rr"});
  ASSERT_EQ(quiet.exit_code, 0) << quiet;
  EXPECT_EQ(live_serial(), second) << "the replacement is not revoked, so not due";

  AgentResult deleted = Agent("revoke", {"--cert-name", "rr", "--delete-after-revoke"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_FALSE(Exists(live("rr")));
  EXPECT_FALSE(Exists(archive("rr")));
  EXPECT_FALSE(Exists(absl::StrCat(config_dir(), "/renewal/rr.conf")));
  for (const auto& entry : std::filesystem::directory_iterator(config_dir() + "/live")) {
    EXPECT_FALSE(absl::StartsWith(entry.path().filename().string(), ".rr."))
        << entry.path() << " left behind";
  }
  AgentResult gone = Agent("certificates", {"--cert-name", "rr"});
  ASSERT_EQ(gone.exit_code, 0) << gone;
  EXPECT_THAT(gone.out, HasSubstr("No certificates found."));
}

TEST_F(AgentE2eTest, CertificatesListsTheLineagesWithDomainsAndExpiryAsTextAndJson) {
  ASSERT_TRUE(Lineage("sa").ok()) << Lineage("sa");
  ASSERT_TRUE(Lineage("list").ok()) << Lineage("list");
  const std::string list_name = absl::StrCat("list.", kBase);

  AgentResult text = Agent("certificates", {});
  ASSERT_EQ(text.exit_code, 0) << text;
  EXPECT_THAT(text.out, HasSubstr("Found the following certs:"));
  EXPECT_THAT(text.out, HasSubstr("Certificate Name: sa\n"));
  EXPECT_THAT(text.out, HasSubstr("Certificate Name: list\n"));
  EXPECT_THAT(text.out, HasSubstr(absl::StrCat("Domains: ", list_name, "\n")));
  EXPECT_THAT(text.out, HasSubstr("Expiry Date: "));
  EXPECT_THAT(text.out, HasSubstr(absl::StrCat(live("list"), "/fullchain.pem")));

  AgentResult json = Agent("certificates", {"--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  nlohmann::json parsed = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(parsed.is_object()) << json.out;
  parsed = parsed["certificates"];
  ASSERT_TRUE(parsed.is_array()) << json.out;
  std::map<std::string, nlohmann::json> by_name;
  for (const nlohmann::json& entry : parsed) by_name[entry.value("name", "")] = entry;
  ASSERT_EQ(by_name.count("list"), 1u) << json.out;
  ASSERT_EQ(by_name.count("sa"), 1u) << json.out;
  const nlohmann::json& entry = by_name["list"];
  EXPECT_TRUE(entry.value("ok", false));
  EXPECT_EQ(entry["domains"], nlohmann::json::array({list_name}));
  EXPECT_EQ(entry.value("cert_path", ""), absl::StrCat(live("list"), "/fullchain.pem"));
  EXPECT_FALSE(entry.value("expired", true));
  EXPECT_GT(entry.value("valid_days", 0), 0);
  // not_after is the live certificate's.
  std::vector<SslUniquePtr<X509>> leaf =
      ParseChain(FileOrEmpty(absl::StrCat(live("list"), "/cert.pem")));
  ASSERT_EQ(leaf.size(), 1u);
  absl::Time not_after;
  std::string error;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, entry.value("not_after", ""), &not_after, &error))
      << error;
  EXPECT_EQ(not_after, ToAbslTime(X509_get0_notAfter(leaf[0].get())));
}

TEST_F(AgentE2eTest, CertonlyForANameOutsideThePolicyExitsThreeAndInstallsNothing) {
  const std::string outside = "www.web2.example.test";
  std::vector<std::string> args = {"-d", outside, "--cert-name", "denied"};
  const std::vector<std::string> standalone = Standalone();
  args.insert(args.end(), standalone.begin(), standalone.end());
  AgentResult r = Agent("certonly", args);
  EXPECT_EQ(r.exit_code, agent::kExitDenied) << r;
  EXPECT_THAT(r.err, HasSubstr(outside));
  EXPECT_FALSE(Exists(live("denied")));
  EXPECT_FALSE(Exists(archive("denied")));
  EXPECT_FALSE(Exists(absl::StrCat(config_dir(), "/renewal/denied.conf")));
}

TEST_F(AgentE2eTest, CertonlyRefusesAnEabHmacKeyWithoutEchoingIt) {
  const std::string secret = "c2VjcmV0LWhtYWMta2V5LWRvLW5vdC1wcmludA";
  std::vector<std::string> args = {"-d",
                                   absl::StrCat("eab.", kBase),
                                   "--cert-name",
                                   "eab",
                                   "--eab-kid",
                                   "kid-1",
                                   "--eab-hmac-key",
                                   secret};
  AgentResult r = Agent("certonly", args);
  EXPECT_EQ(r.exit_code, agent::kExitUsage) << r;
  EXPECT_THAT(r.err, HasSubstr("--eab-kid is not an acme-agent option"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(secret)));
  EXPECT_FALSE(Exists(live("eab")));

  // Also as --eab-hmac-key=VALUE, alone.
  AgentResult inline_form = Agent(
      "certonly", {"-d", absl::StrCat("eab.", kBase), absl::StrCat("--eab-hmac-key=", secret)});
  EXPECT_EQ(inline_form.exit_code, agent::kExitUsage) << inline_form;
  EXPECT_THAT(inline_form.err, HasSubstr("--eab-hmac-key is not an acme-agent option"));
  EXPECT_THAT(inline_form.out + inline_form.err, Not(HasSubstr(secret)));
}

// `run` does the same pass as `renew`: a revoked lineage is replaced at its first pass,
// although it is years from expiry.
TEST_F(AgentE2eTest, RunOnceReplacesARevokedLineageAtOnce) {
  ASSERT_TRUE(Lineage("ro").ok()) << Lineage("ro");
  auto live_serial = [] {
    std::vector<SslUniquePtr<X509>> leaf =
        ParseChain(FileOrEmpty(absl::StrCat(live("ro"), "/cert.pem")));
    return leaf.size() == 1 ? SerialOf(leaf[0].get()) : std::string();
  };
  const std::string first = live_serial();
  ASSERT_FALSE(first.empty());
  AgentResult revoked = Agent("revoke", {"--cert-name", "ro", "--no-delete-after-revoke"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked << "\nsigner log:\n" << lab().SignerLogTail();

  AgentResult run = Agent("run", {"--once", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run << "\nsigner log:\n" << lab().SignerLogTail();
  const std::string second = live_serial();
  EXPECT_FALSE(second.empty());
  EXPECT_NE(second, first);
  nlohmann::json summary = nlohmann::json::parse(run.out, nullptr, false);
  ASSERT_TRUE(summary.is_object()) << run.out;
  EXPECT_EQ(summary.value("failed", -1), 0) << run.out;
  EXPECT_GE(summary.value("renewed", 0), 1) << run.out;
  AgentResult after = Agent("certificates", {"--cert-name", "ro"});
  ASSERT_EQ(after.exit_code, 0) << after;
  EXPECT_THAT(after.out, HasSubstr("VALID:"));
  EXPECT_THAT(after.out, Not(HasSubstr("REVOKED")));

  // The replacement is not revoked: the next pass leaves it alone.
  AgentResult again = Agent("run", {"--once"});
  ASSERT_EQ(again.exit_code, 0) << again;
  EXPECT_EQ(live_serial(), second);
}

// --reuse-key keeps the key across renewals, also after a revocation for another reason, but
// a key whose certificate was revoked for keyCompromise is never used again.
TEST_F(AgentE2eTest, ReuseKeyMakesANewKeyOnlyAfterAKeyCompromiseRevocation) {
  std::vector<std::string> args = {"--non-interactive",        "--cert-name", "rk", "-d",
                                   absl::StrCat("rk.", kBase), "--reuse-key"};
  for (const std::string& s : Standalone()) args.push_back(s);
  AgentResult issued = Agent("certonly", args);
  ASSERT_EQ(issued.exit_code, 0) << issued << "\nsigner log:\n" << lab().SignerLogTail();
  const std::string privkey = absl::StrCat(live("rk"), "/privkey.pem");
  const std::string first_key = FileOrEmpty(privkey);
  ASSERT_FALSE(first_key.empty());

  // Superseded: replaced at once, with the same key.
  AgentResult revoked =
      Agent("revoke", {"--cert-name", "rk", "--reason", "superseded", "--no-delete-after-revoke"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked << "\nsigner log:\n" << lab().SignerLogTail();
  AgentResult renewed = Agent("renew", {"--cert-name", "rk"});
  ASSERT_EQ(renewed.exit_code, 0) << renewed << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_EQ(LiveVersion("rk"), 2);
  EXPECT_TRUE(FileOrEmpty(privkey) == first_key) << "the key must be the same";
  EXPECT_THAT(renewed.err, HasSubstr("reusing the existing private key"));

  // keyCompromise: replaced at once, with a new key, and said so.
  revoked = Agent("revoke",
                  {"--cert-name", "rk", "--reason", "keyCompromise", "--no-delete-after-revoke"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked << "\nsigner log:\n" << lab().SignerLogTail();
  renewed = Agent("renew", {"--cert-name", "rk"});
  ASSERT_EQ(renewed.exit_code, 0) << renewed << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_EQ(LiveVersion("rk"), 3);
  const std::string new_key = FileOrEmpty(privkey);
  ASSERT_FALSE(new_key.empty());
  EXPECT_TRUE(new_key != first_key) << "the key must be new";
  EXPECT_THAT(renewed.err, HasSubstr("not reusing the private key (--reuse-key): certificate "));
  EXPECT_THAT(renewed.err, HasSubstr("was revoked for keyCompromise; a new key is made"));
  EXPECT_THAT(FileOrEmpty(absl::StrCat(config_dir(), "/renewal/rk.conf")),
              HasSubstr("reuse_key = true"));

  // The new key is not compromised: the next renewal reuses it again.
  renewed = Agent("renew", {"--cert-name", "rk", "--force-renewal"});
  ASSERT_EQ(renewed.exit_code, 0) << renewed << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_EQ(LiveVersion("rk"), 4);
  EXPECT_TRUE(FileOrEmpty(privkey) == new_key) << "the new key must be reused";
  EXPECT_THAT(renewed.err, HasSubstr("reusing the existing private key"));
}

}  // namespace
}  // namespace acme_signer
