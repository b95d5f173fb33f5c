// End to end for several signer accounts on the host side (issue 15): the REAL acme-agent
// against a SignerLab with two [[accounts]] at the lab's Pebble, told apart by their directory
// URLs ("rsa" at https://127.0.0.1:PORT/dir, "ecc" at https://localhost:PORT/dir):
//  - `acme-agent account` lists the accounts an agent may use (text and --json);
//  - `certonly --server URL` (with and without a trailing /) and `--account NAME` choose the
//    account the order is made with (checked in the signer's audit log: the CreateOrder
//    record's "account"), the choice is stored in renewal/NAME.conf, `certificates` shows it,
//    and `renew --force-renewal` keeps it; `reconfigure --server URL` moves a lineage;
//  - an unknown --server exits 2 listing the directory URLs this agent may use; --server and
//    --account naming different accounts exit 2;
//  - an agent allowed only "rsa" is refused "ecc": by the agent (exit 2, the list) and, for a
//    renewal config that names it, by the signer (exit 3, a deny record with "account");
//  - direct mode (SignJws) with the non-default account: every JWS is signed by "ecc".
// Each test uses its own --config-dir, so they run in any order.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/child_process.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::SignerLab;

constexpr char kBoth[] = "both1";  // may use rsa (its default) and ecc
constexpr char kOnly[] = "only1";  // may use rsa only
constexpr char kBase[] = "accounts.example.test";
constexpr absl::Duration kAgentTimeout = absl::Minutes(3);

std::string FileOrEmpty(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path, 1 << 20);
  return content.ok() ? *content : std::string();
}

// Whether audit record `r` is about `name` (one of its request's identifiers).
bool Names(const nlohmann::json& r, absl::string_view name) {
  const nlohmann::json request = r.value("request", nlohmann::json::object());
  for (const nlohmann::json& id : request.value("identifiers", nlohmann::json::array())) {
    if (id.is_string() && absl::StrContains(id.get<std::string>(), name)) return true;
  }
  return false;
}

