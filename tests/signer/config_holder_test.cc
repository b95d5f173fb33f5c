#include "signer/config_holder.h"

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer {
namespace {

using ::testing::HasSubstr;
using testing::StatusIs;

constexpr char kConfig[] = R"([server]
tls_cert = "tls/server.pem"
tls_key = "tls/server.key"
agent_ca_cert = "tls/agent-ca.pem"
trust_domain = "dept.example"
%SERVER%
[acme]
directory_url = "https://ca.example/dir"
%ACME%

[hsm]
module = "softhsm2"
pin_file = "hsm.pin"

[state]
dir = "state"

[audit]
log = "audit.log"

[[agents]]
name = "web1"
allowed_names = ["www.dept.example"]
orders_per_hour = %ORDERS%
)";

class ConfigHolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/config_holder_test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    path_ = dir_ + "/acme-signer.toml";
  }
  void TearDown() override { std::system(absl::StrCat("rm -rf '", dir_, "'").c_str()); }

  // Writes the config with extra [server] (and [acme]) lines and web1's orders_per_hour.
  void Write(const std::string& server_lines, int orders_per_hour,
             const std::string& acme_lines = "") {
    std::string text = kConfig;
    text.replace(text.find("%SERVER%"), 8, server_lines);
    text.replace(text.find("%ACME%"), 6, acme_lines);
    text.replace(text.find("%ORDERS%"), 8, std::to_string(orders_per_hour));
    ASSERT_TRUE(WriteFileAtomically(path_, text, 0600).ok());
  }

  std::string dir_;
  std::string path_;
};

TEST_F(ConfigHolderTest, ReloadAppliesAPolicyChange) {
  Write("", 5);
  absl::StatusOr<SignerConfig> first = LoadSignerConfig(path_);
  ASSERT_TRUE(first.ok()) << first.status();
  ConfigHolder holder(*std::move(first));
  Write("", 9);
  ASSERT_TRUE(holder.Reload(path_).ok());
  EXPECT_EQ(holder.Get()->FindAgent("web1")->orders_per_hour, 9);
}

TEST_F(ConfigHolderTest, ReloadRefusesToChangeGrpcServerLimitsThatNeedARestart) {
  for (const char* line :
       {"max_message_bytes = 2097152", "max_concurrent_rpcs = 8", "handshake_timeout_ms = 2000"}) {
    SCOPED_TRACE(line);
    Write("", 5);
    absl::StatusOr<SignerConfig> first = LoadSignerConfig(path_);
    ASSERT_TRUE(first.ok()) << first.status();
    ConfigHolder holder(*std::move(first));
    Write(absl::StrCat(line, "\n"), 9);
    const std::string key(line, std::string(line).find(' '));
    EXPECT_THAT(holder.Reload(path_),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr(absl::StrCat(
                             "server.", key, " changed: it takes effect only after a restart"))));
    // The old config, policy included, stays in force.
    EXPECT_EQ(holder.Get()->FindAgent("web1")->orders_per_hour, 5);
  }
}

TEST_F(ConfigHolderTest, ReloadRefusesToChangeTheCaRequestTimeout) {
  Write("", 5);
  absl::StatusOr<SignerConfig> first = LoadSignerConfig(path_);
  ASSERT_TRUE(first.ok()) << first.status();
  ConfigHolder holder(*std::move(first));
  Write("", 9, "request_timeout_ms = 5000\n");
  EXPECT_THAT(holder.Reload(path_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("acme.request_timeout_ms changed: it takes effect only after a "
                                 "restart")));
  EXPECT_EQ(holder.Get()->FindAgent("web1")->orders_per_hour, 5);
}

}  // namespace
}  // namespace acme_signer::signer
