#include "signer/health_monitor.h"

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"

namespace acme_signer::signer {
namespace {

using ::acme_signer::testing::FakeClock;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

// A probe whose answer the test sets.
class SettableProbe {
 public:
  void Set(absl::Status status) {
    absl::MutexLock lock(&mu_);
    status_ = std::move(status);
  }
  absl::Status Check() {
    absl::MutexLock lock(&mu_);
    ++calls_;
    return status_;
  }
  int calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Status status_ = absl::OkStatus();
  int calls_ = 0;
};

// What the listener was told, in order.
class Verdicts {
 public:
  HealthMonitor::Listener Listener() {
    return [this](bool serving, absl::string_view why) {
      absl::MutexLock lock(&mu_);
      seen_.emplace_back(serving, std::string(why));
    };
  }
  std::vector<std::pair<bool, std::string>> seen() const {
    absl::MutexLock lock(&mu_);
    return seen_;
  }
  // Waits (bounded) until `count` verdicts were told; false when they were not.
  bool WaitFor(size_t count) const {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return seen_.size() >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(60));
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::pair<bool, std::string>> seen_ ABSL_GUARDED_BY(mu_);
};

std::vector<HealthMonitor::Probe> TwoProbes(SettableProbe& database, SettableProbe& hsm) {
  return {{"database", [&database] { return database.Check(); }},
          {"hsm", [&hsm] { return hsm.Check(); }}};
}

TEST(HealthMonitorTest, ServesWhenEveryProbeAnswersAndTellsTheListenerNothing) {
  SettableProbe database, hsm;
  Verdicts verdicts;
  HealthMonitor monitor(TwoProbes(database, hsm), HealthMonitor::Options(), verdicts.Listener());
  EXPECT_TRUE(monitor.CheckNow().ok());
  EXPECT_TRUE(monitor.verdict().ok());
  EXPECT_EQ(database.calls(), 1);
  EXPECT_EQ(hsm.calls(), 1);
  EXPECT_THAT(verdicts.seen(), IsEmpty());
}

TEST(HealthMonitorTest, LostDatabaseIsNotServingNamingTheProbeAndItsError) {
  SettableProbe database, hsm;
  Verdicts verdicts;
  HealthMonitor monitor(TwoProbes(database, hsm), HealthMonitor::Options(), verdicts.Listener());
  database.Set(absl::UnavailableError("connection refused"));
  const absl::Status verdict = monitor.CheckNow();
  EXPECT_EQ(verdict.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(verdict.message(), HasSubstr("database: connection refused"));
  EXPECT_THAT(verdict.message(), ::testing::Not(HasSubstr("hsm")));
  EXPECT_EQ(monitor.verdict(), verdict);
  EXPECT_THAT(verdicts.seen(), ElementsAre(Pair(false, "database: connection refused")));
}

TEST(HealthMonitorTest, NamesEveryFailingProbe) {
  SettableProbe database, hsm;
  HealthMonitor monitor(TwoProbes(database, hsm), HealthMonitor::Options(), nullptr);
  database.Set(absl::UnavailableError("server closed the connection"));
  hsm.Set(absl::UnavailableError("HSM token t is unavailable (CKR_DEVICE_REMOVED)"));
  EXPECT_EQ(monitor.CheckNow().message(),
            "database: server closed the connection; hsm: HSM token t is unavailable "
            "(CKR_DEVICE_REMOVED)");
}

TEST(HealthMonitorTest, ListenerHearsEachChangeOnceAndServingAgainByItself) {
  SettableProbe database, hsm;
  Verdicts verdicts;
  HealthMonitor monitor(TwoProbes(database, hsm), HealthMonitor::Options(), verdicts.Listener());
  hsm.Set(absl::UnavailableError("gone"));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(monitor.CheckNow().ok());
  // Another reason while still down is not a change.
  database.Set(absl::UnavailableError("down too"));
  EXPECT_FALSE(monitor.CheckNow().ok());
  database.Set(absl::OkStatus());
  hsm.Set(absl::OkStatus());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(monitor.CheckNow().ok());
  EXPECT_THAT(verdicts.seen(), ElementsAre(Pair(false, "hsm: gone"), Pair(true, "")));
}

TEST(HealthMonitorTest, ProbeThatHangsIsNotServingAfterTheTimeoutAndServesWhenItReturns) {
  FakeClock clock;
  absl::Notification entered, release;
  std::vector<HealthMonitor::Probe> probes = {{"database", [] { return absl::OkStatus(); }},
                                              {"hsm", [&] {
                                                 entered.Notify();
                                                 release.WaitForNotification();
                                                 return absl::OkStatus();
                                               }}};
  HealthMonitor::Options options;
  options.probe_timeout = absl::Seconds(5);
  options.now = [&clock] { return clock.Now(); };
  Verdicts verdicts;
  HealthMonitor monitor(std::move(probes), options, verdicts.Listener());

  std::thread prober([&] { EXPECT_TRUE(monitor.CheckNow().ok()); });
  entered.WaitForNotification();
  // Within the timeout a slow probe is not a failure.
  clock.Advance(absl::Seconds(5));
  EXPECT_TRUE(monitor.CheckForStalledProbe().ok());
  clock.Advance(absl::Seconds(1));
  const absl::Status stalled = monitor.CheckForStalledProbe();
  EXPECT_EQ(stalled.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(stalled.message(), HasSubstr("hsm: no answer for 6s"));

  release.Notify();
  prober.join();
  EXPECT_TRUE(monitor.verdict().ok());
  EXPECT_THAT(verdicts.seen(), ElementsAre(Pair(false, "hsm: no answer for 6s"), Pair(true, "")));
}

TEST(HealthMonitorTest, BackgroundProberReportsAnOutageAndTheRecovery) {
  SettableProbe database, hsm;
  database.Set(absl::UnavailableError("no connection to the server"));
  Verdicts verdicts;
  HealthMonitor::Options options;
  options.interval = absl::Milliseconds(10);
  HealthMonitor monitor(TwoProbes(database, hsm), options, verdicts.Listener());
  monitor.Start();
  ASSERT_TRUE(verdicts.WaitFor(1));
  database.Set(absl::OkStatus());
  ASSERT_TRUE(verdicts.WaitFor(2));
  monitor.Stop();
  const int calls = database.calls();
  EXPECT_GE(calls, 2);
  EXPECT_THAT(verdicts.seen(),
              ElementsAre(Pair(false, "database: no connection to the server"), Pair(true, "")));
  // Stopped means stopped: no run after Stop() returned.
  EXPECT_EQ(database.calls(), calls);
}

}  // namespace
}  // namespace acme_signer::signer
