// AuditReport: what `acme-signer audit report` tells an auditor, collected from the audit chain
// (and the state store where it adds something the chain does not hold), before any HTML.
//
// In the order the report shows it:
//  1. the verification of the WHOLE chain (signer/audit_chain_check.h), whatever the period:
//     intact or the first problem, records and checkpoints, the audit key id (the "key_id" the
//     checkpoints carry: hex SHA-256 of the audit key's DER SubjectPublicKeyInfo, the id
//     `audit checkpoint` prints), the last checkpoint;
//  2. certificates issued, per agent: every allowed record that carries a certificate serial
//     (GetCertificate, SignJws in direct mode, FrontDoor/issue; FinalizeOrder if it ever does),
//     once per serial; names from the record or from an earlier record of the same order;
//     not-before and revocation from the state store's inventory when it can be read;
//  3. denials, folded: one row per (agent, rpc, names, reason) with the number of refusals
//     (a record with "repeated" stands for repeated.count of them, docs/audit.md);
//  4. revocations: RevokeCertificate, SignJws revokeCert, FrontDoor/revoke-cert records, with
//     the names of the certificate when the log issued it;
//  5. agent and account changes: enrolment (Enrollment/EnrollAgent), agent certificate
//     renewals (RenewAgentCertificate), account key rollovers (AccountRollKey) and
//     deactivations (Admin/account-deactivate), front-door account creation, key change and
//     update; and, from the state store (`agents revoke`, `enroll-agent` write no audit
//     record), agent certificates issued or revoked in the period;
//  6. front-door hosts: per host, its ACME accounts, orders, certificates and refusals.
// Sections 2 to 6 cover the records whose time is in the period.
//
// A section keeps at most kMaxReportRows rows (the rest are counted, not kept), so a huge log
// makes a large report, not an unbounded one; `audit query` lists everything.
//
// Thread-safety: AuditReportBuilder is not thread-safe (one command uses it); AuditReport is a
// value type.
#ifndef ACME_SIGNER_SIGNER_AUDIT_REPORT_H_
#define ACME_SIGNER_SIGNER_AUDIT_REPORT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "signer/audit_source.h"
#include "signer/audit_verifier.h"
#include "signer/config.h"
#include "signer/state_store.h"

namespace acme_signer::signer {

inline constexpr size_t kMaxReportRows = 10000;

// The records a report covers: time in [since, until). until is exclusive (a date given to
// --until has already become the next day's 00:00 UTC). The texts are what the user gave, for
// the header ("" = open end).
struct AuditReportPeriod {
  absl::Time since = absl::InfinitePast();
  absl::Time until = absl::InfiniteFuture();
  std::string since_text;
  std::string until_text;

  bool Contains(absl::Time t) const { return t >= since && t < until; }
  bool whole_log() const { return since_text.empty() && until_text.empty(); }
};

// The report's first line.
enum class ReportVerdict { kIntact, kTamperedOrDamaged, kNotVerified };

// "intact", "TAMPERED/DAMAGED", "NOT VERIFIED".
absl::string_view ReportVerdictText(ReportVerdict verdict);

// Revocation state of an issued certificate as the inventory says.
enum class ReportRevoked { kUnknown, kNo, kYes };

struct ReportCertificate {
  std::string agent;
  std::string account;
  std::string serial;
  std::vector<std::string> names;
  std::string issued;  // the record's time (RFC 3339)
  uint64_t seq = 0;    // of that record
  std::string rpc;
  std::string not_before;  // RFC 3339, from the inventory ("" when not known)
  std::string not_after;   // RFC 3339, from the record or the inventory
  ReportRevoked revoked = ReportRevoked::kUnknown;
  std::string revoked_at;  // kYes: RFC 3339 ("" when not known)
  int revocation_reason = 0;
};

// Refusals with the same agent, rpc, names and reason.
struct ReportDenial {
  std::string agent;
  std::string rpc;
  std::vector<std::string> names;
  std::string reason;
  uint64_t count = 0;  // refusals, repeats folded into records included
  uint64_t records = 0;
  std::string first;  // RFC 3339
  std::string last;
  uint64_t first_seq = 0;
};

// One record shown as it is (revocations, changes).
struct ReportEvent {
  std::string time;
  uint64_t seq = 0;
  std::string agent;
  std::string account;
  std::string rpc;
  std::string decision;  // "allow" / "deny"
  std::vector<std::string> names;
  std::string reason;
  // What the record says about its object: serial, certificate digest, revocation reason,
  // ACME status, error; "" when nothing.
  std::string detail;
};

// An agent (mTLS) certificate from the state store, issued or revoked in the period.
struct ReportAgentCertificate {
  std::string agent;
  std::string serial;
  std::string source;  // enroll-agent | token | renewal
  std::string issued_at;
  std::string not_after;
  std::string revoked_at;  // "" when not revoked
};

struct ReportFrontDoorHost {
  std::set<std::string> accounts;  // ACME account thumbprints seen
  uint64_t orders = 0;             // allowed FrontDoor/new-order
  uint64_t certificates = 0;       // allowed FrontDoor/issue with a serial
  uint64_t refusals = 0;           // repeats included
  std::string last;                // RFC 3339 of its last record
};

// Rows of a section, at most kMaxReportRows kept.
template <typename Row>
struct ReportRows {
  std::vector<Row> rows;
  uint64_t not_shown = 0;
};

struct AuditReport {
  AuditReportPeriod period;
  std::string generated;  // RFC 3339, when the report was made
  std::string config;     // the config file
  std::string chain;      // where the chain is: the log path, or the database

