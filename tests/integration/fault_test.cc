// Faults from the security review, each driven through the real processes (SignerLab: the
// acme-signer binary, SoftHSM2, Pebble, gRPC over mutual TLS):
//  - the audit log cannot be written: the signer refuses to finalize (fail closed), nothing
//    is issued, the log stays intact, and a restarted signer issues again; when the disk
//    fills in the middle of a record, the restart sets the torn line aside and the log
//    still verifies;
//  - the signer is SIGKILLed in the middle of an order: the agent continues the same order
//    after the restart and gets exactly one certificate;
//  - Pebble restarts and forgets everything: the agent gets a clear ACME error, the signer
//    keeps serving.
// One SignerLab serves the whole suite. The Pebble restart leaves the signer's ACME account
// unknown to the CA, so that test runs last (tests run in declaration order; do not shuffle).
// The agent killed between writing files and switching live/ is covered by the fault
// injector in tests/agent/lineage_test.cc.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/csr.h"
#include "agent/private_key.h"
#include "agent/signer_client.h"
#include "agent/standalone_solver.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/signer_lab.h"

namespace acme_signer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::SignerLab;

namespace pb = ::acmesigner::v1;

// Polls the order through the signer while its status is `waiting`; bounded so that a stuck
// CA fails the test instead of hanging it.
absl::StatusOr<pb::Order> PollWhile(agent::SignerClient& client, pb::Order order,
                                    pb::OrderStatus waiting) {
  for (int attempt = 0; order.status() == waiting; ++attempt) {
    if (attempt == 300) {
      return absl::DeadlineExceededError(
          absl::StrCat("order ", order.url(), " still ", pb::OrderStatus_Name(order.status())));
    }
    absl::SleepFor(absl::Milliseconds(200));
    absl::StatusOr<pb::Order> next = client.GetOrder(order.url());
    if (!next.ok()) return next.status();
    order = *std::move(next);
  }
  return order;
}

