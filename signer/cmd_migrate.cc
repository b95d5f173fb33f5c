// acme-signer migrate: creates or upgrades the state store's schema (signer/state_store_schema.h)
// to this signer's version, and says what it did. Serve and the admin commands never migrate:
// they refuse an older schema and name this command. With several replicas on one PostgreSQL
// database, run it once before starting the upgraded replicas; running it from two hosts at
// once is safe (they take turns, and the second finds nothing to do).
#include <iostream>
#include <string>
#include <vector>

#include "common/cli.h"
#include "common/status_macros.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/runtime.h"
#include "signer/state_store.h"

namespace acme_signer::signer {
namespace {

absl::Status Migrate(const ArgParser& parser) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  RuntimeParts parts;
  parts.migrate_store = true;
  ASSIGN_OR_RETURN(std::unique_ptr<SignerRuntime> runtime, SignerRuntime::Open(config, parts));
  const int found = runtime->store->schema_version_found();
  std::cout << "state store: schema version " << found << " -> " << StateStore::kSchemaVersion
            << (found == StateStore::kSchemaVersion ? " (already current)" : "") << "\n";
  return absl::OkStatus();
}

}  // namespace

int RunMigrate(const std::vector<std::string>& args) {
  ArgParser parser("acme-signer migrate --config FILE");
  parser.Value("config", "FILE", "signer configuration (TOML); its [state] names the store")
      .Required("config");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer migrate: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  if (absl::Status s = Migrate(parser); !s.ok()) {
    std::cerr << "acme-signer migrate: " << s.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace acme_signer::signer
