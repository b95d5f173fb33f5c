// acme-signer audit query | audit checkpoint: answers from the audit chain itself, read through
// ForEachAuditLine (every rotated file, or the database chain). Neither needs the HSM, the PIN
// or the state store, so a member of the auditor group (read access to the log directory) can
// run them without root. They do not verify the chain: `audit verify` does.
#include "signer/cmd_audit_query.h"

#include <iostream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/cli.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "signer/audit_query.h"
#include "signer/audit_source.h"
#include "signer/audit_witness.h"
#include "signer/commands.h"
#include "signer/config.h"

namespace acme_signer::signer {
namespace {

absl::StatusOr<AuditQuery> QueryFromFlags(const ArgParser& parser) {
  AuditQuery query;
  query.agent = parser.Get("agent");
  query.rpc = parser.Get("rpc");
  if (parser.Has("decision")) {
    ASSIGN_OR_RETURN(query.decision, ParseQueryDecision(*parser.Get("decision")));
  }
  if (parser.Has("name")) {
    ASSIGN_OR_RETURN(query.name, ParseQueryName(*parser.Get("name")));
  }
  if (parser.Has("since")) {
    ASSIGN_OR_RETURN(query.since, ParseQuerySince(*parser.Get("since")));
  }
  if (parser.Has("until")) {
    ASSIGN_OR_RETURN(query.until, ParseQueryUntil(*parser.Get("until")));
  }
  return query;
}

absl::Status Query(const SignerConfig& config, const AuditQuery& query, bool json) {
  RETURN_IF_ERROR(ForEachAuditLine(
      config, [&](absl::string_view line, const AuditLineOrigin& origin) -> absl::Status {
        // A torn last line is a write a crash cut short: never acknowledged, not a record.
        if (origin.partial) return absl::OkStatus();
        nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
        if (!record.is_object()) {
          return absl::DataLossError(
              absl::StrCat("audit log ", origin.ToString(),
                           " is not a record; run `acme-signer audit verify --config ...`"));
        }
        if (!AuditQueryMatches(query, record)) return absl::OkStatus();
        // --json: the record exactly as stored, so its hash can still be checked.
        std::cout << (json ? std::string(line) : FormatAuditQueryLine(record)) << '\n';
        if (!std::cout.good()) return absl::UnavailableError("cannot write to stdout");
        return absl::OkStatus();
      }));
  std::cout.flush();
  if (!std::cout.good()) return absl::UnavailableError("cannot write to stdout");
  return absl::OkStatus();
}

int Fail(absl::string_view command, const absl::Status& status, int code) {
  std::cerr << "acme-signer audit " << command << ": " << status.message() << "\n";
  return code;
}

}  // namespace

int RunAuditQuery(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-signer audit query (--config FILE | --log PATH) [--name N] [--agent A] "
      "[--decision allow|deny] [--rpc R] [--since T] [--until T] [--json]");
  parser.Value("config", "FILE", "signer configuration: where the audit chain is")
      .Value("log", "PATH",
             "instead of --config: the audit log's first file (an auditor's way in, no config "
             "needed)")
      .Value("name", "N",
             "records naming this DNS name (exact, case-insensitive); '*.example.org' = every "
             "name below example.org")
      .Value("agent", "A", "records of this agent")
      .Value("decision", "allow|deny", "only allowed or only denied requests")
      .Value("rpc", "R", "records of this RPC, e.g. FinalizeOrder")
      .Value("since", "T",
             "records at or after T: RFC 3339 (2024-05-01T12:00:00Z) or a date (00:00 UTC)")
      .Value("until", "T",
             "records up to and including T: RFC 3339, or a date (the whole day, UTC)")
      .Bool("json", "print each matching record as stored (JSON Lines)");
  if (absl::Status s = parser.Parse(args); !s.ok()) return Fail("query", s, kExitUsage);
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  absl::StatusOr<AuditQuery> query = QueryFromFlags(parser);
  if (!query.ok()) return Fail("query", query.status(), kExitUsage);
  if (parser.Has("config") == parser.Has("log")) {
    return Fail("query", AuditSourceFromFlags(parser).status(), kExitUsage);
  }
  absl::StatusOr<SignerConfig> config = AuditSourceFromFlags(parser);
  if (!config.ok()) return Fail("query", config.status(), kExitFailure);
  if (absl::Status s = Query(*config, *query, parser.Has("json")); !s.ok()) {
    return Fail("query", s, kExitFailure);
  }
  return kExitOk;
}

int RunAuditCheckpoint(const std::vector<std::string>& args) {
  ArgParser parser("acme-signer audit checkpoint (--config FILE | --log PATH)");
  parser.Value("config", "FILE", "signer configuration: where the audit chain is")
      .Value("log", "PATH", "instead of --config: the audit log's first file");
  if (absl::Status s = parser.Parse(args); !s.ok()) return Fail("checkpoint", s, kExitUsage);
  if (parser.help_requested()) {
    std::cout << parser.Help()
              << "Prints the latest signed checkpoint as one JSON line (seq, hash, signature, "
                 "key_id, time)\nfor an auditor's witness file: `acme-signer audit verify "
                 "--witness FILE`.\n";
    return kExitOk;
  }
  if (parser.Has("config") == parser.Has("log")) {
    return Fail("checkpoint", AuditSourceFromFlags(parser).status(), kExitUsage);
  }
  absl::StatusOr<SignerConfig> config = AuditSourceFromFlags(parser);
  if (!config.ok()) return Fail("checkpoint", config.status(), kExitFailure);
  absl::StatusOr<AuditWitnessEntry> latest = LatestAuditCheckpoint(*config);
  if (!latest.ok()) return Fail("checkpoint", latest.status(), kExitFailure);
  std::cout << WitnessLine(*latest) << '\n';
  std::cout.flush();
  if (!std::cout.good()) {
    return Fail("checkpoint", absl::UnavailableError("cannot write to stdout"), kExitFailure);
  }
  return kExitOk;
}

}  // namespace acme_signer::signer
