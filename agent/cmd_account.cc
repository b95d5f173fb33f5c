// acme-agent account: check the connection to the signer and show the ACME account it uses.
#include <iostream>

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
  absl::StatusOr<pb::GetAccountResponse> account = (*signer)->GetAccount();
  if (!account.ok()) return Fail(&*context, "account", account.status());
  if (context->json) {
    PrintJsonResult("account", {{"signer", context->config.signer.address},
                                {"directory_url", account->directory_url()},
                                {"account_url", account->account_url()},
                                {"jwk_thumbprint", account->jwk_thumbprint()},
                                {"jws_algorithm", account->jws_algorithm()}});
  } else if (!context->quiet) {
    std::cout << "signer:      " << context->config.signer.address << " (mutual TLS OK)\n"
              << "CA:          " << account->directory_url() << "\n"
              << "account:     " << account->account_url() << "\n"
              << "thumbprint:  " << account->jwk_thumbprint() << " (" << account->jws_algorithm()
              << ")\n";
  }
  return kExitOk;
}

}  // namespace acme_signer::agent
