#include "signer/frontdoor/upstream_issuer.h"

#include <sys/wait.h>

#include <algorithm>
#include <iostream>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "acme/key_authorization.h"
#include "acme/poll.h"
#include "acme/problem.h"
#include "acme/resources.h"
#include "common/status_macros.h"
#include "common/work_queue.h"
#include "common/subprocess.h"

namespace acme_signer::signer::frontdoor {
namespace {

// The hook's PATH (see the header).
constexpr char kHookPath[] = "/usr/sbin:/usr/bin:/sbin:/bin";
// How much of a failing hook's stderr goes into the message.
constexpr size_t kHookStderrBytes = 1024;
// A hook's stdout is read (so it cannot block on a full pipe) and dropped.
constexpr size_t kHookStdoutBytes = 4096;
// Margin on top of the preparation's own bounds for a Finalize waiting for it (HTTP requests
// to the CA are bounded by the HttpClient's timeouts, not by ours).
constexpr absl::Duration kWaitSlack = absl::Minutes(1);
// Finished preparations nobody finalized are forgotten after this (a later Finalize prepares
// again, which costs only a look at authorizations that are then valid).
constexpr absl::Duration kKeepFinished = absl::Hours(1);

// One dns-01 challenge the signer answers through the hook.
struct Dns01Task {
  std::string identifier;   // without "*."
  std::string record_name;  // "_acme-challenge.<identifier>." (absolute)
  std::string txt_value;
  std::string authorization_url;
  acme::Challenge challenge;
};

std::string Offered(const acme::Authorization& authz) {
  std::vector<std::string> types;
  for (const acme::Challenge& challenge : authz.challenges) types.push_back(challenge.type);
  return types.empty() ? "none" : absl::StrJoin(types, ", ");
}

// The status of an authorization that can no longer become valid, with the CA's problem
// when one of its challenges carries one.
absl::Status AuthorizationFailed(const acme::Authorization& authz) {
  for (const acme::Challenge& challenge : authz.challenges) {
    if (challenge.error.has_value()) {
      return acme::ProblemToStatus(
          *challenge.error,
          absl::StrCat("the CA's ", challenge.type, " validation of ", authz.identifier.value,
                       " failed (upstream authorization ", authz.url, ")"));
    }
  }
  return absl::FailedPreconditionError(
      absl::StrCat("upstream authorization ", authz.url, " for ", authz.identifier.value, " is ",
                   acme::ToString(authz.status),
                   " (the CA gave no reason); the order cannot complete: start a new one"));
}

// The status of an order the CA marked invalid, keeping the CA's problem.
absl::Status OrderFailed(const acme::Order& order) {
  if (order.error.has_value()) {
    return acme::ProblemToStatus(*order.error,
                                 absl::StrCat("the CA's order ", order.url, " is invalid"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "the CA's order ", order.url, " is invalid (the CA gave no reason); start a new order"));
}

// Control characters (and quotes, backslashes) escaped; trailing whitespace dropped.
std::string PrintableStderr(const SubprocessResult& result) {
  absl::string_view text = absl::StripTrailingAsciiWhitespace(result.stderr_tail);
  if (text.empty()) return "";
  return absl::StrCat("; stderr", result.stderr_truncated ? " (last 1 KiB)" : "", ": \"",
                      absl::CHexEscape(text), "\"");
}

absl::Status ShuttingDown() {
  return absl::CancelledError(
      "preparing the upstream authorizations: stopped because the signer is shutting down");
}

}  // namespace

struct UpstreamIssuer::Impl {
  // The background preparation of one order's authorizations.
  struct Preparation {
    enum class State { kQueued, kRunning, kDone };
    State state = State::kQueued;
    absl::Status status;
    // While running: how long a Finalize waits for it.
    absl::Time wait_until = absl::InfiniteFuture();
    absl::Time done_at = absl::InfiniteFuture();
  };
  // A queued piece of work; `cancel` runs instead of `run` when the issuer shuts down first.
  using Job = WorkQueue::Job;

