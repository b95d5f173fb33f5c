#include "agent/webroot_solver.h"

#include <sys/stat.h>

#include <string>

#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"
#include "tests/agent/test_certs.h"

namespace acme_signer::agent {
namespace {

using ::acme_signer::agent::testing::IsOk;
using ::acme_signer::agent::testing::IsOkAndHolds;
using ::acme_signer::agent::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

ChallengeTask Task(const std::string& domain, const std::string& token) {
  ChallengeTask task;
  task.domain = domain;
  task.token = token;
  task.key_authorization = token + ".thumbprint";
  task.dns01_txt_value = "unused-for-http-01";
  return task;
}

class WebrootSolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() + "/www";
    ASSERT_EQ(::mkdir(root_.c_str(), 0755), 0);
  }
  std::string ChallengePath(const std::string& token) const {
    return root_ + "/.well-known/acme-challenge/" + token;
  }
  testing::TempDir dir_;
  std::string root_;
};

TEST_F(WebrootSolverTest, AnswersHttp01) {
  WebrootSolver solver(root_);
  EXPECT_EQ(solver.ChallengeType(), "http-01");
}

TEST_F(WebrootSolverTest, PublishesEveryKeyAuthorizationAndCleanUpRemovesThemAll) {
  WebrootSolver solver(root_);
  ASSERT_THAT(solver.Start(), IsOk());
  ASSERT_THAT(solver.Present(Task("example.com", "tokenA")), IsOk());
  ASSERT_THAT(solver.Present(Task("www.example.com", "tokenB")), IsOk());

  EXPECT_THAT(ReadFile(ChallengePath("tokenA")), IsOkAndHolds("tokenA.thumbprint"));
  EXPECT_THAT(ReadFile(ChallengePath("tokenB")), IsOkAndHolds("tokenB.thumbprint"));

  solver.CleanUp();
  EXPECT_FALSE(Exists(ChallengePath("tokenA")));
  EXPECT_FALSE(Exists(ChallengePath("tokenB")));
  // The directories the solver created go too, so the webroot is left as it was found.
  EXPECT_FALSE(Exists(root_ + "/.well-known"));
}

TEST_F(WebrootSolverTest, CleanUpKeepsDirectoriesThatExistedBefore) {
  ASSERT_EQ(::mkdir((root_ + "/.well-known").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((root_ + "/.well-known/acme-challenge").c_str(), 0755), 0);
  WebrootSolver solver(root_);
  ASSERT_THAT(solver.Start(), IsOk());
  ASSERT_THAT(solver.Present(Task("example.com", "tokenA")), IsOk());
  solver.CleanUp();
  EXPECT_FALSE(Exists(ChallengePath("tokenA")));
  EXPECT_TRUE(Exists(root_ + "/.well-known/acme-challenge"));
}

TEST_F(WebrootSolverTest, DestructionRemovesFilesWhenCleanUpWasNotCalled) {
  {
    WebrootSolver solver(root_);
    ASSERT_THAT(solver.Start(), IsOk());
    ASSERT_THAT(solver.Present(Task("example.com", "tokenA")), IsOk());
    ASSERT_TRUE(Exists(ChallengePath("tokenA")));
  }
  EXPECT_FALSE(Exists(ChallengePath("tokenA")));
}

TEST_F(WebrootSolverTest, CleanUpTwiceIsHarmless) {
  WebrootSolver solver(root_);
  ASSERT_THAT(solver.Start(), IsOk());
  ASSERT_THAT(solver.Present(Task("example.com", "tokenA")), IsOk());
  solver.CleanUp();
  solver.CleanUp();
  EXPECT_FALSE(Exists(ChallengePath("tokenA")));
}

TEST_F(WebrootSolverTest, CleanUpDoesNotFailWhenSomeoneElseRemovedTheFile) {
  WebrootSolver solver(root_);
  ASSERT_THAT(solver.Start(), IsOk());
  ASSERT_THAT(solver.Present(Task("example.com", "tokenA")), IsOk());
  ASSERT_EQ(::unlink(ChallengePath("tokenA").c_str()), 0);
  solver.CleanUp();
  EXPECT_FALSE(Exists(root_ + "/.well-known"));
}

TEST_F(WebrootSolverTest, StartRejectsAMissingWebrootNamingThePathAndTheFlag) {
  WebrootSolver solver(root_ + "/missing");
  EXPECT_THAT(solver.Start(),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr(root_ + "/missing"), HasSubstr("--webroot-path"))));
}

TEST_F(WebrootSolverTest, StartRejectsAFileAsWebroot) {
  const std::string file = dir_.path() + "/file";
  ASSERT_THAT(WriteFileAtomically(file, "x", 0644), IsOk());
  WebrootSolver solver(file);
  EXPECT_THAT(solver.Start(), StatusIs(absl::StatusCode::kInvalidArgument,
                                       AllOf(HasSubstr(file), HasSubstr("not a directory"),
                                             HasSubstr("--webroot-path"))));
}

TEST_F(WebrootSolverTest, StartRejectsAnEmptyPathNamingTheFlag) {
  WebrootSolver solver("");
  EXPECT_THAT(solver.Start(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--webroot-path")));
}

TEST_F(WebrootSolverTest, PresentRejectsATokenThatCouldEscapeTheChallengeDirectory) {
  WebrootSolver solver(root_);
  ASSERT_THAT(solver.Start(), IsOk());
  EXPECT_THAT(solver.Present(Task("example.com", "../../evil")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token")));
  EXPECT_FALSE(Exists(dir_.path() + "/evil"));
}

TEST_F(WebrootSolverTest, PresentRefusesASymlinkedWellKnownDirectory) {
  const std::string elsewhere = dir_.path() + "/elsewhere";
  ASSERT_EQ(::mkdir(elsewhere.c_str(), 0755), 0);
  ASSERT_EQ(::symlink(elsewhere.c_str(), (root_ + "/.well-known").c_str()), 0);
  WebrootSolver solver(root_);
  ASSERT_THAT(solver.Start(), IsOk());
  EXPECT_THAT(solver.Present(Task("example.com", "tokenA")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(".well-known")));
  EXPECT_FALSE(Exists(elsewhere + "/acme-challenge"));
}

}  // namespace
}  // namespace acme_signer::agent
