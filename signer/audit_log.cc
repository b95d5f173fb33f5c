#include "signer/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "signer/audit_commit_metrics.h"

namespace acme_signer::signer {
namespace {

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// The message that stops start-up when the existing log fails verification.
absl::Status RefuseToStart(const AuditVerifyReport& report) {
  const AuditProblem& problem = *report.problem;
  return absl::DataLossError(absl::StrCat(
      "audit log ", problem.file,
      problem.line != 0
          ? absl::StrCat(" line ", problem.line, " (byte offset ", problem.byte_offset, ")")
          : std::string(),
      " seq ", problem.seq, ": ", problem.what,
      ". Refusing to start: signing a checkpoint now would vouch for a log that was altered, "
      "truncated or replaced. Investigate with `acme-signer audit verify`, and restore the "
      "audit log and the state store from a trusted copy (docs/audit.md, \"Start-up "
      "verification\")"));
}

// write() until all of `data` is written or an error occurs. The caller passes whole lines;
// a partial result only happens when the disk fails, and Open treats it as a torn tail.
absl::Status WriteFully(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("cannot write audit log ", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<AuditCheckpointRef>> LoadAuditCheckpoint(const StateStore& store) {
  ASSIGN_OR_RETURN(std::optional<std::string> text, store.GetValue(kAuditCheckpointKey));
  if (!text.has_value()) return std::nullopt;
  ASSIGN_OR_RETURN(AuditCheckpointRef ref, AuditCheckpointRefFromString(*text));
  return ref;
}

absl::Status StoreAuditCheckpoint(StateStore& store, const AuditCheckpointRef& ref) {
  ASSIGN_OR_RETURN(std::optional<AuditCheckpointRef> stored, LoadAuditCheckpoint(store));
  if (stored.has_value() &&
      (stored->seq > ref.seq || (stored->seq == ref.seq && stored->hash != ref.hash))) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to move the audit checkpoint reference in the state store from seq ", stored->seq,
        " (hash ", stored->hash, ") back to seq ", ref.seq, " (hash ", ref.hash,
        "): the audit log or the state store was replaced while the signer ran"));
  }
  return store.SetValue(kAuditCheckpointKey, AuditCheckpointRefToString(ref));
}

AuditLog::AuditLog(AuditLogOptions options, const hsm::JwsSigner* signer)
    : options_(std::move(options)), signer_(signer), key_id_(Sha256Hex(signer->PublicKeyDer())) {}

AuditLog::~AuditLog() { (void)Close(); }

std::string AuditLog::FileName(int index) const { return AuditLogFileName(options_.path, index); }

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(AuditLogOptions options,
                                                         const hsm::JwsSigner* signer) {
  if (options.path.empty()) return absl::InvalidArgumentError("audit log path is empty");
  if (signer == nullptr) return absl::InvalidArgumentError("audit log needs an audit key");
  if (options.checkpoint_interval == 0) {
    return absl::InvalidArgumentError("audit checkpoint_interval must be at least 1");
  }
  if (options.rotate_bytes == 0) {
    return absl::InvalidArgumentError("audit rotate_bytes must be at least 1");
  }
  // A missing log directory is created group-readable (0750, less the umask): members of
  // the auditor group then read the log (files are 0640) without root. An existing directory
  // keeps its owner and mode (the package creates it 2750 acme-signer:acme-audit).
  const std::string dir = DirOf(options.path);
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("cannot create the directory of audit log ",
                                           options.path));
  }
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(options), signer));
  {
    absl::MutexLock lock(&log->mu_);
    RETURN_IF_ERROR(log->Recover());
  }
  if (log->options_.state_store != nullptr) {
    RETURN_IF_ERROR(log->options_.state_store->SetValue(
        kAuditPublicKeyKey, absl::Base64Escape(signer->PublicKeyDer())));
  }
  return log;
}

