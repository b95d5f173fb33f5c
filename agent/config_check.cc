#include "agent/config_check.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/agent_config.h"
#include "agent/renewal_config.h"
#include "common/config_paths.h"
#include "common/files.h"
#include "common/toml_reader.h"

namespace acme_signer::agent {
namespace {

constexpr absl::string_view kProblemsHeader = "invalid configuration:\n";
constexpr absl::string_view kEnrollWrites = "(acme-agent enroll writes it)";
// Far more lineages than one host has; the bound keeps a wrong config_dir from making the
// check read a whole file system.
constexpr size_t kMaxRenewalConfigs = 10000;

// A status whose message is TomlProblems' list: one problem per line.
std::vector<std::string> ProblemLines(absl::string_view message) {
  if (absl::StartsWith(message, kProblemsHeader)) message.remove_prefix(kProblemsHeader.size());
  return absl::StrSplit(message, '\n', absl::SkipEmpty());
}

// Every renewal/NAME.conf, parsed; returns how many there are.
size_t CheckRenewalConfigs(const std::string& config_dir, std::vector<std::string>& problems) {
  const std::filesystem::path dir = std::filesystem::path(config_dir) / "renewal";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return 0;  // no certificate yet
  std::vector<std::string> files;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (files.size() >= kMaxRenewalConfigs) break;
    if (it->path().extension() == ".conf") files.push_back(it->path().string());
  }
  if (ec) problems.push_back(absl::StrCat(dir.string(), ": ", ec.message()));
  std::sort(files.begin(), files.end());
  for (const std::string& file : files) {
    absl::StatusOr<std::string> text = ReadFile(file);
    if (!text.ok()) {
      problems.push_back(std::string(text.status().message()));
      continue;
    }
    absl::StatusOr<RenewalConfig> renewal = ParseRenewalConfig(*text, file);
    if (!renewal.ok()) {
      for (std::string& line : ProblemLines(renewal.status().message())) {
        problems.push_back(std::move(line));
      }
    }
  }
  return files.size();
}

}  // namespace

AgentConfigCheckResult CheckAgentConfig(absl::string_view text, const std::string& source,
                                        const std::optional<std::string>& config_dir_override) {
  AgentConfigCheckResult result;
  absl::StatusOr<AgentConfig> config = ParseAgentConfig(text, source);
  if (!config.ok()) {
    result.problems = ProblemLines(config.status().message());
    return result;
  }
  if (config_dir_override.has_value()) config->config_dir = *config_dir_override;
  // It parsed, so the TOML is well-formed; the document is read again only for key lines.
  absl::StatusOr<toml::table> doc = ParseToml(text, source);
  if (!doc.ok()) {
    result.problems.push_back(std::string(doc.status().message()));
    return result;
  }
  ConfigPathChecker check(source, *doc);
  PathRequirement readable;
  check.Check("signer.ca", config->signer.ca, readable);
  PathRequirement private_key;
  private_key.private_mode = true;
  check.Check("identity.key", config->identity.key, private_key, kEnrollWrites);
  check.Check("identity.cert", config->identity.cert, readable, kEnrollWrites);
  if (!config->direct.ca_bundle.empty()) {
    check.Check("direct.ca_bundle", config->direct.ca_bundle, readable);
  }
  PathRequirement directory;
  directory.kind = PathRequirement::Kind::kDirectory;
  if (!config->defaults.webroot_path.empty()) {
    check.Check("defaults.webroot_path", config->defaults.webroot_path, directory);
  }
  PathRequirement writable_directory = directory;
  writable_directory.writable = true;
  check.Check(config_dir_override.has_value() ? "--config-dir" : "config_dir", config->config_dir,
              writable_directory);
  result.problems = check.problems();
  const size_t renewals = CheckRenewalConfigs(config->config_dir, result.problems);

  result.summary.push_back(absl::StrCat("signer: ", config->signer.address, " (CA ",
                                        config->signer.ca, ")"));
  result.summary.push_back(absl::StrCat(
      "identity: spiffe://", config->identity.trust_domain, "/agent/",
      config->identity.name.empty() ? "(the host name)" : config->identity.name));
  result.summary.push_back(absl::StrCat("certificates: ", renewals, " renewal config(s) in ",
                                        config->config_dir, "/renewal"));
  return result;
}

}  // namespace acme_signer::agent
