#include "agent/obtain.h"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "acme/revocation_reason.h"
#include "agent/central_store.h"
#include "agent/certificate_info.h"
#include "agent/csr.h"
#include "agent/direct_issuer.h"
#include "agent/hook_solver.h"
#include "agent/hooks.h"
#include "agent/lineage.h"
#include "agent/pkcs12.h"
#include "agent/private_key.h"
#include "agent/relay_issuer.h"
#include "agent/standalone_solver.h"
#include "agent/webroot_solver.h"
#include "common/files.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/x509.h"

namespace acme_signer::agent {
namespace {

// Splits a PEM chain into the leaf and the rest.
absl::Status SplitChain(const std::string& pem_chain, std::string* cert, std::string* chain) {
  const std::string kEnd = "-----END CERTIFICATE-----";
  size_t end = pem_chain.find(kEnd);
  if (end == std::string::npos) {
    return absl::DataLossError("the signer returned no certificate in the chain");
  }
  end += kEnd.size();
  *cert = pem_chain.substr(0, end) + "\n";
  size_t rest = pem_chain.find_first_not_of("\r\n", end);
  *chain = rest == std::string::npos ? "" : pem_chain.substr(rest);
  return absl::OkStatus();
}

absl::StatusOr<bool> KeyMatchesLeaf(const PrivateKey& key, const std::string& cert_pem) {
  absl::StatusOr<SslUniquePtr<X509>> cert = ParseCertificatePem(cert_pem);
  if (!cert.ok()) return absl::DataLossError("the issued certificate does not parse");
  return key.MatchesCertificate(cert->get());
}

LineageStore::Options StoreOptions() {
  LineageStore::Options options;
#ifndef NDEBUG
  // TEST-ONLY, compiled out of release (NDEBUG) builds: ACME_AGENT_TEST_KILL_AT=<step> (a
  // LineageStore step such as "live:switch") makes the agent SIGKILL itself at that step, so
  // tests/integration/agent_disk_fault_test.cc can kill the real binary between writing the
  // archive and switching live/ deterministically. Killing itself is all it can do.
  if (const char* step = std::getenv("ACME_AGENT_TEST_KILL_AT"); step != nullptr && *step) {
    options.fault_injector = [at = std::string(step)](absl::string_view current) {
      if (current == at) ::raise(SIGKILL);
      return absl::OkStatus();
    };
  }
#endif
  return options;
}

std::vector<std::string> Sorted(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  return names;
}

// Why a pending version's files must not go live, or OK: the key is the certificate's,
// fullchain starts with cert (DataLoss or InvalidArgument otherwise: corrupt), the names are
// `domains`, and it is still valid and newer than what is live (FailedPrecondition otherwise).
absl::Status CheckPendingVersion(const LineageStore& store, const std::string& lineage,
                                 const LineageFiles& files,
                                 const std::vector<std::string>& domains) {
  ASSIGN_OR_RETURN(CertificateInfo info, ReadCertificateInfo(files.cert_pem));
  ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::FromPem(files.privkey_pem));
  ASSIGN_OR_RETURN(bool matches, KeyMatchesLeaf(key, files.cert_pem));
  if (!matches) return absl::DataLossError("its key does not match its certificate");
  if (files.fullchain_pem.compare(0, files.cert_pem.size(), files.cert_pem) != 0) {
    return absl::DataLossError("its fullchain does not start with its certificate");
  }
  if (Sorted(info.dns_names) != Sorted(domains)) {
    return absl::FailedPreconditionError("it is for other names");
  }
  if (info.not_after <= absl::Now()) return absl::FailedPreconditionError("it has expired");
  // Expiry has one-second resolution: a renewal forced right after an issuance expires in the
  // same second as the live certificate, and is still the later one (a higher version, another
  // serial). Only an older expiry, or the live certificate itself, is refused.
  if (absl::StatusOr<CertificateInfo> live = store.ReadCurrentCertificate(lineage);
      live.ok() && (info.not_after < live->not_after || info.serial_hex == live->serial_hex)) {
    return absl::FailedPreconditionError("it is not newer than the live certificate");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<int>> FinishInterruptedInstall(const CommandContext& context,
                                                            const std::string& lineage,
                                                            const RenewalConfig& config) {
  LineageStore store(context.config.config_dir, StoreOptions());
  RETURN_IF_ERROR(ValidateLineageName(lineage));
  ASSIGN_OR_RETURN(std::vector<int> pending, store.PendingVersions(lineage));
  std::optional<int> chosen;
  for (auto it = pending.rbegin(); it != pending.rend(); ++it) {
    const int version = *it;
    absl::StatusOr<LineageFiles> files = store.ReadArchiveVersion(lineage, version);
    if (!files.ok() && files.status().code() != absl::StatusCode::kFailedPrecondition) {
      return files.status();  // unreadable rather than incomplete: nothing to decide on
    }
    absl::Status sound =
        files.ok() ? CheckPendingVersion(store, lineage, *files, config.domains) : files.status();
    if (sound.ok()) {
      // Older complete ones stay in the archive, as every old version does.
      if (!chosen.has_value()) chosen = version;
      continue;
    }
    context.Progress(absl::StrCat(lineage, ": version ", version,
                                  " left by an interrupted run is not used: ", sound.message()));
    // Incomplete (a file missing: killed while writing) or corrupt: nobody can use it.
    const bool unusable = !files.ok() || sound.code() == absl::StatusCode::kDataLoss ||
                          sound.code() == absl::StatusCode::kInvalidArgument;
    if (unusable) RETURN_IF_ERROR(store.DiscardVersion(lineage, version));
  }
  if (!chosen.has_value()) return std::optional<int>();
  const CentralStoreCopies ccs_before = LiveCentralStoreCopies(store, lineage);
  RETURN_IF_ERROR(store.ActivateVersion(lineage, *chosen));
  const std::string live_dir = store.Paths(lineage).live_dir;
  if (!config.ccs_dir.empty()) {
    absl::StatusOr<LineageFiles> files = store.ReadArchiveVersion(lineage, *chosen);
    absl::Status copied =
        files.ok() ? UpdateCentralStore(ccs_before,
                                        {config.ccs_dir, config.domains, files->pfx.value_or("")})
                   : files.status();
    if (!copied.ok()) {
      return absl::Status(
          copied.code(),
          absl::StrCat("version ", *chosen, " is installed in ", live_dir,
                       ", but its --ccs-dir copies could not be written: ", copied.message()));
    }
  }
  context.Progress(absl::StrCat(lineage, ": finished installing version ", *chosen,
                                " (an earlier run stopped after saving it, before switching ",
                                live_dir, ")"));
  if (!config.deploy_hook.empty()) {
    absl::StatusOr<HookOutput> deployed =
        RunHook("deploy-hook", config.deploy_hook, DeployHookEnv(lineage, live_dir, config.domains),
                HookOptionsFor(context));
    if (!deployed.ok()) {
      return absl::Status(
          deployed.status().code(),
          absl::StrCat("version ", *chosen, " is installed in ", live_dir,
                       ", but the deploy hook failed: ", deployed.status().message()));
    }
  }
  return chosen;
}

absl::StatusOr<std::unique_ptr<ChallengeSolver>> MakeSolver(const RenewalConfig& config,
                                                            const std::string& lineage,
                                                            const HookOptions& hook_options) {
  switch (config.authenticator) {
    case Authenticator::kStandalone:
      return std::unique_ptr<ChallengeSolver>(
          new StandaloneSolver(config.http01_address, config.http01_port));
    case Authenticator::kWebroot:
      return std::unique_ptr<ChallengeSolver>(new WebrootSolver(config.webroot_path));
    case Authenticator::kManual:
      return std::unique_ptr<ChallengeSolver>(
          new HookSolver(config.preferred_challenges, lineage, config.manual_auth_hook,
                         config.manual_cleanup_hook, hook_options.timeout, hook_options.progress));
  }
  return absl::InvalidArgumentError("unknown authenticator");
}

namespace {

// The serial (SerialText) of a certificate of `lineage` that was revoked for keyCompromise and
// holds `key`, or "" when there is none. Only the archive versions up to the live one are looked
// at: a key can only have been reused from those.
absl::StatusOr<std::string> CompromisedSerialOfKey(const LineageStore& store,
                                                   const std::string& lineage,
                                                   const PrivateKey& key, int live_version) {
  ASSIGN_OR_RETURN(std::vector<RevocationRecord> records, store.Revocations(lineage));
  std::set<std::string> compromised;
  for (const RevocationRecord& record : records) {
    absl::StatusOr<acme::RevocationReason> reason = acme::RevocationReasonFromName(record.reason);
    if (reason.ok() && *reason == acme::RevocationReason::kKeyCompromise) {
      compromised.insert(record.serial);
    }
  }
  if (compromised.empty()) return std::string();
  for (int version = live_version; version >= 1; --version) {
    absl::StatusOr<LineageFiles> files = store.ReadArchiveVersion(lineage, version);
    // Incomplete or discarded (FailedPrecondition): never live. Unreadable: nothing proves
    // the key safe.
    if (!files.ok() && files.status().code() == absl::StatusCode::kFailedPrecondition) continue;
    if (!files.ok()) return files.status();
    absl::StatusOr<CertificateInfo> info = ReadCertificateInfo(files->cert_pem);
    if (!info.ok() || compromised.count(SerialText(info->serial_hex)) == 0) continue;
    ASSIGN_OR_RETURN(bool holds_key, KeyMatchesLeaf(key, files->cert_pem));
    if (holds_key) return SerialText(info->serial_hex);
  }
  return std::string();
}

// The key of the new version, made here (it never leaves this host) unless `reuse_key` asks
// for the live one. A key whose certificate was revoked for keyCompromise is never reused.
absl::StatusOr<PrivateKey> ChooseKey(const CommandContext& context, const LineageStore& store,
                                     const std::string& lineage, const RenewalConfig& config) {
  if (config.reuse_key) {
    absl::StatusOr<Secret> existing = store.ReadCurrentPrivateKeyPem(lineage);
    if (existing.ok()) {
      ASSIGN_OR_RETURN(PrivateKey reused, PrivateKey::FromPem(*existing));
      ASSIGN_OR_RETURN(std::string compromised,
                       CompromisedSerialOfKey(store, lineage, reused,
                                              store.CurrentVersion(lineage).value_or(0)));
      if (compromised.empty()) {
        context.Progress("reusing the existing private key (--reuse-key)");
        return reused;
      }
      context.Progress(absl::StrCat("not reusing the private key (--reuse-key): certificate ",
                                    compromised,
                                    " with this key was revoked for keyCompromise; a new key "
                                    "is made"));
    }
  }
  ASSIGN_OR_RETURN(PrivateKey fresh, PrivateKey::Generate(config.key));
  context.Detail(absl::StrCat("made a new ", config.key.Describe(), " key on this host"));
  return fresh;
}

// CSR for `key`, challenges solved, and the chain from the CA (through the signer, or
// directly in direct mode). With obtain.dry_run the CA validates but issues nothing.
absl::StatusOr<IssuedChain> RequestCertificate(const CommandContext& context, SignerClient& signer,
                                               const std::string& lineage,
                                               const RenewalConfig& config,
                                               const ObtainOptions& obtain, const PrivateKey& key) {
  ASSIGN_OR_RETURN(std::string csr_der, BuildCsrDer(key, config.domains));
  context.Detail(absl::StrCat(
      "CSR for ", absl::StrJoin(config.domains, ", "), " (",
      config.direct ? "direct mode: this host talks to the CA"
                    : "the signer relays the order to the CA",
      config.account.empty() ? std::string() : absl::StrCat(", account ", config.account), ")"));
  if (!config.ccs_dir.empty()) RETURN_IF_ERROR(CheckCentralStoreDir(config.ccs_dir));

  ASSIGN_OR_RETURN(std::unique_ptr<ChallengeSolver> solver,
                   MakeSolver(config, lineage, HookOptionsFor(context)));
  RelayIssueOptions options;
  options.domains = config.domains;
  options.csr_der = csr_der;
  options.replaces = obtain.replaces;
  options.preferred_chain = config.preferred_chain;
  options.account = config.account;
  options.dry_run = obtain.dry_run;
  options.progress = [&context](const std::string& line) { context.Progress(line); };
  return config.direct ? IssueDirect(signer, *solver, options, context.config.direct.ca_bundle)
                       : IssueThroughSigner(signer, *solver, options);
}

// The files of the new version: the issued chain split, the key (checked to be the
// certificate's) and, with pfx, the PKCS#12 copy.
absl::StatusOr<LineageFiles> VersionFiles(const std::string& lineage, const RenewalConfig& config,
                                          const PrivateKey& key, const IssuedChain& issued) {
  LineageFiles files;
  RETURN_IF_ERROR(SplitChain(issued.pem_chain, &files.cert_pem, &files.chain_pem));
  files.fullchain_pem = issued.pem_chain;
  ASSIGN_OR_RETURN(bool matches, KeyMatchesLeaf(key, files.cert_pem));
  if (!matches) {
    return absl::DataLossError(
        "the issued certificate does not match the key made for it; nothing was installed");
  }
  ASSIGN_OR_RETURN(files.privkey_pem, key.ToPem());
  if (config.pfx) {
    Secret password;
    if (!config.pfx_password_file.empty()) {
      ASSIGN_OR_RETURN(password, ReadSecretFile(config.pfx_password_file));
    }
    ASSIGN_OR_RETURN(
        std::string pfx,
        BuildPkcs12(key, files.cert_pem, files.chain_pem, password,
                    config.pfx_legacy ? Pkcs12Mode::kLegacy : Pkcs12Mode::kModern, lineage));
    files.pfx = std::move(pfx);
  }
  return files;
}

// Saves `files` as a new archive version, makes it live, saves the renewal settings and
// writes the --ccs-dir copies; returns the version. The CA has issued the certificate by now:
// an error says so, says what is live, and what the next run will do, rather than look like
// "nothing happened".
absl::StatusOr<int> InstallVersion(const CommandContext& context, LineageStore& store,
                                   const std::string& lineage, const RenewalConfig& config,
                                   const LineageFiles& files, const IssuedChain& issued,
                                   bool has_live_version) {
  const LineagePaths paths = store.Paths(lineage);
  const std::string issued_what =
      absl::StrCat("the CA issued certificate ", SerialText(issued.serial), " for ",
                   absl::StrJoin(config.domains, ", "));
  const std::string still_live =
      has_live_version
          ? absl::StrCat(paths.live_dir, " still holds the previous certificate and key")
          : absl::StrCat("nothing was installed in ", paths.live_dir);
  absl::StatusOr<int> written = store.WriteArchiveVersion(lineage, files);
  if (!written.ok()) {
    return absl::Status(
        written.status().code(),
        absl::StrCat(issued_what, " but it could not be saved: ", written.status().message(), ". ",
                     still_live,
                     "; the new key and certificate were discarded. Fix the cause and run "
                     "again (a new certificate will be requested)."));
  }
  const int version = *written;
  context.Detail(absl::StrCat("saved version ", version, " in ", paths.archive_dir));
  const CentralStoreCopies ccs_before = LiveCentralStoreCopies(store, lineage);
  if (absl::Status activated = store.ActivateVersion(lineage, version); !activated.ok()) {
    return absl::Status(
        activated.code(),
        absl::StrCat(issued_what, " and saved it as version ", version, " in ", paths.archive_dir,
                     ", but could not make it live: ", activated.message(), ". ", still_live,
                     "; fix the cause and run acme-agent again: it finishes "
                     "installing version ",
                     version, " without a new request."));
  }
  if (absl::Status s = store.WriteRenewalConfig(lineage, config); !s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("version ", version, " is installed in ", paths.live_dir,
                               ", but the renewal settings could not be saved: ", s.message()));
  }
  if (absl::Status s =
          UpdateCentralStore(ccs_before, {config.ccs_dir, config.domains, files.pfx.value_or("")});
      !s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("version ", version, " is installed in ", paths.live_dir,
                               ", but its --ccs-dir copies could not be written: ", s.message(),
                               "; fix the cause and run `acme-agent renew --cert-name ", lineage,
                               " --force-renewal`"));
  }
  if (!config.ccs_dir.empty()) {
    context.Detail(absl::StrCat("wrote ", config.domains.size(), " PKCS#12 copies to ",
                                config.ccs_dir, " (IIS Central Certificate Store)"));
  }
  return version;
}

// renewal-hooks/deploy/ first, then the lineage's deploy hook (certbot's order); every one
// runs even when an earlier one failed, and the first failure is reported.
absl::Status RunDeployHooks(const CommandContext& context, const std::string& lineage,
                            const std::string& live_dir, const RenewalConfig& config,
                            const ObtainOptions& obtain) {
  const HookEnv deploy_env = DeployHookEnv(lineage, live_dir, config.domains);
  absl::Status first_failure;
  for (const std::string& file : obtain.deploy_hook_files) {
    context.Progress(absl::StrCat("running deploy hook ", file));
    absl::StatusOr<HookOutput> ran =
        RunHookFile("deploy hook", file, deploy_env, HookOptionsFor(context));
    if (!ran.ok() && first_failure.ok()) first_failure = ran.status();
  }
  if (!config.deploy_hook.empty()) {
    context.Detail(absl::StrCat("running deploy-hook: ", config.deploy_hook));
    absl::StatusOr<HookOutput> deployed =
        RunHook("deploy-hook", config.deploy_hook, deploy_env, HookOptionsFor(context));
    if (!deployed.ok() && first_failure.ok()) first_failure = deployed.status();
  }
  if (!first_failure.ok()) {
    return absl::Status(first_failure.code(),
                        absl::StrCat("the new certificate is installed in ", live_dir,
                                     ", but the deploy hook failed: ", first_failure.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ObtainResult> ObtainCertificate(const CommandContext& context, SignerClient& signer,
                                               const std::string& lineage,
                                               const RenewalConfig& config,
                                               const ObtainOptions& obtain) {
  LineageStore store(context.config.config_dir, StoreOptions());
  RETURN_IF_ERROR(ValidateLineageName(lineage));
  const bool has_live_version = store.CurrentVersion(lineage).ok();

  ASSIGN_OR_RETURN(PrivateKey key, ChooseKey(context, store, lineage, config));
  ASSIGN_OR_RETURN(IssuedChain issued,
                   RequestCertificate(context, signer, lineage, config, obtain, key));
  ObtainResult result;
  result.lineage = lineage;
  result.live_dir = store.Paths(lineage).live_dir;
  if (obtain.dry_run) {
    result.dry_run = true;
    result.authorizations_deactivated = issued.authorizations_deactivated;
    return result;
  }

  ASSIGN_OR_RETURN(LineageFiles files, VersionFiles(lineage, config, key, issued));
  ASSIGN_OR_RETURN(result.version, InstallVersion(context, store, lineage, config, files, issued,
                                                  has_live_version));
  result.serial = SerialText(issued.serial);
  result.not_after = issued.not_after;
  context.Progress(
      absl::StrCat("installed version ", result.version, " of ", lineage, " in ", result.live_dir));
  RETURN_IF_ERROR(RunDeployHooks(context, lineage, result.live_dir, config, obtain));
  return result;
}

HookOptions HookOptionsFor(const CommandContext& context) {
  HookOptions options;
  options.timeout = context.config.defaults.hook_timeout;
  options.progress = [&context](const std::string& line) { context.Progress(line); };
  return options;
}

// Runs a pre/post hook once, reporting failures without stopping (as certbot does for
// post-hooks; a failed pre-hook stops the run).
absl::Status RunPrePostHook(const CommandContext& context, const std::string& which,
                            const std::string& command, const HookEnv& env) {
  if (command.empty()) return absl::OkStatus();
  context.Progress(absl::StrCat("running ", which, ": ", command));
  return RunHook(which, command, env, HookOptionsFor(context)).status();
}

}  // namespace acme_signer::agent
