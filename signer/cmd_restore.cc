// acme-signer restore --from DIR --config FILE [--force]: puts a backup written by
// `acme-signer backup` into the locations FILE names and verifies the restored audit chain
// (signer/backup_restore.h).
#include <iostream>

#include "common/cli.h"
#include "common/status_macros.h"
#include "signer/backup_restore.h"
#include "signer/commands.h"
#include "signer/config.h"

namespace acme_signer::signer {
namespace {

absl::StatusOr<int> Restore(const ArgParser& parser) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  RestoreOptions options;
  options.from_dir = *parser.Get("from");
  options.force = parser.Has("force");
  ASSIGN_OR_RETURN(RestoreResult result, RestoreBackup(config, options));
  std::cout << "backup of " << result.manifest.config_source << " taken "
            << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", result.manifest.created, absl::UTCTimeZone())
            << ": every file matches its SHA-256 in MANIFEST\n";
  for (const std::string& moved : result.moved_aside) std::cout << "moved aside: " << moved << "\n";
  for (const std::string& line : result.lines) std::cout << line << "\n";
  std::cout << "audit chain: " << result.report.Summary() << "\n";
  if (!result.report.ok()) {
    std::cerr << "acme-signer restore: the restored audit chain does NOT verify (see above); "
                 "do not start serve on it (it would refuse to)\n";
    return kExitAuditBad;
  }
  for (const std::string& step : result.next_steps) std::cout << "next: " << step << "\n";
  return kExitOk;
}

}  // namespace

int RunRestore(const std::vector<std::string>& args) {
  ArgParser parser("acme-signer restore --from DIR --config FILE [--force]");
  parser.Value("from", "DIR", "a directory written by `acme-signer backup`")
      .Value("config", "FILE",
             "the configuration whose [state] dir, [audit] log and certificate paths receive "
             "the backup (the backup's own config is DIR/acme-signer.toml)")
      .Bool("force",
            "rename existing state, audit and differing certificate files aside "
            "(<name>.before-restore-<time>) instead of refusing; nothing is deleted")
      .Required("from")
      .Required("config");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer restore: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  absl::StatusOr<int> code = Restore(parser);
  if (!code.ok()) {
    std::cerr << "acme-signer restore: " << code.status().message() << "\n";
    return kExitFailure;
  }
  return *code;
}

}  // namespace acme_signer::signer
