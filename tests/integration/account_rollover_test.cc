// `acme-signer account roll-key` against Pebble with the keys in SoftHSM2 (issue 15): the
// rollover performed by a running serve (no restart; issuance goes on with the new key), by the
// command itself when serve is stopped, killed (SIGKILL) after each recorded step and then
// finished by the next run, and --destroy-old. Pebble is asked directly (newAccount with
// onlyReturnExisting) which key it has: after keyChange the old key is refused.
//
// The kills use the test hook of signer/account_rollover.h: ACME_SIGNER_TEST_ROLLOVER_PAUSE=
// <step> makes roll-key print "rollover paused after <step>" and sleep; RunChild's timeout then
// SIGKILLs it there.
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "acme/client.h"
#include "agent/csr.h"
#include "agent/private_key.h"
#include "agent/relay_issuer.h"
#include "agent/standalone_solver.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/module.h"
#include "hsm/token.h"
#include "http/curl_http_client.h"
#include "nlohmann/json.hpp"
#include "tests/testing/child_process.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;
using testing::SignerLab;

constexpr char kKey[] = "pkcs11:object=acme-account";
constexpr char kNextKey[] = "pkcs11:object=acme-account.next";

absl::Status IssueFor(SignerLab& lab, absl::string_view agent_name,
                      const std::vector<std::string>& names) {
  absl::StatusOr<std::unique_ptr<agent::SignerClient>> client = lab.Client(agent_name);
  if (!client.ok()) return client.status();
  absl::StatusOr<agent::PrivateKey> key = agent::PrivateKey::Generate(agent::KeySpec());
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> csr = agent::BuildCsrDer(*key, names);
  if (!csr.ok()) return csr.status();
  agent::StandaloneSolver solver("127.0.0.1", lab.http_port());
  agent::RelayIssueOptions options;
  options.domains = names;
  options.csr_der = *csr;
  options.validation_timeout = absl::Minutes(2);
  options.processing_timeout = absl::Minutes(2);
  options.min_poll = absl::Milliseconds(200);
  options.max_poll = absl::Seconds(2);
  return agent::IssueThroughSigner(**client, solver, options).status();
}

class AccountRolloverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!SignerLab::ToolsAvailable().ok()) return;
    SignerLab::Options options;
    options.enroll = {"web1"};
    absl::StatusOr<std::unique_ptr<SignerLab>> lab = SignerLab::Start(std::move(options));
    ASSERT_TRUE(lab.ok()) << lab.status();
    lab_ = lab->release();
  }
  static void TearDownTestSuite() {
    delete lab_;
    lab_ = nullptr;
  }
  void SetUp() override {
    ACME_SIGNER_REQUIRE_SIGNER_LAB_TOOLS();
    ASSERT_NE(lab_, nullptr);
  }

  static testing::ChildResult RollKey(const std::vector<std::string>& extra_args = {},
                                      const std::string& pause_step = "") {
    std::vector<std::string> args = {lab_->signer_binary(), "account",  "roll-key",
                                     "--config",            lab_->config_path(), "--account",
                                     "default"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    testing::ChildOptions options;
    options.scratch_dir = lab_->dir();
    if (!pause_step.empty()) {
      options.extra_env.push_back(absl::StrCat("ACME_SIGNER_TEST_ROLLOVER_PAUSE=", pause_step));
      // Long enough to reach the step, well below the hook's 5 minutes: RunChild SIGKILLs it.
      options.timeout = absl::Seconds(15);
    }
    return testing::RunChild(args, options);
  }

  // Whether Pebble has an account for the key at `uri` (newAccount onlyReturnExisting signed
  // by it), read in this process from the lab's token: OK with the URL, or the CA's status.
  static absl::StatusOr<std::string> PebbleAccountFor(const std::string& uri) {
    absl::StatusOr<std::shared_ptr<hsm::Module>> module =
        hsm::Module::Load(testing::kSoftHsmModule);
    if (!module.ok()) return module.status();
    absl::StatusOr<std::shared_ptr<hsm::Token>> token =
        hsm::Token::Open(*module, lab_->token().uri, lab_->token().pin_file);
    if (!token.ok()) return token.status();
    absl::StatusOr<std::unique_ptr<hsm::JwsSigner>> key = (*token)->OpenSigningKey(uri);
    if (!key.ok()) return key.status();
    http::CurlHttpClientOptions http_options;
    http_options.ca_bundle_path = lab_->pebble().ca_bundle_path();
    absl::StatusOr<std::unique_ptr<http::CurlHttpClient>> http =
        http::CurlHttpClient::Create(http_options);
    if (!http.ok()) return http.status();
    acme::AcmeClientOptions options;
    options.directory_url = lab_->account_directory_url("default");
    absl::StatusOr<std::unique_ptr<acme::AcmeClient>> client =
        acme::AcmeClient::Create(**http, **key, options);
    if (!client.ok()) return client.status();
    absl::StatusOr<acme::Account> account = (*client)->FindAccount();
    if (!account.ok()) return account.status();
    return account->url;
  }

  static std::vector<std::string> RolloverReasons() {
    std::vector<std::string> reasons;
    absl::StatusOr<std::vector<nlohmann::json>> records = lab_->ReadAuditRecords();
    EXPECT_TRUE(records.ok()) << records.status();
    if (!records.ok()) return reasons;
    for (const nlohmann::json& r : *records) {
      if (r.value("rpc", "") == "AccountRollKey") {
        reasons.push_back(absl::StrCat(r.value("agent", ""), " ", r.value("account", ""), " ",
                                       r.value("reason", "")));
      }
    }
    return reasons;
  }

  static size_t CountContaining(const std::vector<std::string>& v, absl::string_view what) {
    size_t n = 0;
    for (const std::string& s : v) n += absl::StrContains(s, what) ? 1 : 0;
    return n;
  }

  static SignerLab* lab_;
};

SignerLab* AccountRolloverTest::lab_ = nullptr;

