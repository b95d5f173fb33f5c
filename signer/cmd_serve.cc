// acme-signer serve: run the gRPC server until SIGTERM/SIGINT; SIGHUP reloads the config.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/cli.h"
#include "common/status_macros.h"
#include "signer/commands.h"
#include "signer/config_holder.h"
#include "signer/grpc_server.h"
#include "signer/process_hardening.h"
#include "signer/rate_limiter.h"
#include "signer/runtime.h"
#include "signer/signer_service.h"

namespace acme_signer::signer {
namespace {

absl::Status Serve(const std::string& config_path) {
  // Signals are taken by sigwait() below; block them before any library starts a thread so
  // every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(config_path));
  RETURN_IF_ERROR(HardenProcess(config.server.allow_root));
  ConfigHolder holder(config);

  RuntimeParts parts;
  parts.acme = parts.audit_log = true;
  ASSIGN_OR_RETURN(std::unique_ptr<SignerRuntime> runtime, SignerRuntime::Open(config, parts));
  if (runtime->acme->account_url().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no ACME account is recorded; run `acme-signer init --config ", config_path, "` first"));
  }
  RateLimiter rate_limiter;
  SignerService::Deps deps;
  deps.config = &holder;
  deps.acme = runtime->acme.get();
  deps.store = runtime->store.get();
  deps.audit = runtime->audit.get();
  deps.rate_limiter = &rate_limiter;
  SignerService service(deps);
  ASSIGN_OR_RETURN(RunningServer running, StartGrpcServer(config, &service));
  std::cout << "acme-signer: serving on " << config.server.listen << " (port " << running.port
            << "), account " << runtime->acme->account_url() << std::endl;

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
  running.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(20));
  running.server->Wait();
  return runtime->audit->Close();
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
  absl::Status status = Serve(*parser.Get("config"));
  if (!status.ok()) {
    std::cerr << "acme-signer serve: " << status.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace acme_signer::signer
