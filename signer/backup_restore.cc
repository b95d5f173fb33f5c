#include "signer/backup_restore.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "signer/audit_chain_check.h"
#include "signer/audit_files.h"
#include "signer/backup_files.h"
#include "signer/runtime.h"
#include "signer/serve_control.h"

namespace acme_signer::signer {
namespace {

namespace fs = std::filesystem;

// The modes the signer itself gives these files (signer/db/sql_sqlite.h, signer/audit_log.h,
// `acme-signer init`).
constexpr mode_t kDbMode = 0640;
constexpr mode_t kAuditMode = 0640;
constexpr mode_t kCertificateMode = 0644;
constexpr mode_t kKeyMode = 0600;

// One file to install: from the backup to the target.
struct Install {
  std::string from;
  std::string to;
  mode_t mode = 0;
  std::string role;
};

// Creates the missing directories of `dir`, from the first missing one down, with `mode`.
absl::Status EnsureDirectories(const std::string& dir, mode_t mode) {
  std::vector<fs::path> missing;
  for (fs::path p = fs::path(dir); !p.empty() && !PathExists(p.string()); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    RETURN_IF_ERROR(EnsureDirectory(it->string(), mode));
  }
  return absl::OkStatus();
}

std::string ParentOf(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

class Restorer {
 public:
  Restorer(const SignerConfig& target, const RestoreOptions& options)
      : target_(target), options_(options) {}

  absl::StatusOr<RestoreResult> Run() {
    ASSIGN_OR_RETURN(result_.manifest, ReadAndVerifyBackup(options_.from_dir));
    if (result_.manifest.backend != "sqlite") {
      return absl::FailedPreconditionError(absl::StrCat(
          options_.from_dir, " is a backup of backend = \"", result_.manifest.backend,
          "\": restore its state.pgdump with pg_restore (docs/signer.md \"Backup and "
          "restore\"); `acme-signer restore` restores backups of backend = \"sqlite\""));
    }
    ASSIGN_OR_RETURN(std::optional<pid_t> pid, RunningServePid(ServePidFilePath(target_)));
    if (pid.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "acme-signer serve (pid ", *pid, ") runs with state dir ", target_.state.dir, " of ",
          target_.source,
          "; stop it first (systemctl stop acme-signer): a restore replaces its database and "
          "audit log"));
    }
    RETURN_IF_ERROR(Plan());
    RETURN_IF_ERROR(ClearTheWay());
    RETURN_IF_ERROR(EnsureDirectories(target_.state.dir, 0700));
    for (const Install& install : installs_) {
      RETURN_IF_ERROR(EnsureDirectories(ParentOf(install.to), 0750));
      RETURN_IF_ERROR(InstallFileCopy(install.from, install.to, install.mode));
      result_.lines.push_back(absl::StrCat(install.role, ": ", install.from, " -> ", install.to));
    }
    ASSIGN_OR_RETURN(result_.report, VerifyConfiguredAuditChain(target_, ""));
    NextSteps();
    return std::move(result_);
  }

 private:
  std::string From(const BackupEntry& entry) const {
    return absl::StrCat(options_.from_dir, "/", entry.name);
  }

  // What goes where, and what is in the way.
  absl::Status Plan() {
    const BackupManifest& m = result_.manifest;
    // The audit files and the database: anything of them at the target is in the way, even a
    // file the backup does not have (a higher rotation index would continue the chain).
    ASSIGN_OR_RETURN(AuditLogFileSet existing, ListAuditLogFiles(target_.audit.log));
    for (int i = 0; i <= existing.last_index; ++i) {
      const std::string file = AuditLogFileName(target_.audit.log, i);
      if (PathExists(file)) in_the_way_.push_back(file);
    }
    const std::string db = StateDbPath(target_);
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      const std::string file = absl::StrCat(db, suffix);
      if (PathExists(file)) in_the_way_.push_back(file);
    }
    for (const BackupEntry* entry : m.WithRole(kRoleAuditLog)) {
      installs_.push_back({From(*entry), AuditLogFileName(target_.audit.log, entry->audit_index),
                           kAuditMode, entry->role});
    }
    installs_.push_back(
        {From(*m.WithRole(kRoleStateDb).front()), db, kDbMode, std::string(kRoleStateDb)});

