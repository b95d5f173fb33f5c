#include "agent/hooks.h"

#include <signal.h>
#include <stdlib.h>

#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
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
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

// Parses `env -0` output written by a hook.
std::map<std::string, std::string> ReadEnvDump(const std::string& path) {
  std::map<std::string, std::string> out;
  auto text = ReadFile(path);
  if (!text.ok()) return out;
  for (absl::string_view entry : absl::StrSplit(*text, '\0', absl::SkipEmpty())) {
    size_t eq = entry.find('=');
    out[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
  }
  return out;
}

// True when `pid` no longer runs (gone, or a zombie waiting for its reaper).
bool ProcessIsDead(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return true;
  size_t paren = stat->rfind(')');
  return paren != std::string::npos && stat->substr(paren + 2, 1) == "Z";
}

ChallengeHookVars HttpVars() {
  ChallengeHookVars v;
  v.lineage = "example.com";
  v.challenge_type = "http-01";
  v.domain = "www.example.com";
  v.validation = "tok123.thumbprint456";
  v.token = "tok123";
  v.remaining_challenges = 1;
  v.all_domains = {"example.com", "www.example.com"};
  return v;
}

class HooksTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
};

TEST_F(HooksTest, DeployHookSeesCertbotVariablesAndTheAgentEnvironment) {
  ::setenv("ACME_AGENT_TEST_INHERITED", "yes", 1);
  ::setenv("RENEWED_DOMAINS", "stale value from the parent", 1);
  const std::string dump = dir_.path() + "/env";
  auto out = RunHook("deploy hook", "env -0 > " + dump,
                     DeployHookEnv("example.com", "/etc/acme-agent/live/example.com",
                                   {"example.com", "www.example.com"}));
  ASSERT_THAT(out, IsOk());
  auto env = ReadEnvDump(dump);
  EXPECT_EQ(env["RENEWED_LINEAGE"], "/etc/acme-agent/live/example.com");
  EXPECT_EQ(env["RENEWED_DOMAINS"], "example.com www.example.com");
  EXPECT_EQ(env["ACME_AGENT_HOOK"], "deploy");
  EXPECT_EQ(env["ACME_AGENT_LINEAGE"], "example.com");
  EXPECT_EQ(env["ACME_AGENT_TEST_INHERITED"], "yes");
  EXPECT_TRUE(env.count("PATH") == 1 || ::getenv("PATH") == nullptr);
  ::unsetenv("ACME_AGENT_TEST_INHERITED");
  ::unsetenv("RENEWED_DOMAINS");
}

TEST_F(HooksTest, AuthHookOutputIsCapturedAndHandedToTheCleanupHook) {
  const ChallengeHookVars vars = HttpVars();
  const std::string auth_dump = dir_.path() + "/auth-env";
  auto auth = RunHook("manual auth hook", "env -0 > " + auth_dump + "; echo record-id-42",
                      AuthHookEnv(vars));
  ASSERT_THAT(auth, IsOk());
  EXPECT_EQ(auth->stdout_text, "record-id-42\n");
  auto env = ReadEnvDump(auth_dump);
  EXPECT_EQ(env["CERTBOT_DOMAIN"], "www.example.com");
  EXPECT_EQ(env["CERTBOT_VALIDATION"], "tok123.thumbprint456");
  EXPECT_EQ(env["CERTBOT_TOKEN"], "tok123");
  EXPECT_EQ(env["CERTBOT_REMAINING_CHALLENGES"], "1");
  EXPECT_EQ(env["CERTBOT_ALL_DOMAINS"], "example.com,www.example.com");
  EXPECT_EQ(env["ACME_AGENT_HOOK"], "auth");
  EXPECT_EQ(env["ACME_AGENT_CHALLENGE_TYPE"], "http-01");
  EXPECT_EQ(env.count("CERTBOT_AUTH_OUTPUT"), 0u);

  const std::string cleanup_dump = dir_.path() + "/cleanup-env";
  ASSERT_THAT(RunHook("manual cleanup hook", "env -0 > " + cleanup_dump,
                      CleanupHookEnv(vars, auth->stdout_text)),
              IsOk());
  auto cleanup_env = ReadEnvDump(cleanup_dump);
  EXPECT_EQ(cleanup_env["CERTBOT_AUTH_OUTPUT"], "record-id-42\n");
  EXPECT_EQ(cleanup_env["ACME_AGENT_HOOK"], "cleanup");
}

