// acme-agent: the host client. main only dispatches.
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "agent/command_support.h"
#include "agent/commands.h"
#include "common/cli.h"
#include "common/grpc_logging.h"
#include "http/version.h"

namespace {

using acme_signer::agent::kExitOk;
using acme_signer::agent::kExitUsage;

constexpr char kUsage[] =
    "usage: acme-agent [global options] COMMAND [options]\n"
    "       acme-agent help COMMAND   (or COMMAND --help: that command's options)\n"
    "\n"
    "commands:\n"
    "  enroll        get this host's mTLS identity: with a one-time token (--signer --token\n"
    "                --ca-fingerprint), or a key and CSR for the signer operator to sign\n"
    "  certonly      obtain a certificate (--standalone, --webroot or --manual-auth-hook)\n"
    "  renew         renew the certificates that are due (or --force-renewal)\n"
    "  run           keep renewing: sleep until the next one is due (SIGTERM stops)\n"
    "  revoke        revoke a certificate (--cert-name NAME [--reason REASON])\n"
    "  delete        delete a certificate's files (--cert-name NAME; does not revoke)\n"
    "  reconfigure   change a certificate's stored renewal settings (--cert-name NAME ...)\n"
    "  certificates  list certificates, their names, expiry and paths\n"
    "  account       check the connection to the signer; show the ACME account\n"
    "  check-config  check agent.toml, the files it names and renewal/*.conf (offline)\n"
    "\n"
    "global options (before or after COMMAND, as with certbot): -c/--config FILE,\n"
    "  --config-dir DIR, -q/--quiet, -v/--verbose, --json, -n/--non-interactive; --version\n"
    "\n"
    "exit codes: 0 ok (also: nothing was due); 1 failed: nothing was installed and the\n"
    "  previous certificate is live, or a new certificate WAS installed but its deploy hook\n"
    "  failed (the message says which); 2 usage or configuration; 3 refused by the signer's\n"
    "  policy; 4 signer unreachable\n";

using Command = int (*)(const std::vector<std::string>&);

struct CommandEntry {
  const char* name;
  Command run;
};

constexpr CommandEntry kCommands[] = {
    {"enroll", acme_signer::agent::RunEnroll},
    {"certonly", acme_signer::agent::RunCertonly},
    {"renew", acme_signer::agent::RunRenew},
    {"run", acme_signer::agent::RunLoop},
    {"revoke", acme_signer::agent::RunRevoke},
    {"delete", acme_signer::agent::RunDelete},
    {"certificates", acme_signer::agent::RunCertificates},
    {"account", acme_signer::agent::RunAccount},
    {"reconfigure", acme_signer::agent::RunReconfigure},
    {"check-config", acme_signer::agent::RunCheckConfig},
};

Command FindCommand(const std::string& name) {
  for (const CommandEntry& entry : kCommands) {
    if (name == entry.name) return entry.run;
  }
  return nullptr;
}

// `acme-agent` itself is the "command" of errors found before a subcommand is known.
int UsageError(const std::string& message) {
  const int code = acme_signer::agent::UsageError("", absl::InvalidArgumentError(message));
  if (!acme_signer::agent::CurrentOutput().json) std::cerr << kUsage;
  return code;
}

}  // namespace

int main(int argc, char** argv) {
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
  acme_signer::agent::AddCommonOptions(global);
  absl::StatusOr<size_t> at = global.ParseUntilPositional(all);
  // --json for the errors below (the command's ParseOrExit records its own).
  acme_signer::agent::RecordOutputMode(at.ok() ? &global : nullptr, all);
  if (!at.ok()) {
    return UsageError(
        absl::StrCat(at.status().message(), "; only global options may come before COMMAND"));
  }
  if (*at == all.size()) {
    if (global.help_requested()) {
      std::cout << kUsage;
      return kExitOk;
    }
    return UsageError("no COMMAND given");
  }
  const std::string& command = all[*at];
  std::vector<std::string> args(all.begin(), all.begin() + static_cast<long>(*at));
  args.insert(args.end(), all.begin() + static_cast<long>(*at) + 1, all.end());
  if (command == "help") {
    // `acme-agent help COMMAND` is `acme-agent COMMAND --help`; `help` alone the overview.
    for (const std::string& arg : args) {
      if (arg.empty() || arg[0] == '-') continue;
      Command help_for = FindCommand(arg);
      if (help_for == nullptr) return UsageError(absl::StrCat("unknown command '", arg, "'"));
      return help_for({"--help"});
    }
    std::cout << kUsage;
    return kExitOk;
  }
  Command run = FindCommand(command);
  if (run == nullptr) return UsageError(absl::StrCat("unknown command '", command, "'"));
  return run(args);
}
