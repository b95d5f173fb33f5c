#include "signer/db_audit_log.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "common/status_macros.h"
#include "signer/audit_commit_metrics.h"

namespace acme_signer::signer {
namespace {

// Rows per INSERT: 3 parameters each, far below PostgreSQL's 65535 parameters per statement.
constexpr size_t kInsertChunk = 500;
// Rows per page when reading the chain back (bounded memory for any chain length).
constexpr int kReadPage = 1000;

constexpr char kHeadHint[] =
    " (the audit tables are created by the schema migration: `acme-signer migrate --config F`)";

// ROLLBACK after a failed statement; its own failure (e.g. the connection is gone, which ends
// the transaction anyway) changes nothing for the caller.
void RollBack(db::PgConnection& conn) {
  conn.Exec("cannot roll back the audit transaction", "ROLLBACK").status().IgnoreError();
}

// Runs `body` inside BEGIN ... COMMIT (`begin` is the BEGIN statement), rolling back on error.
absl::Status InTransaction(db::PgConnection& conn, const std::string& begin,
                           const std::function<absl::Status()>& body) {
  RETURN_IF_ERROR(conn.Exec("cannot begin an audit transaction", begin).status());
  absl::Status status = body();
  if (status.ok()) {
    status = conn.Exec("cannot commit the audit transaction", "COMMIT").status();
  }
  if (!status.ok()) RollBack(conn);
  return status;
}

// Reads the chain in seq order, one page at a time, inside the caller's snapshot.
class ChainReader {
 public:
  explicit ChainReader(db::PgConnection& conn) : conn_(conn) {}

  absl::StatusOr<bool> Next(std::string& line) {
    if (row_ >= (page_.has_value() ? page_->size() : 0)) {
      if (page_.has_value() && page_->size() < kReadPage) return false;
      ASSIGN_OR_RETURN(page_, conn_.Exec("cannot read the audit chain",
                                         "SELECT seq, line FROM audit_records WHERE seq > $1 "
                                         "ORDER BY seq LIMIT " +
                                             std::to_string(kReadPage),
                                         {std::to_string(after_)}));
      row_ = 0;
      if (page_->size() == 0) return false;
    }
    after_ = page_->Int(row_, 0);
    line = page_->Text(row_, 1);
    ++row_;
    return true;
  }

