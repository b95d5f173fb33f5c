// common/subprocess.h: exact argv and environment (no shell, nothing inherited), output
// limits, the timeout. The agent's hook behaviour on top of it (process groups, pipes kept
// open by daemons, signals) is covered by tests/agent/hooks_test.cc.
#include "common/subprocess.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;

class SubprocessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/subprocess-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string Script(const std::string& name, const std::string& body) {
    const std::string path = absl::StrCat(dir_, "/", name);
    std::ofstream(path) << "#!/bin/sh\n" << body;
    EXPECT_EQ(::chmod(path.c_str(), 0700), 0);
    return path;
  }

  std::string dir_;
};

TEST_F(SubprocessTest, ChildGetsExactlyArgvAndEnvironment) {
  ::setenv("SUBPROCESS_TEST_PARENT_ONLY", "leak", 1);
  const std::string script =
      Script("show", "echo \"args=$# first=$1\"; /usr/bin/env | /usr/bin/sort\n");
  auto result =
      RunSubprocess("test program", {script, "one"}, {"A=1", "B=two words"}, SubprocessOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->timed_out);
  EXPECT_TRUE(WIFEXITED(result->wait_status) && WEXITSTATUS(result->wait_status) == 0);
  EXPECT_THAT(result->stdout_text, HasSubstr("args=1 first=one\n"));
  EXPECT_THAT(result->stdout_text, HasSubstr("A=1\nB=two words\n"));
  EXPECT_THAT(result->stdout_text, ::testing::Not(HasSubstr("SUBPROCESS_TEST_PARENT_ONLY")));
}

TEST_F(SubprocessTest, NonZeroExitIsReportedNotAnError) {
  const std::string script = Script("fail", "echo first >&2; echo last >&2; exit 3\n");
  SubprocessOptions options;
  options.max_stderr_bytes = 5;
  auto result = RunSubprocess("test program", {script}, {}, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(DescribeExit(result->wait_status), "exited with status 3");
  EXPECT_EQ(result->stderr_tail, "last\n");
  EXPECT_TRUE(result->stderr_truncated);
}

TEST_F(SubprocessTest, StdoutIsCappedAndFlagged) {
  const std::string script = Script("loud", "echo 0123456789\n");
  SubprocessOptions options;
  options.max_stdout_bytes = 4;
  auto result = RunSubprocess("test program", {script}, {}, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stdout_text, "0123");
  EXPECT_TRUE(result->stdout_truncated);
}

TEST_F(SubprocessTest, TimeoutKillsTheProgram) {
  const std::string script = Script("hang", "/bin/sleep 30\n");
  SubprocessOptions options;
  options.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  auto result = RunSubprocess("test program", {script}, {}, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->timed_out);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST_F(SubprocessTest, StillRunningIsCalledAtEachIntervalWithTheElapsedTime) {
  const std::string script = Script("slow", "/bin/sleep 0.7\n");
  std::vector<absl::Duration> calls;
  SubprocessOptions options;
  options.still_running_every = absl::Milliseconds(200);
  options.still_running = [&calls](absl::Duration elapsed) { calls.push_back(elapsed); };
  auto result = RunSubprocess("test program", {script}, {}, options);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_GE(calls.size(), 2u);
  EXPECT_GE(calls.front(), absl::Milliseconds(200));
  for (size_t i = 1; i < calls.size(); ++i) EXPECT_GE(calls[i] - calls[i - 1], absl::Milliseconds(200));
  // A program that ends before the first interval is never reported (an interval far longer
  // than /bin/true takes even on a loaded sanitizer build).
  calls.clear();
  options.still_running_every = absl::Seconds(60);
  ASSERT_TRUE(RunSubprocess("test program", {"/bin/true"}, {}, options).ok());
  EXPECT_TRUE(calls.empty());
}

TEST_F(SubprocessTest, RefusesWhatCannotBePassedIntact) {
  EXPECT_EQ(RunSubprocess("p", {}, {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunSubprocess("p", {"/bin/true"}, {"NOEQUALS"}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunSubprocess("p", {"/bin/true"}, {std::string("A=\0b", 4)}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto missing = RunSubprocess("the hook", {dir_ + "/missing"}, {}, {});
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("the hook: cannot run " + dir_));
}

}  // namespace
}  // namespace acme_signer
