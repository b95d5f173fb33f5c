// Several signer replicas on one PostgreSQL database (issue 16), end to end with real processes:
// three `acme-signer serve` replicas (each with its own copy of the SoftHSM2 token), a
// PostgreSQL cluster of the test's own, Pebble, and real `acme-agent certonly` processes whose
// [signer] address names every replica (SignerLab with Options::replicas; see
// tests/testing/signer_lab.h).
//
//  - 12 agents issue concurrently while one replica is SIGKILLed: each gets its certificate,
//    each certificate is in the inventory once (one order, one certificate: no order finalized
//    twice), and `audit verify --config` accepts one contiguous chain holding records of every
//    replica;
//  - PostgreSQL stopped: every replica's health service says NOT_SERVING and calls are refused
//    as UNAVAILABLE; started again: they serve again without a restart;
//  - an agent's rate limit is one limit across replicas and survives a replica's restart.
//
// Kept modest (the suite runs under ASan on 2 cores); bench/fleet* goes bigger.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/child_process.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

#ifndef ACME_AGENT_BIN
#error "ACME_AGENT_BIN must be defined to the path of the acme-agent binary"
#endif

namespace acme_signer {
namespace {

using ::testing::IsSupersetOf;

constexpr int kReplicas = 3;
constexpr int kAgents = 12;
constexpr char kLimited[] = "limited";
constexpr int kLimit = 2;
// The replica the issuance test kills (r2).
constexpr int kVictim = 1;

std::string FleetAgent(int i) { return absl::StrFormat("fleet%02d", i + 1); }
std::string FleetName(int i) { return absl::StrCat(FleetAgent(i), ".replicas.test"); }

std::string Quoted(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

// Polls the health of replica `i` until it says `serving` (at most 60 s; serve probes every 1 s).
absl::Status WaitForHealth(const testing::SignerLab& lab, int i, bool serving) {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  std::string last;
  while (absl::Now() < deadline) {
    absl::StatusOr<bool> now = lab.Serving(i);
    if (now.ok() && *now == serving) return absl::OkStatus();
    last = now.ok() ? (*now ? "SERVING" : "NOT_SERVING") : std::string(now.status().message());
    absl::SleepFor(absl::Milliseconds(200));
  }
  return absl::DeadlineExceededError(absl::StrCat("replica ", i, " did not become ",
                                                  serving ? "SERVING" : "NOT_SERVING",
                                                  " within 60 s (last: ", last, ")"));
}

class ReplicasTest : public testing::SignerLabSuite<ReplicasTest> {
 public:
  static testing::SignerLab::Options LabOptions() {
    testing::SignerLab::Options options;
    options.replicas = kReplicas;
    options.agents = testing::DefaultLabAgents();
    options.enroll = {"web1", kLimited};
    for (int i = 0; i < kAgents; ++i) {
      testing::LabAgentPolicy fleet;
      fleet.name = FleetAgent(i);
      fleet.allowed_names = {FleetName(i)};
      options.agents.push_back(fleet);
      options.enroll.push_back(fleet.name);
    }
    testing::LabAgentPolicy limited;
    limited.name = kLimited;
    limited.allowed_names = {"limited.replicas.test"};
    limited.orders_per_hour = kLimit;
    options.agents.push_back(limited);
    // A CA with pre-validated names: the agents' challenges need no responder (12 standalone
    // servers could not share the one http-01 port).
    options.pebble_env = {{"PEBBLE_VA_ALWAYS_VALID", "1"}};
    // Checkpoints are shared by the replicas: several fall inside the test.
    options.checkpoint_every = 8;
    return options;
  }

 protected:
  void SetUp() override {
    // Skipped on a dev machine without PostgreSQL 15, a failure under CI=true.
    if (absl::Status pg = testing::PostgresCluster::Available(); !pg.ok()) {
      if (testing::InCi()) GTEST_FAIL() << "CI=true and PostgreSQL is missing: " << pg;
      GTEST_SKIP() << pg;
    }
    SignerLabSuite::SetUp();
  }

  // A test that stopped a replica or the database puts it back.
  void TearDown() override {
    if (!lab_started()) return;
    if (testing::PostgresCluster* pg = lab().postgres(); pg != nullptr && !pg->pid().ok()) {
      absl::Status restarted = pg->Restart();
      ASSERT_TRUE(restarted.ok()) << restarted;
    }
    for (int i = 0; i < kReplicas; ++i) {
      if (lab().replica_running(i)) continue;
      absl::Status started = lab().StartReplica(i);
      ASSERT_TRUE(started.ok()) << started;
    }
  }

  // <lab>/agents-run/NAME: agent.toml (target naming every replica) and its config_dir.
  static absl::StatusOr<std::string> WriteAgentConfig(const std::string& name) {
    const std::string base = absl::StrCat(lab().dir(), "/agents-run");
    ::mkdir(base.c_str(), 0700);
    const std::string dir = absl::StrCat(base, "/", name);
    ::mkdir(dir.c_str(), 0700);
    absl::StatusOr<agent::SignerConnection> connection = lab().Connection(name);
    if (!connection.ok()) return connection.status();
    const std::string text = absl::StrCat(
        "# Written by tests/integration/replicas_test.cc\n",
        "config_dir = ", Quoted(absl::StrCat(dir, "/etc")), "\n\n[signer]\n",
        "address = ", Quoted(lab().signer_target()), "\n",
        "tls_server_name = ", Quoted(lab().signer_server_name()), "\n",
        "ca = ", Quoted(connection->ca_cert), "\n\n[identity]\n",
        "trust_domain = ", Quoted(lab().trust_domain()), "\n", "name = ", Quoted(name), "\n",
        "key = ", Quoted(connection->client_key), "\n", "cert = ", Quoted(connection->client_cert),
        "\n\n[defaults]\nhook_timeout_seconds = 60\n");
    const std::string path = absl::StrCat(dir, "/agent.toml");
    if (absl::Status s = WriteFileAtomically(path, text, 0600); !s.ok()) return s;
    return path;
  }

  // `acme-agent certonly` for fleet agent i (a manual hook that does nothing: Pebble accepts
  // every challenge).
  static testing::ChildResult CertOnly(int i, const std::string& config) {
    testing::ChildOptions options;
    options.scratch_dir = absl::StrCat(lab().dir(), "/agents-run/", FleetAgent(i));
    options.timeout = absl::Minutes(5);
    // These agents test the replicas, not the agent's memory: as in token_enrollment_test's
    // flood, LeakSanitizer sometimes reports an exit-time allocation inside libcrypto
    // (CRYPTO_zalloc, stack cut there) while a gRPC channel is torn down, and its exit status 1
    // hides the agent's own. The agent tests keep leak checking on.
    options.extra_env.push_back(
        "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:strict_string_checks=1");
    return testing::RunChild(
        {ACME_AGENT_BIN, "certonly", "--config", config, "--non-interactive", "--cert-name",
         FleetAgent(i), "-d", FleetName(i), "--manual-auth-hook", "/bin/true"},
        options);
  }

  static std::string CertPath(int i) {
    return absl::StrCat(lab().dir(), "/agents-run/", FleetAgent(i), "/etc/live/", FleetAgent(i),
                        "/cert.pem");
  }

  // `acme-signer audit export --config` (the admin config: the shared database), parsed.
  static std::vector<nlohmann::json> ExportedAudit() {
    testing::CommandResult run = Run({"audit", "export", "--config", lab().config_path()});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    std::vector<nlohmann::json> records;
    for (absl::string_view line : absl::StrSplit(run.out, '\n', absl::SkipEmpty())) {
      nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
      EXPECT_TRUE(record.is_object()) << line;
      if (record.is_object()) records.push_back(std::move(record));
    }
    return records;
  }

  static std::string AllReplicaLogs() {
    std::string logs;
    for (int i = 0; i < kReplicas; ++i) {
      absl::StrAppend(&logs, "--- r", i + 1, ":\n", lab().ReplicaLogTail(i, 3000), "\n");
    }
    return logs;
  }
};

TEST_F(ReplicasTest, TwelveAgentsEachGetTheirCertificateWhileAReplicaIsKilled) {
  std::vector<std::string> configs;
  for (int i = 0; i < kAgents; ++i) {
    absl::StatusOr<std::string> config = WriteAgentConfig(FleetAgent(i));
    ASSERT_TRUE(config.ok()) << config.status();
    configs.push_back(*config);
  }
  std::vector<testing::ChildResult> results(kAgents);
  std::vector<std::thread> agents;
  for (int i = 0; i < kAgents; ++i) {
    agents.emplace_back([&results, &configs, i] { results[i] = CertOnly(i, configs[i]); });
  }
  // Mid-run: once the first certificate is installed (the others are still in flight), or
  // after 30 s at the latest.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  auto any_installed = [] {
    for (int i = 0; i < kAgents; ++i) {
      if (::access(CertPath(i).c_str(), F_OK) == 0) return true;
    }
    return false;
  };
  while (!any_installed() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  absl::StatusOr<int> killed = lab().StopReplica(kVictim, /*kill=*/true);
  for (std::thread& t : agents) t.join();
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(*killed, 128 + SIGKILL);

  for (int i = 0; i < kAgents; ++i) {
    EXPECT_EQ(results[i].exit_code, 0) << FleetAgent(i) << ": " << results[i];
    EXPECT_EQ(::access(CertPath(i).c_str(), F_OK), 0) << CertPath(i);
  }
  if (HasFailure()) FAIL() << AllReplicaLogs();

  // One inventory entry per certificate: one per agent, no serial and no order twice (an order
  // finalized twice would show as two certificates of one order).
  std::map<std::string, int> per_agent;
  std::set<std::string> serials, orders;
  for (const nlohmann::json& entry : Inventory()) {
    const std::string agent = entry.value("agent", "");
    if (agent.rfind("fleet", 0) != 0) continue;
    ++per_agent[agent];
    EXPECT_TRUE(serials.insert(entry.value("serial", "")).second) << entry.dump();
    EXPECT_TRUE(orders.insert(entry.value("order_url", "")).second) << entry.dump();
  }
  EXPECT_EQ(per_agent.size(), static_cast<size_t>(kAgents));
  for (const auto& [agent, n] : per_agent) EXPECT_EQ(n, 1) << agent;

  // One chain, in the database, that every replica wrote to.
  testing::CommandResult verify = Run({"audit", "verify", "--config", lab().config_path()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  const std::vector<nlohmann::json> records = ExportedAudit();
  ASSERT_FALSE(records.empty());
  std::set<std::string> replicas;
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].value("seq", uint64_t{0}), i + 1) << records[i].dump();
    if (records[i].contains("replica")) replicas.insert(records[i].value("replica", ""));
  }
  EXPECT_THAT(replicas, IsSupersetOf({"r1", "r2", "r3"}));
}

TEST_F(ReplicasTest, PostgresStoppedMakesEveryReplicaNotServingAndServingAgainWithoutRestart) {
  for (int i = 0; i < kReplicas; ++i) ASSERT_TRUE(WaitForHealth(lab(), i, true).ok());
  const size_t inventory_before = Inventory().size();
  std::vector<pid_t> pids;
  for (int i = 0; i < kReplicas; ++i) pids.push_back(lab().replica_pid(i));

  ASSERT_TRUE(lab().postgres()->Stop().ok());
  for (int i = 0; i < kReplicas; ++i) {
    absl::Status down = WaitForHealth(lab(), i, false);
    EXPECT_TRUE(down.ok()) << down << "\n" << AllReplicaLogs();
  }
  // No issuance: an order is refused as unavailable on every replica (the agent tries another).
  for (int i = 0; i < kReplicas; ++i) {
    absl::StatusOr<agent::SignerConnection> to = lab().ConnectionTo("web1", i);
    ASSERT_TRUE(to.ok()) << to.status();
    absl::StatusOr<std::unique_ptr<agent::SignerClient>> client = agent::SignerClient::Connect(*to);
    ASSERT_TRUE(client.ok()) << client.status();
    absl::StatusOr<agent::pb::Order> order = (*client)->CreateOrder({"web1.example.test"}, "");
    EXPECT_EQ(order.status().code(), absl::StatusCode::kUnavailable)
        << "replica " << i << ": " << order.status();
  }

  ASSERT_TRUE(lab().postgres()->Restart().ok());
  for (int i = 0; i < kReplicas; ++i) {
    absl::Status up = WaitForHealth(lab(), i, true);
    EXPECT_TRUE(up.ok()) << up << "\n" << AllReplicaLogs();
    // The same processes: nothing was restarted.
    EXPECT_EQ(lab().replica_pid(i), pids[i]);
  }
  // Nothing half-written: the chain verifies and no certificate appeared.
  testing::CommandResult verify = Run({"audit", "verify", "--config", lab().config_path()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_EQ(Inventory().size(), inventory_before);
  // And every replica serves again.
  for (int i = 0; i < kReplicas; ++i) {
    absl::StatusOr<agent::SignerConnection> to = lab().ConnectionTo("web1", i);
    ASSERT_TRUE(to.ok()) << to.status();
    absl::StatusOr<std::unique_ptr<agent::SignerClient>> client = agent::SignerClient::Connect(*to);
    ASSERT_TRUE(client.ok()) << client.status();
    absl::StatusOr<agent::pb::Order> order = (*client)->CreateOrder({"web1.example.test"}, "");
    EXPECT_TRUE(order.ok()) << "replica " << i << ": " << order.status();
  }
}

TEST_F(ReplicasTest, RateLimitOfAnAgentIsOneLimitAcrossReplicasAndSurvivesARestart) {
  auto create_on = [](int i) -> absl::Status {
    absl::StatusOr<agent::SignerConnection> to = lab().ConnectionTo(kLimited, i);
    if (!to.ok()) return to.status();
    absl::StatusOr<std::unique_ptr<agent::SignerClient>> client = agent::SignerClient::Connect(*to);
    if (!client.ok()) return client.status();
    return (*client)->CreateOrder({"limited.replicas.test"}, "").status();
  };
  // kLimit orders, each on another replica, then the next one is refused on the third.
  for (int i = 0; i < kLimit; ++i) {
    absl::Status created = create_on(i);
    ASSERT_TRUE(created.ok()) << "replica " << i << ": " << created;
  }
  absl::Status over = create_on(kLimit);
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted) << over;

  absl::StatusOr<int> stopped = lab().StopReplica(0);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  absl::Status started = lab().StartReplica(0);
  ASSERT_TRUE(started.ok()) << started;
  absl::Status after_restart = create_on(0);
  EXPECT_EQ(after_restart.code(), absl::StatusCode::kResourceExhausted) << after_restart;
}

}  // namespace
}  // namespace acme_signer
