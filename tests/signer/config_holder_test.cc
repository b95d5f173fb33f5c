#include "signer/config_holder.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

  // Writes the config with extra [server] (and [acme]) lines and web1's orders_per_hour;
  // `tail` is appended after web1's entry (more web1 keys, then other tables).
  void Write(const std::string& server_lines, int orders_per_hour,
             const std::string& acme_lines = "", const std::string& tail = "") {
    std::string text = kConfig;
    text.replace(text.find("%SERVER%"), 8, server_lines);
    text.replace(text.find("%ACME%"), 6, acme_lines);
    text.replace(text.find("%ORDERS%"), 8, std::to_string(orders_per_hour));
    text += tail;
    ASSERT_TRUE(WriteFileAtomically(path_, text, 0600).ok());
  }

  // web1's front_door flag and an [acme_server] section with `changed` replacing the line of
  // the same key (or added).
  void WriteFrontDoor(int orders_per_hour, bool front_door,
                      const std::vector<std::string>& changed = {}) {
    std::vector<std::string> lines = {
        "listen = \"127.0.0.1:8443\"",
        "external_url = \"https://127.0.0.1:8443\"",
        "tls_certificate = \"tls/front-door.pem\"",
        "tls_private_key = \"tls/front-door.key\"",
        "validation_resolver = \"127.0.0.1:5353\"",
        "validation_http_port = 5002",
        "validation_allowed_networks = [\"127.0.0.0/8\"]",
        "upstream_dns01_hook = \"hooks/dns01\"",
    };
    for (const std::string& line : changed) {
      const std::string key = line.substr(0, line.find(' '));
      bool replaced = false;
      for (std::string& existing : lines) {
        if (existing.substr(0, existing.find(' ')) == key) {
          existing = line;
          replaced = true;
        }
      }
      if (!replaced) lines.push_back(line);
    }
    Write("", orders_per_hour, "",
          absl::StrCat("front_door = ", front_door ? "true" : "false", "\n\n[acme_server]\n",
                       absl::StrJoin(lines, "\n"), "\n"));
  }

  ConfigHolder Holder() {
    absl::StatusOr<SignerConfig> config = LoadSignerConfig(path_);
    EXPECT_TRUE(config.ok()) << config.status();
    return ConfigHolder(*std::move(config));
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

TEST_F(ConfigHolderTest, ReloadRefusesToAddChangeOrRemoveTheEnrolmentListener) {
  struct Case {
    const char* before;
    const char* after;
    const char* message;
  };
  for (const Case& c : {
           Case{"", "enroll_listen = \"127.0.0.1:7444\"\n", "from (none) to 127.0.0.1:7444"},
           Case{"enroll_listen = \"127.0.0.1:7444\"\n", "enroll_listen = \"127.0.0.1:7445\"\n",
                "from 127.0.0.1:7444 to 127.0.0.1:7445"},
           Case{"enroll_listen = \"127.0.0.1:7444\"\n", "", "from 127.0.0.1:7444 to (none)"},
       }) {
    SCOPED_TRACE(c.message);
    Write(c.before, 5);
    absl::StatusOr<SignerConfig> first = LoadSignerConfig(path_);
    ASSERT_TRUE(first.ok()) << first.status();
    ConfigHolder holder(*std::move(first));
    Write(c.after, 9);
    EXPECT_THAT(holder.Reload(path_),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr(absl::StrCat("server.enroll_listen changed ", c.message,
                                                ": the enrolment listener is opened only when "
                                                "serve starts; restart acme-signer"))));
    EXPECT_EQ(holder.Get()->FindAgent("web1")->orders_per_hour, 5);
  }
  // Unchanged, the policy reloads.
  Write("enroll_listen = \"127.0.0.1:7444\"\n", 5);
  absl::StatusOr<SignerConfig> first = LoadSignerConfig(path_);
  ASSERT_TRUE(first.ok()) << first.status();
  ConfigHolder holder(*std::move(first));
  Write("enroll_listen = \"127.0.0.1:7444\"\n", 9);
  ASSERT_TRUE(holder.Reload(path_).ok());
  EXPECT_EQ(holder.Get()->FindAgent("web1")->orders_per_hour, 9);
}

