// End to end: stock ACME clients get certificates through the signer's front door (issue 13),
// each with its own per-host EAB credential from `acme-signer enroll-client`:
//   - certbot 2.x: standalone http-01 (issue, forced renewal, revocation by account and by
//     certificate key) and manual dns-01 with hooks that publish the TXT record in
//     pebble-challtestsrv (the front door validates against challtestsrv's DNS);
//   - lego 4.x: built-in http-01 server (issue, renew, revoke);
//   - dehydrated 0.7: http-01 through a webroot served on the lab's HTTP01_PORT by a loopback
//     static file server (issue, forced renewal, revoke).
// Every certificate is checked with OpenSSL against Pebble's root and found in
// `acme-signer inventory` with host web1 (and revoked after revocation). The audit log shows,
// for each client command, the front door's own http-01/dns-01 validation of the host, one
// allowed FrontDoor/finalize of web1 for the name, one FrontDoor/issue with the serial and one
// FrontDoor/revoke-cert per revocation, each with the account key's thumbprint (a revocation
// signed by the certificate's key has none).
//
// One lab (scripts/lab up: SoftHSM2, strict Pebble + challtestsrv, `acme-signer serve` with the
// front door, web1 with front_door = true and **.lab.test) for the whole suite. The clients run
// one after another: their http-01 listeners share the lab's HTTP01_PORT. Every child process
// is bounded by a timeout (tests/testing/child_process.h). Skips on a dev machine when a tool
// is missing; under CI=true that is a failure.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "common/ssl_unique_ptr.h"
#include "common/unique_fd.h"
#include "common/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/certificate_reading.h"
#include "tests/testing/child_process.h"

extern char** environ;

namespace acme_signer {
namespace {

using ::acme_signer::testing::ChildOptions;
using ::acme_signer::testing::ChildResult;
using ::acme_signer::testing::RunChild;
using ::testing::Contains;
using ::testing::HasSubstr;
using Json = nlohmann::json;

// The host whose policy the lab gives front_door = true and **.lab.test.
constexpr char kHost[] = "web1";

// Bounds: `scripts/lab up` (SoftHSM2 init, Pebble, signer init and serve) and one client run
// (certbot gives an order ~90 s to leave `processing`; strict Pebble with NOSLEEP answers in
// seconds).
constexpr absl::Duration kLabTimeout = absl::Minutes(3);
constexpr absl::Duration kClientTimeout = absl::Minutes(3);
constexpr absl::Duration kCommandTimeout = absl::Seconds(60);

// The clients' environment beyond their CA bundle: a safety net for "loopback only". Every
// client here speaks HTTP(S) through a library that honours these (Python requests for certbot,
// Go's net/http for lego, curl for dehydrated): a request to anything but loopback goes to a
// proxy on 127.0.0.1:9, where nothing listens, so it fails without resolving or connecting to
// the name (certbot, for one, silently swaps in Let's Encrypt's staging server for
// `renew --dry-run` without --server).
constexpr const char* kLoopbackOnlyEnv[] = {
    "HTTPS_PROXY=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9",
    "HTTP_PROXY=http://127.0.0.1:9",  "http_proxy=http://127.0.0.1:9",
    "NO_PROXY=127.0.0.1,localhost",   "no_proxy=127.0.0.1,localhost",
};

// The absolute path of `tool` on PATH, or "".
std::string Which(const std::string& tool) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path != nullptr ? path : "", ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", tool);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// The repository root (a compile definition: __FILE__ may be relative under ccache).
std::string RepoRoot() { return ACME_SIGNER_SOURCE_DIR; }

// <build>/bin, where CMake put acme-signer and acme-agent.
std::string BinDir() { return std::filesystem::path(ACME_AGENT_BIN).parent_path().string(); }

// argv for the test log, as a shell would take it, with an argument containing `secret`
// replaced by a placeholder: the HMAC keys are secrets.
std::string ShowCommand(const std::vector<std::string>& args, const std::string& secret) {
  std::vector<std::string> shown;
  for (const std::string& a : args) {
    if (!secret.empty() && absl::StrContains(a, secret)) {
      shown.push_back("\"$EAB_HMAC_KEY\"");
    } else {
      shown.push_back(absl::StrContains(a, ' ') ? absl::StrCat("'", a, "'") : a);
    }
  }
  return absl::StrJoin(shown, " ");
}

// OK when `leaf_pem` (one certificate) chains to a root in `root_pem` through the certificates
// of `chain_pem`, checked by OpenSSL.
::testing::AssertionResult Verifies(const std::string& leaf_pem, const std::string& chain_pem,
                                    const std::string& root_pem) {
  std::vector<SslUniquePtr<X509>> leaf = testing::ParseChain(leaf_pem);
  std::vector<SslUniquePtr<X509>> chain = testing::ParseChain(chain_pem);
  std::vector<SslUniquePtr<X509>> roots = testing::ParseChain(root_pem);
  if (leaf.empty() || chain.empty() || roots.empty()) {
    return ::testing::AssertionFailure()
           << "unreadable certificate, chain or root: " << leaf.size() << " leaf, " << chain.size()
           << " chain, " << roots.size() << " root certificate(s)";
  }
  SslUniquePtr<X509_STORE> store(X509_STORE_new());
  for (const SslUniquePtr<X509>& root : roots) X509_STORE_add_cert(store.get(), root.get());
  X509Stack untrusted(sk_X509_new_null());
  for (const SslUniquePtr<X509>& cert : chain) sk_X509_push(untrusted.get(), cert.get());
  SslUniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf[0].get(), untrusted.get());
  const bool ok = X509_verify_cert(ctx.get()) == 1;
  const int error = X509_STORE_CTX_get_error(ctx.get());
  // The stack only borrowed the certificates: empty it before it is freed with its elements.
  while (sk_X509_num(untrusted.get()) > 0) sk_X509_pop(untrusted.get());
  ERR_clear_error();
  if (!ok) return ::testing::AssertionFailure() << X509_verify_cert_error_string(error);
  return ::testing::AssertionSuccess();
}

// What the test learned about an issued certificate.
struct Issued {
  std::string serial;  // lower-case hex, as the inventory writes it
  std::string sha256;  // hex SHA-256 of the DER
};

// A process started in the background (the loopback static file server for dehydrated's
// webroot), killed by its pid and reaped when this goes out of scope.
class BackgroundChild {
 public:
  BackgroundChild() = default;
  BackgroundChild(const BackgroundChild&) = delete;
  BackgroundChild& operator=(const BackgroundChild&) = delete;
  ~BackgroundChild() { Stop(); }

