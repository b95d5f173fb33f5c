// acme-signer audit report --config F [--since T] [--until T] --out FILE.html: the auditor's
// report (signer/audit_report.h) as one self-contained HTML file (signer/audit_report_html.h),
// written atomically with mode 0640 (readable by the auditor group that owns the directory).
//
// Exit status: 0 when the chain verified intact, 3 (as `audit verify`) when the report says
// TAMPERED/DAMAGED, 1 when the chain could not be verified (the report is written and says
// NOT VERIFIED and why) or nothing could be written, 2 for bad usage.
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/cli.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "signer/audit_report.h"
#include "signer/audit_report_html.h"
#include "signer/audit_query.h"
#include "signer/audit_source.h"
#include "signer/audit_verifier.h"
#include "signer/commands.h"
#include "signer/config.h"

namespace acme_signer::signer {
namespace {

constexpr mode_t kReportMode = 0640;

// --since/--until read as `audit query` reads them (signer/audit_query.h).
absl::StatusOr<AuditReportPeriod> PeriodFlags(const ArgParser& parser) {
  AuditReportPeriod period;
  if (std::optional<std::string> since = parser.Get("since")) {
    ASSIGN_OR_RETURN(period.since, ParseQuerySince(*since));
    period.since_text = *since;
  }
  if (std::optional<std::string> until = parser.Get("until")) {
    ASSIGN_OR_RETURN(period.until, ParseQueryUntil(*until));
    period.until_text = *until;
  }
  if (period.since >= period.until) {
    return absl::InvalidArgumentError(absl::StrCat("--since ", period.since_text,
                                                   " is not before --until ", period.until_text,
                                                   ": the period holds no time"));
  }
  return period;
}

}  // namespace

int RunAuditReport(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-signer audit report (--config FILE | --log PATH --public-key PEM) [--since T] "
      "[--until T] --out FILE.html");
  parser
      .Value("config", "FILE",
             "signer configuration: the audit chain (log files or database) and state store")
      .Value("log", "PATH",
             "instead of --config: the audit log's first file (an auditor's way in; no "
             "inventory join)")
      .Value("public-key", "PEM",
             "the audit key's public key (PEM or DER): required with --log, optional with "
             "--config (overrides the stored key)")
      .Value("since", "T",
             "only records at or after T (RFC 3339, or YYYY-MM-DD = that day 00:00 UTC); the "
             "verification always covers the whole chain")
      .Value("until", "T",
             "only records up to T (RFC 3339 inclusive, or YYYY-MM-DD = to the end of that day)")
      .Value("out", "FILE.html", "where to write the report (atomically, mode 0640)")
      .Required("out");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer audit report: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  if (parser.Has("config") == parser.Has("log")) {
    std::cerr << "acme-signer audit report: " << AuditSourceFromFlags(parser).status().message()
              << "\n";
    return kExitUsage;
  }
  absl::StatusOr<AuditReportPeriod> period = PeriodFlags(parser);
  if (!period.ok()) {
    std::cerr << "acme-signer audit report: " << period.status().message() << "\n";
    return kExitUsage;
  }
  const std::string out = *parser.Get("out");
  absl::StatusOr<AuditReport> report = [&]() -> absl::StatusOr<AuditReport> {
    ASSIGN_OR_RETURN(SignerConfig config, AuditSourceFromFlags(parser));
    std::string key_der;
    if (parser.Has("public-key")) {
      ASSIGN_OR_RETURN(std::string pem, ReadFile(*parser.Get("public-key")));
      ASSIGN_OR_RETURN(key_der, AuditPublicKeyDer(pem));
    }
    return BuildAuditReport(config, *period, key_der);
  }();
  if (!report.ok()) {
    std::cerr << "acme-signer audit report: " << report.status().message() << "\n";
    return kExitFailure;
  }
  if (absl::Status s = WriteFileAtomically(out, RenderAuditReportHtml(*report), kReportMode);
      !s.ok()) {
    std::cerr << "acme-signer audit report: " << s.message() << "\n";
    return kExitFailure;
  }
  const ReportVerdict verdict = report->Verdict();
  std::cout << "wrote " << out << ": audit chain " << ReportVerdictText(verdict);
  if (report->verification.has_value()) {
    std::cout << " (" << report->verification->Summary() << ")";
  } else {
    std::cout << " (" << report->verification_error << ")";
  }
  std::cout << "\n";
  switch (verdict) {
    case ReportVerdict::kIntact:
      return kExitOk;
    case ReportVerdict::kTamperedOrDamaged:
      return kExitAuditBad;
    case ReportVerdict::kNotVerified:
      break;
  }
  return kExitFailure;
}

}  // namespace acme_signer::signer
