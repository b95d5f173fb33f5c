// Audit append throughput and latency with every append durable before Append returns, on 1, 8
// and 64 concurrent writers, for both homes of the audit chain:
//  - file:       the JSON Lines log (write + fdatasync, signer/audit_log.h);
//  - postgresql: the one chain of all replicas in PostgreSQL (signer/db_audit_log.h), one
//                transaction per group commit, against a private cluster started here with
//                fsync = on (synchronous_commit on: COMMIT returns after the WAL flush), on
//                the same disk as --dir.
// Checkpoints are signed by a SoftHSM2 ES256 key every 256 records, as in production. Group
// commit is what makes the many-writer numbers possible: one fdatasync (file) or one COMMIT
// (PostgreSQL) covers every append queued while the previous one ran.
//
// Run from a Release build on the disk the log will live on (not tmpfs):
//   build/release/bench/audit_bench [--dir DIR] [--seconds N] [--only file|postgresql]
// Target: >= 5,000 appends/s with 64 writers on 2 cores (file log).
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "hsm/key_type.h"
#include "hsm/module.h"
#include "hsm/token.h"
#include "signer/audit_log.h"
#include "signer/audit_verifier.h"
#include "signer/db/pg_connection.h"
#include "signer/db_audit_log.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/softhsm_token.h"

namespace {

using acme_signer::signer::AuditAppender;
using acme_signer::signer::AuditDecision;
using acme_signer::signer::AuditLog;
using acme_signer::signer::AuditLogOptions;
using acme_signer::signer::AuditRecord;
using Clock = std::chrono::steady_clock;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "audit_bench: %s\n", what.c_str());
  std::exit(1);
}

AuditRecord TypicalRecord(int i) {
  AuditRecord record;
  record.agent = "web" + std::to_string(i % 50);
  record.client_cert_sha256 = std::string(64, 'a');
  record.peer = "ipv4:127.0.0.1:51234";
  record.rpc = "FinalizeOrder";
  record.request.identifiers = {acme_signer::signer::Identifier::Dns("www.example.com"), acme_signer::signer::Identifier::Dns("example.com")};
  record.request.order_url = "https://acme.example/order/1234567890";
  record.request.csr_sha256 = std::string(64, 'c');
  record.decision = AuditDecision::kAllow;
  record.reason = "names allowed by policy";
  record.outcome.acme_status = "processing";
  return record;
}

double Percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t index = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[index];
}

// Appends from `threads` writers for `seconds`, closes `log` and prints one row.
void Measure(const char* backend, AuditAppender& log, int threads, double seconds) {
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::vector<std::vector<double>> latencies(threads);
  std::vector<std::thread> workers;
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      AuditRecord record = TypicalRecord(t);
      while (!stop.load(std::memory_order_relaxed)) {
        auto before = Clock::now();
        if (!log.Append(record).ok()) {
          failed = true;
          return;
        }
        latencies[t].push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - before).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& worker : workers) worker.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  if (failed) Fail("an append failed");
  if (auto status = log.Close(); !status.ok()) Fail(status.ToString());

  std::vector<double> all;
  for (auto& per_thread : latencies) all.insert(all.end(), per_thread.begin(), per_thread.end());
  std::sort(all.begin(), all.end());
  std::printf("%-11s %8d %12zu %14.0f %12.0f %12.0f %12.0f\n", backend, threads, all.size(),
              static_cast<double>(all.size()) / elapsed, Percentile(all, 0.50),
              Percentile(all, 0.99), all.empty() ? 0.0 : all.back());
  std::fflush(stdout);
}

void CheckReport(const absl::StatusOr<acme_signer::signer::AuditVerifyReport>& report) {
  if (!report.ok() || !report->ok()) {
    Fail("the benchmark's log does not verify: " +
         (report.ok() ? report->Summary() : report.status().ToString()));
  }
}

void RunFile(const acme_signer::hsm::JwsSigner& key, const std::string& dir, int threads,
             double seconds) {
  std::string path = dir + "/audit-" + std::to_string(threads) + ".jsonl";
  AuditLogOptions options;
  options.path = path;
  auto log = AuditLog::Open(options, &key);
  if (!log.ok()) Fail(log.status().ToString());
  Measure("file", **log, threads, seconds);
  acme_signer::signer::AuditVerifyOptions verify;
  verify.public_key_der = key.PublicKeyDer();
  CheckReport(acme_signer::signer::VerifyAuditLogAt(path, verify));
}

