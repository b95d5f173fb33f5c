#include "signer/audit_verifier.h"

#include <openssl/evp.h>

#include <fstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"

namespace acme_signer::signer {
namespace {

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The JWS alg this key signs with: EC P-256 → ES256, P-384 → ES384, RSA → RS256.
absl::StatusOr<std::string> AlgorithmOf(EVP_PKEY* pkey) {
  switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_EC:
      if (EVP_PKEY_get_bits(pkey) == 256) return std::string("ES256");
      if (EVP_PKEY_get_bits(pkey) == 384) return std::string("ES384");
      break;
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(pkey) >= 2048) return std::string("RS256");
      break;
    default:
      break;
  }
  return absl::InvalidArgumentError(
      "audit public key must be EC P-256, EC P-384 or RSA of at least 2048 bits");
}

// The audit key, ready to verify checkpoint signatures.
class CheckpointKey {
 public:
  static absl::StatusOr<CheckpointKey> Create(const std::string& der) {
    if (der.empty()) return absl::InvalidArgumentError("no audit public key given");
    ASSIGN_OR_RETURN(SslUniquePtr<EVP_PKEY> pkey, ParsePublicKeyDer(der, "audit public key"));
    ASSIGN_OR_RETURN(std::string alg, AlgorithmOf(pkey.get()));
    return CheckpointKey(std::move(pkey), std::move(alg), Sha256Hex(der));
  }

  const std::string& alg() const { return alg_; }
  const std::string& key_id() const { return key_id_; }

  // True when `signature` (JWS form) verifies over `data`.
  bool Verify(absl::string_view data, absl::string_view signature) const {
    return VerifyJwsSignature(pkey_.get(), alg_, data, signature).ok();
  }

 private:
  CheckpointKey(SslUniquePtr<EVP_PKEY> pkey, std::string alg, std::string key_id)
      : pkey_(std::move(pkey)), alg_(std::move(alg)), key_id_(std::move(key_id)) {}

  SslUniquePtr<EVP_PKEY> pkey_;
  std::string alg_;
  std::string key_id_;
};

bool IsHex64(const nlohmann::json& value) {
  return value.is_string() && IsSha256Hex(value.get_ref<const std::string&>());
}

// Where a problem is: a file, and a line in it when the problem is about one line.
struct Location {
  std::string file;
  uint64_t line = 0;
  uint64_t offset = 0;
};

// Walks the chain line by line, remembering what it needs to check the next record.
class ChainVerifier {
 public:
  ChainVerifier(const CheckpointKey& key, const AuditVerifyOptions& options,
                AuditVerifyReport& report)
      : key_(key), options_(options), report_(report) {}

  // Before the first line: where record 1 would be when the log holds none.
  void Start(const std::string& first_file) { end_ = Location{first_file, 1, 0}; }

  // Checks one complete line. False when a problem was recorded.
  bool Line(const std::string& file, uint64_t line_no, uint64_t offset, const std::string& text) {
    at_ = Location{file, line_no, offset};
    nlohmann::json record = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded() || !record.is_object()) return Fail(0, "line is not a JSON object");
    auto seq_it = record.find("seq");
    uint64_t seq =
        seq_it != record.end() && seq_it->is_number_unsigned() ? seq_it->get<uint64_t>() : 0;
    if (seq == 0) return Fail(0, "record has no positive integer \"seq\"");
    if (CanonicalJson(record) != text) {
      // Duplicate keys, reordered keys or extra whitespace: a reader could see other values
      // than the ones hashed.
      return Fail(seq, "line is not in canonical form (sorted keys, no whitespace, no duplicates)");
    }
    if (seq != report_.last_seq + 1) {
      return Fail(seq, absl::StrCat("seq ", seq, " follows seq ", report_.last_seq,
                                    seq > report_.last_seq + 1
                                        ? ": records are missing"
                                        : ": records are duplicated or out of order"));
    }
    auto kind = record.find("kind");
    const std::string kind_text =
        kind != record.end() && kind->is_string() ? kind->get<std::string>() : "";
    const bool is_checkpoint = kind_text == kAuditKindCheckpoint;
    if (!is_checkpoint && kind_text != kAuditKindEvent) {
      return Fail(seq, "\"kind\" is neither \"event\" nor \"checkpoint\"");
    }
    auto time = record.find("time");
    if (time == record.end() || !time->is_string()) return Fail(seq, "record has no \"time\"");
    auto prev = record.find("prev");
    auto hash = record.find("hash");
    if (prev == record.end() || !IsHex64(*prev) || hash == record.end() || !IsHex64(*hash)) {
      return Fail(seq, "\"prev\" and \"hash\" must be 64 lower-case hex digits");
    }
    const std::string expected_prev =
        report_.last_seq == 0 ? std::string(kAuditGenesisHash) : report_.last_hash;
    if (*prev != expected_prev) {
      return Fail(seq, absl::StrCat("\"prev\" does not match the hash of record ", seq - 1,
                                    ": a record before it was changed, removed or inserted"));
    }
    if (*hash != AuditRecordHash(record)) {
      return Fail(seq, "\"hash\" does not match the record's contents: the record was edited");
    }
    if (!Recovery(record, seq, is_checkpoint)) return false;
    if (is_checkpoint && !Checkpoint(record, seq)) return false;

