// DecisionLog: one log line per audited decision, for operators reading the journal
// (`journalctl -u acme-signer AGENT=web1`). It is an AuditObserver (signer/audit_observer.h),
// so a line is written only for a decision that is durable in the audit chain, and the log
// never says something the chain does not.
//
// The line is key=value on stderr (journald takes a unit's stderr):
//
//   acme-signer: decision=allow agent=web1 rpc=FinalizeOrder names=a.x,b.x account=default
//     replica=r1 seq=123 serial=04ab... reason="names allowed by policy"
//
// (one line; wrapped here). Keys with an empty value are left out, except decision, agent and
// rpc. A value is written bare when it is printable ASCII without spaces, quotes, backslashes
// or '='; otherwise in double quotes with \" \\ \n \r \t and \xHH escapes, so no value (a
// reason quoting what a client sent, say) can start a line of its own. A record standing for
// folded refusals (AuditRecord::repeated) adds repeat=N and folded=identical|over_budget.
//
// When stderr is the journal (JOURNAL_STREAM names the device and inode of fd 2, as systemd
// sets it for a unit whose stderr goes to journald), the same line goes to the journal through
// sd_journal_send instead, as MESSAGE with native fields: PRIORITY (info for allow, notice for
// deny, warning for folded refusals), SYSLOG_IDENTIFIER=acme-signer, DECISION, AGENT, RPC,
// NAMES, ACCOUNT, REASON, AUDIT_SEQ, REPLICA and, when set, SERIAL and REPEAT. Should the
// journal refuse the entry, the line goes to stderr after all.
//
// Secrets: the line holds only what the audit record holds, which is identifiers, names and
// digests (never keys, CSRs, JWS payloads or tokens; signer/audit_record.h keeps it so).
//
// Thread-safety: OnAudited may be called from many threads at once; each line is written with
// one write(2) (or one journal entry), so lines do not interleave.
#ifndef ACME_SIGNER_SIGNER_DECISION_LOG_H_
#define ACME_SIGNER_SIGNER_DECISION_LOG_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "signer/audit_observer.h"
#include "signer/audit_record.h"

namespace acme_signer::signer {

// One key and value of a decision line, in line order; the journal field is the key in
// upper case (AUDIT_SEQ for seq).
struct DecisionField {
  std::string key;
  std::string value;
};

// The fields of the line for `record` (decision, agent, rpc, names, account, replica, seq,
// serial, reason, repeat, folded), without empty ones.
std::vector<DecisionField> DecisionFields(const AuditRecord& record, uint64_t seq,
                                          absl::string_view replica);

// `value` as it appears after "key=" (see the file comment).
std::string DecisionValueText(absl::string_view value);

// The line without the "acme-signer: " prefix and without a newline.
std::string FormatDecisionLine(const std::vector<DecisionField>& fields);

// Whether JOURNAL_STREAM ("<dev>:<inode>", decimal) names the file open on `fd`.
bool FdIsJournalStream(int fd);

class DecisionLog : public AuditObserver {
 public:
  // `replica`: this signer's name (StateConfig::ReplicaName). `journal`: send to the journal
  // (FdIsJournalStream(2) at start) rather than write to `fd`.
  DecisionLog(std::string replica, bool journal, int fd = 2);

  void OnAudited(const AuditRecord& record, uint64_t seq) override;

 private:
  // False when the journal refused the entry.
  bool SendToJournal(const std::vector<DecisionField>& fields, const AuditRecord& record,
                     const std::string& line);
  void WriteLine(const std::string& line);

  const std::string replica_;
  const bool journal_;
  const int fd_;
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_DECISION_LOG_H_
