// End to end: the account administration commands of a signer with two [[accounts]] at one
// Pebble (issue 15): `acme-signer account list`, `inventory --account`, `account caa` (with
// --check against pebble-challtestsrv's DNS) and `account deactivate` (against Pebble, then
// the signer refuses the account). Real processes: SignerLab (SoftHSM2, Pebble, serve).
//
// The tests run in the order written and share one lab: the last one deactivates an account.
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/csr.h"
#include "agent/private_key.h"
#include "agent/relay_issuer.h"
#include "agent/signer_client.h"
#include "agent/standalone_solver.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "signer/state_store.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::SignerLab;

class AccountAdminTest : public testing::SignerLabSuite<AccountAdminTest> {
 protected:
  // Two accounts at the lab's Pebble under two directory URLs; web1 issues with "rsa" (its
  // default, it may use both), web2 only with "ecc".
  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    options.accounts = {{"rsa", "kid-1", "127.0.0.1", "rsa-2048"},
                        {"ecc", "kid-2", "localhost", "ec-p256"}};
    options.agents = testing::DefaultLabAgents();
    options.agents[0].accounts = {"rsa", "ecc"};
    options.agents[0].default_account = "rsa";
    options.agents[1].accounts = {"ecc"};
    options.agents[1].default_account = "ecc";
    return options;
  }

  static CommandResult Run(const std::vector<std::string>& args) {
    absl::StatusOr<CommandResult> result = lab().RunSignerCommand(args);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : CommandResult();
  }

  static nlohmann::json Json(const CommandResult& result) {
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return nlohmann::json::parse(result.out, nullptr, /*allow_exceptions=*/false);
  }

  // The account URL `account list --json` shows for `name`.
  static std::string AccountUrl(const std::string& name) {
    for (const nlohmann::json& row :
         Json(Run({"account", "list", "--config", lab().config_path(), "--json"}))) {
      if (row["name"] == name && row["account_url"].is_string()) return row["account_url"];
    }
    return "";
  }

  // Issues a certificate for `names` through the signer as `agent_name` (with its default
  // account); returns the serial.
  static absl::StatusOr<std::string> Issue(const std::string& agent_name,
                                           const std::vector<std::string>& names) {
    absl::StatusOr<std::unique_ptr<agent::SignerClient>> client = lab().Client(agent_name);
    if (!client.ok()) return client.status();
    absl::StatusOr<agent::PrivateKey> key = agent::PrivateKey::Generate(agent::KeySpec());
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> csr = agent::BuildCsrDer(*key, names);
    if (!csr.ok()) return csr.status();
    agent::StandaloneSolver solver("127.0.0.1", lab().http_port());
    agent::RelayIssueOptions options;
    options.domains = names;
    options.csr_der = *csr;
    options.validation_timeout = absl::Minutes(2);
    options.processing_timeout = absl::Minutes(2);
    options.min_poll = absl::Milliseconds(200);
    options.max_poll = absl::Seconds(2);
    absl::StatusOr<agent::IssuedChain> chain = agent::IssueThroughSigner(**client, solver, options);
    if (!chain.ok()) return chain.status();
    return chain->serial;
  }

  // One certificate per account, issued by the first test that needs them.
  static void IssueOncePerAccount() {
    if (!rsa_serial_.empty()) return;
    absl::StatusOr<std::string> rsa = Issue("web1", {"web1.example.test"});
    ASSERT_TRUE(rsa.ok()) << rsa.status() << "\n" << lab().SignerLogTail();
    absl::StatusOr<std::string> ecc = Issue("web2", {"web2.example.test"});
    ASSERT_TRUE(ecc.ok()) << ecc.status() << "\n" << lab().SignerLogTail();
    rsa_serial_ = *rsa;
    ecc_serial_ = *ecc;
  }

  static inline std::string rsa_serial_;
  static inline std::string ecc_serial_;
};

