#include "tests/testing/pebble_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "nlohmann/json.hpp"
#include "tests/testing/server_certificate.h"

extern char** environ;

namespace acme_signer::testing {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(50);
constexpr absl::Duration kTermGrace = absl::Seconds(5);
// Attempts with fresh ports when a child dies at startup (another process may have taken
// a port between our probe and the child's bind).
constexpr int kStartAttempts = 3;

// Full path of `name` on PATH, or empty.
std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin", ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// A port on 127.0.0.1 that was free for both TCP and UDP a moment ago.
// The lowest port of the kernel's ephemeral range (what outgoing connections and bind(0) get).
uint16_t EphemeralPortFloor() {
  std::string range;
  if (absl::StatusOr<std::string> text = ReadFile("/proc/sys/net/ipv4/ip_local_port_range", 64);
      text.ok()) {
    range = *text;
  }
  int low = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(range.substr(0, range.find_first_of(" \t"))),
                        &low) ||
      low <= 12000 || low > 65535) {
    low = 32768;
  }
  return static_cast<uint16_t>(low);
}

}  // namespace

// Picked below the ephemeral range: a port the kernel hands out (bind to port 0) can be taken
// again, before the server it was meant for binds it, as the local port of any outgoing
// connection on the machine — and a long-lived one (a gRPC channel, a keep-alive) then holds it
// for the rest of the test. A random port under the range is only taken by an explicit bind.
absl::StatusOr<uint16_t> FreeLoopbackPort() {
  const int floor = 10000;
  const int ceiling = EphemeralPortFloor();  // exclusive
  std::random_device random;
  std::uniform_int_distribution<int> pick(floor, ceiling - 1);
  for (int attempt = 0; attempt < 200; ++attempt) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(pick(random)));
    UniqueFd tcp(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!tcp.valid()) return ErrnoStatus(errno, "socket");
    if (::bind(tcp.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) continue;
    // Free for UDP too: the DNS server of the lab listens on both.
    UniqueFd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!udp.valid()) return ErrnoStatus(errno, "socket");
    if (::bind(udp.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      return ntohs(addr.sin_port);
    }
  }
  return absl::UnavailableError("no free loopback port found below the ephemeral range");
}

namespace {

bool CanConnect(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
}

std::string Tail(const std::string& path, size_t max_bytes) {
  auto content = ReadFile(path, 64 << 20);
  if (!content.ok()) return absl::StrCat("(", content.status().message(), ")");
  if (content->size() <= max_bytes) return *content;
  return absl::StrCat("...", content->substr(content->size() - max_bytes));
}

// A self-signed P-256 certificate for localhost, 127.0.0.1 and ::1, valid for 30 days,
// written as PEM to cert_path and key_path (0600).
absl::Status WriteSelfSignedCertificate(const std::string& cert_path, const std::string& key_path) {
  ASSIGN_OR_RETURN(ServerCertificate server,
                   MakeSelfSignedServerCertificate("the Pebble TLS certificate", "localhost",
                                                   "DNS:localhost,IP:127.0.0.1,IP:::1",
                                                   absl::Hours(30 * 24)));
  SslUniquePtr<EVP_PKEY>& key = server.key;
  SslUniquePtr<X509>& cert = server.cert;

  SslUniquePtr<BIO> cert_bio(BIO_new(BIO_s_mem()));
  SslUniquePtr<BIO> key_bio(BIO_new(BIO_s_mem()));
  if (cert_bio == nullptr || key_bio == nullptr ||
      PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1) {
    return SslError(absl::StatusCode::kInternal, "encoding the Pebble TLS certificate");
  }
  auto bio_text = [](BIO* bio) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<size_t>(size));
  };
  RETURN_IF_ERROR(WriteFileAtomically(key_path, bio_text(key_bio.get()), 0600));
  return WriteFileAtomically(cert_path, bio_text(cert_bio.get()), 0644);
}

// A child process spec, with every C string prepared before fork() because the child of a
// multi-threaded parent may only make async-signal-safe calls.
struct Spawn {
  std::vector<std::string> argv;
  std::vector<std::string> env;
};

absl::StatusOr<pid_t> SpawnChild(const Spawn& spec, const std::string& log_path) {
  std::vector<char*> argv;
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  UniqueFd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log.valid()) return ErrnoStatus(errno, absl::StrCat("opening ", log_path));
  UniqueFd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_in.valid()) return ErrnoStatus(errno, "opening /dev/null");
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus(errno, absl::StrCat("fork for ", spec.argv[0]));
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // The parent died before prctl took effect.
    if (::dup2(null_in.get(), 0) < 0 || ::dup2(log.get(), 1) < 0 || ::dup2(log.get(), 2) < 0) {
      ::_exit(127);
    }
    // Descriptors the test process opened without O_CLOEXEC must not leak into the child.
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