  Impl(acme::AcmeClient* acme_client, Options opts)
      : acme(acme_client), options(std::move(opts)), workers(options.workers) {}

  // Stops taking work; the workers cancel what is still queued (so every Finalize's done
  // runs on a worker) and end when running work has ended.
  void Stop() {
    {
      absl::MutexLock lock(&mu);
      stopping = true;
      changed.SignalAll();
    }
    workers.Stop();
  }

  // False (nothing queued) when shutting down.
  bool Enqueue(Job job) { return workers.Enqueue(std::move(job)); }

  bool Stopping() {
    absl::MutexLock lock(&mu);
    return stopping;
  }

  // Sleeps `d`, or less when the issuer starts shutting down.
  void Sleep(absl::Duration d) {
    const absl::Time until = absl::Now() + d;
    absl::MutexLock lock(&mu);
    while (!stopping && absl::Now() < until) changed.WaitWithDeadline(&mu, until);
  }

  // Polls `fetch` while `waiting` holds, up to `timeout`: the CA's Retry-After clamped to
  // [min_poll_interval, max_poll_interval]; without one, min_poll_interval doubling up to
  // poll_interval (a CA like Pebble issues within a fraction of a second, and the host's client
  // polls the front door on its own schedule: a first upstream poll a whole second late costs
  // it a second; a CA that stays processing for minutes is polled every poll_interval).
  template <typename T>
  absl::StatusOr<acme::Fetched<T>> PollWhile(
      acme::Fetched<T> current, const std::function<bool(const T&)>& waiting,
      const std::function<absl::StatusOr<acme::Fetched<T>>()>& fetch, absl::Duration timeout,
      absl::string_view what) {
    acme::PollPolicy policy;
    policy.initial = options.min_poll_interval;
    policy.max_interval = options.max_poll_interval;
    policy.timeout = std::max(timeout, absl::ZeroDuration());
    policy.jitter = 0;
    policy.sleep = [this](absl::Duration d) { Sleep(d); };
    acme::Backoff backoff(policy);
    absl::Duration own = options.min_poll_interval;
    while (waiting(current.value)) {
      absl::Duration next;
      if (current.retry_after.has_value()) {
        next = std::clamp(*current.retry_after, options.min_poll_interval,
                          options.max_poll_interval);
      } else {
        next = std::min(own, options.poll_interval);
        own = std::min(own * 2, options.poll_interval);
      }
      if (!backoff.Wait(next, what).ok()) {
        return absl::DeadlineExceededError(
            absl::StrCat(what, " did not finish within ", absl::FormatDuration(timeout), " (",
                         backoff.polls(), " polls); it continues at the CA"));
      }
      if (Stopping()) {
        return absl::CancelledError(
            absl::StrCat(what, ": stopped because the signer is shutting down"));
      }
      ASSIGN_OR_RETURN(current, fetch());
    }
    return current;
  }

  // Runs the hook once for `task`.
  absl::Status RunHook(absl::string_view action, const Dns01Task& task) {
    const std::string what = absl::StrCat("upstream dns-01 hook ", *options.dns01_hook, " (",
                                          action, " ", task.record_name, ")");
    SubprocessOptions run_options;
    run_options.timeout = options.hook_timeout;
    run_options.max_stdout_bytes = kHookStdoutBytes;
    run_options.max_stderr_bytes = kHookStderrBytes;
    ASSIGN_OR_RETURN(SubprocessResult result,
                     RunSubprocess(what, {*options.dns01_hook},
                                   {absl::StrCat("ACME_SIGNER_DNS01_ACTION=", action),
                                    absl::StrCat("ACME_SIGNER_DNS01_IDENTIFIER=", task.identifier),
                                    absl::StrCat("ACME_SIGNER_DNS01_NAME=", task.record_name),
                                    absl::StrCat("ACME_SIGNER_DNS01_VALUE=", task.txt_value),
                                    absl::StrCat("PATH=", kHookPath)},
                                   run_options));
    if (result.timed_out) {
      return absl::DeadlineExceededError(absl::StrCat(what, " timed out: it did not finish within ",
                                                      absl::FormatDuration(options.hook_timeout),
                                                      " and was killed", PrintableStderr(result)));
    }
    if (!WIFEXITED(result.wait_status) || WEXITSTATUS(result.wait_status) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, " ", DescribeExit(result.wait_status), PrintableStderr(result)));
    }
    return absl::OkStatus();
  }