    report_.records++;
    report_.last_seq = seq;
    report_.last_hash = hash->get<std::string>();
    if (is_checkpoint) {
      report_.checkpoints++;
      report_.last_checkpoint_seq = seq;
      report_.last_checkpoint_hash = report_.last_hash;
      report_.unsigned_tail = 0;
    } else {
      report_.unsigned_tail++;
    }
    if (options_.expected_checkpoint.has_value() && seq == options_.expected_checkpoint->seq) {
      expected_found_ = true;
      expected_at_ = at_;
      expected_matches_ = is_checkpoint && report_.last_hash == options_.expected_checkpoint->hash;
    }
    end_ = Location{file, line_no + 1, offset + text.size() + 1};
    return true;
  }

  // A final line without '\n' in `file`; acceptable only if a recovery checkpoint follows.
  void Torn(const std::string& file, uint64_t line_no, uint64_t offset) {
    at_ = Location{file, line_no, offset};
    end_ = at_;
    torn_ = at_;
  }

  // `missing` is absent although `present_after` exists. Always a problem.
  void MissingFile(const std::string& missing, const std::string& present_after) {
    at_ = Location{missing, 0, 0};
    Fail(0, absl::StrCat("the file is missing but ", present_after,
                         " exists: a rotated file was deleted or renamed, so the records it "
                         "held (from seq ",
                         report_.last_seq + 1, " on) are gone; restore it from a backup"));
  }

  // After the last file.
  bool Finish() {
    if (options_.expected_checkpoint.has_value()) {
      if (!StoredCheckpoint(*options_.expected_checkpoint)) return false;
    } else if (options_.reference_required && report_.checkpoints > 0) {
      at_ = end_;
      return Fail(0,
                  absl::StrCat("the log holds ", report_.checkpoints,
                               " signed checkpoints (the last is seq ", report_.last_checkpoint_seq,
                               ") but the signer's state store has no audit checkpoint "
                               "reference: it was deleted or the state store was replaced, "
                               "so records cut or replaced after a checkpoint would go "
                               "unnoticed"));
    }
    if (torn_.has_value()) {
      if (options_.allow_torn_tail) {
        report_.torn_tail = AuditTornTail{torn_->file, torn_->line, torn_->offset};
        return true;
      }
      at_ = *torn_;
      return Fail(0, absl::StrCat("partial last line at byte offset ", torn_->offset,
                                  ": the log was truncated, or the signer crashed while "
                                  "writing and has not restarted since"));
    }
    return true;
  }

 private:
  // A partial line must be followed by the recovery checkpoint that names it, and a recovery
  // checkpoint must follow one.
  bool Recovery(const nlohmann::json& record, uint64_t seq, bool is_checkpoint) {
    auto trigger = record.find("trigger");
    const bool is_recovery = is_checkpoint && trigger != record.end() && *trigger == "recovery";
    if (!torn_.has_value()) {
      if (!is_recovery) return true;
      return Fail(seq, "recovery checkpoint, but no partial line precedes it");
    }
    const std::string torn_file = BaseName(torn_->file);
    if (!is_recovery) {
      return Fail(seq, absl::StrCat("file ", torn_file, " ends in a partial line at byte offset ",
                                    torn_->offset, " that no recovery checkpoint accounts for"));
    }
    auto named_file = record.find("torn_file");
    auto named_offset = record.find("torn_offset");
    if (named_file == record.end() || *named_file != torn_file || named_offset == record.end() ||
        *named_offset != torn_->offset) {
      return Fail(seq, absl::StrCat("recovery checkpoint names torn_file ",
                                    named_file == record.end() ? "(none)" : named_file->dump(),
                                    " at torn_offset ",
                                    named_offset == record.end() ? "(none)" : named_offset->dump(),
                                    ", but the partial line is in ", torn_file, " at byte offset ",
                                    torn_->offset));
    }
    report_.notes.push_back(absl::StrCat(torn_file, ": partial line from a crash at byte offset ",
                                         torn_->offset, " (recovered at seq ", seq, ")"));
    torn_.reset();
    return true;
  }

  // The log must hold `expected` exactly: whatever follows the last checkpoint that verifies
  // carries no signature, so the stored reference is what proves nothing was cut or replaced.
  bool StoredCheckpoint(const AuditCheckpointRef& expected) {
    const uint64_t signed_up_to = report_.last_checkpoint_seq;
    const std::string unsigned_note =
        report_.unsigned_tail == 0
            ? std::string()
            : absl::StrCat(
                  "; ", report_.unsigned_tail, " record(s) after ",
                  signed_up_to == 0
                      ? std::string("the start of the log")
                      : absl::StrCat("the last checkpoint that verifies (seq ", signed_up_to, ")"),
                  " carry no signature and may be forged");
    if (expected.seq > report_.last_seq) {
      at_ = end_;
      return Fail(report_.last_seq + 1,
                  absl::StrCat("record ", report_.last_seq + 1, " is missing: the log ends at seq ",
                               report_.last_seq, torn_.has_value() ? " and a partial line" : "",
                               ", but the signer's state store records checkpoint seq ",
                               expected.seq, " (hash ", expected.hash, "): records ",
                               report_.last_seq + 1, " to ", expected.seq,
                               " were removed from the end (cut or truncated)", unsigned_note));
    }
    if (!expected_found_ || !expected_matches_) {
      at_ = expected_at_;
      return Fail(expected.seq,
                  absl::StrCat("record ", expected.seq,
                               " is not the checkpoint the signer's state store records (hash ",
                               expected.hash, "): the log was replaced or rewritten from there",
                               unsigned_note));
    }
    return true;
  }

  bool Checkpoint(const nlohmann::json& record, uint64_t seq) {
    auto key_id = record.find("key_id");
    if (key_id == record.end() || *key_id != key_.key_id()) {
      return Fail(seq, absl::StrCat("checkpoint names key_id ",
                                    key_id == record.end() ? "(none)" : key_id->dump(),
                                    ", not the given audit key ", key_.key_id()));
    }
    auto alg = record.find("alg");
    if (alg == record.end() || *alg != key_.alg()) {
      return Fail(seq, absl::StrCat("checkpoint alg is not ", key_.alg()));
    }
    auto count = record.find("count");
    if (count == record.end() || !count->is_number_unsigned() ||
        count->get<uint64_t>() != report_.unsigned_tail) {
      return Fail(seq, absl::StrCat("checkpoint \"count\" is not ", report_.unsigned_tail,
                                    ", the number of records since the previous checkpoint"));
    }
    auto signature = record.find("signature");
    absl::StatusOr<std::string> raw =
        signature != record.end() && signature->is_string()
            ? DecodeBase64Url(signature->get<std::string>(), "checkpoint signature")
            : absl::InvalidArgumentError("checkpoint has no signature");
    if (!raw.ok() || !key_.Verify(CheckpointSigningInput(record), *raw)) {
      return Fail(seq,
                  "checkpoint signature does not verify with the audit key: the records up to "
                  "here were rewritten (hashes recomputed) or the checkpoint was forged");
    }
    return true;
  }

  // Records the problem at at_. `seq` 0: the record has none; the expected one is named.
  bool Fail(uint64_t seq, std::string what) {
    report_.problem = AuditProblem{at_.file, at_.line, at_.offset,
                                   seq != 0 ? seq : report_.last_seq + 1, std::move(what)};
    return false;
  }

  const CheckpointKey& key_;
  const AuditVerifyOptions& options_;
  AuditVerifyReport& report_;
  Location at_;                   // the line being checked
  Location end_;                  // where the next record would start
  std::optional<Location> torn_;  // a partial line not yet accounted for
  bool expected_found_ = false;   // the record with the expected checkpoint's seq verified
  bool expected_matches_ = false;
  Location expected_at_;
};