  // Starts `args` (args[0] absolute) with stdout/stderr appended to `log_path`.
  bool Start(const std::vector<std::string>& args, const std::string& log_path) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || in < 0) {
      if (log >= 0) ::close(log);
      if (in >= 0) ::close(in);
      return false;
    }
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      if (::dup2(in, 0) < 0 || ::dup2(log, 1) < 0 || ::dup2(log, 2) < 0) ::_exit(127);
      ::syscall(SYS_close_range, 3U, ~0U, 0U);
      ::execve(argv[0], argv.data(), environ);
      ::_exit(127);
    }
    ::close(log);
    ::close(in);
    return pid_ > 0;
  }

  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

// True once something accepts TCP connections on 127.0.0.1:`port` (bounded by `timeout`).
bool WaitForListener(int port, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd.get() >= 0 &&
        ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

class FrontDoorClientsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* ci_env = std::getenv("CI");
    const bool ci = ci_env != nullptr && std::string(ci_env) == "true";
    for (const char* tool : {"pebble", "pebble-challtestsrv", "softhsm2-util", "openssl", "curl",
                             "certbot", "lego", "dehydrated"}) {
      tools_[tool] = Which(tool);
      if (tools_[tool].empty()) {
        missing_ = absl::StrCat(tool, " is not installed (scripts/install-deps)");
        fail_missing_ = ci;
        return;
      }
    }
    // The webroot server for dehydrated. certbot depends on python3, so Debian's is present
    // wherever certbot is (not a pyenv shim: the system one).
    tools_["python3"] = "/usr/bin/python3";
    if (::access(tools_["python3"].c_str(), X_OK) != 0) {
      missing_ = "/usr/bin/python3 is not installed (it comes with certbot)";
      fail_missing_ = ci;
      return;
    }
    for (const char* binary : {"acme-signer", "acme-agent"}) {
      if (::access(absl::StrCat(BinDir(), "/", binary).c_str(), X_OK) != 0) {
        setup_error_ = absl::StrCat(BinDir(), "/", binary,
                                    " is missing: build the acme-signer and acme-agent targets");
        return;
      }
    }
    char dir_template[] = "/tmp/front_door_clients_test.XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) {
      setup_error_ = absl::StrCat("cannot create a temp dir: ", std::strerror(errno));
      return;
    }
    dir_ = dir_template;
    std::filesystem::create_directories(dir_ + "/scratch");
    // The clients take their CA bundle from these; none may come from the caller's environment
    // (RunChild appends the test's own settings after the inherited ones).
    for (const char* name :
         {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "LEGO_CA_CERTIFICATES", "LEGO_PATH",
          "SSL_CERT_FILE", "SOFTHSM2_CONF", "HTTPS_PROXY", "HTTP_PROXY", "https_proxy",
          "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}) {
      ::unsetenv(name);
    }
    ChildResult up = Run({RepoRoot() + "/scripts/lab", "up", dir_ + "/lab"},
                         {"ACME_SIGNER_BIN_DIR=" + BinDir()}, kLabTimeout);
    lab_started_ = true;
    if (up.exit_code != 0) {
      setup_error_ = absl::StrCat("scripts/lab up failed (exit ", up.exit_code, "):\n", up.err);
      return;
    }
    for (absl::string_view line : absl::StrSplit(ReadFile(dir_ + "/lab/env").value_or(""), '\n')) {
      std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
      if (!kv.first.empty() && kv.first[0] != '#') env_[kv.first] = kv.second;
    }
    for (const char* key :
         {"ACME_SERVER_DIRECTORY", "ACME_SERVER_CA", "HTTP01_PORT", "SIGNER_CONFIG", "PEBBLE_ROOT",
          "CHALLTESTSRV_MANAGEMENT", "SOFTHSM2_CONF"}) {
      if (env_[key].empty()) {
        setup_error_ = absl::StrCat("the lab's env file (", dir_, "/lab/env) lacks ", key);
        return;
      }
    }
    if (!absl::SimpleAtoi(env_["HTTP01_PORT"], &http01_port_)) {
      setup_error_ = absl::StrCat("HTTP01_PORT is not a number: ", env_["HTTP01_PORT"]);
      return;
    }
    // enroll-client opens the lab's SoftHSM2 token.
    ::setenv("SOFTHSM2_CONF", env_["SOFTHSM2_CONF"].c_str(), 1);
  }

  static void TearDownTestSuite() {
    if (lab_started_) {
      ChildResult down =
          Run({RepoRoot() + "/scripts/lab", "down", dir_ + "/lab"}, {}, absl::Seconds(60));
      if (down.exit_code != 0) ADD_FAILURE() << "scripts/lab down failed: " << down;
    }
    const char* keep = std::getenv("ACME_SIGNER_KEEP_TEST_DIRS");
    if (!dir_.empty() && (keep == nullptr || std::string(keep) != "1")) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    } else if (!dir_.empty()) {
      std::cout << "kept " << dir_ << "\n";
    }
  }

  void SetUp() override {
    if (!missing_.empty()) {
      if (fail_missing_) FAIL() << missing_ << " (CI=true: a missing tool is a failure)";
      GTEST_SKIP() << missing_;
    }
    ASSERT_EQ(setup_error_, "");
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    work_ = absl::StrCat(dir_, "/", info->name());
    std::filesystem::create_directories(work_);
  }

  static ChildResult Run(const std::vector<std::string>& args,
                         const std::vector<std::string>& extra_env, absl::Duration timeout) {
    ChildOptions options;
    options.scratch_dir = dir_ + "/scratch";
    options.timeout = timeout;
    options.extra_env = extra_env;
    return RunChild(args, options);
  }

  // Runs a client, printing its command line (HMAC key masked) for the record. The audit
  // checks that follow look at the records appended from here on.
  ChildResult RunClient(const std::vector<std::string>& args,
                        const std::vector<std::string>& extra_env) {
    std::cout << "$ " << absl::StrJoin(extra_env, " ") << (extra_env.empty() ? "" : " ")
              << ShowCommand(args, hmac_) << std::endl;
    audit_mark_ = AuditRecords().size();
    std::vector<std::string> env = extra_env;
    env.insert(env.end(), std::begin(kLoopbackOnlyEnv), std::end(kLoopbackOnlyEnv));
    ChildResult result = Run(args, env, kClientTimeout);
    if (!hmac_.empty()) {  // failure messages print the output: never the key
      absl::StrReplaceAll({{hmac_, "$EAB_HMAC_KEY"}}, &result.out);
      absl::StrReplaceAll({{hmac_, "$EAB_HMAC_KEY"}}, &result.err);
    }
    return result;
  }

  // A name in web1's policy (**.lab.test), unique to this run.
  static std::string UniqueName(absl::string_view client) {
    return absl::StrCat(client, "-", ::getpid(), "-", absl::ToUnixMillis(absl::Now()) % 100000000,
                        ".lab.test");
  }

  // A fresh front-door credential for web1. Sets kid_/hmac_ (hmac_ is masked in output).
  void EnrollClient() {
    ChildResult run = Run({BinDir() + "/acme-signer", "enroll-client", "--config",
                           env_["SIGNER_CONFIG"], "--name", kHost, "--json"},
                          {}, kCommandTimeout);
    ASSERT_EQ(run.exit_code, 0) << run.err;  // stdout holds the key: not printed
    Json credential = Json::parse(run.out, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(credential.is_object()) << "enroll-client --json printed no JSON object";
    ASSERT_TRUE(credential.contains("directory_url") && credential.contains("eab_kid") &&
                credential.contains("eab_hmac_key"))
        << "keys: " << [&] {
             std::vector<std::string> keys;
             for (auto it = credential.begin(); it != credential.end(); ++it) {
               keys.push_back(it.key());
             }
             return absl::StrJoin(keys, ",");
           }();
    EXPECT_EQ(credential["directory_url"].get<std::string>(), env_["ACME_SERVER_DIRECTORY"]);
    kid_ = credential["eab_kid"].get<std::string>();
    hmac_ = credential["eab_hmac_key"].get<std::string>();
    ASSERT_FALSE(kid_.empty());
    ASSERT_FALSE(hmac_.empty());
  }

  // The certificate in `leaf_path` (first PEM block) for `name`, verified against Pebble's root
  // through `chain_path`, is in the inventory with host web1 and not revoked; the last client
  // command's audit records have one allowed front-door finalize of web1 for the name and one
  // issuance of web1 with the serial.
  Issued CheckIssued(const std::string& leaf_path, const std::string& chain_path,
                     const std::string& name) {
    Issued issued;
    absl::StatusOr<std::string> leaf_pem = ReadFile(leaf_path);
    absl::StatusOr<std::string> chain_pem = ReadFile(chain_path);
    absl::StatusOr<std::string> root_pem = ReadFile(env_["PEBBLE_ROOT"]);
    EXPECT_TRUE(leaf_pem.ok() && chain_pem.ok() && root_pem.ok())
        << leaf_pem.status() << " " << chain_pem.status() << " " << root_pem.status();
    if (!leaf_pem.ok() || !chain_pem.ok() || !root_pem.ok()) return issued;
    EXPECT_TRUE(Verifies(*leaf_pem, *chain_pem, *root_pem)) << leaf_path;
    std::vector<SslUniquePtr<X509>> leaf = testing::ParseChain(*leaf_pem);
    EXPECT_FALSE(leaf.empty()) << leaf_path;
    if (leaf.empty()) return issued;
    EXPECT_THAT(testing::DnsSans(leaf[0].get()), ::testing::ElementsAre(name));
    absl::StatusOr<std::string> serial = SerialHex(*leaf[0]);
    absl::StatusOr<std::string> sha256 = CertificateSha256Hex(*leaf[0]);
    EXPECT_TRUE(serial.ok() && sha256.ok()) << serial.status() << sha256.status();
    if (!serial.ok() || !sha256.ok()) return issued;
    issued.serial = *serial;
    issued.sha256 = *sha256;
    ExpectInInventory(issued, name, /*revoked=*/false);
    EXPECT_EQ(CountFrontDoorAllowed("finalize",
                                    [&](const Json& r) {
                                      return IdentifiersOf(r) ==
                                             std::vector<std::string>{"dns:" + name};
                                    }),
              1)
        << "allowed finalize of " << name << " by " << kHost << "; the front door's records:\n"
        << FrontDoorRecordsText();
    EXPECT_EQ(CountFrontDoorAllowed(
                  "issue",
                  [&](const Json& r) {
                    return r.value("outcome", Json::object()).value("serial", "") == issued.serial;
                  }),
              1)
        << "issuance of serial " << issued.serial << " to " << kHost
        << "; the front door's records:\n"
        << FrontDoorRecordsText();
    std::cout << "issued " << name << " serial " << issued.serial << std::endl;
    return issued;
  }

  // The inventory lists `issued` once, with host web1, the name, and the revocation state.
  void ExpectInInventory(const Issued& issued, const std::string& name, bool revoked) {
    ChildResult run =
        Run({BinDir() + "/acme-signer", "inventory", "--config", env_["SIGNER_CONFIG"], "--json"},
            {}, kCommandTimeout);
    ASSERT_EQ(run.exit_code, 0) << run;
    Json list = Json::parse(run.out, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(list.is_array()) << run.out;
    int found = 0;
    for (const Json& entry : list) {
      if (entry.value("serial", "") != issued.serial) continue;
      ++found;
      EXPECT_EQ(entry.value("agent", ""), kHost) << entry.dump();
      EXPECT_EQ(entry.value("certificate_sha256", ""), issued.sha256) << entry.dump();
      ASSERT_TRUE(entry.contains("names") && entry["names"].is_array()) << entry.dump();
      EXPECT_THAT(entry["names"].get<std::vector<std::string>>(), Contains(HasSubstr(name)))
          << entry.dump();
      EXPECT_EQ(entry.value("revoked", !revoked), revoked) << entry.dump();
    }
    EXPECT_EQ(found, 1) << "serial " << issued.serial << " in the inventory:\n" << run.out;
  }

  // The audit records (kind "event") appended since this test began.
  static std::vector<Json> AuditRecords() {
    std::vector<Json> records;
    const std::string path = dir_ + "/lab/signer/audit/audit.log";
    for (absl::string_view line :
         absl::StrSplit(ReadFile(path, 256 << 20).value_or(""), '\n', absl::SkipEmpty())) {
      Json record = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (record.is_object() && record.value("kind", "") == "event") {
        records.push_back(std::move(record));
      }
    }
    return records;
  }

  // The audit records appended since the last client command began.
  std::vector<Json> NewAuditRecords() const {
    std::vector<Json> records = AuditRecords();
    if (records.size() < audit_mark_) return {};
    records.erase(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(audit_mark_));
    return records;
  }

  // A front-door record: rpc "FrontDoor/<endpoint>" (or "FrontDoor/issue" when the CA's
  // certificate arrived).
  static bool IsFrontDoor(const Json& record) {
    return absl::StartsWith(record.value("rpc", ""), "FrontDoor/");
  }

  static std::vector<std::string> IdentifiersOf(const Json& record) {
    const Json request = record.value("request", Json::object());
    const Json identifiers = request.value("identifiers", Json::array());
    std::vector<std::string> out;
    for (const Json& id : identifiers) {
      if (id.is_string()) out.push_back(id.get<std::string>());
    }
    return out;
  }

  // Allowed records of FrontDoor/`what` since the last client command, of web1 (with an
  // account key thumbprint unless `by_account` is false: a revocation signed by the
  // certificate's key has no account), that `match`.
  int CountFrontDoorAllowed(const std::string& what, const std::function<bool(const Json&)>& match,
                            bool by_account = true) const {
    int count = 0;
    for (const Json& r : NewAuditRecords()) {
      if (r.value("rpc", "") == "FrontDoor/" + what && r.value("agent", "") == kHost &&
          r.value("decision", "") == "allow" &&
          (!by_account || !r.value("account_thumbprint", "").empty()) && match(r)) {
        ++count;
      }
    }
    return count;
  }

  // The revocation of `issued` by the last client command: allowed, audited once, and the
  // inventory says revoked.
  void ExpectRevoked(const Issued& issued, const std::string& name, bool by_account = true) {
    EXPECT_EQ(CountFrontDoorAllowed(
                  "revoke-cert",
                  [&](const Json& r) {
                    return r.value("request", Json::object()).value("certificate_sha256", "") ==
                           issued.sha256;
                  },
                  by_account),
              1)
        << "allowed revocation of " << issued.serial << "; the front door's records:\n"
        << FrontDoorRecordsText();
    ExpectInInventory(issued, name, /*revoked=*/true);
  }

  std::string FrontDoorRecordsText() const {
    std::string text;
    for (const Json& r : NewAuditRecords()) {
      if (IsFrontDoor(r)) absl::StrAppend(&text, r.dump(), "\n");
    }
    return text.empty() ? "(none)" : text;
  }

  // The clients' environment: the CA bundle that verifies the front door's listener.
  static std::vector<std::string> CertbotEnv() {
    return {"REQUESTS_CA_BUNDLE=" + env_["ACME_SERVER_CA"]};
  }
  static std::vector<std::string> LegoEnv() {
    return {"LEGO_CA_CERTIFICATES=" + env_["ACME_SERVER_CA"]};
  }

  // The front door itself validated `name` with `type` ("http-01", "dns-01") during the last
  // client command: one FrontDoor/validation record of web1 (the outcome of the validation the
  // challenge POST started) that is valid.
  void ExpectValidatedByFrontDoor(const std::string& name, const std::string& type) {
    EXPECT_EQ(CountFrontDoorAllowed(
                  "validation",
                  [&](const Json& r) {
                    return IdentifiersOf(r) == std::vector<std::string>{"dns:" + name} &&
                           r.value("outcome", Json::object()).value("status", "") == "valid" &&
                           absl::StrContains(r.value("reason", ""), type);
                  }),
              1)
        << type << " validation of " << name << "; the front door's records:\n"
        << FrontDoorRecordsText();
  }

  // certbot's own directories, under this test's work dir.
  std::vector<std::string> CertbotDirs() const {
    return {"--config-dir", work_ + "/certbot/config", "--work-dir", work_ + "/certbot/work",
            "--logs-dir",   work_ + "/certbot/logs"};
  }

  // certbot's debug log, for failure messages. It records certbot's argv, which holds the HMAC
  // key: masked.
  std::string CertbotLog() const {
    std::string log =
        ReadFile(work_ + "/certbot/logs/letsencrypt.log", 16 << 20).value_or("(no log)");
    return hmac_.empty() ? log : absl::StrReplaceAll(log, {{hmac_, "$EAB_HMAC_KEY"}});
  }

  static inline std::string missing_;
  static inline bool fail_missing_ = false;
  static inline std::string setup_error_;
  static inline std::string dir_;
  static inline bool lab_started_ = false;
  static inline int http01_port_ = 0;
  static inline std::map<std::string, std::string> env_;
  static inline std::map<std::string, std::string> tools_;

  std::string work_;
  size_t audit_mark_ = 0;
  std::string kid_;
  std::string hmac_;
};

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST_F(FrontDoorClientsTest, CertbotStandaloneHttp01IssuesRenewsAndRevokes) {
  ASSERT_NO_FATAL_FAILURE(EnrollClient());
  const std::string name = UniqueName("certbot");
  const std::string port = std::to_string(http01_port_);
  ChildResult issue = RunClient(Concat({tools_["certbot"],
                                        "certonly",
                                        "--standalone",
                                        "--http-01-address",
                                        "127.0.0.1",
                                        "--http-01-port",
                                        port,
                                        "--server",
                                        env_["ACME_SERVER_DIRECTORY"],
                                        "--eab-kid",
                                        kid_,
                                        "--eab-hmac-key",
                                        hmac_,
                                        "-d",
                                        name,
                                        "--cert-name",
                                        name,
                                        "--register-unsafely-without-email",
                                        "--agree-tos",
                                        "--non-interactive"},
                                       CertbotDirs()),
                                CertbotEnv());
  ASSERT_EQ(issue.exit_code, 0) << issue << "\n--- certbot log:\n" << CertbotLog();
  const std::string live = work_ + "/certbot/config/live/" + name;
  const Issued first = CheckIssued(live + "/cert.pem", live + "/chain.pem", name);
  ExpectValidatedByFrontDoor(name, "http-01");

  // Renewal: the account from the first run, the lineage's saved settings (standalone on the
  // same address and port, the same server).
  ChildResult renew =
      RunClient(Concat({tools_["certbot"], "renew", "--cert-name", name, "--force-renewal",
                        "--no-random-sleep-on-renew", "--non-interactive"},
                       CertbotDirs()),
                CertbotEnv());
  ASSERT_EQ(renew.exit_code, 0) << renew << "\n--- certbot log:\n" << CertbotLog();
  const Issued second = CheckIssued(live + "/cert.pem", live + "/chain.pem", name);
  EXPECT_NE(second.serial, first.serial);

  // A dry run: a full issuance through the front door, nothing saved (certbot would deactivate
  // authorizations the new order came with already valid, for fresh ones). --server is required:
  // without it certbot 2.1 replaces the lineage's server by Let's Encrypt's staging server.
  ChildResult dry_run = RunClient(
      Concat({tools_["certbot"], "renew", "--cert-name", name, "--dry-run", "--server",
              env_["ACME_SERVER_DIRECTORY"], "--no-random-sleep-on-renew", "--non-interactive"},
             CertbotDirs()),
      CertbotEnv());
  ASSERT_EQ(dry_run.exit_code, 0) << dry_run << "\n--- certbot log:\n" << CertbotLog();
  EXPECT_THAT(dry_run.out + dry_run.err, HasSubstr("all simulated renewals succeeded")) << dry_run;
  EXPECT_EQ(CountFrontDoorAllowed("issue", [](const Json&) { return true; }), 1)
      << FrontDoorRecordsText();
  absl::StatusOr<std::string> live_cert = ReadFile(live + "/cert.pem");
  ASSERT_TRUE(live_cert.ok()) << live_cert.status();
  std::vector<SslUniquePtr<X509>> live_leaf = testing::ParseChain(*live_cert);
  ASSERT_FALSE(live_leaf.empty());
  EXPECT_EQ(SerialHex(*live_leaf[0]).value_or(""), second.serial) << "the dry run saved nothing";

  // Revocation by the account (kid), of the renewed certificate...
  ChildResult revoke =
      RunClient(Concat({tools_["certbot"], "revoke", "--cert-name", name, "--reason", "superseded",
                        "--no-delete-after-revoke", "--non-interactive"},
                       CertbotDirs()),
                CertbotEnv());
  ASSERT_EQ(revoke.exit_code, 0) << revoke << "\n--- certbot log:\n" << CertbotLog();
  ExpectRevoked(second, name);
  // ...and by the certificate's own key (jwk), of the first one.
  const std::string archive = work_ + "/certbot/config/archive/" + name;
  ChildResult revoke_by_key = RunClient(
      Concat({tools_["certbot"], "revoke", "--cert-path", archive + "/cert1.pem", "--key-path",
              archive + "/privkey1.pem", "--server", env_["ACME_SERVER_DIRECTORY"],
              "--no-delete-after-revoke", "--non-interactive"},
             CertbotDirs()),
      CertbotEnv());
  ASSERT_EQ(revoke_by_key.exit_code, 0) << revoke_by_key << "\n--- certbot log:\n" << CertbotLog();
  ExpectRevoked(first, name, /*by_account=*/false);
}

TEST_F(FrontDoorClientsTest, CertbotManualDns01IssuesAndRevokes) {
  ASSERT_NO_FATAL_FAILURE(EnrollClient());
  const std::string name = UniqueName("certbot-dns");
  const std::string hook = RepoRoot() + "/tests/integration/front_door/challtestsrv_dns01_hook.sh";
  const std::string hook_log = work_ + "/hook.log";
  std::vector<std::string> env = CertbotEnv();
  env.push_back("CHALLTESTSRV_MANAGEMENT=" + env_["CHALLTESTSRV_MANAGEMENT"]);
  env.push_back("HOOK_LOG=" + hook_log);
  ChildResult issue = RunClient(Concat({tools_["certbot"],
                                        "certonly",
                                        "--manual",
                                        "--preferred-challenges",
                                        "dns",
                                        "--manual-auth-hook",
                                        hook + " present",
                                        "--manual-cleanup-hook",
                                        hook + " cleanup",
                                        "--server",
                                        env_["ACME_SERVER_DIRECTORY"],
                                        "--eab-kid",
                                        kid_,
                                        "--eab-hmac-key",
                                        hmac_,
                                        "-d",
                                        name,
                                        "--cert-name",
                                        name,
                                        "--register-unsafely-without-email",
                                        "--agree-tos",
                                        "--non-interactive"},
                                       CertbotDirs()),
                                env);
  ASSERT_EQ(issue.exit_code, 0) << issue << "\n--- certbot log:\n" << CertbotLog();
  // The certificate came through dns-01: certbot ran the hook to publish the record, and to
  // clean up.
  const std::string calls = ReadFile(hook_log).value_or("");
  EXPECT_THAT(calls, HasSubstr("present " + name + " ")) << calls;
  EXPECT_THAT(calls, HasSubstr("cleanup " + name + " ")) << calls;
  const std::string live = work_ + "/certbot/config/live/" + name;
  const Issued issued = CheckIssued(live + "/cert.pem", live + "/chain.pem", name);
  ExpectValidatedByFrontDoor(name, "dns-01");

  ChildResult revoke = RunClient(Concat({tools_["certbot"], "revoke", "--cert-name", name,
                                         "--no-delete-after-revoke", "--non-interactive"},
                                        CertbotDirs()),
                                 CertbotEnv());
  ASSERT_EQ(revoke.exit_code, 0) << revoke << "\n--- certbot log:\n" << CertbotLog();
  ExpectRevoked(issued, name);
}

TEST_F(FrontDoorClientsTest, LegoHttp01IssuesRenewsAndRevokes) {
  ASSERT_NO_FATAL_FAILURE(EnrollClient());
  const std::string name = UniqueName("lego");
  const std::string path = work_ + "/lego";
  // Global options, the same for run, renew and revoke (the account is stored per server and
  // email under --path). lego 4.9 wants --eab --kid --hmac on every command when the directory
  // says externalAccountRequired ("Server requires External Account Binding"), although only
  // `run` registers the account.
  const std::vector<std::string> global = {tools_["lego"],
                                           "--server",
                                           env_["ACME_SERVER_DIRECTORY"],
                                           "--email",
                                           "lego@lab.test",
                                           "--accept-tos",
                                           "--eab",
                                           "--kid",
                                           kid_,
                                           "--hmac",
                                           hmac_,
                                           "--domains",
                                           name,
                                           "--http",
                                           "--http.port",
                                           "127.0.0.1:" + std::to_string(http01_port_),
                                           "--path",
                                           path};
  ChildResult run = RunClient(Concat(global, {"run"}), LegoEnv());
  ASSERT_EQ(run.exit_code, 0) << run;
  // <name>.crt is the bundle (leaf first, then the issuer), <name>.issuer.crt the issuer.
  const std::string certs = path + "/certificates/" + name;
  const Issued first = CheckIssued(certs + ".crt", certs + ".issuer.crt", name);
  ExpectValidatedByFrontDoor(name, "http-01");

  // --days beyond Pebble's validity: renew now.
  ChildResult renew =
      RunClient(Concat(global, {"renew", "--days", "9999", "--no-random-sleep"}), LegoEnv());
  ASSERT_EQ(renew.exit_code, 0) << renew;
  const Issued second = CheckIssued(certs + ".crt", certs + ".issuer.crt", name);
  EXPECT_NE(second.serial, first.serial);

  ChildResult revoke = RunClient(Concat(global, {"revoke", "--keep"}), LegoEnv());
  ASSERT_EQ(revoke.exit_code, 0) << revoke;
  ExpectRevoked(second, name);
  ExpectInInventory(first, name, /*revoked=*/false);
}

TEST_F(FrontDoorClientsTest, DehydratedWebrootHttp01IssuesRenewsAndRevokes) {
  ASSERT_NO_FATAL_FAILURE(EnrollClient());
  const std::string name = UniqueName("dehydrated");
  const std::string base = work_ + "/dehydrated";
  const std::string webroot = work_ + "/webroot";
  const std::string wellknown = webroot + "/.well-known/acme-challenge";
  std::filesystem::create_directories(base);
  std::filesystem::create_directories(wellknown);
  // The config holds the HMAC key: 0600. dehydrated sources it as shell; every value here is a
  // path or base64url without quotes or spaces.
  const std::string config = base + "/config";
  ASSERT_TRUE(
      WriteFileAtomically(config,
                          absl::StrCat("CA=\"", env_["ACME_SERVER_DIRECTORY"], "\"\n", "EAB_KID=\"",
                                       kid_, "\"\n",                       //
                                       "EAB_HMAC_KEY=\"", hmac_, "\"\n",   //
                                       "CHALLENGETYPE=\"http-01\"\n",      //
                                       "WELLKNOWN=\"", wellknown, "\"\n",  //
                                       "BASEDIR=\"", base, "\"\n",         //
                                       "CURL_OPTS=\"--cacert ", env_["ACME_SERVER_CA"], "\"\n"),
                          0600)
          .ok());
  std::cout << "dehydrated config " << config << ":\n"
            << absl::StrReplaceAll(ReadFile(config).value_or(""), {{hmac_, "<EAB_HMAC_KEY>"}});

  // The webroot served on the lab's HTTP01_PORT, loopback only, for the whole test.
  BackgroundChild server;
  ASSERT_TRUE(server.Start({tools_["python3"], "-m", "http.server", "--bind", "127.0.0.1",
                            "--directory", webroot, std::to_string(http01_port_)},
                           work_ + "/webroot-server.log"));
  ASSERT_TRUE(WaitForListener(http01_port_, absl::Seconds(20)) && server.running())
      << ReadFile(work_ + "/webroot-server.log").value_or("");

  ChildResult reg =
      RunClient({tools_["dehydrated"], "--register", "--accept-terms", "-f", config}, {});
  ASSERT_EQ(reg.exit_code, 0) << reg;
  ChildResult issue = RunClient({tools_["dehydrated"], "-c", "-d", name, "-f", config}, {});
  ASSERT_EQ(issue.exit_code, 0) << issue;
  const std::string live = base + "/certs/" + name;
  const Issued first = CheckIssued(live + "/cert.pem", live + "/chain.pem", name);
  ExpectValidatedByFrontDoor(name, "http-01");

  ChildResult renew =
      RunClient({tools_["dehydrated"], "-c", "-d", name, "--force", "-f", config}, {});
  ASSERT_EQ(renew.exit_code, 0) << renew;
  const Issued second = CheckIssued(live + "/cert.pem", live + "/chain.pem", name);
  EXPECT_NE(second.serial, first.serial);

  ChildResult revoke =
      RunClient({tools_["dehydrated"], "-r", live + "/cert.pem", "-f", config}, {});
  ASSERT_EQ(revoke.exit_code, 0) << revoke;
  ExpectRevoked(second, name);
  ExpectInInventory(first, name, /*revoked=*/false);
  server.Stop();
}

}  // namespace
}  // namespace acme_signer
