#include "agent/account_choice.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace acme_signer::agent {

std::string NormalizeDirectoryUrl(absl::string_view url) {
  while (absl::ConsumeSuffix(&url, "/")) {
  }
  return std::string(url);
}

std::vector<AccountOption> UsableAccounts(const pb::GetAccountResponse& response) {
  std::vector<AccountOption> out;
  for (const pb::AccountChoice& choice : response.accounts()) {
    out.push_back({choice.name(), choice.directory_url(), choice.is_default()});
  }
  if (out.empty() && !response.directory_url().empty()) {
    out.push_back({response.account(), response.directory_url(), true});
  }
  return out;
}

std::string DescribeAccounts(const std::vector<AccountOption>& accounts) {
  if (accounts.empty()) return "none";
  return absl::StrJoin(accounts, ", ", [](std::string* out, const AccountOption& a) {
    absl::StrAppend(out, a.directory_url, " (account ", a.name.empty() ? "?" : a.name,
                    a.is_default ? ", the default" : "", ")");
  });
}

absl::StatusOr<std::optional<AccountSelection>> SelectAccount(
    const std::vector<AccountOption>& usable, const std::optional<std::string>& server,
    const std::optional<std::string>& account) {
  if (!server.has_value() && !account.has_value()) return std::optional<AccountSelection>();
  const std::string may_use = absl::StrCat("this agent may use: ", DescribeAccounts(usable));
  const AccountOption* by_server = nullptr;
  if (server.has_value()) {
    const std::string wanted = NormalizeDirectoryUrl(*server);
    std::vector<const AccountOption*> matches;
    for (const AccountOption& a : usable) {
      if (NormalizeDirectoryUrl(a.directory_url) == wanted) matches.push_back(&a);
    }
    if (matches.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--server ", *server,
                       ": no account of the signer that this agent may use has this "
                       "directory URL; ",
                       may_use,
                       " (give one of these URLs, or --account NAME; the "
                       "signer's operator lists the accounts in [[agents]] accounts)"));
    }
    if (matches.size() > 1 && !account.has_value()) {
      std::vector<std::string> names;
      for (const AccountOption* a : matches) names.push_back(a->name);
      return absl::InvalidArgumentError(
          absl::StrCat("--server ", *server, " is the directory of several accounts (",
                       absl::StrJoin(names, ", "), "): add --account NAME to say which"));
    }
    by_server = matches.front();
    if (account.has_value()) {
      // Several accounts at one CA: --account picks among them.
      for (const AccountOption* a : matches) {
        if (a->name == *account) by_server = a;
      }
    }
  }
  const AccountOption* by_name = nullptr;
  if (account.has_value()) {
    auto it = std::find_if(usable.begin(), usable.end(),
                           [&account](const AccountOption& a) { return a.name == *account; });
    if (it == usable.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--account ", *account,
                       ": not an account of the signer that this agent may use; ", may_use));
    }
    by_name = &*it;
  }
  if (by_server != nullptr && by_name != nullptr && by_server != by_name) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--server ", *server, " and --account ", *account, " name different accounts (",
        by_server->name, " has directory ", by_server->directory_url, "); give one of them"));
  }
  const AccountOption& chosen = by_name != nullptr ? *by_name : *by_server;
  return std::optional<AccountSelection>(AccountSelection{chosen.name, chosen.directory_url});
}

void AddAccountOptions(ArgParser& parser) {
  parser
      .Value("server", "URL",
             "obtain with the signer's ACME account whose directory URL is URL (certbot's "
             "--server; a trailing / is ignored); kept for renewals")
      .Value("account", "NAME",
             "obtain with the signer's ACME account NAME ([[accounts]] name); kept for renewals");
}

absl::StatusOr<std::optional<AccountSelection>> AccountFromFlags(const ArgParser& parser,
                                                                 SignerClient& signer) {
  const std::optional<std::string> server = parser.Get("server");
  const std::optional<std::string> account = parser.Get("account");
  if (!server.has_value() && !account.has_value()) return std::optional<AccountSelection>();
  if ((server.has_value() && server->empty()) || (account.has_value() && account->empty())) {
    return absl::InvalidArgumentError("--server and --account need a value");
  }
  ASSIGN_OR_RETURN(pb::GetAccountResponse response, signer.GetAccount(""));
  return SelectAccount(UsableAccounts(response), server, account);
}

}  // namespace acme_signer::agent