class AgentAccountsTest : public testing::SignerLabSuite<AgentAccountsTest> {
 public:
  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    options.accounts = {{"rsa", "kid-1", "127.0.0.1", "ec-p256"},
                        {"ecc", "kid-2", "localhost", "ec-p256"}};
    testing::LabAgentPolicy both;
    both.name = kBoth;
    both.allowed_names = {kBase, absl::StrCat("**.", kBase)};
    both.orders_per_hour = 500;
    both.allow_sign_jws = true;  // direct mode
    both.accounts = {"rsa", "ecc"};
    both.default_account = "rsa";
    testing::LabAgentPolicy only;
    only.name = kOnly;
    only.allowed_names = {kBase, absl::StrCat("**.", kBase)};
    only.orders_per_hour = 500;
    only.accounts = {"rsa"};
    only.default_account = "rsa";
    options.agents = {both, only};
    options.enroll = {kBoth, kOnly};
    return options;
  }

 protected:
  static void SetUpTestSuite() {
    SignerLabSuite::SetUpTestSuite();
    if (!lab_started()) return;
    std::string pattern = absl::StrCat(lab().dir(), "/accounts-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) {
      FailSuiteSetUp(ErrnoStatus(errno, "mkdtemp for the agents"));
      return;
    }
    dir_ = new std::string(pattern);
    for (const char* agent : {kBoth, kOnly}) {
      if (absl::Status s = WriteAgentConfig(agent); !s.ok()) FailSuiteSetUp(s);
    }
  }

  static void TearDownTestSuite() {
    SignerLabSuite::TearDownTestSuite();
    delete dir_;
    dir_ = nullptr;
  }

  static const std::string& dir() { return *dir_; }
  static std::string ConfigPath(absl::string_view agent) {
    return absl::StrCat(dir(), "/", agent, ".toml");
  }
  static std::string RsaUrl() { return lab().account_directory_url("rsa"); }
  static std::string EccUrl() { return lab().account_directory_url("ecc"); }

  // AGENT.toml (with [direct] trusting Pebble's TLS certificate).
  static absl::Status WriteAgentConfig(absl::string_view agent) {
    absl::StatusOr<agent::SignerConnection> connection = lab().Connection(agent);
    if (!connection.ok()) return connection.status();
    auto quoted = [](absl::string_view s) { return absl::StrCat("\"", s, "\""); };
    std::string text = absl::StrCat("config_dir = ", quoted(absl::StrCat(dir(), "/etc-", agent)),
                                    "\n\n[signer]\naddress = ", quoted(lab().signer_address()),
                                    "\nca = ", quoted(connection->ca_cert), "\n");
    if (!connection->server_name.empty()) {
      absl::StrAppend(&text, "tls_server_name = ", quoted(connection->server_name), "\n");
    }
    absl::StrAppend(&text, "\n[identity]\ntrust_domain = ", quoted(lab().trust_domain()),
                    "\nname = ", quoted(agent), "\nkey = ", quoted(connection->client_key),
                    "\ncert = ", quoted(connection->client_cert),
                    "\n\n[direct]\nca_bundle = ", quoted(lab().pebble().ca_bundle_path()),
                    "\n\n[defaults]\nhook_timeout_seconds = 60\n");
    return WriteFileAtomically(ConfigPath(agent), text, 0600);
  }

  // A config dir of the test's own (--config-dir), created empty.
  static std::string NewConfigDir(absl::string_view name) {
    const std::string path = absl::StrCat(dir(), "/", name);
    std::filesystem::create_directories(path);
    return path;
  }

  // `acme-agent COMMAND --config AGENT.toml --config-dir CONFIG_DIR ARGS...`
  static testing::ChildResult Agent(absl::string_view agent, absl::string_view command,
                                    const std::string& config_dir,
                                    const std::vector<std::string>& args) {
    std::vector<std::string> argv = {ACME_AGENT_BIN,    std::string(command), "--config",
                                     ConfigPath(agent), "--config-dir",       config_dir};
    argv.insert(argv.end(), args.begin(), args.end());
    testing::ChildOptions options;
    options.scratch_dir = dir();
    options.timeout = kAgentTimeout;
    return testing::RunChild(argv, options);
  }

  // certonly -d NAME --standalone (on the lab's http-01 port) EXTRA...
  static testing::ChildResult Certonly(absl::string_view agent, const std::string& config_dir,
                                       const std::string& name,
                                       const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"-d",
                                     name,
                                     "--standalone",
                                     "--http-01-address",
                                     "127.0.0.1",
                                     "--http-01-port",
                                     absl::StrCat(lab().http_port())};
    args.insert(args.end(), extra.begin(), extra.end());
    return Agent(agent, "certonly", config_dir, args);
  }

  static std::string Name(absl::string_view label) { return absl::StrCat(label, ".", kBase); }

  // The accounts of the allowed CreateOrder records for `name` after record number `from`.
  static std::vector<std::string> OrderAccounts(absl::string_view name, size_t from) {
    std::vector<nlohmann::json> events = AuditEvents();
    std::vector<std::string> accounts;
    for (size_t i = from; i < events.size(); ++i) {
      const nlohmann::json& r = events[i];
      if (r.value("rpc", "") == "CreateOrder" && r.value("decision", "") == "allow" &&
          Names(r, name)) {
        accounts.push_back(r.value("account", ""));
      }
    }
    return accounts;
  }

  static std::string RenewalConf(const std::string& config_dir, absl::string_view lineage) {
    return absl::StrCat(config_dir, "/renewal/", lineage, ".conf");
  }

  static std::string* dir_;
};

std::string* AgentAccountsTest::dir_ = nullptr;

