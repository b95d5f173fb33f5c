// The auditor's report (signer/audit_report.h) as ONE self-contained HTML page, to read in any
// browser or print to PDF: inline CSS only (with print rules: each section starts a page,
// table headers repeat, rows are not split), no script, nothing that loads (no fonts, images,
// links to fetch; a Content-Security-Policy of default-src 'none' says so to the browser too).
//
// The page's first line (<title> and <h1>) is the verdict: "Audit chain intact",
// "TAMPERED/DAMAGED: ..." or "NOT VERIFIED: ...". Every text taken from the log or the store is
// HTML-escaped: names, reasons and agent names come from requests, and a reason holding
// "<script>" or "</td>" stays text.
//
// Thread-safety: pure functions.
#ifndef ACME_SIGNER_SIGNER_AUDIT_REPORT_HTML_H_
#define ACME_SIGNER_SIGNER_AUDIT_REPORT_HTML_H_

#include <string>

#include "absl/strings/string_view.h"
#include "signer/audit_report.h"

namespace acme_signer::signer {

// `text` with & < > " ' as character references and C0 control characters other than tab and
// newline as U+FFFD, safe inside element content and quoted attribute values.
std::string HtmlEscape(absl::string_view text);

// The whole document, UTF-8.
std::string RenderAuditReportHtml(const AuditReport& report);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AUDIT_REPORT_HTML_H_
