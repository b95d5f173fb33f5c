// The file operations of `acme-signer backup` and `restore`: streamed copies (audit logs grow
// to many megabytes, so nothing here reads a whole file into memory), a copy cut at the last
// complete line for the audit file being appended to, SHA-256 of a file, and durable
// installation (temp file + fsync + rename + fsync of the directory).
//
// Thread-safety: free functions without shared state.
#ifndef ACME_SIGNER_SIGNER_BACKUP_FILES_H_
#define ACME_SIGNER_SIGNER_BACKUP_FILES_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace acme_signer::signer {

struct CopiedFile {
  uint64_t bytes = 0;          // bytes in the copy
  uint64_t dropped_bytes = 0;  // bytes after the last '\n' left out (whole_lines_only)
};

// Copies the regular file `from` into the NEW file `to` (created with `mode`; AlreadyExists
// when it exists) and fsyncs it. With `whole_lines_only`, the copy ends at the last '\n' of
// what was read: the signer appends whole lines with one write() and then fdatasync(), so a
// copy taken while it appends may end inside a line that is still being written; that line
// was not yet acknowledged to anyone and is left out. Errors name the file (errno statuses).
absl::StatusOr<CopiedFile> CopyFileForBackup(const std::string& from, const std::string& to,
                                             mode_t mode, bool whole_lines_only);

// Lower-case hex SHA-256 of the file's content (streamed). Errors name the file.
absl::StatusOr<std::string> Sha256HexOfFile(const std::string& path);

// Installs a copy of `from` at `to` with `mode`, atomically and durably: a temp file next to
// `to`, fsync, rename over `to`, fsync of the directory. Errors name the file.
absl::Status InstallFileCopy(const std::string& from, const std::string& to, mode_t mode);

// True when `path` exists (any type, symlinks not followed).
bool PathExists(const std::string& path);

// Creates `dir` with `mode` when it is missing (its parent must exist). Errors name it.
absl::Status EnsureDirectory(const std::string& dir, mode_t mode);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_BACKUP_FILES_H_
