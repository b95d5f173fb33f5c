#include "agent/hook_solver.h"

#include <iostream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace acme_signer::agent {

HookSolver::HookSolver(std::string challenge_type, std::string lineage, std::string auth_hook,
                       std::string cleanup_hook, absl::Duration timeout,
                       std::function<void(const std::string&)> progress)
    : challenge_type_(std::move(challenge_type)),
      lineage_(std::move(lineage)),
      auth_hook_(std::move(auth_hook)),
      cleanup_hook_(std::move(cleanup_hook)) {
  options_.timeout = timeout;
  options_.progress = std::move(progress);
}

HookSolver::~HookSolver() { CleanUp(); }

absl::Status HookSolver::Start() {
  if (challenge_type_ != "http-01" && challenge_type_ != "dns-01") {
    return absl::InvalidArgumentError(
        absl::StrCat("the manual authenticator answers http-01 or dns-01, not \"",
                     absl::CEscape(challenge_type_), "\" (--preferred-challenges)"));
  }
  if (auth_hook_.empty()) {
    return absl::InvalidArgumentError(
        "--manual needs --manual-auth-hook COMMAND (acme-agent never prompts)");
  }
  return absl::OkStatus();
}

absl::Status HookSolver::Present(const ChallengeTask& task) {
  RETURN_IF_ERROR(Start());
  Presented entry;
  ChallengeHookVars& vars = entry.vars;
  vars.lineage = lineage_;
  vars.challenge_type = challenge_type_;
  vars.domain = task.domain;
  const bool http = challenge_type_ == "http-01";
  vars.validation = http ? task.key_authorization : task.dns01_txt_value;
  if (http) vars.token = task.token;
  vars.remaining_challenges = task.remaining;
  vars.all_domains = absl::StrSplit(task.all_domains, ',', absl::SkipEmpty());

  // Recorded before running, so a hook that fails half-way still gets its cleanup.
  presented_.push_back(std::move(entry));
  absl::StatusOr<HookOutput> output =
      RunHook(absl::StrCat("manual auth hook (--manual-auth-hook) for ", task.domain), auth_hook_,
              AuthHookEnv(presented_.back().vars), options_);
  if (!output.ok()) return output.status();
  presented_.back().auth_output = std::string(absl::StripAsciiWhitespace(output->stdout_text));
  return absl::OkStatus();
}

void HookSolver::CleanUp() {
  std::vector<Presented> presented = std::exchange(presented_, {});
  if (cleanup_hook_.empty()) return;
  for (const Presented& entry : presented) {
    absl::StatusOr<HookOutput> output =
        RunHook(absl::StrCat("manual cleanup hook (--manual-cleanup-hook) for ", entry.vars.domain),
                cleanup_hook_, CleanupHookEnv(entry.vars, entry.auth_output), options_);
    if (!output.ok()) std::cerr << "acme-agent: warning: " << output.status().message() << "\n";
  }
}

}  // namespace acme_signer::agent
