// acme-agent revoke: revoke a certificate through the signer, like `certbot revoke`.
// The certificate is chosen by --cert-name (its live cert.pem) or --cert-path; the lineage is
// left in place (certbot would offer to delete it; here that is a separate, explicit step).
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
  } else {
    target.source = *parser.Get("cert-path");
    ASSIGN_OR_RETURN(target.pem, ReadFile(target.source));
  }
  return target;
}

}  // namespace

int RunRevoke(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-agent revoke (--cert-name NAME | --cert-path PATH) [--reason REASON]   (revokes "
      "through the signer)");
  AddCommonOptions(parser);
  parser.Value("cert-name", "NAME", "lineage whose live certificate to revoke")
      .Value("cert-path", "PATH", "certificate file (PEM) to revoke")
      .Value("reason", "REASON",
             "unspecified (default), keyCompromise, affiliationChanged, superseded, "
             "cessationOfOperation")
      .Bool("no-delete-after-revoke",
            "accepted for certbot compatibility; acme-agent never deletes on revoke");
  if (auto exit_code = ParseOrExit(parser, args, kCommand)) return *exit_code;
  CommandContext bare;
  bare.json = parser.Has("json");
  absl::StatusOr<acme::RevocationReason> reason =
      acme::RevocationReasonFromName(parser.GetOr("reason", "unspecified"));
  if (!reason.ok()) {
    Fail(&bare, kCommand,
         absl::InvalidArgumentError(absl::StrCat("--reason: ", reason.status().message())));
    return kExitUsage;
  }
  absl::StatusOr<CommandContext> context = LoadContext(parser);
  if (!context.ok()) {
    Fail(&bare, kCommand, context.status());
    return kExitUsage;
  }
  absl::StatusOr<Target> target = ChooseCertificate(parser, context->config);
  if (!target.ok()) {
    int code = Fail(&*context, kCommand, target.status());
    return target.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : code;
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
  const std::string serial = CertbotSerial(info->serial_hex);

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
  if (context->json) {
    std::cout << nlohmann::json({{"ok", true},
                                 {"serial", serial},
                                 {"reason", reason_name},
                                 {"reason_code", reason_code}})
                     .dump()
              << std::endl;
  } else {
    context->Say(absl::StrCat("revoked ", serial, " (", reason_name, ")"));
  }
  return kExitOk;
}

}  // namespace acme_signer::agent
