// acme-agent: the host client. main only dispatches.
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/commands.h"
#include "common/cli.h"
#include "common/grpc_logging.h"
#include "http/version.h"

namespace {

constexpr char kUsage[] =
    "usage: acme-agent [global options] COMMAND [options]   (COMMAND --help for its options)\n"
    "\n"
    "commands:\n"
    "  enroll        make this host's mTLS key and CSR for the signer operator to sign\n"
    "  certonly      obtain a certificate (--standalone, --webroot or --manual-auth-hook)\n"
    "  renew         renew the certificates that are due (or --force-renewal)\n"
    "  run           keep renewing: sleep until the next one is due (SIGTERM stops)\n"
    "  revoke        revoke a certificate (--cert-name NAME [--reason REASON])\n"
    "  delete        delete a certificate's files (--cert-name NAME; does not revoke)\n"
    "  certificates  list certificates, their names, expiry and paths\n"
    "  account       check the connection to the signer; show the ACME account\n"
    "\n"
    "global options (before or after COMMAND, as with certbot): -c/--config FILE,\n"
    "  --config-dir DIR, -q/--quiet, --json, -n/--non-interactive; --version\n"
    "\n"
    "exit codes: 0 ok, 1 failed (old certificate kept), 2 usage/config, 3 refused by the\n"
    "signer's policy, 4 signer unreachable\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace acme_signer::agent;
  // A failed handshake is reported by the command with its fix, not as raw gRPC lines.
  acme_signer::QuietGrpcHandshakeLogging("acme-agent");
  const std::vector<std::string> all(argv + 1, argv + argc);
  if (all.size() == 1 && (all[0] == "--version" || all[0] == "version")) {
    std::cout << "acme-agent " << ACME_SIGNER_VERSION << "\n";
    return kExitOk;
  }
  // Global options may come before the command (certbot allows `--config F certonly`); they
  // are handed to the command's own parser, which takes them anywhere.
  acme_signer::ArgParser global("acme-agent [global options] COMMAND [options]");
  AddCommonOptions(global);
  absl::StatusOr<size_t> at = global.ParseUntilPositional(all);
  if (!at.ok()) {
    std::cerr << "acme-agent: " << at.status().message()
              << "; only global options may come before COMMAND\n"
              << kUsage;
    return kExitUsage;
  }
  if (*at == all.size()) {
    const bool help = global.help_requested();
    (help ? std::cout : std::cerr) << kUsage;
    return help ? kExitOk : kExitUsage;
  }
  const std::string& command = all[*at];
  std::vector<std::string> args(all.begin(), all.begin() + static_cast<long>(*at));
  args.insert(args.end(), all.begin() + static_cast<long>(*at) + 1, all.end());
  if (command == "enroll") return RunEnroll(args);
  if (command == "certonly") return RunCertonly(args);
  if (command == "renew") return RunRenew(args);
  if (command == "run") return RunLoop(args);
  if (command == "revoke") return RunRevoke(args);
  if (command == "delete") return RunDelete(args);
  if (command == "certificates") return RunCertificates(args);
  if (command == "account") return RunAccount(args);
  if (command == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  std::cerr << "acme-agent: unknown command '" << command << "'\n" << kUsage;
  return kExitUsage;
}