TEST_F(AgentAccountsTest, AccountListsTheAccountsTheAgentMayUse) {
  const std::string etc = NewConfigDir("list");
  testing::ChildResult both = Agent(kBoth, "account", etc, {"--json"});
  ASSERT_EQ(both.exit_code, 0) << both;
  nlohmann::json out = nlohmann::json::parse(both.out, nullptr, false);
  ASSERT_TRUE(out.is_object()) << both.out;
  EXPECT_EQ(out.value("account", ""), "rsa");
  EXPECT_EQ(out.value("directory_url", ""), RsaUrl());
  ASSERT_TRUE(out["accounts"].is_array()) << both.out;
  ASSERT_EQ(out["accounts"].size(), 2u) << both.out;
  EXPECT_EQ(out["accounts"][0].value("name", ""), "rsa");
  EXPECT_EQ(out["accounts"][0].value("directory_url", ""), RsaUrl());
  EXPECT_TRUE(out["accounts"][0].value("default", false));
  EXPECT_EQ(out["accounts"][1].value("name", ""), "ecc");
  EXPECT_EQ(out["accounts"][1].value("directory_url", ""), EccUrl());
  EXPECT_FALSE(out["accounts"][1].value("default", true));

  testing::ChildResult text = Agent(kBoth, "account", etc, {});
  ASSERT_EQ(text.exit_code, 0) << text;
  EXPECT_THAT(text.out, HasSubstr("mutual TLS OK"));  // the output of before stays
  EXPECT_THAT(text.out, HasSubstr(absl::StrCat("rsa  ", RsaUrl(), "  (default)")));
  EXPECT_THAT(text.out, HasSubstr(absl::StrCat("ecc  ", EccUrl())));

  testing::ChildResult only = Agent(kOnly, "account", etc, {"--json"});
  ASSERT_EQ(only.exit_code, 0) << only;
  out = nlohmann::json::parse(only.out, nullptr, false);
  ASSERT_TRUE(out.is_object()) << only.out;
  ASSERT_EQ(out["accounts"].size(), 1u) << only.out;
  EXPECT_EQ(out["accounts"][0].value("name", ""), "rsa");
}

TEST_F(AgentAccountsTest, ServerSelectsTheAccountAndRenewalKeepsIt) {
  const std::string etc = NewConfigDir("server-ecc");
  const std::string name = Name("server");
  const size_t before = AuditEvents().size();
  // As the InCommon instructions spell it, here with a trailing '/'.
  testing::ChildResult issued =
      Certonly(kBoth, etc, name, {"--server", absl::StrCat(EccUrl(), "/")});
  ASSERT_EQ(issued.exit_code, 0) << issued << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_THAT(OrderAccounts(name, before), ::testing::ElementsAre("ecc"));
  const std::string conf = FileOrEmpty(RenewalConf(etc, name));
  EXPECT_THAT(conf, HasSubstr("account = 'ecc'"));
  EXPECT_THAT(conf, HasSubstr(absl::StrCat("server = '", EccUrl(), "'")));

  testing::ChildResult listed = Agent(kBoth, "certificates", etc, {});
  ASSERT_EQ(listed.exit_code, 0) << listed;
  EXPECT_THAT(listed.out, HasSubstr(absl::StrCat("Account: ecc (", EccUrl(), ")")));
  testing::ChildResult listed_json = Agent(kBoth, "certificates", etc, {"--json"});
  ASSERT_EQ(listed_json.exit_code, 0) << listed_json;
  nlohmann::json certificates = nlohmann::json::parse(listed_json.out, nullptr, false);
  ASSERT_TRUE(certificates.is_object()) << listed_json.out;
  ASSERT_EQ(certificates["certificates"].size(), 1u) << listed_json.out;
  EXPECT_EQ(certificates["certificates"][0].value("account", ""), "ecc");

  // The renewal keeps the account without being told again.
  const size_t before_renewal = AuditEvents().size();
  testing::ChildResult renewed =
      Agent(kBoth, "renew", etc, {"--cert-name", name, "--force-renewal"});
  ASSERT_EQ(renewed.exit_code, 0) << renewed << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_THAT(renewed.err + renewed.out, HasSubstr("renewed (version 2"));
  EXPECT_THAT(OrderAccounts(name, before_renewal), ::testing::ElementsAre("ecc"));
  EXPECT_THAT(FileOrEmpty(RenewalConf(etc, name)), HasSubstr("account = 'ecc'"));
}

