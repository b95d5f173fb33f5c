// acme-agent renew (one pass) and acme-agent run (the renewal loop).
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <iostream>
#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "agent/command_support.h"
#include "agent/commands.h"
#include "agent/lineage.h"
#include "agent/obtain.h"
#include "agent/renewal_schedule.h"
#include "common/status_macros.h"
#include "common/x509.h"

namespace acme_signer::agent {
namespace {

struct PassResult {
  int renewed = 0;
  int failed = 0;
  int not_due = 0;
  std::optional<absl::Time> earliest_next;  // the next renewal time among kept certificates
  nlohmann::json items = nlohmann::json::array();
  absl::Status first_error;
};

// One renewal pass over the lineages (or just `only`).
PassResult RenewPass(const CommandContext& context, const std::optional<std::string>& only,
                     bool force) {
  PassResult pass;
  LineageStore store(context.config.config_dir);
  absl::StatusOr<std::vector<LineageInfo>> lineages = store.List();
  if (!lineages.ok()) {
    pass.failed = 1;
    pass.first_error = lineages.status();
    return pass;
  }
  std::unique_ptr<SignerClient> signer;
  std::vector<std::string> renewed_domains, failed_domains;
  bool pre_hook_ran = false;
  std::string post_hook;
  auto fail = [&](const std::string& name, const absl::Status& status) {
    ++pass.failed;
    if (pass.first_error.ok()) pass.first_error = status;
    std::cerr << "acme-agent renew: " << name << ": " << status.message()
              << " (the current certificate is unchanged)\n";
    pass.items.push_back(
        {{"lineage", name}, {"ok", false}, {"error", std::string(status.message())}});
  };
  bool matched = false;
  for (const LineageInfo& info : *lineages) {
    if (only.has_value() && info.name != *only) continue;
    matched = true;
    if (!info.status.ok()) {
      fail(info.name, info.status);
      continue;
    }
    absl::StatusOr<RenewalConfig> config = store.ReadRenewalConfig(info.name);
    if (!config.ok()) {
      fail(info.name, config.status());
      continue;
    }
    // A version an interrupted run saved but never made live goes live first; whether a
    // renewal is due is then decided on it.
    absl::StatusOr<std::optional<int>> finished =
        FinishInterruptedInstall(context, info.name, *config);
    if (!finished.ok()) {
      fail(info.name, finished.status());
      continue;
    }
    LineageInfo current = info;
    if (finished->has_value()) {
      absl::StatusOr<LineageInfo> reread = store.Get(info.name);
      if (!reread.ok() || !reread->status.ok()) {
        fail(info.name, reread.ok() ? reread->status : reread.status());
        continue;
      }
      current = *std::move(reread);
      context.Say(absl::StrCat(info.name, ": finished installing version ", **finished,
                               " (saved by an earlier run that stopped before switching live/)"));
    }
    if (signer == nullptr) {
      absl::StatusOr<std::unique_ptr<SignerClient>> connected = ConnectToSigner(context.config);
      if (!connected.ok()) {
        fail(info.name, connected.status());
        continue;
      }
      signer = std::move(*connected);
    }
    // When is it due? The CA's ARI window (through the signer) when it has one, else the
    // last third of the lifetime; spread per certificate so a fleet does not renew at once.
    std::optional<RenewalWindow> ari;
    std::string replaces;
    absl::StatusOr<std::string> pem = store.ReadCurrentCertificatePem(info.name);
    absl::StatusOr<std::string> der = pem.ok() ? CertificatePemToDer(*pem) : pem.status();
    if (der.ok()) {
      absl::StatusOr<pb::GetRenewalInfoResponse> window = signer->GetRenewalInfo(*der);
      if (window.ok() && window->from_ca()) {
        ari = RenewalWindow{absl::FromUnixSeconds(window->suggested_window_start().seconds()),
                            absl::FromUnixSeconds(window->suggested_window_end().seconds())};
        replaces = window->certificate_id();
      }
    }
    const absl::Time due =
        RenewalTime(current.certificate.not_before, current.certificate.not_after, ari,
                    StableFraction(current.certificate.serial_hex));
    if (!force && !IsRenewalDue(absl::Now(), due)) {
      ++pass.not_due;
      if (!pass.earliest_next.has_value() || due < *pass.earliest_next) pass.earliest_next = due;
      context.Progress(
          absl::StrCat(info.name, ": not due until ",
                       absl::FormatTime("%Y-%m-%d %H:%M UTC", due, absl::UTCTimeZone())));
      pass.items.push_back(
          {{"lineage", info.name},
           {"ok", true},
           {"renewed", false},
           {"due", absl::FormatTime(absl::RFC3339_sec, due, absl::UTCTimeZone())}});
      continue;
    }
    if (!pre_hook_ran) {
      pre_hook_ran = true;
      if (absl::Status s = RunPrePostHook(context, "pre-hook", config->pre_hook, PreHookEnv());
          !s.ok()) {
        fail(info.name, s);
        continue;
      }
    }
    if (!config->post_hook.empty()) post_hook = config->post_hook;
    context.Progress(absl::StrCat(info.name, ": renewing"));
    absl::StatusOr<ObtainResult> result =
        ObtainCertificate(context, *signer, info.name, *config, replaces);
    if (!result.ok()) {
      for (const std::string& d : config->domains) failed_domains.push_back(d);
      fail(info.name, result.status());
      continue;
    }
    ++pass.renewed;
    for (const std::string& d : config->domains) renewed_domains.push_back(d);
    context.Say(absl::StrCat(info.name, ": renewed (version ", result->version, ", expires ",
                             absl::FormatTime("%Y-%m-%d", result->not_after, absl::UTCTimeZone()),
                             ")"));
    pass.items.push_back({{"lineage", info.name},
                          {"ok", true},
                          {"renewed", true},
                          {"version", result->version},
                          {"serial", result->serial}});
  }
  if (only.has_value() && !matched) {
    pass.failed = 1;
    pass.first_error = absl::NotFoundError(absl::StrCat("no certificate named ", *only, " in ",
                                                        context.config.config_dir, "/renewal"));
    std::cerr << "acme-agent renew: " << pass.first_error.message() << "\n";
  }
  if (absl::Status s = RunPrePostHook(context, "post-hook", post_hook,
                                      PostHookEnv(renewed_domains, failed_domains));
      !s.ok()) {
    std::cerr << "acme-agent renew: warning: " << s.message() << "\n";
  }
  return pass;
}

}  // namespace

int RunRenew(const std::vector<std::string>& args) {
  ArgParser parser("acme-agent renew [--cert-name NAME] [--force-renewal] [options]");
  AddCommonOptions(parser);
  parser.Value("cert-name", "NAME", "only this lineage")
      .Bool("force-renewal", "renew even if not due");
  if (auto exit_code = ParseOrExit(parser, args, "renew")) return *exit_code;
  absl::StatusOr<CommandContext> context = LoadContext(parser);
  if (!context.ok()) {
    std::cerr << "acme-agent renew: " << context.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<RunLock>> lock = RunLock::Acquire(context->config.config_dir);
  if (!lock.ok()) return Fail(&*context, "renew", lock.status());
  PassResult pass = RenewPass(*context, parser.Get("cert-name"), parser.Has("force-renewal"));
  if (context->json) {
    std::cout << nlohmann::json({{"ok", pass.failed == 0},
                                 {"renewed", pass.renewed},
                                 {"not_due", pass.not_due},
                                 {"failed", pass.failed},
                                 {"certificates", pass.items}})
                     .dump()
              << std::endl;
  } else if (pass.renewed == 0 && pass.failed == 0) {
    context->Say("No renewals were attempted: no certificate is due.");
  }
  return pass.failed == 0 ? kExitOk : ExitCodeFor(pass.first_error);
}

int RunLoop(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-agent run [options]   (renews whatever is due, forever; stop with SIGTERM)");
  AddCommonOptions(parser);
  parser.Bool("once", "do one pass and exit (for testing the loop's schedule)");
  if (auto exit_code = ParseOrExit(parser, args, "run")) return *exit_code;
  absl::StatusOr<CommandContext> context = LoadContext(parser);
  if (!context.ok()) {
    std::cerr << "acme-agent run: " << context.status().message() << "\n";
    return kExitUsage;
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::mt19937_64 random(std::random_device{}());
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  int consecutive_failures = 0;
  while (true) {
    PassResult pass;
    {
      absl::StatusOr<std::unique_ptr<RunLock>> lock = RunLock::Acquire(context->config.config_dir);
      if (lock.ok()) {
        pass = RenewPass(*context, std::nullopt, false);
      } else {
        pass.failed = 1;
        pass.first_error = lock.status();
      }
    }
    consecutive_failures = pass.failed > 0 ? consecutive_failures + 1 : 0;
    const absl::Time now = absl::Now();
    absl::Time next = NextCheckTime(now, pass.earliest_next, uniform(random));
    if (consecutive_failures > 0) {
      next = std::min(next, now + FailureBackoff(consecutive_failures, uniform(random)));
    }
    if (parser.Has("once")) {
      context->Say(absl::StrCat("next check at ",
                                absl::FormatTime(absl::RFC3339_sec, next, absl::UTCTimeZone())));
      return pass.failed == 0 ? kExitOk : ExitCodeFor(pass.first_error);
    }
    context->Progress(absl::StrCat("next check at ",
                                   absl::FormatTime(absl::RFC3339_sec, next, absl::UTCTimeZone())));
    const absl::Duration wait = std::max(next - absl::Now(), absl::Seconds(1));
    const timespec timeout = absl::ToTimespec(wait);
    const int signal_number = sigtimedwait(&stop_signals, nullptr, &timeout);
    if (signal_number == SIGTERM || signal_number == SIGINT) {
      context->Progress("stopping (signal received)");
      return kExitOk;
    }
  }
}

}  // namespace acme_signer::agent
