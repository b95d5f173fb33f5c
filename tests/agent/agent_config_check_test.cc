#include "agent/config_check.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace acme_signer::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class AgentConfigCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/agent_config_check_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = std::filesystem::path(pattern).lexically_normal().string();
    std::filesystem::create_directories(dir_ + "/identity");
    std::filesystem::create_directories(dir_ + "/renewal");
    Write("identity/signer-ca.pem", "x\n", 0644);
    Write("identity/agent.key", "x\n", 0600);
    Write("identity/agent.pem", "x\n", 0644);
    Write("renewal/www.example.com.conf",
          "version = \"0.1.0\"\n[renewalparams]\ndomains = [\"www.example.com\"]\n", 0644);
    source_ = dir_ + "/agent.toml";
    text_ = absl::StrCat("config_dir = \"", dir_, "\"\n",                             // 1
                         "[signer]\n",                                                // 2
                         "address = \"127.0.0.1:7443\"\n",                            // 3
                         "ca = \"", dir_, "/identity/signer-ca.pem\"\n",             // 4
                         "[identity]\n",                                              // 5
                         "trust_domain = \"dept.example\"\n",                         // 6
                         "name = \"web1\"\n",                                         // 7
                         "key = \"", dir_, "/identity/agent.key\"\n",                // 8
                         "cert = \"", dir_, "/identity/agent.pem\"\n");              // 9
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& content, mode_t mode) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }

  std::string dir_;
  std::string source_;
  std::string text_;
};

TEST_F(AgentConfigCheckTest, GoodConfigHasNoProblemAndASummary) {
  const AgentConfigCheckResult result = CheckAgentConfig(text_, source_, std::nullopt);
  EXPECT_THAT(result.problems, IsEmpty());
  EXPECT_THAT(result.summary,
              ElementsAre(absl::StrCat("signer: 127.0.0.1:7443 (CA ", dir_,
                                       "/identity/signer-ca.pem)"),
                          "identity: spiffe://dept.example/agent/web1",
                          absl::StrCat("certificates: 1 renewal config(s) in ", dir_,
                                       "/renewal")));
}

TEST_F(AgentConfigCheckTest, ListsFileAndRenewalConfigProblemsWithTheirLines) {
  std::filesystem::remove(dir_ + "/identity/signer-ca.pem");
  ASSERT_EQ(::chmod((dir_ + "/identity/agent.key").c_str(), 0644), 0);
  std::filesystem::remove(dir_ + "/identity/agent.pem");
  Write("renewal/bad.conf",
        "version = \"0.1.0\"\n[renewalparams]\ndomains = [\"b.example.com\"]\nbogus = 1\n", 0644);
  const AgentConfigCheckResult result = CheckAgentConfig(text_, source_, std::nullopt);
  ASSERT_EQ(result.problems.size(), 4u) << ::testing::PrintToString(result.problems);
  EXPECT_EQ(result.problems[0], absl::StrCat(source_, ":4: signer.ca: ", dir_,
                                             "/identity/signer-ca.pem: does not exist"));
  EXPECT_EQ(result.problems[1],
            absl::StrCat(source_, ":8: identity.key: ", dir_,
                         "/identity/agent.key: is mode 0644: must not be accessible by group or "
                         "others (chmod 600)"));
  EXPECT_EQ(result.problems[2],
            absl::StrCat(source_, ":9: identity.cert: ", dir_,
                         "/identity/agent.pem: does not exist (acme-agent enroll writes it)"));
  EXPECT_THAT(result.problems[3], HasSubstr(absl::StrCat(dir_, "/renewal/bad.conf:4: ")));
}

TEST_F(AgentConfigCheckTest, ConfigDirOverrideIsChecked) {
  const AgentConfigCheckResult result =
      CheckAgentConfig(text_, source_, dir_ + "/no-such-dir");
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0],
            absl::StrCat(source_, ": --config-dir: ", dir_, "/no-such-dir: does not exist"));
}

TEST_F(AgentConfigCheckTest, ParseProblemsAreListedEach) {
  const AgentConfigCheckResult result =
      CheckAgentConfig("[signer]\naddress = 7\n[identity]\nbogus = 1\n", source_, std::nullopt);
  EXPECT_GE(result.problems.size(), 3u) << ::testing::PrintToString(result.problems);
  EXPECT_THAT(result.problems[0], HasSubstr(absl::StrCat(source_, ":")));
  EXPECT_THAT(result.summary, IsEmpty());
}

}  // namespace
}  // namespace acme_signer::agent
