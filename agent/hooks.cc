#include "agent/hooks.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/subprocess.h"

extern char** environ;

namespace acme_signer::agent {
namespace {

// Enough stderr to find the last few lines of any realistic error.
constexpr size_t kStderrKeepBytes = 16 * 1024;

// The environment for the child: ours, minus names the hook overrides, plus the hook's.
std::vector<std::string> BuildEnvironment(const HookEnv& env) {
  absl::flat_hash_set<std::string> overridden;
  for (const auto& [name, value] : env) overridden.insert(name);
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    absl::string_view name = entry.substr(0, entry.find('='));
    if (!overridden.contains(name)) out.emplace_back(entry);
  }
  for (const auto& [name, value] : env) out.push_back(absl::StrCat(name, "=", value));
  return out;
}

// The last `n` non-blank lines of `text`, joined with " | ", at most kMaxStderrShown
// characters (the end is kept), control characters shown as '?'.
std::string LastLines(const std::string& text, size_t n) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n', absl::SkipWhitespace());
  size_t start = lines.size() > n ? lines.size() - n : 0;
  std::string out = absl::StrJoin(lines.begin() + static_cast<long>(start), lines.end(), " | ");
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (out.size() > kMaxStderrShown) out = "..." + out.substr(out.size() - kMaxStderrShown);
  return out;
}

std::string Join(const std::vector<std::string>& v, absl::string_view sep) {
  return absl::StrJoin(v, sep);
}

// Refuses what the shell could not be given intact.
absl::Status CheckHookInputs(absl::string_view hook_name, const std::string& command,
                             const HookEnv& env) {
  if (command.empty()) return absl::InvalidArgumentError(absl::StrCat(hook_name, " is empty"));
  if (command.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(hook_name, " contains a NUL byte"));
  }
  for (const auto& [name, value] : env) {
    if (name.empty() || name.find_first_of("=\0", 0, 2) != std::string::npos ||
        value.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(hook_name, ": invalid environment variable name or value for \"",
                       absl::CEscape(name), "\""));
    }
  }
  return absl::OkStatus();
}

// Runs `argv` for a hook; `shown` is how errors and progress lines name it.
absl::StatusOr<HookOutput> RunHookArgv(absl::string_view hook_name, const std::string& shown,
                                       const std::vector<std::string>& argv, const HookEnv& env,
                                       const HookOptions& options) {
  SubprocessOptions run_options;
  run_options.timeout = options.timeout;
  run_options.max_stdout_bytes = options.max_stdout_bytes;
  run_options.max_stderr_bytes = kStderrKeepBytes;
  if (options.progress) {
    run_options.still_running_every = options.progress_every;
    run_options.still_running = [&](absl::Duration elapsed) {
      options.progress(absl::StrCat("waiting for ", hook_name, " `", shown, "` (",
                                    absl::FormatDuration(absl::Trunc(elapsed, absl::Seconds(1))),
                                    ")"));
    };
  }
  absl::StatusOr<SubprocessResult> end =
      RunSubprocess(hook_name, argv, BuildEnvironment(env), run_options);
  if (!end.ok()) return end.status();
  if (end->timed_out) {
    std::string tail = LastLines(end->stderr_tail, options.stderr_tail_lines);
    return absl::DeadlineExceededError(absl::StrCat(
        hook_name, " `", shown, "` did not finish within ", absl::FormatDuration(options.timeout),
        " and was killed", tail.empty() ? "" : "; stderr: ", tail));
  }
  if (!WIFEXITED(end->wait_status) || WEXITSTATUS(end->wait_status) != 0) {
    std::string tail = LastLines(end->stderr_tail, options.stderr_tail_lines);
    return absl::AbortedError(absl::StrCat(hook_name, " `", shown, "` ",
                                           DescribeExit(end->wait_status),
                                           tail.empty() ? "" : "; stderr: ", tail));
  }
  HookOutput output;
  output.stdout_text = std::move(end->stdout_text);
  output.stdout_truncated = end->stdout_truncated;
  return output;
}

}  // namespace