    // Certificates and keys: the agent CA certificate always (its key is in the HSM); a
    // leaf certificate only with its key, which only a backup taken with --include-tls-keys
    // has. Without it, the target's pair (if any) stays and init makes one (if none).
    RETURN_IF_ERROR(PlanFile(kRoleAgentCaCert, target_.server.agent_ca_cert, kCertificateMode));
    if (!m.WithRole(kRoleServerKey).empty()) {
      RETURN_IF_ERROR(PlanFile(kRoleServerCert, target_.server.tls_cert, kCertificateMode));
      RETURN_IF_ERROR(PlanFile(kRoleServerKey, target_.server.tls_key, kKeyMode));
    }
    if (target_.acme_server.has_value() && !m.WithRole(kRoleFrontDoorKey).empty()) {
      RETURN_IF_ERROR(
          PlanFile(kRoleFrontDoorCert, target_.acme_server->tls_certificate, kCertificateMode));
      RETURN_IF_ERROR(PlanFile(kRoleFrontDoorKey, target_.acme_server->tls_private_key, kKeyMode));
    }
    return absl::OkStatus();
  }

  // A certificate or key file: installed when the target has none; kept when it holds the
  // same bytes; in the way when it differs.
  absl::Status PlanFile(absl::string_view role, const std::string& to, mode_t mode) {
    const std::vector<const BackupEntry*> entries = result_.manifest.WithRole(role);
    if (entries.empty()) return absl::OkStatus();
    const BackupEntry& entry = *entries.front();
    if (PathExists(to)) {
      absl::StatusOr<std::string> sha256 = Sha256HexOfFile(to);
      if (sha256.ok() && *sha256 == entry.sha256) {
        result_.lines.push_back(absl::StrCat(role, ": ", to, " already holds the backup's copy"));
        return absl::OkStatus();
      }
      in_the_way_.push_back(to);
    }
    installs_.push_back({From(entry), to, mode, std::string(role)});
    return absl::OkStatus();
  }

  // Refuses, or (force) renames what is in the way aside.
  absl::Status ClearTheWay() {
    if (in_the_way_.empty()) return absl::OkStatus();
    if (!options_.force) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the target of ", target_.source, " already has ", absl::StrJoin(in_the_way_, ", "),
          "; nothing was restored. Restore into an empty location, or pass --force to rename "
          "these aside (to <name>.before-restore-<time>; nothing is deleted)"));
    }
    const std::string suffix = absl::StrCat(
        ".before-restore-", absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(), absl::UTCTimeZone()));
    for (const std::string& file : in_the_way_) {
      const std::string aside = absl::StrCat(file, suffix);
      if (PathExists(aside)) {
        return absl::FailedPreconditionError(
            absl::StrCat(aside, " exists already; wait a second and run restore again"));
      }
      if (::rename(file.c_str(), aside.c_str()) != 0) {
        return ErrnoStatus(errno, absl::StrCat("cannot move ", file, " aside to ", aside));
      }
      RETURN_IF_ERROR(SyncDirectory(ParentOf(file)));
      result_.moved_aside.push_back(absl::StrCat(file, " -> ", aside));
    }
    return absl::OkStatus();
  }

  void NextSteps() {
    const bool tls_missing =
        !PathExists(target_.server.tls_key) || !PathExists(target_.server.tls_cert);
    const bool front_door_missing =
        target_.acme_server.has_value() && (!PathExists(target_.acme_server->tls_private_key) ||
                                            !PathExists(target_.acme_server->tls_certificate));
    if (tls_missing || front_door_missing) {
      result_.next_steps.push_back(absl::StrCat(
          "run `acme-signer init --config ", target_.source,
          "` (as the signer's user, with the HSM token restored): the backup holds no private "
          "key, so init makes a new TLS key and certificate from the agent CA key in the HSM; "
          "it keeps the restored database and agent CA certificate"));
    }
    result_.next_steps.push_back(absl::StrCat(
        "start serve: the audit chain continues after seq ", result_.report.last_seq,
        "; records the old signer wrote after the backup are not in this chain (keep its old "
        "log files as evidence)"));
  }

  const SignerConfig& target_;
  const RestoreOptions& options_;
  RestoreResult result_;
  std::vector<Install> installs_;
  std::vector<std::string> in_the_way_;
};

}  // namespace

absl::StatusOr<RestoreResult> RestoreBackup(const SignerConfig& target,
                                            const RestoreOptions& options) {
  if (target.state.backend != StateConfig::Backend::kSqlite) {
    return absl::FailedPreconditionError(
        "the target config has [state] backend = \"postgresql\": restore the database with "
        "PostgreSQL's tools (docs/signer.md \"Backup and restore\"); `acme-signer restore` "
        "restores backups of backend = \"sqlite\"");
  }
  if (options.from_dir.empty()) return absl::InvalidArgumentError("--from: empty path");
  return Restorer(target, options).Run();
}

}  // namespace acme_signer::signer
