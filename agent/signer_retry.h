// SignerRetry: how the agent keeps a call going while signer replicas come and go.
//
// gRPC already spreads calls over the healthy replicas and retries the read-only ones once
// a replica fails under them (agent/signer_channel.h). What it cannot do is wait: when every
// replica is down, restarting, or answers "try again" (UNAVAILABLE: a replica that lost its
// database or audit log; ABORTED: another replica is finalizing the same order, or the
// database aborted a transaction; DEADLINE_EXCEEDED: a replica that hangs), SignerClient
// tries again with growing pauses, on whichever replica gRPC picks next, until the outage
// has lasted `window` ([signer] retry_seconds: 110 s by default, at most 2 minutes): then it gives
// up (exit 4).
//
// The window is per outage, not per call: it starts with the first failed attempt (at its
// start, so a hung attempt counts) and ends with the next answer from any replica, so one
// `acme-agent renew` of many lineages against a dead signer gives up within the window in
// total, not once per lineage. Every attempt's deadline is capped at the window's end.
//
// Every RPC may be retried. Reads are idempotent. For the others the signer makes a retry
// safe: a FinalizeOrder that reaches the signer again after its answer was lost returns the
// order instead of an error and is never sent to the CA twice (signer/signer_service.h);
// a repeated CreateOrder makes a second order at the CA (the first is left to expire),
// which counts toward the agent's orders_per_hour as the CA counts it toward its own limits.
//
// Thread-safety: thread-safe (SignerClient's calls may come from several threads).
#ifndef ACME_SIGNER_AGENT_SIGNER_RETRY_H_
#define ACME_SIGNER_AGENT_SIGNER_RETRY_H_

#include <functional>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace acme_signer::agent {

// The agent's default window ([signer] retry_seconds) and the longest it may be set to. With
// no replica able to serve, a command gives up within 2 minutes of its start (the issue's
// pinned bound): the window counts from the first failed attempt, and the default leaves 10 s
// for what comes before it (start-up, config, the first connection attempt) and after.
inline constexpr absl::Duration kDefaultSignerRetryWindow = absl::Seconds(110);
inline constexpr absl::Duration kMaxSignerRetryWindow = absl::Minutes(2);

struct SignerRetryOptions {
  // How long an outage may last before calls give up; zero: one attempt per call.
  absl::Duration window = absl::ZeroDuration();
  // The pause after the first failed attempt of a call; doubles up to max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(4);
  // The clock and the pause; tests give fakes.
  std::function<absl::Time()> now = [] { return absl::Now(); };
  std::function<void(absl::Duration)> sleep = [](absl::Duration d) { absl::SleepFor(d); };
};

class SignerRetry {
 public:
  // A bound on attempts per call besides the window (which bounds them already, given the
  // backoff): a loop that ends even with a clock that stands still.
  static constexpr int kMaxAttempts = 200;

  explicit SignerRetry(SignerRetryOptions options) : options_(std::move(options)) {}
  SignerRetry(const SignerRetry&) = delete;
  SignerRetry& operator=(const SignerRetry&) = delete;

  // Whether an attempt that failed with `code` may succeed on another replica or a moment
  // later: UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED.
  static bool IsRetryable(absl::StatusCode code);

  absl::Time Now() const { return options_.now(); }
  absl::Duration window() const { return options_.window; }

  // The deadline of an attempt starting at `start`: start + call_timeout, but never past the
  // end of the current outage's window.
  absl::Time AttemptDeadline(absl::Time start, absl::Duration call_timeout) const;

  // After attempt number `attempt` (1-based) of a call failed retryably, having started at
  // `start`: starts the outage clock (at `start`) if it is not running, pauses, and says
  // whether to try again. False, without pausing, once the window is spent (or too little
  // of it is left for an attempt) or after kMaxAttempts.
  bool BackOff(absl::Time start, int attempt);

  // A replica answered (with a result or an error that is not retryable): the outage is over.
  void Answered();

  // When the current outage began; nullopt when there is none.
  std::optional<absl::Time> outage_start() const;

 private:
  const SignerRetryOptions options_;
  mutable absl::Mutex mu_;
  std::optional<absl::Time> outage_start_ ABSL_GUARDED_BY(mu_);
};

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_SIGNER_RETRY_H_