// Reads and checks `files` in order; stops at the first problem.
absl::Status VerifyFiles(const std::vector<std::string>& files, ChainVerifier& chain) {
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in.is_open()) {
      // Let ReadFile produce the errno-derived status that names the file.
      RETURN_IF_ERROR(ReadFile(file, 0).status());
      return absl::UnavailableError(absl::StrCat("cannot open audit log ", file));
    }
    std::string line;
    uint64_t line_no = 0;
    uint64_t offset = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (in.eof()) {  // no '\n' after this line
        chain.Torn(file, line_no, offset);
        break;
      }
      if (!chain.Line(file, line_no, offset, line)) return absl::OkStatus();
      offset += line.size() + 1;
    }
    if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read audit log ", file));
  }
  return absl::OkStatus();
}

absl::StatusOr<AuditVerifyReport> Verify(const std::vector<std::string>& files,
                                         const std::string& first_file, const AuditLogFileSet* gap,
                                         const AuditVerifyOptions& options) {
  ASSIGN_OR_RETURN(CheckpointKey key, CheckpointKey::Create(options.public_key_der));
  AuditVerifyReport report;
  report.files = files;
  ChainVerifier chain(key, options, report);
  chain.Start(first_file);
  RETURN_IF_ERROR(VerifyFiles(files, chain));
  if (!report.ok()) return report;
  if (gap != nullptr && !gap->missing.empty()) {
    chain.MissingFile(gap->missing, gap->present_after_gap);
    return report;
  }
  chain.Finish();
  return report;
}

}  // namespace