 private:
  db::PgConnection& conn_;
  std::optional<db::PgRows> page_;
  int row_ = 0;
  int64_t after_ = 0;
};

constexpr char kSnapshot[] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

}  // namespace

std::vector<std::string> DbAuditLogSchema() {
  return {
      // One row: the chain head. Its row lock (SELECT ... FOR UPDATE) is what serializes
      // appends across replicas.
      "CREATE TABLE IF NOT EXISTS audit_head ("
      " id SMALLINT PRIMARY KEY CHECK (id = 1),"
      " seq BIGINT NOT NULL CHECK (seq >= 0),"
      " hash TEXT NOT NULL,"
      " since_checkpoint BIGINT NOT NULL CHECK (since_checkpoint >= 0),"
      " checkpoint_seq BIGINT NOT NULL CHECK (checkpoint_seq >= 0),"
      " checkpoint_hash TEXT NOT NULL,"
      " public_key_der_b64 TEXT NOT NULL)",
      absl::StrCat("INSERT INTO audit_head VALUES (1, 0, '", kAuditGenesisHash,
                   "', 0, 0, '', '') ON CONFLICT (id) DO NOTHING"),
      // line: the record exactly as the file log would write it (canonical JSON, no '\n').
      "CREATE TABLE IF NOT EXISTS audit_records ("
      " seq BIGINT PRIMARY KEY CHECK (seq > 0),"
      " replica TEXT NOT NULL,"
      " line TEXT NOT NULL)",
  };
}

absl::Status CreateDbAuditLogTables(db::PgConnection& conn) {
  for (const std::string& statement : DbAuditLogSchema()) {
    RETURN_IF_ERROR(conn.Exec("cannot create the audit tables", statement).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<DbAuditHead> ReadDbAuditHead(db::PgConnection& conn, bool for_update) {
  absl::StatusOr<db::PgRows> rows = conn.Exec(
      "cannot read the audit chain head",
      std::string("SELECT seq, hash, since_checkpoint, checkpoint_seq, checkpoint_hash, "
                  "public_key_der_b64 FROM audit_head WHERE id = 1") +
          (for_update ? " FOR UPDATE" : ""));
  if (!rows.ok()) {
    if (rows.status().code() != absl::StatusCode::kInternal) return rows.status();
    return absl::FailedPreconditionError(absl::StrCat(rows.status().message(), kHeadHint));
  }
  if (rows->size() != 1) {
    return absl::FailedPreconditionError(absl::StrCat("the audit_head row is missing", kHeadHint));
  }
  DbAuditHead head;
  head.seq = static_cast<uint64_t>(rows->Int(0, 0));
  head.hash = rows->Text(0, 1);
  head.since_checkpoint = static_cast<uint64_t>(rows->Int(0, 2));
  head.checkpoint.seq = static_cast<uint64_t>(rows->Int(0, 3));
  head.checkpoint.hash = rows->Text(0, 4);
  if (!absl::Base64Unescape(rows->Text(0, 5), &head.public_key_der)) {
    return absl::DataLossError("the audit public key in audit_head is not base64");
  }
  return head;
}

absl::StatusOr<AuditVerifyReport> VerifyDbAuditChain(db::PgConnection& conn,
                                                     const std::string& public_key_der) {
  AuditVerifyReport report;
  RETURN_IF_ERROR(InTransaction(conn, kSnapshot, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(DbAuditHead head, ReadDbAuditHead(conn, /*for_update=*/false));
    AuditVerifyOptions options;
    options.public_key_der = public_key_der.empty() ? head.public_key_der : public_key_der;
    if (options.public_key_der.empty()) {
      return absl::FailedPreconditionError(
          "the database holds no audit public key yet (no signer has opened the chain); pass "
          "--public-key");
    }
    // The head plays the state store's part for the file log: it names the last checkpoint,
    // so records cut off after it, or a chain replaced from there, are detected.
    if (head.checkpoint.seq != 0) options.expected_checkpoint = head.checkpoint;
    options.reference_required = true;
    ChainReader reader(conn);
    ASSIGN_OR_RETURN(report,
                     VerifyAuditLines(
                         kDbAuditSource,
                         [&](std::string& line) { return reader.Next(line); }, options));
    if (report.ok() && (report.last_seq != head.seq ||
                        (head.seq != 0 && report.last_hash != head.hash))) {
      report.problem = AuditProblem{
          kDbAuditSource, 0, 0, report.last_seq + 1,
          absl::StrCat("the chain ends at seq ", report.last_seq, " but audit_head records seq ",
                       head.seq, " (hash ", head.hash,
                       "): records were removed from or added to the end of the chain")};
    }
    return absl::OkStatus();
  }));
  return report;
}

absl::Status ExportDbAuditChain(db::PgConnection& conn,
                                const std::function<absl::Status(const std::string&)>& write) {
  return InTransaction(conn, kSnapshot, [&]() -> absl::Status {
    ChainReader reader(conn);
    std::string line;
    while (true) {
      ASSIGN_OR_RETURN(bool more, reader.Next(line));
      if (!more) return absl::OkStatus();
      RETURN_IF_ERROR(write(line));
    }
  });
}

DbAuditLog::DbAuditLog(DbAuditLogOptions options, const hsm::JwsSigner* signer,
                       std::unique_ptr<db::PgConnection> conn)
    : options_(std::move(options)),
      signer_(signer),
      key_id_(Sha256Hex(signer->PublicKeyDer())),
      conn_(std::move(conn)) {}

DbAuditLog::~DbAuditLog() { Close().IgnoreError(); }

absl::StatusOr<std::unique_ptr<DbAuditLog>> DbAuditLog::Open(DbAuditLogOptions options,
                                                             const hsm::JwsSigner* signer) {
  if (options.conninfo.empty()) {
    return absl::InvalidArgumentError("the database audit log needs [state] url");
  }
  if (signer == nullptr) return absl::InvalidArgumentError("audit log needs an audit key");
  if (options.checkpoint_interval == 0) {
    return absl::InvalidArgumentError("audit checkpoint_interval must be at least 1");
  }
  if (options.max_batch == 0) options.max_batch = 1;
  ASSIGN_OR_RETURN(std::unique_ptr<db::PgConnection> conn,
                   db::PgConnection::Connect(options.conninfo));

  // Every replica must sign checkpoints with the same audit key (copies of one HSM key): the
  // first to open the chain records it, the others are checked against it.
  const std::string der = signer->PublicKeyDer();
  ASSIGN_OR_RETURN(DbAuditHead head, ReadDbAuditHead(*conn, /*for_update=*/false));
  if (head.public_key_der.empty()) {
    // Two replicas starting at once on a fresh database: one UPDATE wins, the other then reads
    // the winner's key (the same one, or it is refused below).
    RETURN_IF_ERROR(conn->Exec("cannot record the audit public key",
                               "UPDATE audit_head SET public_key_der_b64 = $1 "
                               "WHERE id = 1 AND public_key_der_b64 = ''",
                               {absl::Base64Escape(der)})
                        .status());
    ASSIGN_OR_RETURN(head, ReadDbAuditHead(*conn, /*for_update=*/false));
  }
  if (head.public_key_der != der) {
    return absl::FailedPreconditionError(absl::StrCat(
        "hsm.audit_key: this replica's audit key (key_id ", Sha256Hex(der),
        ") is not the key the database's audit chain is signed with (key_id ",
        Sha256Hex(head.public_key_der),
        "); every replica needs a copy of the same audit key (docs/signer.md, \"Running several "
        "replicas\")"));
  }

  // As the file log does at start: nothing is signed before the chain is proven intact, or a
  // checkpoint would vouch for a forged tail.
  ASSIGN_OR_RETURN(AuditVerifyReport report, VerifyDbAuditChain(*conn, der));
  if (!report.ok()) {
    return absl::DataLossError(absl::StrCat(
        "the audit chain in the database fails verification: ", report.Summary(),
        " Refusing to start: signing a checkpoint now would vouch for a chain that was altered "
        "or truncated. Investigate with `acme-signer audit verify --config F` and restore the "
        "database from a trusted backup (docs/audit.md)"));
  }
  return std::unique_ptr<DbAuditLog>(new DbAuditLog(std::move(options), signer, std::move(conn)));
}

absl::Status DbAuditLog::WriteBatch(const std::vector<Pending*>& batch, bool closing,
                                    std::vector<uint64_t>& seqs) {
  db::PgConnection& conn = *conn_;
  ASSIGN_OR_RETURN(DbAuditHead head, ReadDbAuditHead(conn, /*for_update=*/true));
  uint64_t seq = head.seq;
  std::string hash = head.hash;
  uint64_t since = head.since_checkpoint;
  AuditCheckpointRef checkpoint = head.checkpoint;
  const std::string now = FormatAuditTime(absl::Now());
  std::vector<db::PgParam> rows;  // (seq, replica, line) triples

  auto chain = [&](nlohmann::json record) {
    record["seq"] = seq + 1;
    record["prev"] = hash;
    if (!record.contains("time")) record["time"] = now;
    std::string record_hash = AuditRecordHash(record);
    record["hash"] = record_hash;
    ++seq;
    hash = std::move(record_hash);
    rows.push_back(std::to_string(seq));
    rows.push_back(options_.replica);
    rows.push_back(CanonicalJson(record));
  };
  auto sign_checkpoint = [&](absl::string_view trigger) -> absl::Status {
    nlohmann::json cp = nlohmann::json::object();
    cp["kind"] = kAuditKindCheckpoint;
    cp["trigger"] = trigger;
    cp["count"] = since;
    cp["key_id"] = key_id_;
    cp["alg"] = signer_->Algorithm();
    cp["replica"] = options_.replica;
    cp["seq"] = seq + 1;
    cp["prev"] = hash;
    cp["time"] = now;
    absl::StatusOr<std::string> signature = signer_->Sign(CheckpointSigningInput(cp));
    if (!signature.ok()) {
      return absl::Status(signature.status().code(),
                          absl::StrCat("cannot sign audit checkpoint: ",
                                       signature.status().message(),
                                       "; the batch was rolled back, nothing was written"));
    }
    cp["signature"] = Base64Url(*signature);
    chain(std::move(cp));
    checkpoint = AuditCheckpointRef{seq, hash};
    since = 0;
    return absl::OkStatus();
  };

  // A checkpoint already due (another replica counts to a smaller interval) comes first, so
  // the unsigned tail never exceeds this replica's interval by what it adds.
  if (!batch.empty() && since >= options_.checkpoint_interval) {
    RETURN_IF_ERROR(sign_checkpoint("interval"));
  }
  for (Pending* pending : batch) {
    chain(pending->record);
    seqs.push_back(seq);
    if (++since >= options_.checkpoint_interval) RETURN_IF_ERROR(sign_checkpoint("interval"));
  }
  if (closing && since > 0) RETURN_IF_ERROR(sign_checkpoint("shutdown"));
  if (rows.empty()) return absl::OkStatus();

  // The last chunk of records and the new head go in one statement (a data-modifying WITH):
  // one round trip fewer per batch, which is what a group commit waits on besides the fsync.
  for (size_t first = 0; first < rows.size(); first += 3 * kInsertChunk) {
    const size_t end = std::min(rows.size(), first + 3 * kInsertChunk);
    const bool last_chunk = end == rows.size();
    std::vector<db::PgParam> params(rows.begin() + static_cast<ptrdiff_t>(first),
                                    rows.begin() + static_cast<ptrdiff_t>(end));
    std::string sql = "INSERT INTO audit_records (seq, replica, line) VALUES ";
    for (size_t i = 0; i < params.size(); i += 3) {
      absl::StrAppend(&sql, i == 0 ? "" : ",", "($", i + 1, "::bigint,$", i + 2, ",$", i + 3,
                      ")");
    }
    if (last_chunk) {
      const size_t n = params.size();
      sql = absl::StrCat("WITH inserted AS (", sql,
                         " RETURNING 1) UPDATE audit_head SET seq = $", n + 1, "::bigint, hash = $",
                         n + 2, ", since_checkpoint = $", n + 3, "::bigint, checkpoint_seq = $",
                         n + 4, "::bigint, checkpoint_hash = $", n + 5, " WHERE id = 1");
      params.insert(params.end(), {std::to_string(seq), hash, std::to_string(since),
                                   std::to_string(checkpoint.seq), checkpoint.hash});
    }
    RETURN_IF_ERROR(conn.Exec(last_chunk ? "cannot insert audit records and advance the head"
                                         : "cannot insert audit records",
                              sql, params)
                        .status());
  }
  return absl::OkStatus();
}

absl::Status DbAuditLog::CommitBatch(const std::vector<Pending*>& batch, bool closing) {
  std::vector<uint64_t> seqs;
  absl::Status status = InTransaction(*conn_, "BEGIN", [&] {
    seqs.clear();
    return WriteBatch(batch, closing, seqs);
  });
  for (size_t i = 0; i < batch.size(); ++i) {
    if (status.ok()) {
      batch[i]->result = seqs[i];
    } else {
      // Fail closed: nothing of the batch is in the chain (or, when the connection died during
      // COMMIT, possibly all of it, correctly chained); either way the caller refuses.
      batch[i]->result = absl::Status(
          status.code(),
          absl::StrCat(status.message(), "; the audit record was not stored in the database "
                                         "chain, so the request is refused"));
    }
  }
  return status;
}

absl::StatusOr<uint64_t> DbAuditLog::Append(const AuditRecord& record) {
  Pending pending;
  pending.record = AuditRecordToJson(record);
  pending.record["kind"] = kAuditKindEvent;
  pending.record["replica"] = options_.replica;

  absl::MutexLock lock(&mu_);
  if (closed_) return absl::FailedPreconditionError("the database audit log is closed");
  queue_.push_back(&pending);
  while (!pending.done) {
    if (leading_) {
      cv_.Wait(&mu_);
      continue;
    }
    // Lead one group commit: everything queued so far, up to max_batch.
    leading_ = true;
    std::vector<Pending*> batch;
    while (!queue_.empty() && batch.size() < options_.max_batch) {
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    mu_.Unlock();
    const absl::Time start = absl::Now();
    absl::Status committed = CommitBatch(batch, /*closing=*/false);  // each Pending holds its result
    RecordAuditCommit("database", absl::Now() - start, committed.ok() ? batch.size() : 0);
    mu_.Lock();
    for (Pending* done : batch) done->done = true;
    leading_ = false;
    cv_.SignalAll();
  }
  return pending.result;
}

absl::Status DbAuditLog::Close() {
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::OkStatus();
  closed_ = true;
  // Appends already queued still get their batch (one of their callers leads it).
  while (leading_ || !queue_.empty()) cv_.Wait(&mu_);
  leading_ = true;
  mu_.Unlock();
  absl::Status status = CommitBatch({}, /*closing=*/true);
  mu_.Lock();
  leading_ = false;
  cv_.SignalAll();
  return status;
}

}  // namespace acme_signer::signer
