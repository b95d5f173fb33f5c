// Agents that fail over (issue 16), against a SignerLab (real `acme-signer serve`, default
// SQLite state, SoftHSM2, Pebble) whose signer reaches Pebble through a FaultProxy, so the
// test can count what the CA was sent:
//  - `acme-agent certonly` with a target that also lists dead replicas (a listening socket
//    that never answers, a closed port) issues through the live one;
//  - with every replica down for the whole run it gives up within its retry bound, exit 4;
//  - a FinalizeOrder repeated for the same order (the retry after a lost answer) returns
//    the order, is audited as such, and the CA saw one finalize;
//  - a finalize while another of the same order is under way is refused as ABORTED (the
//    agent retries it) and never reaches the CA; once the first is over, one goes through.
// The 3-replica kill test on PostgreSQL is tests/integration/replicas_*_test.cc.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/commands.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/child_process.h"
#include "tests/testing/fault_proxy.h"
#include "tests/testing/lab_orders.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

using ::testing::AllOf;
using testing::Fault;
using testing::FaultProxy;
using ::testing::HasSubstr;
using testing::SignerLab;

namespace pb = ::acmesigner::v1;

constexpr char kFinalizePath[] = "/finalize-order/";
constexpr char kAgent[] = "web1";

// A loopback socket that accepts TCP connections (the kernel does) but never answers: a
// replica that hangs.
class SilentListener {
 public:
  SilentListener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_.get() >= 0 && ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
        ::listen(fd_.get(), 64) == 0 &&
        ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  int port() const { return port_; }

 private:
  UniqueFd fd_;
  int port_ = 0;
};

// A loopback port nothing listens on (bound to find a free one, then closed).
int ClosedLoopbackPort() { return SilentListener().port(); }

class AgentFailoverTest : public testing::SignerLabSuite<AgentFailoverTest> {
 public:
  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    for (testing::LabAgentPolicy& agent : options.agents) agent.orders_per_hour = 1000;
    options.enroll = {kAgent};
    options.acme_endpoint = [](testing::PebbleEnv& pebble,
                               testing::LabAcmeEndpoint& acme) -> absl::Status {
      FaultProxy::Options proxy_options;
      std::string origin = pebble.directory_url();
      origin.resize(origin.size() - std::string("/dir").size());
      proxy_options.upstream_origin = origin;
      proxy_options.upstream_ca_bundle = pebble.ca_bundle_path();
      ASSIGN_OR_RETURN(proxy_, FaultProxy::Start(proxy_options));
      acme.directory_url = proxy_->directory_url();
      acme.ca_bundle = proxy_->ca_bundle_path();
      return absl::OkStatus();
    };
    return options;
  }

 protected:
  static void TearDownTestSuite() {
    SignerLabSuite::TearDownTestSuite();
    proxy_.reset();
  }

  // A test that stopped the signer starts it again.
  void TearDown() override {
    if (!lab_started() || lab().signer_running()) return;
    absl::Status started = lab().StartSigner();
    ASSERT_TRUE(started.ok()) << started;
  }

  static FaultProxy& proxy() { return *proxy_; }

  // Finalize requests the CA (Pebble) was actually sent.
  // Finalize requests the CA acted on: not answered by a proxy fault, and not rejected with
  // badNonce (Pebble rejects some nonces at random; the client then sends the same finalize
  // again, which the CA sees as a second request but only acts on once).
  static int FinalizesAtTheCa() {
    int count = 0;
    for (const testing::ProxiedRequest& request : proxy().Requests()) {
      if (request.method == "POST" && absl::StrContains(request.path, kFinalizePath) &&
          !request.faulted && !request.bad_nonce) {
        ++count;
      }
    }
    return count;
  }

  // agent.toml in a fresh directory, for web1 at `address`.
  static absl::StatusOr<std::string> WriteAgentConfig(const std::string& address,
                                                      int retry_seconds) {
    ASSIGN_OR_RETURN(agent::SignerConnection connection, lab().Connection(kAgent));
    std::string dir = absl::StrCat(lab().dir(), "/agent-XXXXXX");
    if (::mkdtemp(dir.data()) == nullptr) return ErrnoStatus(errno, "mkdtemp");
    auto quoted = [](absl::string_view s) { return absl::StrCat("\"", s, "\""); };
    std::string text = absl::StrCat("config_dir = ", quoted(absl::StrCat(dir, "/etc")),
                                    "\n\n[signer]\naddress = ", quoted(address),
                                    "\nca = ", quoted(connection.ca_cert), "\n");
    if (retry_seconds >= 0) absl::StrAppend(&text, "retry_seconds = ", retry_seconds, "\n");
    absl::StrAppend(&text, "\n[identity]\ntrust_domain = ", quoted(lab().trust_domain()),
                    "\nname = ", quoted(kAgent), "\nkey = ", quoted(connection.client_key),
                    "\ncert = ", quoted(connection.client_cert), "\n");
    const std::string path = absl::StrCat(dir, "/agent.toml");
    RETURN_IF_ERROR(WriteFileAtomically(path, text, 0600));
    return path;
  }

  static testing::ChildResult Certonly(const std::string& config, const std::string& name) {
    std::vector<std::string> argv = {ACME_AGENT_BIN,
                                     "certonly",
                                     "--config",
                                     config,
                                     "--non-interactive",
                                     "--standalone",
                                     "--http-01-address",
                                     "127.0.0.1",
                                     "--http-01-port",
                                     absl::StrCat(lab().http_port()),
                                     "-d",
                                     name};
    testing::ChildOptions options;
    options.scratch_dir = lab().dir();
    options.timeout = absl::Minutes(4);
    return testing::RunChild(argv, options);
  }

  // The reason of the latest audit record of `rpc` by web1 ("" when none).
  static std::string LastAuditedReason(absl::string_view rpc) {
    absl::StatusOr<std::vector<nlohmann::json>> records = lab().ReadAuditRecords();
    EXPECT_TRUE(records.ok()) << records.status();
    std::string reason;
    if (!records.ok()) return reason;
    for (const nlohmann::json& record : *records) {
      if (record.value("rpc", "") == rpc && record.value("agent", "") == kAgent) {
        reason = record.value("reason", "");
      }
    }
    return reason;
  }

  static inline std::unique_ptr<FaultProxy> proxy_;
};

