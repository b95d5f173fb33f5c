// acme-signer serve: run the gRPC server until SIGTERM/SIGINT; SIGHUP reloads the config.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/cli.h"
#include "signer/commands.h"
#include "signer/agent_call_limiter.h"
#include "signer/config_holder.h"
#include "signer/frontdoor/front_door.h"
#include "signer/grpc_server.h"
#include "signer/handshake_revocation.h"
#include "signer/process_hardening.h"
#include "signer/rate_limiter.h"
#include "signer/refusal_budget.h"
#include "signer/runtime.h"
#include "signer/signer_service.h"

namespace acme_signer::signer {
namespace {

// Runs the server until SIGTERM/SIGINT. Returns the process exit code; prints why on failure.
int Serve(const std::string& config_path) {
  // Signals are taken by sigwait() below; block them before any library starts a thread so
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

  RuntimeParts parts;
  parts.acme = parts.audit_log = true;
  parts.agent_ca_key = true;  // RenewAgentCertificate
  absl::StatusOr<std::unique_ptr<SignerRuntime>> opened = SignerRuntime::Open(*config, parts);
  if (!opened.ok()) return startup_failed(opened.status());
  std::unique_ptr<SignerRuntime> runtime = *std::move(opened);
  if (runtime->acme->account_url().empty()) {
    return startup_failed(absl::FailedPreconditionError(absl::StrCat(
        "no ACME account is recorded; run `acme-signer init --config ", config_path, "` first")));
  }
  RateLimiter rate_limiter;
  AgentCallLimiter call_limiter;
  // Refusals (per call and per refused handshake) reach the audit log through a per-identity
  // budget that folds repeats, so a caller making only refused calls cannot fill the disk.
  AuditLog* audit = runtime->audit.get();
  RefusalBudget refusals(RefusalBudget::Options(), [audit](const AuditRecord& record) {
    return audit->Append(record).status();
  });
  // Folded counts reach the log within fold_window + this period.
  refusals.StartBackgroundFlush(absl::Seconds(1));
  RevokedCertificateCheck revocation(&holder, &refusals);
  SignerService::Deps deps;
  deps.config = &holder;
  deps.acme = runtime->acme.get();
  deps.store = runtime->store.get();
  deps.audit = runtime->audit.get();
  deps.rate_limiter = &rate_limiter;
  deps.call_limiter = &call_limiter;
  deps.refusals = &refusals;
  deps.agent_ca_key = runtime->agent_ca_key.get();
  SignerService service(deps);
  absl::StatusOr<RunningServer> running = StartGrpcServer(*config, &service, &revocation);
  if (!running.ok()) return startup_failed(running.status());
  std::cout << "acme-signer: serving on " << config->server.listen << " (port " << running->port
            << "), account " << runtime->acme->account_url() << std::endl;

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
    door_deps.acme = runtime->acme.get();
    absl::StatusOr<std::unique_ptr<frontdoor::FrontDoor>> started =
        frontdoor::FrontDoor::Start(*config->acme_server, door_deps);
    if (!started.ok()) {
      running->server->Shutdown(std::chrono::system_clock::now());
      running->server->Wait();
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

  while (true) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) continue;
    if (signal_number == SIGHUP) {
      absl::Status reloaded = holder.Reload(config_path);
      if (reloaded.ok()) {
        std::cerr << "acme-signer: configuration reloaded from " << config_path << std::endl;
      } else {
        std::cerr << "acme-signer: reload refused, keeping the running configuration: "
                  << reloaded.message() << std::endl;
      }
      continue;
    }
    std::cerr << "acme-signer: " << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT")
              << ": draining in-flight calls" << std::endl;
    break;
  }
  if (front_door != nullptr) front_door->Stop();
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
