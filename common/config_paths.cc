#include "common/config_paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace acme_signer {
namespace {
constexpr absl::string_view kMissing = ": does not exist";
}  // namespace

std::optional<std::string> PathProblem(const std::string& path, const PathRequirement& want) {
  const bool dir = want.kind == PathRequirement::Kind::kDirectory;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int e = errno;
    if (e == ENOENT) return absl::StrCat(path, kMissing);
    return absl::StrCat(path, ": ", std::strerror(e));
  }
  if (dir && !S_ISDIR(st.st_mode)) return absl::StrCat(path, ": is not a directory");
  if (!dir && !S_ISREG(st.st_mode)) return absl::StrCat(path, ": is not a regular file");
  int mode = 0;
  if (want.readable) mode |= R_OK;
  if (want.writable) mode |= W_OK;
  if (want.executable) mode |= X_OK;
  if (mode != 0 && ::access(path.c_str(), mode) != 0) {
    return absl::StrCat(path, ": not ",
                        want.writable ? "writable" : (want.executable ? "executable" : "readable"),
                        " by uid ", ::getuid(), " (", std::strerror(errno), ")");
  }
  if (want.private_mode && (st.st_mode & 077) != 0) {
    return absl::StrFormat(
        "%s: is mode %04o: must not be accessible by group or others (chmod 600)", path,
        st.st_mode & 07777);
  }
  return std::nullopt;
}

std::optional<int64_t> TomlKeyLine(const toml::table& doc, absl::string_view dotted_key) {
  const toml::node_view<const toml::node> node = doc.at_path(std::string_view(dotted_key.data(), dotted_key.size()));
  if (!node) return std::nullopt;
  return static_cast<int64_t>(node.node()->source().begin.line);
}

ConfigPathChecker::ConfigPathChecker(std::string source, const toml::table& doc)
    : doc_(doc), problems_(std::move(source)) {}

void ConfigPathChecker::Check(absl::string_view dotted_key, const std::string& path,
                              const PathRequirement& want, absl::string_view missing_hint) {
  std::optional<std::string> problem = PathProblem(path, want);
  if (!problem.has_value()) return;
  if (!missing_hint.empty() && absl::EndsWith(*problem, kMissing)) {
    absl::StrAppend(&*problem, " ", missing_hint);
  }
  Report(dotted_key, *problem);
}

void ConfigPathChecker::Report(absl::string_view dotted_key, absl::string_view what) {
  if (std::optional<int64_t> line = TomlKeyLine(doc_, dotted_key); line.has_value()) {
    problems_.At(*line, dotted_key, what);
  } else {
    problems_.AtFile(dotted_key, what);
  }
}

}  // namespace acme_signer
