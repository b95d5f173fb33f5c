// The pid file and reload status of `acme-signer serve` (signer/serve_control.h), with real
// files, real POSIX locks held by a real second process, and real signals.
#include "signer/serve_control.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace acme_signer::signer {
namespace {

using ::testing::HasSubstr;

class ServeControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/serve_control_", ::getpid());
    ::mkdir(dir_.c_str(), 0700);
    pid_path_ = dir_ + "/serve.pid";
    ::unlink(pid_path_.c_str());
  }
  std::string dir_;
  std::string pid_path_;
};

TEST_F(ServeControlTest, NoFileOrAStaleFileMeansNoSignerRuns) {
  absl::StatusOr<std::optional<pid_t>> none = RunningServePid(pid_path_);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  // A file naming a live process (this one) but locked by nobody: stale.
  ASSERT_TRUE(WriteFileAtomically(pid_path_, absl::StrCat(::getpid(), "\n"), 0644).ok());
  absl::StatusOr<std::optional<pid_t>> stale = RunningServePid(pid_path_);
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_FALSE(stale->has_value());
}

TEST_F(ServeControlTest, TheHolderIsFoundByItsLockAndASecondServeIsRefused) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    absl::StatusOr<std::unique_ptr<ServePidFile>> held = ServePidFile::Acquire(pid_path_);
    const char byte = held.ok() ? '1' : '0';
    (void)!::write(ready[1], &byte, 1);
    ::pause();  // until killed
    ::_exit(0);
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(byte, '1');

  absl::StatusOr<std::optional<pid_t>> running = RunningServePid(pid_path_);
  ASSERT_TRUE(running.ok()) << running.status();
  ASSERT_TRUE(running->has_value());
  EXPECT_EQ(**running, child);
  absl::StatusOr<std::string> content = ReadFile(pid_path_);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, absl::StrCat(child, "\n"));

  absl::StatusOr<std::unique_ptr<ServePidFile>> second = ServePidFile::Acquire(pid_path_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr(absl::StrCat("process ", child)));

  // Killed, the lock goes with it: the file left behind is stale.
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  running = RunningServePid(pid_path_);
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_FALSE(running->has_value());
  absl::StatusOr<std::unique_ptr<ServePidFile>> taken = ServePidFile::Acquire(pid_path_);
  ASSERT_TRUE(taken.ok()) << taken.status();
  taken->reset();
  EXPECT_NE(::access(pid_path_.c_str(), F_OK), 0) << "pid file not removed";
}

TEST_F(ServeControlTest, ReloadStatusRoundTripsAndRejectsForeignFiles) {
  const std::string path = dir_ + "/reload-status";
  ReloadStatus status;
  status.pid = 4242;
  status.generation = 3;
  status.result = "refused";
  status.time = absl::FromUnixSeconds(1'800'000'000);
  status.revoked_in_store = 2;
  status.store_loaded = true;
  status.started_ns = MonotonicNanos();
  status.message = "server.listen: cannot change\nwithout a restart";
  ASSERT_TRUE(WriteReloadStatus(path, status).ok());
  absl::StatusOr<std::optional<ReloadStatus>> read = ReadReloadStatus(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->pid, 4242);
  EXPECT_EQ((*read)->generation, 3);
  EXPECT_EQ((*read)->result, "refused");
  EXPECT_EQ((*read)->time, status.time);
  EXPECT_EQ((*read)->revoked_in_store, 2);
  EXPECT_TRUE((*read)->store_loaded);
  EXPECT_EQ((*read)->started_ns, status.started_ns);
  EXPECT_EQ((*read)->message, "server.listen: cannot change without a restart");

  ASSERT_TRUE(WriteFileAtomically(path, "hello\n", 0644).ok());
  EXPECT_EQ(ReadReloadStatus(path).status().code(), absl::StatusCode::kInvalidArgument);
  ::unlink(path.c_str());
  absl::StatusOr<std::optional<ReloadStatus>> missing = ReadReloadStatus(path);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

}  // namespace
}  // namespace acme_signer::signer