std::string AuditVerifyReport::Summary() const {
  if (problem.has_value()) {
    return absl::StrCat(
        "FAILED: ", problem->file,
        problem->line != 0
            ? absl::StrCat(" line ", problem->line, " (byte ", problem->byte_offset, ")")
            : std::string(),
        " seq ", problem->seq, ": ", problem->what, ". ", records, " records before it verified.");
  }
  std::string out = absl::StrCat(
      "OK: ", records, " records in ", files.size(), " file(s), ", checkpoints,
      " signed checkpoints; last seq ", last_seq, ", last checkpoint seq ", last_checkpoint_seq,
      last_checkpoint_seq != 0 ? absl::StrCat(" (hash ", last_checkpoint_hash, ")") : std::string(),
      "; ", unsigned_tail, " records after the last checkpoint.");
  for (const std::string& note : notes) absl::StrAppend(&out, " Note: ", note, ".");
  return out;
}

absl::StatusOr<AuditVerifyReport> VerifyAuditLog(const std::vector<std::string>& files,
                                                 const AuditVerifyOptions& options) {
  return Verify(files, files.empty() ? std::string() : files.front(), nullptr, options);
}

absl::StatusOr<AuditVerifyReport> VerifyAuditLogFiles(const AuditLogFileSet& files,
                                                      const AuditVerifyOptions& options) {
  return Verify(files.files, files.path, &files, options);
}

absl::StatusOr<AuditVerifyReport> VerifyAuditLogAt(const std::string& path,
                                                   const AuditVerifyOptions& options) {
  ASSIGN_OR_RETURN(AuditLogFileSet files, ListAuditLogFiles(path));
  if (files.files.empty() && files.missing.empty()) {
    return absl::NotFoundError(absl::StrCat("no audit log at ", path));
  }
  return VerifyAuditLogFiles(files, options);
}

absl::StatusOr<AuditVerifyReport> VerifyAuditLines(const std::string& source,
                                                   const AuditLineSource& next_line,
                                                   const AuditVerifyOptions& options) {
  ASSIGN_OR_RETURN(CheckpointKey key, CheckpointKey::Create(options.public_key_der));
  AuditVerifyReport report;
  report.files = {source};
  ChainVerifier chain(key, options, report);
  chain.Start(source);
  std::string line;
  uint64_t line_no = 0;
  uint64_t offset = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool more, next_line(line));
    if (!more) break;
    ++line_no;
    if (!chain.Line(source, line_no, offset, line)) return report;
    offset += line.size() + 1;
  }
  chain.Finish();
  return report;
}

absl::StatusOr<std::string> AuditPublicKeyDer(absl::string_view pem_or_der) {
  std::string der(pem_or_der);
  if (pem_or_der.find("-----BEGIN") != absl::string_view::npos) {
    ASSIGN_OR_RETURN(SslUniquePtr<EVP_PKEY> pkey,
                     ParsePublicKeyPem(pem_or_der, "audit public key PEM"));
    ASSIGN_OR_RETURN(der, PublicKeyToDer(pkey.get()));
  }
  ASSIGN_OR_RETURN(SslUniquePtr<EVP_PKEY> pkey, ParsePublicKeyDer(der, "audit public key"));
  RETURN_IF_ERROR(AlgorithmOf(pkey.get()).status());
  return der;
}

}  // namespace acme_signer::signer