TEST_F(AgentFailoverTest, CertonlyIssuesThroughTheLiveReplicaWhenTheTargetListsDeadOnes) {
  SilentListener hanging;
  ASSERT_GT(hanging.port(), 0);
  const int closed = ClosedLoopbackPort();
  ASSERT_GT(closed, 0);
  // The dead ones first: pick_first would wait on the silent one.
  const std::string target = absl::StrCat("ipv4:127.0.0.1:", hanging.port(), ",127.0.0.1:", closed,
                                          ",", lab().signer_address());
  absl::StatusOr<std::string> config = WriteAgentConfig(target, -1);  // the default bound
  ASSERT_TRUE(config.ok()) << config.status();
  const testing::ChildResult r = Certonly(*config, "failover.web1.example.test");
  ASSERT_EQ(r.exit_code, 0) << r << "\n" << lab().SignerLogTail();
  const std::string live =
      absl::StrCat(config->substr(0, config->rfind('/')), "/etc/live/failover.web1.example.test");
  EXPECT_TRUE(ReadFile(absl::StrCat(live, "/fullchain.pem")).ok()) << r;
}

TEST_F(AgentFailoverTest, WithEveryReplicaDownCertonlyGivesUpWithinItsBoundWithExitFour) {
  const std::string signer = lab().signer_address();
  absl::StatusOr<int> stopped = lab().StopSigner();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  const int closed = ClosedLoopbackPort();
  ASSERT_GT(closed, 0);
  // The default bound is 2 minutes ([signer] retry_seconds, tests/agent/agent_config_test.cc);
  // a short one keeps this test quick.
  constexpr int kRetrySeconds = 5;
  absl::StatusOr<std::string> config =
      WriteAgentConfig(absl::StrCat("ipv4:", signer, ",127.0.0.1:", closed), kRetrySeconds);
  ASSERT_TRUE(config.ok()) << config.status();
  const absl::Time start = absl::Now();
  const testing::ChildResult r = Certonly(*config, "down.web1.example.test");
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.exit_code, agent::kExitUnreachable) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("no signer replica could serve"), HasSubstr("attempts"),
                           HasSubstr("unreachable"), HasSubstr("retry_seconds")))
      << r;
  RecordProperty("seconds_to_give_up", absl::StrCat(absl::ToDoubleSeconds(took)));
  // The bound, plus starting an ASan-built process on a loaded machine.
  EXPECT_LT(took, absl::Seconds(kRetrySeconds + 30)) << r;
  EXPECT_GE(took, absl::Seconds(kRetrySeconds - 1)) << "it did not retry: " << r;
}

