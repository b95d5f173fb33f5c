// Where StateStore tests keep their store: a SQLite file in a fresh temp directory, or a fresh
// PostgreSQL schema in one private cluster per test process (tests/testing/postgres_cluster.h,
// started on first use, stopped when the tests end). The same test cases run on both, so the
// two engines keep one behaviour.
#ifndef ACME_SIGNER_TESTS_SIGNER_STATE_STORE_BACKEND_H_
#define ACME_SIGNER_TESTS_SIGNER_STATE_STORE_BACKEND_H_

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "signer/state_store.h"
#include "tests/testing/postgres_cluster.h"

namespace acme_signer::signer::store_testing {

enum class Backend { kSqlite, kPostgresql };

inline std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgresql";
}

// The process's PostgreSQL cluster: started by the first test that needs it, stopped (and its
// directory removed) by a gtest environment after the last test.
class SharedPostgres : public ::testing::Environment {
 public:
  static absl::StatusOr<acme_signer::testing::PostgresCluster*> Get() {
    static SharedPostgres* const env = [] {
      auto* e = new SharedPostgres();
      ::testing::AddGlobalTestEnvironment(e);  // gtest owns it
      return e;
    }();
    if (env->cluster_ == nullptr) {
      if (absl::Status s = acme_signer::testing::PostgresCluster::Available(); !s.ok()) return s;
      std::string dir = "/tmp/sst-XXXXXX";
      if (::mkdtemp(dir.data()) == nullptr) return absl::InternalError("mkdtemp failed");
      env->dir_ = dir;
      absl::StatusOr<std::unique_ptr<acme_signer::testing::PostgresCluster>> cluster =
          acme_signer::testing::PostgresCluster::Start(dir + "/pg");
      if (!cluster.ok()) return cluster.status();
      env->cluster_ = *std::move(cluster);
    }
    return env->cluster_.get();
  }

  void TearDown() override {
    cluster_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

 private:
  std::unique_ptr<acme_signer::testing::PostgresCluster> cluster_;
  std::string dir_;
};

class StoreBackend {
 public:
  // A fresh, empty place for a store. For PostgreSQL: FailedPrecondition when PostgreSQL 15 is
  // not installed (the caller skips, or fails under CI=true).
  static absl::StatusOr<std::unique_ptr<StoreBackend>> Create(Backend backend) {
    std::unique_ptr<StoreBackend> b(new StoreBackend(backend));
    if (backend == Backend::kSqlite) {
      std::string dir = "/tmp/state_store_test.XXXXXX";
      if (::mkdtemp(dir.data()) == nullptr) return absl::InternalError("mkdtemp failed");
      b->dir_ = dir;
      b->path_ = dir + "/state.db";
      return b;
    }
    absl::StatusOr<acme_signer::testing::PostgresCluster*> cluster = SharedPostgres::Get();
    if (!cluster.ok()) return cluster.status();
    b->cluster_ = *cluster;
    static std::atomic<int> counter{0};
    b->schema_ = absl::StrCat("t", ::getpid(), "_", counter++);
    absl::StatusOr<std::string> created =
        b->cluster_->Psql(absl::StrCat("CREATE SCHEMA ", b->schema_));
    if (!created.ok()) return created.status();
    // Every connection of this test sees only its schema.
    b->url_ = absl::StrCat(b->cluster_->conninfo(), " options='-csearch_path=", b->schema_, "'");
    return b;
  }

  ~StoreBackend() {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  Backend backend() const { return backend_; }
  const std::string& sqlite_path() const { return path_; }
  const std::string& postgresql_url() const { return url_; }
  acme_signer::testing::PostgresCluster* cluster() const { return cluster_; }

  StateStoreOptions Options(bool migrate) const {
    StateStoreOptions options;
    options.backend = backend_ == Backend::kSqlite ? StateConfig::Backend::kSqlite
                                                   : StateConfig::Backend::kPostgresql;
    options.sqlite_path = path_;
    options.postgresql_url = url_;
    options.migrate = migrate;
    options.config_path = "/etc/acme-signer/signer.toml";
    return options;
  }

  absl::StatusOr<std::unique_ptr<StateStore>> Open(bool migrate = true) const {
    return StateStore::Open(Options(migrate));
  }

  // Runs `sql` straight against the database (behind the store's back); returns the rows as
  // lines of '|'-separated values.
  absl::StatusOr<std::string> Sql(const std::string& sql) const {
    if (backend_ == Backend::kPostgresql) {
      absl::StatusOr<std::string> out =
          cluster_->Psql(absl::StrCat("SET search_path = ", schema_, "; ", sql));
      // psql reports the SET (and any other command without rows) by its tag.
      if (out.ok() && absl::StartsWith(*out, "SET\n")) out->erase(0, 4);
      return out;
    }
    sqlite3* raw = nullptr;
    if (sqlite3_open(path_.c_str(), &raw) != SQLITE_OK) {
      sqlite3_close(raw);
      return absl::InternalError(absl::StrCat("cannot open ", path_));
    }
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
    std::string out;
    char* error = nullptr;
    const int rc = sqlite3_exec(
        db.get(), sql.c_str(),
        [](void* arg, int columns, char** values, char**) {
          std::string* text = static_cast<std::string*>(arg);
          for (int i = 0; i < columns; ++i) {
            if (i > 0) text->push_back('|');
            if (values[i] != nullptr) text->append(values[i]);
          }
          text->push_back('\n');
          return 0;
        },
        &out, &error);
    std::unique_ptr<char, void (*)(void*)> error_owner(error, sqlite3_free);
    if (rc != SQLITE_OK) {
      return absl::InternalError(absl::StrCat("sqlite3: ", error != nullptr ? error : "?"));
    }
    return out;
  }

 private:
  explicit StoreBackend(Backend backend) : backend_(backend) {}

  const Backend backend_;
  std::string dir_;
  std::string path_;
  acme_signer::testing::PostgresCluster* cluster_ = nullptr;
  std::string schema_;
  std::string url_;
};

// For a fixture's SetUp: a fresh backend, or a skip (a failure under CI=true) when PostgreSQL
// is not installed.
#define ACME_SIGNER_CREATE_STORE_BACKEND(lhs, backend)                                    \
  do {                                                                                    \
    absl::StatusOr<std::unique_ptr<::acme_signer::signer::store_testing::StoreBackend>> \
        created_backend = ::acme_signer::signer::store_testing::StoreBackend::Create(     \
            backend);                                                                     \
    if (!created_backend.ok() &&                                                          \
        created_backend.status().code() == absl::StatusCode::kFailedPrecondition &&      \
        std::string(std::getenv("CI") != nullptr ? std::getenv("CI") : "") != "true") {    \
      GTEST_SKIP() << created_backend.status();                                           \
    }                                                                                     \
    ASSERT_TRUE(created_backend.ok()) << created_backend.status();                        \
    lhs = *std::move(created_backend);                                                    \
  } while (0)

}  // namespace acme_signer::signer::store_testing

#endif  // ACME_SIGNER_TESTS_SIGNER_STATE_STORE_BACKEND_H_
