// What issue 16 asks of a single signer on SQLite, end to end with the real acme-signer: the
// standard gRPC health service follows the HSM (NOT_SERVING while the token is gone, SERVING
// again by itself when it is back, each change logged once), and an agent's rate limit is kept
// in the state store, so a restart does not reset it. replicas_test.cc has the same on
// PostgreSQL with several replicas.
#include <stdio.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;

constexpr char kLimited[] = "limited";
constexpr int kLimit = 2;

// Polls `lab.Serving(i)` until it says `serving` (at most 60 s; the monitor probes every 1 s).
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

size_t Count(absl::string_view text, absl::string_view needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != absl::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

class ReplicasSqliteTest : public testing::SignerLabSuite<ReplicasSqliteTest> {
 public:
  static testing::SignerLab::Options LabOptions() {
    testing::SignerLab::Options options;
    options.agents = testing::DefaultLabAgents();
    testing::LabAgentPolicy limited;
    limited.name = kLimited;
    limited.allowed_names = {"limited.example.test"};
    limited.orders_per_hour = kLimit;
    options.agents.push_back(limited);
    options.enroll = {"web1", kLimited};
    return options;
  }

 protected:
  void TearDown() override {
    if (!lab_started()) return;
    if (!away_.empty()) {
      ASSERT_EQ(::rename(away_.c_str(), token_dir_.c_str()), 0) << errno;
      away_.clear();
    }
    if (!lab().signer_running()) {
      absl::Status started = lab().StartSigner();
      ASSERT_TRUE(started.ok()) << started;
    }
  }

  // The lab token's directory in SoftHSM2's token dir (named by a UUID; token.object holds the
  // label).
  static std::string TokenDir() {
    absl::StatusOr<std::string> dir = testing::SoftHsmDir();
    EXPECT_TRUE(dir.ok()) << dir.status();
    if (!dir.ok()) return "";
    for (const auto& entry : std::filesystem::directory_iterator(*dir + "/tokens")) {
      absl::StatusOr<std::string> object = ReadFile((entry.path() / "token.object").string());
      if (object.ok() && absl::StrContains(*object, lab().token().label)) return entry.path();
    }
    ADD_FAILURE() << "no SoftHSM2 directory holds token " << lab().token().label;
    return "";
  }

  std::string token_dir_;
  std::string away_;  // set while the token directory is moved away
};

TEST_F(ReplicasSqliteTest, HealthIsNotServingWhileTheHsmIsGoneAndServingAgainByItself) {
  ASSERT_TRUE(WaitForHealth(lab(), 0, true).ok());
  const size_t not_serving_before = Count(lab().SignerLog(), "health: NOT_SERVING");
  const size_t serving_before = Count(lab().SignerLog(), "health: SERVING again");

  // Out of SoftHSM2's token dir (any directory inside it counts as a token).
  token_dir_ = TokenDir();
  ASSERT_FALSE(token_dir_.empty());
  away_ = absl::StrCat(lab().dir(), "/token-away");
  ASSERT_EQ(::rename(token_dir_.c_str(), away_.c_str()), 0) << errno;

  absl::Status down = WaitForHealth(lab(), 0, false);
  ASSERT_TRUE(down.ok()) << down << "\n" << lab().SignerLogTail();
  // A call that needs the account key is refused as unavailable meanwhile (fail closed).
  std::unique_ptr<agent::SignerClient> client = Client("web1");
  ASSERT_NE(client, nullptr);
  absl::StatusOr<agent::pb::Order> while_down = client->CreateOrder({"web1.example.test"}, "");
  EXPECT_EQ(while_down.status().code(), absl::StatusCode::kUnavailable) << while_down.status();

  ASSERT_EQ(::rename(away_.c_str(), token_dir_.c_str()), 0) << errno;
  away_.clear();
  absl::Status up = WaitForHealth(lab(), 0, true);
  ASSERT_TRUE(up.ok()) << up << "\n" << lab().SignerLogTail();

  // Each change logged once, naming what failed.
  const std::string log = lab().SignerLog();
  EXPECT_EQ(Count(log, "health: NOT_SERVING"), not_serving_before + 1) << log;
  EXPECT_EQ(Count(log, "health: SERVING again"), serving_before + 1) << log;
  const size_t at = log.rfind("health: NOT_SERVING");
  ASSERT_NE(at, std::string::npos);
  EXPECT_THAT(log.substr(at, log.find('\n', at) - at), HasSubstr("hsm: "));
  // And the agent is served again without a restart.
  std::unique_ptr<agent::SignerClient> again = Client("web1");
  ASSERT_NE(again, nullptr);
  absl::StatusOr<agent::pb::GetAccountResponse> account = again->GetAccount();
  EXPECT_TRUE(account.ok()) << account.status();
}

TEST_F(ReplicasSqliteTest, RateLimitOfAnAgentSurvivesARestart) {
  std::unique_ptr<agent::SignerClient> client = Client(kLimited);
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < kLimit; ++i) {
    absl::StatusOr<agent::pb::Order> order = client->CreateOrder({"limited.example.test"}, "");
    ASSERT_TRUE(order.ok()) << "order " << i << ": " << order.status();
  }
  absl::StatusOr<agent::pb::Order> over = client->CreateOrder({"limited.example.test"}, "");
  ASSERT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted) << over.status();

  absl::StatusOr<int> stopped = lab().StopSigner();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  absl::Status started = lab().StartSigner();
  ASSERT_TRUE(started.ok()) << started;

  std::unique_ptr<agent::SignerClient> after = Client(kLimited);
  ASSERT_NE(after, nullptr);
  absl::StatusOr<agent::pb::Order> still_over = after->CreateOrder({"limited.example.test"}, "");
  EXPECT_EQ(still_over.status().code(), absl::StatusCode::kResourceExhausted)
      << still_over.status();
  EXPECT_THAT(still_over.status().message(), HasSubstr("exceeded its rate limit of 2 orders"));
}

}  // namespace
}  // namespace acme_signer
