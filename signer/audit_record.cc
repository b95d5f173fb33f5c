#include "signer/audit_record.h"

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "signer/identifier_text.h"

namespace acme_signer::signer {
namespace {

void PutIfNotEmpty(nlohmann::json& object, const char* key, const std::string& value) {
  if (!value.empty()) object[key] = value;
}

}  // namespace

std::string CanonicalJson(const nlohmann::json& value) {
  // error_handler_t::replace: invalid UTF-8 in a string (e.g. from a client) becomes U+FFFD
  // instead of an exception; the writer and the verifier both see the replaced text.
  return value.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
}

std::string FormatAuditTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

nlohmann::json AuditRecordToJson(const AuditRecord& record) {
  nlohmann::json out = nlohmann::json::object();
  out["agent"] = record.agent;
  out["client_cert_sha256"] = record.client_cert_sha256;
  out["peer"] = record.peer;
  PutIfNotEmpty(out, "account_thumbprint", record.account_thumbprint);
  PutIfNotEmpty(out, "account", record.account);
  out["rpc"] = record.rpc;
  out["decision"] = record.decision == AuditDecision::kAllow ? "allow" : "deny";
  out["reason"] = record.reason;

  nlohmann::json request = nlohmann::json::object();
  if (!record.request.identifiers.empty() || record.request.identifiers_not_recorded > 0) {
    std::vector<std::string> identifiers = IdentifierTexts(record.request.identifiers);
    if (record.request.identifiers_not_recorded > 0) {
      identifiers.push_back(absl::StrCat("(", record.request.identifiers_not_recorded,
                                         " more identifiers not recorded)"));
    }
    request["identifiers"] = std::move(identifiers);
  }
  PutIfNotEmpty(request, "order_url", record.request.order_url);
  PutIfNotEmpty(request, "url", record.request.url);
  PutIfNotEmpty(request, "csr_sha256", record.request.csr_sha256);
  PutIfNotEmpty(request, "finalize_url", record.request.finalize_url);
  PutIfNotEmpty(request, "certificate_sha256", record.request.certificate_sha256);
  PutIfNotEmpty(request, "revocation_reason", record.request.revocation_reason);
  out["request"] = std::move(request);

  nlohmann::json outcome = nlohmann::json::object();
  PutIfNotEmpty(outcome, "status", record.outcome.acme_status);
  PutIfNotEmpty(outcome, "serial", record.outcome.serial);
  PutIfNotEmpty(outcome, "not_after", record.outcome.not_after);
  PutIfNotEmpty(outcome, "certificate_sha256", record.outcome.certificate_sha256);
  PutIfNotEmpty(outcome, "error", record.outcome.error);
  out["outcome"] = std::move(outcome);

  if (record.repeated.count > 0) {
    nlohmann::json repeated = nlohmann::json::object();
    repeated["count"] = record.repeated.count;
    PutIfNotEmpty(repeated, "first", record.repeated.first);
    PutIfNotEmpty(repeated, "last", record.repeated.last);
    PutIfNotEmpty(repeated, "folded", record.repeated.folded);
    PutIfNotEmpty(repeated, "last_rpc", record.repeated.last_rpc);
    PutIfNotEmpty(repeated, "last_reason", record.repeated.last_reason);
    out["repeated"] = std::move(repeated);
  }
  return out;
}

std::string AuditRecordHash(const nlohmann::json& record) {
  if (!record.is_object() || !record.contains("hash")) return Sha256Hex(CanonicalJson(record));
  nlohmann::json copy = record;
  copy.erase("hash");
  return Sha256Hex(CanonicalJson(copy));
}

std::string CheckpointSigningInput(const nlohmann::json& checkpoint) {
  nlohmann::json copy = checkpoint;
  if (copy.is_object()) {
    copy.erase("hash");
    copy.erase("signature");
  }
  return CanonicalJson(copy);
}

std::string AuditCheckpointRefToString(const AuditCheckpointRef& ref) {
  nlohmann::json j = {{"seq", ref.seq}, {"hash", ref.hash}};
  return CanonicalJson(j);
}

absl::StatusOr<AuditCheckpointRef> AuditCheckpointRefFromString(absl::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("audit checkpoint reference is not a JSON object");
  }
  auto seq = j.find("seq");
  auto hash = j.find("hash");
  if (seq == j.end() || !seq->is_number_unsigned() || hash == j.end() || !hash->is_string() ||
      !IsSha256Hex(hash->get<std::string>())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "audit checkpoint reference needs an unsigned \"seq\" and a 64-hex-digit \"hash\": ",
        text.substr(0, 200)));
  }
  return AuditCheckpointRef{seq->get<uint64_t>(), hash->get<std::string>()};
}

}  // namespace acme_signer::signer
