#include "signer/audit_verifier.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "signer/audit_log.h"

namespace acme_signer::signer {
namespace {

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

absl::StatusOr<SslUniquePtr<EVP_PKEY>> ParseSpki(absl::string_view der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  SslUniquePtr<EVP_PKEY> pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (pkey == nullptr || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "audit public key is not a DER SubjectPublicKeyInfo");
  }
  return pkey;
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
    ASSIGN_OR_RETURN(SslUniquePtr<EVP_PKEY> pkey, ParseSpki(der));
    ASSIGN_OR_RETURN(std::string alg, AlgorithmOf(pkey.get()));
    return CheckpointKey(std::move(pkey), std::move(alg), Sha256Hex(der));
  }

  const std::string& alg() const { return alg_; }
  const std::string& key_id() const { return key_id_; }

  // True when `signature` (JWS form) verifies over `data`.
  bool Verify(absl::string_view data, absl::string_view signature) const {
    std::string der_sig;
    const EVP_MD* md = EVP_sha256();
    if (alg_ == "ES256" || alg_ == "ES384") {
      size_t half = alg_ == "ES256" ? 32 : 48;
      if (alg_ == "ES384") md = EVP_sha384();
      if (signature.size() != 2 * half) return false;
      SslUniquePtr<ECDSA_SIG> sig(ECDSA_SIG_new());
      BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()),
                            static_cast<int>(half), nullptr);
      BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()) + half,
                            static_cast<int>(half), nullptr);
      if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);  // set0 did not take ownership
        BN_free(s);
        return false;
      }
      unsigned char* out = nullptr;
      int len = i2d_ECDSA_SIG(sig.get(), &out);
      if (len <= 0) return false;
      std::unique_ptr<unsigned char, OpenSslFreeDeleter> owned(out);
      der_sig.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
      signature = der_sig;
    }
    SslUniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
    if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey_.get()) != 1) {
      SslErrors();  // drop the queue: the answer is "does not verify"
      return false;
    }
    int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                              signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                              data.size());
    SslErrors();
    return rc == 1;
  }

 private:
  CheckpointKey(SslUniquePtr<EVP_PKEY> pkey, std::string alg, std::string key_id)
      : pkey_(std::move(pkey)), alg_(std::move(alg)), key_id_(std::move(key_id)) {}

  SslUniquePtr<EVP_PKEY> pkey_;
  std::string alg_;
  std::string key_id_;
};

