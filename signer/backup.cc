#include "signer/backup.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "signer/audit_chain_check.h"
#include "signer/audit_files.h"
#include "signer/audit_log.h"
#include "signer/backup_files.h"
#include "signer/backup_postgresql.h"
#include "signer/db/sqlite_backup.h"
#include "signer/runtime.h"
#include "signer/state_store.h"

namespace acme_signer::signer {
namespace {

// Every file of the backup: read by no one but its owner (the database and the log name every
// host and agent; a key, when included, is a secret).
constexpr mode_t kBackupFileMode = 0600;

// `dir` exists as an empty directory with mode 0700 afterwards.
absl::Status PrepareOutDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno != EEXIST) {
      return ErrnoStatus(errno, absl::StrCat("cannot create the backup directory ", dir));
    }
    struct stat st;
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("--out ", dir, " exists and is not a directory"));
    }
    std::unique_ptr<DIR, int (*)(DIR*)> listing(::opendir(dir.c_str()), ::closedir);
    if (listing == nullptr) return ErrnoStatus(errno, absl::StrCat("cannot list ", dir));
    while (const dirent* entry = ::readdir(listing.get())) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") {
        return absl::FailedPreconditionError(
            absl::StrCat("--out ", dir, " is not empty (it holds ", name,
                         "); give a new directory for each backup, nothing is overwritten"));
      }
    }
  }
  // mkdir's mode went through the umask; an existing empty directory may have any mode.
  if (::chmod(dir.c_str(), 0700) != 0)
    return ErrnoStatus(errno, absl::StrCat("cannot chmod ", dir));
  return absl::OkStatus();
}

class BackupWriter {
 public:
  BackupWriter(const SignerConfig& config, const BackupOptions& options)
      : config_(config), options_(options) {}

  absl::StatusOr<BackupResult> Run() {
    RETURN_IF_ERROR(PrepareOutDir(options_.out_dir));
    result_.manifest.created = absl::Now();
    // Absolute, so the MANIFEST still says which config it was when read from elsewhere.
    std::error_code ec;
    const std::filesystem::path source = std::filesystem::absolute(config_.source, ec);
    result_.manifest.config_source = ec ? config_.source : source.string();

    const bool postgresql = config_.state.backend == StateConfig::Backend::kPostgresql;
    result_.manifest.backend = postgresql ? "postgresql" : "sqlite";
    RETURN_IF_ERROR(postgresql ? DumpDatabase() : CopyDatabaseThenAuditFiles());

    // Config and certificates (public); keys only when asked.
    RETURN_IF_ERROR(CopyAs(kRoleConfig, "acme-signer.toml", config_.source, "the config file"));
    RETURN_IF_ERROR(CopyAs(kRoleAgentCaCert, "agent-ca.pem", config_.server.agent_ca_cert,
                           "server.agent_ca_cert"));
    RETURN_IF_ERROR(
        CopyAs(kRoleServerCert, "server.pem", config_.server.tls_cert, "server.tls_cert"));
    if (options_.include_tls_keys) {
      RETURN_IF_ERROR(
          CopyAs(kRoleServerKey, "server.key", config_.server.tls_key, "server.tls_key"));
    }
    if (config_.acme_server.has_value()) {
      RETURN_IF_ERROR(CopyAs(kRoleFrontDoorCert, "front-door.pem",
                             config_.acme_server->tls_certificate, "acme_server.tls_certificate"));
      if (options_.include_tls_keys) {
        RETURN_IF_ERROR(CopyAs(kRoleFrontDoorKey, "front-door.key",
                               config_.acme_server->tls_private_key,
                               "acme_server.tls_private_key"));
      }
    }

    if (!postgresql) RETURN_IF_ERROR(VerifyCopy());

    // Hashes, then the MANIFEST last: its presence marks a finished backup.
    for (BackupEntry& entry : result_.manifest.files) {
      ASSIGN_OR_RETURN(entry.sha256, Sha256HexOfFile(Out(entry.name)));
      struct stat st;
      if (::stat(Out(entry.name).c_str(), &st) != 0) {
        return ErrnoStatus(errno, absl::StrCat("cannot stat ", Out(entry.name)));
      }
      entry.bytes = static_cast<uint64_t>(st.st_size);
    }
    RETURN_IF_ERROR(WriteFileAtomically(Out(std::string(kBackupManifestName)),
                                        result_.manifest.Format(), kBackupFileMode));
    RETURN_IF_ERROR(SyncDirectory(options_.out_dir));
    return std::move(result_);
  }

 private:
  static constexpr absl::string_view kDbName = "signer.db";

