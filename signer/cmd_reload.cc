// acme-signer reload: asks the running `acme-signer serve` of a config to reload (SIGHUP) and
// reports whether it accepted the reload (signer/serve_control.h). The systemd unit's
// ExecReload runs it. Exit 0 "reload accepted", 1 with the signer's refusal, 1 "no signer
// running" when no serve holds the config's state dir.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/cli.h"
#include "common/status_macros.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/serve_control.h"

namespace acme_signer::signer {

int RunReload(const std::vector<std::string>& args) {
  ArgParser parser("acme-signer reload --config FILE [--timeout SECONDS]");
  parser.Value("config", "FILE", "signer configuration (TOML) of the running serve")
      .Value("timeout", "SECONDS", "how long to wait for the signer's answer (default 10)")
      .Required("config");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer reload: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  int timeout_seconds = 10;
  if (std::optional<std::string> t = parser.Get("timeout"); t.has_value()) {
    if (!absl::SimpleAtoi(*t, &timeout_seconds) || timeout_seconds < 1 || timeout_seconds > 600) {
      std::cerr << "acme-signer reload: --timeout: expected whole seconds 1..600, got '" << *t
                << "'\n";
      return kExitUsage;
    }
  }
  absl::StatusOr<SignerConfig> config = LoadSignerConfig(*parser.Get("config"));
  if (!config.ok()) {
    std::cerr << "acme-signer reload: " << config.status().message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<ReloadOutcome> outcome =
      RequestReload(*config, absl::Seconds(timeout_seconds));
  if (!outcome.ok()) {
    std::cerr << "acme-signer reload: " << outcome.status().message() << "\n";
    return kExitFailure;
  }
  switch (outcome->kind) {
    case ReloadOutcome::Kind::kNotRunning:
      std::cerr << "acme-signer reload: no signer running (no acme-signer serve holds "
                << ServePidFilePath(*config) << ")\n";
      return kExitFailure;
    case ReloadOutcome::Kind::kAccepted:
      std::cout << "reload accepted by acme-signer serve (pid " << outcome->pid
                << ", generation " << outcome->status.generation
                << "): " << outcome->status.message << "\n";
      return kExitOk;
    case ReloadOutcome::Kind::kRefused:
      std::cerr << "acme-signer reload: refused by acme-signer serve (pid " << outcome->pid
                << "): " << outcome->status.message << "\n";
      return kExitFailure;
  }
  return kExitFailure;
}

}  // namespace acme_signer::signer
