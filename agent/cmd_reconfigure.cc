// acme-agent reconfigure --cert-name NAME [options]: certbot's `reconfigure`. Changes the
// stored renewal settings of a lineage (renewal/NAME.conf: hooks, authenticator and its
// options, key settings, PKCS#12, direct mode, the signer account) without obtaining a
// certificate, and says what changed. The same options as certonly/renew
// (agent/renewal_flags.h), --server URL / --account NAME as certonly's, --ccs-dir DIR, plus
// --no-pfx, --no-pfx-legacy, --no-direct and --no-reuse-key to switch stored booleans off; an
// empty value ("--deploy-hook ''", "--ccs-dir ''") removes a hook or the directory.
//
// --ccs-dir (IIS Central Certificate Store, agent/central_store.h) takes effect at once: the
// live PKCS#12 is copied to the new directory (when the lineage has one) and the copies in the
// old directory are removed, so IIS never serves from a directory the settings no longer name.
// --no-pfx on a lineage with a ccs_dir is refused unless --ccs-dir '' comes with it: the copies
// are of the PKCS#12, and an IIS that reads them must not lose them as a side effect.
//
// As certbot does, a change to how the names are validated (authenticator, webroot path,
// standalone port/address, manual hooks, challenge type, direct mode, the account: another
// account may be at another CA) is tried first with a
// dry run (validation, then the authorizations are deactivated; pre/post hooks run, deploy
// hooks do not): the settings are saved only when it succeeds. Other changes are saved at
// once. The file is replaced atomically, under the run lock.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/account_choice.h"
#include "agent/central_store.h"
#include "agent/command_support.h"
#include "agent/commands.h"
#include "agent/hooks.h"
#include "agent/lineage.h"
#include "agent/obtain.h"
#include "agent/renewal_config.h"
#include "agent/renewal_flags.h"
#include "common/cli.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace acme_signer::agent {
namespace {

constexpr char kCommand[] = "reconfigure";

ArgParser MakeParser() {
  ArgParser parser(
      "acme-agent reconfigure --cert-name NAME [options]   (changes the stored renewal "
      "settings; no new certificate)");
  AddCommonOptions(parser);
  parser.Value("cert-name", "NAME", "the lineage whose settings change").Required("cert-name");
  AddRenewalParamOptions(parser);
  AddAccountOptions(parser);
  parser.Bool("pfx", "also write live/NAME/cert.pfx at the next renewal")
      .Bool("no-pfx", "stop writing cert.pfx (also drops --pfx-password-file and --pfx-legacy)")
      .Value("pfx-password-file", "FILE", "password for --pfx ('' for none)")
      .Bool("pfx-legacy", "3DES/SHA-1 PKCS#12 for old Windows")
      .Bool("no-pfx-legacy", "AES-256/PBKDF2 PKCS#12 (the default)")
      .Value("ccs-dir", "DIR",
             "IIS Central Certificate Store: also write DIR/HOSTNAME.pfx for every name (implies "
             "--pfx; copied now); '' stops it and removes the copies made in the old DIR")
      .Bool("direct", "talk to the CA from this host at renewal")
      .Bool("no-direct", "renew through the signer (relay mode, the default)");
  return parser;
}

// What the command line says, with the --no-* switches.
absl::StatusOr<RenewalOverrides> OverridesFromFlags(const ArgParser& parser) {
  ASSIGN_OR_RETURN(RenewalOverrides overrides, RenewalOverridesFromFlags(parser));
  for (const char* flag : {"pfx", "pfx-legacy", "direct"}) {
    if (parser.Has(flag) && parser.Has(absl::StrCat("no-", flag))) {
      return absl::InvalidArgumentError(absl::StrCat("choose one of --", flag, ", --no-", flag));
    }
  }
  if (parser.Has("pfx")) overrides.pfx = true;
  if (parser.Has("pfx-legacy")) overrides.pfx_legacy = true;
  if (parser.Has("no-pfx-legacy")) overrides.pfx_legacy = false;
  if (parser.Has("direct")) overrides.direct = true;
  if (parser.Has("no-direct")) overrides.direct = false;
  overrides.pfx_password_file = parser.Get("pfx-password-file");
  overrides.ccs_dir = parser.Get("ccs-dir");
  if (parser.Has("no-pfx")) {
    if (overrides.ccs_dir.has_value() && !overrides.ccs_dir->empty()) {
      return absl::InvalidArgumentError(
          "--no-pfx and --ccs-dir DIR contradict each other (the copies in DIR are PKCS#12 "
          "files)");
    }
    if (overrides.pfx_password_file.has_value() && !overrides.pfx_password_file->empty()) {
      return absl::InvalidArgumentError("--no-pfx and --pfx-password-file contradict each other");
    }
    if (parser.Has("pfx-legacy")) {
      return absl::InvalidArgumentError("--no-pfx and --pfx-legacy contradict each other");
    }
    overrides.pfx = false;
    overrides.pfx_password_file = "";
    overrides.pfx_legacy = false;
  }
  return overrides;
}

// True when `after` validates the names differently from `before`: certbot tests such a
// change with a dry run before saving it.
bool ValidationChanged(const RenewalConfig& before, const RenewalConfig& after) {
  return before.authenticator != after.authenticator || before.webroot_path != after.webroot_path ||
         before.http01_port != after.http01_port || before.http01_address != after.http01_address ||
         before.manual_auth_hook != after.manual_auth_hook ||
         before.manual_cleanup_hook != after.manual_cleanup_hook ||
         before.preferred_challenges != after.preferred_challenges ||
         before.direct != after.direct || before.account != after.account;
}

// The dry run of the new settings, with the pre- and post-hooks around it (as certbot's).
absl::Status TestWithDryRun(const CommandContext& context, const std::string& lineage,
                            const RenewalConfig& config) {
  context.Progress(absl::StrCat(lineage,
                                ": the new settings change how the names are validated;"
                                " testing them with a dry run before saving"));
  ASSIGN_OR_RETURN(std::unique_ptr<SignerClient> signer, ConnectToSigner(context.config));
  RETURN_IF_ERROR(RunPrePostHook(context, "pre-hook", config.pre_hook, PreHookEnv()));
  ObtainOptions options;
  options.dry_run = true;
  absl::StatusOr<ObtainResult> result =
      ObtainCertificate(context, *signer, lineage, config, options);
  absl::Status post =
      RunPrePostHook(context, "post-hook", config.post_hook,
                     PostHookEnv({}, result.ok() ? std::vector<std::string>() : config.domains));
  if (!post.ok()) std::cerr << "acme-agent reconfigure: warning: " << post.message() << "\n";
  return result.status();
}

// Writes the new settings; a changed ccs_dir takes effect at once: the live PKCS#12 (when the
// lineage has one) is copied to the new directory, and the copies in the old one that still
// hold it are removed. A new directory is checked before anything is saved.
absl::Status SaveSettings(const CommandContext& context, LineageStore& store,
                          const std::string& lineage, const RenewalConfig& before,
                          const RenewalConfig& after) {
  const bool ccs_changed = before.ccs_dir != after.ccs_dir;
  if (ccs_changed && !after.ccs_dir.empty()) RETURN_IF_ERROR(CheckCentralStoreDir(after.ccs_dir));
  const CentralStoreCopies copies_before = LiveCentralStoreCopies(store, lineage);
  RETURN_IF_ERROR(store.WriteRenewalConfig(lineage, after));
  if (!ccs_changed) return absl::OkStatus();
  const CentralStoreCopies copies_now = LiveCentralStoreCopies(store, lineage);
  if (absl::Status s = UpdateCentralStore(copies_before, copies_now); !s.ok()) {
    return WithMessage(s, absl::StrCat("the settings of ", lineage,
                                       " are saved, but the Central Certificate Store copies "
                                       "could not be updated: ",
                                       s.message()));
  }
  if (!copies_now.pfx.empty()) {
    context.Progress(absl::StrCat(lineage, ": copied the live PKCS#12 to ", copies_now.dir, " for ",
                                  absl::StrJoin(copies_now.names, ", ")));
  }
  if (!copies_before.pfx.empty()) {
    context.Progress(absl::StrCat(lineage, ": removed its copies from ", copies_before.dir));
  }
  return absl::OkStatus();
}

// The stored settings with the command line's: --server/--account asked of the signer, then
// merged. InvalidArgument for what the command line got wrong (exit 2), e.g. --no-pfx alone on
// a lineage with a ccs_dir.
absl::StatusOr<RenewalConfig> NewSettings(const ArgParser& parser, const CommandContext& context,
                                          const std::string& lineage, const RenewalConfig& stored,
                                          RenewalOverrides overrides) {
  if (parser.Has("server") || parser.Has("account")) {
    ASSIGN_OR_RETURN(std::unique_ptr<SignerClient> signer, ConnectToSigner(context.config));
    ASSIGN_OR_RETURN(std::optional<AccountSelection> selection, AccountFromFlags(parser, *signer));
    if (selection.has_value()) {
      overrides.account = selection->name;
      overrides.server = selection->directory_url;
    }
  }
  if (parser.Has("no-pfx") && !stored.ccs_dir.empty() && !overrides.ccs_dir.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--no-pfx: ", lineage, " also copies its PKCS#12 to the IIS Central Certificate Store ",
        stored.ccs_dir,
        " (ccs_dir); add --ccs-dir '' to stop that too (its copies there are then "
        "removed)"));
  }
  absl::StatusOr<RenewalConfig> merged = MergeRenewalSettings(stored, overrides);
  if (!merged.ok()) return absl::InvalidArgumentError(merged.status().message());
  return merged;
}