  // The SQLite database first, then the audit files (see signer/backup.h).
  absl::Status CopyDatabaseThenAuditFiles() {
    RETURN_IF_ERROR(db::BackupSqliteDatabase(StateDbPath(config_), Out(std::string(kDbName))));
    Add(kRoleStateDb, std::string(kDbName));
    Line(absl::StrCat("state database: ", StateDbPath(config_), " -> ", Out(std::string(kDbName)),
                      " (SQLite online backup: one consistent snapshot)"));

    // The audit files, listed only now: every checkpoint the snapshot references is in them,
    // and a rotation in between only adds a file after the snapshot.
    ASSIGN_OR_RETURN(std::vector<std::string> files, AuditLogFiles(config_.audit.log));
    for (size_t i = 0; i < files.size(); ++i) {
      const std::string name = BackupAuditFileName(static_cast<int>(i));
      const bool active = i + 1 == files.size();
      ASSIGN_OR_RETURN(CopiedFile copied,
                       CopyFileForBackup(files[i], Out(name), kBackupFileMode, active));
      Add(kRoleAuditLog, name);
      std::string line =
          absl::StrCat("audit log: ", files[i], " -> ", Out(name), " (", copied.bytes, " bytes");
      if (copied.dropped_bytes > 0) {
        absl::StrAppend(&line, "; the last ", copied.dropped_bytes,
                        " bytes, a line being written, left out");
      }
      Line(absl::StrCat(line, ")"));
    }
    return absl::OkStatus();
  }

  // backend = "postgresql": the chain is checked in the database, then pg_dump copies the
  // state and the chain in one snapshot (holding at least the records just verified).
  absl::Status DumpDatabase() {
    ASSIGN_OR_RETURN(result_.report, VerifyConfiguredAuditChain(config_, ""));
    result_.manifest.audit_last_seq = result_.report.last_seq;
    result_.manifest.audit_checkpoint_seq = result_.report.last_checkpoint_seq;
    const std::string name = "state.pgdump";
    ASSIGN_OR_RETURN(std::string pg_dump, DumpPostgresqlDatabase(config_.state.url, Out(name)));
    Line(absl::StrCat("database ([state] url) -> ", Out(name), " (", pg_dump,
                      " --format=custom: the state and the audit chain of every replica)"));
    Add(kRolePostgresDump, name);
    return absl::OkStatus();
  }

  // Verifies the copy as a signer started from it would, and notes where it stands.
  absl::Status VerifyCopy() {
    SignerConfig copy = config_;
    copy.state.dir = options_.out_dir;
    copy.audit.log = Out(BackupAuditFileName(0));
    {
      ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store, OpenStateStore(copy));
      ASSIGN_OR_RETURN(std::optional<AuditCheckpointRef> ref, LoadAuditCheckpoint(*store));
      if (ref.has_value()) result_.manifest.audit_checkpoint_seq = ref->seq;
    }
    ASSIGN_OR_RETURN(result_.report, VerifyConfiguredAuditChain(copy, ""));
    result_.manifest.audit_last_seq = result_.report.last_seq;
    // Opening the copy must leave nothing behind (SQLite removes its WAL files on close).
    for (const char* suffix : {"-wal", "-shm", "-journal"}) {
      const std::string extra = Out(absl::StrCat(std::string(kDbName), suffix));
      if (PathExists(extra)) {
        return absl::InternalError(
            absl::StrCat(extra, " was left behind by checking the copy; the backup is incomplete"));
      }
    }
    return absl::OkStatus();
  }

  std::string Out(const std::string& name) const {
    return absl::StrCat(options_.out_dir, "/", name);
  }
  void Line(std::string line) { result_.lines.push_back(std::move(line)); }

  // Lists a file written into the backup; its hash is taken once everything is written.
  void Add(absl::string_view role, const std::string& name) {
    BackupEntry entry;
    entry.role = std::string(role);
    entry.name = name;
    result_.manifest.files.push_back(std::move(entry));
  }

  absl::Status CopyAs(absl::string_view role, const std::string& name, const std::string& from,
                      absl::string_view config_key) {
    absl::StatusOr<CopiedFile> copied = CopyFileForBackup(from, Out(name), kBackupFileMode, false);
    if (!copied.ok()) {
      return absl::Status(copied.status().code(),
                          absl::StrCat(config_key, ": ", copied.status().message()));
    }
    Line(absl::StrCat(role, ": ", from, " -> ", Out(name)));
    Add(role, name);
    return absl::OkStatus();
  }

  const SignerConfig& config_;
  const BackupOptions& options_;
  BackupResult result_;
};

}  // namespace

absl::StatusOr<BackupResult> WriteBackup(const SignerConfig& config, const BackupOptions& options) {
  if (options.out_dir.empty()) return absl::InvalidArgumentError("--out: empty path");
  return BackupWriter(config, options).Run();
}

}  // namespace acme_signer::signer
