// `acme-signer account SUBCOMMAND`: the dispatcher. Each subcommand lives in its own file
// (cmd_account_list.cc, cmd_account_roll_key.cc, cmd_account_deactivate.cc, cmd_account_caa.cc).
#include <iostream>
#include <string>
#include <vector>

#include "signer/commands.h"

namespace acme_signer::signer {

namespace {
constexpr char kAccountUsage[] =
    "usage: acme-signer account list|roll-key|deactivate|caa --config FILE [--account NAME] ...\n"
    "  list        the accounts: name, directory, account URL, key type, key thumbprint,\n"
    "              status, certificates issued\n"
    "  roll-key    RFC 8555 key rollover inside the HSM (--account NAME [--destroy-old])\n"
    "  deactivate  deactivate an account at its CA (--account NAME --yes)\n"
    "  caa         print the RFC 8657 CAA records binding --domain D to --account NAME\n"
    "              (--check [--resolver HOST:PORT] compares them with the live records)\n";
}  // namespace

int RunAccount(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::cerr << kAccountUsage;
    return kExitUsage;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "list") return RunAccountList(rest);
  if (args[0] == "roll-key") return RunAccountRollKey(rest);
  if (args[0] == "deactivate") return RunAccountDeactivate(rest);
  if (args[0] == "caa") return RunAccountCaa(rest);
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kAccountUsage;
    return kExitOk;
  }
  std::cerr << "acme-signer account: unknown subcommand '" << args[0] << "'\n" << kAccountUsage;
  return kExitUsage;
}

}  // namespace acme_signer::signer
