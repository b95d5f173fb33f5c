#include "agent/hook_solver.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"
#include "tests/agent/test_certs.h"

namespace acme_signer::agent {
namespace {

using ::acme_signer::agent::testing::IsOk;
using ::acme_signer::agent::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Env = std::map<std::string, std::string>;

// Parses the files written by DumpEnvCommand: one `env -0` dump per hook run, in run order.
std::vector<Env> ReadEnvDumps(const std::string& dir, const std::string& prefix) {
  std::vector<Env> out;
  for (int i = 1;; ++i) {
    auto text = ReadFile(dir + "/" + prefix + "." + std::to_string(i));
    if (!text.ok()) break;
    Env env;
    for (absl::string_view entry : absl::StrSplit(*text, '\0', absl::SkipEmpty())) {
      size_t eq = entry.find('=');
      env[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
    }
    out.push_back(std::move(env));
  }
  return out;
}

// A hook that dumps its environment to <dir>/<prefix>.N (N counts runs), then runs `tail`.
std::string DumpEnvCommand(const std::string& dir, const std::string& prefix,
                           const std::string& tail = "true") {
  return "n=1; while [ -e '" + dir + "/" + prefix + ".'$n ]; do n=$((n+1)); done; env -0 > '" +
         dir + "/" + prefix + ".'$n; " + tail;
}

ChallengeTask Task(const std::string& domain, const std::string& token, int remaining) {
  ChallengeTask task;
  task.domain = domain;
  task.token = token;
  task.key_authorization = token + ".thumbprint";
  task.dns01_txt_value = "txt-" + token;
  task.remaining = remaining;
  task.all_domains = "example.com,www.example.com";
  return task;
}

class HookSolverTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
};

TEST_F(HookSolverTest, Http01AuthHookGetsCertbotVariables) {
  HookSolver solver("http-01", "example.com", DumpEnvCommand(dir_.path(), "auth"), "",
                    absl::Seconds(30));
  EXPECT_EQ(solver.ChallengeType(), "http-01");
  ASSERT_THAT(solver.Start(), IsOk());
  ASSERT_THAT(solver.Present(Task("example.com", "tokA", 1)), IsOk());
  ASSERT_THAT(solver.Present(Task("www.example.com", "tokB", 0)), IsOk());

  std::vector<Env> runs = ReadEnvDumps(dir_.path(), "auth");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0]["CERTBOT_DOMAIN"], "example.com");
  EXPECT_EQ(runs[0]["CERTBOT_VALIDATION"], "tokA.thumbprint");
  EXPECT_EQ(runs[0]["CERTBOT_TOKEN"], "tokA");
  EXPECT_EQ(runs[0]["CERTBOT_REMAINING_CHALLENGES"], "1");
  EXPECT_EQ(runs[0]["CERTBOT_ALL_DOMAINS"], "example.com,www.example.com");
  EXPECT_EQ(runs[0]["ACME_AGENT_HOOK"], "auth");
  EXPECT_EQ(runs[0]["ACME_AGENT_LINEAGE"], "example.com");
  EXPECT_EQ(runs[0]["ACME_AGENT_CHALLENGE_TYPE"], "http-01");
  EXPECT_EQ(runs[1]["CERTBOT_DOMAIN"], "www.example.com");
  EXPECT_EQ(runs[1]["CERTBOT_VALIDATION"], "tokB.thumbprint");
  EXPECT_EQ(runs[1]["CERTBOT_REMAINING_CHALLENGES"], "0");
}

TEST_F(HookSolverTest, Dns01AuthHookGetsTheTxtValueAndNoToken) {
  ::unsetenv("CERTBOT_TOKEN");
  HookSolver solver("dns-01", "example.com", DumpEnvCommand(dir_.path(), "auth"), "",
                    absl::Seconds(30));
  EXPECT_EQ(solver.ChallengeType(), "dns-01");
  ASSERT_THAT(solver.Start(), IsOk());
  ASSERT_THAT(solver.Present(Task("example.com", "tokA", 0)), IsOk());

  std::vector<Env> runs = ReadEnvDumps(dir_.path(), "auth");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["CERTBOT_VALIDATION"], "txt-tokA");
  EXPECT_EQ(runs[0].count("CERTBOT_TOKEN"), 0u);
  EXPECT_EQ(runs[0]["ACME_AGENT_CHALLENGE_TYPE"], "dns-01");
}

TEST_F(HookSolverTest, CleanupHookGetsEachChallengesOwnAuthOutput) {
  // The auth hook prints a per-domain record id, as DNS provider scripts do.
  HookSolver solver("dns-01", "example.com", "printf '  record-%s\\n\\n' \"$CERTBOT_DOMAIN\"",
                    DumpEnvCommand(dir_.path(), "cleanup"), absl::Seconds(30));
  ASSERT_THAT(solver.Start(), IsOk());
  ASSERT_THAT(solver.Present(Task("example.com", "tokA", 1)), IsOk());
  ASSERT_THAT(solver.Present(Task("www.example.com", "tokB", 0)), IsOk());
  EXPECT_TRUE(ReadEnvDumps(dir_.path(), "cleanup").empty());

  solver.CleanUp();
  std::vector<Env> runs = ReadEnvDumps(dir_.path(), "cleanup");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0]["CERTBOT_DOMAIN"], "example.com");
  EXPECT_EQ(runs[0]["CERTBOT_VALIDATION"], "txt-tokA");
  EXPECT_EQ(runs[0]["CERTBOT_AUTH_OUTPUT"], "record-example.com");
  EXPECT_EQ(runs[0]["ACME_AGENT_HOOK"], "cleanup");
  EXPECT_EQ(runs[1]["CERTBOT_DOMAIN"], "www.example.com");
  EXPECT_EQ(runs[1]["CERTBOT_AUTH_OUTPUT"], "record-www.example.com");
}

