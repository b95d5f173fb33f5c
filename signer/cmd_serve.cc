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

// Runs the server until SIGTERM/SIGINT. Returns the process exit code; prints why on failure.
int Serve(const std::string& config_path) {
  // Signals are taken by sigwaitinfo() below; block them before any library starts a thread so
  // every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto startup_failed = [](const absl::Status& status) {
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
  };
  absl::StatusOr<SignerConfig> config = LoadSignerConfig(config_path);
  if (!config.ok()) return startup_failed(config.status());
  if (absl::Status s = HardenProcess(config->server.allow_root); !s.ok()) {
    return startup_failed(s);
  }
  ConfigHolder holder(*config);

  // One serve per state dir; `acme-signer reload` finds this process through the pid file.
  ::mkdir(config->state.dir.c_str(), 0700);  // an existing dir is fine; Acquire reports the rest
  absl::StatusOr<std::unique_ptr<ServePidFile>> pid_file =
      ServePidFile::Acquire(ServePidFilePath(*config));
  if (!pid_file.ok()) return startup_failed(pid_file.status());
  const std::string reload_status_path = ReloadStatusPath(*config);

  // Declared before the runtime so that it outlives the audit appender it observes.
  std::unique_ptr<DecisionLog> decision_log;
  RuntimeParts parts;
  parts.audit_log = true;
  parts.agent_ca_key = true;  // RenewAgentCertificate
  absl::StatusOr<std::unique_ptr<SignerRuntime>> opened = SignerRuntime::Open(*config, parts);
  if (!opened.ok()) return startup_failed(opened.status());
  std::unique_ptr<SignerRuntime> runtime = *std::move(opened);
  // A key rollover a killed `account roll-key` (or serve) left pending is finished or rolled
  // back before the accounts' keys are opened (signer/account_rollover.h).
  if (absl::Status s = ResolvePendingRollovers(*config, *runtime); !s.ok()) {
    return startup_failed(s);
  }
  {
    absl::StatusOr<std::unique_ptr<AccountSet>> accounts =
        AccountSet::Open(*config, *runtime->token, *runtime->store);
    if (!accounts.ok()) return startup_failed(accounts.status());
    runtime->accounts = *std::move(accounts);
  }
  if (absl::Status s = runtime->accounts->CheckAllRegistered(config_path); !s.ok()) {
    return startup_failed(s);
  }
  // Every decision, once durable in the audit chain, also reaches the decision log and the
  // metrics (signer/audit_observer.h): observers are added before anything can append.
  auto observed_audit = std::make_unique<ObservedAuditAppender>(std::move(runtime->audit));
  ObservedAuditAppender& audit_observers = *observed_audit;
  runtime->audit = std::move(observed_audit);
  // One line per decision on stderr, or native journal fields when stderr is the journal.
  decision_log = std::make_unique<DecisionLog>(config->state.ReplicaName(),
                                               FdIsJournalStream(STDERR_FILENO));
  audit_observers.AddObserver(decision_log.get());
  // Metrics (signer/signer_metrics.h) are counted whether or not [metrics] serves them.
  SignerMetrics::Options metrics_options;
  metrics_options.version = ACME_SIGNER_VERSION;
  SignerMetrics metrics(metrics_options, runtime->store.get());
  audit_observers.AddObserver(&metrics);

  RateLimiter rate_limiter(*runtime->store);
  AgentCallLimiter call_limiter;
  // Refusals (per call and per refused handshake) reach the audit log through a per-identity
  // budget that folds repeats, so a caller making only refused calls cannot fill the disk.
  AuditAppender* audit = runtime->audit.get();
  RefusalBudget refusals(RefusalBudget::Options(), [audit](const AuditRecord& record) {
    return audit->Append(record).status();
  });
  // Folded counts reach the log within fold_window + this period.
  refusals.StartBackgroundFlush(absl::Seconds(1));
  RevokedCertificateCheck revocation(&holder, &refusals);
  // Agent certificates revoked in the store (`acme-signer agents revoke`); loaded again on
  // every SIGHUP.
  absl::StatusOr<size_t> store_revoked = revocation.RefreshFromStore(*runtime->store);
  if (!store_revoked.ok()) return startup_failed(store_revoked.status());
  AgentSeenRecorder seen(runtime->store.get());
  // Refused handshakes: one log line per client and minute, every one audited (folded).
  HandshakeFailureLog handshake_failures(HandshakeFailureLog::Options(), &refusals);
  revocation.SetFailureLog(&handshake_failures);
  {
    absl::StatusOr<std::string> agent_ca = ReadFile(config->server.agent_ca_cert);
    if (!agent_ca.ok()) return startup_failed(agent_ca.status());
    if (absl::Status s = revocation.SetTrustAnchor(*agent_ca); !s.ok()) {
      return startup_failed(s);
    }
  }
  RouteGrpcLogsTo grpc_logs(&handshake_failures);
  // The HSM self-test before anything listens: a serve that cannot sign would accept agents
  // only to fail each of their calls (and systemd would see it as started).
  if (absl::Status s = HsmSelfTest(*runtime->audit_key); !s.ok()) {
    return startup_failed(absl::Status(
        s.code(), absl::StrCat("HSM self-test (a signature with the audit key ",
                               config->hsm.audit_key, ") failed: ", s.message())));
  }
  SignerService::Deps deps;
  deps.config = &holder;
  deps.accounts = runtime->accounts.get();
  deps.store = runtime->store.get();
  deps.audit = runtime->audit.get();
  deps.rate_limiter = &rate_limiter;
  deps.call_limiter = &call_limiter;
  deps.refusals = &refusals;
  deps.revocation = &revocation;
  deps.seen = &seen;
  deps.agent_ca_key = runtime->agent_ca_key.get();
  SignerService service(deps);
  absl::StatusOr<RunningServer> running = StartGrpcServer(*config, &service, &revocation);
  if (!running.ok()) return startup_failed(running.status());
  std::cout << "acme-signer: serving on " << config->server.listen << " (port " << running->port
            << ")";
  for (const auto& account : runtime->accounts->all()) {
    std::cout << (&account == &runtime->accounts->all().front() ? ", account " : ", ")
              << account->name() << " " << account->acme->account_url();
  }
  std::cout << std::endl;
  // The Prometheus endpoint ([metrics]): plain HTTP on its own listener.
  std::unique_ptr<http::Http01Responder> metrics_listener;
  if (config->metrics.has_value()) {
    absl::StatusOr<std::unique_ptr<http::Http01Responder>> started =
        StartMetricsListener(*config->metrics, &metrics);
    if (!started.ok()) {
      running->server->Shutdown(std::chrono::system_clock::now());
      running->server->Wait();
      return startup_failed(started.status());
    }
    metrics_listener = *std::move(started);
    std::cout << "acme-signer: metrics on http://" << metrics_listener->listen_address()
              << config->metrics->path << std::endl;
  }

  // One-token enrolment on its own listener, when configured (server.enroll_listen).
  std::unique_ptr<hsm::JwsSigner> enroll_ca_key;
  PeerFailureLimiter enroll_failures{PeerFailureLimiter::Options()};
  std::unique_ptr<EnrollmentService> enrollment;
  std::optional<RunningServer> enroll_server;
  auto stop_servers = [&] {
    if (enroll_server.has_value()) {
      enroll_server->server->Shutdown(std::chrono::system_clock::now());
      enroll_server->server->Wait();
    }
    running->server->Shutdown(std::chrono::system_clock::now());
    running->server->Wait();
  };
  if (config->server.enroll_listen.has_value()) {
    absl::Status started = [&]() -> absl::Status {
      absl::StatusOr<std::unique_ptr<hsm::JwsSigner>> ca_key =
          runtime->token->OpenSigningKey(config->hsm.agent_ca_key);
      if (!ca_key.ok()) {
        return absl::Status(ca_key.status().code(),
                            absl::StrCat("server.enroll_listen needs the agent CA key (",
                                         config->hsm.agent_ca_key,
                                         "): ", ca_key.status().message()));
      }
      enroll_ca_key = *std::move(ca_key);
      EnrollmentService::Deps enroll_deps;
      enroll_deps.config = &holder;
      enroll_deps.store = runtime->store.get();
      enroll_deps.audit = runtime->audit.get();
      enroll_deps.refusals = &refusals;
      enroll_deps.peer_failures = &enroll_failures;
      enroll_deps.ca_key = enroll_ca_key.get();
      absl::StatusOr<std::string> ca_pem = ReadFile(config->server.agent_ca_cert);
      if (!ca_pem.ok()) return ca_pem.status();
      enroll_deps.ca_cert_pem = *std::move(ca_pem);
      enroll_deps.signer_port = static_cast<uint32_t>(running->port);
      enrollment = std::make_unique<EnrollmentService>(std::move(enroll_deps));
      absl::StatusOr<RunningServer> server = StartEnrollmentServer(*config, enrollment.get());
      if (!server.ok()) return server.status();
      enroll_server = *std::move(server);
      return absl::OkStatus();
    }();
    if (!started.ok()) {
      stop_servers();
      return startup_failed(started);
    }
    std::cout << "acme-signer: token enrolment on " << *config->server.enroll_listen << " (port "
              << enroll_server->port << ")" << std::endl;
  }

  // The ACME front door for stock clients, when configured ([acme_server]).
  AuditSpaceFloor front_door_space;
  std::unique_ptr<frontdoor::FrontDoor> front_door;
  if (config->acme_server.has_value()) {
    frontdoor::FrontDoorDeps door_deps;
    door_deps.config = &holder;
    door_deps.token = runtime->token.get();
    door_deps.store = runtime->store.get();
    door_deps.audit = runtime->audit.get();
    door_deps.refusals = &refusals;
    door_deps.rate_limiter = &rate_limiter;
    door_deps.audit_space = &front_door_space;
    door_deps.accounts = runtime->accounts.get();
    absl::StatusOr<std::unique_ptr<frontdoor::FrontDoor>> started =
        frontdoor::FrontDoor::Start(*config->acme_server, door_deps);
    if (!started.ok()) {
      stop_servers();
      return startup_failed(started.status());
    }
    front_door = *std::move(started);
    std::cout << "acme-signer: ACME front door on " << config->acme_server->listen << " (port "
              << front_door->port() << "), directory " << front_door->directory_url()
              << std::endl;
    if (front_door->resumed_orders() > 0) {
      std::cout << "acme-signer: front door: " << front_door->resumed_orders()
                << " order(s) left processing by the last run finalized again" << std::endl;
    }
  }

  // The standard health service of the agents' listener says NOT_SERVING while the database or
  // the HSM does not answer, so agents' client-side health checking sends their calls to other
  // replicas; it serves again by itself once both answer. Changes are logged once each.
  grpc::HealthCheckServiceInterface* health_service = running->server->GetHealthCheckService();
  HealthMonitor health(ServeHealthProbes(*runtime), HealthMonitor::Options(),
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
  health.Start();

  // Every listener is bound and the HSM self-test passed: tell systemd (Type=notify).
  const std::string serving_status =
      absl::StrCat("serving on ", config->server.listen, " (port ", running->port, ")");
  NotifySystemdReady(serving_status);
  // The watchdog (WatchdogSec=) pings while the health prober finishes a run of its probes
  // (a signature with the audit key and a database round trip) within the watchdog interval.
  // That is what "alive" means here: the main thread only waits in sigwaitinfo() and proves
  // nothing, whereas a prober that keeps finishing shows that the process is scheduled and that
  // its HSM session and database answer, or fail quickly (a failing probe is NOT_SERVING, not
  // dead: a restart would not bring a lost HSM back). A probe that hangs longer than the
  // interval (a stuck HSM session or database connection) stops the pings and systemd restarts
  // serve.
  std::unique_ptr<SystemdWatchdog> watchdog =
      SystemdWatchdog::StartIfEnabled([&health](absl::Duration interval) {
        return absl::Now() - health.last_run_finished() < interval;
      });

  // What `acme-signer reload` waits for (signer/serve_control.h).
  ReloadStatus reload_status;
  reload_status.pid = ::getpid();
  reload_status.generation = 0;
  reload_status.result = "started";
  reload_status.time = absl::Now();
  reload_status.revoked_in_store = static_cast<int64_t>(*store_revoked);
  reload_status.store_loaded = true;
  reload_status.started_ns = MonotonicNanos();
  reload_status.message = "serving";
  if (absl::Status s = WriteReloadStatus(reload_status_path, reload_status); !s.ok()) {
    std::cerr << "acme-signer: cannot write " << reload_status_path << ": " << s.message()
              << " (acme-signer reload will time out)" << std::endl;
  }

  while (true) {
    // sigwaitinfo: the sender's uid and pid go into the reload's audit record.
    siginfo_t signal_info{};
    const int signal_number = sigwaitinfo(&signals, &signal_info);
    if (signal_number < 0) continue;
    if (signal_number == SIGHUP) {
      NotifySystemdReloading(absl::StrCat("reloading ", config_path));
      reload_status.started_ns = MonotonicNanos();
      // Key rollovers `acme-signer account roll-key` asked for, before the reload status it
      // waits for is written.
      PerformRequestedRollovers(*runtime);
      // The store's revocations are loaded whatever becomes of the config file, so
      // `agents revoke` takes effect even while the config has an error.
      absl::StatusOr<size_t> revoked = revocation.RefreshFromStore(*runtime->store);
      absl::Status reloaded = holder.Reload(config_path);
      ++reload_status.generation;
      reload_status.time = absl::Now();
      reload_status.store_loaded = revoked.ok();
      if (revoked.ok()) reload_status.revoked_in_store = static_cast<int64_t>(*revoked);
      if (reloaded.ok() && revoked.ok()) {
        reload_status.result = "ok";
        reload_status.message = absl::StrCat("configuration reloaded from ", config_path, "; ",
                                             *revoked, " agent certificate(s) revoked in the state store");
        std::cerr << "acme-signer: " << reload_status.message << std::endl;
      } else if (!reloaded.ok()) {
        reload_status.result = "refused";
        reload_status.message = absl::StrCat(
            "reload refused, keeping the running configuration: ", reloaded.message(),
            revoked.ok() ? absl::StrCat(" (the ", *revoked,
                                        " agent certificate(s) revoked in the state store are "
                                        "refused from now on)")
                         : absl::StrCat(" (and the state store's revocations could not be "
                                        "read: ",
                                        revoked.status().message(), ")"));
        std::cerr << "acme-signer: " << reload_status.message << std::endl;
      } else {
        reload_status.result = "refused";
        reload_status.message = absl::StrCat(
            "configuration reloaded from ", config_path,
            ", but the state store's revoked agent certificates could not be read (the "
            "previous list stays in force): ",
            revoked.status().message());
        std::cerr << "acme-signer: " << reload_status.message << std::endl;
      }
      metrics.RecordReload(reload_status.result == "ok");
      // Policy is in the config: every reload, accepted or refused, is in the audit chain.
      {
        absl::StatusOr<std::string> config_text = ReadFile(config_path);
        const AuditRecord record =
            ReloadAuditRecord(reload_status, config_text.ok() ? *config_text : std::string(),
                              signal_info.si_uid, signal_info.si_pid);
        if (absl::StatusOr<uint64_t> seq = runtime->audit->Append(record); !seq.ok()) {
          std::cerr << "acme-signer: cannot audit the reload: " << seq.status().message()
                    << std::endl;
        }
      }
      if (absl::Status s = WriteReloadStatus(reload_status_path, reload_status); !s.ok()) {
        std::cerr << "acme-signer: cannot write " << reload_status_path << ": " << s.message()
                  << std::endl;
      }
      NotifySystemdReady(reload_status.result == "ok"
                             ? serving_status
                             : absl::StrCat(serving_status, "; last reload refused"));
      continue;
    }
    std::cerr << "acme-signer: " << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT")
              << ": draining in-flight calls" << std::endl;
    break;
  }
  NotifySystemdStopping("draining in-flight calls");
  watchdog.reset();
  // Before the server goes: the listener sets the server's health service.
  health.Stop();
  if (metrics_listener != nullptr) metrics_listener->Stop();
  if (front_door != nullptr) front_door->Stop();
  if (enroll_server.has_value()) {
    enroll_server->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    enroll_server->server->Wait();
  }
  running->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(20));
  running->server->Wait();
  front_door.reset();
  // Every folded count is written before the log's shutdown checkpoint.
  if (absl::Status flushed = refusals.Close(); !flushed.ok()) {
    std::cerr << "acme-signer serve: " << flushed.message() << "\n";
  }
  if (absl::Status closed = runtime->audit->Close(); !closed.ok()) {
    std::cerr << "acme-signer serve: " << closed.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
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