// Presents and answers the http-01 challenges of the order's pending authorizations. The
// solver must stay alive until Pebble has validated.
absl::Status AnswerChallenges(agent::SignerClient& client, agent::StandaloneSolver& solver,
                              const pb::Order& order) {
  std::vector<const pb::Challenge*> chosen;
  std::vector<std::string> domains;
  for (const pb::Authorization& authz : order.authorizations()) {
    if (authz.status() != pb::AUTHORIZATION_STATUS_PENDING) continue;
    for (const pb::Challenge& challenge : authz.challenges()) {
      if (challenge.type() == "http-01") {
        chosen.push_back(&challenge);
        domains.push_back(authz.identifier().value());
        break;
      }
    }
  }
  if (chosen.empty()) return absl::OkStatus();
  if (absl::Status s = solver.Start(); !s.ok()) return s;
  for (size_t i = 0; i < chosen.size(); ++i) {
    agent::ChallengeTask task{domains[i],
                              chosen[i]->token(),
                              chosen[i]->key_authorization(),
                              chosen[i]->dns01_txt_value(),
                              static_cast<int>(chosen.size() - i - 1),
                              domains[i]};
    if (absl::Status s = solver.Present(task); !s.ok()) return s;
  }
  for (const pb::Challenge* challenge : chosen) {
    if (absl::Status s = client.AnswerChallenge(challenge->url()).status(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string Csr(const std::vector<std::string>& names) {
  absl::StatusOr<agent::PrivateKey> key = agent::PrivateKey::Generate(agent::KeySpec());
  EXPECT_TRUE(key.ok()) << key.status();
  if (!key.ok()) return "";
  absl::StatusOr<std::string> csr = agent::BuildCsrDer(*key, names);
  EXPECT_TRUE(csr.ok()) << csr.status();
  return csr.ok() ? *csr : "";
}

class FaultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!SignerLab::ToolsAvailable().ok()) return;  // SetUp skips or fails per test.
    absl::StatusOr<std::unique_ptr<SignerLab>> lab = SignerLab::Start(SignerLab::Options());
    if (lab.ok()) {
      lab_ = lab->release();
    } else {
      lab_error_ = new absl::Status(lab.status());
    }
  }

  static void TearDownTestSuite() {
    delete lab_;
    lab_ = nullptr;
    delete lab_error_;
    lab_error_ = nullptr;
  }

  void SetUp() override {
    ACME_SIGNER_REQUIRE_SIGNER_LAB_TOOLS();
    ASSERT_EQ(lab_error_, nullptr) << *lab_error_;
    ASSERT_NE(lab_, nullptr);
    ASSERT_TRUE(lab_->signer_running()) << "an earlier test left the signer stopped:\n"
                                        << lab_->SignerLogTail();
  }

  // Every test leaves a signer running without limits.
  void TearDown() override {
    ::signal(SIGXFSZ, SIG_DFL);
    if (lab_ != nullptr && !lab_->signer_running()) {
      absl::Status started = lab_->StartSigner();
      ASSERT_TRUE(started.ok()) << started;
    }
  }

  static SignerLab& lab() { return *lab_; }

  static std::unique_ptr<agent::SignerClient> Client() {
    absl::StatusOr<std::unique_ptr<agent::SignerClient>> client = lab_->Client("web1");
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // A web1 order for `names` that Pebble has validated (status ready).
  static absl::StatusOr<pb::Order> ReadyOrder(agent::SignerClient& client,
                                              const std::vector<std::string>& names) {
    absl::StatusOr<pb::Order> order = client.CreateOrder(names, "");
    if (!order.ok()) return order.status();
    agent::StandaloneSolver solver("127.0.0.1", lab_->http_port());
    if (absl::Status s = AnswerChallenges(client, solver, *order); !s.ok()) return s;
    return PollWhile(client, *std::move(order), pb::ORDER_STATUS_PENDING);
  }

  // The inventory entries (acme-signer inventory --json).
  static nlohmann::json Inventory() {
    absl::StatusOr<testing::CommandResult> run =
        lab_->RunSignerCommand({"inventory", "--config", lab_->config_path(), "--json"});
    EXPECT_TRUE(run.ok()) << run.status();
    if (!run.ok()) return nlohmann::json::array();
    EXPECT_EQ(run->exit_code, 0) << run->err;
    nlohmann::json list = nlohmann::json::parse(run->out, nullptr, false);
    EXPECT_TRUE(list.is_array()) << run->out;
    return list.is_array() ? list : nlohmann::json::array();
  }

  static int InventoryEntriesWithSerial(const std::string& serial) {
    int n = 0;
    for (const nlohmann::json& entry : Inventory()) n += entry.value("serial", "") == serial;
    return n;
  }

  static void ExpectAuditVerifies() {
    absl::StatusOr<testing::CommandResult> verify =
        lab_->RunSignerCommand({"audit", "verify", "--config", lab_->config_path()});
    ASSERT_TRUE(verify.ok()) << verify.status();
    EXPECT_EQ(verify->exit_code, 0) << verify->out << verify->err;
    EXPECT_THAT(verify->out, HasSubstr("OK: "));
  }

  static SignerLab* lab_;
  static absl::Status* lab_error_;
};

SignerLab* FaultTest::lab_ = nullptr;
absl::Status* FaultTest::lab_error_ = nullptr;

TEST_F(FaultTest, UnwritableAuditLogMakesTheSignerRefuseToFinalizeAndNothingIsIssued) {
  std::unique_ptr<agent::SignerClient> client = Client();
  ASSERT_NE(client, nullptr);
  const std::vector<std::string> names = {"web1.example.test"};
  absl::StatusOr<pb::Order> ready = ReadyOrder(*client, names);
  ASSERT_TRUE(ready.ok()) << ready.status() << "\n" << lab().SignerLogTail();
  ASSERT_EQ(ready->status(), pb::ORDER_STATUS_READY);
  const size_t inventory_before = Inventory().size();

  // Root ignores file permissions, so use a real limit: RLIMIT_FSIZE at the log's current
  // size makes its next append fail with EFBIG before a byte is written. The signer inherits
  // SIG_IGN for SIGXFSZ (ignored dispositions survive exec), so the write fails instead of
  // killing the process.
  ASSERT_TRUE(lab().StopSigner().ok());
  ASSERT_NE(::signal(SIGXFSZ, SIG_IGN), SIG_ERR);
  absl::Status started = lab().StartSigner();
  ASSERT_TRUE(started.ok()) << started;
  struct stat st {};
  ASSERT_EQ(::stat(lab().audit_log_path().c_str(), &st), 0);
  const rlimit limit{static_cast<rlim_t>(st.st_size), static_cast<rlim_t>(st.st_size)};
  ASSERT_EQ(::prlimit(lab().signer_pid(), RLIMIT_FSIZE, &limit, nullptr), 0) << errno;

  client = Client();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<pb::Order> refused = client->FinalizeOrder(ready->url(), Csr(names));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_THAT(refused.status().message(),
              AllOf(HasSubstr("audit log cannot be written"), HasSubstr("fail closed")));
  EXPECT_TRUE(lab().signer_running()) << "the signer died instead of refusing";
  struct stat after {};
  ASSERT_EQ(::stat(lab().audit_log_path().c_str(), &after), 0);
  EXPECT_EQ(after.st_size, st.st_size) << "the refused call wrote to the audit log";

  // Without the limit: the log verifies (no torn record), the refused order was never
  // finalized at the CA, nothing entered the inventory, and issuance works again.
  ASSERT_TRUE(lab().StopSigner().ok());
  ::signal(SIGXFSZ, SIG_DFL);
  started = lab().StartSigner();
  ASSERT_TRUE(started.ok()) << started;
  ExpectAuditVerifies();
  EXPECT_EQ(Inventory().size(), inventory_before);
  client = Client();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<pb::Order> still = client->GetOrder(ready->url());
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_EQ(still->status(), pb::ORDER_STATUS_READY) << "the refused finalize reached the CA";

  absl::StatusOr<pb::Order> finalized = client->FinalizeOrder(ready->url(), Csr(names));
  ASSERT_TRUE(finalized.ok()) << finalized.status() << "\n" << lab().SignerLogTail();
  absl::StatusOr<pb::Order> valid = PollWhile(*client, *finalized, pb::ORDER_STATUS_PROCESSING);
  ASSERT_TRUE(valid.ok()) << valid.status();
  EXPECT_EQ(valid->status(), pb::ORDER_STATUS_VALID);
  absl::StatusOr<pb::GetCertificateResponse> cert = client->GetCertificate(ready->url(), "");
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_EQ(InventoryEntriesWithSerial(cert->serial()), 1);
  ExpectAuditVerifies();
}

TEST_F(FaultTest, AuditLogFullInTheMiddleOfARecordLeavesATornTailThatTheRestartSetsAside) {
  std::unique_ptr<agent::SignerClient> client = Client();
  ASSERT_NE(client, nullptr);
  const std::vector<std::string> names = {"torn.web1.example.test"};
  absl::StatusOr<pb::Order> ready = ReadyOrder(*client, names);
  ASSERT_TRUE(ready.ok()) << ready.status() << "\n" << lab().SignerLogTail();
  const size_t inventory_before = Inventory().size();

  // Room for a few bytes only: the record's write() is cut short (a disk filling up), the
  // next one fails with EFBIG.
  ASSERT_TRUE(lab().StopSigner().ok());
  ASSERT_NE(::signal(SIGXFSZ, SIG_IGN), SIG_ERR);
  absl::Status started = lab().StartSigner();
  ASSERT_TRUE(started.ok()) << started;
  struct stat st {};
  ASSERT_EQ(::stat(lab().audit_log_path().c_str(), &st), 0);
  const rlim_t room = static_cast<rlim_t>(st.st_size) + 16;
  const rlimit limit{room, room};
  ASSERT_EQ(::prlimit(lab().signer_pid(), RLIMIT_FSIZE, &limit, nullptr), 0) << errno;

  client = Client();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<pb::Order> refused = client->FinalizeOrder(ready->url(), Csr(names));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("fail closed"));
  struct stat after {};
  ASSERT_EQ(::stat(lab().audit_log_path().c_str(), &after), 0);
  EXPECT_EQ(after.st_size, st.st_size + 16) << "expected a torn record of 16 bytes";

  ASSERT_TRUE(lab().StopSigner().ok());
  ::signal(SIGXFSZ, SIG_DFL);
  started = lab().StartSigner();
  ASSERT_TRUE(started.ok()) << started << "\n" << lab().SignerLogTail();
  // The restarted signer continued in a new file with a signed recovery checkpoint; the
  // verifier accepts the chain and reports the torn line where the limit cut it.
  absl::StatusOr<testing::CommandResult> verify =
      lab().RunSignerCommand({"audit", "verify", "--config", lab().config_path()});
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_EQ(verify->exit_code, 0) << verify->out << verify->err;
  EXPECT_THAT(verify->out,
              AllOf(HasSubstr("OK: "),
                    HasSubstr(absl::StrCat("audit.log: partial line from a crash at byte offset ",
                                           st.st_size)),
                    HasSubstr("recovered at seq")));
  EXPECT_EQ(Inventory().size(), inventory_before);
  client = Client();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<pb::Order> still = client->GetOrder(ready->url());
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_EQ(still->status(), pb::ORDER_STATUS_READY) << "the refused finalize reached the CA";
  absl::StatusOr<pb::Order> finalized = client->FinalizeOrder(ready->url(), Csr(names));
  ASSERT_TRUE(finalized.ok()) << finalized.status() << "\n" << lab().SignerLogTail();
  absl::StatusOr<pb::Order> valid = PollWhile(*client, *finalized, pb::ORDER_STATUS_PROCESSING);
  ASSERT_TRUE(valid.ok()) << valid.status();
  EXPECT_EQ(valid->status(), pb::ORDER_STATUS_VALID);
}

TEST_F(FaultTest, SignerKilledMidOrderLetsTheAgentFinishTheSameOrderWithOneCertificate) {
  std::unique_ptr<agent::SignerClient> client = Client();
  ASSERT_NE(client, nullptr);
  const std::vector<std::string> names = {"kill.web1.example.test"};
  absl::StatusOr<pb::Order> order = client->CreateOrder(names, "");
  ASSERT_TRUE(order.ok()) << order.status() << "\n" << lab().SignerLogTail();
  agent::StandaloneSolver solver("127.0.0.1", lab().http_port());
  absl::Status answered = AnswerChallenges(*client, solver, *order);
  ASSERT_TRUE(answered.ok()) << answered;

  absl::StatusOr<int> killed = lab().StopSigner(/*kill=*/true);
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(*killed, 128 + SIGKILL);
  absl::Status started = lab().StartSigner();
  ASSERT_TRUE(started.ok()) << started;

  // The restarted signer listens on a new port: the agent reconnects and continues by URL.
  client = Client();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<pb::Order> current = client->GetOrder(order->url());
  ASSERT_TRUE(current.ok()) << current.status() << "\n" << lab().SignerLogTail();
  absl::StatusOr<pb::Order> ready = PollWhile(*client, *current, pb::ORDER_STATUS_PENDING);
  ASSERT_TRUE(ready.ok()) << ready.status();
  ASSERT_EQ(ready->status(), pb::ORDER_STATUS_READY);
  absl::StatusOr<pb::Order> finalized = client->FinalizeOrder(order->url(), Csr(names));
  ASSERT_TRUE(finalized.ok()) << finalized.status() << "\n" << lab().SignerLogTail();
  absl::StatusOr<pb::Order> valid = PollWhile(*client, *finalized, pb::ORDER_STATUS_PROCESSING);
  ASSERT_TRUE(valid.ok()) << valid.status();
  ASSERT_EQ(valid->status(), pb::ORDER_STATUS_VALID);

  absl::StatusOr<pb::GetCertificateResponse> first = client->GetCertificate(order->url(), "");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_FALSE(first->serial().empty());
  EXPECT_EQ(InventoryEntriesWithSerial(first->serial()), 1);
  // A retried download (the agent cannot tell whether its first one landed) is idempotent.
  absl::StatusOr<pb::GetCertificateResponse> second = client->GetCertificate(order->url(), "");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->serial(), first->serial());
  EXPECT_EQ(InventoryEntriesWithSerial(first->serial()), 1);
  ExpectAuditVerifies();
}

