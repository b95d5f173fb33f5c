// ScopedSigpipeBlock: while alive, a write to a socket or pipe whose peer has gone fails with
// EPIPE in the calling thread instead of killing the whole process with SIGPIPE.
//
// Needed where OpenSSL writes to a plain socket (SSL_set_fd): it uses write(), not
// send(MSG_NOSIGNAL), and a library must not change the process-wide disposition of its
// callers (tests, the agent). The signal raised meanwhile is thread-directed, so it stays
// pending on this thread and is consumed here before the old mask comes back. Not for use
// across threads (it acts on the calling thread's mask).
#ifndef ACME_SIGNER_COMMON_SIGPIPE_GUARD_H_
#define ACME_SIGNER_COMMON_SIGPIPE_GUARD_H_

#include <signal.h>

namespace acme_signer {

class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock();
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;
  ~ScopedSigpipeBlock();

 private:
  sigset_t old_mask_;
  bool was_pending_ = false;  // a SIGPIPE pending before us is the caller's, left alone
};

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_SIGPIPE_GUARD_H_