bool IsHex64(const nlohmann::json& value) {
  if (!value.is_string()) return false;
  const std::string& s = value.get_ref<const std::string&>();
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Walks the chain line by line, remembering what it needs to check the next record.
class ChainVerifier {
 public:
  ChainVerifier(const CheckpointKey& key, AuditVerifyReport& report) : key_(key), report_(report) {}

  // Checks one complete line. False when a problem was recorded.
  bool Line(const std::string& file, uint64_t line_no, uint64_t offset, const std::string& text) {
    file_ = file;
    line_ = line_no;
    offset_ = offset;
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
    if (pending_torn_.has_value()) {
      auto trigger = record.find("trigger");
      auto torn_offset = record.find("torn_offset");
      if (!is_checkpoint || trigger == record.end() || *trigger != "recovery" ||
          torn_offset == record.end() || *torn_offset != pending_torn_->second) {
        return Fail(
            seq,
            absl::StrCat("file ", pending_torn_->first, " ends in a partial line at byte offset ",
                         pending_torn_->second, " that no recovery checkpoint accounts for"));
      }
      report_.notes.push_back(absl::StrCat(pending_torn_->first,
                                           ": partial line from a crash at byte offset ",
                                           pending_torn_->second, " (recovered at seq ", seq, ")"));
      pending_torn_.reset();
    }
    if (is_checkpoint && !Checkpoint(record, seq)) return false;

    report_.records++;
    report_.last_seq = seq;
    report_.last_hash = hash->get<std::string>();
    if (is_checkpoint) {
      report_.checkpoints++;
      report_.last_checkpoint_seq = seq;
      checkpoint_hashes_[seq] = report_.last_hash;
      report_.unsigned_tail = 0;
    } else {
      report_.unsigned_tail++;
    }
    return true;
  }

  // A final line without '\n' in `file`; acceptable only if a recovery checkpoint follows.
  void Torn(const std::string& file, uint64_t line_no, uint64_t offset) {
    file_ = file;
    line_ = line_no;
    offset_ = offset;
    pending_torn_ = std::make_pair(BaseName(file), offset);
  }

  // After the last file.
  bool Finish(const std::optional<AuditCheckpointRef>& expected) {
    if (pending_torn_.has_value()) {
      return Fail(0, absl::StrCat("partial last line at byte offset ", pending_torn_->second,
                                  ": the log was truncated, or the signer crashed while "
                                  "writing and has not restarted since"));
    }
    if (!expected.has_value()) return true;
    line_ = 0;
    offset_ = 0;
    if (expected->seq > report_.last_seq) {
      return Fail(expected->seq,
                  absl::StrCat("the log ends at seq ", report_.last_seq,
                               " but the signer's state store records checkpoint seq ",
                               expected->seq, ": records were removed from the end"));
    }
    auto it = checkpoint_hashes_.find(expected->seq);
    if (it == checkpoint_hashes_.end() || it->second != expected->hash) {
      return Fail(expected->seq,
                  absl::StrCat("record ", expected->seq,
                               " is not the checkpoint the signer's state store records (hash ",
                               expected->hash, ")"));
    }
    return true;
  }

 private:
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
    std::string raw;
    if (signature == record.end() || !signature->is_string() ||
        !absl::WebSafeBase64Unescape(signature->get<std::string>(), &raw) ||
        !key_.Verify(CheckpointSigningInput(record), raw)) {
      return Fail(seq,
                  "checkpoint signature does not verify with the audit key: the records up to "
                  "here were rewritten (hashes recomputed) or the checkpoint was forged");
    }
    return true;
  }

  bool Fail(uint64_t seq, std::string what) {
    report_.problem =
        AuditProblem{file_, line_, offset_, seq != 0 ? seq : report_.last_seq + 1, std::move(what)};
    return false;
  }

  const CheckpointKey& key_;
  AuditVerifyReport& report_;
  std::string file_;
  uint64_t line_ = 0;
  uint64_t offset_ = 0;
  std::optional<std::pair<std::string, uint64_t>> pending_torn_;
  std::map<uint64_t, std::string> checkpoint_hashes_;
};

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
  std::string out =
      absl::StrCat("OK: ", records, " records in ", files.size(), " file(s), ", checkpoints,
                   " signed checkpoints; last seq ", last_seq, ", last checkpoint seq ",
                   last_checkpoint_seq, "; ", unsigned_tail, " records after the last checkpoint.");
  for (const std::string& note : notes) absl::StrAppend(&out, " Note: ", note, ".");
  return out;
}

absl::StatusOr<AuditVerifyReport> VerifyAuditLog(const std::vector<std::string>& files,
                                                 const AuditVerifyOptions& options) {
  ASSIGN_OR_RETURN(CheckpointKey key, CheckpointKey::Create(options.public_key_der));
  AuditVerifyReport report;
  report.files = files;
  ChainVerifier chain(key, report);
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
      if (!chain.Line(file, line_no, offset, line)) return report;
      offset += line.size() + 1;
    }
    if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read audit log ", file));
  }
  chain.Finish(options.expected_checkpoint);
  return report;
}

absl::StatusOr<AuditVerifyReport> VerifyAuditLogAt(const std::string& path,
                                                   const AuditVerifyOptions& options) {
  ASSIGN_OR_RETURN(std::vector<std::string> files, AuditLogFiles(path));
  return VerifyAuditLog(files, options);
}

absl::StatusOr<std::string> AuditPublicKeyDer(absl::string_view pem_or_der) {
  std::string der(pem_or_der);
  if (pem_or_der.find("-----BEGIN") != absl::string_view::npos) {
    SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem_or_der.data(), static_cast<int>(pem_or_der.size())));
    SslUniquePtr<EVP_PKEY> pkey(
        bio == nullptr ? nullptr : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (pkey == nullptr) {
      return SslError(absl::StatusCode::kInvalidArgument,
                      "audit public key PEM is not a \"PUBLIC KEY\" block");
    }
    unsigned char* out = nullptr;
    int len = i2d_PUBKEY(pkey.get(), &out);
    if (len <= 0) return SslError(absl::StatusCode::kInternal, "cannot encode audit public key");
    std::unique_ptr<unsigned char, OpenSslFreeDeleter> owned(out);
    der.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
  }
  ASSIGN_OR_RETURN(SslUniquePtr<EVP_PKEY> pkey, ParseSpki(der));
  RETURN_IF_ERROR(AlgorithmOf(pkey.get()).status());
  return der;
}

}  // namespace acme_signer::signer
