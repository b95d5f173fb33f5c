// What `check-config` (acme-signer and acme-agent) checks about the files a configuration
// names, without opening any of them: that each exists, has the right kind (file, directory),
// is readable (or writable, or executable) by the user running the check, and, for private
// keys and PIN files, is not readable by group or others. Contents are never read, so a check
// can never echo a secret.
//
// ConfigPathChecker reports each problem as "<source>:<line>: <key>: <what>" (the line of the
// key in the TOML file), or "<source>: <key>: <what>" when the file leaves the key to its
// default.
//
// Thread-safety: thread-compatible.
#ifndef ACME_SIGNER_COMMON_CONFIG_PATHS_H_
#define ACME_SIGNER_COMMON_CONFIG_PATHS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/toml_reader.h"
#include "toml++/toml.h"

namespace acme_signer {

struct PathRequirement {
  enum class Kind { kFile, kDirectory };
  Kind kind = Kind::kFile;
  bool readable = true;
  bool writable = false;
  bool executable = false;
  // No permission bits for group or others (a 0600 or 0400 file).
  bool private_mode = false;
};

// What is wrong with `path` for `want` ("does not exist", "is mode 0644: must not be readable
// by group or others (chmod 600)", ...), or nullopt when nothing is.
std::optional<std::string> PathProblem(const std::string& path, const PathRequirement& want);

// The line of `dotted_key` ("server.tls_cert", "accounts[1].ca_bundle") in `doc`, or nullopt
// when the file does not have it.
std::optional<int64_t> TomlKeyLine(const toml::table& doc, absl::string_view dotted_key);

class ConfigPathChecker {
 public:
  // `doc` is the parsed file (for lines); it must outlive the checker.
  ConfigPathChecker(std::string source, const toml::table& doc);

  // Checks `path`; a problem is reported under `dotted_key`, with `missing_hint` appended when
  // the path does not exist (e.g. "(acme-signer init writes it)").
  void Check(absl::string_view dotted_key, const std::string& path, const PathRequirement& want,
             absl::string_view missing_hint = "");
  // Reports a problem found otherwise.
  void Report(absl::string_view dotted_key, absl::string_view what);

  const std::vector<std::string>& problems() const { return problems_.messages(); }

 private:
  const toml::table& doc_;
  TomlProblems problems_;
};

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_CONFIG_PATHS_H_