TEST_F(AgentFailoverTest, AFinalizeRepeatedForTheSameOrderReturnsTheOrderAndTheCaSawOne) {
  std::unique_ptr<agent::SignerClient> client = Client(kAgent);
  ASSERT_NE(client, nullptr);
  const std::vector<std::string> names = {"repeat.web1.example.test"};
  absl::StatusOr<pb::Order> ready = testing::CreateReadyOrder(*client, lab().http_port(), names);
  ASSERT_TRUE(ready.ok()) << ready.status() << "\n" << lab().SignerLogTail();
  ASSERT_EQ(ready->status(), pb::ORDER_STATUS_READY);
  absl::StatusOr<std::string> csr = testing::NewCsrDer(names);
  ASSERT_TRUE(csr.ok()) << csr.status();
  const int finalizes_before = FinalizesAtTheCa();

  absl::StatusOr<pb::Order> first = client->FinalizeOrder(ready->url(), *csr);
  ASSERT_TRUE(first.ok()) << first.status() << "\n" << lab().SignerLogTail();
  EXPECT_EQ(LastAuditedReason("FinalizeOrder"), "CSR passed the agent's policy");
  // The agent's retry after a lost answer: the same order, the same CSR.
  absl::StatusOr<pb::Order> again = client->FinalizeOrder(ready->url(), *csr);
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << lab().SignerLogTail();
  EXPECT_EQ(again->url(), ready->url());
  EXPECT_NE(again->status(), pb::ORDER_STATUS_READY);
  EXPECT_THAT(LastAuditedReason("FinalizeOrder"), HasSubstr("finalize repeated"));
  EXPECT_EQ(FinalizesAtTheCa(), finalizes_before + 1);

  absl::StatusOr<pb::Order> valid =
      testing::PollOrderWhile(*client, *again, pb::ORDER_STATUS_PROCESSING);
  ASSERT_TRUE(valid.ok()) << valid.status();
  ASSERT_EQ(valid->status(), pb::ORDER_STATUS_VALID);
  // Once valid, a repeat is still answered with the order (its certificate has this key)...
  absl::StatusOr<pb::Order> late = client->FinalizeOrder(ready->url(), *csr);
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->status(), pb::ORDER_STATUS_VALID);
  // ...but not to a CSR for another key: that certificate would be of no use to it.
  absl::StatusOr<std::string> other_key = testing::NewCsrDer(names);
  ASSERT_TRUE(other_key.ok());
  absl::StatusOr<pb::Order> other = client->FinalizeOrder(ready->url(), *other_key);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition) << other.status();
  EXPECT_THAT(other.status().message(), HasSubstr("already finalized with another key"));
  EXPECT_EQ(FinalizesAtTheCa(), finalizes_before + 1);
  absl::StatusOr<pb::GetCertificateResponse> cert = client->GetCertificate(ready->url(), "");
  EXPECT_TRUE(cert.ok()) << cert.status();
}

TEST_F(AgentFailoverTest, AFinalizeWhileAnotherOfTheOrderIsUnderWayIsAbortedAndNeverSent) {
  std::unique_ptr<agent::SignerClient> client = Client(kAgent);
  ASSERT_NE(client, nullptr);
  const std::vector<std::string> names = {"concurrent.web1.example.test"};
  absl::StatusOr<pb::Order> ready = testing::CreateReadyOrder(*client, lab().http_port(), names);
  ASSERT_TRUE(ready.ok()) << ready.status() << "\n" << lab().SignerLogTail();
  absl::StatusOr<std::string> csr = testing::NewCsrDer(names);
  ASSERT_TRUE(csr.ok()) << csr.status();
  const int finalizes_before = FinalizesAtTheCa();

  // The first finalize hangs at the CA, holding the order's claim.
  proxy().Inject(kFinalizePath, Fault::Hang());
  std::future<absl::StatusOr<pb::Order>> first =
      std::async(std::launch::async, [&] { return client->FinalizeOrder(ready->url(), *csr); });
  ASSERT_TRUE(proxy().WaitForHanging(1, absl::Seconds(60)));
  absl::StatusOr<pb::Order> second = client->FinalizeOrder(ready->url(), *csr);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAborted) << second.status();
  EXPECT_THAT(second.status().message(),
              AllOf(HasSubstr("is being finalized by replica"), HasSubstr("try again")));
  EXPECT_THAT(LastAuditedReason("FinalizeOrder"), HasSubstr("concurrent with another"));

  // The first one ends (the CA never got it; whatever the signer makes of the closed
  // connection), and its claim with it.
  proxy().ReleaseHangs();
  first.wait();
  absl::StatusOr<pb::Order> third = client->FinalizeOrder(ready->url(), *csr);
  ASSERT_TRUE(third.ok()) << third.status() << "\n" << lab().SignerLogTail();
  EXPECT_EQ(FinalizesAtTheCa(), finalizes_before + 1);
}

}  // namespace
}  // namespace acme_signer
