#include "agent/obtain.h"

#include <openssl/pem.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  SslUniquePtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) return absl::DataLossError("the issued certificate does not parse");
  return key.MatchesCertificate(cert.get());
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChallengeSolver>> MakeSolver(const RenewalConfig& config,
                                                            const std::string& lineage,
                                                            absl::Duration hook_timeout) {
  switch (config.authenticator) {
    case Authenticator::kStandalone:
      return std::unique_ptr<ChallengeSolver>(
          new StandaloneSolver(config.http01_address, config.http01_port));
    case Authenticator::kWebroot:
      return std::unique_ptr<ChallengeSolver>(new WebrootSolver(config.webroot_path));
    case Authenticator::kManual:
      return std::unique_ptr<ChallengeSolver>(
          new HookSolver(config.preferred_challenges, lineage, config.manual_auth_hook,
                         config.manual_cleanup_hook, hook_timeout));
  }
  return absl::InvalidArgumentError("unknown authenticator");
}

absl::StatusOr<ObtainResult> ObtainCertificate(const CommandContext& context,
                                               SignerClient& signer, const std::string& lineage,
                                               const RenewalConfig& config,
                                               const std::string& replaces) {
  LineageStore store(context.config.config_dir);
  RETURN_IF_ERROR(ValidateLineageName(lineage));

  // The certificate key is made here and never leaves this host.
  std::optional<PrivateKey> key;
  if (config.reuse_key) {
    absl::StatusOr<Secret> existing = store.ReadCurrentPrivateKeyPem(lineage);
    if (existing.ok()) {
      ASSIGN_OR_RETURN(PrivateKey reused, PrivateKey::FromPem(*existing));
      key.emplace(std::move(reused));
      context.Progress("reusing the existing private key (--reuse-key)");
    }
  }
  if (!key.has_value()) {
    ASSIGN_OR_RETURN(PrivateKey fresh, PrivateKey::Generate(config.key));
    key.emplace(std::move(fresh));
  }
  ASSIGN_OR_RETURN(std::string csr_der, BuildCsrDer(*key, config.domains));

  ASSIGN_OR_RETURN(std::unique_ptr<ChallengeSolver> solver,
                   MakeSolver(config, lineage, context.config.defaults.hook_timeout));
  RelayIssueOptions options;
  options.domains = config.domains;
  options.csr_der = csr_der;
  options.replaces = replaces;
  options.preferred_chain = config.preferred_chain;
  options.progress = [&context](const std::string& line) { context.Progress(line); };
  ASSIGN_OR_RETURN(IssuedChain issued,
                   config.direct
                       ? IssueDirect(signer, *solver, options, context.config.direct.ca_bundle)
                       : IssueThroughSigner(signer, *solver, options));

  LineageFiles files;
  RETURN_IF_ERROR(SplitChain(issued.pem_chain, &files.cert_pem, &files.chain_pem));
  files.fullchain_pem = issued.pem_chain;
  ASSIGN_OR_RETURN(bool matches, KeyMatchesLeaf(*key, files.cert_pem));
  if (!matches) {
    return absl::DataLossError(
        "the issued certificate does not match the key made for it; nothing was installed");
  }
  ASSIGN_OR_RETURN(files.privkey_pem, key->ToPem());
  if (config.pfx) {
    Secret password;
    if (!config.pfx_password_file.empty()) {
      ASSIGN_OR_RETURN(password, ReadSecretFile(config.pfx_password_file));
    }
    ASSIGN_OR_RETURN(std::string pfx,
                     BuildPkcs12(*key, files.cert_pem, files.chain_pem, password,
                                 config.pfx_legacy ? Pkcs12Mode::kLegacy : Pkcs12Mode::kModern,
                                 lineage));
    files.pfx = std::move(pfx);
  }
  ASSIGN_OR_RETURN(int version, store.InstallNewVersion(lineage, files));
  RETURN_IF_ERROR(store.WriteRenewalConfig(lineage, config));

  ObtainResult result;
  result.lineage = lineage;
  result.version = version;
  result.serial = issued.serial;
  result.not_after = issued.not_after;
  result.live_dir = store.Paths(lineage).live_dir;
  context.Progress(absl::StrCat("installed version ", version, " of ", lineage, " in ",
                                result.live_dir));
  if (!config.deploy_hook.empty()) {
    HookOptions hook_options;
    hook_options.timeout = context.config.defaults.hook_timeout;
    absl::StatusOr<HookOutput> deployed =
        RunHook("deploy-hook", config.deploy_hook,
                DeployHookEnv(lineage, result.live_dir, config.domains), hook_options);
    if (!deployed.ok()) {
      return absl::Status(deployed.status().code(),
                          absl::StrCat("the new certificate is installed in ", result.live_dir,
                                       ", but the deploy hook failed: ",
                                       deployed.status().message()));
    }
  }
  return result;
}

// Runs a pre/post hook once, reporting failures without stopping (as certbot does for
// post-hooks; a failed pre-hook stops the run).
absl::Status RunPrePostHook(const CommandContext& context, const std::string& which,
                            const std::string& command, const HookEnv& env) {
  if (command.empty()) return absl::OkStatus();
  HookOptions options;
  options.timeout = context.config.defaults.hook_timeout;
  context.Progress(absl::StrCat("running ", which, ": ", command));
  return RunHook(which, command, env, options).status();
}

}  // namespace acme_signer::agent