  // What `authz` needs: nothing (valid), a dns-01 task, or an error saying why it cannot
  // be done.
  absl::StatusOr<std::optional<Dns01Task>> Plan(const acme::Authorization& authz,
                                                absl::string_view thumbprint) {
    switch (authz.status) {
      case acme::AuthorizationStatus::kValid:
        return std::nullopt;
      case acme::AuthorizationStatus::kPending:
        break;
      case acme::AuthorizationStatus::kInvalid:
        return AuthorizationFailed(authz);
      default:
        return absl::FailedPreconditionError(absl::StrCat(
            "upstream authorization ", authz.url, " for ", authz.identifier.value, " is ",
            acme::ToString(authz.status), "; the order cannot complete: start a new one"));
    }
    const acme::Challenge* challenge = authz.Find(acme::kDns01);
    if (challenge == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the CA offers no dns-01 challenge for ", authz.identifier.value,
          " (offered: ", Offered(authz), "; upstream authorization ", authz.url,
          "); the signer can only answer dns-01 upstream, or use authorizations the CA has "
          "already validated (pre-validated domains)"));
    }
    if (!options.dns01_hook.has_value() && !options.answer_challenges_without_hook) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the CA asks for a dns-01 challenge for ", authz.identifier.value,
          " and no upstream dns-01 hook is configured: set [acme_server] upstream_dns01_hook "
          "(a command that publishes the TXT record), or use a CA account whose domains are "
          "pre-validated"));
    }
    if (challenge->status == acme::ChallengeStatus::kInvalid) return AuthorizationFailed(authz);
    std::string txt_value;
    if (options.dns01_hook.has_value()) {
      ASSIGN_OR_RETURN(std::string key_authorization,
                       acme::KeyAuthorization(challenge->token, thumbprint));
      ASSIGN_OR_RETURN(txt_value, acme::Dns01TxtValue(key_authorization));
    }
    Dns01Task task;
    absl::string_view identifier = authz.identifier.value;
    absl::ConsumePrefix(&identifier, "*.");
    task.identifier = std::string(identifier);
    task.record_name = absl::StrCat(acme::Dns01RecordName(task.identifier), ".");
    task.txt_value = std::move(txt_value);
    task.authorization_url = authz.url;
    task.challenge = *challenge;
    return task;
  }

  // Publishes every record (when there is a hook), answers every pending challenge, waits
  // for the authorizations, and cleans up every published record (also on failure).
  absl::Status Solve(const std::vector<Dns01Task>& tasks, absl::Time deadline) {
    const bool publish = options.dns01_hook.has_value();
    std::vector<const Dns01Task*> presented;
    absl::Cleanup clean_up = [&] {
      for (const Dns01Task* task : presented) {
        absl::Status cleaned = RunHook("cleanup", *task);
        if (!cleaned.ok()) {
          std::cerr << "acme-signer: warning: " << cleaned.message() << "\n";
        }
      }
    };
    for (const Dns01Task& task : tasks) {
      if (!publish) break;
      if (Stopping()) return ShuttingDown();
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("preparing the upstream authorizations did not finish within ",
                         absl::FormatDuration(options.authorization_timeout)));
      }
      presented.push_back(&task);  // a failed present may have published something
      RETURN_IF_ERROR(RunHook("present", task));
    }
    if (Stopping()) return ShuttingDown();
    for (const Dns01Task& task : tasks) {
      // A challenge already processing was answered earlier: just wait for it.
      if (task.challenge.status != acme::ChallengeStatus::kPending) continue;
      RETURN_IF_ERROR(acme->AnswerChallenge(task.challenge.url).status());
    }
    for (const Dns01Task& task : tasks) {
      ASSIGN_OR_RETURN(acme::Fetched<acme::Authorization> authz,
                       acme->GetAuthorization(task.authorization_url));
      ASSIGN_OR_RETURN(authz, PollWhile<acme::Authorization>(
                                  std::move(authz),
                                  [](const acme::Authorization& a) {
                                    return a.status == acme::AuthorizationStatus::kPending;
                                  },
                                  [&] { return acme->GetAuthorization(task.authorization_url); },
                                  deadline - absl::Now(),
                                  absl::StrCat("the CA's dns-01 validation of ", task.identifier)));
      if (authz.value.status != acme::AuthorizationStatus::kValid) {
        return AuthorizationFailed(authz.value);
      }
    }
    return absl::OkStatus();
  }

  // Prepares the authorizations of `order_url` (see the header).
  absl::Status Prepare(const std::string& order_url, Preparation& prep) {
    const absl::Time deadline = absl::Now() + options.authorization_timeout;
    ASSIGN_OR_RETURN(acme::Fetched<acme::Order> order, acme->GetOrder(order_url));
    if (order.value.status == acme::OrderStatus::kInvalid) return OrderFailed(order.value);
    if (order.value.status != acme::OrderStatus::kPending) return absl::OkStatus();
    std::string thumbprint;
    if (options.dns01_hook.has_value()) {
      ASSIGN_OR_RETURN(thumbprint, acme->AccountThumbprint());
    }
    std::vector<Dns01Task> tasks;
    for (const std::string& url : order.value.authorizations) {
      ASSIGN_OR_RETURN(acme::Fetched<acme::Authorization> authz, acme->GetAuthorization(url));
      ASSIGN_OR_RETURN(std::optional<Dns01Task> task, Plan(authz.value, thumbprint));
      if (task.has_value()) tasks.push_back(*std::move(task));
    }
    if (tasks.empty()) return absl::OkStatus();
    {
      absl::MutexLock lock(&mu);
      // Presents start before the deadline; cleanups run after it.
      prep.wait_until =
          deadline + options.hook_timeout * static_cast<int64_t>(tasks.size() + 1) + kWaitSlack;
    }
    return Solve(tasks, deadline);
  }

  void RunPreparation(const std::string& order_url, const std::shared_ptr<Preparation>& prep) {
    absl::Status status = Prepare(order_url, *prep);
    absl::MutexLock lock(&mu);
    prep->status = std::move(status);
    prep->state = Preparation::State::kDone;
    prep->done_at = absl::Now();
    changed.SignalAll();
  }

  // Forgets finished preparations nobody asked for within kKeepFinished.
  void SweepLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const absl::Time cutoff = absl::Now() - kKeepFinished;
    absl::erase_if(preparations, [cutoff](const auto& entry) {
      return entry.second->state == Preparation::State::kDone && entry.second->done_at < cutoff;
    });
  }

  // The preparation of `order_url`: its result when done, waiting while another worker runs
  // it, running it here when it is queued or unknown (an order of an earlier run).
  absl::Status AwaitPreparation(const std::string& order_url) {
    std::shared_ptr<Preparation> prep;
    bool run_here = false;
    {
      absl::MutexLock lock(&mu);
      auto it = preparations.find(order_url);
      if (it == preparations.end()) {
        prep = std::make_shared<Preparation>();
        run_here = true;
      } else {
        prep = it->second;
        preparations.erase(it);
        if (prep->state == Preparation::State::kQueued) run_here = true;
      }
      if (run_here) prep->state = Preparation::State::kRunning;
    }
    if (run_here) {
      RunPreparation(order_url, prep);
      absl::MutexLock lock(&mu);
      return prep->status;
    }
    absl::MutexLock lock(&mu);
    while (prep->state != Preparation::State::kDone) {
      if (stopping) {
        return absl::CancelledError(
            absl::StrCat("finalizing upstream order ", order_url, ": the signer is shutting down"));
      }
      if (absl::Now() >= prep->wait_until) {
        return absl::DeadlineExceededError(
            absl::StrCat("preparing the authorizations of upstream order ", order_url,
                         " did not finish in time (authorization_timeout ",
                         absl::FormatDuration(options.authorization_timeout), ")"));
      }
      changed.WaitWithDeadline(&mu, std::min(prep->wait_until, absl::Now() + absl::Seconds(1)));
    }
    return prep->status;
  }

  absl::StatusOr<UpstreamCertificate> FinalizeSteps(const std::string& order_url,
                                                    const std::string& csr_der) {
    RETURN_IF_ERROR(AwaitPreparation(order_url));
    ASSIGN_OR_RETURN(acme::Fetched<acme::Order> order, acme->GetOrder(order_url));
    auto fetch = [&] { return acme->GetOrder(order_url); };
    // Some CAs move the order to ready a moment after its last authorization.
    ASSIGN_OR_RETURN(
        order, PollWhile<acme::Order>(
                   std::move(order),
                   [](const acme::Order& o) { return o.status == acme::OrderStatus::kPending; },
                   fetch, options.authorization_timeout,
                   absl::StrCat("upstream order ", order_url, " becoming ready")));
    if (order.value.status == acme::OrderStatus::kInvalid) return OrderFailed(order.value);
    if (order.value.status == acme::OrderStatus::kReady) {
      ASSIGN_OR_RETURN(order, acme->FinalizeOrder(order_url, order.value.finalize, csr_der));
    }
    // processing, or a `ready` that lingers after finalize.
    ASSIGN_OR_RETURN(order, PollWhile<acme::Order>(
                                std::move(order),
                                [](const acme::Order& o) {
                                  return o.status == acme::OrderStatus::kProcessing ||
                                         o.status == acme::OrderStatus::kReady;
                                },
                                fetch, options.order_timeout,
                                absl::StrCat("issuance of upstream order ", order_url)));
    if (order.value.status == acme::OrderStatus::kInvalid) return OrderFailed(order.value);
    if (order.value.status != acme::OrderStatus::kValid || order.value.certificate.empty()) {
      return absl::UnavailableError(absl::StrCat("upstream order ", order_url, " is ",
                                                 acme::ToString(order.value.status),
                                                 " without a certificate URL"));
    }
    ASSIGN_OR_RETURN(acme::CertificateDownload download,
                     acme->GetCertificate(order.value.certificate, /*with_alternates=*/true));
    UpstreamCertificate certificate;
    certificate.order_url = order_url;
    certificate.certificate_url = order.value.certificate;
    for (acme::CertificateChain& chain : download.chains) {
      certificate.chains.push_back(std::move(chain.pem_chain));
    }
    if (certificate.chains.empty()) {
      return absl::UnavailableError(
          absl::StrCat("the CA returned no certificate at ", order.value.certificate));
    }
    return certificate;
  }

  acme::AcmeClient* const acme;
  const Options options;

  absl::Mutex mu;
  // Signalled on new work, a finished preparation and shutdown.
  absl::CondVar changed;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  absl::flat_hash_map<std::string, std::shared_ptr<Preparation>> preparations ABSL_GUARDED_BY(mu);
  // Last member: its threads start once everything they use exists, and stop first.
  WorkQueue workers;
};

