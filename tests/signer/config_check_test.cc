#include "signer/config_check.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace acme_signer::signer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Paths are relative to the config file's directory, which the fixture fills.
constexpr char kConfig[] = R"([server]
tls_cert = "tls/server.pem"
tls_key = "tls/server.key"
agent_ca_cert = "tls/agent-ca.pem"
trust_domain = "dept.example"

[acme]
directory_url = "https://ca.example/dir"
ca_bundle = "ca-bundle.pem"

[hsm]
module = "softhsm2"
pin_file = "hsm.pin"

[state]
dir = "state"
replica = "r1"

[audit]
log = "audit/audit.log"

[[agents]]
name = "web1"
allowed_names = ["www.dept.example"]
)";

// ":<line>: " of the first line of `text` containing `needle`.
std::string At(const std::string& text, const std::string& needle) {
  const size_t pos = text.find(needle);
  EXPECT_NE(pos, std::string::npos) << needle;
  int line = 1;
  for (size_t i = 0; i < pos && i < text.size(); ++i) line += text[i] == '\n';
  return absl::StrCat(":", line, ": ");
}

class SignerConfigCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/config_check_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = std::filesystem::path(pattern).lexically_normal().string();
    std::filesystem::create_directories(dir_ + "/tls");
    std::filesystem::create_directories(dir_ + "/state");
    std::filesystem::create_directories(dir_ + "/audit");
    Write("tls/server.pem", 0644);
    Write("tls/server.key", 0600);
    Write("tls/agent-ca.pem", 0644);
    Write("ca-bundle.pem", 0644);
    Write("hsm.pin", 0400);
    source_ = dir_ + "/acme-signer.toml";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, mode_t mode) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << "x\n";
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }

  std::string dir_;
  std::string source_;
};

TEST_F(SignerConfigCheckTest, GoodConfigHasNoProblemAndASummary) {
  const ConfigCheckResult result = CheckSignerConfig(kConfig, source_);
  EXPECT_THAT(result.problems, IsEmpty());
  ASSERT_EQ(result.summary.size(), 4u);
  EXPECT_EQ(result.summary[0], "agents: 1 (web1)");
  EXPECT_EQ(result.summary[1], "accounts: 1 (default https://ca.example/dir)");
  EXPECT_EQ(result.summary[2], "listeners: agents (gRPC, mTLS) 127.0.0.1:7443");
  EXPECT_THAT(result.summary[3], HasSubstr("replica r1"));
}

TEST_F(SignerConfigCheckTest, ListsEveryFileProblemWithItsLine) {
  ASSERT_EQ(::chmod((dir_ + "/tls/server.key").c_str(), 0644), 0);
  ASSERT_EQ(::chmod((dir_ + "/hsm.pin").c_str(), 0640), 0);
  std::filesystem::remove(dir_ + "/ca-bundle.pem");
  std::filesystem::remove(dir_ + "/tls/agent-ca.pem");
  std::filesystem::remove_all(dir_ + "/state");
  std::filesystem::remove_all(dir_ + "/audit");
  const ConfigCheckResult result = CheckSignerConfig(kConfig, source_);
  EXPECT_THAT(
      result.problems,
      ElementsAre(
          absl::StrCat(source_, At(kConfig, "tls_key"), "server.tls_key: ", dir_,
                       "/tls/server.key: is mode 0644: must not be accessible by group or "
                       "others (chmod 600)"),
          absl::StrCat(source_, At(kConfig, "agent_ca_cert"), "server.agent_ca_cert: ", dir_,
                       "/tls/agent-ca.pem: does not exist (acme-signer init writes it)"),
          absl::StrCat(source_, At(kConfig, "pin_file"), "hsm.pin_file: ", dir_,
                       "/hsm.pin: is mode 0640: must not be accessible by group or others "
                       "(chmod 600)"),
          absl::StrCat(source_, At(kConfig, "ca_bundle"), "acme.ca_bundle: ", dir_, "/ca-bundle.pem: does not exist"),
          absl::StrCat(source_, At(kConfig, "dir = "), "state.dir: ", dir_, "/state: does not exist"),
          absl::StrCat(source_, At(kConfig, "log = "), "audit.log: its directory ", dir_,
                       "/audit: does not exist")));
}

TEST_F(SignerConfigCheckTest, AccountsAreNamedByTheirIndex) {
  std::string text = absl::StrReplaceAll(
      kConfig, {{"[acme]\n", "[[accounts]]\nname = \"a\"\n"}});
  text += "\n[[accounts]]\nname = \"b\"\ndirectory_url = \"https://ca.example/b\"\n"
          "ca_bundle = \"missing.pem\"\nkey = \"pkcs11:object=k-b\"\neab_key = \"pkcs11:object=e-b\"\n";
  const ConfigCheckResult result = CheckSignerConfig(text, source_);
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0], absl::StrCat(source_, At(text, "missing.pem"), "accounts[1].ca_bundle: ", dir_,
                                             "/missing.pem: does not exist"));
}

TEST_F(SignerConfigCheckTest, ParseProblemsComeOnePerLineWithoutTheHeader) {
  const std::string text = absl::StrReplaceAll(
      kConfig, {{"trust_domain = \"dept.example\"", "trust_domain = 7"},
                {"name = \"web1\"", "name = \"Web 1\""}});
  const ConfigCheckResult result = CheckSignerConfig(text, source_);
  ASSERT_EQ(result.problems.size(), 2u) << testing::PrintToString(result.problems);
  EXPECT_THAT(result.problems[0], HasSubstr(absl::StrCat(source_, At(text, "trust_domain"), "server.trust_domain: ")));
  EXPECT_THAT(result.problems[1], HasSubstr(absl::StrCat(source_, At(text, "Web 1"), "agents[0].name: ")));
}

}  // namespace
}  // namespace acme_signer::signer
