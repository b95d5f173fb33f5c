// acme-signer audit verify|export|public-key: prove the audit log was not altered (and, with
// --witness, not rolled back behind checkpoints an auditor kept), hand it to an auditor, and
// give them the key to check it with. `audit query` and `audit checkpoint` live in
// signer/cmd_audit_query.cc.
//
// Where the log is depends on [state] backend: "sqlite" keeps the signer's JSON Lines files
// ([audit] log, path.1, ...); "postgresql" keeps the one chain of every replica in the database
// (signer/db_audit_log.h). `export` writes either as one JSON Lines stream in seq order, which
// `audit verify --log EXPORT --public-key PEM` checks offline with the same verifier.
#include <openssl/pem.h>

#include <fstream>
#include <iostream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/cli.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "signer/audit_chain_check.h"
#include "signer/audit_files.h"
#include "signer/audit_log.h"
#include "signer/audit_verifier.h"
#include "signer/audit_witness.h"
#include "signer/cmd_audit_query.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/db/pg_connection.h"
#include "signer/db_audit_log.h"
#include "signer/runtime.h"

namespace acme_signer::signer {
namespace {

constexpr char kUsage[] =
    "usage: acme-signer audit verify (--config FILE | --log PATH --public-key PEM "
    "[--checkpoint REF]) [--witness FILE]\n"
    "       acme-signer audit query (--config FILE | --log PATH) [--name N] [--agent A]\n"
    "                               [--decision allow|deny] [--rpc R] [--since T] [--until T]\n"
    "                               [--json]\n"
    "       acme-signer audit checkpoint (--config FILE | --log PATH)  (the latest signed\n"
    "                               checkpoint, one JSON line)\n"
    "       acme-signer audit report (--config FILE | --log PATH --public-key PEM) [--since T]\n"
    "                               [--until T] --out FILE.html\n"
    "       acme-signer audit export --config FILE      (JSON Lines to stdout)\n"
    "       acme-signer audit public-key --config FILE  (the audit key, PEM, from the HSM)\n";

bool InDatabase(const SignerConfig& config) {
  return config.state.backend == StateConfig::Backend::kPostgresql;
}

absl::StatusOr<std::string> PublicKeyFlag(const ArgParser& parser) {
  ASSIGN_OR_RETURN(std::string pem, ReadFile(*parser.Get("public-key")));
  return AuditPublicKeyDer(pem);
}

absl::StatusOr<AuditVerifyReport> VerifyDatabase(const SignerConfig& config,
                                                 const ArgParser& parser) {
  if (parser.Has("log") || parser.Has("checkpoint")) {
    return absl::InvalidArgumentError(
        "with [state] backend = \"postgresql\", --config verifies the chain in the database "
        "(its head is the checkpoint reference); verify an export with --log EXPORT "
        "--public-key PEM and no --config");
  }
  std::string key_der;
  if (parser.Has("public-key")) {
    ASSIGN_OR_RETURN(key_der, PublicKeyFlag(parser));
  }
  return VerifyConfiguredAuditChain(config, key_der);
}

absl::StatusOr<AuditVerifyReport> Verify(const ArgParser& parser) {
  AuditVerifyOptions options;
  std::string log_path;
  if (parser.Has("config")) {
    ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
    if (InDatabase(config)) return VerifyDatabase(config, parser);
    std::string key_der;
    if (parser.Has("public-key")) {
      ASSIGN_OR_RETURN(key_der, PublicKeyFlag(parser));
    }
    if (!parser.Has("log") && !parser.Has("checkpoint")) {
      return VerifyConfiguredAuditChain(config, key_der);
    }
    log_path = config.audit.log;
    ASSIGN_OR_RETURN(options, ConfiguredAuditVerifyOptions(config, key_der));
  }
  if (parser.Has("checkpoint")) {
    // A reference kept off the host (e.g. copied from `audit.checkpoint` after each run) makes
    // the --log form as strict as --config.
    ASSIGN_OR_RETURN(options.expected_checkpoint,
                     AuditCheckpointRefFromString(*parser.Get("checkpoint")));
  }
  if (parser.Has("log")) log_path = *parser.Get("log");
  if (parser.Has("public-key")) {
    ASSIGN_OR_RETURN(options.public_key_der, PublicKeyFlag(parser));
  }
  if (log_path.empty()) return absl::InvalidArgumentError("give --config FILE or --log PATH");
  if (options.public_key_der.empty()) {
    return absl::InvalidArgumentError("--log needs --public-key PEM (the audit key) or --config");
  }
  return VerifyAuditLogAt(log_path, options);
}

absl::Status WriteStdout(const std::string& line) {
  std::cout << line << '\n';
  if (!std::cout.good()) return absl::UnavailableError("cannot write the export to stdout");
  return absl::OkStatus();
}

// The log files in order, as one stream. A file that ends in a partial line (a crash the
// signer recovered from with a "recovery" checkpoint) cannot be joined to the next one without
// corrupting both lines: such a log is verified in place with --log instead.
absl::Status ExportFiles(const std::string& path) {
  ASSIGN_OR_RETURN(AuditLogFileSet files, ListAuditLogFiles(path));
  if (!files.missing.empty()) {
    return absl::DataLossError(absl::StrCat("audit log file ", files.missing, " is missing but ",
                                            files.present_after_gap,
                                            " exists; run `acme-signer audit verify`"));
  }
  for (const std::string& file : files.files) {
    std::ifstream in(file, std::ios::binary);
    if (!in.is_open()) {
      RETURN_IF_ERROR(ReadFile(file, 0).status());  // the errno-derived status naming it
      return absl::UnavailableError(absl::StrCat("cannot open audit log ", file));
    }
    in.seekg(0, std::ios::end);
    if (in.tellg() > 0) {
      in.seekg(-1, std::ios::end);
      if (in.get() != '\n') {
        return absl::FailedPreconditionError(absl::StrCat(
            "audit log ", file,
            " ends in a partial line (a crash the signer recovered from), which an export "
            "cannot join to the next file; verify the files in place with `acme-signer audit "
            "verify --log ",
            path, " --public-key PEM`"));
      }
      in.seekg(0);
      std::cout << in.rdbuf();
    }
    if (in.bad() || !std::cout.good()) {
      return absl::UnavailableError(absl::StrCat("cannot export audit log ", file));
    }
  }
  std::cout.flush();
  if (!std::cout.good()) return absl::UnavailableError("cannot write the export to stdout");
  return absl::OkStatus();
}

absl::Status Export(const SignerConfig& config) {
  if (!InDatabase(config)) return ExportFiles(config.audit.log);
  ASSIGN_OR_RETURN(std::unique_ptr<db::PgConnection> conn,
                   db::PgConnection::Connect(config.state.url));
  RETURN_IF_ERROR(ExportDbAuditChain(*conn, WriteStdout));
  std::cout.flush();
  if (!std::cout.good()) return absl::UnavailableError("cannot write the export to stdout");
  return absl::OkStatus();
}

// From the HSM itself (not from a copy the database or state store keeps): the anchor an
// auditor verifies exports with.
absl::StatusOr<std::string> PublicKeyPem(const SignerConfig& config) {
  RuntimeParts parts;
  parts.audit_key = true;
  ASSIGN_OR_RETURN(std::unique_ptr<SignerRuntime> runtime, SignerRuntime::Open(config, parts));
  const std::string der = runtime->audit_key->PublicKeyDer();
  ASSIGN_OR_RETURN(SslUniquePtr<EVP_PKEY> pkey, ParsePublicKeyDer(der, "audit public key"));
  return ToPem(pkey.get(), PEM_write_bio_PUBKEY, "audit public key");
}

// Witness files grow by one short line per fetch; an hourly job for years stays far below.
constexpr size_t kMaxWitnessBytes = size_t{64} << 20;

// Where the chain --witness is checked against is: the verified one (--log overrides the
// config's files, as in Verify).
absl::StatusOr<SignerConfig> WitnessedChain(const ArgParser& parser) {
  SignerConfig config;
  if (parser.Has("config")) {
    ASSIGN_OR_RETURN(config, LoadSignerConfig(*parser.Get("config")));
  }
  if (parser.Has("log")) {
    config.state.backend = StateConfig::Backend::kSqlite;
    config.audit.log = *parser.Get("log");
  }
  return config;
}

// nullopt when every witnessed checkpoint is in the chain; else the failure naming one.
absl::StatusOr<std::optional<std::string>> CheckWitnessFlag(const ArgParser& parser,
                                                            size_t* witnessed) {
  const std::string file = *parser.Get("witness");
  std::string text;
  if (file == "-") {
    // The auditor's copy stays on the auditor's machine: `ssh signer acme-signer audit verify
    // --config F --witness - < witness.jsonl`.
    char buf[8192];
    while (std::cin.read(buf, sizeof(buf)) || std::cin.gcount() > 0) {
      text.append(buf, static_cast<size_t>(std::cin.gcount()));
      if (text.size() > kMaxWitnessBytes) {
        return absl::OutOfRangeError(absl::StrCat("the witness on standard input is larger than ",
                                                  kMaxWitnessBytes, " bytes"));
      }
    }
    if (std::cin.bad()) return absl::UnavailableError("cannot read the witness from stdin");
  } else {
    ASSIGN_OR_RETURN(text, ReadFile(file, kMaxWitnessBytes));
  }
  ASSIGN_OR_RETURN(std::vector<AuditWitnessEntry> entries, ParseWitnessFile(text, file));
  *witnessed = entries.size();
  ASSIGN_OR_RETURN(SignerConfig chain, WitnessedChain(parser));
  return CheckAuditWitness(chain, entries);
}

int RunVerify(const std::vector<std::string>& rest) {
  ArgParser parser(
      "acme-signer audit verify (--config FILE | --log PATH --public-key PEM [--checkpoint REF]) "
      "[--witness FILE]");
  parser
      .Value("config", "FILE",
             "signer configuration: the log files and last checkpoint (sqlite), or the chain "
             "in the database (postgresql)")
      .Value("log", "PATH", "audit log or export to verify (first file; .1, .2 ... follow)")
      .Value("public-key", "PEM", "the audit key's public key (PEM or DER)")
      .Value("checkpoint", "REF",
             "the checkpoint the log must hold, as stored under audit.checkpoint: "
             "{\"hash\":\"...\",\"seq\":N}")
      .Value("witness", "FILE",
             "checkpoints kept off the host (`audit checkpoint` lines; - = standard input): "
             "the log must contain and extend each one");
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
  if (!parser.Has("witness")) return report->ok() ? kExitOk : kExitAuditBad;
  size_t witnessed = 0;
  absl::StatusOr<std::optional<std::string>> witness = CheckWitnessFlag(parser, &witnessed);
  if (!witness.ok()) {
    std::cerr << "acme-signer audit verify: " << witness.status().message() << "\n";
    return kExitFailure;
  }
  if (witness->has_value()) {
    // A rollback is damage like a cut log: the same exit status.
    std::cout << "FAILED: witness " << *parser.Get("witness") << ": " << **witness << "\n";
    return kExitAuditBad;
  }
  std::cout << "witness: all " << witnessed << " checkpoint(s) of " << *parser.Get("witness")
            << " are in the log, which extends them\n";
  return report->ok() ? kExitOk : kExitAuditBad;
}

// export and public-key: --config only.
int RunWithConfig(const std::string& name, const std::vector<std::string>& rest,
                  const std::function<absl::Status(const SignerConfig&)>& run) {
  ArgParser parser(absl::StrCat("acme-signer audit ", name, " --config FILE"));
  parser.Value("config", "FILE", "signer configuration").Required("config");
  if (absl::Status s = parser.Parse(rest); !s.ok()) {
    std::cerr << "acme-signer audit " << name << ": " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  absl::StatusOr<SignerConfig> config = LoadSignerConfig(*parser.Get("config"));
  absl::Status status = config.ok() ? run(*config) : config.status();
  if (!status.ok()) {
    std::cerr << "acme-signer audit " << name << ": " << status.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

int RunAudit(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "verify") return RunVerify(rest);
  if (args[0] == "query") return RunAuditQuery(rest);
  if (args[0] == "checkpoint") return RunAuditCheckpoint(rest);
  if (args[0] == "export") return RunWithConfig("export", rest, Export);
  if (args[0] == "report") return RunAuditReport(rest);
  if (args[0] == "public-key") {
    return RunWithConfig("public-key", rest, [](const SignerConfig& config) -> absl::Status {
      ASSIGN_OR_RETURN(std::string pem, PublicKeyPem(config));
      std::cout << pem;
      std::cout.flush();
      if (!std::cout.good()) return absl::UnavailableError("cannot write to stdout");
      return absl::OkStatus();
    });
  }
  std::cerr << kUsage;
  return kExitUsage;
}

}  // namespace acme_signer::signer
