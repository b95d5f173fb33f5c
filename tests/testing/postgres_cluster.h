// PostgresCluster: a private PostgreSQL 15 cluster for one test process, started and stopped
// through scripts/pg-cluster (the one home of "initdb + pg_ctl as an unprivileged user", shared
// with scripts/lab and the benchmarks). Trust authentication on a Unix socket under the
// cluster's directory; no TCP listener.
//
// Thread-safety: not thread-safe; one test fixture owns it.
#ifndef ACME_SIGNER_TESTS_TESTING_POSTGRES_CLUSTER_H_
#define ACME_SIGNER_TESTS_TESTING_POSTGRES_CLUSTER_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace acme_signer::testing {

class PostgresCluster {
 public:
  // OK when PostgreSQL 15's pg_ctl is installed, else FailedPrecondition naming the package.
  static absl::Status Available();

  // Creates and starts a cluster under `dir` (created if needed; a short path: the socket path
  // must fit in 107 bytes). `fsync` off suits tests that do not measure durability.
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start(const std::string& dir,
                                                                bool fsync = false);

  // Stops the cluster (fast shutdown) unless already stopped.
  ~PostgresCluster();
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

  // libpq conninfo of the cluster's `acme_signer` database.
  const std::string& conninfo() const { return conninfo_; }
  const std::string& dir() const { return dir_; }
  // The postmaster's PID (Unavailable when not running).
  absl::StatusOr<pid_t> pid() const;

  // Fast shutdown (waits until stopped) / start again (waits until it accepts connections).
  absl::Status Stop();
  absl::Status Restart();

  // psql -c `sql` against the database; returns its unaligned, tuples-only output.
  absl::StatusOr<std::string> Psql(const std::string& sql) const;

 private:
  PostgresCluster(std::string dir, bool fsync) : dir_(std::move(dir)), fsync_(fsync) {}
  absl::StatusOr<std::string> Script(const std::string& action) const;

  const std::string dir_;
  const bool fsync_;
  // Private to this object: RunChild's capture files are named per process, not per system,
  // so two test processes must not share a scratch directory.
  std::string scratch_dir_;
  std::string conninfo_;
  bool running_ = false;
};

}  // namespace acme_signer::testing

#endif  // ACME_SIGNER_TESTS_TESTING_POSTGRES_CLUSTER_H_
