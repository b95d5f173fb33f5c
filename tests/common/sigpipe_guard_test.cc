#include "common/sigpipe_guard.h"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/unique_fd.h"
#include "gtest/gtest.h"

namespace acme_signer {
namespace {

// The default disposition of SIGPIPE kills the process: this test dies without the guard.
TEST(SigpipeGuardTest, AWriteToAClosedPeerFailsWithEpipeInsteadOfKillingTheProcess) {
  ASSERT_NE(::signal(SIGPIPE, SIG_DFL), SIG_ERR);
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  UniqueFd mine(fds[0]);
  UniqueFd(fds[1]).reset();
  {
    ScopedSigpipeBlock guard;
    errno = 0;
    EXPECT_EQ(::write(mine.get(), "x", 1), -1);
    EXPECT_EQ(errno, EPIPE);
  }
  // The signal raised meanwhile was consumed: nothing is left pending for this thread.
  sigset_t pending;
  sigemptyset(&pending);
  ASSERT_EQ(sigpending(&pending), 0);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0);
  // And the thread's mask is what it was.
  sigset_t mask;
  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &mask), 0);
  EXPECT_EQ(sigismember(&mask, SIGPIPE), 0);
}

}  // namespace
}  // namespace acme_signer
