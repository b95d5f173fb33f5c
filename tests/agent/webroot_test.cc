#include "agent/webroot.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
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
using ::testing::HasSubstr;

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

class WebrootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() + "/www";
    ASSERT_EQ(::mkdir(root_.c_str(), 0755), 0);
  }
  testing::TempDir dir_;
  std::string root_;
  const std::string token_ = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
};

TEST_F(WebrootTest, PublishesTheKeyAuthorizationAndRemovesEverythingItCreated) {
  const std::string file = root_ + "/.well-known/acme-challenge/" + token_;
  {
    ::umask(077);  // a strict umask must not make the file unreadable for the web server
    auto challenge = WebrootChallenge::Publish(root_, token_, token_ + ".thumb");
    ::umask(022);
    ASSERT_THAT(challenge, IsOk());
    EXPECT_EQ(challenge->path(), file);
    EXPECT_THAT(ReadFile(file), IsOkAndHolds(token_ + ".thumb"));
    EXPECT_EQ(ModeOf(file), 0644u);
    EXPECT_EQ(ModeOf(root_ + "/.well-known"), 0755u);
    EXPECT_EQ(ModeOf(root_ + "/.well-known/acme-challenge"), 0755u);
  }
  EXPECT_FALSE(Exists(file));
  EXPECT_FALSE(Exists(root_ + "/.well-known"));
}

TEST_F(WebrootTest, KeepsDirectoriesAndFilesItDidNotCreate) {
  std::filesystem::create_directories(root_ + "/.well-known/acme-challenge");
  ASSERT_THAT(WriteFileAtomically(root_ + "/.well-known/security.txt", "x", 0644), IsOk());
  {
    auto challenge = WebrootChallenge::Publish(root_, token_, "ka");
    ASSERT_THAT(challenge, IsOk());
    ASSERT_THAT(challenge->Remove(), IsOk());
    ASSERT_THAT(challenge->Remove(), IsOk());  // idempotent
  }
  EXPECT_TRUE(Exists(root_ + "/.well-known/acme-challenge"));
  EXPECT_TRUE(Exists(root_ + "/.well-known/security.txt"));
  EXPECT_FALSE(Exists(root_ + "/.well-known/acme-challenge/" + token_));
}

TEST_F(WebrootTest, CleansUpWhenAnExceptionUnwindsThroughTheCaller) {
  const std::string file = root_ + "/.well-known/acme-challenge/" + token_;
  try {
    auto challenge = WebrootChallenge::Publish(root_, token_, "ka");
    ASSERT_THAT(challenge, IsOk());
    ASSERT_TRUE(Exists(file));
    throw std::runtime_error("validation step failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(Exists(file));
  EXPECT_FALSE(Exists(root_ + "/.well-known"));
}

TEST_F(WebrootTest, MovedGuardRemovesOnceFromItsNewOwner) {
  const std::string file = root_ + "/.well-known/acme-challenge/" + token_;
  auto challenge = WebrootChallenge::Publish(root_, token_, "ka");
  ASSERT_THAT(challenge, IsOk());
  {
    WebrootChallenge moved = *std::move(challenge);
    EXPECT_TRUE(Exists(file));
  }
  EXPECT_FALSE(Exists(file));
}

TEST_F(WebrootTest, RefusesTokensThatCouldEscapeTheChallengeDirectory) {
  for (const char* token : {"../../etc/passwd", "a/b", "..", "a.b", "", "tok en", "tök"}) {
    EXPECT_THAT(WebrootChallenge::Publish(root_, token, "ka"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token")))
        << token;
  }
  EXPECT_FALSE(Exists(root_ + "/.well-known"));
}

TEST_F(WebrootTest, RefusesASymlinkedWellKnownDirectory) {
  const std::string elsewhere = dir_.path() + "/elsewhere";
  ASSERT_EQ(::mkdir(elsewhere.c_str(), 0755), 0);
  ASSERT_EQ(::symlink(elsewhere.c_str(), (root_ + "/.well-known").c_str()), 0);
  EXPECT_THAT(WebrootChallenge::Publish(root_, token_, "ka"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("symlink")));
  EXPECT_FALSE(Exists(elsewhere + "/acme-challenge"));
}

TEST_F(WebrootTest, ReplacesAPlantedSymlinkInsteadOfWritingThroughIt) {
  std::filesystem::create_directories(root_ + "/.well-known/acme-challenge");
  const std::string victim = dir_.path() + "/victim";
  ASSERT_THAT(WriteFileAtomically(victim, "precious", 0600), IsOk());
  const std::string file = root_ + "/.well-known/acme-challenge/" + token_;
  ASSERT_EQ(::symlink(victim.c_str(), file.c_str()), 0);
  auto challenge = WebrootChallenge::Publish(root_, token_, "ka");
  ASSERT_THAT(challenge, IsOk());
  EXPECT_THAT(ReadFile(victim), IsOkAndHolds(std::string("precious")));
  struct stat st;
  ASSERT_EQ(::lstat(file.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(WebrootTest, MissingWebrootIsNotFoundNamingThePath) {
  EXPECT_THAT(WebrootChallenge::Publish(dir_.path() + "/nope", token_, "ka"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(dir_.path() + "/nope")));
}

}  // namespace
}  // namespace acme_signer::agent