  // 1. Verification of the whole chain; `verification_error` when it could not run.
  std::optional<AuditVerifyReport> verification;
  std::string verification_error;
  std::string key_id;                             // of the last verified checkpoint; "" when none
  std::optional<nlohmann::json> last_checkpoint;  // that checkpoint record

  uint64_t lines = 0;             // lines of the chain read
  uint64_t unreadable_lines = 0;  // not a JSON record (verification names the first)
  uint64_t partial_lines = 0;     // torn tails (crash) skipped
  uint64_t events_in_period = 0;

  // 2. Issued certificates by agent.
  std::map<std::string, ReportRows<ReportCertificate>> certificates;
  uint64_t certificate_count = 0;
  // Why the inventory was not joined ("" when it was).
  std::string inventory_note;

  // 3. Denials, folded, in the order of their first refusal.
  ReportRows<ReportDenial> denials;
  uint64_t refusal_count = 0;

  // 4, 5.
  ReportRows<ReportEvent> revocations;
  ReportRows<ReportEvent> changes;
  ReportRows<ReportAgentCertificate> agent_certificates;
  std::string agent_certificates_note;  // why the store's agent certificates are missing

  // 6.
  std::map<std::string, ReportFrontDoorHost> front_door_hosts;

  ReportVerdict Verdict() const;
};

// Collects a report from the chain's lines; the command feeds it (BuildAuditReport), tests
// feed it lines of their own.
class AuditReportBuilder {
 public:
  explicit AuditReportBuilder(AuditReportPeriod period);
  AuditReportBuilder(const AuditReportBuilder&) = delete;
  AuditReportBuilder& operator=(const AuditReportBuilder&) = delete;

  // One line of the chain, oldest first (ForEachAuditLine's visitor). Lines that are not a
  // record are counted and skipped: the verification reports what is wrong with them.
  void AddLine(absl::string_view line, const AuditLineOrigin& origin);

  // The verification of the whole chain, or why it could not run. Called before AddLine: the
  // lines give the key id and time of the last checkpoint it verified.
  void SetVerification(absl::StatusOr<AuditVerifyReport> verification);

  // The state store's inventory (revocation, not-before), or why it could not be read.
  void JoinInventory(const absl::StatusOr<std::vector<CertificateRecord>>& inventory);

  // The state store's agent certificates (those issued or revoked in the period are kept),
  // or why they could not be read.
  void AddAgentCertificates(const absl::StatusOr<std::vector<AgentCertificateRecord>>& certs);

  // The report; the builder is spent.
  AuditReport Finish(std::string config, std::string chain, absl::Time now);

 private:
  using DenialKey = std::tuple<std::string, std::string, std::vector<std::string>, std::string>;

  void AddCheckpoint(const nlohmann::json& record, uint64_t seq);
  void AddEvent(const nlohmann::json& record, uint64_t seq);
  void AddCertificate(const nlohmann::json& record, uint64_t seq,
                      const std::vector<std::string>& names);
  void AddDenial(const nlohmann::json& record, uint64_t seq, const std::vector<std::string>& names);
  void AddFrontDoor(const nlohmann::json& record);

  AuditReport report_;
  // Identifiers of each order seen (GetCertificate records name only the order URL). This and
  // serial_names_ grow with the orders of the log: a few hundred bytes per order.
  std::map<std::string, std::vector<std::string>> order_names_;
  // Names of each certificate issued (revocation records name only the certificate).
  std::map<std::string, std::vector<std::string>> serial_names_;
  std::set<std::string> serials_;
  std::map<DenialKey, size_t> denial_rows_;
};

// The whole report for `config` (any [state] backend): verification, every line of the chain
// through ForEachAuditLine, the state store where readable. Errors only when the chain cannot
// be read at all (ForEachAuditLine's errors); verification and state store failures are in the
// report. `public_key_der` (the audit key's SubjectPublicKeyInfo) overrides the stored key; for
// a config from AuditLogOnlyConfig (an auditor's `--log PATH`) it is the only key, and without
// it the report says NOT VERIFIED.
absl::StatusOr<AuditReport> BuildAuditReport(const SignerConfig& config,
                                             const AuditReportPeriod& period,
                                             const std::string& public_key_der = "");

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AUDIT_REPORT_H_
