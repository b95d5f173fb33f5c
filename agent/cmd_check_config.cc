// acme-agent check-config [--config FILE] [--config-dir DIR]: exit 0 and "FILE: OK" with a
// short summary, or every problem as "file:line: key: what" and exit 2 (a configuration
// problem, as for every agent command); with --json one object with "summary" or "problems".
// Contacts nobody (agent/config_check.h).
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "agent/agent_config.h"
#include "agent/command_support.h"
#include "agent/commands.h"
#include "agent/config_check.h"
#include "common/cli.h"
#include "common/files.h"
#include "nlohmann/json.hpp"

namespace acme_signer::agent {

int RunCheckConfig(const std::vector<std::string>& args) {
  constexpr char kCommand[] = "check-config";
  ArgParser parser("acme-agent check-config [--config FILE] [--config-dir DIR]");
  AddCommonOptions(parser);
  if (auto exit_code = ParseOrExit(parser, args, kCommand)) return *exit_code;
  const std::string path = parser.GetOr("config", kDefaultAgentConfigPath);
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return UsageError(kCommand, text.status());
  const AgentConfigCheckResult result = CheckAgentConfig(*text, path, parser.Get("config-dir"));
  if (parser.Has("json")) {
    // The one JSON object every agent command prints with --json (agent/command_support.h).
    if (result.problems.empty()) {
      PrintJsonResult(kCommand, {{"config", path}, {"summary", result.summary}});
      return kExitOk;
    }
    nlohmann::json out = {
        {"ok", false},
        {"command", kCommand},
        {"config", path},
        {"error", JsonError(absl::InvalidArgumentError(absl::StrJoin(result.problems, "\n")),
                            kExitUsage)},
        {"problems", result.problems}};
    std::cout << out.dump() << "\n";
    return kExitUsage;
  }
  if (!result.problems.empty()) {
    for (const std::string& problem : result.problems) std::cerr << problem << "\n";
    std::cerr << path << ": " << result.problems.size() << " problem(s)\n";
    return kExitUsage;
  }
  if (!parser.Has("quiet")) {
    std::cout << path << ": OK\n";
    for (const std::string& line : result.summary) std::cout << "  " << line << "\n";
  }
  return kExitOk;
}

}  // namespace acme_signer::agent
