// PgConnection against a real PostgreSQL 15 cluster (scripts/pg-cluster): statements with
// bound parameters, error codes, reconnection after the server restarts, and conninfo checks.
#include "signer/db/pg_connection.h"

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer::db {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class PgConnectionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (absl::Status s = testing::PostgresCluster::Available(); !s.ok()) {
      GTEST_FAIL() << s;
    }
    std::string pattern = "/tmp/pgconn-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    auto cluster = testing::PostgresCluster::Start(pattern + "/pg");
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  static testing::PostgresCluster* cluster_;
};

testing::PostgresCluster* PgConnectionTest::cluster_ = nullptr;

TEST_F(PgConnectionTest, BindsParametersAndMapsUniqueViolation) {
  auto conn = PgConnection::Connect(cluster_->conninfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)->Exec("create", "CREATE TABLE t1 (k TEXT PRIMARY KEY, v BIGINT)").ok());
  // A value with quotes and a semicolon stays a value: it is bound, not spliced.
  const std::string tricky = "x'); DROP TABLE t1; --";
  ASSERT_TRUE((*conn)->Exec("insert", "INSERT INTO t1 VALUES ($1, $2)", {tricky, "42"}).ok());
  absl::StatusOr<PgRows> rows = (*conn)->Exec("select", "SELECT k, v, NULL FROM t1");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1);
  EXPECT_EQ(rows->Text(0, 0), tricky);
  EXPECT_EQ(rows->Int(0, 1), 42);
  EXPECT_TRUE(rows->IsNull(0, 2));

  absl::StatusOr<PgRows> again =
      (*conn)->Exec("cannot insert twice", "INSERT INTO t1 VALUES ($1, $2)", {tricky, "1"});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().message(), HasSubstr("cannot insert twice"));
  EXPECT_THAT(again.status().message(), HasSubstr("23505"));

  absl::StatusOr<PgRows> bad = (*conn)->Exec("bad", "SELEC 1");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInternal);
}

TEST_F(PgConnectionTest, RecoversAfterTheServerRestarts) {
  auto conn = PgConnection::Connect(cluster_->conninfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)->Ping().ok());
  ASSERT_TRUE(cluster_->Stop().ok());
  absl::Status down = (*conn)->Ping();
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  ASSERT_TRUE(cluster_->Restart().ok());
  // The first statement after the loss may still report it; the connection is reset then.
  absl::Status up = (*conn)->Ping();
  if (!up.ok()) up = (*conn)->Ping();
  EXPECT_TRUE(up.ok()) << up;
  EXPECT_TRUE((*conn)->connected());
}

TEST_F(PgConnectionTest, UnreachableServerIsUnavailableWithoutTheConninfo) {
  auto conn = PgConnection::Connect("host=/nonexistent-dir user=postgres dbname=x");
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(conn.status().message(), HasSubstr("[state] url"));
  EXPECT_THAT(conn.status().message(), Not(HasSubstr("dbname=x")));
}

TEST(ConninfoTest, RefusesPasswords) {
  EXPECT_TRUE(CheckConninfoHasNoPassword("host=/run/postgresql dbname=acme").ok());
  EXPECT_TRUE(CheckConninfoHasNoPassword("postgresql://signer@db.example/acme").ok());
  absl::Status kv = CheckConninfoHasNoPassword("host=db dbname=acme password=hunter2");
  EXPECT_EQ(kv.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(kv.message(), HasSubstr("passfile"));
  EXPECT_THAT(kv.message(), Not(HasSubstr("hunter2")));
  absl::Status uri = CheckConninfoHasNoPassword("postgresql://signer:hunter2@db/acme");
  EXPECT_EQ(uri.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(uri.message(), Not(HasSubstr("hunter2")));
  EXPECT_EQ(CheckConninfoHasNoPassword("host='unterminated").code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace acme_signer::signer::db
