// acme-agent: the host client. main only dispatches.
#include <iostream>
#include <string>
#include <vector>

#include "agent/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: acme-agent COMMAND [options]   (COMMAND --help for its options)\n"
    "\n"
    "commands:\n"
    "  enroll        make this host's mTLS key and CSR for the signer operator to sign\n"
    "  certonly      obtain a certificate (--standalone, --webroot or --manual-auth-hook)\n"
    "  renew         renew the certificates that are due (or --force-renewal)\n"
    "  run           keep renewing: sleep until the next one is due (SIGTERM stops)\n"
    "  revoke        revoke a certificate (--cert-name NAME [--reason REASON])\n"
    "  certificates  list certificates, their names, expiry and paths\n"
    "  account       check the connection to the signer; show the ACME account\n"
    "\n"
    "exit codes: 0 ok, 1 failed (old certificate kept), 2 usage/config, 3 refused by the\n"
    "signer's policy, 4 signer unreachable\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace acme_signer::agent;
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "enroll") return RunEnroll(args);
  if (command == "certonly") return RunCertonly(args);
  if (command == "renew") return RunRenew(args);
  if (command == "run") return RunLoop(args);
  if (command == "revoke") return RunRevoke(args);
  if (command == "certificates") return RunCertificates(args);
  if (command == "account") return RunAccount(args);
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  std::cerr << "acme-agent: unknown command '" << command << "'\n" << kUsage;
  return kExitUsage;
}
