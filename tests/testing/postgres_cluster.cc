#include "tests/testing/postgres_cluster.h"

#include <stdlib.h>
#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/testing/child_process.h"

#ifndef ACME_SIGNER_SOURCE_DIR
#error "ACME_SIGNER_SOURCE_DIR must be defined to the project's source directory"
#endif

namespace acme_signer::testing {
namespace {

constexpr char kPgCtl[] = "/usr/lib/postgresql/15/bin/pg_ctl";
constexpr char kPsql[] = "/usr/lib/postgresql/15/bin/psql";

}  // namespace

absl::Status PostgresCluster::Available() {
  if (::access(kPgCtl, X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(kPgCtl, " is missing: install postgresql-15 (scripts/install-deps)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Start(const std::string& dir,
                                                                        bool fsync) {
  if (absl::Status s = Available(); !s.ok()) return s;
  std::unique_ptr<PostgresCluster> cluster(new PostgresCluster(dir, fsync));
  std::string scratch = "/tmp/pg-cluster-run-XXXXXX";
  if (::mkdtemp(scratch.data()) == nullptr) {
    return absl::InternalError("cannot create a scratch directory under /tmp");
  }
  cluster->scratch_dir_ = scratch;
  absl::StatusOr<std::string> conninfo = cluster->Script("start");
  if (!conninfo.ok()) return conninfo.status();
  cluster->conninfo_ = std::string(absl::StripAsciiWhitespace(*conninfo));
  cluster->running_ = true;
  return cluster;
}

PostgresCluster::~PostgresCluster() {
  if (running_) (void)Stop();
  if (!scratch_dir_.empty()) ::rmdir(scratch_dir_.c_str());
}

absl::StatusOr<std::string> PostgresCluster::Script(const std::string& action) const {
  ChildOptions options;
  options.scratch_dir = scratch_dir_;
  options.timeout = absl::Seconds(120);
  options.extra_env = {absl::StrCat("PG_FSYNC=", fsync_ ? "on" : "off")};
  ChildResult r = RunChild(
      {"/bin/bash", absl::StrCat(ACME_SIGNER_SOURCE_DIR, "/scripts/pg-cluster"), action, dir_},
      options);
  if (r.exit_code != 0) {
    return absl::UnavailableError(
        absl::StrCat("scripts/pg-cluster ", action, " ", dir_, " failed (exit ", r.exit_code,
                     "): ", r.err));
  }
  return r.out;
}

absl::StatusOr<pid_t> PostgresCluster::pid() const {
  absl::StatusOr<std::string> out = Script("pid");
  if (!out.ok()) return out.status();
  int value = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*out), &value) || value <= 0) {
    return absl::UnavailableError(absl::StrCat("no postmaster PID in ", dir_));
  }
  return static_cast<pid_t>(value);
}

absl::Status PostgresCluster::Stop() {
  absl::StatusOr<std::string> out = Script("stop");
  if (!out.ok()) return out.status();
  running_ = false;
  return absl::OkStatus();
}

absl::Status PostgresCluster::Restart() {
  absl::StatusOr<std::string> out = Script("start");
  if (!out.ok()) return out.status();
  running_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::string> PostgresCluster::Psql(const std::string& sql) const {
  ChildOptions options;
  options.scratch_dir = scratch_dir_;
  options.timeout = absl::Seconds(60);
  ChildResult r = RunChild({kPsql, conninfo_, "-v", "ON_ERROR_STOP=1", "-tAc", sql}, options);
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("psql failed (exit ", r.exit_code, "): ", r.err));
  }
  return r.out;
}

}  // namespace acme_signer::testing
