#include "signer/audit_report_html.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "acme/revocation_reason.h"

namespace acme_signer::signer {
namespace {

// Print rules: a section per page, repeated table headers, unsplit rows, and the verdict's
// colours kept (browsers drop backgrounds when printing unless told).
constexpr char kStyle[] = R"css(
body { font-family: sans-serif; font-size: 10.5pt; color: #111; margin: 1.5em 2em; }
h1 { font-size: 19pt; margin: 0 0 .3em; padding: .25em .5em; }
h1.intact { color: #0b4d1d; background: #dff3e4; }
h1.bad { color: #fff; background: #a4001c; }
h1.unknown { color: #fff; background: #7a4e00; }
h2 { font-size: 14pt; border-bottom: 2px solid #333; margin: 1.2em 0 .4em; }
h3 { font-size: 11.5pt; margin: .9em 0 .3em; }
p.sub { color: #444; margin: 0 0 1em; }
table { border-collapse: collapse; width: 100%; margin: .3em 0 .8em; }
th, td { border: 1px solid #bbb; padding: 2px 5px; text-align: left; vertical-align: top; }
thead th { background: #e8e8e8; }
table.kv th { width: 14em; background: #f3f3f3; }
td.num { text-align: right; white-space: nowrap; }
td.time { white-space: nowrap; }
.mono { font-family: monospace; word-break: break-all; }
tr.unverified td { background: #fbe3e6; }
.note { background: #fff6da; border-left: 4px solid #c79100; padding: .3em .6em; }
.problem { background: #fbe3e6; border-left: 4px solid #a4001c; padding: .3em .6em; }
.empty { color: #555; font-style: italic; }
footer { margin-top: 2em; color: #555; font-size: 9pt; }
@media print {
  body { margin: 0; font-size: 9pt; }
  section.page { break-before: page; page-break-before: always; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  h1, tr.unverified td, .problem, .note { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
)css";

// "2024-05-01T12:34:56.123456Z" as "2024-05-01 12:34:56" (the page says times are UTC).
std::string ShortTime(const std::string& rfc3339) {
  if (rfc3339.size() >= 20 && rfc3339[10] == 'T' && rfc3339.back() == 'Z') {
    return absl::StrCat(rfc3339.substr(0, 10), " ", rfc3339.substr(11, 8));
  }
  return rfc3339;
}

// "4 superseded": the RFC 5280 code with its name when it has one.
std::string ReasonText(int code) {
  absl::StatusOr<acme::RevocationReason> reason = acme::RevocationReasonFromCode(code);
  if (!reason.ok()) return absl::StrCat("reason ", code);
  return absl::StrCat("reason ", code, " ", acme::RevocationReasonName(*reason));
}

std::string Td(absl::string_view text, absl::string_view cls = "") {
  if (cls.empty()) return absl::StrCat("<td>", HtmlEscape(text), "</td>");
  return absl::StrCat("<td class=\"", cls, "\">", HtmlEscape(text), "</td>");
}

std::string TimeTd(const std::string& rfc3339) { return Td(ShortTime(rfc3339), "time"); }

std::string NamesTd(const std::vector<std::string>& names) {
  return names.empty() ? Td("-") : Td(absl::StrJoin(names, ", "));
}

std::string Head(const std::vector<absl::string_view>& columns) {
  std::string out = "<thead><tr>";
  for (absl::string_view column : columns) absl::StrAppend(&out, "<th>", column, "</th>");
  absl::StrAppend(&out, "</tr></thead>\n");
  return out;
}

// Records from the first bad one on (or all of them when nothing could be verified) are
// marked: they are shown as the log holds them, and may be forged.
class Trust {
 public:
  explicit Trust(const AuditReport& report) {
    if (!report.verification.has_value()) {
      from_ = 0;
    } else if (report.verification->problem.has_value()) {
      from_ = report.verification->problem->seq;
    } else {
      // Appended after the verification ran: not covered by it.
      from_ = report.verification->last_seq + 1;
    }
  }
  bool Verified(uint64_t seq) const { return seq < from_; }
  std::string Tr(uint64_t seq) const {
    return Verified(seq) ? "<tr>" : "<tr class=\"unverified\">";
  }
  std::string SeqTd(uint64_t seq) const {
    return Td(Verified(seq) ? absl::StrCat(seq) : absl::StrCat(seq, " (unverified)"), "num");
  }

 private:
  uint64_t from_ = std::numeric_limits<uint64_t>::max();
};

std::string NotShown(uint64_t not_shown) {
  if (not_shown == 0) return "";
  return absl::StrCat("<p class=\"note\">", not_shown, " more row(s) not shown (the report keeps ",
                      kMaxReportRows,
                      " per section); list them with <span class=\"mono\">acme-signer audit "
                      "query</span>.</p>\n");
}

std::string Title(ReportVerdict verdict) {
  switch (verdict) {
    case ReportVerdict::kIntact:
      return "Audit chain intact";
    case ReportVerdict::kTamperedOrDamaged:
      return "TAMPERED/DAMAGED: the audit chain fails verification";
    case ReportVerdict::kNotVerified:
      break;
  }
  return "NOT VERIFIED: the audit chain could not be verified";
}

const char* TitleClass(ReportVerdict verdict) {
  switch (verdict) {
    case ReportVerdict::kIntact:
      return "intact";
    case ReportVerdict::kTamperedOrDamaged:
      return "bad";
    case ReportVerdict::kNotVerified:
      break;
  }
  return "unknown";
}

std::string PeriodText(const AuditReportPeriod& period) {
  if (period.whole_log()) return "the whole log";
  return absl::StrCat(period.since_text.empty() ? "the start of the log" : period.since_text,
                      " to ", period.until_text.empty() ? "the end of the log" : period.until_text);
}

void Verification(const AuditReport& report, std::string& out) {
  absl::StrAppend(&out, "<section id=\"verification\">\n<h2>1. Verification of the whole chain",
                  "</h2>\n");
  auto kv = [&](absl::string_view key, const std::string& td) {
    absl::StrAppend(&out, "<tr><th>", key, "</th>", td, "</tr>\n");
  };
  if (!report.verification.has_value()) {
    absl::StrAppend(&out, "<p class=\"problem\">The chain could not be verified: ",
                    HtmlEscape(report.verification_error),
                    "</p>\n<p>Nothing below is vouched for by the audit key.</p>\n");
  } else {
    const AuditVerifyReport& v = *report.verification;
    absl::StrAppend(&out, "<p class=\"", v.ok() ? "summary" : "problem", "\">",
                    HtmlEscape(v.Summary()), "</p>\n");
  }
  absl::StrAppend(&out, "<table class=\"kv\">\n");
  kv("Result", Td(ReportVerdictText(report.Verdict())));
  if (report.verification.has_value()) {
    const AuditVerifyReport& v = *report.verification;
    kv("Records verified", Td(absl::StrCat(v.records)));
    kv("Signed checkpoints", Td(absl::StrCat(v.checkpoints)));
    kv("Last record", Td(absl::StrCat("seq ", v.last_seq)));
    kv("Records after the last checkpoint",
       Td(absl::StrCat(v.unsigned_tail, " (chained, not yet signed)")));
    if (v.problem.has_value()) {
      const AuditProblem& p = *v.problem;
      kv("First problem",
         Td(absl::StrCat(p.file, p.line > 0 ? absl::StrCat(":", p.line) : "",
                         p.line > 0 ? absl::StrCat(" (byte offset ", p.byte_offset, ")") : "",
                         " seq ", p.seq, ": ", p.what)));
    }
    for (const std::string& note : v.notes) kv("Note", Td(note));
  }
  kv("Audit key id", report.key_id.empty() ? Td("none: no verified checkpoint")
                                           : Td(absl::StrCat(report.key_id,
                                                             " (SHA-256 of the audit key's DER "
                                                             "SubjectPublicKeyInfo)"),
                                                "mono"));
  if (report.last_checkpoint.has_value()) {
    const nlohmann::json& cp = *report.last_checkpoint;
    kv("Last checkpoint",
       Td(absl::StrCat("seq ", cp.value("seq", uint64_t{0}), " at ",
                       ShortTime(cp.value("time", "")), " UTC (", cp.value("trigger", ""),
                       "), hash ", cp.value("hash", ""))));
  } else {
    kv("Last checkpoint", Td("none verified"));
  }
  kv("Chain", Td(report.chain, "mono"));
  kv("Configuration", Td(report.config, "mono"));
  kv("Lines read for this report",
     Td(absl::StrCat(report.lines, " (", report.unreadable_lines, " not a record, ",
                     report.partial_lines, " partial line(s) of a crash skipped)")));
  absl::StrAppend(&out, "</table>\n</section>\n");
}

void Certificates(const AuditReport& report, const Trust& trust, std::string& out) {
  absl::StrAppend(&out, "<section id=\"certificates\" class=\"page\">\n",
                  "<h2>2. Certificates issued, per agent</h2>\n<p>", report.certificate_count,
                  " certificate(s) issued to ", report.certificates.size(),
                  " agent(s) or front-door host(s) in the period (one row per serial; "
                  "\"Issued\" is the time of the audit record that carries it).</p>\n");
  if (!report.inventory_note.empty()) {
    absl::StrAppend(&out, "<p class=\"note\">", HtmlEscape(report.inventory_note), "</p>\n");
  }
  if (report.certificates.empty()) {
    absl::StrAppend(&out, "<p class=\"empty\">No certificate was issued in the period.</p>\n");
  }
  for (const auto& [agent, section] : report.certificates) {
    absl::StrAppend(&out, "<h3>", HtmlEscape(agent.empty() ? "(no agent)" : agent), " (",
                    section.rows.size() + section.not_shown, ")</h3>\n<table>\n",
                    Head({"Issued (UTC)", "Serial", "Names", "Not before", "Not after", "Revoked",
                          "Account", "RPC", "Seq"}),
                    "<tbody>\n");
    for (const ReportCertificate& c : section.rows) {
      std::string revoked;
      switch (c.revoked) {
        case ReportRevoked::kYes:
          revoked = absl::StrCat("yes", c.revoked_at.empty() ? "" : " ", ShortTime(c.revoked_at),
                                 " (", ReasonText(c.revocation_reason), ")");
          break;
        case ReportRevoked::kNo:
          revoked = "no";
          break;
        case ReportRevoked::kUnknown:
          revoked = report.inventory_note.empty() ? "not in inventory" : "unknown";
          break;
      }
      absl::StrAppend(&out, trust.Tr(c.seq), TimeTd(c.issued), Td(c.serial, "mono"),
                      NamesTd(c.names), TimeTd(c.not_before), TimeTd(c.not_after), Td(revoked),
                      Td(c.account), Td(c.rpc), trust.SeqTd(c.seq), "</tr>\n");
    }
    absl::StrAppend(&out, "</tbody>\n</table>\n", NotShown(section.not_shown));
  }
  absl::StrAppend(&out, "</section>\n");
}

void Denials(const AuditReport& report, const Trust& trust, std::string& out) {
  absl::StrAppend(&out, "<section id=\"denials\" class=\"page\">\n<h2>3. Denials</h2>\n<p>",
                  report.refusal_count,
                  " refusal(s) in the period. Identical refusals are one row; \"Refusals\" "
                  "counts them, including repeats the signer folded into one record.</p>\n");
  if (report.denials.rows.empty()) {
    absl::StrAppend(&out, "<p class=\"empty\">No refusal in the period.</p>\n</section>\n");
    return;
  }
  absl::StrAppend(
      &out, "<table>\n",
      Head({"First (UTC)", "Last (UTC)", "Agent", "RPC", "Names", "Reason", "Refusals", "Seq"}),
      "<tbody>\n");
  for (const ReportDenial& d : report.denials.rows) {
    absl::StrAppend(&out, trust.Tr(d.first_seq), TimeTd(d.first), TimeTd(d.last),
                    Td(d.agent.empty() ? "-" : d.agent), Td(d.rpc), NamesTd(d.names), Td(d.reason),
                    Td(absl::StrCat(d.count), "num"), trust.SeqTd(d.first_seq), "</tr>\n");
  }
  absl::StrAppend(&out, "</tbody>\n</table>\n", NotShown(report.denials.not_shown), "</section>\n");
}

void Events(const ReportRows<ReportEvent>& events, const Trust& trust, std::string& out) {
  absl::StrAppend(&out, "<table>\n",
                  Head({"Time (UTC)", "Agent", "Account", "RPC", "Decision", "Names", "Detail",
                        "Reason", "Seq"}),
                  "<tbody>\n");
  for (const ReportEvent& e : events.rows) {
    absl::StrAppend(&out, trust.Tr(e.seq), TimeTd(e.time), Td(e.agent.empty() ? "-" : e.agent),
                    Td(e.account), Td(e.rpc), Td(e.decision), NamesTd(e.names),
                    Td(e.detail, "mono"), Td(e.reason), trust.SeqTd(e.seq), "</tr>\n");
  }
  absl::StrAppend(&out, "</tbody>\n</table>\n", NotShown(events.not_shown));
}

void Revocations(const AuditReport& report, const Trust& trust, std::string& out) {
  absl::StrAppend(&out, "<section id=\"revocations\" class=\"page\">\n<h2>4. Revocations</h2>\n",
                  "<p>Certificate revocations asked through the signer (RevokeCertificate, "
                  "SignJws revokeCert, the front door's revoke-cert), allowed or refused. An "
                  "allowed revocation has two records: the decision before the CA was asked, "
                  "and the CA's answer.</p>\n");
  if (report.revocations.rows.empty()) {
    absl::StrAppend(&out, "<p class=\"empty\">No revocation in the period.</p>\n");
  } else {
    Events(report.revocations, trust, out);
  }
  absl::StrAppend(&out, "</section>\n");
}

void Changes(const AuditReport& report, const Trust& trust, std::string& out) {
  absl::StrAppend(
      &out,
      "<section id=\"changes\" class=\"page\">\n<h2>5. Agent, account and policy changes</h2>\n",
      "<p>From the audit log: agent enrolments, agent certificate renewals, ACME account key "
      "rollovers and deactivations, front-door account creation, updates and key changes "
      "(refused attempts are under Denials), and every configuration reload, accepted or "
      "refused (Admin/reload: policy lives in the configuration; the reason ends with the "
      "file's SHA-256).</p>\n");
  if (report.changes.rows.empty()) {
    absl::StrAppend(&out, "<p class=\"empty\">No change recorded in the period.</p>\n");
  } else {
    Events(report.changes, trust, out);
  }
  absl::StrAppend(&out,
                  "<h3>Agent certificates issued or revoked in the period (state store)</h3>\n"
                  "<p><span class=\"mono\">acme-signer enroll-agent</span> and <span "
                  "class=\"mono\">acme-signer agents revoke</span> run beside the signer and "
                  "write no audit record; the state store keeps what they did.</p>\n");
  if (!report.agent_certificates_note.empty()) {
    absl::StrAppend(&out, "<p class=\"note\">", HtmlEscape(report.agent_certificates_note),
                    "</p>\n");
  } else if (report.agent_certificates.rows.empty()) {
    absl::StrAppend(&out, "<p class=\"empty\">None.</p>\n");
  } else {
    absl::StrAppend(
        &out, "<table>\n",
        Head({"Agent", "Serial", "Source", "Issued (UTC)", "Not after", "Revoked (UTC)"}),
        "<tbody>\n");
    for (const ReportAgentCertificate& c : report.agent_certificates.rows) {
      absl::StrAppend(&out, "<tr>", Td(c.agent), Td(c.serial, "mono"), Td(c.source),
                      TimeTd(c.issued_at), TimeTd(c.not_after),
                      c.revoked_at.empty() ? Td("no") : TimeTd(c.revoked_at), "</tr>\n");
    }
    absl::StrAppend(&out, "</tbody>\n</table>\n", NotShown(report.agent_certificates.not_shown));
  }
  absl::StrAppend(&out, "</section>\n");
}

void FrontDoor(const AuditReport& report, std::string& out) {
  absl::StrAppend(&out, "<section id=\"front-door\" class=\"page\">\n",
                  "<h2>6. Front-door hosts</h2>\n<p>Hosts that used the ACME front door with "
                  "their EAB credentials in the period.</p>\n");
  if (report.front_door_hosts.empty()) {
    absl::StrAppend(&out, "<p class=\"empty\">No front-door request in the period.</p>\n",
                    "</section>\n");
    return;
  }
  absl::StrAppend(&out, "<table>\n",
                  Head({"Host", "ACME accounts (key thumbprints)", "Orders", "Certificates",
                        "Refusals", "Last request (UTC)"}),
                  "<tbody>\n");
  for (const auto& [host, row] : report.front_door_hosts) {
    std::vector<std::string> accounts(row.accounts.begin(), row.accounts.end());
    absl::StrAppend(&out, "<tr>", Td(host),
                    Td(accounts.empty() ? std::string("-") : absl::StrJoin(accounts, " "), "mono"),
                    Td(absl::StrCat(row.orders), "num"), Td(absl::StrCat(row.certificates), "num"),
                    Td(absl::StrCat(row.refusals), "num"), TimeTd(row.last), "</tr>\n");
  }
  absl::StrAppend(&out, "</tbody>\n</table>\n</section>\n");
}

}  // namespace

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += "\xEF\xBF\xBD";  // U+FFFD
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string RenderAuditReportHtml(const AuditReport& report) {
  const std::string title = Title(report.Verdict());
  const char* h1_class = TitleClass(report.Verdict());
  const Trust trust(report);
  std::string out =
      absl::StrCat("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
                   // Even if a value escaped escaping, the browser would run and load nothing.
                   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                   "style-src 'unsafe-inline'\">\n",
                   "<title>", HtmlEscape(title), " - acme-signer audit report</title>\n<style>",
                   kStyle, "</style>\n</head>\n<body>\n<h1 class=\"", h1_class, "\">",
                   HtmlEscape(title), "</h1>\n", "<p class=\"sub\">acme-signer audit report for ",
                   HtmlEscape(PeriodText(report.period)), " &middot; generated ",
                   HtmlEscape(ShortTime(report.generated)), " UTC &middot; all times UTC &middot; ",
                   report.events_in_period, " event record(s) in the period</p>\n");
  if (report.verification.has_value() && report.verification->problem.has_value()) {
    absl::StrAppend(&out, "<p class=\"problem\">Records from seq ",
                    report.verification->problem->seq,
                    " on are shown as the log holds them and may be forged: their rows are "
                    "marked \"unverified\".</p>\n");
  }
  Verification(report, out);
  Certificates(report, trust, out);
  Denials(report, trust, out);
  Revocations(report, trust, out);
  Changes(report, trust, out);
  FrontDoor(report, out);
  absl::StrAppend(&out,
                  "<footer>Written by <span class=\"mono\">acme-signer audit report</span> from "
                  "the audit chain and the signer's state store. This page runs no script and "
                  "loads nothing.</footer>\n</body>\n</html>\n");
  return out;
}

}  // namespace acme_signer::signer