absl::StatusOr<std::unique_ptr<UpstreamIssuer>> UpstreamIssuer::Create(acme::AcmeClient* acme,
                                                                       Options options) {
  if (acme == nullptr) return absl::InvalidArgumentError("upstream issuer: no ACME client");
  if (options.dns01_hook.has_value()) {
    const std::string& hook = *options.dns01_hook;
    if (hook.empty() || hook.front() != '/' || hook.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "upstream dns-01 hook \"", absl::CHexEscape(hook),
          "\" is not an absolute path (it is run directly, without a shell or PATH search)"));
    }
  }
  const std::pair<absl::string_view, absl::Duration> durations[] = {
      {"hook_timeout", options.hook_timeout},
      {"min_poll_interval", options.min_poll_interval},
      {"poll_interval", options.poll_interval},
      {"max_poll_interval", options.max_poll_interval},
      {"authorization_timeout", options.authorization_timeout},
      {"order_timeout", options.order_timeout},
  };
  for (const auto& [name, value] : durations) {
    if (value <= absl::ZeroDuration() || value == absl::InfiniteDuration()) {
      return absl::InvalidArgumentError(absl::StrCat("upstream issuer: ", name,
                                                     " must be positive and finite, not ",
                                                     absl::FormatDuration(value)));
    }
  }
  if (options.min_poll_interval > options.max_poll_interval) {
    return absl::InvalidArgumentError(absl::StrCat(
        "upstream issuer: min_poll_interval (", absl::FormatDuration(options.min_poll_interval),
        ") is above max_poll_interval (", absl::FormatDuration(options.max_poll_interval), ")"));
  }
  if (options.workers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("upstream issuer: workers must be at least 1, not ", options.workers));
  }
  auto impl = std::make_unique<Impl>(acme, std::move(options));
  return std::unique_ptr<UpstreamIssuer>(new UpstreamIssuer(std::move(impl)));
}

