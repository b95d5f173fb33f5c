// acme-agent account: check the connection to the signer, show the ACME account it uses by
// default, and list every signer account this agent may use (what --server / --account of
// certonly choose among).
#include <iostream>

#include "agent/account_choice.h"
#include "agent/command_support.h"
#include "agent/commands.h"

namespace acme_signer::agent {

int RunAccount(const std::vector<std::string>& args) {
  ArgParser parser("acme-agent account [options]   (checks the mTLS connection to the signer)");
  AddCommonOptions(parser);
  if (auto exit_code = ParseOrExit(parser, args, "account")) return *exit_code;
  absl::StatusOr<CommandContext> context = LoadContext(parser);
  if (!context.ok()) return UsageError("account", context.status());
  absl::StatusOr<std::unique_ptr<SignerClient>> signer = ConnectToSigner(context->config);
  if (!signer.ok()) return Fail(&*context, "account", signer.status());
  absl::StatusOr<pb::GetAccountResponse> account = (*signer)->GetAccount("");
  if (!account.ok()) return Fail(&*context, "account", account.status());
  const std::vector<AccountOption> usable = UsableAccounts(*account);
  if (context->json) {
    nlohmann::json accounts = nlohmann::json::array();
    for (const AccountOption& a : usable) {
      accounts.push_back(
          {{"name", a.name}, {"directory_url", a.directory_url}, {"default", a.is_default}});
    }
    PrintJsonResult("account", {{"signer", context->config.signer.address},
                                {"directory_url", account->directory_url()},
                                {"account_url", account->account_url()},
                                {"jwk_thumbprint", account->jwk_thumbprint()},
                                {"jws_algorithm", account->jws_algorithm()},
                                {"account", account->account()},
                                {"accounts", std::move(accounts)}});
  } else if (!context->quiet) {
    std::cout << "signer:      " << context->config.signer.address << " (mutual TLS OK)\n"
              << "CA:          " << account->directory_url() << "\n"
              << "account:     " << account->account_url() << "\n"
              << "thumbprint:  " << account->jwk_thumbprint() << " (" << account->jws_algorithm()
              << ")\n";
    // The accounts certonly's --server URL / --account NAME choose among.
    std::cout << "accounts this agent may use (certonly --server URL or --account NAME):\n";
    for (const AccountOption& a : usable) {
      std::cout << "  " << (a.name.empty() ? "?" : a.name) << "  " << a.directory_url
                << (a.is_default ? "  (default)" : "") << "\n";
    }
  }
  return kExitOk;
}

}  // namespace acme_signer::agent