// What was saved: text, or the one JSON object.
void PrintSaved(const CommandContext& context, const LineageStore& store,
                const std::string& lineage, const std::vector<std::string>& changes, bool tested) {
  if (context.json) {
    PrintJsonResult(kCommand, {{"lineage", lineage},
                               {"changed", true},
                               {"tested_with_dry_run", tested},
                               {"changes", changes}});
    return;
  }
  context.Say(
      absl::StrCat("Renewal settings of ", lineage, " changed: ", absl::StrJoin(changes, "; ")));
  context.Say(absl::StrCat("Saved in ", store.Paths(lineage).renewal_conf,
                           "; they apply from the next renewal (the current certificate is "
                           "unchanged)."));
}

}  // namespace

int RunReconfigure(const std::vector<std::string>& args) {
  ArgParser parser = MakeParser();
  if (auto exit_code = ParseOrExit(parser, args, kCommand)) return *exit_code;
  CommandContext bare;
  bare.json = parser.Has("json");
  absl::StatusOr<CommandContext> context = LoadContext(parser);
  if (!context.ok()) {
    Fail(&bare, kCommand, context.status());
    return kExitUsage;
  }
  absl::StatusOr<RenewalOverrides> overrides = OverridesFromFlags(parser);
  if (!overrides.ok()) {
    Fail(&*context, kCommand, overrides.status());
    return kExitUsage;
  }
  const std::string lineage = *parser.Get("cert-name");
  if (absl::Status s = ValidateLineageName(lineage); !s.ok()) {
    Fail(&*context, kCommand,
         absl::InvalidArgumentError(absl::StrCat("--cert-name: ", s.message())));
    return kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<RunLock>> lock = RunLock::Acquire(context->config.config_dir);
  if (!lock.ok()) return Fail(&*context, kCommand, lock.status());

  LineageStore store(context->config.config_dir);
  absl::StatusOr<RenewalConfig> stored = store.ReadRenewalConfig(lineage);
  if (!stored.ok()) {
    const int code =
        Fail(&*context, kCommand,
             absl::Status(stored.status().code(),
                          absl::StrCat("lineage ", lineage, ": ", stored.status().message(),
                                       absl::IsNotFound(stored.status())
                                           ? " (acme-agent certificates lists the "
                                             "names)"
                                           : "")));
    return absl::IsNotFound(stored.status()) ? kExitUsage : code;
  }
  absl::StatusOr<RenewalConfig> updated =
      NewSettings(parser, *context, lineage, *stored, *std::move(overrides));
  if (!updated.ok()) {
    const int code = Fail(&*context, kCommand, updated.status());
    return absl::IsInvalidArgument(updated.status()) ? kExitUsage : code;
  }
  const std::vector<std::string> changes = RenewalConfigChanges(*stored, *updated);
  if (changes.empty()) {
    if (context->json) {
      PrintJsonResult(kCommand, {{"lineage", lineage}, {"changed", false}, {"changes", changes}});
    } else {
      context->Say(absl::StrCat("No changes to the renewal settings of ", lineage, "."));
    }
    return kExitOk;
  }
  const bool tested = ValidationChanged(*stored, *updated);
  if (tested) {
    if (absl::Status s = TestWithDryRun(*context, lineage, *updated); !s.ok()) {
      return Fail(&*context, kCommand,
                  WithMessage(s, absl::StrCat("the dry run with the new settings failed, so they "
                                              "were not saved: ",
                                              s.message())));
    }
  }
  if (absl::Status s = SaveSettings(*context, store, lineage, *stored, *updated); !s.ok()) {
    return Fail(&*context, kCommand, s);
  }
  PrintSaved(*context, store, lineage, changes, tested);
  return kExitOk;
}

}  // namespace acme_signer::agent
