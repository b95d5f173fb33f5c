#include "signer/backup_postgresql.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/subprocess.h"
#include "common/unique_fd.h"
#include "signer/db/pg_connection.h"

namespace acme_signer::signer {
namespace {

// The newest pg_dump of Debian's versioned clients (a dump needs a pg_dump at least as new as
// the server), else the postgresql-client-common wrapper.
absl::StatusOr<std::string> FindPgDump() {
  std::string best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    int version = 0;
    const std::string candidate = (entry.path() / "bin" / "pg_dump").string();
    if (absl::SimpleAtoi(entry.path().filename().string(), &version) && version > best_version &&
        ::access(candidate.c_str(), X_OK) == 0) {
      best = candidate;
      best_version = version;
    }
  }
  if (!best.empty()) return best;
  if (::access("/usr/bin/pg_dump", X_OK) == 0) return std::string("/usr/bin/pg_dump");
  return absl::FailedPreconditionError(
      "no pg_dump found (/usr/lib/postgresql/*/bin/pg_dump, /usr/bin/pg_dump): install "
      "postgresql-client-15 (or the client matching the server)");
}

}  // namespace

absl::StatusOr<std::string> DumpPostgresqlDatabase(const std::string& conninfo,
                                                   const std::string& out_file) {
  ASSIGN_OR_RETURN(std::string pg_dump, FindPgDump());
  ASSIGN_OR_RETURN(std::vector<std::string> env, db::ConninfoEnvironment(conninfo));
  // HOME finds ~/.pgpass when the conninfo names no passfile.
  if (const char* home = ::getenv("HOME"); home != nullptr) {
    env.push_back(absl::StrCat("HOME=", home));
  }
  env.push_back("PATH=/usr/bin:/bin");
  // Created here with its final mode: pg_dump opens it with O_TRUNC and keeps the mode.
  {
    UniqueFd fd(
        ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("cannot create ", out_file));
    RETURN_IF_ERROR(fd.Close(absl::StrCat("cannot create ", out_file)));
  }
  SubprocessOptions options;
  options.timeout = absl::Minutes(30);
  ASSIGN_OR_RETURN(SubprocessResult result,
                   RunSubprocess("pg_dump",
                                 {pg_dump, "--format=custom", "--no-password",
                                  absl::StrCat("--file=", out_file)},
                                 env, options));
  if (result.timed_out || !WIFEXITED(result.wait_status) || WEXITSTATUS(result.wait_status) != 0) {
    return absl::UnavailableError(absl::StrCat(
        pg_dump, " ", result.timed_out ? "timed out" : DescribeExit(result.wait_status), ": ",
        absl::StripAsciiWhitespace(result.stderr_tail)));
  }
  return pg_dump;
}

}  // namespace acme_signer::signer