// Reaps `pid` if it has exited; returns true when it is gone.
bool Exited(pid_t pid, int* wait_status) { return ::waitpid(pid, wait_status, WNOHANG) == pid; }

void Terminate(pid_t& pid) {
  if (pid <= 0) return;
  int wait_status = 0;
  if (::kill(pid, SIGTERM) == 0) {
    const absl::Time deadline = absl::Now() + kTermGrace;
    while (absl::Now() < deadline) {
      if (Exited(pid, &wait_status)) {
        pid = -1;
        return;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    ::kill(pid, SIGKILL);
  }
  while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  pid = -1;
}

std::vector<std::string> EnvironmentWith(
    const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    bool overridden = false;
    for (const auto& [name, value] : overrides) {
      if (absl::StartsWith(entry, absl::StrCat(name, "="))) overridden = true;
    }
    if (!overridden) env.emplace_back(entry);
  }
  for (const auto& [name, value] : overrides) env.push_back(absl::StrCat(name, "=", value));
  return env;
}

std::string WithTrailingDot(absl::string_view host) {
  return absl::EndsWith(host, ".") ? std::string(host) : absl::StrCat(host, ".");
}

}  // namespace

absl::Status CheckPebbleTools() {
  for (const char* tool : {"pebble", "pebble-challtestsrv"}) {
    if (FindOnPath(tool).empty()) {
      return absl::NotFoundError(
          absl::StrCat("`", tool, "` not found on PATH (install the Debian package `pebble`)"));
    }
  }
  return absl::OkStatus();
}

bool PebbleToolsRequired() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && (std::strcmp(ci, "true") == 0 || std::strcmp(ci, "1") == 0);
}

absl::StatusOr<std::unique_ptr<PebbleEnv>> PebbleEnv::Start(Options options) {
  RETURN_IF_ERROR(CheckPebbleTools());
  std::unique_ptr<PebbleEnv> env(new PebbleEnv());
  absl::Status last;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    env->Stop();
    last = env->Prepare(options);
    if (!last.ok()) return last;
    last = env->StartProcesses();
    if (last.ok()) return env;
    if (!absl::IsUnavailable(last)) break;
  }
  return last;
}

absl::Status PebbleEnv::Prepare(Options options) {
  if (dir_.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/acme-signer-pebble-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) {
      return ErrnoStatus(errno, absl::StrCat("creating temp dir ", pattern));
    }
    dir_ = pattern;
    cert_path_ = absl::StrCat(dir_, "/pebble-tls.pem");
    key_path_ = absl::StrCat(dir_, "/pebble-tls.key");
    config_path_ = absl::StrCat(dir_, "/pebble-config.json");
    pebble_log_ = absl::StrCat(dir_, "/pebble.log");
    challtestsrv_log_ = absl::StrCat(dir_, "/challtestsrv.log");
    RETURN_IF_ERROR(WriteSelfSignedCertificate(cert_path_, key_path_));

    eab_kid_ = options.eab_kid;
    eab_key_b64url_ = options.eab_hmac_key_b64url;
    if (eab_key_b64url_.empty()) {
      std::string raw(32, '\0');
      if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) !=
          1) {
        return SslError(absl::StatusCode::kInternal, "generating the EAB key");
      }
      eab_key_b64url_ = absl::WebSafeBase64Escape(raw);
    }
    std::string decoded;
    if (eab_kid_.empty() || !absl::WebSafeBase64Unescape(eab_key_b64url_, &decoded) ||
        decoded.empty()) {
      return absl::InvalidArgumentError(
          "PebbleEnv: EAB kid must be non-empty and the HMAC key non-empty base64url");
    }
    for (const std::string& kid : options.extra_eab_kids) {
      std::string raw(32, '\0');
      if (kid.empty() || kid == eab_kid_ ||
          RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) !=
              1) {
        return absl::InvalidArgumentError(
            absl::StrCat("PebbleEnv: extra EAB kid \"", kid, "\" is empty or repeated"));
      }
      extra_eab_keys_.emplace_back(kid, absl::WebSafeBase64Escape(raw));
    }
    extra_env_ = options.extra_env;
    startup_timeout_ = options.startup_timeout;

    http::CurlHttpClient::Options tls;
    tls.ca_bundle_path = cert_path_;
    tls.connect_timeout = absl::Seconds(2);
    tls.total_timeout = absl::Seconds(10);
    ASSIGN_OR_RETURN(tls_client_, http::CurlHttpClient::Create(tls));
    http::CurlHttpClient::Options plain;
    plain.require_https = false;
    plain.connect_timeout = absl::Seconds(2);
    plain.total_timeout = absl::Seconds(10);
    ASSIGN_OR_RETURN(plain_client_, http::CurlHttpClient::Create(plain));
  }

  // Fresh ports on every attempt; the caller's http port is kept.
  ASSIGN_OR_RETURN(listen_port_, FreeLoopbackPort());
  ASSIGN_OR_RETURN(management_port_, FreeLoopbackPort());
  ASSIGN_OR_RETURN(tls_port_, FreeLoopbackPort());
  ASSIGN_OR_RETURN(dns_port_, FreeLoopbackPort());
  ASSIGN_OR_RETURN(challtestsrv_management_port_, FreeLoopbackPort());
  if (options.http_port != 0) {
    http_port_ = options.http_port;
  } else {
    ASSIGN_OR_RETURN(http_port_, FreeLoopbackPort());
  }

  nlohmann::json mac_keys = {{eab_kid_, eab_key_b64url_}};
  for (const auto& [kid, key] : extra_eab_keys_) mac_keys[kid] = key;
  nlohmann::json config = {
      {"pebble",
       {{"listenAddress", absl::StrCat("127.0.0.1:", listen_port_)},
        {"managementListenAddress", absl::StrCat("127.0.0.1:", management_port_)},
        {"certificate", cert_path_},
        {"privateKey", key_path_},
        {"httpPort", http_port_},
        {"tlsPort", tls_port_},
        {"ocspResponderURL", ""},
        {"externalAccountBindingRequired", true},
        {"externalAccountMACKeys", mac_keys}}}};
  // The EAB key lives only here, never in argv: 0600 from creation on.
  return WriteFileAtomically(config_path_, config.dump(2), 0600);
}

