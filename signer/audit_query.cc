#include "signer/audit_query.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "signer/identifier_text.h"

namespace acme_signer::signer {
namespace {

constexpr char kTimeForms[] =
    "give an RFC 3339 time (2024-05-01T12:00:00Z) or a date (2024-05-01, UTC)";

// A date "YYYY-MM-DD" as that day's 00:00 UTC; nullopt when `text` is not one.
std::optional<absl::Time> ParseDate(absl::string_view text) {
  if (text.size() != 10) return std::nullopt;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), &t, &err)) return std::nullopt;
  return t;
}

std::optional<absl::Time> ParseRfc3339(absl::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return std::nullopt;
  return t;
}

absl::Status BadTime(absl::string_view flag, absl::string_view text) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, " \"", text, "\" is not a time: ", kTimeForms));
}

std::string StringField(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// The identifiers' texts ("dns:www.example.com", "(3 more identifiers not recorded)").
std::vector<std::string> IdentifierTextsOf(const nlohmann::json& record) {
  std::vector<std::string> out;
  auto request = record.find("request");
  if (request == record.end() || !request->is_object()) return out;
  auto ids = request->find("identifiers");
  if (ids == request->end() || !ids->is_array()) return out;
  for (const nlohmann::json& id : *ids) {
    if (id.is_string()) out.push_back(id.get<std::string>());
  }
  return out;
}

// The value of an identifier text ("www.example.com" for "dns:www.example.com"); the marker
// of identifiers not recorded becomes "+N".
std::string IdentifierValue(absl::string_view text) {
  if (absl::ConsumePrefix(&text, "(")) {
    const size_t space = text.find(' ');
    return absl::StrCat("+", text.substr(0, space));
  }
  absl::StatusOr<Identifier> identifier = ParseIdentifierText(text);
  return identifier.ok() ? identifier->value : std::string(text);
}

bool HasName(const nlohmann::json& record, absl::string_view wanted) {
  for (const std::string& text : IdentifierTextsOf(record)) {
    // Only DNS identifiers are names; "ip:" and the not-recorded marker are not.
    absl::StatusOr<Identifier> identifier = ParseIdentifierText(text);
    if (!identifier.ok() || identifier->type != "dns") continue;
    if (QueryNameMatches(wanted, identifier->value)) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<absl::Time> ParseQuerySince(absl::string_view text) {
  if (std::optional<absl::Time> day = ParseDate(text)) return *day;
  if (std::optional<absl::Time> t = ParseRfc3339(text)) return *t;
  return BadTime("since", text);
}

absl::StatusOr<absl::Time> ParseQueryUntil(absl::string_view text) {
  // A date means the whole day: what "until 2024-05-31" means to the person asking.
  if (std::optional<absl::Time> day = ParseDate(text)) return *day + absl::Hours(24);
  if (std::optional<absl::Time> t = ParseRfc3339(text)) return *t + absl::Nanoseconds(1);
  return BadTime("until", text);
}

absl::StatusOr<std::string> ParseQueryDecision(absl::string_view text) {
  if (text == "allow" || text == "deny") return std::string(text);
  return absl::InvalidArgumentError(
      absl::StrCat("--decision \"", text, "\" is neither allow nor deny"));
}

absl::StatusOr<std::string> ParseQueryName(absl::string_view text) {
  std::string name = absl::AsciiStrToLower(text);
  absl::string_view rest = name;
  absl::ConsumePrefix(&rest, "*.");
  if (rest.empty() || absl::StrContains(rest, '*')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--name \"", text,
        "\": give a DNS name (www.example.org) or \"*.example.org\" for every name below "
        "example.org"));
  }
  return name;
}

bool QueryNameMatches(absl::string_view pattern, absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (absl::StartsWith(pattern, "*.")) {
    // "*.example.org": every name ending in ".example.org" (the wildcard itself included).
    return absl::EndsWith(lower, pattern.substr(1));
  }
  return lower == pattern;
}

bool AuditQueryMatches(const AuditQuery& query, const nlohmann::json& record) {
  if (!record.is_object() || StringField(record, "kind") != "event") return false;
  if (query.agent.has_value() && StringField(record, "agent") != *query.agent) return false;
  if (query.decision.has_value() && StringField(record, "decision") != *query.decision) {
    return false;
  }
  if (query.rpc.has_value() && StringField(record, "rpc") != *query.rpc) return false;
  if (query.name.has_value() && !HasName(record, *query.name)) return false;
  if (query.since.has_value() || query.until.has_value()) {
    std::optional<absl::Time> t = ParseRfc3339(StringField(record, "time"));
    if (!t.has_value()) return false;
    if (query.since.has_value() && *t < *query.since) return false;
    if (query.until.has_value() && *t >= *query.until) return false;
  }
  return true;
}

std::string FormatAuditQueryLine(const nlohmann::json& record) {
  std::vector<std::string> names;
  for (const std::string& text : IdentifierTextsOf(record)) names.push_back(IdentifierValue(text));
  std::string agent = StringField(record, "agent");
  const std::string decision = StringField(record, "decision");
  std::string line = absl::StrCat(StringField(record, "time"), " ", agent.empty() ? "-" : agent,
                                  " ", decision, " ", StringField(record, "rpc"), " ",
                                  names.empty() ? "-" : absl::StrJoin(names, ","));
  auto outcome = record.find("outcome");
  if (outcome != record.end() && outcome->is_object()) {
    const std::string serial = StringField(*outcome, "serial");
    if (!serial.empty()) absl::StrAppend(&line, " serial=", serial);
  }
  if (decision == "deny") {
    // JSON string quoting keeps a reason with spaces or quotes on one unambiguous line.
    absl::StrAppend(&line, " reason=", nlohmann::json(StringField(record, "reason")).dump());
  }
  auto repeated = record.find("repeated");
  if (repeated != record.end() && repeated->is_object()) {
    auto count = repeated->find("count");
    if (count != repeated->end() && count->is_number_unsigned()) {
      absl::StrAppend(&line, " repeated=", count->get<uint64_t>());
    }
  }
  return line;
}

}  // namespace acme_signer::signer
