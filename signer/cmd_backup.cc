// acme-signer backup --config FILE --out DIR [--include-tls-keys]: a restorable copy of a
// signer while it serves (signer/backup.h; pg_dump with backend = "postgresql").
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/cli.h"
#include "common/status_macros.h"
#include "signer/backup.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/process_hardening.h"
#include "signer/runtime.h"

namespace acme_signer::signer {
namespace {

absl::StatusOr<int> Backup(const ArgParser& parser) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  // No core dump of a process that may copy a key file (--include-tls-keys).
  RETURN_IF_ERROR(HardenProcess(/*allow_root=*/true));
  BackupOptions options;
  options.out_dir = *parser.Get("out");
  options.include_tls_keys = parser.Has("include-tls-keys");
  ASSIGN_OR_RETURN(BackupResult result, WriteBackup(config, options));
  for (const std::string& line : result.lines) std::cout << line << "\n";
  if (result.manifest.backend == "postgresql") {
    std::cout << "audit chain in the database before the dump: " << result.report.Summary() << "\n";
  } else {
    std::cout << "audit chain of the backup: " << result.report.Summary() << "\n";
    std::cout << "the backed-up database references the checkpoint at seq "
              << result.manifest.audit_checkpoint_seq << "; the backed-up log ends at seq "
              << result.manifest.audit_last_seq << "\n";
  }
  std::cout << "MANIFEST: " << options.out_dir << "/MANIFEST (" << result.manifest.files.size()
            << " files with SHA-256)\n";
  std::cout << "not in the backup: the PIN file (hsm.pin_file) and the HSM token (back the "
               "token up with the HSM's own procedure, docs/signer.md \"Backup and restore\")"
            << (options.include_tls_keys ? ""
                                         : ", and the TLS private keys (init makes new "
                                           "ones after a restore)")
            << "\n";
  if (options.include_tls_keys) {
    std::cout << "the backup holds TLS private keys: protect it like a key file\n";
  }
  if (!result.report.ok()) {
    std::cerr << "acme-signer backup: the backup was written, but its audit chain does NOT "
                 "verify (see above); keep it as evidence and investigate before restoring it\n";
    return kExitAuditBad;
  }
  return kExitOk;
}

}  // namespace

int RunBackup(const std::vector<std::string>& args) {
  ArgParser parser("acme-signer backup --config FILE --out DIR [--include-tls-keys]");
  parser.Value("config", "FILE", "signer configuration (TOML)")
      .Value("out", "DIR",
             "new or empty directory for the backup (mode 0700; files 0600; MANIFEST last)")
      .Bool("include-tls-keys",
            "also copy server.tls_key and the front door's tls_private_key (secrets; without "
            "them, `acme-signer init` makes new ones after a restore)")
      .Required("config")
      .Required("out");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer backup: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  absl::StatusOr<int> code = Backup(parser);
  if (!code.ok()) {
    std::cerr << "acme-signer backup: " << code.status().message() << "\n";
    return kExitFailure;
  }
  return *code;
}

}  // namespace acme_signer::signer