TEST_F(AccountAdminTest, ListShowsBothAccountsRegisteredWithTheirUrlsAndCounts) {
  IssueOncePerAccount();
  ASSERT_FALSE(rsa_serial_.empty());
  // While serve runs (the lab's signer is up).
  ASSERT_TRUE(lab().signer_running());
  nlohmann::json rows = Json(Run({"account", "list", "--config", lab().config_path(), "--json"}));
  ASSERT_TRUE(rows.is_array()) << rows;
  ASSERT_EQ(rows.size(), 2u) << rows.dump(2);
  EXPECT_EQ(rows[0]["name"], "rsa");
  EXPECT_EQ(rows[1]["name"], "ecc");
  for (const nlohmann::json& row : rows) {
    SCOPED_TRACE(row.dump());
    const std::string name = row["name"];
    EXPECT_EQ(row["registered"], true);
    EXPECT_EQ(row["status"], "valid");
    EXPECT_EQ(row["directory_url"], lab().account_directory_url(name));
    EXPECT_EQ(row["certificates"], 1);
    ASSERT_TRUE(row["account_url"].is_string());
    // Pebble answers with URLs under the host it was asked on.
    EXPECT_THAT(std::string(row["account_url"]),
                HasSubstr(name == "rsa" ? "https://127.0.0.1:" : "https://localhost:"));
    ASSERT_TRUE(row["key_thumbprint"].is_string());
    EXPECT_EQ(std::string(row["key_thumbprint"]).size(), 43u);  // base64url SHA-256
  }
  EXPECT_EQ(rows[0]["key_type"], "rsa-2048");
  EXPECT_EQ(rows[1]["key_type"], "ec-p256");
  EXPECT_NE(rows[0]["account_url"], rows[1]["account_url"]);
  EXPECT_NE(rows[0]["key_thumbprint"], rows[1]["key_thumbprint"]);

  CommandResult table = Run({"account", "list", "--config", lab().config_path()});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("account URL: " + std::string(rows[0]["account_url"])));
  EXPECT_THAT(table.out, HasSubstr("account URL: " + std::string(rows[1]["account_url"])));
  EXPECT_THAT(table.out, HasSubstr("2 account(s)"));
}

