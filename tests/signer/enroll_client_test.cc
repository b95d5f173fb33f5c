// `acme-signer enroll-client` as an operator runs it: the real binary, a SoftHSM2 token and a
// state store, with the master key created by the first enroll-client (a signer initialised
// before the front door existed). The printed HMAC key must be what the token derives for the
// printed key id, and must appear nowhere but on stdout.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/base64url.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/module.h"
#include "hsm/token.h"
#include "nlohmann/json.hpp"
#include "signer/frontdoor/credentials.h"
#include "signer/state_store.h"
#include "tests/testing/child_process.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer::signer {
namespace {

namespace fs = std::filesystem;
using ::acme_signer::testing::ChildOptions;
using ::acme_signer::testing::ChildResult;
using ::acme_signer::testing::RunChild;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void Write(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

class EnrollClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!::acme_signer::testing::SoftHsmAvailable().ok()) return;
    auto token = ::acme_signer::testing::CreateSoftHsmToken("enroll-client");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new ::acme_signer::testing::SoftHsmToken(*token);
    char tmpl[] = "/tmp/enroll_client_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = new std::string(tmpl);
    const std::string common = absl::StrCat(R"([server]
tls_cert = "tls/server.pem"
tls_key = "tls/server.key"
agent_ca_cert = "tls/agent-ca.pem"
trust_domain = "dept.example"

[acme]
directory_url = "https://ca.test/dir"

[hsm]
module = "softhsm2"
token_uri = ")",
                                            token->uri, R"("
pin_file = ")",
                                            token->pin_file, R"("

[state]
dir = "state"

[audit]
log = "audit.log"

[[agents]]
name = "web1"
allowed_names = ["web1.dept.example"]
front_door = true

[[agents]]
name = "web2"
allowed_names = ["web2.dept.example"]

[[agents]]
name = "web3"
allowed_names = ["web3.dept.example"]
front_door = false
)");
    Write(*dir_ + "/signer.toml", absl::StrCat(common, R"(
[acme_server]
listen = "127.0.0.1:0"
external_url = "https://127.0.0.1:8443/"
tls_certificate = "tls/front-door.pem"
tls_private_key = "tls/front-door.key"
)"));
    Write(*dir_ + "/no-front-door.toml", common);
    // Two accounts; web1 may use both (default "ecc-ov"), web2 (now with the front door) only
    // "rsa-ov". Own state dir, so the credentials of the other tests are not counted.
    std::string accounts = absl::StrReplaceAll(
        common, {{"[acme]\ndirectory_url = \"https://ca.test/dir\"\n",
                  "[[accounts]]\nname = \"rsa-ov\"\ndirectory_url = \"https://ca.test/rsa\"\n\n"
                  "[[accounts]]\nname = \"ecc-ov\"\ndirectory_url = \"https://ca.test/ecc\"\n"},
                 {"dir = \"state\"", "dir = \"state-accounts\""},
                 {"allowed_names = [\"web1.dept.example\"]\nfront_door = true\n",
                  "allowed_names = [\"web1.dept.example\"]\nfront_door = true\n"
                  "accounts = [\"rsa-ov\", \"ecc-ov\"]\ndefault_account = \"ecc-ov\"\n"},
                 {"allowed_names = [\"web2.dept.example\"]\n",
                  "allowed_names = [\"web2.dept.example\"]\nfront_door = true\n"
                  "accounts = [\"rsa-ov\"]\n"}});
    Write(*dir_ + "/accounts.toml", absl::StrCat(accounts, R"(
[acme_server]
listen = "127.0.0.1:0"
external_url = "https://127.0.0.1:8443/"
tls_certificate = "tls/front-door.pem"
tls_private_key = "tls/front-door.key"
)"));
    // The state stores `acme-signer init` would have created: enroll-client, like every
    // command but init and migrate, opens an existing store and never creates its schema.
    for (const char* state : {"/state", "/state-accounts"}) {
      fs::create_directories(*dir_ + state);
      auto store = StateStore::Open(*dir_ + state + "/signer.db");
      ASSERT_TRUE(store.ok()) << store.status();
    }
  }
  static void TearDownTestSuite() {
    if (dir_ != nullptr && ::getenv("ACME_SIGNER_KEEP_TEST_DIR") == nullptr) fs::remove_all(*dir_);
    delete dir_;
    delete token_;
    dir_ = nullptr;
    token_ = nullptr;
  }
  void SetUp() override {
    ACME_SIGNER_REQUIRE_SOFTHSM();
    ASSERT_NE(dir_, nullptr);
  }

  static ChildResult Run(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {ACME_SIGNER_BIN, "enroll-client"};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildOptions options;
    options.scratch_dir = *dir_;
    options.timeout = absl::Seconds(60);
    return RunChild(argv, options);
  }
  static std::string Config() { return *dir_ + "/signer.toml"; }

  // The key the token derives for `kid` (loads the module for this call only, after the
  // child created the master key).
  static std::string Rederive(const std::string& kid) {
    auto module = hsm::Module::Load(::acme_signer::testing::kSoftHsmModule);
    EXPECT_TRUE(module.ok()) << module.status();
    if (!module.ok()) return "";
    auto token = hsm::Token::Open(*module, token_->uri, token_->pin_file);
    EXPECT_TRUE(token.ok()) << token.status();
    if (!token.ok()) return "";
    auto master = frontdoor::OpenEabMasterKey(**token);
    EXPECT_TRUE(master.ok()) << master.status();
    if (!master.ok()) return "";
    auto key = frontdoor::DeriveEabHmacKey(**master, kid);
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? std::string(key->reveal()) : "";
  }

  // Every file under the test directory (state store, WAL, audit log, config) must not hold
  // `key_b64` nor the raw key bytes.
  static void ExpectNowhereOnDisk(const std::string& key_b64, const std::string& raw_key) {
    for (const auto& entry : fs::recursive_directory_iterator(*dir_)) {
      if (!entry.is_regular_file()) continue;
      const std::string content = ReadAll(entry.path());
      EXPECT_FALSE(absl::StrContains(content, key_b64)) << entry.path();
      EXPECT_FALSE(absl::StrContains(content, raw_key)) << entry.path();
    }
  }

  static ::acme_signer::testing::SoftHsmToken* token_;
  static std::string* dir_;
};

::acme_signer::testing::SoftHsmToken* EnrollClientTest::token_ = nullptr;
std::string* EnrollClientTest::dir_ = nullptr;

// "label:   value" lines of the text output.
std::string Field(const std::string& out, absl::string_view label) {
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    if (absl::ConsumePrefix(&line, label)) {
      return std::string(absl::StripLeadingAsciiWhitespace(line));
    }
  }
  return "";
}

