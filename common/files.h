// File helpers with the project's durability and secrecy rules:
// reads are bounded, writes are atomic (temp file + fsync + rename + fsync of the directory),
// and errno becomes an absl::Status in exactly one place (ErrnoStatus).
#ifndef ACME_SIGNER_COMMON_FILES_H_
#define ACME_SIGNER_COMMON_FILES_H_

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/secret.h"

namespace acme_signer {

// absl::Status for `errno_value` with "context: strerror" as message.
absl::Status ErrnoStatus(int errno_value, absl::string_view context);

// Reads a whole regular file of at most `max_bytes`. Errors name the path:
// NotFound, PermissionDenied, InvalidArgument (not a regular file), OutOfRange (too large).
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes = 1 << 20);

// Reads a secret (PIN, HMAC key) from a file: at most 4 KiB, one trailing "\n" or "\r\n"
// removed, empty content refused. The error never contains the content.
absl::StatusOr<Secret> ReadSecretFile(const std::string& path);

// Replaces `path` with `data` atomically: a reader sees the old or the new content, never a
// mix, and after return the new content survives a crash. The file gets `mode` (e.g. 0600)
// from creation on, so a secret is never briefly readable by others.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view data, mode_t mode);

// fsync() on a directory, so a rename or create inside it is durable.
absl::Status SyncDirectory(const std::string& dir);

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_FILES_H_
