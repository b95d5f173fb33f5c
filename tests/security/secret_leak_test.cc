// Secrets never leak: runs the whole lab (scripts/lab: SoftHSM2, Pebble with EAB, the signer,
// an enrolled agent) with this build's binaries, issues a certificate, makes the usual
// mistakes (a denied name, the SO PIN in the PIN file, a world-readable PIN file, the EAB key
// passed on the agent's command line, unknown flags) and then searches every file of the lab,
// every captured command output, and the running signer's argv and environment for the token
// PINs, the EAB HMAC key and every private key. Only the files that legitimately hold a secret
// may contain it.
//
// Needs pebble, pebble-challtestsrv, softhsm2-util, openssl and curl: skipped when missing on a
// developer machine, a failure under CI=true. ACME_SIGNER_KEEP_LAB=1 keeps the lab directory.
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace acme_signer::security {
namespace {

namespace fs = std::filesystem;

using ::testing::IsEmpty;
using ::testing::Not;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const fs::path& path, const std::string& text, mode_t mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ::chmod(path.c_str(), mode);
}

fs::path RepoRoot() {
  // tests/security/secret_leak_test.cc -> the repository root.
  return fs::weakly_canonical(fs::path(__FILE__)).parent_path().parent_path().parent_path();
}

fs::path BinDir() {
  // build/<name>/tests/security/secret_leak_test -> build/<name>/bin
  return fs::weakly_canonical(fs::read_symlink("/proc/self/exe").parent_path() / "../../bin");
}

bool HaveTool(const std::string& name) {
  for (absl::string_view dir :
       absl::StrSplit(std::getenv("PATH") ? std::getenv("PATH") : "", ':')) {
    if (!dir.empty() && ::access(absl::StrCat(dir, "/", name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// A named secret and the byte strings whose presence means it leaked.
struct SecretNeedles {
  std::string name;
  fs::path source;                                           // the file that legitimately holds it
  std::vector<std::pair<std::string, std::string>> needles;  // (what, bytes)
};

// Needles for a PEM private key file: the DER, the private component (EC scalar, RSA d..qInv)
// raw and in hex, and each base64 line of the PEM body that encodes private bytes (lines that
// encode only public bytes, such as the EC public point, also appear in certificates).
SecretNeedles PrivateKeyNeedles(const std::string& name, const fs::path& pem_path) {
  SecretNeedles result{name, pem_path, {}};
  const std::string pem = ReadAll(pem_path);
  std::vector<std::string> body_lines;
  bool in_body = false;
  for (absl::string_view line : absl::StrSplit(pem, '\n')) {
    line = absl::StripTrailingAsciiWhitespace(line);
    if (absl::StartsWith(line, "-----BEGIN")) {
      in_body = true;
    } else if (absl::StartsWith(line, "-----END")) {
      break;
    } else if (in_body && !line.empty()) {
      body_lines.emplace_back(line);
    }
  }
  std::string der;
  EXPECT_TRUE(absl::Base64Unescape(absl::StrJoin(body_lines, ""), &der)) << pem_path;
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  SslUniquePtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  EXPECT_NE(key, nullptr) << pem_path << " is not a PEM private key";
  if (key == nullptr || der.empty()) return result;

  BIGNUM* raw_bn = nullptr;
  const bool is_rsa = EVP_PKEY_is_a(key.get(), "RSA");
  EXPECT_EQ(EVP_PKEY_get_bn_param(
                key.get(), is_rsa ? OSSL_PKEY_PARAM_RSA_D : OSSL_PKEY_PARAM_PRIV_KEY, &raw_bn),
            1)
      << pem_path;
  SslUniquePtr<BIGNUM> private_bn(raw_bn);
  std::string component(static_cast<size_t>(BN_num_bytes(private_bn.get())), '\0');
  BN_bn2bin(private_bn.get(), reinterpret_cast<unsigned char*>(component.data()));
  const size_t start = der.find(component);
  EXPECT_NE(start, std::string::npos) << "private component not found in " << pem_path;
  if (start == std::string::npos) return result;
  // For RSA, d is followed by p, q, dp, dq, qInv: all private.
  const size_t end = is_rsa ? der.size() : start + component.size();

  result.needles.push_back({"DER", der});
  result.needles.push_back({"private component", component});
  result.needles.push_back({"private component hex", absl::BytesToHexString(component)});
  // Standard PEM: 64 base64 characters = 48 DER bytes per line.
  for (size_t i = 0; i < body_lines.size(); ++i) {
    const size_t line_start = i * 48;
    const size_t line_end = line_start + body_lines[i].size() / 4 * 3;
    if (line_start < end && line_end > start && body_lines[i].size() >= 16) {
      result.needles.push_back({absl::StrCat("PEM line ", i + 1), body_lines[i]});
    }
  }
  return result;
}

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

class SecretLeakTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::vector<std::string> missing;
    for (const char* tool : {"pebble", "pebble-challtestsrv", "softhsm2-util", "openssl", "curl"}) {
      if (!HaveTool(tool)) missing.push_back(tool);
    }
    if (!missing.empty()) {
      *setup_problem_ = absl::StrCat("missing tools: ", absl::StrJoin(missing, ", "));
      setup_is_skip_ = true;
      return;
    }
    for (const char* binary : {"acme-signer", "acme-agent"}) {
      if (::access((BinDir() / binary).c_str(), X_OK) != 0) {
        *setup_problem_ = absl::StrCat((BinDir() / binary).string(), " is not built");
        return;
      }
    }
    char tmpl[] = "/tmp/secret_leak_test.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      *setup_problem_ = "mkdtemp failed";
      return;
    }
    *root_ = tmpl;
    *lab_ = *root_ / "lab";
    *captures_ = *root_ / "captures";
    fs::create_directories(*captures_);
    ::setenv("ACME_SIGNER_BIN_DIR", BinDir().c_str(), 1);

    const CommandResult up =
        RunCommand("lab-up", {(RepoRoot() / "scripts/lab").string(), "up", *lab_});
    lab_started_ = true;
    if (up.exit_code != 0) {
      *setup_problem_ = absl::StrCat("scripts/lab up failed:\n", up.output);
      return;
    }
    for (absl::string_view line : absl::StrSplit(ReadAll(*lab_ / "env"), '\n')) {
      std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
      if (!kv.first.empty() && kv.first[0] != '#') (*env_)[kv.first] = kv.second;
    }
    ::setenv("SOFTHSM2_CONF", (*env_)["SOFTHSM2_CONF"].c_str(), 1);
    RunScenario();
  }

  static void TearDownTestSuite() {
    if (lab_started_)
      RunCommand("lab-down", {(RepoRoot() / "scripts/lab").string(), "down", *lab_});
    const char* keep = std::getenv("ACME_SIGNER_KEEP_LAB");
    if (!root_->empty() && !(keep != nullptr && std::string(keep) == "1")) {
      std::error_code ignored;
      fs::remove_all(*root_, ignored);
    }
  }

  // Issuance and the mistakes whose outputs are searched afterwards.
  static void RunScenario() {
    const std::string signer = (*env_)["ACME_SIGNER"];
    const std::string agent = (*env_)["ACME_AGENT"];
    const std::string agent_config = (*env_)["AGENT_CONFIG"];
    const std::string signer_config = (*env_)["SIGNER_CONFIG"];
    const std::vector<std::string> certonly = {agent,        "certonly",          "--config",
                                               agent_config, "--non-interactive", "--standalone"};
    auto with = [](std::vector<std::string> base, std::vector<std::string> extra) {
      base.insert(base.end(), extra.begin(), extra.end());
      return base;
    };

    Expect(RunCommand("issue",
                      with(certonly, {"--domain", "leak-check.lab.test", "--cert-name", "leak"})),
           0, "issuing leak-check.lab.test");
    Expect(RunCommand("denied-name", with(certonly, {"--domain", "www.not-in-policy.example",
                                                     "--cert-name", "denied"})),
           3, "a name outside the policy");
    // The operator pastes the EAB key into the agent's command line, certbot-style.
    const std::string eab =
        std::string(absl::StripAsciiWhitespace(ReadAll(*lab_ / "pebble/eab.key")));
    ExpectFailure(RunCommand("agent-eab-flag",
                             with(certonly, {"--domain", "x.lab.test", "--eab-hmac-key", eab})),
                  "--eab-hmac-key on the agent");
    ExpectFailure(
        RunCommand("agent-bad-flag", with(certonly, {"--domain", "x.lab.test", "--no-such-flag"})),
        "an unknown agent flag");

    // Signer mistakes, on copies of the config so the running lab is untouched.
    const fs::path mistakes = *lab_ / "mistakes";
    fs::create_directories(mistakes);
    const std::string config_text = ReadAll(signer_config);
    const std::string user_pin_file = (*lab_ / "hsm/user.pin").string();
    // The SO PIN where the user PIN belongs.
    WriteFile(mistakes / "so-as-user.pin", ReadAll(*lab_ / "hsm/so.pin"), 0600);
    // The right PIN, but readable by everyone.
    WriteFile(mistakes / "world-readable.pin", ReadAll(user_pin_file), 0644);
    for (const char* pin_name : {"so-as-user.pin", "world-readable.pin"}) {
      const fs::path config = mistakes / absl::StrCat(pin_name, ".toml");
      std::string text = config_text;
      const size_t at = text.find(user_pin_file);
      ASSERT_NE(at, std::string::npos) << "pin_file not in " << signer_config;
      text.replace(at, user_pin_file.size(), (mistakes / pin_name).string());
      WriteFile(config, text, 0600);
      ExpectFailure(
          RunCommand(absl::StrCat("signer-init-", pin_name),
                     {signer, "init", "--config", config.string(), "--eab-kid", "lab-kid-1",
                      "--eab-hmac-key-file", (*lab_ / "pebble/eab.key").string()}),
          absl::StrCat("init with ", pin_name));
    }
    // The EAB key file given where the PIN file goes.
    {
      std::string text = config_text;
      text.replace(text.find(user_pin_file), user_pin_file.size(),
                   (*lab_ / "pebble/eab.key").string());
      WriteFile(mistakes / "eab-as-pin.toml", text, 0600);
      ExpectFailure(RunCommand("signer-init-eab-as-pin",
                               {signer, "init", "--config", (mistakes / "eab-as-pin.toml").string(),
                                "--eab-kid", "lab-kid-1", "--eab-hmac-key-file",
                                (*lab_ / "pebble/eab.key").string()}),
                    "the EAB key file as PIN file");
    }
    // A front-door credential for web1, issued while serve runs (on a config copy that has
    // the front door; the lab's own config may already have it). Its stdout is the one place
    // the HMAC key may appear: it goes to a file outside the lab and the captures; stderr is
    // captured and searched like every other output.
    {
      std::string text = config_text;
      if (!absl::StrContains(text, "front_door")) {
        const std::string web1 = "name = \"web1\"";
        const size_t at = text.find(web1);
        ASSERT_NE(at, std::string::npos) << "no web1 agent in " << signer_config;
        text.insert(at + web1.size(), "\nfront_door = true");
      }
      if (!absl::StrContains(text, "[acme_server]")) {
        absl::StrAppend(&text, "\n[acme_server]\nlisten = \"127.0.0.1:0\"\n",
                        "external_url = \"https://127.0.0.1:14443\"\n", "tls_certificate = \"",
                        (*lab_ / "mistakes/fd.pem").string(), "\"\n", "tls_private_key = \"",
                        (*lab_ / "mistakes/fd.key").string(), "\"\n");
      }
      // Beside the lab's config: its relative state.dir must name the running signer's store.
      const fs::path copy = fs::path(signer_config).parent_path() / "front-door-copy.toml";
      WriteFile(copy, text, 0600);
      Expect(RunCommand(
                 "enroll-client",
                 {signer, "enroll-client", "--config", copy.string(), "--name", "web1", "--json"},
                 *root_ / "enroll-client.json"),
             0, "enroll-client");
    }
    // One-token enrolment (the lab's enroll_listen): the token is printed once, into a file
    // outside the lab, and redeemed from a copy of it by a second host whose files are in the
    // lab (agent2/); then redeemed again (refused).
    {
      Expect(RunCommand("enroll-token",
                        {signer, "enroll-agent", "--config", signer_config, "--name", "web1",
                         "--token", "--json"},
                        *root_ / "enroll-token.json"),
             0, "enroll-agent --token");
      const nlohmann::json made =
          nlohmann::json::parse(ReadAll(*root_ / "enroll-token.json"), nullptr, false);
      ASSERT_TRUE(made.is_object() && made.contains("token") && made.contains("ca_sha256"));
      WriteFile(*root_ / "enroll-token.txt", made["token"].get<std::string>(), 0600);
      const std::vector<std::string> enroll = {
          agent,
          "enroll",
          "--config",
          (*lab_ / "agent2/agent.toml").string(),
          "--signer",
          (*env_)["SIGNER_ENROLL_ADDRESS"],
          "--token-file",
          (*root_ / "enroll-token.txt").string(),
          "--ca-fingerprint",
          made["ca_sha256"].get<std::string>()};
      Expect(RunCommand("enroll-with-token", enroll), 0, "acme-agent enroll --token-file");
      Expect(RunCommand("enroll-token-reused", enroll), 3, "a used enrolment token");
    }
    ExpectFailure(
        RunCommand("signer-bad-flag", {signer, "serve", "--config", signer_config, "--pin", "x"}),
        "an unknown signer flag");
    ExpectFailure(RunCommand("signer-no-command", {signer}), "no command");
    Expect(RunCommand("audit-verify", {signer, "audit", "verify", "--config", signer_config}), 0,
           "audit verify");
    Expect(RunCommand("inventory", {signer, "inventory", "--config", signer_config}), 0,
           "inventory");
    Expect(RunCommand("certificates", {agent, "certificates", "--config", agent_config}), 0,
           "agent certificates");
  }

  // Runs `argv` with stdout and stderr captured together, or, with `stdout_path`, stdout there
  // and stderr alone in the capture.
  static CommandResult RunCommand(const std::string& name, const std::vector<std::string>& argv,
                                  const fs::path& stdout_path = {}) {
    const fs::path output = *captures_ / absl::StrCat(++commands_, "-", name, ".out");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (!stdout_path.empty()) {
      posix_spawn_file_actions_addopen(&actions, 1, stdout_path.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0600);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    CommandResult result;
    const int spawned = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
      result.output = absl::StrCat("cannot start ", argv[0], ": ", std::strerror(spawned));
      return result;
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.output = ReadAll(output);
    return result;
  }

  static void Expect(const CommandResult& result, int code, const std::string& what) {
    EXPECT_EQ(result.exit_code, code) << what << ":\n" << result.output;
  }
  static void ExpectFailure(const CommandResult& result, const std::string& what) {
    EXPECT_NE(result.exit_code, 0) << what << " was accepted:\n" << result.output;
    EXPECT_NE(result.exit_code, 128 + SIGABRT) << what << " crashed:\n" << result.output;
    EXPECT_NE(result.exit_code, 128 + SIGSEGV) << what << " crashed:\n" << result.output;
  }

  void SetUp() override {
    if (setup_problem_->empty()) return;
    if (setup_is_skip_ && std::getenv("CI") != nullptr &&
        std::string(std::getenv("CI")) == "true") {
      FAIL() << "CI=true: " << *setup_problem_;
    }
    if (setup_is_skip_) GTEST_SKIP() << *setup_problem_;
    FAIL() << *setup_problem_;
  }

  // Every secret of the lab with its needles.
  static std::vector<SecretNeedles> Secrets() {
    std::vector<SecretNeedles> secrets;
    for (const char* pin : {"user.pin", "so.pin"}) {
      const std::string value(absl::StripAsciiWhitespace(ReadAll(*lab_ / "hsm" / pin)));
      EXPECT_GE(value.size(), 8u) << pin;
      secrets.push_back({pin, *lab_ / "hsm" / pin, {{"text", value}}});
    }
    const std::string eab_text(absl::StripAsciiWhitespace(ReadAll(*lab_ / "pebble/eab.key")));
    std::string eab_raw;
    EXPECT_TRUE(absl::WebSafeBase64Unescape(eab_text, &eab_raw));
    EXPECT_EQ(eab_raw.size(), 32u);
    secrets.push_back(
        {"eab.key",
         *lab_ / "pebble/eab.key",
         {{"base64url", eab_text},
          {"raw bytes", eab_raw},
          {"base64", std::string(absl::StripSuffix(absl::Base64Escape(eab_raw), "="))},
          {"hex", absl::BytesToHexString(eab_raw)}}});
    // The front-door EAB HMAC key enroll-client printed (RunScenario).
    const fs::path enrolled = *root_ / "enroll-client.json";
    const nlohmann::json credential = nlohmann::json::parse(ReadAll(enrolled), nullptr, false);
    EXPECT_TRUE(credential.is_object() && credential.contains("eab_hmac_key")) << ReadAll(enrolled);
    if (credential.is_object() && credential.contains("eab_hmac_key") &&
        credential["eab_hmac_key"].is_string()) {
      const std::string fd_text = credential["eab_hmac_key"];
      std::string fd_raw;
      EXPECT_TRUE(absl::WebSafeBase64Unescape(fd_text, &fd_raw));
      EXPECT_EQ(fd_raw.size(), 32u);
      secrets.push_back(
          {"front-door EAB key",
           enrolled,
           {{"base64url", fd_text},
            {"raw bytes", fd_raw},
            {"base64", std::string(absl::StripSuffix(absl::Base64Escape(fd_raw), "="))},
            {"hex", absl::BytesToHexString(fd_raw)}}});
    }
    // The one-time enrolment token (RunScenario) and the key of the host that redeemed it.
    const fs::path token_file = *root_ / "enroll-token.json";
    const nlohmann::json token = nlohmann::json::parse(ReadAll(token_file), nullptr, false);
    EXPECT_TRUE(token.is_object() && token.contains("token")) << ReadAll(token_file);
    if (token.is_object() && token.contains("token") && token["token"].is_string()) {
      const std::string text = token["token"];
      secrets.push_back({"enrolment token",
                         token_file,
                         {{"text", text}, {"random part", text.substr(text.find('-', 5) + 1)}}});
    }
    secrets.push_back(
        PrivateKeyNeedles("second host identity key", *lab_ / "agent2/identity/agent.key"));
    secrets.push_back(PrivateKeyNeedles("agent identity key", *lab_ / "agent/identity/agent.key"));
    secrets.push_back(PrivateKeyNeedles("signer TLS key", *lab_ / "signer/tls/server.key"));
    const fs::path archive = *lab_ / "agent/certs/archive";
    int certificate_keys = 0;
    if (fs::exists(archive)) {
      for (const auto& entry : fs::recursive_directory_iterator(archive)) {
        if (entry.is_regular_file() &&
            absl::StartsWith(entry.path().filename().string(), "privkey")) {
          secrets.push_back(PrivateKeyNeedles(
              absl::StrCat("certificate key ", fs::relative(entry.path(), *lab_).string()),
              entry.path()));
          ++certificate_keys;
        }
      }
    }
    EXPECT_GE(certificate_keys, 1) << "no certificate private key under " << archive;
    return secrets;
  }

  // Whether the file at `relative` (to the lab dir) may hold `secret`.
  static bool MayHold(const std::string& relative, const std::string& secret) {
    if (absl::StartsWith(relative, "hsm/tokens/")) return true;  // SoftHSM2's own store
    static const std::map<std::string, std::vector<std::string>> kAllowed = {
        {"hsm/user.pin", {"user.pin"}},
        {"hsm/so.pin", {"so.pin"}},
        {"pebble/eab.key", {"eab.key"}},
        {"pebble/pebble.json", {"eab.key"}},  // Pebble must know the EAB key
        {"agent/identity/agent.key", {"agent identity key"}},
        {"agent2/identity/agent.key", {"second host identity key"}},
        {"signer/tls/server.key", {"signer TLS key"}},
        // The test's own deliberate mistakes.
        {"mistakes/so-as-user.pin", {"so.pin"}},
        {"mistakes/world-readable.pin", {"user.pin"}},
    };
    if (auto it = kAllowed.find(relative); it != kAllowed.end()) {
      return std::find(it->second.begin(), it->second.end(), secret) != it->second.end();
    }
    return secret == absl::StrCat("certificate key ", relative);
  }

  static std::vector<std::string> Hits(const std::string& where, const std::string& content,
                                       const std::vector<SecretNeedles>& secrets,
                                       const std::string& relative_for_allowance) {
    std::vector<std::string> hits;
    for (const SecretNeedles& secret : secrets) {
      if (!relative_for_allowance.empty() && MayHold(relative_for_allowance, secret.name)) continue;
      for (const auto& [what, bytes] : secret.needles) {
        if (!bytes.empty() && content.find(bytes) != std::string::npos) {
          hits.push_back(absl::StrCat(where, ": ", secret.name, " (", what, ")"));
        }
      }
    }
    return hits;
  }

  static std::string SignerPid() { return (*env_)["SIGNER_PID"]; }

  static inline std::string* setup_problem_ = new std::string;
  static inline bool setup_is_skip_ = false;
  static inline bool lab_started_ = false;
  static inline fs::path* root_ = new fs::path;
  static inline fs::path* lab_ = new fs::path;
  static inline fs::path* captures_ = new fs::path;
  static inline std::map<std::string, std::string>* env_ = new std::map<std::string, std::string>;
  static inline int commands_ = 0;
};

// The control: the needles do find each secret in the file that holds it, so an empty result
// below means "not there", not "searched for the wrong bytes".
TEST_F(SecretLeakTest, EverySecretIsFoundInItsOwnFile) {
  for (const SecretNeedles& secret : Secrets()) {
    EXPECT_FALSE(secret.needles.empty()) << secret.name;
    EXPECT_THAT(Hits(secret.source.string(), ReadAll(secret.source), {secret}, ""), Not(IsEmpty()))
        << secret.name;
  }
}

TEST_F(SecretLeakTest, NoSecretAppearsInAnyLabFileOutsideItsOwnFile) {
  const std::vector<SecretNeedles> secrets = Secrets();
  std::vector<std::string> hits;
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(*lab_)) {
    // Symlinks (live/ -> archive/) are searched through their targets.
    if (entry.is_symlink() || !entry.is_regular_file()) continue;
    ++files;
    const std::string relative = fs::relative(entry.path(), *lab_).string();
    for (std::string& hit : Hits(relative, ReadAll(entry.path()), secrets, relative)) {
      hits.push_back(std::move(hit));
    }
  }
  EXPECT_GT(files, 20);
  EXPECT_TRUE(fs::exists(*lab_ / "signer/audit/audit.log"));
  EXPECT_THAT(hits, IsEmpty());
}

TEST_F(SecretLeakTest, NoSecretAppearsInAnyCommandOutput) {
  const std::vector<SecretNeedles> secrets = Secrets();
  std::vector<std::string> hits;
  int outputs = 0;
  for (const auto& entry : fs::directory_iterator(*captures_)) {
    ++outputs;
    for (std::string& hit :
         Hits(entry.path().filename().string(), ReadAll(entry.path()), secrets, "")) {
      hits.push_back(std::move(hit));
    }
  }
  EXPECT_GE(outputs, 12);
  EXPECT_THAT(hits, IsEmpty());
}

TEST_F(SecretLeakTest, SignerArgvAndEnvironmentHoldNoSecret) {
  ASSERT_FALSE(SignerPid().empty());
  const fs::path proc = fs::path("/proc") / SignerPid();
  const std::string cmdline = ReadAll(proc / "cmdline");
  ASSERT_TRUE(absl::StrContains(cmdline, "serve")) << "pid " << SignerPid() << " is not the signer";
  const std::string environment = ReadAll(proc / "environ");
  EXPECT_FALSE(environment.empty());
  const std::vector<SecretNeedles> secrets = Secrets();
  EXPECT_THAT(Hits("signer cmdline", cmdline, secrets, ""), IsEmpty());
  EXPECT_THAT(Hits("signer environ", environment, secrets, ""), IsEmpty());
}

TEST_F(SecretLeakTest, SignerRunsWithCoreDumpsDisabled) {
  ASSERT_FALSE(SignerPid().empty());
  // A core dump would hold the PIN the signer keeps for re-login. process_hardening sets
  // RLIMIT_CORE to 0 (and PR_SET_DUMPABLE 0, which /proc does not show to root).
  const std::string limits = ReadAll(fs::path("/proc") / SignerPid() / "limits");
  std::string core_line;
  for (absl::string_view line : absl::StrSplit(limits, '\n')) {
    if (absl::StartsWith(line, "Max core file size")) core_line = std::string(line);
  }
  ASSERT_FALSE(core_line.empty()) << limits;
  const std::vector<std::string> fields =
      absl::StrSplit(core_line.substr(std::strlen("Max core file size")), ' ', absl::SkipEmpty());
  ASSERT_GE(fields.size(), 2u) << core_line;
  EXPECT_EQ(fields[0], "0") << core_line;  // soft
  EXPECT_EQ(fields[1], "0") << core_line;  // hard
}

}  // namespace
}  // namespace acme_signer::security
