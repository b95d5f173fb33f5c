// acme-agent revoke: revoke a certificate through the signer, like `certbot revoke`.
// The certificate is chosen by --cert-name (its live cert.pem) or --cert-path. The lineage
// (for --cert-path: every lineage whose live certificate it is) is then either kept, with the
// revocation recorded in archive/NAME/revoked so that `certificates` shows REVOKED and the next
// `renew`/`run` replaces it at once (--no-delete-after-revoke, the default: certbot asks, this
// never does), or deleted (--delete-after-revoke). The run lock is held throughout, so a
// renewal cannot slip in between the revocation and its record.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "acme/revocation_reason.h"
#include "agent/certificate_info.h"
#include "agent/command_support.h"
#include "agent/commands.h"
#include "agent/lineage.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/x509.h"

namespace acme_signer::agent {
namespace {

constexpr char kCommand[] = "revoke";

struct Target {
  std::string source;  // what the user named, for messages
  std::string pem;
  std::vector<std::string> lineages;  // lineages whose live certificate this is
};

absl::StatusOr<Target> ChooseCertificate(const ArgParser& parser, const AgentConfig& config) {
  const bool by_name = parser.Has("cert-name"), by_path = parser.Has("cert-path");
  if (by_name == by_path) {
    return absl::InvalidArgumentError(
        "give exactly one of --cert-name NAME or --cert-path PATH (see `acme-agent "
        "certificates`)");
  }
  Target target;
  if (by_name) {
    const std::string name = *parser.Get("cert-name");
    RETURN_IF_ERROR(ValidateLineageName(name));
    target.source = absl::StrCat("certificate ", name);
    absl::StatusOr<std::string> pem =
        LineageStore(config.config_dir).ReadCurrentCertificatePem(name);
    if (pem.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat("no certificate named ", name, " in ",
                                              config.config_dir, " (", pem.status().message(),
                                              "); see `acme-agent certificates`"));
    }
    if (!pem.ok()) return pem.status();
    target.pem = *std::move(pem);
    target.lineages.push_back(name);
  } else {
    target.source = *parser.Get("cert-path");
    ASSIGN_OR_RETURN(target.pem, ReadFile(target.source));
    // The file may be a copy of a lineage's live certificate (certbot finds it the same way).
    absl::StatusOr<CertificateInfo> info = ReadCertificateInfo(target.pem);
    absl::StatusOr<std::vector<LineageInfo>> lineages = LineageStore(config.config_dir).List();
    if (info.ok() && lineages.ok()) {
      for (const LineageInfo& lineage : *lineages) {
        if (lineage.status.ok() &&
            SerialText(lineage.certificate.serial_hex) == SerialText(info->serial_hex)) {
          target.lineages.push_back(lineage.name);
        }
      }
    }
  }
  return target;
}

// After a successful revocation: delete each lineage of `target`, or record the revocation in
// it. Returns one line per lineage saying what was done.
absl::StatusOr<std::vector<std::string>> UpdateLineages(const AgentConfig& config,
                                                        const Target& target,
                                                        const CertificateInfo& info,
                                                        absl::string_view reason, bool remove) {
  LineageStore store(config.config_dir);
  std::vector<std::string> done;
  for (const std::string& name : target.lineages) {
    if (remove) {
      RETURN_IF_ERROR(store.Delete(name));
      done.push_back(absl::StrCat("deleted certificate ", name, " (live/", name, ", archive/", name,
                                  ", renewal/", name, ".conf)"));
    } else {
      RETURN_IF_ERROR(
          store.RecordRevocation(name, {info.serial_hex, absl::Now(), std::string(reason)}));
      done.push_back(absl::StrCat("certificate ", name,
                                  " kept and marked REVOKED; the next `acme-agent renew` "
                                  "replaces it (--delete-after-revoke deletes it instead)"));
    }
  }
  return done;
}

}  // namespace