TEST_F(EnrollClientTest, PrintsDirectoryKidAndTheDerivedKeyOnceAndStoresNoSecret) {
  // serve's connection to the store, open the whole time: it sees the new credential.
  fs::create_directories(*dir_ + "/state");
  auto serve_store = StateStore::Open(*dir_ + "/state/signer.db");
  ASSERT_TRUE(serve_store.ok()) << serve_store.status();

  const ChildResult first = Run({"--config", Config(), "--name", "web1"});
  ASSERT_EQ(first.exit_code, 0) << first;
  EXPECT_EQ(Field(first.out, "directory URL:"), "https://127.0.0.1:8443/directory");
  const std::string kid = Field(first.out, "EAB key id:");
  const std::string key_b64 = Field(first.out, "EAB HMAC key:");
  ASSERT_TRUE(IsBase64Url(kid)) << first.out;
  ASSERT_TRUE(IsBase64Url(key_b64)) << first.out;
  auto raw = DecodeBase64Url(key_b64, "printed key");
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->size(), 32u);
  EXPECT_EQ(*raw, Rederive(kid));
  EXPECT_THAT(first.err, Not(HasSubstr(key_b64)));

  // Each call issues another credential.
  const ChildResult second = Run({"--config", Config(), "--name", "web1"});
  ASSERT_EQ(second.exit_code, 0) << second;
  const std::string kid2 = Field(second.out, "EAB key id:");
  const std::string key2_b64 = Field(second.out, "EAB HMAC key:");
  EXPECT_NE(kid2, kid);
  EXPECT_NE(key2_b64, key_b64);
  EXPECT_THAT(second.err, Not(HasSubstr(key2_b64)));

  auto found = (*serve_store)->FindFrontDoorCredential(kid);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->host, "web1");
  EXPECT_FALSE((*found)->disabled);
  EXPECT_FALSE((*found)->account_thumbprint.has_value());
  auto listed = (*serve_store)->ListFrontDoorCredentials("web1");
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 2u);
  serve_store->reset();

  ExpectNowhereOnDisk(key_b64, *raw);
  ExpectNowhereOnDisk(key2_b64, *DecodeBase64Url(key2_b64, "printed key"));
}