// One fresh chain per row, so every row starts from the same (empty) table.
void RunPostgres(const acme_signer::hsm::JwsSigner& key, const std::string& conninfo,
                 int threads, double seconds) {
  auto conn = acme_signer::signer::db::PgConnection::Connect(conninfo);
  if (!conn.ok()) Fail(conn.status().ToString());
  if (auto s = (*conn)->Exec("drop", "DROP TABLE IF EXISTS audit_records, audit_head").status();
      !s.ok()) {
    Fail(s.ToString());
  }
  if (auto s = acme_signer::signer::CreateDbAuditLogTables(**conn); !s.ok()) Fail(s.ToString());
  acme_signer::signer::DbAuditLogOptions options;
  options.conninfo = conninfo;
  options.replica = "bench";
  auto log = acme_signer::signer::DbAuditLog::Open(options, &key);
  if (!log.ok()) Fail(log.status().ToString());
  Measure("postgresql", **log, threads, seconds);
  CheckReport(acme_signer::signer::VerifyDbAuditChain(**conn, key.PublicKeyDer()));
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  std::string only;
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      Fail("usage: audit_bench [--dir DIR] [--seconds N] [--only file|postgresql]");
    }
  }
  if (!only.empty() && only != "file" && only != "postgresql") {
    Fail("--only takes file or postgresql");
  }
  bool own_dir = dir.empty();
  if (own_dir) {
    // Next to the working directory rather than in /tmp, which may be tmpfs (no real fsync).
    std::string tmpl = std::filesystem::current_path().string() + "/audit_bench.XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) Fail("cannot create a temp dir in the current dir");
    dir = tmpl;
  }

  auto token_info = acme_signer::testing::CreateSoftHsmToken("audit-bench");
  if (!token_info.ok()) Fail(token_info.status().ToString());
  auto module = acme_signer::hsm::Module::Load(acme_signer::testing::kSoftHsmModule);
  if (!module.ok()) Fail(module.status().ToString());
  auto token = acme_signer::hsm::Token::Open(*module, token_info->uri, token_info->pin_file);
  if (!token.ok()) Fail(token.status().ToString());
  auto key =
      (*token)->GenerateSigningKey("pkcs11:object=audit-key", acme_signer::hsm::KeyType::kEcP256);
  if (!key.ok()) Fail(key.status().ToString());

  std::printf("durable appends, checkpoint every 256 (SoftHSM2 ES256), %.0f s per row, dir %s\n",
              seconds, dir.c_str());
  std::printf("%-11s %8s %12s %14s %12s %12s %12s\n", "backend", "threads", "appends",
              "appends/s", "p50 us", "p99 us", "max us");
  if (only.empty() || only == "file") {
    for (int threads : {1, 8, 64}) RunFile(**key, dir, threads, seconds);
  }
  if (only.empty() || only == "postgresql") {
    // The cluster's socket path must stay short (107 bytes): it lives under /tmp, its data
    // directory beside the file logs (same disk) when --dir is short enough, else in /tmp.
    std::string pg_dir = dir + "/pg";
    if (pg_dir.size() > 60) {
      std::string tmpl = "/tmp/audit-bench-pg.XXXXXX";
      if (mkdtemp(tmpl.data()) == nullptr) Fail("cannot create a temp dir in /tmp");
      pg_dir = tmpl + "/pg";
      std::printf("(PostgreSQL data directory %s: --dir is too long for its socket path)\n",
                  pg_dir.c_str());
    }
    auto cluster = acme_signer::testing::PostgresCluster::Start(pg_dir, /*fsync=*/true);
    if (!cluster.ok()) Fail(cluster.status().ToString());
    for (int threads : {1, 8, 64}) RunPostgres(**key, (*cluster)->conninfo(), threads, seconds);
  }
  if (own_dir) std::filesystem::remove_all(dir);
  return 0;
}