TEST_F(AgentAccountsTest, AccountFlagSelectsByNameAndReconfigureServerMovesTheLineage) {
  const std::string etc = NewConfigDir("account-flag");
  const std::string name = Name("byname");
  size_t before = AuditEvents().size();
  testing::ChildResult issued = Certonly(kBoth, etc, name, {"--account", "ecc", "--json"});
  ASSERT_EQ(issued.exit_code, 0) << issued << "\nsigner log:\n" << lab().SignerLogTail();
  nlohmann::json result = nlohmann::json::parse(issued.out, nullptr, false);
  ASSERT_TRUE(result.is_object()) << issued.out;
  EXPECT_EQ(result.value("account", ""), "ecc");
  EXPECT_THAT(OrderAccounts(name, before), ::testing::ElementsAre("ecc"));

  // --server without a trailing '/' (the rsa account), on reconfigure: another account is
  // tested with a dry run first, then saved.
  before = AuditEvents().size();
  testing::ChildResult moved =
      Agent(kBoth, "reconfigure", etc, {"--cert-name", name, "--server", RsaUrl()});
  ASSERT_EQ(moved.exit_code, 0) << moved << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_THAT(moved.out + moved.err, HasSubstr("account 'ecc'"));
  EXPECT_THAT(OrderAccounts(name, before), ::testing::ElementsAre("rsa"));  // the dry run
  EXPECT_THAT(FileOrEmpty(RenewalConf(etc, name)), HasSubstr("account = 'rsa'"));

  before = AuditEvents().size();
  testing::ChildResult renewed =
      Agent(kBoth, "renew", etc, {"--cert-name", name, "--force-renewal"});
  ASSERT_EQ(renewed.exit_code, 0) << renewed << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_THAT(OrderAccounts(name, before), ::testing::ElementsAre("rsa"));
}

TEST_F(AgentAccountsTest, UnknownServerExitsTwoListingTheUsableDirectoryUrls) {
  const std::string etc = NewConfigDir("unknown-server");
  const std::string name = Name("unknown");
  const size_t before = AuditEvents().size();
  testing::ChildResult refused =
      Certonly(kBoth, etc, name, {"--server", "https://acme.example.invalid/v2/InCommonRSAOV"});
  EXPECT_EQ(refused.exit_code, 2) << refused;
  EXPECT_THAT(refused.err, HasSubstr("https://acme.example.invalid/v2/InCommonRSAOV"));
  EXPECT_THAT(refused.err, HasSubstr(RsaUrl()));
  EXPECT_THAT(refused.err, HasSubstr(EccUrl()));
  EXPECT_THAT(refused.err, HasSubstr("account rsa"));
  EXPECT_THAT(refused.err, HasSubstr("account ecc"));
  EXPECT_THAT(OrderAccounts(name, before), ::testing::IsEmpty());
  EXPECT_FALSE(std::filesystem::exists(RenewalConf(etc, name)));

  testing::ChildResult unknown_name = Certonly(kBoth, etc, name, {"--account", "nosuch"});
  EXPECT_EQ(unknown_name.exit_code, 2) << unknown_name;
  EXPECT_THAT(unknown_name.err, HasSubstr("--account nosuch"));
  EXPECT_THAT(unknown_name.err, HasSubstr(EccUrl()));

  testing::ChildResult disagree =
      Certonly(kBoth, etc, name, {"--server", RsaUrl(), "--account", "ecc"});
  EXPECT_EQ(disagree.exit_code, 2) << disagree;
  EXPECT_THAT(disagree.err, HasSubstr("name different accounts"));
  EXPECT_THAT(OrderAccounts(name, before), ::testing::IsEmpty());
}