// Runs last: afterwards the CA no longer knows the signer's account.
TEST_F(FaultTest, PebbleRestartedMidOrderGivesTheAgentAClearAcmeErrorAndTheSignerKeepsServing) {
  std::unique_ptr<agent::SignerClient> client = Client();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<pb::Order> order = client->CreateOrder({"lost.web1.example.test"}, "");
  ASSERT_TRUE(order.ok()) << order.status() << "\n" << lab().SignerLogTail();

  absl::Status restarted = lab().pebble().Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;

  // Same ports, empty state: the order and the account are gone. The caller sees the CA's
  // problem type rather than a crash or a bare transport error.
  absl::StatusOr<pb::Order> lost = client->GetOrder(order->url());
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kNotFound) << lost.status();
  EXPECT_THAT(lost.status().message(), AllOf(HasSubstr("the CA answered accountDoesNotExist"),
                                             HasSubstr("acme-signer init")))
      << lost.status();
  EXPECT_TRUE(lab().signer_running()) << lab().SignerLogTail();
  absl::StatusOr<pb::GetAccountResponse> account = client->GetAccount();
  EXPECT_TRUE(account.ok()) << account.status();
  // So does a new order: the account URL the signer holds is unknown to the new CA.
  absl::StatusOr<pb::Order> refused = client->CreateOrder({"web1.example.test"}, "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kNotFound) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("the CA answered accountDoesNotExist"))
      << refused.status();
  ExpectAuditVerifies();
}

}  // namespace
}  // namespace acme_signer