TEST_F(HooksTest, Dns01HooksGetNoToken) {
  ChallengeHookVars vars = HttpVars();
  vars.challenge_type = "dns-01";
  vars.token.clear();
  const std::string dump = dir_.path() + "/env";
  ASSERT_THAT(RunHook("manual auth hook", "env -0 > " + dump, AuthHookEnv(vars)), IsOk());
  auto env = ReadEnvDump(dump);
  EXPECT_EQ(env.count("CERTBOT_TOKEN"), 0u);
  EXPECT_EQ(env["ACME_AGENT_CHALLENGE_TYPE"], "dns-01");
}

TEST_F(HooksTest, ValidationIsPassedInTheEnvironmentNotInArgv) {
  const std::string argv_dump = dir_.path() + "/argv";
  ASSERT_THAT(RunHook("manual auth hook", "tr '\\0' '\\n' < /proc/$$/cmdline > " + argv_dump,
                      AuthHookEnv(HttpVars())),
              IsOk());
  auto argv = ReadFile(argv_dump);
  ASSERT_THAT(argv, IsOk());
  EXPECT_THAT(*argv, Not(HasSubstr("thumbprint456")));
  std::vector<std::string> args = absl::StrSplit(*argv, '\n', absl::SkipEmpty());
  ASSERT_EQ(args.size(), 3u);
  EXPECT_EQ(args[0], "/bin/sh");
  EXPECT_EQ(args[1], "-c");
}

TEST_F(HooksTest, FailureNamesTheHookTheExitCodeAndTheLastStderrLines) {
  auto out = RunHook("deploy hook", "for i in 1 2 3 4 5 6 7; do echo line$i >&2; done; exit 3",
                     PreHookEnv());
  EXPECT_THAT(out,
              StatusIs(absl::StatusCode::kAborted,
                       AllOf(HasSubstr("deploy hook"), HasSubstr("exited with status 3"),
                             HasSubstr("line7"), HasSubstr("line3"), Not(HasSubstr("line2")))));
}

TEST_F(HooksTest, HookKilledBySignalIsReportedAsSuch) {
  EXPECT_THAT(RunHook("post hook", "kill -TERM $$", PostHookEnv({}, {"a.example"})),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("killed by signal 15")));
}

TEST_F(HooksTest, TimeoutKillsTheWholeProcessGroup) {
  const std::string pidfile = dir_.path() + "/pid";
  HookOptions options;
  options.timeout = absl::Seconds(1);
  auto out =
      RunHook("deploy hook", "sleep 60 & echo $! > " + pidfile + "; wait", PreHookEnv(), options);
  EXPECT_THAT(out, StatusIs(absl::StatusCode::kDeadlineExceeded,
                            AllOf(HasSubstr("deploy hook"), HasSubstr("was killed"))));
  auto pid_text = ReadFile(pidfile);
  ASSERT_THAT(pid_text, IsOk());
  int pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(*pid_text), &pid));
  // SIGKILL delivery to the group is asynchronous only until the next scheduling point.
  for (int i = 0; i < 200 && !ProcessIsDead(pid); ++i) ::usleep(10000);
  EXPECT_TRUE(ProcessIsDead(pid)) << "background child " << pid << " survived";
}

TEST_F(HooksTest, BackgroundDaemonHoldingStdoutDoesNotStallTheAgent) {
  const std::string pidfile = dir_.path() + "/pid";
  HookOptions options;
  options.timeout = absl::Seconds(60);
  auto out = RunHook("deploy hook", "sleep 60 & echo $! > " + pidfile + "; echo started",
                     PreHookEnv(), options);
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(out->stdout_text, "started\n");
  int pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(*ReadFile(pidfile)), &pid));
  ::kill(pid, SIGKILL);
}

TEST_F(HooksTest, StdoutIsCappedAtTheLimit) {
  HookOptions options;
  options.max_stdout_bytes = 1000;
  auto out =
      RunHook("manual auth hook", "head -c 100000 /dev/zero | tr '\\0' x", PreHookEnv(), options);
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(out->stdout_text, std::string(1000, 'x'));
  EXPECT_TRUE(out->stdout_truncated);
}