TEST_F(AgentAccountsTest, AgentRestrictedToOneAccountIsRefusedTheOther) {
  const std::string etc = NewConfigDir("restricted");
  const std::string name = Name("restricted");
  // The agent knows what it may use: --account ecc is refused before any order, with the list.
  testing::ChildResult refused = Certonly(kOnly, etc, name, {"--account", "ecc"});
  EXPECT_EQ(refused.exit_code, 2) << refused;
  EXPECT_THAT(refused.err, HasSubstr(RsaUrl()));
  EXPECT_THAT(refused.err, Not(HasSubstr(EccUrl())));
  refused = Certonly(kOnly, etc, name, {"--server", EccUrl()});
  EXPECT_EQ(refused.exit_code, 2) << refused;
  EXPECT_THAT(refused.err, HasSubstr(RsaUrl()));

  // Without flags: its default account.
  size_t before = AuditEvents().size();
  testing::ChildResult issued = Certonly(kOnly, etc, name, {});
  ASSERT_EQ(issued.exit_code, 0) << issued << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_THAT(OrderAccounts(name, before), ::testing::ElementsAre("rsa"));
  EXPECT_THAT(FileOrEmpty(RenewalConf(etc, name)), Not(HasSubstr("account =")));

  // The signer decides: a renewal config that names "ecc" (edited by hand, or written before
  // the operator took "ecc" away) is refused by the signer, and audited.
  const std::string conf_path = RenewalConf(etc, name);
  std::string conf = FileOrEmpty(conf_path);
  ASSERT_THAT(conf, HasSubstr("[renewalparams]"));
  conf = absl::StrReplaceAll(conf, {{"[renewalparams]", "[renewalparams]\naccount = 'ecc'"}});
  ASSERT_TRUE(WriteFileAtomically(conf_path, conf, 0644).ok());
  before = AuditEvents().size();
  testing::ChildResult denied =
      Agent(kOnly, "renew", etc, {"--cert-name", name, "--force-renewal"});
  EXPECT_EQ(denied.exit_code, 3) << denied;
  EXPECT_THAT(denied.err, HasSubstr("may not use account \"ecc\""));
  EXPECT_THAT(denied.err, HasSubstr("reconfigure --cert-name"));
  const std::vector<nlohmann::json> events = AuditEvents();
  int deny_records = 0;
  for (size_t i = before; i < events.size(); ++i) {
    const nlohmann::json& r = events[i];
    if (r.value("agent", "") == kOnly && r.value("rpc", "") == "CreateOrder" &&
        r.value("decision", "") == "deny") {
      ++deny_records;
      EXPECT_EQ(r.value("account", ""), "ecc") << r.dump();
    }
  }
  EXPECT_EQ(deny_records, 1);
  EXPECT_THAT(OrderAccounts(name, before), ::testing::IsEmpty());
}

TEST_F(AgentAccountsTest, DirectModeSignsWithTheChosenNonDefaultAccount) {
  const std::string etc = NewConfigDir("direct-ecc");
  const std::string name = Name("direct");
  const size_t before = AuditEvents().size();
  testing::ChildResult issued = Certonly(kBoth, etc, name, {"--direct", "--account", "ecc"});
  ASSERT_EQ(issued.exit_code, 0) << issued << "\nsigner log:\n" << lab().SignerLogTail();
  const std::vector<nlohmann::json> events = AuditEvents();
  int signed_by_ecc = 0;
  for (size_t i = before; i < events.size(); ++i) {
    const nlohmann::json& r = events[i];
    if (r.value("agent", "") != kBoth || r.value("rpc", "") != "SignJws") continue;
    EXPECT_EQ(r.value("decision", ""), "allow") << r.dump();
    EXPECT_EQ(r.value("account", ""), "ecc") << r.dump();
    ++signed_by_ecc;
  }
  EXPECT_GE(signed_by_ecc, 4);  // newOrder, challenge, finalize, reads
  const std::string conf = FileOrEmpty(RenewalConf(etc, name));
  EXPECT_THAT(conf, HasSubstr("direct = true"));
  EXPECT_THAT(conf, HasSubstr("account = 'ecc'"));

  // A direct renewal keeps the account too.
  const size_t before_renewal = AuditEvents().size();
  testing::ChildResult renewed =
      Agent(kBoth, "renew", etc, {"--cert-name", name, "--force-renewal"});
  ASSERT_EQ(renewed.exit_code, 0) << renewed << "\nsigner log:\n" << lab().SignerLogTail();
  int renewal_signatures = 0;
  const std::vector<nlohmann::json> after = AuditEvents();
  for (size_t i = before_renewal; i < after.size(); ++i) {
    const nlohmann::json& r = after[i];
    if (r.value("agent", "") != kBoth || r.value("rpc", "") != "SignJws") continue;
    EXPECT_EQ(r.value("account", ""), "ecc") << r.dump();
    ++renewal_signatures;
  }
  EXPECT_GE(renewal_signatures, 4);
}

}  // namespace
}  // namespace acme_signer