TEST_F(AccountRolloverTest, WhileServeRunsThenStoppedThenKilledAtEveryStep) {
  // --- serve running: it performs the rollover, no restart, issuance goes on ---------------
  ASSERT_TRUE(lab_->signer_running());
  const pid_t serve_pid = lab_->signer_pid();
  absl::StatusOr<std::string> account_url = PebbleAccountFor(kKey);
  ASSERT_TRUE(account_url.ok()) << account_url.status();

  testing::ChildResult rolled = RollKey();
  ASSERT_EQ(rolled.exit_code, 0) << rolled << "\n" << lab_->SignerLogTail();
  EXPECT_THAT(rolled.out, HasSubstr("performs it"));
  EXPECT_THAT(rolled.out, HasSubstr("key rolled over"));
  EXPECT_EQ(lab_->signer_pid(), serve_pid);
  // The configured label now names a key Pebble knows, for the same account.
  absl::StatusOr<std::string> after = PebbleAccountFor(kKey);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, *account_url);
  // Issuance through the running serve signs with the new key.
  absl::Status issued = IssueFor(*lab_, "web1", {"web1.example.test"});
  ASSERT_TRUE(issued.ok()) << issued << "\n" << lab_->SignerLogTail();
  std::vector<std::string> reasons = RolloverReasons();
  for (const char* step : {"intent", "generated", "key-changed", "old-relabelled", "switched",
                           "old-key", "done"}) {
    EXPECT_EQ(CountContaining(reasons, absl::StrCat("serve default rollover step ", step, ":")),
              1u)
        << step;
  }

  // --- killed (SIGKILL) after each step, serve stopped: the next run finishes it -----------
  ASSERT_TRUE(lab_->StopSigner().ok());
  for (const std::string step : {"intent", "generated", "key-changed", "old-relabelled",
                                 "switched", "old-key"}) {
    SCOPED_TRACE(step);
    testing::ChildResult killed = RollKey({}, step);
    EXPECT_EQ(killed.exit_code, 128 + SIGKILL) << killed;
    ASSERT_THAT(killed.err, HasSubstr(absl::StrCat("rollover paused after ", step))) << killed;
    if (step == "key-changed") {
      // Killed right after keyChange: Pebble refuses the old key (still labelled
      // acme-account) and has the new one (acme-account.next) for the same account.
      absl::StatusOr<std::string> old_key = PebbleAccountFor(kKey);
      EXPECT_EQ(old_key.status().code(), absl::StatusCode::kNotFound) << old_key.status();
      absl::StatusOr<std::string> new_key = PebbleAccountFor(kNextKey);
      ASSERT_TRUE(new_key.ok()) << new_key.status();
      EXPECT_EQ(*new_key, *account_url);
    }
    if (step == "old-relabelled") {
      // The configured label has no key now: init must not make a new one (a new account).
      absl::StatusOr<testing::CommandResult> init =
          lab_->RunSignerCommand({"init", "--config", lab_->config_path()});
      ASSERT_TRUE(init.ok()) << init.status();
      EXPECT_NE(init->exit_code, 0);
      EXPECT_THAT(init->out + init->err, HasSubstr("a key rollover is pending"));
    }
    testing::ChildResult resumed = RollKey();
    ASSERT_EQ(resumed.exit_code, 0) << resumed;
    if (step == "intent") {
      EXPECT_THAT(resumed.out, HasSubstr("rolled back"));
      EXPECT_THAT(resumed.out, HasSubstr("key rolled over"));
    } else {
      EXPECT_THAT(resumed.out, HasSubstr("finished a pending rollover"));
    }
    absl::StatusOr<std::string> now = PebbleAccountFor(kKey);
    ASSERT_TRUE(now.ok()) << now.status();
    EXPECT_EQ(*now, *account_url);
  }

  // --- serve stopped, --destroy-old: the old objects are gone ------------------------------
  testing::ChildResult destroyed = RollKey({"--destroy-old"});
  ASSERT_EQ(destroyed.exit_code, 0) << destroyed;
  EXPECT_THAT(destroyed.out, HasSubstr("destroyed"));
  const size_t at = destroyed.out.find("old key acme-account.retired-");
  ASSERT_NE(at, std::string::npos) << destroyed.out;
  const std::string retired =
      destroyed.out.substr(at + 8, destroyed.out.find(' ', at + 8) - (at + 8));
  {
    absl::StatusOr<std::shared_ptr<hsm::Module>> module =
        hsm::Module::Load(testing::kSoftHsmModule);
    ASSERT_TRUE(module.ok()) << module.status();
    absl::StatusOr<std::shared_ptr<hsm::Token>> token =
        hsm::Token::Open(*module, lab_->token().uri, lab_->token().pin_file);
    ASSERT_TRUE(token.ok()) << token.status();
    absl::StatusOr<bool> present = (*token)->HasObject(absl::StrCat("pkcs11:object=", retired));
    ASSERT_TRUE(present.ok()) << present.status();
    EXPECT_FALSE(*present) << retired;
    absl::StatusOr<bool> next = (*token)->HasObject(kNextKey);
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_FALSE(*next);
  }

  // --- serve starts again with the rolled key: issuance works, the audit log verifies -------
  absl::Status started = lab_->StartSigner();
  ASSERT_TRUE(started.ok()) << started;
  issued = IssueFor(*lab_, "web1", {"web1.example.test"});
  ASSERT_TRUE(issued.ok()) << issued << "\n" << lab_->SignerLogTail();
  reasons = RolloverReasons();
  EXPECT_GE(CountContaining(reasons, "operator default rollover step done:"), 7u);
  EXPECT_GE(CountContaining(reasons, "rollover step rolled-back:"), 1u);
  absl::StatusOr<testing::CommandResult> verified =
      lab_->RunSignerCommand({"audit", "verify", "--config", lab_->config_path()});
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->exit_code, 0) << verified->out << verified->err;
}

}  // namespace
}  // namespace acme_signer