UpstreamIssuer::UpstreamIssuer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

UpstreamIssuer::~UpstreamIssuer() { impl_->Stop(); }

absl::StatusOr<std::string> UpstreamIssuer::CreateOrder(const UpstreamOrderRequest& request) {
  if (impl_->Stopping()) {
    return absl::FailedPreconditionError("upstream issuer: the signer is shutting down");
  }
  acme::NewOrderOptions order_options;
  order_options.identifiers = request.identifiers;
  order_options.not_before = request.not_before;
  order_options.not_after = request.not_after;
  order_options.replaces = request.replaces;
  ASSIGN_OR_RETURN(acme::Fetched<acme::Order> order, impl_->acme->CreateOrder(order_options));
  const std::string order_url = order.value.url;
  auto prep = std::make_shared<Impl::Preparation>();
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->SweepLocked();
    impl_->preparations[order_url] = prep;
  }
  Impl* impl = impl_.get();
  Impl::Job job;
  job.run = [impl, order_url, prep] {
    {
      absl::MutexLock lock(&impl->mu);
      if (prep->state != Impl::Preparation::State::kQueued) return;  // a Finalize took it
      prep->state = Impl::Preparation::State::kRunning;
      prep->wait_until = absl::Now() + impl->options.authorization_timeout +
                         impl->options.hook_timeout + kWaitSlack;
    }
    impl->RunPreparation(order_url, prep);
  };
  job.cancel = [impl, prep] {
    absl::MutexLock lock(&impl->mu);
    if (prep->state != Impl::Preparation::State::kQueued) return;
    prep->state = Impl::Preparation::State::kDone;
    prep->status = absl::CancelledError("the signer shut down before preparing the order");
    prep->done_at = absl::Now();
    impl->changed.SignalAll();
  };
  // When shutting down meanwhile, a Finalize (refused then too) would prepare it anyway.
  impl_->Enqueue(std::move(job));
  return order_url;
}

absl::Status UpstreamIssuer::Finalize(std::string order_url, std::string csr_der,
                                      FinalizeDone done) {
  Impl* impl = impl_.get();
  auto shared_done = std::make_shared<FinalizeDone>(std::move(done));
  Impl::Job job;
  job.run = [impl, order_url, csr_der = std::move(csr_der), shared_done] {
    (*shared_done)(impl->FinalizeSteps(order_url, csr_der));
  };
  job.cancel = [order_url, shared_done] {
    (*shared_done)(absl::CancelledError(
        absl::StrCat("finalizing upstream order ", order_url,
                     ": the signer shut down before starting (the order continues at the CA)")));
  };
  if (!impl->Enqueue(std::move(job))) {
    return absl::FailedPreconditionError("upstream issuer: the signer is shutting down");
  }
  return absl::OkStatus();
}

}  // namespace acme_signer::signer::frontdoor