TEST_F(EnrollClientTest, JsonHasExactlyTheFourKeys) {
  const ChildResult result = Run({"--config", Config(), "--name", "web1", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result;
  const nlohmann::json json = nlohmann::json::parse(result.out, nullptr, false);
  ASSERT_TRUE(json.is_object()) << result.out;
  ASSERT_EQ(json.size(), 4u) << result.out;
  ASSERT_TRUE(json.contains("directory_url") && json["directory_url"].is_string());
  // The legacy [acme] section is the account "default", every host's default.
  EXPECT_EQ(json.value("account", ""), "default");
  ASSERT_TRUE(json.contains("eab_kid") && json["eab_kid"].is_string());
  ASSERT_TRUE(json.contains("eab_hmac_key") && json["eab_hmac_key"].is_string());
  EXPECT_EQ(json["directory_url"], "https://127.0.0.1:8443/directory");
  const std::string kid = json["eab_kid"];
  const std::string key_b64 = json["eab_hmac_key"];
  auto raw = DecodeBase64Url(key_b64, "printed key");
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(*raw, Rederive(kid));
  EXPECT_THAT(result.err, Not(HasSubstr(key_b64)));
  ExpectNowhereOnDisk(key_b64, *raw);
}

TEST_F(EnrollClientTest, ACredentialBelongsToTheChosenOrDefaultAccountTheHostMayUse) {
  const std::string config = *dir_ + "/accounts.toml";
  const ChildResult by_default = Run({"--config", config, "--name", "web1", "--json"});
  ASSERT_EQ(by_default.exit_code, 0) << by_default;
  const nlohmann::json first = nlohmann::json::parse(by_default.out, nullptr, false);
  ASSERT_TRUE(first.is_object()) << by_default.out;
  EXPECT_EQ(first.value("account", ""), "ecc-ov");
  const ChildResult pinned = Run({"--config", config, "--name", "web1", "--account", "rsa-ov"});
  ASSERT_EQ(pinned.exit_code, 0) << pinned;
  EXPECT_THAT(pinned.out, HasSubstr("issued for host web1, account rsa-ov"));
  const std::string pinned_kid = Field(pinned.out, "EAB key id:");

  // Refused: an account the host may not use, and one the signer does not have.
  const ChildResult not_allowed =
      Run({"--config", config, "--name", "web2", "--account", "ecc-ov"});
  EXPECT_EQ(not_allowed.exit_code, 1) << not_allowed;
  EXPECT_THAT(not_allowed.err,
              HasSubstr("host web2 may not use account \"ecc-ov\" (its [[agents]] entry in"));
  EXPECT_THAT(not_allowed.err, HasSubstr("allows: rsa-ov)"));
  EXPECT_THAT(not_allowed.out, IsEmpty());
  const ChildResult unknown = Run({"--config", config, "--name", "web1", "--account", "nosuch"});
  EXPECT_EQ(unknown.exit_code, 1) << unknown;
  EXPECT_THAT(unknown.err, HasSubstr("no [[accounts]] entry named \"nosuch\""));
  EXPECT_THAT(unknown.out, IsEmpty());

  // The store keeps each credential's account; nothing was recorded for the refusals.
  auto store = StateStore::Open(*dir_ + "/state-accounts/signer.db");
  ASSERT_TRUE(store.ok()) << store.status();
  auto by_kid = (*store)->FindFrontDoorCredential(first.value("eab_kid", ""));
  ASSERT_TRUE(by_kid.ok() && by_kid->has_value());
  EXPECT_EQ((*by_kid)->account, "ecc-ov");
  by_kid = (*store)->FindFrontDoorCredential(pinned_kid);
  ASSERT_TRUE(by_kid.ok() && by_kid->has_value());
  EXPECT_EQ((*by_kid)->account, "rsa-ov");
  auto web2 = (*store)->ListFrontDoorCredentials("web2");
  ASSERT_TRUE(web2.ok()) << web2.status();
  EXPECT_THAT(*web2, IsEmpty());
}

TEST_F(EnrollClientTest, RefusesUnknownHostsHostsWithoutFrontDoorAndAMissingAcmeServer) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::string no_front_door = *dir_ + "/no-front-door.toml";
  const Case cases[] = {
      {{"--config", Config(), "--name", "nobody"}, "host nobody has no [[agents]] entry"},
      {{"--config", Config(), "--name", "web2"}, "does not have front_door = true"},
      {{"--config", Config(), "--name", "web3"}, "does not have front_door = true"},
      {{"--config", no_front_door, "--name", "web1"}, "has no [acme_server] section"},
      {{"--config", Config(), "--name", "Bad_Name"}, "agent name"},
  };
  for (const Case& c : cases) {
    const ChildResult result = Run(c.args);
    EXPECT_EQ(result.exit_code, 1) << result;
    EXPECT_THAT(result.err, HasSubstr("acme-signer enroll-client: ")) << result;
    EXPECT_THAT(result.err, HasSubstr(c.message)) << result;
    EXPECT_THAT(result.out, IsEmpty()) << result;
  }
  // Nothing was issued for them.
  auto store = StateStore::Open(*dir_ + "/state/signer.db");
  ASSERT_TRUE(store.ok()) << store.status();
  for (const char* host : {"nobody", "web2", "web3"}) {
    auto listed = (*store)->ListFrontDoorCredentials(host);
    ASSERT_TRUE(listed.ok());
    EXPECT_THAT(*listed, IsEmpty()) << host;
  }
  // Usage errors are exit code 2, like every subcommand.
  const ChildResult usage = Run({"--config", Config()});
  EXPECT_EQ(usage.exit_code, 2) << usage;
}

}  // namespace
}  // namespace acme_signer::signer
