// acme-signer: the signing daemon and its admin subcommands. main only dispatches.
#include <iostream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/grpc_logging.h"
#include "signer/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: acme-signer COMMAND [options]   (COMMAND --help for its options)\n"
    "\n"
    "commands:\n"
    "  init          create the HSM keys, import the EAB key, register the ACME account,\n"
    "                create the agent CA and the server certificate (idempotent)\n"
    "  serve         run the gRPC server (mutual TLS)\n"
    "  enroll-agent  enrol an agent: a one-time token (--token) or a certificate from its CSR\n"
    "  enroll-client issue a front-door EAB credential (key id + HMAC key) for a host\n"
    "  audit verify|query|checkpoint|export|public-key\n"
    "                verify the tamper-evident audit log, export it as JSON Lines, print the\n"
    "                audit key (PEM) to verify an export with\n"
    "  audit report  the auditor's report: one self-contained HTML file (--out FILE.html)\n"
    "  inventory     list the certificates issued through the signer\n"
    "  agents list   list the agents: identity, certificate, last seen, policy\n"
    "  agents revoke revoke a host: its agent certificates, front-door credentials and\n"
    "                accounts (the running signer refuses them at once)\n"
    "  migrate       create or upgrade the state store's schema (serve never does)\n"
    "  reload        make the running serve reload its config and revocations; reports\n"
    "                whether it accepted\n"
    "  check-config  check a config file and the files it names, without the PIN\n"
    "  account list|roll-key|deactivate|caa\n"
    "                the signer's ACME accounts: list them, roll an account key inside the\n"
    "                HSM, deactivate one, print/check the CAA records binding a domain to one\n"
    "  backup        copy the state database (online), audit log, config and certificates\n"
    "                into a directory with a MANIFEST of SHA-256 (no PIN, no private key)\n"
    "  restore       check a backup's MANIFEST and put it into a config's locations\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace acme_signer::signer;
  // Lock-order checking is for tests (debug builds), not for a serving daemon's hot path.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // No raw gRPC lines: serve folds handshake failures (signer/handshake_failures.h), other
  // commands print gRPC's messages reworded.
  acme_signer::RouteGrpcLogging([](const acme_signer::GrpcLogLine& line) {
    std::cerr << acme_signer::FormatGrpcLogLine("acme-signer", line) << std::endl;
  });
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "init") return RunInit(args);
  if (command == "serve") return RunServe(args);
  if (command == "enroll-agent") return RunEnrollAgent(args);
  if (command == "enroll-client") return RunEnrollClient(args);
  if (command == "audit") return RunAudit(args);
  if (command == "inventory") return RunInventory(args);
  if (command == "agents") return RunAgents(args);
  if (command == "reload") return RunReload(args);
  if (command == "check-config") return RunCheckConfig(args);
  if (command == "migrate") return RunMigrate(args);
  if (command == "account") return RunAccount(args);
  if (command == "backup") return RunBackup(args);
  if (command == "restore") return RunRestore(args);
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  std::cerr << "acme-signer: unknown command '" << command << "'\n" << kUsage;
  return kExitUsage;
}
