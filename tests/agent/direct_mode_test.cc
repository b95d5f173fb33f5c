// End to end: `acme-agent certonly --direct` against a real lab (scripts/lab: SoftHSM2,
// Pebble with EAB, acme-signer serving over mutual TLS, agent identity web1 allowed
// **.lab.test with allow_sign_jws). The agent talks to Pebble itself; every JWS is made by
// the signer's SignJws under web1's policy, which the audit log shows.
//
// Uses this build tree's binaries (<build>/bin/acme-signer, acme-agent) and the repository's
// scripts/lab (found from this file's path). Skips when Pebble or SoftHSM2 is missing on a dev
// machine; under CI=true that is a failure.
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace acme_signer::agent {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `argv` with the test's environment plus `extra_env`; output goes to files in `dir`.
Result RunCommand(const std::string& dir, const std::vector<std::string>& args,
                  const std::vector<std::string>& extra_env = {}) {
  Result run;
  const std::string out_path = dir + "/run.stdout", err_path = dir + "/run.stderr";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  std::vector<std::string> argv_strings = args;
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = extra_env;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc =
      posix_spawn(&pid, argv_strings[0].c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    run.err = absl::StrCat("cannot run ", argv_strings[0], ": ", strerror(rc));
    return run;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.out = ReadFile(out_path).value_or("");
  run.err = ReadFile(err_path).value_or("");
  return run;
}

bool OnPath(const std::string& tool) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "", ':')) {
    if (::access(absl::StrCat(dir, "/", tool).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// <build>/bin: this test is <build>/tests/agent/direct_mode_test.
std::string BinDir() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  return (self.parent_path().parent_path().parent_path() / "bin").string();
}

// The repository root: this file is <root>/tests/agent/direct_mode_test.cc.
std::string RepoRoot() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().string();
}

// The audit records (not checkpoints) of the signer's log.
std::vector<Json> AuditRecords(const std::string& path) {
  std::vector<Json> records;
  for (absl::string_view line : absl::StrSplit(ReadFile(path).value_or(""), '\n')) {
    if (line.empty()) continue;
    Json record = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (record.is_object() && record.contains("rpc")) records.push_back(std::move(record));
  }
  return records;
}

int CountRecords(const std::vector<Json>& records, const std::string& rpc,
                 const std::string& decision, const std::string& reason_part = "") {
  int count = 0;
  for (const Json& r : records) {
    if (r.value("rpc", "") == rpc && r.value("decision", "") == decision &&
        absl::StrContains(r.value("reason", ""), reason_part)) {
      ++count;
    }
  }
  return count;
}

// OK when `cert_pem` chains to `root_pem` through `chain_pem`.
::testing::AssertionResult Verifies(const std::string& cert_pem, const std::string& chain_pem,
                                    const std::string& root_pem) {
  auto read = [](const std::string& pem) {
    SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    X509Stack certs(sk_X509_new_null());
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      sk_X509_push(certs.get(), cert);
    }
    ERR_clear_error();
    return certs;
  };
  X509Stack leaf = read(cert_pem), chain = read(chain_pem), roots = read(root_pem);
  if (sk_X509_num(leaf.get()) != 1 || sk_X509_num(roots.get()) < 1) {
    return ::testing::AssertionFailure() << "unreadable certificate or root";
  }
  SslUniquePtr<X509_STORE> store(X509_STORE_new());
  for (int i = 0; i < sk_X509_num(roots.get()); ++i) {
    X509_STORE_add_cert(store.get(), sk_X509_value(roots.get(), i));
  }
  SslUniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), sk_X509_value(leaf.get(), 0), chain.get());
  if (X509_verify_cert(ctx.get()) != 1) {
    return ::testing::AssertionFailure()
           << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
  }
  return ::testing::AssertionSuccess();
}

class DirectModeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const bool ci = std::getenv("CI") != nullptr && std::string(std::getenv("CI")) == "true";
    for (const char* tool : {"pebble", "pebble-challtestsrv", "softhsm2-util", "openssl", "curl"}) {
      if (!OnPath(tool)) {
        missing_ = absl::StrCat(tool, " is not installed (scripts/install-deps)");
        fail_missing_ = ci;
        return;
      }
    }
    bin_dir_ = BinDir();
    for (const char* binary : {"acme-signer", "acme-agent"}) {
      if (::access(absl::StrCat(bin_dir_, "/", binary).c_str(), X_OK) != 0) {
        setup_error_ = absl::StrCat(bin_dir_, "/", binary,
                                    " is missing: build the acme-signer and acme-agent targets");
        return;
      }
    }
    char dir_template[] = "/tmp/direct_mode_test.XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) {
      setup_error_ = "cannot create a temp dir";
      return;
    }
    lab_ = dir_template;
    Result up = RunCommand(lab_, {RepoRoot() + "/scripts/lab", "up", lab_ + "/lab"},
                           // Exact signing counts below: no random badNonce retries (those
                           // are ca_fault_test's subject).
                           {"ACME_SIGNER_BIN_DIR=" + bin_dir_, "PEBBLE_WFE_NONCEREJECT=0"});
    lab_started_ = true;
    if (up.exit_code != 0) {
      setup_error_ = absl::StrCat("scripts/lab up failed (exit ", up.exit_code, "): ", up.err);
      return;
    }
    for (absl::string_view line : absl::StrSplit(ReadFile(lab_ + "/lab/env").value_or(""), '\n')) {
      std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
      if (!kv.first.empty() && kv.first[0] != '#') env_[kv.first] = kv.second;
    }
    // scripts/lab writes [direct] ca_bundle = Pebble's TLS certificate into agent.toml.
    if (env_["AGENT_CONFIG"].empty() || env_["PEBBLE_TLS_CERT"].empty()) {
      setup_error_ = "the lab's env file lacks AGENT_CONFIG or PEBBLE_TLS_CERT";
    }
  }

  static void TearDownTestSuite() {
    if (lab_started_) {
      Result down = RunCommand(lab_, {RepoRoot() + "/scripts/lab", "down", lab_ + "/lab"});
      if (down.exit_code != 0) ADD_FAILURE() << "scripts/lab down failed: " << down.err;
    }
    const char* keep = std::getenv("ACME_SIGNER_KEEP_TEST_DIRS");
    if (!lab_.empty() && (keep == nullptr || std::string(keep) != "1")) {
      std::error_code ec;
      std::filesystem::remove_all(lab_, ec);
    }
  }

  void SetUp() override {
    if (!missing_.empty()) {
      if (fail_missing_) FAIL() << missing_ << " (CI=true: a missing tool is a failure)";
      GTEST_SKIP() << missing_;
    }
    ASSERT_EQ(setup_error_, "");
  }

  Result Agent(std::vector<std::string> args) {
    args.insert(args.begin(), {bin_dir_ + "/acme-agent", "certonly", "--config",
                               env_["AGENT_CONFIG"], "--non-interactive"});
    return RunCommand(lab_, args);
  }

  static std::string AuditLog() { return lab_ + "/lab/signer/audit/audit.log"; }

  static inline std::string missing_;
  static inline bool fail_missing_ = false;
  static inline std::string setup_error_;
  static inline std::string bin_dir_;
  static inline std::string lab_;
  static inline bool lab_started_ = false;
  static inline std::map<std::string, std::string> env_;
};

TEST_F(DirectModeTest, IssuesWithEveryJwsSignedByTheSignerAndNoRelayedOrder) {
  const size_t before = AuditRecords(AuditLog()).size();
  const std::string name = absl::StrCat("direct-", absl::ToUnixSeconds(absl::Now()), ".lab.test");
  Result run = Agent({"--direct", "--standalone", "--domain", name, "--cert-name", "direct"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("(direct mode)"));
  EXPECT_THAT(run.out, HasSubstr("Successfully received certificate."));

  const std::string live = env_["AGENT_CONFIG_DIR"] + "/live/direct";
  absl::StatusOr<std::string> cert = ReadFile(live + "/cert.pem");
  absl::StatusOr<std::string> chain = ReadFile(live + "/chain.pem");
  absl::StatusOr<std::string> root = ReadFile(env_["PEBBLE_ROOT"]);
  ASSERT_TRUE(cert.ok() && chain.ok() && root.ok()) << cert.status() << chain.status();
  EXPECT_TRUE(Verifies(*cert, *chain, *root));
  // Renewals repeat direct mode.
  absl::StatusOr<std::string> renewal = ReadFile(env_["AGENT_CONFIG_DIR"] + "/renewal/direct.conf");
  ASSERT_TRUE(renewal.ok()) << renewal.status();
  EXPECT_THAT(*renewal, HasSubstr("direct = true"));

  std::vector<Json> records = AuditRecords(AuditLog());
  records.erase(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(before));
  EXPECT_EQ(CountRecords(records, "SignJws", "allow", "allowed newOrder"), 1);
  EXPECT_EQ(CountRecords(records, "SignJws", "allow", "allowed finalize"), 1);
  EXPECT_EQ(CountRecords(records, "SignJws", "allow", "allowed challenge"), 1);
  EXPECT_GE(CountRecords(records, "SignJws", "allow", "allowed postAsGet"), 2);
  EXPECT_EQ(CountRecords(records, "SignJws", "deny"), 0);
  for (const char* relay_rpc : {"CreateOrder", "FinalizeOrder", "AnswerChallenge", "GetOrder"}) {
    EXPECT_EQ(CountRecords(records, relay_rpc, "allow") + CountRecords(records, relay_rpc, "deny"),
              0)
        << relay_rpc;
  }
  // What one issuance costs; the agent's own count agrees with the signer's audit log.
  const int sign_jws = CountRecords(records, "SignJws", "allow");
  EXPECT_THAT(run.err, HasSubstr(absl::StrCat(sign_jws, " requests signed by acme-signer")));
  std::cout << "direct issuance: " << sign_jws
            << " SignJws RPCs; agent says: " << run.err.substr(run.err.find("direct mode: "))
            << std::endl;
}

TEST_F(DirectModeTest, ANameOutsideThePolicyIsRefusedBySignJws) {
  const size_t before = AuditRecords(AuditLog()).size();
  Result run = Agent({"--direct", "--standalone", "--domain", "www.not-in-policy.example",
                      "--cert-name", "forbidden"});
  EXPECT_EQ(run.exit_code, 3) << run.err;
  EXPECT_THAT(run.err, HasSubstr("www.not-in-policy.example"));
  EXPECT_FALSE(std::filesystem::exists(env_["AGENT_CONFIG_DIR"] + "/live/forbidden"));
  std::vector<Json> records = AuditRecords(AuditLog());
  records.erase(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(before));
  EXPECT_EQ(CountRecords(records, "SignJws", "deny"), 1);
  EXPECT_EQ(CountRecords(records, "SignJws", "allow"), 0);
  EXPECT_EQ(CountRecords(records, "CreateOrder", "deny"), 0);
}

}  // namespace
}  // namespace acme_signer::agent