absl::Status PebbleEnv::StartProcesses() {
  const absl::Time deadline = absl::Now() + startup_timeout_;
  Spawn challtestsrv{
      {FindOnPath("pebble-challtestsrv"), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01",
       absl::StrCat("127.0.0.1:", dns_port_), "-http01", "", "-https01", "", "-tlsalpn01", "",
       "-management", absl::StrCat("127.0.0.1:", challtestsrv_management_port_)},
      EnvironmentWith({})};
  ASSIGN_OR_RETURN(challtestsrv_pid_, SpawnChild(challtestsrv, challtestsrv_log_));
  const uint16_t management = challtestsrv_management_port_;
  RETURN_IF_ERROR(WaitUntilReady(&challtestsrv_pid_, "pebble-challtestsrv", challtestsrv_log_,
                                 deadline, [management] { return CanConnect(management); }));

  // An extra_env entry replaces the default of the same name: appending a second
  // PEBBLE_VA_NOSLEEP would be ignored, since Go's getenv returns the first one.
  std::vector<std::pair<std::string, std::string>> env = {{"PEBBLE_VA_NOSLEEP", "1"}};
  for (const auto& [name, value] : extra_env_) {
    auto same =
        std::find_if(env.begin(), env.end(), [&](const auto& e) { return e.first == name; });
    if (same != env.end()) {
      same->second = value;
    } else {
      env.emplace_back(name, value);
    }
  }
  Spawn pebble{{FindOnPath("pebble"), "-config", config_path_, "-dnsserver",
                absl::StrCat("127.0.0.1:", dns_port_)},
               EnvironmentWith(env)};
  ASSIGN_OR_RETURN(pebble_pid_, SpawnChild(pebble, pebble_log_));
  return WaitUntilReady(&pebble_pid_, "pebble", pebble_log_, deadline, [this] {
    http::HttpRequest dir;
    dir.url = directory_url();
    auto response = tls_client_->Do(dir);
    if (!response.ok() || response->status != 200) return false;
    http::HttpRequest roots;
    roots.url = absl::StrCat(management_url(), "/roots/0");
    response = tls_client_->Do(roots);
    return response.ok() && response->status == 200;
  });
}

absl::Status PebbleEnv::WaitUntilReady(pid_t* pid, absl::string_view name,
                                       const std::string& log_path, absl::Time deadline,
                                       const std::function<bool()>& ready) {
  for (;;) {
    int wait_status = 0;
    if (Exited(*pid, &wait_status)) {
      *pid = -1;  // Reaped: Stop() must not signal a recycled pid.
      return absl::UnavailableError(absl::StrCat(name, " exited during startup (status ",
                                                 wait_status, "); log ", log_path, ":\n",
                                                 Tail(log_path, 4096)));
    }
    if (ready()) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(absl::StrCat(name, " not ready after ",
                                                 absl::FormatDuration(startup_timeout_), "; log ",
                                                 log_path, ":\n", Tail(log_path, 4096)));
    }
    absl::SleepFor(kPollInterval);
  }
}