TEST_F(ConfigHolderTest, ReloadRefusesToChangeTheFrontDoorListener) {
  struct Change {
    std::string line;
    std::string message;
  };
  const std::vector<Change> changes = {
      {"listen = \"127.0.0.1:9443\"", "listen changed from 127.0.0.1:8443 to 127.0.0.1:9443"},
      {"external_url = \"https://signer.lab.test:8443\"",
       "external_url changed from https://127.0.0.1:8443 to https://signer.lab.test:8443"},
      {"tls_certificate = \"tls/other.pem\"", "tls_certificate changed from "},
      {"tls_private_key = \"tls/other.key\"", "tls_private_key changed from "},
      {"validation_resolver = \"127.0.0.1:5354\"",
       "validation_resolver changed from 127.0.0.1:5353 to 127.0.0.1:5354"},
      {"validation_http_port = 5003", "validation_http_port changed from 5002 to 5003"},
      {"validation_allowed_networks = [\"127.0.0.0/8\", \"::1/128\"]",
       "validation_allowed_networks changed from 127.0.0.0/8 to 127.0.0.0/8, ::1/128"},
      {"upstream_dns01_hook = \"hooks/other\"", "upstream_dns01_hook changed from "},
  };
  for (const Change& change : changes) {
    SCOPED_TRACE(change.line);
    WriteFrontDoor(5, true);
    ConfigHolder holder = Holder();
    WriteFrontDoor(9, true, {change.line});
    EXPECT_THAT(holder.Reload(path_),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr(absl::StrCat("restart acme-signer to change the front door: "
                                                "[acme_server] ",
                                                change.message))));
    EXPECT_EQ(holder.Get()->FindAgent("web1")->orders_per_hour, 5);
  }
  // The paths in the message are the resolved ones.
  WriteFrontDoor(5, true);
  ConfigHolder holder = Holder();
  WriteFrontDoor(5, true, {"tls_certificate = \"tls/other.pem\""});
  EXPECT_THAT(holder.Reload(path_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat("from ", dir_, "/tls/front-door.pem to ", dir_,
                                              "/tls/other.pem"))));
}

TEST_F(ConfigHolderTest, ReloadRefusesToAddOrRemoveTheFrontDoor) {
  Write("", 5);
  ConfigHolder without = Holder();
  WriteFrontDoor(9, true);
  EXPECT_THAT(without.Reload(path_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("restart acme-signer to change the front door: "
                                 "[acme_server] added")));
  EXPECT_FALSE(without.Get()->acme_server.has_value());

  WriteFrontDoor(5, true);
  ConfigHolder with = Holder();
  Write("", 9);
  EXPECT_THAT(with.Reload(path_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("restart acme-signer to change the front door: "
                                 "[acme_server] removed")));
  EXPECT_TRUE(with.Get()->acme_server.has_value());
}

TEST_F(ConfigHolderTest, ReloadAppliesTheHostsFrontDoorFlagsAndPolicies) {
  WriteFrontDoor(5, false);
  ConfigHolder holder = Holder();
  EXPECT_FALSE(holder.Get()->FindAgent("web1")->front_door);
  WriteFrontDoor(9, true);
  ASSERT_TRUE(holder.Reload(path_).ok());
  const std::shared_ptr<const SignerConfig> config = holder.Get();
  EXPECT_TRUE(config->FindAgent("web1")->front_door);
  EXPECT_EQ(config->FindAgent("web1")->orders_per_hour, 9);
  ASSERT_TRUE(config->acme_server.has_value());
}

}  // namespace
}  // namespace acme_signer::signer