TEST_F(AccountAdminTest, InventoryFiltersByAccountAndShowsIt) {
  IssueOncePerAccount();
  ASSERT_FALSE(rsa_serial_.empty());
  for (const auto& [account, serial, other] :
       {std::tuple{"rsa", rsa_serial_, ecc_serial_}, std::tuple{"ecc", ecc_serial_, rsa_serial_}}) {
    SCOPED_TRACE(account);
    nlohmann::json rows =
        Json(Run({"inventory", "--config", lab().config_path(), "--account", account, "--json"}));
    ASSERT_TRUE(rows.is_array()) << rows;
    ASSERT_EQ(rows.size(), 1u) << rows.dump(2);
    EXPECT_EQ(rows[0]["account"], account);
    EXPECT_EQ(rows[0]["serial"], serial);
  }
  nlohmann::json all = Json(Run({"inventory", "--config", lab().config_path(), "--json"}));
  EXPECT_EQ(all.size(), 2u) << all.dump(2);
  CommandResult table = Run({"inventory", "--config", lab().config_path(), "--account", "ecc"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("ACCOUNT"));
  EXPECT_THAT(table.out, HasSubstr(ecc_serial_));
  EXPECT_THAT(table.out, Not(HasSubstr(rsa_serial_)));
  EXPECT_THAT(table.out, HasSubstr("1 certificate(s)"));

  CommandResult unknown = Run({"inventory", "--config", lab().config_path(), "--account", "nope"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("--account nope: no such account"));
}

TEST_F(AccountAdminTest, CaaPrintsTheBindingRecordsAndChecksTheLiveOnes) {
  const std::string rsa_url = AccountUrl("rsa");
  const std::string ecc_url = AccountUrl("ecc");
  ASSERT_FALSE(rsa_url.empty());
  ASSERT_FALSE(ecc_url.empty());
  const std::string resolver = absl::StrCat("127.0.0.1:", lab().pebble().dns_port());
  const std::vector<std::string> base = {"account",   "caa", "--config",    lab().config_path(),
                                         "--account", "rsa", "--ca-domain", "ca.example.test"};
  auto with = [&base](std::vector<std::string> more) {
    std::vector<std::string> args = base;
    args.insert(args.end(), more.begin(), more.end());
    return Run(args);
  };

  CommandResult printed =
      with({"--domain", "caa.example.test", "--validation-methods", "http-01,dns-01"});
  EXPECT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_THAT(printed.out,
              HasSubstr("caa.example.test. CAA 0 issue \"ca.example.test; accounturi=" + rsa_url +
                        "; validationmethods=http-01,dns-01\""));
  EXPECT_THAT(printed.out,
              HasSubstr("caa.example.test. CAA 0 issuewild \"ca.example.test; accounturi=" +
                        rsa_url + "; validationmethods=http-01,dns-01\""));

  // Pebble's directory lists no caaIdentities: without --ca-domain the command says so.
  CommandResult no_ca = Run({"account", "caa", "--config", lab().config_path(), "--account", "rsa",
                             "--domain", "caa.example.test"});
  EXPECT_EQ(no_ca.exit_code, 1) << no_ca.out;
  EXPECT_THAT(no_ca.err, HasSubstr("lists no caaIdentities"));
  EXPECT_THAT(no_ca.err, HasSubstr("--ca-domain"));

  // Unbound: no CAA records at the name or any parent.
  CommandResult none =
      with({"--domain", "none.caa.example.test", "--check", "--resolver", resolver});
  EXPECT_EQ(none.exit_code, 1) << none.out << none.err;
  EXPECT_THAT(none.out, HasSubstr("NOT BOUND"));
  EXPECT_THAT(none.out, HasSubstr("every CA may issue"));

  // Bound: the record names this account (found at the parent of the name checked).
  ASSERT_TRUE(lab()
                  .pebble()
                  .SetCaaRecords("bound.caa.example.test",
                                 {{"issue", "ca.example.test; accounturi=" + rsa_url},
                                  {"iodef", "mailto:security@example.test"}})
                  .ok());
  CommandResult bound =
      with({"--domain", "www.bound.caa.example.test", "--check", "--resolver", resolver});
  EXPECT_EQ(bound.exit_code, 0) << bound.out << bound.err;
  EXPECT_THAT(bound.out, HasSubstr("the closest set is at bound.caa.example.test"));
  EXPECT_THAT(bound.out, HasSubstr("BOUND: issuance for www.bound.caa.example.test is bound to "
                                   "account rsa"));

  // The other account's URL: not bound, and the other account is named.
  ASSERT_TRUE(lab()
                  .pebble()
                  .SetCaaRecords("other.caa.example.test",
                                 {{"issue", "ca.example.test; accounturi=" + ecc_url}})
                  .ok());
  CommandResult other =
      with({"--domain", "other.caa.example.test", "--check", "--resolver", resolver});
  EXPECT_EQ(other.exit_code, 1) << other.out << other.err;
  EXPECT_THAT(other.out, HasSubstr("NOT BOUND"));
  EXPECT_THAT(other.out, HasSubstr("another account (" + ecc_url + ")"));

  // The CA without accounturi next to ours: any account at the CA could get one.
  ASSERT_TRUE(lab()
                  .pebble()
                  .SetCaaRecords("open.caa.example.test",
                                 {{"issue", "ca.example.test; accounturi=" + rsa_url},
                                  {"issue", "ca.example.test"}})
                  .ok());
  CommandResult open =
      with({"--domain", "open.caa.example.test", "--check", "--resolver", resolver});
  EXPECT_EQ(open.exit_code, 1) << open.out << open.err;
  EXPECT_THAT(open.out, HasSubstr("no accounturi: any account at ca.example.test"));
}

TEST_F(AccountAdminTest, DeactivateNeedsYesAndAStoppedSignerThenTheAccountIsRefused) {
  IssueOncePerAccount();
  ASSERT_FALSE(rsa_serial_.empty());
  const std::vector<std::string> args = {"account",           "deactivate", "--config",
                                         lab().config_path(), "--account",  "ecc"};
  CommandResult unconfirmed = Run(args);
  EXPECT_EQ(unconfirmed.exit_code, 2);
  EXPECT_THAT(unconfirmed.err, HasSubstr("cannot be undone"));
  EXPECT_THAT(unconfirmed.err, HasSubstr("--yes"));

  std::vector<std::string> confirmed = args;
  confirmed.push_back("--yes");
  CommandResult while_serving = Run(confirmed);
  EXPECT_EQ(while_serving.exit_code, 1);
  EXPECT_THAT(while_serving.err, HasSubstr("stop acme-signer first"));

  ASSERT_TRUE(lab().StopSigner().ok());
  CommandResult done = Run(confirmed);
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_THAT(done.out, HasSubstr("account ecc ("));
  EXPECT_THAT(done.out, HasSubstr("is deactivated"));
  CommandResult again = Run(confirmed);
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("already deactivated"));

  // A run killed after the CA answered but before the store was written: the store still
  // says valid. Running the command again asks Pebble, which refuses the request because
  // the account is deactivated there (so the deactivation really reached the CA), and that
  // is recorded.
  {
    absl::StatusOr<std::unique_ptr<signer::StateStore>> store =
        signer::StateStore::Open(lab().state_dir() + "/signer.db");
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<std::optional<signer::AccountRecord>> record = (*store)->FindAccount("ecc");
    ASSERT_TRUE(record.ok() && record->has_value());
    EXPECT_EQ((*record)->status, "deactivated");
    (*record)->status = "valid";
    ASSERT_TRUE((*store)->PutAccount(**record).ok());
  }
  CommandResult repaired = Run(confirmed);
  EXPECT_EQ(repaired.exit_code, 0) << repaired.err;
  EXPECT_THAT(repaired.out, HasSubstr("the CA had already deactivated it"));

  // Audited, and the chain still verifies.
  absl::StatusOr<std::vector<nlohmann::json>> records = lab().ReadAuditRecords();
  ASSERT_TRUE(records.ok()) << records.status();
  int deactivations = 0;
  for (const nlohmann::json& r : *records) {
    if (r.value("rpc", "") != "Admin/account-deactivate") continue;
    ++deactivations;
    EXPECT_EQ(r.value("account", ""), "ecc");
    EXPECT_EQ(r.value("decision", ""), "allow");
    EXPECT_THAT(r.value("agent", ""), HasSubstr("admin:"));
  }
  EXPECT_EQ(deactivations, 2);  // the deactivation and the repair
  CommandResult verify = Run({"audit", "verify", "--config", lab().config_path()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  ASSERT_TRUE(lab().StartSigner().ok()) << lab().SignerLogTail();
  // web2 may use only ecc: refused with the reason.
  absl::StatusOr<std::unique_ptr<agent::SignerClient>> web2 = lab().Client("web2");
  ASSERT_TRUE(web2.ok()) << web2.status();
  absl::StatusOr<::acmesigner::v1::Order> refused = (*web2)->CreateOrder({"web2.example.test"}, "");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("was deactivated at its CA"));
  // web1's account still works.
  absl::StatusOr<std::unique_ptr<agent::SignerClient>> web1 = lab().Client("web1");
  ASSERT_TRUE(web1.ok()) << web1.status();
  absl::StatusOr<::acmesigner::v1::Order> order = (*web1)->CreateOrder({"web1.example.test"}, "");
  EXPECT_TRUE(order.ok()) << order.status();

  nlohmann::json rows = Json(Run({"account", "list", "--config", lab().config_path(), "--json"}));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["status"], "valid");
  EXPECT_EQ(rows[1]["status"], "deactivated");
}

}  // namespace
}  // namespace acme_signer
