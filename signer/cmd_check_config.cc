// acme-signer check-config --config FILE: exit 0 and "FILE: OK" with a short summary, or every
// problem as "file:line: key: what" and exit 1 (signer/config_check.h). Needs no PIN and
// starts nothing, so it can run before `serve`, in a package's postinst, or in CI.
#include <iostream>
#include <string>
#include <vector>

#include "common/cli.h"
#include "common/files.h"
#include "signer/commands.h"
#include "signer/config_check.h"

namespace acme_signer::signer {

int RunCheckConfig(const std::vector<std::string>& args) {
  ArgParser parser("acme-signer check-config --config FILE");
  parser.Value("config", "FILE", "signer configuration (TOML) to check").Required("config");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer check-config: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help()
              << "\nChecks the file as `serve` would load it, then the files it names (exist, "
                 "readable by this user,\nprivate keys and the PIN file mode 0600/0400; the PIN "
                 "is never read). Run it as the service\nuser. Exit 0: OK; 1: the problems are "
                 "listed as file:line: key: what.\n";
    return kExitOk;
  }
  const std::string path = *parser.Get("config");
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    std::cerr << "acme-signer check-config: " << text.status().message() << "\n";
    return kExitFailure;
  }
  const ConfigCheckResult result = CheckSignerConfig(*text, path);
  if (!result.problems.empty()) {
    for (const std::string& problem : result.problems) std::cerr << problem << "\n";
    std::cerr << path << ": " << result.problems.size() << " problem(s)\n";
    return kExitFailure;
  }
  std::cout << path << ": OK\n";
  for (const std::string& line : result.summary) std::cout << "  " << line << "\n";
  return kExitOk;
}

}  // namespace acme_signer::signer
