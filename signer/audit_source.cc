#include "signer/audit_source.h"

#include <fstream>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "signer/audit_files.h"
#include "signer/db/pg_connection.h"
#include "signer/db_audit_log.h"

namespace acme_signer::signer {
namespace {

absl::Status ForEachFileLine(const std::string& file, const AuditLineVisitor& visit) {
  std::ifstream in(file, std::ios::binary);
  if (!in.is_open()) {
    RETURN_IF_ERROR(ReadFile(file, 0).status());  // the errno-derived status naming it
    return absl::UnavailableError(absl::StrCat("cannot open audit log ", file));
  }
  AuditLineOrigin origin;
  origin.file = file;
  std::string line;
  while (std::getline(in, line)) {
    ++origin.line;
    // getline sets eof only when the last line had no '\n'.
    origin.partial = in.eof();
    RETURN_IF_ERROR(visit(line, origin));
  }
  if (in.bad()) return absl::UnavailableError(absl::StrCat("cannot read audit log ", file));
  return absl::OkStatus();
}

}  // namespace

std::string AuditLineOrigin::ToString() const {
  if (file == "database") return absl::StrCat("database seq ", line);
  return absl::StrCat(file, ":", line);
}

SignerConfig AuditLogOnlyConfig(const std::string& log_path) {
  SignerConfig config;
  config.source = log_path;
  config.state.backend = StateConfig::Backend::kSqlite;
  config.audit.log = log_path;
  return config;
}

bool IsAuditLogOnly(const SignerConfig& config) {
  return config.state.backend == StateConfig::Backend::kSqlite && config.state.dir.empty() &&
         config.source == config.audit.log;
}

absl::StatusOr<SignerConfig> AuditSourceFromFlags(const ArgParser& parser) {
  const std::optional<std::string> config = parser.Get("config");
  const std::optional<std::string> log = parser.Get("log");
  if (config.has_value() == log.has_value()) {
    return absl::InvalidArgumentError(
        "give --config FILE (the signer's configuration) or --log PATH (the first file of the "
        "audit log, e.g. /var/log/acme-signer/audit.log), not both");
  }
  if (log.has_value()) return AuditLogOnlyConfig(*log);
  return LoadSignerConfig(*config);
}

absl::Status ForEachAuditLine(const SignerConfig& config, const AuditLineVisitor& visit) {
  if (config.state.backend == StateConfig::Backend::kPostgresql) {
    ASSIGN_OR_RETURN(std::unique_ptr<db::PgConnection> conn,
                     db::PgConnection::Connect(config.state.url));
    AuditLineOrigin origin;
    origin.file = "database";
    return ExportDbAuditChain(*conn, [&](const std::string& line) {
      ++origin.line;
      return visit(line, origin);
    });
  }
  ASSIGN_OR_RETURN(std::vector<std::string> files, AuditLogFiles(config.audit.log));
  for (const std::string& file : files) RETURN_IF_ERROR(ForEachFileLine(file, visit));
  return absl::OkStatus();
}

}  // namespace acme_signer::signer
