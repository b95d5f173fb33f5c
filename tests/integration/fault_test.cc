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
#include "tests/testing/lab_orders.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::SignerLab;

namespace pb = ::acmesigner::v1;

class FaultTest : public testing::SignerLabSuite<FaultTest> {
 protected:
  // Every test leaves a signer running without limits.
  void TearDown() override {
    ::signal(SIGXFSZ, SIG_DFL);
    if (lab_started() && !lab().signer_running()) {
      absl::Status started = lab().StartSigner();
      ASSERT_TRUE(started.ok()) << started;
    }
  }

  static std::unique_ptr<agent::SignerClient> Client() { return SignerLabSuite::Client("web1"); }

  // A web1 order for `names` that Pebble has validated (status ready).
  static absl::StatusOr<pb::Order> ReadyOrder(agent::SignerClient& client,
                                              const std::vector<std::string>& names) {
    return testing::CreateReadyOrder(client, lab().http_port(), names);
  }

  static std::string Csr(const std::vector<std::string>& names) {
    absl::StatusOr<std::string> csr = testing::NewCsrDer(names);
    EXPECT_TRUE(csr.ok()) << csr.status();
    return csr.ok() ? *csr : "";
  }
};

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
  absl::StatusOr<pb::Order> valid = testing::PollOrderWhile(*client, *finalized, pb::ORDER_STATUS_PROCESSING);
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
  absl::StatusOr<pb::Order> valid = testing::PollOrderWhile(*client, *finalized, pb::ORDER_STATUS_PROCESSING);
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
  absl::Status answered = testing::AnswerHttp01Challenges(*client, solver, *order);
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
  absl::StatusOr<pb::Order> ready = testing::PollOrderWhile(*client, *current, pb::ORDER_STATUS_PENDING);
  ASSERT_TRUE(ready.ok()) << ready.status();
  ASSERT_EQ(ready->status(), pb::ORDER_STATUS_READY);
  absl::StatusOr<pb::Order> finalized = client->FinalizeOrder(order->url(), Csr(names));
  ASSERT_TRUE(finalized.ok()) << finalized.status() << "\n" << lab().SignerLogTail();
  absl::StatusOr<pb::Order> valid = testing::PollOrderWhile(*client, *finalized, pb::ORDER_STATUS_PROCESSING);
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