absl::Status AuditLog::OpenFileForAppend(int index) {
  std::string name = FileName(index);
  bool existed = FileExists(name);
  UniqueFd fd(::open(name.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("cannot open audit log ", name));
  fd_ = std::move(fd);
  file_index_ = index;
  // A new file must survive a crash as a directory entry, or the chain would lose a link.
  if (!existed) RETURN_IF_ERROR(SyncDirectory(DirOf(name)));
  return absl::OkStatus();
}

absl::Status AuditLog::Recover() {
  // Nothing is signed before the log on disk is proven to be the one this signer wrote: a
  // checkpoint over a forged or truncated tail would make it verify, and storing it would move
  // the state store's reference back to match.
  ASSIGN_OR_RETURN(AuditLogFileSet files, ListAuditLogFiles(options_.path));
  AuditVerifyOptions verify;
  verify.public_key_der = signer_->PublicKeyDer();
  verify.allow_torn_tail = true;
  if (options_.state_store != nullptr) {
    ASSIGN_OR_RETURN(verify.expected_checkpoint, LoadAuditCheckpoint(*options_.state_store));
    verify.reference_required = true;
  }
  ASSIGN_OR_RETURN(AuditVerifyReport report, VerifyAuditLogFiles(files, verify));
  if (!report.ok()) return RefuseToStart(report);

  next_seq_ = report.last_seq + 1;
  head_hash_ = report.last_seq == 0 ? std::string(kAuditGenesisHash) : report.last_hash;
  since_checkpoint_ = report.unsigned_tail;
  last_queued_is_checkpoint_ = report.last_seq != 0 && report.unsigned_tail == 0;
  durable_seq_ = report.last_seq;
  durable_hash_ = head_hash_;

  if (report.torn_tail.has_value()) {
    RETURN_IF_ERROR(SetTornTailAside(files, *report.torn_tail));
  } else {
    const int last = std::max(files.last_index, 0);
    RETURN_IF_ERROR(OpenFileForAppend(last));
    active_file_name_ = FileName(last);
    struct stat st;
    planned_file_bytes_ = ::fstat(fd_.get(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    if (report.last_seq != 0 && !last_queued_is_checkpoint_) {
      // The previous run stopped without a shutdown checkpoint: sign what it left, now that
      // it verified.
      RETURN_IF_ERROR(QueueCheckpointLocked("startup", nlohmann::json::object()));
    }
    if (planned_file_bytes_ >= options_.rotate_bytes) {
      if (pending_.empty()) pending_.emplace_back();
      pending_.back().rotate_after = true;
      planned_file_bytes_ = 0;
    }
  }
  if (pending_.empty()) return absl::OkStatus();
  return WaitDurableLocked(next_seq_ - 1);
}

absl::Status AuditLog::SetTornTailAside(const AuditLogFileSet& files, const AuditTornTail& torn) {
  // The partial line was never acknowledged, and the verifier proved the stored checkpoint
  // comes before it. Keep the damaged file as evidence, continue in the next one (or in the
  // empty file a crash right after a rotation left) and say so in a signed record.
  int torn_index = 0;
  while (static_cast<size_t>(torn_index) < files.files.size() &&
         files.files[static_cast<size_t>(torn_index)] != torn.file) {
    ++torn_index;
  }
  const int next = torn_index == files.last_index ? files.last_index + 1 : files.last_index;
  RETURN_IF_ERROR(OpenFileForAppend(next));
  active_file_name_ = FileName(next);
  planned_file_bytes_ = 0;
  return QueueCheckpointLocked(
      "recovery", {{"torn_file", BaseName(torn.file)}, {"torn_offset", torn.byte_offset}});
}

void AuditLog::QueueLocked(nlohmann::json record) {
  record["seq"] = next_seq_;
  record["prev"] = head_hash_;
  if (!options_.replica.empty()) record["replica"] = options_.replica;
  if (!record.contains("time")) record["time"] = FormatAuditTime(absl::Now());
  std::string hash = AuditRecordHash(record);
  record["hash"] = hash;
  std::string line = CanonicalJson(record);
  line.push_back('\n');

  if (pending_.empty() || pending_.back().rotate_after) pending_.emplace_back();
  Batch& batch = pending_.back();
  batch.bytes += line;
  batch.last_seq = next_seq_;
  batch.last_hash = hash;
  planned_file_bytes_ += line.size();
  head_hash_ = std::move(hash);
  ++next_seq_;
}

absl::Status AuditLog::QueueCheckpointLocked(absl::string_view trigger, nlohmann::json extra) {
  nlohmann::json cp = std::move(extra);
  cp["kind"] = kAuditKindCheckpoint;
  cp["trigger"] = trigger;
  cp["count"] = since_checkpoint_;
  cp["key_id"] = key_id_;
  cp["alg"] = signer_->Algorithm();
  // Before signing: the signature covers every field but "hash" and "signature".
  if (!options_.replica.empty()) cp["replica"] = options_.replica;
  cp["seq"] = next_seq_;
  cp["prev"] = head_hash_;
  cp["time"] = FormatAuditTime(absl::Now());
  absl::StatusOr<std::string> signature = signer_->Sign(CheckpointSigningInput(cp));
  if (!signature.ok()) {
    return absl::Status(signature.status().code(), absl::StrCat("cannot sign audit checkpoint: ",
                                                                signature.status().message()));
  }
  cp["signature"] = Base64Url(*signature);
  uint64_t seq = next_seq_;
  QueueLocked(std::move(cp));
  pending_.back().checkpoint = AuditCheckpointRef{seq, head_hash_};
  since_checkpoint_ = 0;
  last_queued_is_checkpoint_ = true;
  checkpoint_owed_ = false;
  return absl::OkStatus();
}

absl::Status AuditLog::QueueDueCheckpointLocked() {
  if (planned_file_bytes_ >= options_.rotate_bytes) {
    RETURN_IF_ERROR(QueueCheckpointLocked("rotate", nlohmann::json::object()));
    pending_.back().rotate_after = true;
    planned_file_bytes_ = 0;
    return absl::OkStatus();
  }
  return QueueCheckpointLocked("interval", nlohmann::json::object());
}

absl::StatusOr<uint64_t> AuditLog::Append(const AuditRecord& record) {
  absl::MutexLock lock(&mu_);
  if (closed_) {
    return absl::FailedPreconditionError(
        absl::StrCat("audit log ", active_file_name_, " is closed"));
  }
  if (!failed_.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("audit log ", active_file_name_,
                     " failed earlier and must be reopened: ", failed_.message()));
  }
  if (checkpoint_owed_) {
    // An earlier checkpoint could not be signed (HSM unavailable). Chaining more records
    // before it would let the unsigned tail grow without bound during an outage, so nothing
    // is written until it is signed: the tail stays at checkpoint_interval records at most.
    if (absl::Status retried = QueueDueCheckpointLocked(); !retried.ok()) {
      return absl::Status(
          retried.code(),
          absl::StrCat(retried.message(), "; audit log ", active_file_name_, " already holds ",
                       since_checkpoint_,
                       " records after its last signed checkpoint (checkpoint_interval = ",
                       options_.checkpoint_interval,
                       "), so this record was not written; appends are refused until the "
                       "checkpoint can be signed, and resume by themselves once it can"));
    }
  }
  nlohmann::json event = AuditRecordToJson(record);
  event["kind"] = kAuditKindEvent;
  QueueLocked(std::move(event));
  uint64_t seq = next_seq_ - 1;
  ++since_checkpoint_;
  last_queued_is_checkpoint_ = false;

  absl::Status checkpoint;
  if (planned_file_bytes_ >= options_.rotate_bytes ||
      since_checkpoint_ >= options_.checkpoint_interval) {
    checkpoint = QueueDueCheckpointLocked();
    // Nothing was queued for the checkpoint; the record itself is chained and is written
    // below. The next Append signs the checkpoint before anything else.
    if (!checkpoint.ok()) checkpoint_owed_ = true;
  }
  RETURN_IF_ERROR(WaitDurableLocked(seq));
  if (!checkpoint.ok()) {
    // Fail closed: the caller must not act on a record that no signature covers yet.
    return absl::Status(
        checkpoint.code(),
        absl::StrCat(checkpoint.message(), "; record ", seq, " was written to audit log ",
                     active_file_name_,
                     " but is not yet covered by a signed checkpoint, so the request is refused; "
                     "the checkpoint is retried before the next record"));
  }
  return seq;
}

absl::Status AuditLog::WaitDurableLocked(uint64_t seq) {
  while (durable_seq_ < seq) {
    if (!failed_.ok()) return failed_;
    if (writing_) {
      durable_cv_.Wait(&mu_);
      continue;
    }
    // Lead one group commit: take everything queued so far.
    writing_ = true;
    std::vector<Batch> batches = std::move(pending_);
    pending_.clear();
    const uint64_t durable_before = durable_seq_;
    mu_.Unlock();
    const absl::Time start = absl::Now();
    absl::Status status = WriteBatches(batches);
    const absl::Duration elapsed = absl::Now() - start;
    mu_.Lock();
    writing_ = false;
    if (status.ok()) {
      for (const Batch& batch : batches) {
        if (batch.last_seq != 0) {
          durable_seq_ = batch.last_seq;
          durable_hash_ = batch.last_hash;
        }
      }
      active_file_name_ = FileName(file_index_);
      RecordAuditCommit("file", elapsed, durable_seq_ - durable_before);
    } else {
      RecordAuditCommit("file", elapsed, 0);
      failed_ = status;
    }
    durable_cv_.SignalAll();
  }
  return absl::OkStatus();
}

absl::Status AuditLog::WriteBatches(std::vector<Batch>& batches) {
  for (Batch& batch : batches) {
    std::string name = FileName(file_index_);
    if (!batch.bytes.empty()) {
      // Whole lines in one write(); O_APPEND places them at the end even if someone else has
      // the file open for append.
      RETURN_IF_ERROR(WriteFully(fd_.get(), batch.bytes, name));
      if (::fdatasync(fd_.get()) != 0) {
        return ErrnoStatus(errno, absl::StrCat("cannot sync audit log ", name));
      }
    }
    if (batch.checkpoint.has_value() && options_.state_store != nullptr) {
      RETURN_IF_ERROR(StoreAuditCheckpoint(*options_.state_store, *batch.checkpoint));
    }
    if (batch.rotate_after) {
      RETURN_IF_ERROR(fd_.Close(absl::StrCat("cannot close audit log ", name)));
      RETURN_IF_ERROR(OpenFileForAppend(file_index_ + 1));
    }
  }
  return absl::OkStatus();
}

absl::Status AuditLog::Close() {
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::OkStatus();
  closed_ = true;
  absl::Status status = failed_;
  absl::Status checkpoint;
  if (status.ok() && !last_queued_is_checkpoint_ && next_seq_ > 1) {
    checkpoint = QueueCheckpointLocked("shutdown", nlohmann::json::object());
  }
  // Whatever is queued is made durable even when the checkpoint could not be signed: the
  // next Open signs it with a "startup" checkpoint.
  if (status.ok()) status = WaitDurableLocked(next_seq_ - 1);
  if (status.ok() && !checkpoint.ok()) {
    status =
        absl::Status(checkpoint.code(),
                     absl::StrCat(checkpoint.message(), "; audit log ", active_file_name_,
                                  " is durable and chained up to record ", durable_seq_,
                                  ", but its last ", since_checkpoint_,
                                  " records are unsigned until the next start signs them with a "
                                  "\"startup\" checkpoint"));
  }
  // A leader for an earlier failed batch may still be running; it owns fd_ until it is done.
  while (writing_) durable_cv_.Wait(&mu_);
  absl::Status closed = fd_.Close(absl::StrCat("cannot close audit log ", active_file_name_));
  if (status.ok()) status = std::move(closed);
  return status;
}

uint64_t AuditLog::last_seq() const {
  absl::MutexLock lock(&mu_);
  return durable_seq_;
}

std::string AuditLog::last_hash() const {
  absl::MutexLock lock(&mu_);
  return durable_hash_;
}

std::string AuditLog::active_file() const {
  absl::MutexLock lock(&mu_);
  return active_file_name_;
}

}  // namespace acme_signer::signer
