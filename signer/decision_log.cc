#include "signer/decision_log.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "signer/identifier_text.h"

namespace acme_signer::signer {
namespace {

constexpr absl::string_view kProgram = "acme-signer";

bool NeedsQuotes(absl::string_view value) {
  if (value.empty()) return true;
  for (const char c : value) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '\\' || c == '=') return true;
  }
  return false;
}

// How names appear: DNS names bare (the only type ordered today), others as "type:value".
std::string NamesText(const AuditRequest& request) {
  std::vector<std::string> names;
  names.reserve(request.identifiers.size());
  for (const Identifier& identifier : request.identifiers) {
    names.push_back(identifier.type == "dns" ? identifier.value : IdentifierText(identifier));
  }
  return absl::StrJoin(names, ",");
}

std::string JournalFieldName(absl::string_view key) {
  if (key == "seq") return "AUDIT_SEQ";
  return absl::AsciiStrToUpper(key);
}

}  // namespace

std::vector<DecisionField> DecisionFields(const AuditRecord& record, uint64_t seq,
                                          absl::string_view replica) {
  std::vector<DecisionField> fields;
  fields.push_back({"decision", record.decision == AuditDecision::kAllow ? "allow" : "deny"});
  fields.push_back({"agent", record.agent});
  fields.push_back({"rpc", record.rpc});
  auto add = [&fields](absl::string_view key, std::string value) {
    if (!value.empty()) fields.push_back({std::string(key), std::move(value)});
  };
  add("names", NamesText(record.request));
  if (record.request.identifiers_not_recorded > 0) {
    add("names_not_recorded", absl::StrCat(record.request.identifiers_not_recorded));
  }
  add("account", record.account);
  add("replica", std::string(replica));
  add("seq", absl::StrCat(seq));
  add("serial", record.outcome.serial);
  add("reason", record.reason);
  if (record.repeated.count > 0) {
    add("repeat", absl::StrCat(record.repeated.count));
    add("folded", record.repeated.folded);
  }
  return fields;
}

std::string DecisionValueText(absl::string_view value) {
  if (!NeedsQuotes(value)) return std::string(value);
  std::string out = "\"";
  for (const char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        const unsigned char u = static_cast<unsigned char>(c);
        // Control characters and every non-ASCII byte are escaped: a line is plain ASCII, so
        // no terminal or log shipper can be steered by what a client put into a reason.
        if (u < 0x20 || u >= 0x7f) {
          absl::StrAppendFormat(&out, "\\x%02x", u);
        } else {
          out += c;
        }
      }
    }
  }
  out += '"';
  return out;
}

std::string FormatDecisionLine(const std::vector<DecisionField>& fields) {
  return absl::StrJoin(fields, " ", [](std::string* out, const DecisionField& field) {
    absl::StrAppend(out, field.key, "=", DecisionValueText(field.value));
  });
}

bool FdIsJournalStream(int fd) {
  // systemd sets JOURNAL_STREAM=<dev>:<inode> when it connects stdout/stderr to journald; a
  // process that inherited it but whose stderr was redirected elsewhere sees another file.
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  std::vector<absl::string_view> parts = absl::StrSplit(env, ':');
  uint64_t dev = 0;
  uint64_t ino = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &dev) ||
      !absl::SimpleAtoi(parts[1], &ino)) {
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<uint64_t>(st.st_dev) == dev && static_cast<uint64_t>(st.st_ino) == ino;
}

DecisionLog::DecisionLog(std::string replica, bool journal, int fd)
    : replica_(std::move(replica)), journal_(journal), fd_(fd) {}

void DecisionLog::OnAudited(const AuditRecord& record, uint64_t seq) {
  const std::vector<DecisionField> fields = DecisionFields(record, seq, replica_);
  const std::string line = FormatDecisionLine(fields);
  if (journal_ && SendToJournal(fields, record, line)) return;
  WriteLine(absl::StrCat(kProgram, ": ", line, "\n"));
}

bool DecisionLog::SendToJournal(const std::vector<DecisionField>& fields,
                                const AuditRecord& record, const std::string& line) {
  int priority = LOG_INFO;
  if (record.decision == AuditDecision::kDeny) {
    priority = record.repeated.count > 0 ? LOG_WARNING : LOG_NOTICE;
  }
  std::vector<std::string> entries;
  entries.reserve(fields.size() + 3);
  entries.push_back(absl::StrCat("MESSAGE=", line));
  entries.push_back(absl::StrCat("PRIORITY=", priority));
  entries.push_back(absl::StrCat("SYSLOG_IDENTIFIER=", kProgram));
  // Raw values: the journal keeps any bytes, and `journalctl AGENT=web1` matches them exactly.
  for (const DecisionField& field : fields) {
    entries.push_back(absl::StrCat(JournalFieldName(field.key), "=", field.value));
  }
  std::vector<struct iovec> iov;
  iov.reserve(entries.size());
  for (std::string& entry : entries) iov.push_back({entry.data(), entry.size()});
  return sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0;
}

void DecisionLog::WriteLine(const std::string& line) {
  // One write(2) per line keeps concurrent lines whole (O_APPEND files, pipes below PIPE_BUF,
  // journald's stream socket); a short write is finished, an error dropped (the decision is in
  // the audit chain whatever becomes of its log line).
  size_t done = 0;
  for (int attempts = 0; done < line.size() && attempts < 100; ++attempts) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace acme_signer::signer
