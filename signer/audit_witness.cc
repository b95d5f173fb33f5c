#include "signer/audit_witness.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/crypto.h"
#include "common/status_macros.h"
#include "signer/audit_record.h"
#include "signer/audit_source.h"

namespace acme_signer::signer {
namespace {

constexpr const char* kWitnessKeys[] = {"hash", "key_id", "seq", "signature", "time"};

// The record of a complete line; nullopt for a partial line (a crash's torn write, which the
// signer accounts for with a recovery checkpoint). DataLoss for a complete line that is not
// a JSON object.
absl::StatusOr<std::optional<nlohmann::json>> ParseLine(absl::string_view line,
                                                        const AuditLineOrigin& origin) {
  if (origin.partial) return std::nullopt;
  nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!record.is_object()) {
    return absl::DataLossError(absl::StrCat("audit log ", origin.ToString(),
                                            " is not a record; run `acme-signer audit verify`"));
  }
  return record;
}

std::string Text(const nlohmann::json& record, const char* key) {
  auto it = record.find(key);
  return it != record.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::string AuditWitnessEntry::Name() const {
  return absl::StrCat("seq ", seq, " (", time.empty() ? "no time" : time, ")");
}

std::optional<AuditWitnessEntry> WitnessEntryOf(const nlohmann::json& record) {
  if (!record.is_object() || Text(record, "kind") != kAuditKindCheckpoint) return std::nullopt;
  auto seq = record.find("seq");
  if (seq == record.end() || !seq->is_number_unsigned()) return std::nullopt;
  AuditWitnessEntry entry;
  entry.seq = seq->get<uint64_t>();
  entry.hash = Text(record, "hash");
  entry.signature = Text(record, "signature");
  entry.key_id = Text(record, "key_id");
  entry.time = Text(record, "time");
  if (entry.hash.empty() || entry.signature.empty() || entry.key_id.empty()) return std::nullopt;
  return entry;
}

std::string WitnessLine(const AuditWitnessEntry& entry) {
  return CanonicalJson({{"hash", entry.hash},
                        {"key_id", entry.key_id},
                        {"seq", entry.seq},
                        {"signature", entry.signature},
                        {"time", entry.time}});
}

absl::StatusOr<std::vector<AuditWitnessEntry>> ParseWitnessFile(absl::string_view text,
                                                                absl::string_view file_name) {
  std::vector<AuditWitnessEntry> out;
  uint64_t line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    const std::string where = absl::StrCat("witness file ", file_name, ":", line_no);
    nlohmann::json value = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!value.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " is not a JSON object; expected one `acme-signer audit checkpoint` line"));
    }
    for (const char* key : kWitnessKeys) {
      auto it = value.find(key);
      const bool ok =
          it != value.end() &&
          (std::string(key) == "seq" ? it->is_number_unsigned()
                                     : it->is_string() && !it->get<std::string>().empty());
      if (!ok) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": key \"", key, "\" is missing or not ",
            std::string(key) == "seq" ? "a non-negative integer" : "a non-empty string"));
      }
    }
    AuditWitnessEntry entry;
    entry.seq = value["seq"].get<uint64_t>();
    entry.hash = value["hash"].get<std::string>();
    entry.signature = value["signature"].get<std::string>();
    entry.key_id = value["key_id"].get<std::string>();
    entry.time = value["time"].get<std::string>();
    if (!IsSha256Hex(entry.hash)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"hash\" is not 64 lower-case hex digits"));
    }
    out.push_back(std::move(entry));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "witness file ", file_name,
        " holds no checkpoint; append `acme-signer audit checkpoint --config ...` lines"));
  }
  return out;
}

absl::StatusOr<AuditWitnessEntry> LatestAuditCheckpoint(const SignerConfig& config) {
  std::optional<AuditWitnessEntry> latest;
  RETURN_IF_ERROR(ForEachAuditLine(
      config, [&](absl::string_view line, const AuditLineOrigin& origin) -> absl::Status {
        ASSIGN_OR_RETURN(std::optional<nlohmann::json> record, ParseLine(line, origin));
        if (!record.has_value()) return absl::OkStatus();
        if (std::optional<AuditWitnessEntry> entry = WitnessEntryOf(*record)) latest = *entry;
        return absl::OkStatus();
      }));
  if (!latest.has_value()) {
    return absl::NotFoundError(
        "the audit chain holds no signed checkpoint yet (the signer writes one every "
        "[audit] checkpoint_every records and at shutdown)");
  }
  return *latest;
}

absl::StatusOr<std::optional<std::string>> CheckAuditWitness(
    const SignerConfig& config, const std::vector<AuditWitnessEntry>& witnessed) {
  // Several lines may witness the same checkpoint (a daily job on a quiet signer): each must
  // agree with the log, so keep them all.
  std::multimap<uint64_t, const AuditWitnessEntry*> by_seq;
  for (const AuditWitnessEntry& entry : witnessed) by_seq.emplace(entry.seq, &entry);
  std::optional<std::string> failure;
  uint64_t last_seq = 0;
  RETURN_IF_ERROR(ForEachAuditLine(
      config, [&](absl::string_view line, const AuditLineOrigin& origin) -> absl::Status {
        if (failure.has_value()) return absl::OkStatus();
        ASSIGN_OR_RETURN(std::optional<nlohmann::json> record, ParseLine(line, origin));
        if (!record.has_value()) return absl::OkStatus();
        auto seq_it = record->find("seq");
        if (seq_it == record->end() || !seq_it->is_number_unsigned()) return absl::OkStatus();
        const uint64_t seq = seq_it->get<uint64_t>();
        last_seq = std::max(last_seq, seq);
        auto [begin, end] = by_seq.equal_range(seq);
        if (begin == end) return absl::OkStatus();
        std::optional<AuditWitnessEntry> found = WitnessEntryOf(*record);
        for (auto it = begin; it != end; ++it) {
          const AuditWitnessEntry& want = *it->second;
          if (found.has_value() && found->hash == want.hash && found->signature == want.signature &&
              found->key_id == want.key_id && found->time == want.time) {
            continue;
          }
          failure = absl::StrCat(
              "witnessed checkpoint ", want.Name(), " hash ", want.hash,
              " is not in the log: ", origin.ToString(), " holds ",
              found.has_value() ? absl::StrCat("checkpoint ", found->Name(), " hash ", found->hash)
                                : absl::StrCat("a ", Text(*record, "kind"), " record"),
              " at that seq; the history up to it was rewritten or replaced");
          break;
        }
        by_seq.erase(seq);
        return absl::OkStatus();
      }));
  if (failure.has_value()) return failure;
  if (!by_seq.empty()) {
    const AuditWitnessEntry& want = *by_seq.begin()->second;
    return absl::StrCat("witnessed checkpoint ", want.Name(), " hash ", want.hash,
                        " is not in the log: the log ends at seq ", last_seq,
                        ", before it; the log was rolled back (an older copy restored) or cut");
  }
  return std::nullopt;
}

}  // namespace acme_signer::signer
