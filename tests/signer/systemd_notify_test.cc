#include "signer/systemd_notify.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace acme_signer::signer {
namespace {

// A datagram socket standing in for systemd's notify socket, named by NOTIFY_SOCKET while the
// fixture lives.
class SystemdNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = absl::StrCat(::testing::TempDir(), "/notify-", ::getpid(), ".sock");
    ::unlink(path_.c_str());
    socket_ = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(socket_.valid());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(path_.size(), sizeof(addr.sun_path));
    std::memcpy(addr.sun_path, path_.c_str(), path_.size());
    ASSERT_EQ(::bind(socket_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    // Bounds every receive below: a missing datagram fails the test instead of hanging it.
    timeval timeout{5, 0};
    ASSERT_EQ(::setsockopt(socket_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)), 0);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
    ::unlink(path_.c_str());
  }

  // The next datagram ("" when none within 5 s, or none at all with `dont_wait`).
  std::string Receive(bool dont_wait = false) {
    char buffer[4096];
    const ssize_t n = ::recv(socket_.get(), buffer, sizeof(buffer), dont_wait ? MSG_DONTWAIT : 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
  }

  std::string path_;
  UniqueFd socket_;
};

TEST_F(SystemdNotifyTest, StatusLinesCannotCarryAnotherAssignment) {
  EXPECT_EQ(SystemdNotifyText("READY=1", "serving on 127.0.0.1:7443"),
            "READY=1\nSTATUS=serving on 127.0.0.1:7443");
  EXPECT_EQ(SystemdNotifyText("", "bad\nREADY=1"), "STATUS=bad READY=1");
}

TEST_F(SystemdNotifyTest, SendsReadyReloadingAndStoppingToTheNotifySocket) {
  NotifySystemdReady("serving on x");
  EXPECT_EQ(Receive(), "READY=1\nSTATUS=serving on x");
  NotifySystemdReloading("reloading f");
  EXPECT_EQ(Receive(), "RELOADING=1\nSTATUS=reloading f");
  NotifySystemdStopping("draining");
  EXPECT_EQ(Receive(), "STOPPING=1\nSTATUS=draining");
}

TEST_F(SystemdNotifyTest, WithoutNotifySocketNothingIsSent) {
  ::unsetenv("NOTIFY_SOCKET");
  NotifySystemdReady("serving");
  EXPECT_EQ(Receive(/*dont_wait=*/true), "");
}

TEST_F(SystemdNotifyTest, NoWatchdogUnlessSystemdAskedForOneForThisProcess) {
  EXPECT_EQ(SystemdWatchdog::StartIfEnabled([](absl::Duration) { return true; }), nullptr);
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  ::setenv("WATCHDOG_PID", absl::StrCat(::getpid() + 1).c_str(), 1);
  EXPECT_EQ(SystemdWatchdog::StartIfEnabled([](absl::Duration) { return true; }), nullptr);
}

TEST_F(SystemdNotifyTest, WatchdogPingsWhileAlive) {
  ::setenv("WATCHDOG_USEC", "20000", 1);
  ::setenv("WATCHDOG_PID", absl::StrCat(::getpid()).c_str(), 1);
  absl::Duration seen_interval;
  std::unique_ptr<SystemdWatchdog> watchdog =
      SystemdWatchdog::StartIfEnabled([&seen_interval](absl::Duration interval) {
        seen_interval = interval;
        return true;
      });
  ASSERT_NE(watchdog, nullptr);
  EXPECT_EQ(watchdog->interval(), absl::Milliseconds(20));
  EXPECT_EQ(Receive(), "WATCHDOG=1");
  EXPECT_EQ(Receive(), "WATCHDOG=1");
  watchdog.reset();
  EXPECT_EQ(seen_interval, absl::Milliseconds(20));
}

TEST_F(SystemdNotifyTest, WatchdogIsSilentWhileNotAlive) {
  ::setenv("WATCHDOG_USEC", "20000", 1);
  ::unsetenv("WATCHDOG_PID");
  std::atomic<int> asked{0};
  absl::Notification asked_three_times;
  std::unique_ptr<SystemdWatchdog> watchdog =
      SystemdWatchdog::StartIfEnabled([&](absl::Duration) {
        if (++asked == 3) asked_three_times.Notify();
        return false;
      });
  ASSERT_NE(watchdog, nullptr);
  // Two whole rounds answered "not alive" have passed once the third question is asked.
  ASSERT_TRUE(asked_three_times.WaitForNotificationWithTimeout(absl::Seconds(10)));
  watchdog.reset();
  EXPECT_EQ(Receive(/*dont_wait=*/true), "");
}

}  // namespace
}  // namespace acme_signer::signer
