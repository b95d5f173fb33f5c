// The auditor's report model (signer/audit_report.h) fed with record lines as the log holds
// them, and its HTML (signer/audit_report_html.h): grouping, folding, the period, the
// inventory join, the verdict line and escaping of request-controlled text.
#include "signer/audit_report.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "signer/audit_report_html.h"

namespace acme_signer::signer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using Json = nlohmann::json;

absl::Time At(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

// An event line as the log writes it (hash and prev are not checked by the builder).
std::string Event(uint64_t seq, const std::string& time, Json fields) {
  fields["kind"] = "event";
  fields["seq"] = seq;
  fields["time"] = time;
  return fields.dump();
}

AuditLineOrigin Origin(uint64_t line) { return AuditLineOrigin{"audit.log", line, false}; }

// A small log: issuance to two agents (one through an order whose names only FinalizeOrder
// records), a certificate fetched twice, folded denials, a revocation, an enrolment, front-door
// traffic, a checkpoint, a line that is not a record and a torn tail.
std::vector<std::string> SampleLog() {
  return {
      Event(1, "2026-01-01T10:00:00.000000Z",
            {{"agent", "web1"},
             {"rpc", "Enrollment/EnrollAgent"},
             {"decision", "allow"},
             {"reason", "token accepted"}}),
      Event(2, "2026-01-05T10:00:00.000000Z",
            {{"agent", "web1"},
             {"rpc", "FinalizeOrder"},
             {"decision", "allow"},
             {"reason", "CSR passed the agent's policy"},
             {"request",
              {{"identifiers", {"dns:web1.example.test", "dns:www.web1.example.test"}},
               {"order_url", "https://ca/order/1"}}}}),
      Event(3, "2026-01-05T10:00:01.000000Z",
            {{"agent", "web1"},
             {"rpc", "GetCertificate"},
             {"decision", "allow"},
             {"account", "default"},
             {"reason", "allowed by policy"},
             {"request", {{"order_url", "https://ca/order/1"}}},
             {"outcome",
              {{"serial", "aa01"},
               {"not_after", "2026-04-05T10:00:00.000000Z"},
               {"status", "valid"}}}}),
      // The same certificate fetched again: still one certificate.
      Event(4, "2026-01-05T10:05:00.000000Z",
            {{"agent", "web1"},
             {"rpc", "GetCertificate"},
             {"decision", "allow"},
             {"request", {{"order_url", "https://ca/order/1"}}},
             {"outcome", {{"serial", "aa01"}}}}),
      Event(5, "2026-01-06T09:00:00.000000Z",
            {{"agent", "web2"},
             {"rpc", "GetCertificate"},
             {"decision", "allow"},
             {"request",
              {{"identifiers", {"dns:web2.example.test"}}, {"order_url", "https://ca/order/2"}}},
             {"outcome", {{"serial", "bb02"}, {"not_after", "2026-04-06T09:00:00.000000Z"}}}}),
      // A fetch that failed is no certificate.
      Event(6, "2026-01-06T09:01:00.000000Z",
            {{"agent", "web2"},
             {"rpc", "GetCertificate"},
             {"decision", "allow"},
             {"outcome", {{"serial", "cc03"}, {"error", "CA unavailable"}}}}),
      Event(7, "2026-01-07T08:00:00.000000Z",
            {{"agent", "web2"},
             {"rpc", "CreateOrder"},
             {"decision", "deny"},
             {"reason", "name evil.example is not allowed for agent web2"},
             {"request", {{"identifiers", {"dns:evil.example"}}}}}),
      Event(8, "2026-01-07T08:00:09.000000Z",
            {{"agent", "web2"},
             {"rpc", "CreateOrder"},
             {"decision", "deny"},
             {"reason", "name evil.example is not allowed for agent web2"},
             {"request", {{"identifiers", {"dns:evil.example"}}}},
             {"repeated",
              {{"count", 41},
               {"first", "2026-01-07T08:00:01.000000Z"},
               {"last", "2026-01-07T08:00:05.000000Z"},
               {"folded", "identical"}}}}),
      Json{{"kind", "checkpoint"},
           {"seq", 9},
           {"time", "2026-01-07T09:00:00.000000Z"},
           {"key_id", "4b1d"},
           {"hash", "c0ffee"},
           {"trigger", "interval"}}
          .dump(),
      Event(10, "2026-01-08T12:00:00.000000Z",
            {{"agent", "web1"},
             {"rpc", "RevokeCertificate"},
             {"decision", "allow"},
             {"reason", "certificate belongs to the agent"},
             {"request", {{"certificate_sha256", "d1gest"}, {"revocation_reason", "4"}}},
             {"outcome", {{"serial", "aa01"}}}}),
      Event(11, "2026-01-09T12:00:00.000000Z",
            {{"agent", "host3"},
             {"rpc", "FrontDoor/new-order"},
             {"decision", "allow"},
             {"account_thumbprint", "thumb3"},
             {"reason", "order created"},
             {"request", {{"identifiers", {"dns:host3.example.test"}}}}}),
      Event(12, "2026-01-09T12:01:00.000000Z",
            {{"agent", "host3"},
             {"rpc", "FrontDoor/issue"},
             {"decision", "allow"},
             {"account_thumbprint", "thumb3"},
             {"reason", "certificate issued"},
             {"request", {{"identifiers", {"dns:host3.example.test"}}}},
             {"outcome", {{"serial", "dd04"}, {"not_after", "2026-04-09T12:00:00.000000Z"}}}}),
      Event(13, "2026-01-09T12:02:00.000000Z",
            {{"agent", "host3"},
             {"rpc", "FrontDoor/acct"},
             {"decision", "allow"},
             {"account_thumbprint", "thumb3"},
             {"reason", "account read"}}),
      "this is not a record",
  };
}

AuditReport BuildSample(AuditReportPeriod period = {}) {
  AuditReportBuilder builder(std::move(period));
  AuditVerifyReport verified;
  verified.records = 13;
  verified.checkpoints = 1;
  verified.last_seq = 13;
  verified.last_checkpoint_seq = 9;
  builder.SetVerification(verified);
  uint64_t n = 0;
  for (const std::string& line : SampleLog()) builder.AddLine(line, Origin(++n));
  builder.AddLine("{\"kind\":\"ev", AuditLineOrigin{"audit.log", ++n, /*partial=*/true});
  return builder.Finish("/etc/acme-signer/signer.toml", "/var/log/acme-signer/audit.log",
                        At("2026-02-01T00:00:00Z"));
}

TEST(AuditReportTest, GroupsIssuedCertificatesByAgentOncePerSerial) {
  const AuditReport report = BuildSample();
  EXPECT_EQ(report.certificate_count, 3u);
  ASSERT_EQ(report.certificates.count("web1"), 1u);
  ASSERT_EQ(report.certificates.at("web1").rows.size(), 1u);
  const ReportCertificate& web1 = report.certificates.at("web1").rows[0];
  EXPECT_EQ(web1.serial, "aa01");
  EXPECT_EQ(web1.seq, 3u);
  EXPECT_EQ(web1.issued, "2026-01-05T10:00:01.000000Z");
  EXPECT_EQ(web1.not_after, "2026-04-05T10:00:00.000000Z");
  // The names of its order, recorded by FinalizeOrder.
  EXPECT_THAT(web1.names, ElementsAre("web1.example.test", "www.web1.example.test"));
  ASSERT_EQ(report.certificates.at("web2").rows.size(), 1u);
  EXPECT_EQ(report.certificates.at("web2").rows[0].serial, "bb02");
  EXPECT_EQ(report.certificates.at("host3").rows[0].serial, "dd04");
  EXPECT_EQ(web1.revoked, ReportRevoked::kUnknown);
}

TEST(AuditReportTest, FoldsIdenticalDenialsAndCountsFoldedRepeats) {
  const AuditReport report = BuildSample();
  ASSERT_EQ(report.denials.rows.size(), 1u);
  const ReportDenial& denial = report.denials.rows[0];
  EXPECT_EQ(denial.agent, "web2");
  EXPECT_EQ(denial.rpc, "CreateOrder");
  EXPECT_THAT(denial.names, ElementsAre("evil.example"));
  EXPECT_EQ(denial.count, 42u);  // 1 + the 41 the second record stands for
  EXPECT_EQ(denial.records, 2u);
  EXPECT_EQ(denial.first, "2026-01-07T08:00:00.000000Z");
  EXPECT_EQ(denial.last, "2026-01-07T08:00:05.000000Z");
  EXPECT_EQ(report.refusal_count, 42u);
}

TEST(AuditReportTest, ListsRevocationsChangesAndFrontDoorHosts) {
  const AuditReport report = BuildSample();
  ASSERT_EQ(report.revocations.rows.size(), 1u);
  EXPECT_EQ(report.revocations.rows[0].rpc, "RevokeCertificate");
  EXPECT_THAT(report.revocations.rows[0].detail, HasSubstr("reason code 4"));
  // The record names only the certificate; its names come from its issuance.
  EXPECT_THAT(report.revocations.rows[0].names,
              ElementsAre("web1.example.test", "www.web1.example.test"));
  // The enrolment is a change; the front door's "account read" is not.
  ASSERT_EQ(report.changes.rows.size(), 1u);
  EXPECT_EQ(report.changes.rows[0].rpc, "Enrollment/EnrollAgent");
  ASSERT_EQ(report.front_door_hosts.count("host3"), 1u);
  const ReportFrontDoorHost& host3 = report.front_door_hosts.at("host3");
  EXPECT_EQ(host3.orders, 1u);
  EXPECT_EQ(host3.certificates, 1u);
  EXPECT_EQ(host3.refusals, 0u);
  EXPECT_THAT(host3.accounts, ElementsAre("thumb3"));
  EXPECT_EQ(report.front_door_hosts.size(), 1u);
}

TEST(AuditReportTest, TakesKeyIdAndLastCheckpointFromTheVerifiedCheckpoint) {
  const AuditReport report = BuildSample();
  EXPECT_EQ(report.key_id, "4b1d");
  ASSERT_TRUE(report.last_checkpoint.has_value());
  EXPECT_EQ(report.last_checkpoint->value("seq", 0), 9);
  EXPECT_EQ(report.lines, 15u);
  EXPECT_EQ(report.unreadable_lines, 1u);
  EXPECT_EQ(report.partial_lines, 1u);
  EXPECT_EQ(report.Verdict(), ReportVerdict::kIntact);
}

TEST(AuditReportTest, KeepsOnlyRecordsInThePeriodButNamesFromBeforeIt) {
  AuditReportPeriod period;
  period.since = At("2026-01-05T10:00:00.500000Z");
  period.until = At("2026-01-07T00:00:00Z");
  period.since_text = "2026-01-05T10:00:00.5Z";
  period.until_text = "2026-01-06";
  const AuditReport report = BuildSample(period);
  // aa01 (its names from seq 2, before the period) and bb02; nothing of the 7th or later.
  EXPECT_EQ(report.certificate_count, 2u);
  EXPECT_THAT(report.certificates.at("web1").rows[0].names,
              ElementsAre("web1.example.test", "www.web1.example.test"));
  EXPECT_TRUE(report.denials.rows.empty());
  EXPECT_TRUE(report.revocations.rows.empty());
  EXPECT_TRUE(report.changes.rows.empty());
  EXPECT_TRUE(report.front_door_hosts.empty());
  EXPECT_EQ(report.events_in_period, 4u);  // seq 3, 4, 5, 6
}

TEST(AuditReportTest, JoinsInventoryForRevocationAndNotBefore) {
  AuditReportBuilder builder(AuditReportPeriod{});
  uint64_t n = 0;
  for (const std::string& line : SampleLog()) builder.AddLine(line, Origin(++n));
  CertificateRecord revoked;
  revoked.serial = "aa01";
  revoked.not_before = At("2026-01-05T09:00:00Z");
  revoked.not_after = At("2026-04-05T10:00:00Z");
  revoked.revoked = true;
  revoked.revocation_reason = 4;
  revoked.revoked_at = At("2026-01-08T12:00:01Z");
  CertificateRecord valid;
  valid.serial = "bb02";
  valid.not_before = At("2026-01-06T08:00:00Z");
  valid.not_after = At("2026-04-06T09:00:00Z");
  builder.JoinInventory(std::vector<CertificateRecord>{revoked, valid});
  const AuditReport report = builder.Finish("c", "l", At("2026-02-01T00:00:00Z"));
  const ReportCertificate& web1 = report.certificates.at("web1").rows[0];
  EXPECT_EQ(web1.revoked, ReportRevoked::kYes);
  EXPECT_EQ(web1.revocation_reason, 4);
  EXPECT_EQ(web1.revoked_at, "2026-01-08T12:00:01.000000Z");
  EXPECT_EQ(web1.not_before, "2026-01-05T09:00:00.000000Z");
  EXPECT_EQ(report.certificates.at("web2").rows[0].revoked, ReportRevoked::kNo);
  // Not in the inventory: unknown, and the page says so.
  EXPECT_EQ(report.certificates.at("host3").rows[0].revoked, ReportRevoked::kUnknown);
  EXPECT_TRUE(report.inventory_note.empty());
  const std::string html = RenderAuditReportHtml(report);
  EXPECT_THAT(html, HasSubstr("not in inventory"));
  EXPECT_THAT(html, HasSubstr("yes 2026-01-08 12:00:01 (reason 4 superseded)"));
}

TEST(AuditReportTest, SaysWhenTheInventoryCouldNotBeRead) {
  AuditReportBuilder builder(AuditReportPeriod{});
  builder.JoinInventory(absl::PermissionDeniedError("state.db: permission denied"));
  builder.AddAgentCertificates(absl::PermissionDeniedError("state.db: permission denied"));
  const AuditReport report = builder.Finish("c", "l", At("2026-02-01T00:00:00Z"));
  EXPECT_THAT(report.inventory_note, HasSubstr("state.db: permission denied"));
  EXPECT_THAT(report.agent_certificates_note, HasSubstr("state.db: permission denied"));
  const std::string html = RenderAuditReportHtml(report);
  EXPECT_THAT(html, HasSubstr("inventory could not be read"));
}

TEST(AuditReportTest, KeepsAgentCertificatesIssuedOrRevokedInThePeriod) {
  AuditReportPeriod period;
  period.since = At("2026-01-01T00:00:00Z");
  period.since_text = "2026-01-01";
  AuditReportBuilder builder(period);
  AgentCertificateRecord old_one;
  old_one.agent = "web1";
  old_one.serial = "01";
  old_one.issued_at = At("2025-06-01T00:00:00Z");
  AgentCertificateRecord revoked_in_period = old_one;
  revoked_in_period.serial = "02";
  revoked_in_period.revoked = true;
  revoked_in_period.revoked_at = At("2026-01-10T00:00:00Z");
  AgentCertificateRecord new_one = old_one;
  new_one.serial = "03";
  new_one.source = "renewal";
  new_one.issued_at = At("2026-01-11T00:00:00Z");
  builder.AddAgentCertificates(
      std::vector<AgentCertificateRecord>{old_one, revoked_in_period, new_one});
  const AuditReport report = builder.Finish("c", "l", At("2026-02-01T00:00:00Z"));
  ASSERT_EQ(report.agent_certificates.rows.size(), 2u);
  EXPECT_EQ(report.agent_certificates.rows[0].serial, "02");
  EXPECT_EQ(report.agent_certificates.rows[0].revoked_at, "2026-01-10T00:00:00.000000Z");
  EXPECT_EQ(report.agent_certificates.rows[1].serial, "03");
  EXPECT_EQ(report.agent_certificates.rows[1].revoked_at, "");
}

// The first line a reader (or a browser tab) shows is the verdict.
std::string FirstLineOfBody(const std::string& html) {
  const size_t h1 = html.find("<h1");
  const size_t end = html.find("</h1>", h1);
  return html.substr(h1, end - h1);
}

TEST(AuditReportHtmlTest, PutsTheVerdictFirst) {
  AuditReport intact = BuildSample();
  std::string html = RenderAuditReportHtml(intact);
  EXPECT_THAT(html, HasSubstr("<title>Audit chain intact"));
  EXPECT_THAT(FirstLineOfBody(html), HasSubstr("Audit chain intact"));

  AuditReport tampered = BuildSample();
  tampered.verification->problem =
      AuditProblem{"audit.log", 7, 2716, 7, "hash mismatch: the record was altered"};
  html = RenderAuditReportHtml(tampered);
  EXPECT_THAT(html, HasSubstr("<title>TAMPERED/DAMAGED"));
  EXPECT_THAT(FirstLineOfBody(html), HasSubstr("TAMPERED/DAMAGED"));
  EXPECT_THAT(html, HasSubstr("audit.log:7 (byte offset 2716) seq 7: hash mismatch"));
  // Rows from the bad record on are marked.
  EXPECT_THAT(html, HasSubstr("<td class=\"num\">10 (unverified)</td>"));
  EXPECT_THAT(html, HasSubstr("<td class=\"num\">3</td>"));

  AuditReport unverified = BuildSample();
  unverified.verification.reset();
  unverified.verification_error = "the state store has no audit public key yet";
  html = RenderAuditReportHtml(unverified);
  EXPECT_THAT(FirstLineOfBody(html), HasSubstr("NOT VERIFIED"));
  EXPECT_THAT(html, HasSubstr("the state store has no audit public key yet"));
}

TEST(AuditReportHtmlTest, RequestTextStaysText) {
  const std::string evil = "</td><script>alert(1)</script><img src=\"http://x/\">&'";
  AuditReportBuilder builder(AuditReportPeriod{});
  builder.SetVerification(AuditVerifyReport{});
  builder.AddLine(Event(1, "2026-01-07T08:00:00.000000Z",
                        {{"agent", "<b>web2</b>"},
                         {"rpc", "CreateOrder"},
                         {"decision", "deny"},
                         {"reason", evil},
                         {"request", {{"identifiers", {"dns:</td><td>x.example"}}}}}),
                  Origin(1));
  const std::string html =
      RenderAuditReportHtml(builder.Finish("c", "l", At("2026-02-01T00:00:00Z")));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, Not(HasSubstr("<b>")));
  EXPECT_THAT(html, HasSubstr("&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img "
                              "src=&quot;http://x/&quot;&gt;&amp;&#39;"));
  EXPECT_THAT(html, HasSubstr("&lt;/td&gt;&lt;td&gt;x.example"));
  // One cell per column: the reason did not open or close any.
  const std::string row = html.substr(html.find("<tbody>", html.find("id=\"denials\"")));
  const std::string first_row = row.substr(0, row.find("</tr>"));
  size_t cells = 0;
  for (size_t at = first_row.find("<td"); at != std::string::npos;
       at = first_row.find("<td", at + 1)) {
    ++cells;
  }
  EXPECT_EQ(cells, 8u);
}

TEST(AuditReportHtmlTest, LoadsNothingAndRunsNothing) {
  const std::string html = RenderAuditReportHtml(BuildSample());
  EXPECT_THAT(html, StartsWith("<!DOCTYPE html>"));
  EXPECT_THAT(html, HasSubstr("default-src 'none'"));
  for (const char* banned :
       {"<script", "<link", "<img", "src=", "href=", "url(", "@import", "@font-face"}) {
    EXPECT_THAT(html, Not(HasSubstr(banned))) << banned;
  }
  EXPECT_THAT(html, HasSubstr("@media print"));
  EXPECT_THAT(html, HasSubstr("break-before: page"));
}

TEST(HtmlEscapeTest, EscapesMarkupAndReplacesControlCharacters) {
  EXPECT_EQ(HtmlEscape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
  EXPECT_EQ(HtmlEscape(std::string("x\x01y\tz", 5)), "x\xEF\xBF\xBDy\tz");
  EXPECT_EQ(HtmlEscape("caf\xC3\xA9"), "caf\xC3\xA9");
}

}  // namespace
}  // namespace acme_signer::signer
