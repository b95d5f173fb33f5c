// acme-signer audit verify: prove the audit log was not altered.
#include <iostream>

#include "absl/strings/escaping.h"
#include "common/cli.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "signer/audit_log.h"
#include "signer/audit_verifier.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/runtime.h"

namespace acme_signer::signer {
namespace {

absl::StatusOr<AuditVerifyReport> Verify(const ArgParser& parser) {
  AuditVerifyOptions options;
  std::string log_path;
  if (parser.Has("config")) {
    ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
    log_path = config.audit.log;
    ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store, OpenStateStore(config));
    ASSIGN_OR_RETURN(std::optional<std::string> key_b64, store->GetValue(kAuditPublicKeyKey));
    if (!key_b64.has_value() && !parser.Has("public-key")) {
      return absl::FailedPreconditionError(
          "the state store has no audit public key yet (no checkpoint written); pass "
          "--public-key");
    }
    if (key_b64.has_value()) {
      std::string der;
      if (!absl::Base64Unescape(*key_b64, &der)) {
        return absl::DataLossError("the audit public key in the state store is not base64");
      }
      options.public_key_der = der;
    }
    ASSIGN_OR_RETURN(options.expected_checkpoint, LoadAuditCheckpoint(*store));
    // The signer stores the reference with its first checkpoint and refuses to start without
    // it once the log has one; report the same here.
    options.reference_required = true;
  }
  if (parser.Has("checkpoint")) {
    // A reference kept off the host (e.g. copied from `audit.checkpoint` after each run) makes
    // the --log form as strict as --config.
    ASSIGN_OR_RETURN(options.expected_checkpoint,
                     AuditCheckpointRefFromString(*parser.Get("checkpoint")));
  }
  if (parser.Has("log")) log_path = *parser.Get("log");
  if (parser.Has("public-key")) {
    ASSIGN_OR_RETURN(std::string pem, ReadFile(*parser.Get("public-key")));
    ASSIGN_OR_RETURN(options.public_key_der, AuditPublicKeyDer(pem));
  }
  if (log_path.empty()) return absl::InvalidArgumentError("give --config FILE or --log PATH");
  if (options.public_key_der.empty()) {
    return absl::InvalidArgumentError("--log needs --public-key PEM (the audit key) or --config");
  }
  return VerifyAuditLogAt(log_path, options);
}

}  // namespace

int RunAudit(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "verify") {
    std::cerr << "usage: acme-signer audit verify (--config FILE | --log PATH --public-key PEM "
                 "[--checkpoint REF])\n";
    return kExitUsage;
  }
  ArgParser parser(
      "acme-signer audit verify (--config FILE | --log PATH --public-key PEM [--checkpoint REF])");
  parser.Value("config", "FILE", "signer configuration: log path, key and last checkpoint")
      .Value("log", "PATH", "audit log to verify (first file; .1, .2 ... follow)")
      .Value("public-key", "PEM", "the audit key's public key (PEM or DER)")
      .Value("checkpoint", "REF",
             "the checkpoint the log must hold, as stored under audit.checkpoint: "
             "{\"hash\":\"...\",\"seq\":N}");
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (absl::Status s = parser.Parse(rest); !s.ok()) {
    std::cerr << "acme-signer audit verify: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  absl::StatusOr<AuditVerifyReport> report = Verify(parser);
  if (!report.ok()) {
    std::cerr << "acme-signer audit verify: " << report.status().message() << "\n";
    return kExitFailure;
  }
  std::cout << report->Summary() << "\n";
  return report->ok() ? kExitOk : kExitAuditBad;
}

}  // namespace acme_signer::signer