absl::StatusOr<HookOutput> RunHook(absl::string_view hook_name, const std::string& command,
                                   const HookEnv& env, const HookOptions& options) {
  if (absl::Status s = CheckHookInputs(hook_name, command, env); !s.ok()) return s;
  return RunHookArgv(hook_name, command, {options.shell, "-c", command}, env, options);
}

absl::StatusOr<HookOutput> RunHookFile(absl::string_view hook_name, const std::string& path,
                                       const HookEnv& env, const HookOptions& options) {
  if (absl::Status s = CheckHookInputs(hook_name, path, env); !s.ok()) return s;
  return RunHookArgv(hook_name, path, {path}, env, options);
}

absl::StatusOr<HookDirectory> ListHookDirectory(const std::string& config_dir,
                                                absl::string_view kind) {
  HookDirectory out;
  out.dir = absl::StrCat(config_dir, "/renewal-hooks/", kind);
  const std::string shown_dir = absl::StrCat("renewal-hooks/", kind, "/");
  std::error_code ec;
  std::vector<std::filesystem::directory_entry> entries;
  std::filesystem::directory_iterator it(out.dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return out;
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("cannot list ", out.dir));
  constexpr size_t kMaxEntries = 1000;
  for (; it != std::filesystem::directory_iterator() && entries.size() < kMaxEntries;
       it.increment(ec)) {
    entries.push_back(*it);
  }
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("cannot list ", out.dir));
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  for (const auto& entry : entries) {
    const std::string name = entry.path().filename().string();
    const std::string path = entry.path().string();
    if (absl::EndsWith(name, "~")) {
      out.skipped.push_back(absl::StrCat(shown_dir, name, ": a backup file (ends in ~), skipped"));
      continue;
    }
    std::error_code type_ec;
    if (!std::filesystem::is_regular_file(entry.path(), type_ec)) {  // follows symlinks
      out.skipped.push_back(absl::StrCat(shown_dir, name, ": not a regular file, skipped"));
      continue;
    }
    if (::access(path.c_str(), X_OK) != 0) {
      out.skipped.push_back(absl::StrCat(shown_dir, name, ": not executable, skipped (chmod +x ",
                                         path, " to run it)"));
      continue;
    }
    out.executables.push_back(path);
  }
  return out;
}

HookEnv AuthHookEnv(const ChallengeHookVars& vars) {
  HookEnv env = {
      {"CERTBOT_DOMAIN", vars.domain},
      {"CERTBOT_VALIDATION", vars.validation},
      {"CERTBOT_REMAINING_CHALLENGES", absl::StrCat(vars.remaining_challenges)},
      {"CERTBOT_ALL_DOMAINS", Join(vars.all_domains, ",")},
      {"ACME_AGENT_HOOK", "auth"},
      {"ACME_AGENT_LINEAGE", vars.lineage},
      {"ACME_AGENT_CHALLENGE_TYPE", vars.challenge_type},
  };
  if (!vars.token.empty()) env.emplace_back("CERTBOT_TOKEN", vars.token);
  return env;
}

HookEnv CleanupHookEnv(const ChallengeHookVars& vars, absl::string_view auth_output) {
  HookEnv env = AuthHookEnv(vars);
  for (auto& [name, value] : env) {
    if (name == "ACME_AGENT_HOOK") value = "cleanup";
  }
  env.emplace_back("CERTBOT_AUTH_OUTPUT", std::string(auth_output));
  return env;
}

HookEnv DeployHookEnv(absl::string_view lineage, absl::string_view live_dir,
                      const std::vector<std::string>& domains) {
  return {
      {"RENEWED_LINEAGE", std::string(live_dir)},
      {"RENEWED_DOMAINS", Join(domains, " ")},
      {"ACME_AGENT_HOOK", "deploy"},
      {"ACME_AGENT_LINEAGE", std::string(lineage)},
  };
}

HookEnv PreHookEnv() { return {{"ACME_AGENT_HOOK", "pre"}}; }

HookEnv PostHookEnv(const std::vector<std::string>& renewed_domains,
                    const std::vector<std::string>& failed_domains) {
  return {
      {"RENEWED_DOMAINS", Join(renewed_domains, " ")},
      {"FAILED_DOMAINS", Join(failed_domains, " ")},
      {"ACME_AGENT_HOOK", "post"},
  };
}

}  // namespace acme_signer::agent
