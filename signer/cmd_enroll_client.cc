// acme-signer enroll-client: issue a front-door EAB credential (key id + HMAC key) for a host
// whose [[agents]] entry has front_door = true. See signer/frontdoor/credentials.h.
//
// A credential belongs to one signer account ([[accounts]]): `--account NAME`, or the host's
// default_account without it; refused when the host's [[agents]] entry may not use it. Every
// order of the ACME account a client registers with the credential goes upstream through it.
//
// Works while serve runs: the credential is one row in the shared SQLite state store (WAL; the
// write waits up to the store's busy timeout for serve's), and the front door reads that table
// on every request; the HMAC key is derived in the HSM (the token is shared as serve shares it)
// and is never written anywhere but stdout.
//
// Not in the audit log, like enroll-agent: only serve appends to the log (one writer keeps the
// hash chain and the checkpoints consistent). The issuance is visible in the state store
// (host, created) and the front door audits each use of the key id.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base64url.h"
#include "common/cli.h"
#include "common/secret.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "signer/agent_identity.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/frontdoor/credentials.h"
#include "signer/process_hardening.h"
#include "signer/runtime.h"

namespace acme_signer::signer {
namespace {

absl::Status EnrollClient(const ArgParser& parser) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  RETURN_IF_ERROR(HardenProcess(/*allow_root=*/true));
  const std::string name = *parser.Get("name");
  RETURN_IF_ERROR(ValidateAgentName(name));
  if (!config.acme_server.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(config.source,
                     " has no [acme_server] section: the front door is not configured, so a "
                     "client credential would be useless"));
  }
  const AgentPolicy* policy = config.FindAgent(name);
  if (policy == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("host ", name, " has no [[agents]] entry in ", config.source,
                     "; add one (its allowed_names are the host's policy) with front_door = true"));
  }
  if (!policy->front_door) {
    return absl::PermissionDeniedError(
        absl::StrCat("the [[agents]] entry of ", name, " in ", config.source,
                     " does not have front_door = true; the front door is denied by default"));
  }
  const std::string account =
      parser.Has("account") ? *parser.Get("account") : policy->default_account;
  if (config.FindAccount(account) == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no [[accounts]] entry named \"", account, "\" in ", config.source));
  }
  if (!policy->MayUseAccount(account)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "host ", name, " may not use account \"", account, "\" (its [[agents]] entry in ",
        config.source, " allows: ", absl::StrJoin(policy->accounts, ", "),
        "); add it to the entry's accounts list, or choose one of those"));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<hsm::Token> token, OpenConfiguredToken(config.hsm));
  bool created = false;
  ASSIGN_OR_RETURN(std::unique_ptr<hsm::MacSigner> master,
                   frontdoor::OpenOrCreateEabMasterKey(*token, &created));
  if (created) {
    std::cerr << "front-door EAB master key: generated " << frontdoor::kEabMasterKeyUri
              << " in the HSM (non-extractable)\n";
  }
  RuntimeParts parts;
  parts.store = true;
  ASSIGN_OR_RETURN(std::unique_ptr<SignerRuntime> runtime, SignerRuntime::Open(config, parts));
  ASSIGN_OR_RETURN(
      frontdoor::IssuedCredential issued,
      frontdoor::IssueCredential(*config.acme_server, *master, *runtime->store, name, account));
  const Secret key_text(Base64Url(issued.hmac_key.reveal()));
  Secret out;
  if (parser.Has("json")) {
    // Built by hand around the key so that no JSON library copy of it is left behind; the
    // key is base64url and needs no escaping, the other two go through the JSON encoder.
    out.mutable_value() =
        absl::StrCat("{\"directory_url\":", nlohmann::json(issued.directory_url).dump(),
                     ",\"account\":", nlohmann::json(account).dump(),
                     ",\"eab_kid\":", nlohmann::json(issued.kid).dump(), ",\"eab_hmac_key\":\"",
                     key_text.reveal(), "\"}\n");
  } else {
    out.mutable_value() =
        absl::StrCat("front-door credential issued for host ", name, ", account ", account,
                     " (shown once; acme-signer cannot show this HMAC key again)\n",
                     "directory URL: ", issued.directory_url, "\n", "EAB key id:    ", issued.kid,
                     "\n", "EAB HMAC key:  ", key_text.reveal(), "\n");
  }
  std::cout << out.reveal() << std::flush;
  return absl::OkStatus();
}

}  // namespace

int RunEnrollClient(const std::vector<std::string>& args) {
  ArgParser parser("acme-signer enroll-client --config FILE --name NAME [--account NAME] [--json]");
  parser.Value("config", "FILE", "signer configuration (TOML)")
      .Value("name", "NAME", "host name as in its [[agents]] entry (which needs front_door = true)")
      .Value("account", "NAME",
             "the [[accounts]] entry the credential's orders go to (default: the host's "
             "default_account); the host must be allowed to use it")
      .Bool("json", "print {\"directory_url\", \"account\", \"eab_kid\", \"eab_hmac_key\"} as JSON")
      .Required("config")
      .Required("name");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer enroll-client: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  if (absl::Status s = EnrollClient(parser); !s.ok()) {
    std::cerr << "acme-signer enroll-client: " << s.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace acme_signer::signer
