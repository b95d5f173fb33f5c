// acme-signer serve: run the gRPC server until SIGTERM/SIGINT; SIGHUP reloads the config.
#include <grpcpp/health_check_service_interface.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/cli.h"
#include "common/files.h"
#include "common/grpc_logging.h"
#include "common/status_macros.h"
#include "http/version.h"
#include "signer/commands.h"
#include "signer/account_rollover.h"
#include "signer/agent_call_limiter.h"
#include "signer/agent_seen.h"
#include "signer/audit_observer.h"
#include "signer/config_holder.h"
#include "signer/decision_log.h"
#include "signer/enrollment_service.h"
#include "signer/frontdoor/front_door.h"
#include "signer/grpc_server.h"
#include "signer/handshake_failures.h"
#include "signer/handshake_revocation.h"
#include "signer/health_monitor.h"
#include "signer/peer_failure_limiter.h"
#include "signer/process_hardening.h"
#include "signer/rate_limiter.h"
#include "signer/refusal_budget.h"
#include "signer/reload_audit.h"
#include "signer/runtime.h"
#include "signer/serve_control.h"
#include "signer/signer_metrics.h"
#include "signer/signer_service.h"
#include "signer/systemd_notify.h"

namespace acme_signer::signer {
namespace {

// gRPC's log lines go to `log` while this lives, then back to plain reworded lines (gRPC may
// still log while the server shuts down).
class RouteGrpcLogsTo {
 public:
  explicit RouteGrpcLogsTo(HandshakeFailureLog* log) {
    RouteGrpcLogging([log](const GrpcLogLine& line) { log->OnGrpcLogLine(line); });
  }
  ~RouteGrpcLogsTo() {
    RouteGrpcLogging([](const GrpcLogLine& line) {
      if (!IsHandshakeFailureLine(line)) {
        std::cerr << FormatGrpcLogLine("acme-signer", line) << std::endl;
      }
    });
  }
  RouteGrpcLogsTo(const RouteGrpcLogsTo&) = delete;
  RouteGrpcLogsTo& operator=(const RouteGrpcLogsTo&) = delete;
};

// The audit sink of rollovers serve performs.
AccountRollover::AuditSink RolloverAudit(SignerRuntime& runtime) {
  AuditAppender* audit = runtime.audit.get();
  return [audit](const AuditRecord& record) { return audit->Append(record).status(); };
}

absl::Status ResolvePendingRollovers(const SignerConfig& config, SignerRuntime& runtime) {
  for (const AccountConfig& account : config.accounts) {
    ASSIGN_OR_RETURN(std::optional<RolloverPlan> plan,
                     LoadRolloverPlan(*runtime.store, account.name));
    if (!plan.has_value()) continue;
    ASSIGN_OR_RETURN(auto http, http::CurlHttpClient::Create(CaHttpOptions(account)));
    AccountRollover rollover(*runtime.token, *runtime.store, account, *http,
                             RolloverAudit(runtime), "serve");
    absl::StatusOr<std::optional<RolloverOutcome>> outcome =
        rollover.Resolve(nullptr, /*perform_requested=*/false);
    if (!outcome.ok()) {
      return absl::Status(outcome.status().code(),
                          absl::StrCat("pending key rollover of account ", account.name, ": ",
                                       outcome.status().message()));
    }
    if (outcome->has_value()) std::cerr << "acme-signer: " << (*outcome)->message << std::endl;
  }
  return absl::OkStatus();
}

// Performs the rollovers recorded as requested (and finishes pending ones), switching each
// account's engine to its new key; the outcome goes to the state store for roll-key.
void PerformRequestedRollovers(SignerRuntime& runtime) {
  for (const auto& account : runtime.accounts->all()) {
    absl::StatusOr<std::optional<RolloverPlan>> plan =
        LoadRolloverPlan(*runtime.store, account->name());
    if (plan.ok() && !plan->has_value()) continue;
    AccountRollover rollover(*runtime.token, *runtime.store, account->config, *account->http,
                             RolloverAudit(runtime), "serve");
    absl::StatusOr<std::optional<RolloverOutcome>> outcome =
        plan.ok() ? rollover.Resolve(account->acme.get(), /*perform_requested=*/true)
                  : absl::StatusOr<std::optional<RolloverOutcome>>(plan.status());
    if (!outcome.ok()) {
      std::cerr << "acme-signer: account " << account->name()
                << ": key rollover failed: " << outcome.status().message() << std::endl;
      (void)runtime.store->SetValue(RolloverResultKey(account->name()),
                                    absl::StrCat("failed ", outcome.status().message()));
      continue;
    }
    if (!outcome->has_value()) continue;
    std::cerr << "acme-signer: " << (*outcome)->message << std::endl;
    for (auto& key : (*outcome)->keep_alive) account->rollover_keys.push_back(std::move(key));
  }
}

// A signature with the audit key: the path every audit checkpoint takes (session, login, key).
// What is signed is a fixed text that no checkpoint can equal (checkpoints sign a JSON record)
// and is thrown away. The start-up self-test and the health probe both run it.
absl::Status HsmSelfTest(const hsm::JwsSigner& audit_key) {
  return audit_key.Sign("acme-signer health probe").status();
}

// What serve's health depends on (signer/health_monitor.h): the state database and the HSM.
std::vector<HealthMonitor::Probe> ServeHealthProbes(SignerRuntime& runtime) {
  StateStore* store = runtime.store.get();
  const hsm::JwsSigner* audit_key = runtime.audit_key.get();
  return {
      // The store's own probe (SQLite: a local file; PostgreSQL: a round trip that fails while
      // the server or the connection is down, and resets a lost connection).
      {"database", [store] { return store->Ping(); }},
      // HsmSelfTest: a token that is gone or logged out shows here before a request meets it.
      // SoftHSM2 signs ES256 in about 46 us (docs/benchmarks.md); once a second is nothing.
      {"hsm", [audit_key] { return HsmSelfTest(*audit_key); }},
  };
}

// Prints why serve could not start and returns its exit status.
int StartupFailed(const absl::Status& status) {
  std::cerr << "acme-signer serve: " << status.message() << "\n";
  const int code = StartupExitCode(status);
  if (status.code() == absl::StatusCode::kDataLoss) {
    std::cerr << "acme-signer serve: not retrying: the audit log must be investigated first "
                 "(exit status "
              << kExitConfig << ")\n";
  } else if (code == kExitConfig) {
    std::cerr << "acme-signer serve: not retrying: fix the configuration, PIN file or token "
                 "first (exit status "
              << kExitConfig << ")\n";
  }
  return code;
}

// Blocks the signals serve takes with sigwaitinfo() (ServeUntilStopped). Called before any
// library starts a thread, so that every thread inherits the mask.
sigset_t BlockServeSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Everything serve opens, in the order it opens it. Members are destroyed in the reverse order
// of their declaration, and that is serve's teardown order once Shutdown() has stopped the
// listeners: the gRPC servers go before the services and limiters they call, the decision log
// outlives the audit appender it observes, and the runtime (store, audit log, HSM session)
// outlives everything that uses it. Do not reorder the members. The std::optional members are
// built in place by their step and stay empty when serve stops before it.
struct ServeSession {
  std::string config_path;
  SignerConfig config;
  std::optional<ConfigHolder> holder;
  // One serve per state dir; `acme-signer reload` finds this process through the pid file.
  std::unique_ptr<ServePidFile> pid_file;
  std::string reload_status_path;
  // Declared before the runtime so that it outlives the audit appender it observes.
  std::unique_ptr<DecisionLog> decision_log;
  std::unique_ptr<SignerRuntime> runtime;
  std::optional<SignerMetrics> metrics;
  std::optional<RateLimiter> rate_limiter;
  std::optional<AgentCallLimiter> call_limiter;
  std::optional<RefusalBudget> refusals;
  std::optional<RevokedCertificateCheck> revocation;
  size_t store_revoked = 0;  // revoked agent certificates in the store at start-up
  std::optional<AgentSeenRecorder> seen;
  std::optional<HandshakeFailureLog> handshake_failures;
  std::optional<RouteGrpcLogsTo> grpc_logs;
  std::optional<SignerService> service;
  std::optional<RunningServer> running;  // the agents' mTLS listener
  std::unique_ptr<http::Http01Responder> metrics_listener;
  std::unique_ptr<hsm::JwsSigner> enroll_ca_key;
  PeerFailureLimiter enroll_failures{PeerFailureLimiter::Options()};
  std::unique_ptr<EnrollmentService> enrollment;
  std::optional<RunningServer> enroll_server;
  AuditSpaceFloor front_door_space;
  std::unique_ptr<frontdoor::FrontDoor> front_door;
  std::optional<HealthMonitor> health;
  std::string serving_status;  // what systemd shows while serving
  std::unique_ptr<SystemdWatchdog> watchdog;
  ReloadStatus reload_status;  // what `acme-signer reload` waits for (signer/serve_control.h)
};

// The configuration, the process hardening, the pid file, and the runtime (state store, audit
// log, HSM session) with every account's engine.
absl::Status OpenRuntime(ServeSession& s) {
  ASSIGN_OR_RETURN(s.config, LoadSignerConfig(s.config_path));
  RETURN_IF_ERROR(HardenProcess(s.config.server.allow_root));
  s.holder.emplace(s.config);
  ::mkdir(s.config.state.dir.c_str(), 0700);  // an existing dir is fine; Acquire reports the rest
  ASSIGN_OR_RETURN(s.pid_file, ServePidFile::Acquire(ServePidFilePath(s.config)));
  s.reload_status_path = ReloadStatusPath(s.config);
  RuntimeParts parts;
  parts.audit_log = true;
  parts.agent_ca_key = true;  // RenewAgentCertificate
  ASSIGN_OR_RETURN(s.runtime, SignerRuntime::Open(s.config, parts));
  // A key rollover a killed `account roll-key` (or serve) left pending is finished or rolled
  // back before the accounts' keys are opened (signer/account_rollover.h).
  RETURN_IF_ERROR(ResolvePendingRollovers(s.config, *s.runtime));
  ASSIGN_OR_RETURN(s.runtime->accounts,
                   AccountSet::Open(s.config, *s.runtime->token, *s.runtime->store));
  return s.runtime->accounts->CheckAllRegistered(s.config_path);
}

// Every decision, once durable in the audit chain, also reaches the decision log and the
// metrics (signer/audit_observer.h): observers are added before anything can append.
void ObserveAuditDecisions(ServeSession& s) {
  auto observed_audit = std::make_unique<ObservedAuditAppender>(std::move(s.runtime->audit));
  ObservedAuditAppender& audit_observers = *observed_audit;
  s.runtime->audit = std::move(observed_audit);
  // One line per decision on stderr, or native journal fields when stderr is the journal.
  s.decision_log =
      std::make_unique<DecisionLog>(s.config.state.ReplicaName(), FdIsJournalStream(STDERR_FILENO));
  audit_observers.AddObserver(s.decision_log.get());
  // Metrics (signer/signer_metrics.h) are counted whether or not [metrics] serves them.
  SignerMetrics::Options metrics_options;
  metrics_options.version = ACME_SIGNER_VERSION;
  s.metrics.emplace(metrics_options, s.runtime->store.get());
  audit_observers.AddObserver(&*s.metrics);
}

// What the listeners check callers with: the rate limiters, the refusal budget, and the agent
// certificate checks (revocation in config and store, refused-handshake logging, the agent CA as
// trust anchor).
absl::Status OpenCallerChecks(ServeSession& s) {
  s.rate_limiter.emplace(*s.runtime->store);
  s.call_limiter.emplace();
  // Refusals (per call and per refused handshake) reach the audit log through a per-identity
  // budget that folds repeats, so a caller making only refused calls cannot fill the disk.
  AuditAppender* audit = s.runtime->audit.get();
  s.refusals.emplace(RefusalBudget::Options(),
                     [audit](const AuditRecord& record) { return audit->Append(record).status(); });
  // Folded counts reach the log within fold_window + this period.
  s.refusals->StartBackgroundFlush(absl::Seconds(1));
  s.revocation.emplace(&*s.holder, &*s.refusals);
  // Agent certificates revoked in the store (`acme-signer agents revoke`); loaded again on
  // every SIGHUP.
  ASSIGN_OR_RETURN(s.store_revoked, s.revocation->RefreshFromStore(*s.runtime->store));
  s.seen.emplace(s.runtime->store.get());
  // Refused handshakes: one log line per client and minute, every one audited (folded).
  s.handshake_failures.emplace(HandshakeFailureLog::Options(), &*s.refusals);
  s.revocation->SetFailureLog(&*s.handshake_failures);
  ASSIGN_OR_RETURN(const std::string agent_ca, ReadFile(s.config.server.agent_ca_cert));
  RETURN_IF_ERROR(s.revocation->SetTrustAnchor(agent_ca));
  s.grpc_logs.emplace(&*s.handshake_failures);
  return absl::OkStatus();
}

// The agents' service, after the HSM self-test: a serve that cannot sign would accept agents
// only to fail each of their calls (and systemd would see it as started).
absl::Status BuildAgentService(ServeSession& s) {
  if (absl::Status self_test = HsmSelfTest(*s.runtime->audit_key); !self_test.ok()) {
    return absl::Status(self_test.code(),
                        absl::StrCat("HSM self-test (a signature with the audit key ",
                                     s.config.hsm.audit_key, ") failed: ", self_test.message()));
  }
  SignerService::Deps deps;
  deps.config = &*s.holder;
  deps.accounts = s.runtime->accounts.get();
  deps.store = s.runtime->store.get();
  deps.audit = s.runtime->audit.get();
  deps.rate_limiter = &*s.rate_limiter;
  deps.call_limiter = &*s.call_limiter;
  deps.refusals = &*s.refusals;
  deps.revocation = &*s.revocation;
  deps.seen = &*s.seen;
  deps.agent_ca_key = s.runtime->agent_ca_key.get();
  s.service.emplace(deps);
  return absl::OkStatus();
}

// The agents' mTLS listener (server.listen).
absl::Status StartAgentListener(ServeSession& s) {
  ASSIGN_OR_RETURN(s.running, StartGrpcServer(s.config, &*s.service, &*s.revocation));
  std::cout << "acme-signer: serving on " << s.config.server.listen << " (port " << s.running->port
            << ")";
  for (const auto& account : s.runtime->accounts->all()) {
    std::cout << (&account == &s.runtime->accounts->all().front() ? ", account " : ", ")
              << account->name() << " " << account->acme->account_url();
  }
  std::cout << std::endl;
  return absl::OkStatus();
}

// The Prometheus endpoint ([metrics]), when configured: plain HTTP on its own listener.
absl::Status StartMetricsEndpoint(ServeSession& s) {
  if (!s.config.metrics.has_value()) return absl::OkStatus();
  ASSIGN_OR_RETURN(s.metrics_listener, StartMetricsListener(*s.config.metrics, &*s.metrics));
  std::cout << "acme-signer: metrics on http://" << s.metrics_listener->listen_address()
            << s.config.metrics->path << std::endl;
  return absl::OkStatus();
}

// One-token enrolment on its own listener, when configured (server.enroll_listen).
absl::Status StartEnrollment(ServeSession& s) {
  if (!s.config.server.enroll_listen.has_value()) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<hsm::JwsSigner>> ca_key =
      s.runtime->token->OpenSigningKey(s.config.hsm.agent_ca_key);
  if (!ca_key.ok()) {
    return absl::Status(ca_key.status().code(),
                        absl::StrCat("server.enroll_listen needs the agent CA key (",
                                     s.config.hsm.agent_ca_key, "): ", ca_key.status().message()));
  }
  s.enroll_ca_key = *std::move(ca_key);
  EnrollmentService::Deps enroll_deps;
  enroll_deps.config = &*s.holder;
  enroll_deps.store = s.runtime->store.get();
  enroll_deps.audit = s.runtime->audit.get();
  enroll_deps.refusals = &*s.refusals;
  enroll_deps.peer_failures = &s.enroll_failures;
  enroll_deps.ca_key = s.enroll_ca_key.get();
  ASSIGN_OR_RETURN(enroll_deps.ca_cert_pem, ReadFile(s.config.server.agent_ca_cert));
  enroll_deps.signer_port = static_cast<uint32_t>(s.running->port);
  s.enrollment = std::make_unique<EnrollmentService>(std::move(enroll_deps));
  ASSIGN_OR_RETURN(s.enroll_server, StartEnrollmentServer(s.config, s.enrollment.get()));
  std::cout << "acme-signer: token enrolment on " << *s.config.server.enroll_listen << " (port "
            << s.enroll_server->port << ")" << std::endl;
  return absl::OkStatus();
}

// The ACME front door for stock clients, when configured ([acme_server]).
absl::Status StartFrontDoor(ServeSession& s) {
  if (!s.config.acme_server.has_value()) return absl::OkStatus();
  frontdoor::FrontDoorDeps door_deps;
  door_deps.config = &*s.holder;
  door_deps.token = s.runtime->token.get();
  door_deps.store = s.runtime->store.get();
  door_deps.audit = s.runtime->audit.get();
  door_deps.refusals = &*s.refusals;
  door_deps.rate_limiter = &*s.rate_limiter;
  door_deps.audit_space = &s.front_door_space;
  door_deps.accounts = s.runtime->accounts.get();
  ASSIGN_OR_RETURN(s.front_door, frontdoor::FrontDoor::Start(*s.config.acme_server, door_deps));
  std::cout << "acme-signer: ACME front door on " << s.config.acme_server->listen << " (port "
            << s.front_door->port() << "), directory " << s.front_door->directory_url()
            << std::endl;
  if (s.front_door->resumed_orders() > 0) {
    std::cout << "acme-signer: front door: " << s.front_door->resumed_orders()
              << " order(s) left processing by the last run finalized again" << std::endl;
  }
  return absl::OkStatus();
}

// A listener failed to start after the agents' listener did: the gRPC servers started so far
// stop at once (nothing has been served yet).
void StopGrpcServersNow(ServeSession& s) {
  if (s.enroll_server.has_value()) {
    s.enroll_server->server->Shutdown(std::chrono::system_clock::now());
    s.enroll_server->server->Wait();
  }
  s.running->server->Shutdown(std::chrono::system_clock::now());
  s.running->server->Wait();
}

// The standard health service of the agents' listener says NOT_SERVING while the database or
// the HSM does not answer, so agents' client-side health checking sends their calls to other
// replicas; it serves again by itself once both answer. Changes are logged once each.
void StartHealthMonitor(ServeSession& s) {
  grpc::HealthCheckServiceInterface* health_service = s.running->server->GetHealthCheckService();
  s.health.emplace(ServeHealthProbes(*s.runtime), HealthMonitor::Options(),
                   [health_service](bool serving, absl::string_view why) {
                     if (health_service != nullptr) health_service->SetServingStatus(serving);
                     if (serving) {
                       std::cerr << "acme-signer: health: SERVING again (database and HSM "
                                    "answer)"
                                 << std::endl;
                     } else {
                       std::cerr << "acme-signer: health: NOT_SERVING: " << why << std::endl;
                     }
                   });
  s.health->Start();
}

// Every listener is bound and the HSM self-test passed: tells systemd (Type=notify), starts
// the watchdog pings, and writes the first reload status.
void AnnounceReady(ServeSession& s) {
  s.serving_status =
      absl::StrCat("serving on ", s.config.server.listen, " (port ", s.running->port, ")");
  NotifySystemdReady(s.serving_status);
  // The watchdog (WatchdogSec=) pings while the health prober finishes a run of its probes
  // (a signature with the audit key and a database round trip) within the watchdog interval.
  // That is what "alive" means here: the main thread only waits in sigwaitinfo() and proves
  // nothing, whereas a prober that keeps finishing shows that the process is scheduled and that
  // its HSM session and database answer, or fail quickly (a failing probe is NOT_SERVING, not
  // dead: a restart would not bring a lost HSM back). A probe that hangs longer than the
  // interval (a stuck HSM session or database connection) stops the pings and systemd restarts
  // serve.
  const HealthMonitor* health = &*s.health;
  s.watchdog = SystemdWatchdog::StartIfEnabled([health](absl::Duration interval) {
    return absl::Now() - health->last_run_finished() < interval;
  });

  ReloadStatus& status = s.reload_status;
  status.pid = ::getpid();
  status.generation = 0;
  status.result = "started";
  status.time = absl::Now();
  status.revoked_in_store = static_cast<int64_t>(s.store_revoked);
  status.store_loaded = true;
  status.started_ns = MonotonicNanos();
  status.message = "serving";
  if (absl::Status written = WriteReloadStatus(s.reload_status_path, status); !written.ok()) {
    std::cerr << "acme-signer: cannot write " << s.reload_status_path << ": " << written.message()
              << " (acme-signer reload will time out)" << std::endl;
  }
}

// Puts what a reload found into `status` (generation, result, message) and prints the message.
void RecordReloadOutcome(const std::string& config_path, const absl::Status& reloaded,
                         const absl::StatusOr<size_t>& revoked, ReloadStatus& status) {
  ++status.generation;
  status.time = absl::Now();
  status.store_loaded = revoked.ok();
  if (revoked.ok()) status.revoked_in_store = static_cast<int64_t>(*revoked);
  if (reloaded.ok() && revoked.ok()) {
    status.result = "ok";
    status.message = absl::StrCat("configuration reloaded from ", config_path, "; ", *revoked,
                                  " agent certificate(s) revoked in the state store");
  } else if (!reloaded.ok()) {
    status.result = "refused";
    status.message = absl::StrCat(
        "reload refused, keeping the running configuration: ", reloaded.message(),
        revoked.ok() ? absl::StrCat(" (the ", *revoked,
                                    " agent certificate(s) revoked in the state store are "
                                    "refused from now on)")
                     : absl::StrCat(" (and the state store's revocations could not be "
                                    "read: ",
                                    revoked.status().message(), ")"));
  } else {
    status.result = "refused";
    status.message =
        absl::StrCat("configuration reloaded from ", config_path,
                     ", but the state store's revoked agent certificates could not be read (the "
                     "previous list stays in force): ",
                     revoked.status().message());
  }
  std::cerr << "acme-signer: " << status.message << std::endl;
}

// SIGHUP: requested key rollovers, the store's revocations and the config file; the outcome goes
// to the metrics, the audit chain, the reload status file and systemd.
void Reload(ServeSession& s, const siginfo_t& signal_info) {
  NotifySystemdReloading(absl::StrCat("reloading ", s.config_path));
  s.reload_status.started_ns = MonotonicNanos();
  // Key rollovers `acme-signer account roll-key` asked for, before the reload status it
  // waits for is written.
  PerformRequestedRollovers(*s.runtime);
  // The store's revocations are loaded whatever becomes of the config file, so
  // `agents revoke` takes effect even while the config has an error.
  absl::StatusOr<size_t> revoked = s.revocation->RefreshFromStore(*s.runtime->store);
  absl::Status reloaded = s.holder->Reload(s.config_path);
  RecordReloadOutcome(s.config_path, reloaded, revoked, s.reload_status);
  s.metrics->RecordReload(s.reload_status.result == "ok");
  // Policy is in the config: every reload, accepted or refused, is in the audit chain.
  {
    absl::StatusOr<std::string> config_text = ReadFile(s.config_path);
    const AuditRecord record =
        ReloadAuditRecord(s.reload_status, config_text.ok() ? *config_text : std::string(),
                          signal_info.si_uid, signal_info.si_pid);
    if (absl::StatusOr<uint64_t> seq = s.runtime->audit->Append(record); !seq.ok()) {
      std::cerr << "acme-signer: cannot audit the reload: " << seq.status().message() << std::endl;
    }
  }
  if (absl::Status written = WriteReloadStatus(s.reload_status_path, s.reload_status);
      !written.ok()) {
    std::cerr << "acme-signer: cannot write " << s.reload_status_path << ": " << written.message()
              << std::endl;
  }
  NotifySystemdReady(s.reload_status.result == "ok"
                         ? s.serving_status
                         : absl::StrCat(s.serving_status, "; last reload refused"));
}

// Takes each SIGHUP as a reload until SIGTERM or SIGINT asks serve to stop.
void ServeUntilStopped(ServeSession& s, const sigset_t& signals) {
  while (true) {
    // sigwaitinfo: the sender's uid and pid go into the reload's audit record.
    siginfo_t signal_info{};
    const int signal_number = sigwaitinfo(&signals, &signal_info);
    if (signal_number < 0) continue;
    if (signal_number == SIGHUP) {
      Reload(s, signal_info);
      continue;
    }
    std::cerr << "acme-signer: " << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT")
              << ": draining in-flight calls" << std::endl;
    return;
  }
}

// Stops the listeners (draining in-flight calls), then writes the folded refusals and the
// audit log's shutdown checkpoint. Returns serve's exit status.
int Shutdown(ServeSession& s) {
  NotifySystemdStopping("draining in-flight calls");
  s.watchdog.reset();
  // Before the server goes: the listener sets the server's health service.
  s.health->Stop();
  if (s.metrics_listener != nullptr) s.metrics_listener->Stop();
  if (s.front_door != nullptr) s.front_door->Stop();
  if (s.enroll_server.has_value()) {
    s.enroll_server->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    s.enroll_server->server->Wait();
  }
  s.running->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(20));
  s.running->server->Wait();
  s.front_door.reset();
  // Every folded count is written before the log's shutdown checkpoint.
  if (absl::Status flushed = s.refusals->Close(); !flushed.ok()) {
    std::cerr << "acme-signer serve: " << flushed.message() << "\n";
  }
  if (absl::Status closed = s.runtime->audit->Close(); !closed.ok()) {
    std::cerr << "acme-signer serve: " << closed.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

// Runs the server until SIGTERM/SIGINT. Returns the process exit code; prints why on failure.
int Serve(const std::string& config_path) {
  // Before any library starts a thread (see BlockServeSignals).
  const sigset_t signals = BlockServeSignals();
  ServeSession s;  // torn down in reverse member order after Shutdown (see ServeSession)
  s.config_path = config_path;
  if (absl::Status opened = OpenRuntime(s); !opened.ok()) return StartupFailed(opened);
  ObserveAuditDecisions(s);
  if (absl::Status opened = OpenCallerChecks(s); !opened.ok()) return StartupFailed(opened);
  if (absl::Status built = BuildAgentService(s); !built.ok()) return StartupFailed(built);
  if (absl::Status started = StartAgentListener(s); !started.ok()) return StartupFailed(started);
  // Each further listener: when one fails, the gRPC servers already started stop first.
  for (absl::Status (*start)(ServeSession&) :
       {StartMetricsEndpoint, StartEnrollment, StartFrontDoor}) {
    if (absl::Status started = start(s); !started.ok()) {
      StopGrpcServersNow(s);
      return StartupFailed(started);
    }
  }
  StartHealthMonitor(s);
  AnnounceReady(s);
  ServeUntilStopped(s, signals);
  return Shutdown(s);
}

}  // namespace

int RunServe(const std::vector<std::string>& args) {
  ArgParser parser("acme-signer serve --config FILE");
  parser.Value("config", "FILE", "signer configuration (TOML)").Required("config");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer serve: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  return Serve(*parser.Get("config"));
}

}  // namespace acme_signer::signer
