// acme-signer agents revoke: revoke a host. Today this covers what the state store holds about
// the host: every front-door EAB credential issued to it is disabled (no new account can be
// registered with it) and every front-door ACME account registered with them is marked revoked
// (the front door reads the account on every request, so the next request of any of the host's
// stock clients is refused as unauthorized, and audited, without a reload). The host's agent
// (mTLS) certificates are revoked by listing them in server.revoked_agent_certs and reloading
// (docs/signer.md); the command reminds the operator.
//
// Works while serve runs (rows in the shared SQLite store, as enroll-client). Not written to the
// audit log by this process (only serve appends to it); the refusals that follow are.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/cli.h"
#include "common/status_macros.h"
#include "signer/agent_identity.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/process_hardening.h"
#include "signer/runtime.h"
#include "signer/state_store.h"

namespace acme_signer::signer {
namespace {

constexpr char kUsage[] = "acme-signer agents revoke --config FILE --name NAME";

absl::Status RevokeHost(const ArgParser& parser) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  RETURN_IF_ERROR(HardenProcess(/*allow_root=*/true));
  const std::string name = *parser.Get("name");
  RETURN_IF_ERROR(ValidateAgentName(name));
  RuntimeParts parts;
  parts.store = true;
  ASSIGN_OR_RETURN(std::unique_ptr<SignerRuntime> runtime, SignerRuntime::Open(config, parts));
  ASSIGN_OR_RETURN(int credentials, runtime->store->DisableFrontDoorCredentials(name));
  ASSIGN_OR_RETURN(int accounts, runtime->store->RevokeFrontDoorAccounts(name));
  std::cout << "host " << name << ": " << credentials
            << " front-door credential(s) disabled, " << accounts
            << " front-door account(s) revoked (refused from their next request on)\n";
  if (config.FindAgent(name) != nullptr) {
    std::cout << "its [[agents]] entry is still in " << config.source
              << ": to revoke its agent (mTLS) certificates too, add their SHA-256 fingerprints "
                 "to server.revoked_agent_certs and reload (docs/signer.md); to stop the host "
                 "altogether, remove the entry and reload\n";
  }
  return absl::OkStatus();
}

}  // namespace

int RunAgents(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "revoke") {
    std::cerr << "usage: " << kUsage << "\n";
    return kExitUsage;
  }
  ArgParser parser(kUsage);
  parser.Value("config", "FILE", "signer configuration (TOML)")
      .Value("name", "NAME", "the host's [[agents]] name")
      .Required("config")
      .Required("name");
  if (absl::Status s = parser.Parse({args.begin() + 1, args.end()}); !s.ok()) {
    std::cerr << "acme-signer agents revoke: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  if (absl::Status s = RevokeHost(parser); !s.ok()) {
    std::cerr << "acme-signer agents revoke: " << s.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace acme_signer::signer