TEST_F(HookSolverTest, CleanupRunsOncePerChallengeEvenWhenCalledAgainOrOnDestruction) {
  {
    HookSolver solver("http-01", "example.com", "true", DumpEnvCommand(dir_.path(), "cleanup"),
                      absl::Seconds(30));
    ASSERT_THAT(solver.Start(), IsOk());
    ASSERT_THAT(solver.Present(Task("example.com", "tokA", 0)), IsOk());
    solver.CleanUp();
    solver.CleanUp();
  }
  EXPECT_EQ(ReadEnvDumps(dir_.path(), "cleanup").size(), 1u);
}

TEST_F(HookSolverTest, DestructionRunsCleanupWhenTheCallerDidNot) {
  {
    HookSolver solver("dns-01", "example.com", "true", DumpEnvCommand(dir_.path(), "cleanup"),
                      absl::Seconds(30));
    ASSERT_THAT(solver.Start(), IsOk());
    ASSERT_THAT(solver.Present(Task("example.com", "tokA", 0)), IsOk());
  }
  EXPECT_EQ(ReadEnvDumps(dir_.path(), "cleanup").size(), 1u);
}

TEST_F(HookSolverTest, FailingAuthHookIsAnErrorNamingTheHookDomainAndStderr) {
  HookSolver solver("dns-01", "example.com", "echo 'provider said no' >&2; exit 3", "",
                    absl::Seconds(30));
  ASSERT_THAT(solver.Start(), IsOk());
  EXPECT_THAT(solver.Present(Task("example.com", "tokA", 0)),
              StatusIs(absl::StatusCode::kAborted,
                       AllOf(HasSubstr("--manual-auth-hook"), HasSubstr("example.com"),
                             HasSubstr("status 3"), HasSubstr("provider said no"))));
}

TEST_F(HookSolverTest, AuthHookThatTimesOutIsDeadlineExceeded) {
  HookSolver solver("dns-01", "example.com", "exec sleep 30", "", absl::Milliseconds(200));
  ASSERT_THAT(solver.Start(), IsOk());
  EXPECT_THAT(solver.Present(Task("example.com", "tokA", 0)),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("--manual-auth-hook")));
}

TEST_F(HookSolverTest, ChallengeWhoseAuthHookFailedIsStillCleanedUp) {
  // A dns-01 hook may create the record and then fail while waiting for propagation.
  HookSolver solver("dns-01", "example.com", "echo partial; exit 1",
                    DumpEnvCommand(dir_.path(), "cleanup"), absl::Seconds(30));
  ASSERT_THAT(solver.Start(), IsOk());
  ASSERT_FALSE(solver.Present(Task("example.com", "tokA", 0)).ok());
  solver.CleanUp();
  std::vector<Env> runs = ReadEnvDumps(dir_.path(), "cleanup");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["CERTBOT_DOMAIN"], "example.com");
  EXPECT_EQ(runs[0]["CERTBOT_AUTH_OUTPUT"], "");
}

TEST_F(HookSolverTest, FailingCleanupHookIsOnlyAWarningAndLaterCleanupsStillRun) {
  // The first cleanup fails; the second must still run.
  HookSolver solver(
      "dns-01", "example.com", "true",
      DumpEnvCommand(dir_.path(), "cleanup", "[ \"$CERTBOT_DOMAIN\" != example.com ] || exit 7"),
      absl::Seconds(30));
  ASSERT_THAT(solver.Start(), IsOk());
  ASSERT_THAT(solver.Present(Task("example.com", "tokA", 1)), IsOk());
  ASSERT_THAT(solver.Present(Task("www.example.com", "tokB", 0)), IsOk());
  ::testing::internal::CaptureStderr();
  solver.CleanUp();
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(
      err, AllOf(HasSubstr("warning"), HasSubstr("--manual-cleanup-hook"), HasSubstr("status 7")));
  std::vector<Env> runs = ReadEnvDumps(dir_.path(), "cleanup");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1]["CERTBOT_DOMAIN"], "www.example.com");
}

TEST_F(HookSolverTest, StartRequiresAnAuthHook) {
  HookSolver solver("dns-01", "example.com", "", "", absl::Seconds(30));
  EXPECT_THAT(solver.Start(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--manual-auth-hook")));
}

TEST_F(HookSolverTest, StartRejectsAnUnknownChallengeType) {
  HookSolver solver("tls-alpn-01", "example.com", "true", "", absl::Seconds(30));
  EXPECT_THAT(solver.Start(), StatusIs(absl::StatusCode::kInvalidArgument,
                                       AllOf(HasSubstr("tls-alpn-01"), HasSubstr("dns-01"))));
}

TEST_F(HookSolverTest, PresentWithoutStartStillRefusesAnInvalidSetup) {
  HookSolver solver("dns-01", "example.com", "", "", absl::Seconds(30));
  EXPECT_THAT(solver.Present(Task("example.com", "tokA", 0)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--manual-auth-hook")));
}

}  // namespace
}  // namespace acme_signer::agent