PebbleEnv::~PebbleEnv() {
  Stop();
  if (dir_.empty()) return;
  const char* keep = std::getenv("ACME_SIGNER_KEEP_TEST_DIRS");
  if (keep != nullptr && std::strcmp(keep, "1") == 0) return;
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void PebbleEnv::Stop() {
  Terminate(pebble_pid_);
  Terminate(challtestsrv_pid_);
}

absl::Status PebbleEnv::Restart() {
  Stop();
  return StartProcesses();
}

std::string PebbleEnv::eab_hmac_key_b64url_for(absl::string_view kid) const {
  if (kid == eab_kid_) return eab_key_b64url_;
  for (const auto& [extra_kid, key] : extra_eab_keys_) {
    if (extra_kid == kid) return key;
  }
  return "";
}

std::string PebbleEnv::directory_url() const {
  return absl::StrCat("https://127.0.0.1:", listen_port_, "/dir");
}

std::string PebbleEnv::management_url() const {
  return absl::StrCat("https://127.0.0.1:", management_port_);
}

std::string PebbleEnv::challtestsrv_url() const {
  return absl::StrCat("http://127.0.0.1:", challtestsrv_management_port_);
}

std::string PebbleEnv::eab_hmac_key_bytes() const {
  std::string raw;
  // Validated in Prepare().
  absl::WebSafeBase64Unescape(eab_key_b64url_, &raw);
  return raw;
}

absl::StatusOr<std::string> PebbleEnv::FetchRootCertificatePem() const {
  http::HttpRequest request;
  request.url = absl::StrCat(management_url(), "/roots/0");
  ASSIGN_OR_RETURN(http::HttpResponse response, tls_client_->Do(request));
  if (response.status != 200 || !absl::StrContains(response.body, "BEGIN CERTIFICATE")) {
    return absl::UnavailableError(absl::StrCat("GET ", request.url, " returned status ",
                                               response.status, " without a certificate"));
  }
  return response.body;
}

absl::Status PebbleEnv::PostChalltestsrv(absl::string_view path, const std::string& json) const {
  http::HttpRequest request;
  request.method = http::HttpMethod::kPost;
  request.url = absl::StrCat(challtestsrv_url(), path);
  request.content_type = "application/json";
  request.body = json;
  ASSIGN_OR_RETURN(http::HttpResponse response, plain_client_->Do(request));
  if (response.status != 200) {
    return absl::UnavailableError(
        absl::StrCat("POST ", request.url, " returned status ", response.status));
  }
  return absl::OkStatus();
}

absl::Status PebbleEnv::SetTxtRecord(absl::string_view host, absl::string_view value) const {
  const std::string fqdn = WithTrailingDot(host);
  absl::Status status = PostChalltestsrv(
      "/set-txt", nlohmann::json({{"host", fqdn}, {"value", std::string(value)}}).dump());
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("setting TXT for ", fqdn, ": ", status.message()));
  }
  return status;
}

absl::Status PebbleEnv::ClearTxtRecord(absl::string_view host) const {
  const std::string fqdn = WithTrailingDot(host);
  absl::Status status = PostChalltestsrv("/clear-txt", nlohmann::json({{"host", fqdn}}).dump());
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("clearing TXT for ", fqdn, ": ", status.message()));
  }
  return status;
}

absl::Status PebbleEnv::SetCaaRecords(absl::string_view host,
                                      const std::vector<CaaRecord>& records) const {
  if (absl::Status cleared = ClearCaaRecords(host); !cleared.ok()) return cleared;
  const std::string fqdn = WithTrailingDot(host);
  nlohmann::json policies = nlohmann::json::array();
  for (const CaaRecord& record : records) {
    policies.push_back({{"tag", record.tag}, {"value", record.value}});
  }
  absl::Status status =
      PostChalltestsrv("/add-caa", nlohmann::json({{"host", fqdn}, {"policies", policies}}).dump());
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("setting CAA for ", fqdn, ": ", status.message()));
  }
  return status;
}

absl::Status PebbleEnv::ClearCaaRecords(absl::string_view host) const {
  const std::string fqdn = WithTrailingDot(host);
  absl::Status status = PostChalltestsrv("/clear-caa", nlohmann::json({{"host", fqdn}}).dump());
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("clearing CAA for ", fqdn, ": ", status.message()));
  }
  return status;
}

std::string PebbleEnv::LogTail(size_t max_bytes_per_log) const {
  return absl::StrCat("--- ", pebble_log_, " ---\n", Tail(pebble_log_, max_bytes_per_log), "\n--- ",
                      challtestsrv_log_, " ---\n", Tail(challtestsrv_log_, max_bytes_per_log),
                      "\n");
}

}  // namespace acme_signer::testing
