#include "signer/audit_report.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "signer/audit_chain_check.h"
#include "signer/audit_record.h"
#include "signer/audit_source.h"
#include "signer/identifier_text.h"
#include "signer/reload_audit.h"
#include "signer/runtime.h"

namespace acme_signer::signer {
namespace {

using Json = nlohmann::json;

// RPC names as the signer writes them (signer/signer_service.cc, enrollment_service.h,
// account_rollover.cc, cmd_account_deactivate.cc, frontdoor/acme_server.cc).
constexpr absl::string_view kGetCertificate = "GetCertificate";
constexpr absl::string_view kFinalizeOrder = "FinalizeOrder";
constexpr absl::string_view kSignJws = "SignJws";
constexpr absl::string_view kRevokeCertificate = "RevokeCertificate";
constexpr absl::string_view kEnrollAgent = "Enrollment/EnrollAgent";
constexpr absl::string_view kRenewAgentCertificate = "RenewAgentCertificate";
constexpr absl::string_view kAccountRollKey = "AccountRollKey";
constexpr absl::string_view kAccountDeactivate = "Admin/account-deactivate";
constexpr absl::string_view kFrontDoorPrefix = "FrontDoor/";
constexpr absl::string_view kFrontDoorIssue = "FrontDoor/issue";
constexpr absl::string_view kFrontDoorNewOrder = "FrontDoor/new-order";
constexpr absl::string_view kFrontDoorRevoke = "FrontDoor/revoke-cert";
constexpr absl::string_view kFrontDoorNewAccount = "FrontDoor/new-account";
constexpr absl::string_view kFrontDoorAccount = "FrontDoor/acct";
constexpr absl::string_view kFrontDoorKeyChange = "FrontDoor/key-change";
// The front door's allowed account requests that change nothing (reasons it writes,
// frontdoor/acme_server.cc): left out of the changes.
constexpr absl::string_view kAccountRead = "account read";
constexpr absl::string_view kExistingAccount = "existing account returned";

std::string Text(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

uint64_t Number(const Json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  return it != object.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

const Json& Member(const Json& object, const char* key) {
  static const Json* const kNull = new Json();
  if (!object.is_object()) return *kNull;
  auto it = object.find(key);
  return it != object.end() ? *it : *kNull;
}

std::optional<absl::Time> ParseRecordTime(const std::string& text) {
  absl::Time t;
  std::string err;
  if (text.empty() || !absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return std::nullopt;
  return t;
}

// The record's identifiers as shown: a DNS name as the name alone, another type as
// "type:value", the "(N more identifiers not recorded)" entry as it is.
std::vector<std::string> Names(const Json& record) {
  std::vector<std::string> names;
  const Json& identifiers = Member(Member(record, "request"), "identifiers");
  if (!identifiers.is_array()) return names;
  for (const Json& identifier : identifiers) {
    if (!identifier.is_string()) continue;
    std::string text = identifier.get<std::string>();
    absl::StatusOr<Identifier> parsed = ParseIdentifierText(text);
    names.push_back(parsed.ok() && parsed->type == "dns" ? parsed->value : std::move(text));
  }
  return names;
}

bool IsRevocation(const Json& record, absl::string_view rpc) {
  if (rpc == kRevokeCertificate || rpc == kFrontDoorRevoke) return true;
  if (rpc != kSignJws) return false;
  const Json& request = Member(record, "request");
  return !Text(request, "revocation_reason").empty() ||
         !Text(request, "certificate_sha256").empty() ||
         absl::StrContains(Text(record, "reason"), "revokeCert");
}

// Records of an issued certificate: allowed, with a serial, without an error.
bool IsIssuance(const Json& record, absl::string_view rpc) {
  if (rpc != kGetCertificate && rpc != kFinalizeOrder && rpc != kSignJws &&
      rpc != kFrontDoorIssue) {
    return false;
  }
  const Json& outcome = Member(record, "outcome");
  return Text(record, "decision") == "allow" && !Text(outcome, "serial").empty() &&
         Text(outcome, "error").empty();
}

// Agent, account and policy changes: what took effect (refusals are under the denials), and
// every step of an administrator's account command and every reload (rare, and each matters:
// policy lives in the config a reload loads).
bool IsChange(const Json& record, absl::string_view rpc) {
  const bool allowed = Text(record, "decision") == "allow";
  if (rpc == kAccountRollKey || rpc == kAccountDeactivate || rpc == kReloadAuditRpc) return true;
  if (rpc == kEnrollAgent || rpc == kRenewAgentCertificate || rpc == kFrontDoorKeyChange) {
    return allowed;
  }
  const std::string reason = Text(record, "reason");
  if (rpc == kFrontDoorNewAccount) return allowed && reason != kExistingAccount;
  if (rpc == kFrontDoorAccount) return allowed && reason != kAccountRead;
  return false;
}

std::string Detail(const Json& record) {
  const Json& request = Member(record, "request");
  const Json& outcome = Member(record, "outcome");
  std::vector<std::string> parts;
  if (std::string s = Text(outcome, "serial"); !s.empty()) parts.push_back("serial " + s);
  if (std::string s = Text(request, "certificate_sha256"); !s.empty()) {
    parts.push_back("certificate sha256 " + s);
  }
  if (std::string s = Text(outcome, "certificate_sha256"); !s.empty()) {
    parts.push_back("new certificate sha256 " + s);
  }
  if (std::string s = Text(request, "revocation_reason"); !s.empty()) {
    parts.push_back("reason code " + s);
  }
  if (std::string s = Text(outcome, "status"); !s.empty()) parts.push_back("status " + s);
  if (std::string s = Text(outcome, "error"); !s.empty()) parts.push_back("error: " + s);
  std::string out;
  for (const std::string& part : parts) {
    if (!out.empty()) out += "; ";
    out += part;
  }
  return out;
}

ReportEvent EventOf(const Json& record, uint64_t seq, std::vector<std::string> names) {
  ReportEvent event;
  event.time = Text(record, "time");
  event.seq = seq;
  event.agent = Text(record, "agent");
  event.account = Text(record, "account");
  event.rpc = Text(record, "rpc");
  event.decision = Text(record, "decision");
  event.names = std::move(names);
  event.reason = Text(record, "reason");
  event.detail = Detail(record);
  return event;
}

template <typename Row>
void Keep(ReportRows<Row>& section, Row row) {
  if (section.rows.size() >= kMaxReportRows) {
    ++section.not_shown;
    return;
  }
  section.rows.push_back(std::move(row));
}

}  // namespace

absl::string_view ReportVerdictText(ReportVerdict verdict) {
  switch (verdict) {
    case ReportVerdict::kIntact:
      return "intact";
    case ReportVerdict::kTamperedOrDamaged:
      return "TAMPERED/DAMAGED";
    case ReportVerdict::kNotVerified:
      return "NOT VERIFIED";
  }
  return "NOT VERIFIED";
}

ReportVerdict AuditReport::Verdict() const {
  if (!verification.has_value()) return ReportVerdict::kNotVerified;
  return verification->ok() ? ReportVerdict::kIntact : ReportVerdict::kTamperedOrDamaged;
}

AuditReportBuilder::AuditReportBuilder(AuditReportPeriod period) {
  report_.period = std::move(period);
}

void AuditReportBuilder::AddLine(absl::string_view line, const AuditLineOrigin& origin) {
  ++report_.lines;
  if (origin.partial) {
    ++report_.partial_lines;
    return;
  }
  Json record = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!record.is_object()) {
    ++report_.unreadable_lines;
    return;
  }
  const uint64_t seq = Number(record, "seq");
  const std::string kind = Text(record, "kind");
  if (kind == kAuditKindCheckpoint) {
    AddCheckpoint(record, seq);
    return;
  }
  if (kind != kAuditKindEvent) {
    ++report_.unreadable_lines;
    return;
  }
  AddEvent(record, seq);
}

void AuditReportBuilder::AddCheckpoint(const Json& record, uint64_t seq) {
  // The key id and last checkpoint as verified: a checkpoint after the first problem proves
  // nothing, so it is not shown as the chain's.
  if (report_.verification.has_value() && seq > 0 &&
      seq == report_.verification->last_checkpoint_seq) {
    report_.key_id = Text(record, "key_id");
    report_.last_checkpoint = record;
  }
}

void AuditReportBuilder::AddEvent(const Json& record, uint64_t seq) {
  const std::string rpc = Text(record, "rpc");
  std::vector<std::string> names = Names(record);
  // Remembered whatever the period: a certificate fetched in the period may belong to an
  // order made before it.
  const std::string order_url = Text(Member(record, "request"), "order_url");
  if (!order_url.empty() && !names.empty()) order_names_.emplace(order_url, names);
  if (names.empty() && !order_url.empty()) {
    auto it = order_names_.find(order_url);
    if (it != order_names_.end()) names = it->second;
  }
  const bool revocation = IsRevocation(record, rpc);
  const std::string serial = Text(Member(record, "outcome"), "serial");
  if (!revocation && IsIssuance(record, rpc) && !names.empty()) {
    serial_names_.emplace(serial, names);
  }
  if (revocation && names.empty() && !serial.empty()) {
    auto it = serial_names_.find(serial);
    if (it != serial_names_.end()) names = it->second;
  }

  const std::optional<absl::Time> time = ParseRecordTime(Text(record, "time"));
  if (time.has_value() ? !report_.period.Contains(*time) : !report_.period.whole_log()) return;
  ++report_.events_in_period;

  if (revocation) Keep(report_.revocations, EventOf(record, seq, names));
  if (!revocation && IsIssuance(record, rpc)) AddCertificate(record, seq, names);
  if (Text(record, "decision") == "deny") AddDenial(record, seq, names);
  if (IsChange(record, rpc)) Keep(report_.changes, EventOf(record, seq, names));
  if (absl::StartsWith(rpc, kFrontDoorPrefix) || !Text(record, "account_thumbprint").empty()) {
    AddFrontDoor(record);
  }
}

void AuditReportBuilder::AddCertificate(const Json& record, uint64_t seq,
                                        const std::vector<std::string>& names) {
  const Json& outcome = Member(record, "outcome");
  const std::string serial = Text(outcome, "serial");
  // The same certificate downloaded again (a retried GetCertificate) is one certificate.
  if (!serials_.insert(serial).second) return;
  ++report_.certificate_count;
  ReportCertificate cert;
  cert.agent = Text(record, "agent");
  cert.account = Text(record, "account");
  cert.serial = serial;
  cert.names = names;
  cert.issued = Text(record, "time");
  cert.seq = seq;
  cert.rpc = Text(record, "rpc");
  cert.not_after = Text(outcome, "not_after");
  ReportRows<ReportCertificate>& section = report_.certificates[cert.agent];
  Keep(section, std::move(cert));
}

void AuditReportBuilder::AddDenial(const Json& record, uint64_t seq,
                                   const std::vector<std::string>& names) {
  const Json& repeated = Member(record, "repeated");
  const uint64_t count = std::max<uint64_t>(Number(repeated, "count"), 1);
  std::string first = Text(repeated, "first");
  std::string last = Text(repeated, "last");
  if (first.empty()) first = Text(record, "time");
  if (last.empty()) last = Text(record, "time");
  report_.refusal_count += count;

  DenialKey key{Text(record, "agent"), Text(record, "rpc"), names, Text(record, "reason")};
  auto it = denial_rows_.find(key);
  if (it == denial_rows_.end()) {
    if (report_.denials.rows.size() >= kMaxReportRows) {
      ++report_.denials.not_shown;
      return;
    }
    ReportDenial row;
    std::tie(row.agent, row.rpc, row.names, row.reason) = key;
    row.first = first;
    row.first_seq = seq;
    it = denial_rows_.emplace(std::move(key), report_.denials.rows.size()).first;
    report_.denials.rows.push_back(std::move(row));
  }
  ReportDenial& row = report_.denials.rows[it->second];
  row.count += count;
  ++row.records;
  row.last = last;
}

void AuditReportBuilder::AddFrontDoor(const Json& record) {
  std::string host = Text(record, "agent");
  // Refusals of requests that carried no verifiable account have no host.
  if (host.empty()) host = "(no account)";
  ReportFrontDoorHost& row = report_.front_door_hosts[host];
  if (std::string thumbprint = Text(record, "account_thumbprint"); !thumbprint.empty()) {
    row.accounts.insert(std::move(thumbprint));
  }
  const std::string rpc = Text(record, "rpc");
  const bool allowed = Text(record, "decision") == "allow";
  if (allowed && rpc == kFrontDoorNewOrder) ++row.orders;
  if (allowed && rpc == kFrontDoorIssue && IsIssuance(record, rpc)) ++row.certificates;
  if (!allowed) row.refusals += std::max<uint64_t>(Number(Member(record, "repeated"), "count"), 1);
  row.last = Text(record, "time");
}

void AuditReportBuilder::SetVerification(absl::StatusOr<AuditVerifyReport> verification) {
  if (verification.ok()) {
    report_.verification = *std::move(verification);
    report_.verification_error.clear();
  } else {
    report_.verification.reset();
    report_.verification_error = std::string(verification.status().message());
  }
}

void AuditReportBuilder::JoinInventory(
    const absl::StatusOr<std::vector<CertificateRecord>>& inventory) {
  if (!inventory.ok()) {
    report_.inventory_note = absl::StrCat(
        "The state store's inventory could not be read, so not-before dates and revocation "
        "are not known: ",
        inventory.status().message());
    return;
  }
  std::map<std::string, const CertificateRecord*> by_serial;
  for (const CertificateRecord& c : *inventory) by_serial.emplace(c.serial, &c);
  for (auto& [agent, section] : report_.certificates) {
    for (ReportCertificate& cert : section.rows) {
      auto it = by_serial.find(cert.serial);
      if (it == by_serial.end()) continue;  // kUnknown: the report says "not in inventory"
      const CertificateRecord& c = *it->second;
      cert.not_before = FormatAuditTime(c.not_before);
      if (cert.not_after.empty()) cert.not_after = FormatAuditTime(c.not_after);
      if (cert.names.empty()) cert.names = c.names;
      cert.revoked = c.revoked ? ReportRevoked::kYes : ReportRevoked::kNo;
      if (c.revoked) {
        cert.revocation_reason = c.revocation_reason;
        if (c.revoked_at != absl::InfinitePast()) cert.revoked_at = FormatAuditTime(c.revoked_at);
      }
    }
  }
}

void AuditReportBuilder::AddAgentCertificates(
    const absl::StatusOr<std::vector<AgentCertificateRecord>>& certs) {
  if (!certs.ok()) {
    report_.agent_certificates_note = absl::StrCat(
        "The state store's agent certificates could not be read: ", certs.status().message());
    return;
  }
  const AuditReportPeriod& period = report_.period;
  for (const AgentCertificateRecord& c : *certs) {
    const bool issued = period.Contains(c.issued_at);
    const bool revoked = c.revoked && period.Contains(c.revoked_at);
    if (!issued && !revoked) continue;
    ReportAgentCertificate row;
    row.agent = c.agent;
    row.serial = c.serial;
    row.source = c.source;
    row.issued_at = FormatAuditTime(c.issued_at);
    row.not_after = FormatAuditTime(c.not_after);
    if (c.revoked) {
      row.revoked_at =
          c.revoked_at == absl::InfinitePast() ? std::string("yes") : FormatAuditTime(c.revoked_at);
    }
    Keep(report_.agent_certificates, std::move(row));
  }
}

AuditReport AuditReportBuilder::Finish(std::string config, std::string chain, absl::Time now) {
  report_.config = std::move(config);
  report_.chain = std::move(chain);
  report_.generated = FormatAuditTime(now);
  return std::move(report_);
}

absl::StatusOr<AuditReport> BuildAuditReport(const SignerConfig& config,
                                             const AuditReportPeriod& period,
                                             const std::string& public_key_der) {
  AuditReportBuilder builder(period);
  if (IsAuditLogOnly(config)) {
    // The auditor's form: no state store, so no stored key and no checkpoint reference (the
    // witness file is the auditor's reference: `audit verify --log --witness`).
    AuditVerifyOptions options;
    options.public_key_der = public_key_der;
    builder.SetVerification(
        public_key_der.empty()
            ? absl::StatusOr<AuditVerifyReport>(absl::FailedPreconditionError(
                  "--log needs --public-key PEM (the audit key) to verify the chain"))
            : VerifyAuditLogAt(config.audit.log, options));
  } else {
    builder.SetVerification(VerifyConfiguredAuditChain(config, public_key_der));
  }
  RETURN_IF_ERROR(
      ForEachAuditLine(config, [&](absl::string_view line, const AuditLineOrigin& origin) {
        builder.AddLine(line, origin);
        return absl::OkStatus();
      }));
  absl::StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore(config);
  if (store.ok()) {
    builder.JoinInventory((*store)->ListInventory());
    builder.AddAgentCertificates((*store)->ListAgentCertificates());
  } else {
    builder.JoinInventory(store.status());
    builder.AddAgentCertificates(store.status());
  }
  const bool in_database = config.state.backend == StateConfig::Backend::kPostgresql;
  return builder.Finish(
      config.source,
      in_database ? std::string("the PostgreSQL chain ([state] url)") : config.audit.log,
      absl::Now());
}

}  // namespace acme_signer::signer
