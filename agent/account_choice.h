// Which of the signer's ACME accounts a certificate is obtained with, chosen on the host the
// way certbot users choose a CA: `--server URL` (the account whose directory URL is URL, a
// trailing '/' ignored) or `--account NAME` (its [[accounts]] name in the signer). The agent
// learns the accounts it may use from the signer (GetAccount's `accounts`); the choice is kept
// in the lineage's renewal config (RenewalConfig::account) so renewals use it. The signer
// still decides: a request naming an account the agent may not use is refused there (and
// audited).
// Thread-safety: pure functions over plain values.
#ifndef ACME_SIGNER_AGENT_ACCOUNT_CHOICE_H_
#define ACME_SIGNER_AGENT_ACCOUNT_CHOICE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/signer_client.h"
#include "common/cli.h"

namespace acme_signer::agent {

// One account this agent may use.
struct AccountOption {
  std::string name;
  std::string directory_url;
  bool is_default = false;
};

// A chosen account: its name and directory URL (as the signer spells it).
struct AccountSelection {
  std::string name;
  std::string directory_url;
};

// `url` without its trailing '/' characters (how --server URLs are compared).
std::string NormalizeDirectoryUrl(absl::string_view url);

// The accounts `response` (GetAccount) says this agent may use, in the signer's order. A
// signer that sends no list (older than several accounts) has one account: the one described.
std::vector<AccountOption> UsableAccounts(const pb::GetAccountResponse& response);

// "rsa https://ca.example/rsa (default), ecc https://ca.example/ecc": for messages.
std::string DescribeAccounts(const std::vector<AccountOption>& accounts);

// The account `server` (a directory URL) and/or `account` (a name) select among `usable`;
// nullopt when neither is given (the signer's default applies). InvalidArgument, listing the
// directory URLs and names this agent may use, when nothing matches or when both are given and
// name different accounts.
absl::StatusOr<std::optional<AccountSelection>> SelectAccount(
    const std::vector<AccountOption>& usable, const std::optional<std::string>& server,
    const std::optional<std::string>& account);

// Adds --server URL and --account NAME.
void AddAccountOptions(ArgParser& parser);

// The selection the command line's --server / --account make, asking `signer` which accounts
// this agent may use (only when one of them is given: nullopt without a call otherwise).
// Errors: SelectAccount's (InvalidArgument: exit 2); GetAccount's (the signer's, marked).
absl::StatusOr<std::optional<AccountSelection>> AccountFromFlags(const ArgParser& parser,
                                                                 SignerClient& signer);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_ACCOUNT_CHOICE_H_