int RunRevoke(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-agent revoke (--cert-name NAME | --cert-path PATH) [--reason REASON] "
      "[--delete-after-revoke | --no-delete-after-revoke]   (revokes through the signer)");
  AddCommonOptions(parser);
  parser.Value("cert-name", "NAME", "lineage whose live certificate to revoke")
      .Value("cert-path", "PATH", "certificate file (PEM) to revoke")
      .Value("reason", "REASON",
             "unspecified (default), keyCompromise, affiliationChanged, superseded, "
             "cessationOfOperation")
      .Bool("delete-after-revoke",
            "then delete the lineage (live/, archive/ with its keys, renewal/NAME.conf)")
      .Bool("no-delete-after-revoke",
            "then keep the lineage, marked REVOKED, for `renew` to replace (the default)");
  if (auto exit_code = ParseOrExit(parser, args, kCommand)) return *exit_code;
  absl::StatusOr<acme::RevocationReason> reason =
      acme::RevocationReasonFromName(parser.GetOr("reason", "unspecified"));
  if (!reason.ok()) {
    return UsageError(kCommand, absl::InvalidArgumentError(
                                    absl::StrCat("--reason: ", reason.status().message())));
  }
  if (parser.Has("delete-after-revoke") && parser.Has("no-delete-after-revoke")) {
    return UsageError(
        kCommand, absl::InvalidArgumentError(
                      "give at most one of --delete-after-revoke and --no-delete-after-revoke"));
  }
  const bool remove = parser.Has("delete-after-revoke");
  absl::StatusOr<CommandContext> context = LoadContext(parser);
  if (!context.ok()) return UsageError(kCommand, context.status());
  absl::StatusOr<Target> target = ChooseCertificate(parser, context->config);
  if (!target.ok()) {
    if (absl::IsInvalidArgument(target.status())) return UsageError(kCommand, target.status());
    return Fail(&*context, kCommand, target.status());
  }
  absl::StatusOr<CertificateInfo> info = ReadCertificateInfo(target->pem);
  absl::StatusOr<std::string> der = CertificatePemToDer(target->pem);
  if (!der.ok()) {
    return Fail(&*context, kCommand,
                WithMessage(der.status(),
                            absl::StrCat(target->source,
                                         " holds no PEM certificate: ", der.status().message())));
  }
  if (!info.ok()) return Fail(&*context, kCommand, info.status());
  const std::string serial = SerialText(info->serial_hex);

  std::unique_ptr<RunLock> lock;
  if (!target->lineages.empty()) {
    absl::StatusOr<std::unique_ptr<RunLock>> acquired =
        RunLock::Acquire(context->config.config_dir);
    if (!acquired.ok()) return Fail(&*context, kCommand, acquired.status());
    lock = *std::move(acquired);
  }

  absl::StatusOr<std::unique_ptr<SignerClient>> signer = ConnectToSigner(context->config);
  if (!signer.ok()) return Fail(&*context, kCommand, signer.status());
  const absl::string_view reason_name = acme::RevocationReasonName(*reason);
  const int reason_code = static_cast<int>(*reason);
  context->Progress(absl::StrCat("Revoking ", serial, " (", reason_name, ") via ",
                                 context->config.signer.address));
  if (absl::Status s = (*signer)->RevokeCertificate(*der, reason_code); !s.ok()) {
    return Fail(&*context, kCommand,
                WithMessage(s, absl::StrCat("could not revoke ", target->source, " (serial ",
                                            serial, "): ", s.message())));
  }
  absl::StatusOr<std::vector<std::string>> updated =
      UpdateLineages(context->config, *target, *info, reason_name, remove);
  if (!updated.ok()) {
    return Fail(
        &*context, kCommand,
        WithMessage(updated.status(), absl::StrCat("revoked ", serial, ", but could not ",
                                                   remove ? "delete" : "record it in",
                                                   " the lineage: ", updated.status().message(),
                                                   remove ? ""
                                                          : "; `acme-agent renew --cert-name NAME "
                                                            "--force-renewal` replaces it")));
  }
  if (context->json) {
    PrintJsonResult(kCommand, {{"serial", serial},
                               {"reason", reason_name},
                               {"reason_code", reason_code},
                               {"lineages", target->lineages},
                               {"deleted", remove && !target->lineages.empty()}});
  } else {
    context->Say(absl::StrCat("revoked ", serial, " (", reason_name, ")"));
    for (const std::string& line : *updated) context->Say(line);
  }
  return kExitOk;
}

}  // namespace acme_signer::agent