TEST_F(HooksTest, RejectsEmptyCommandAndBadEnvironmentNames) {
  EXPECT_THAT(RunHook("pre hook", "", PreHookEnv()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pre hook is empty")));
  EXPECT_THAT(RunHook("pre hook", "true", {{"A=B", "x"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("A=B")));
}

TEST_F(HooksTest, MissingShellIsAnErrorNotACrash) {
  HookOptions options;
  options.shell = "/nonexistent/sh";
  EXPECT_THAT(RunHook("pre hook", "true", PreHookEnv(), options),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/sh")));
}

TEST_F(HooksTest, ASlowHookReportsProgressWhileItRuns) {
  std::vector<std::string> lines;
  HookOptions options;
  options.progress_every = absl::Milliseconds(300);
  options.progress = [&lines](const std::string& line) { lines.push_back(line); };
  ASSERT_THAT(RunHook("deploy-hook", "sleep 1", PreHookEnv(), options), IsOk());
  ASSERT_GE(lines.size(), 2u);
  EXPECT_LE(lines.size(), 20u);  // one per interval at most, even on a slow machine
  EXPECT_THAT(lines.front(), HasSubstr("waiting for deploy-hook `sleep 1` ("));
  // A quick hook says nothing.
  lines.clear();
  ASSERT_THAT(RunHook("deploy-hook", "true", PreHookEnv(), options), IsOk());
  EXPECT_THAT(lines, ::testing::IsEmpty());
}

TEST_F(HooksTest, AFailedHooksStderrIsBoundedAndMadeSafeForATerminal) {
  auto out = RunHook("post hook",
                     "printf 'a\\033[31mred\\n' >&2; head -c 5000 /dev/zero | tr '\\0' y >&2; "
                     "echo >&2; echo last >&2; exit 1",
                     PreHookEnv());
  ASSERT_THAT(out, StatusIs(absl::StatusCode::kAborted, HasSubstr("last")));
  const std::string message(out.status().message());
  EXPECT_THAT(message, Not(HasSubstr("\033")));
  EXPECT_LT(message.size(), kMaxStderrShown + 200);
  EXPECT_THAT(message, HasSubstr("stderr: ..."));
}

TEST_F(HooksTest, HookDirectoryListsExecutablesInLexicalOrderAndNotesTheRest) {
  const std::string etc = dir_.path() + "/etc";
  EXPECT_THAT(ListHookDirectory(etc, "deploy"), IsOk());  // absent: empty
  EXPECT_TRUE(ListHookDirectory(etc, "deploy")->executables.empty());
  const std::string deploy = etc + "/renewal-hooks/deploy";
  ASSERT_EQ(::system(("mkdir -p " + deploy + "/subdir").c_str()), 0);
  ASSERT_THAT(WriteFileAtomically(deploy + "/20-b", "#!/bin/sh\necho b\n", 0755), IsOk());
  ASSERT_THAT(
      WriteFileAtomically(deploy + "/10-a", "#!/bin/sh\necho a \"$RENEWED_LINEAGE\"\n", 0755),
      IsOk());
  ASSERT_THAT(WriteFileAtomically(deploy + "/15-plain", "echo no\n", 0644), IsOk());
  ASSERT_THAT(WriteFileAtomically(deploy + "/10-a~", "#!/bin/sh\n", 0755), IsOk());
  absl::StatusOr<HookDirectory> listed = ListHookDirectory(etc, "deploy");
  ASSERT_THAT(listed, IsOk());
  EXPECT_THAT(listed->executables, ::testing::ElementsAre(deploy + "/10-a", deploy + "/20-b"));
  EXPECT_THAT(listed->skipped,
              ::testing::UnorderedElementsAre(
                  HasSubstr("renewal-hooks/deploy/10-a~: a backup file"),
                  HasSubstr("renewal-hooks/deploy/15-plain: not executable, skipped"),
                  HasSubstr("renewal-hooks/deploy/subdir: not a regular file")));
  // RunHookFile executes the file itself, with the hook's environment.
  auto out = RunHookFile("deploy hook", listed->executables[0],
                         DeployHookEnv("web", "/etc/acme-agent/live/web", {"a.example"}));
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(out->stdout_text, "a /etc/acme-agent/live/web\n");
}

}  // namespace
}  // namespace acme_signer::agent
