#include "signer/state_store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "tests/signer/state_store_backend.h"
#include "tests/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace acme_signer::signer {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using ::acme_signer::testing::IsOk;
using ::acme_signer::testing::IsOkAndHolds;
using ::acme_signer::testing::StatusIs;
using store_testing::Backend;
using store_testing::BackendName;
using store_testing::StoreBackend;

CertificateRecord Cert(std::string serial, std::string agent, absl::Time not_after) {
  CertificateRecord cert;
  cert.serial = std::move(serial);
  cert.agent = std::move(agent);
  cert.names = {"www.example.com", "example.com"};
  cert.not_before = absl::FromUnixSeconds(1700000000);
  cert.not_after = not_after;
  cert.order_url = "https://ca.test/order/1";
  cert.certificate_sha256 = std::string(64, 'e');
  return cert;
}

// Every behaviour of the store, on both engines (tests/signer/state_store_backend.h).
class StateStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { ACME_SIGNER_CREATE_STORE_BACKEND(backend_, GetParam()); }

  std::unique_ptr<StateStore> OpenStore() {
    absl::StatusOr<std::unique_ptr<StateStore>> store = backend_->Open();
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  std::unique_ptr<StoreBackend> backend_;
};

INSTANTIATE_TEST_SUITE_P(Engines, StateStoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgresql), BackendName);

// What only the SQLite file has: its mode, PRAGMA user_version and the upgrade chain 1..7.
class SqliteStateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/state_store_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/state.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<StateStore> OpenStore() {
    absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(path_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  std::string dir_;
  std::string path_;
};

TEST_P(StateStoreTest, ValuesSurviveCloseAndReopen) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->SetValue("account_url", "https://ca.test/acct/1").ok());
    ASSERT_TRUE(store->SetValue("account_url", "https://ca.test/acct/2").ok());
    ASSERT_TRUE(store
                    ->RecordOrder("https://ca.test/order/1", "web1", {Identifier::Dns("a.example.com")},
                                  "https://ca.test/finalize/1", "default")
                    .ok());
    ASSERT_TRUE(
        store->RecordCertificate(Cert("01", "web1", absl::FromUnixSeconds(1800000000))).ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto value = store->GetValue("account_url");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "https://ca.test/acct/2");
  auto unset = store->GetValue("directory");
  ASSERT_TRUE(unset.ok()) << unset.status();
  EXPECT_EQ(*unset, std::nullopt);
  auto order = store->FindOrder("https://ca.test/order/1");
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->agent, "web1");
  EXPECT_THAT(order->identifiers, ElementsAre(Identifier::Dns("a.example.com")));
  auto inventory = store->ListInventory();
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  ASSERT_EQ(inventory->size(), 1u);
  EXPECT_EQ((*inventory)[0].not_after, absl::FromUnixSeconds(1800000000));
  EXPECT_THAT((*inventory)[0].names, ElementsAre("www.example.com", "example.com"));
}

TEST_F(SqliteStateStoreTest, CreatesTheDatabaseWithGroupReadableModeAndCurrentSchema) {
  ASSERT_NE(OpenStore(), nullptr);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);

  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db.get(), "PRAGMA user_version", -1, &stmt, nullptr), SQLITE_OK);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(stmt, sqlite3_finalize);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), StateStore::kSchemaVersion);
}

TEST_P(StateStoreTest, OpenWithoutMigratingRefusesAnEmptyDatabaseAndNamesInit) {
  EXPECT_THAT(backend_->Open(/*migrate=*/false).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("run `acme-signer init --config /etc/acme-signer/signer.toml`")));
}

TEST_P(StateStoreTest, MigratingReportsTheVersionItFoundAndIsIdempotent) {
  absl::StatusOr<std::unique_ptr<StateStore>> first = backend_->Open(/*migrate=*/true);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ((*first)->schema_version_found(), 0);
  ASSERT_THAT((*first)->SetValue("k", "v"), IsOk());
  first->reset();
  absl::StatusOr<std::unique_ptr<StateStore>> again = backend_->Open(/*migrate=*/true);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ((*again)->schema_version_found(), StateStore::kSchemaVersion);
  EXPECT_THAT((*again)->GetValue("k"), IsOkAndHolds(std::optional<std::string>("v")));
  again->reset();
  // What serve does: open a current schema without migrating.
  absl::StatusOr<std::unique_ptr<StateStore>> serve = backend_->Open(/*migrate=*/false);
  ASSERT_THAT(serve, IsOk());
  EXPECT_THAT((*serve)->GetValue("k"), IsOkAndHolds(std::optional<std::string>("v")));
  EXPECT_THAT((*serve)->Ping(), IsOk());
}

TEST_P(StateStoreTest, RecordingTheSameOrderTwiceForTheSameAgentIsARetry) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(store
                    ->RecordOrder("https://ca.test/order/7", "web1", {Identifier::Dns("a.example.com")},
                                  "https://ca.test/finalize/7", "default")
                    .ok());
  }
  auto order = store->FindOrderByFinalizeUrl("https://ca.test/finalize/7");
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->order_url, "https://ca.test/order/7");
  EXPECT_EQ(order->agent, "web1");
  EXPECT_THAT(order->identifiers, ElementsAre(Identifier::Dns("a.example.com")));
  EXPECT_EQ(order->status, "pending");
  EXPECT_LE(order->created, absl::Now());
}

TEST_P(StateStoreTest, AnOrderOwnedByAnotherAgentIsRefused) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->RecordOrder("https://ca.test/order/7", "web1", {}, "f", "default").ok());
  EXPECT_THAT(store->RecordOrder("https://ca.test/order/7", "web2", {}, "f", "default"),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("belongs to agent \"web1\", not \"web2\"")));
  auto order = store->FindOrder("https://ca.test/order/7");
  ASSERT_TRUE(order.ok());
  EXPECT_EQ(order->agent, "web1");
}

TEST_P(StateStoreTest, UnknownOrdersAreNotFound) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->FindOrder("https://ca.test/order/x").status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("https://ca.test/order/x")));
  EXPECT_THAT(store->FindOrderByFinalizeUrl("https://ca.test/finalize/x").status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("https://ca.test/finalize/x")));
  EXPECT_THAT(store->SetOrderStatus("https://ca.test/order/x", "valid"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("https://ca.test/order/x")));
}

// The identifiers column keeps the text form signers before typed identifiers wrote, so a
// database moves between versions unchanged.
TEST_P(StateStoreTest, IdentifiersAreStoredAsTypeColonValueText) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store
                    ->RecordOrder("o", "web1",
                                  {Identifier::Dns("b.example.com"), Identifier::Dns("a.example.com")},
                                  "f", "default")
                    .ok());
  }
  EXPECT_THAT(backend_->Sql("SELECT identifiers FROM orders WHERE order_url = 'o'"),
              IsOkAndHolds(std::string(R"(["dns:b.example.com","dns:a.example.com"])") + "\n"));
}

TEST_P(StateStoreTest, AnOrderWithAMalformedStoredIdentifierIsAnError) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->RecordOrder("o", "web1", {}, "f", "default").ok());
  ASSERT_THAT(
      backend_->Sql("UPDATE orders SET identifiers = '[\"no-type\"]' WHERE order_url = 'o'"),
      IsOk());
  EXPECT_THAT(store->FindOrder("o").status(),
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(HasSubstr("order o"), HasSubstr("no-type"),
                             HasSubstr("not of the form type:value"))));
}

TEST_P(StateStoreTest, OrderStatusCanBeUpdated) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->RecordOrder("o", "web1", {}, "f", "default").ok());
  ASSERT_TRUE(store->SetOrderStatus("o", "valid").ok());
  auto order = store->FindOrder("o");
  ASSERT_TRUE(order.ok());
  EXPECT_EQ(order->status, "valid");
}

TEST_P(StateStoreTest, RecordingACertificateAgainAfterACrashDoesNotDuplicateIt) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  CertificateRecord cert = Cert("0a1b", "web1", absl::FromUnixSeconds(1800000000));
  ASSERT_TRUE(store->RecordCertificate(cert).ok());
  ASSERT_TRUE(store->RecordCertificate(cert).ok());
  auto inventory = store->ListInventory();
  ASSERT_TRUE(inventory.ok());
  EXPECT_EQ(inventory->size(), 1u);

  CertificateRecord other = cert;
  other.agent = "web2";
  EXPECT_THAT(store->RecordCertificate(other),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0a1b")));
  CertificateRecord empty_serial = cert;
  empty_serial.serial.clear();
  EXPECT_THAT(store->RecordCertificate(empty_serial),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("serial")));
}

TEST_P(StateStoreTest, InventoryCanBeListedPerAgentInExpiryOrder) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->RecordCertificate(Cert("03", "web1", absl::FromUnixSeconds(1900000000))).ok());
  ASSERT_TRUE(store->RecordCertificate(Cert("02", "web2", absl::FromUnixSeconds(1850000000))).ok());
  ASSERT_TRUE(store
                  ->RecordCertificate(Cert(
                      "01", "web1", absl::FromUnixSeconds(1800000000) + absl::Milliseconds(500)))
                  .ok());
  ASSERT_TRUE(store->RecordCertificate(Cert("04", "web1", absl::FromUnixSeconds(1800000000))).ok());

  auto web1 = store->ListInventory("web1");
  ASSERT_TRUE(web1.ok()) << web1.status();
  std::vector<std::string> serials;
  for (const auto& cert : *web1) serials.push_back(cert.serial);
  EXPECT_THAT(serials, ElementsAre("04", "01", "03"));

  auto all = store->ListInventory();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 4u);
  auto nobody = store->ListInventory("web9");
  ASSERT_TRUE(nobody.ok());
  EXPECT_THAT(*nobody, IsEmpty());
}

TEST_P(StateStoreTest, RevocationIsRecordedOnceWithReasonAndTime) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->RecordCertificate(Cert("05", "web1", absl::FromUnixSeconds(1900000000))).ok());
  absl::Time when = absl::FromUnixSeconds(1750000000);
  ASSERT_TRUE(store->MarkRevoked("05", 1, when).ok());
  ASSERT_TRUE(store->MarkRevoked("05", 4, when + absl::Hours(1)).ok());
  EXPECT_THAT(store->MarkRevoked("06", 1, when),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("06")));

  auto inventory = store->ListInventory("web1");
  ASSERT_TRUE(inventory.ok());
  ASSERT_EQ(inventory->size(), 1u);
  EXPECT_TRUE((*inventory)[0].revoked);
  EXPECT_EQ((*inventory)[0].revocation_reason, 1);
  EXPECT_EQ((*inventory)[0].revoked_at, when);
}

TEST_P(StateStoreTest, InventoryKeepsWhenTheSignerRecordedEachCertificate) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const absl::Time before = absl::Now();
  ASSERT_THAT(store->RecordCertificate(Cert("07", "web1", absl::FromUnixSeconds(1900000000))),
              IsOk());
  const absl::Time after = absl::Now();
  CertificateRecord given = Cert("08", "web1", absl::FromUnixSeconds(1900000001));
  given.issued_at = absl::FromUnixSeconds(1710000000);  // e.g. a record restored from elsewhere
  ASSERT_THAT(store->RecordCertificate(given), IsOk());

  auto inventory = store->ListInventory("web1");
  ASSERT_THAT(inventory, IsOk());
  ASSERT_EQ(inventory->size(), 2u);
  const CertificateRecord& now = (*inventory)[0];
  EXPECT_TRUE(now.issued_at_recorded);
  // Stored with microseconds.
  EXPECT_GE(now.issued_at, absl::FromUnixMicros(absl::ToUnixMicros(before)));
  EXPECT_LE(now.issued_at, after);
  EXPECT_EQ((*inventory)[1].issued_at, absl::FromUnixSeconds(1710000000));
  EXPECT_TRUE((*inventory)[1].issued_at_recorded);
}

TEST_P(StateStoreTest, IsSafeToUseFromManyThreads) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        std::string serial = std::to_string(t) + "-" + std::to_string(i);
        EXPECT_TRUE(store
                        ->RecordCertificate(Cert(serial, "web" + std::to_string(t),
                                                 absl::FromUnixSeconds(1800000000 + i)))
                        .ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  auto inventory = store->ListInventory();
  ASSERT_TRUE(inventory.ok());
  EXPECT_EQ(inventory->size(), 40u);
}

TEST_F(SqliteStateStoreTest, OpenNamesThePathOfAFileThatIsNotADatabase) {
  { std::ofstream(path_) << std::string(4096, 'x'); }
  EXPECT_THAT(StateStore::Open(path_).status(),
              StatusIs(absl::StatusCode::kInternal, HasSubstr(path_)));
}

TEST_F(SqliteStateStoreTest, OpenNamesThePathInAMissingDirectory) {
  std::string path = dir_ + "/missing/state.db";
  EXPECT_THAT(StateStore::Open(path).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(path)));
}

TEST_F(SqliteStateStoreTest, RefusesADatabaseFromANewerSchema) {
  ASSERT_NE(OpenStore(), nullptr);
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
    ASSERT_EQ(sqlite3_exec(db.get(), "PRAGMA user_version = 99", nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  EXPECT_THAT(
      StateStore::Open(path_).status(),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("schema version 99, newer than")));
}

TEST_F(SqliteStateStoreTest, OpenWithoutMigratingRefusesAnOlderSchemaAndNamesMigrate) {
  ASSERT_NE(OpenStore(), nullptr);
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
    ASSERT_EQ(sqlite3_exec(db.get(), "PRAGMA user_version = 6", nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  StateStoreOptions options;
  options.sqlite_path = path_;
  options.config_path = "/etc/acme-signer/signer.toml";
  EXPECT_THAT(StateStore::Open(options).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(path_), HasSubstr("schema version 6, older than"),
                             HasSubstr("run `acme-signer migrate --config "
                                       "/etc/acme-signer/signer.toml`"))));
  // Refusing changed nothing.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db.get(), "PRAGMA user_version", -1, &stmt, nullptr), SQLITE_OK);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(stmt, sqlite3_finalize);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 6);
}

TEST_F(SqliteStateStoreTest, OpenWithoutMigratingDoesNotCreateTheFile) {
  StateStoreOptions options;
  options.sqlite_path = path_;
  EXPECT_THAT(StateStore::Open(options).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(path_), HasSubstr("acme-signer init"))));
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(SqliteStateStoreTest, UpgradeFromSchema1KeepsOrdersInventoryAndChallengeOwners) {
  // A database exactly as the schema-1 signer left it: an order, a certificate and the
  // challenge owners it kept as "challenge-owner:" key/value rows.
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
    const std::string schema1 =
        "CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"
        "CREATE TABLE orders (order_url TEXT PRIMARY KEY NOT NULL, agent TEXT NOT NULL, "
        "identifiers TEXT NOT NULL, finalize_url TEXT NOT NULL, created TEXT NOT NULL, "
        "status TEXT NOT NULL);"
        "CREATE INDEX orders_by_finalize_url ON orders (finalize_url);"
        "CREATE TABLE inventory (serial TEXT PRIMARY KEY NOT NULL, agent TEXT NOT NULL, "
        "names TEXT NOT NULL, not_before TEXT NOT NULL, not_after TEXT NOT NULL, "
        "order_url TEXT NOT NULL, certificate_sha256 TEXT NOT NULL, "
        "revoked INTEGER NOT NULL DEFAULT 0, revocation_reason INTEGER NOT NULL DEFAULT 0, "
        "revoked_at TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX inventory_by_agent ON inventory (agent);"
        "INSERT INTO kv VALUES ('account_url', 'https://ca.test/acct/1');"
        "INSERT INTO kv VALUES ('challenge-owner:https://ca.test/chal/1', 'web1');"
        "INSERT INTO kv VALUES ('challenge-owner:https://ca.test/chal/2', 'web2');"
        "INSERT INTO orders VALUES ('https://ca.test/order/1', 'web1', '[\"dns:a.test\"]', "
        "'https://ca.test/finalize/1', '2026-01-01T00:00:00.000000Z', 'valid');"
        "INSERT INTO inventory (serial, agent, names, not_before, not_after, order_url, "
        "certificate_sha256) VALUES ('0a', 'web1', '[\"a.test\"]', "
        "'2026-01-01T00:00:00.000000Z', '2026-04-01T00:00:00.000000Z', "
        "'https://ca.test/order/1', '" +
        std::string(64, 'c') + "');PRAGMA user_version = 1;";
    ASSERT_EQ(sqlite3_exec(db.get(), schema1.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db.get());
  }
  std::unique_ptr<StateStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->GetValue("account_url"), IsOkAndHolds(std::optional<std::string>(
                                                  "https://ca.test/acct/1")));
  // The kv rows became typed resources and are gone from kv.
  absl::StatusOr<OrderResource> chal1 = store->FindOrderResource("https://ca.test/chal/1", "web1");
  ASSERT_TRUE(chal1.ok()) << chal1.status();
  EXPECT_EQ(chal1->agent, "web1");
  EXPECT_EQ(chal1->kind, OrderResourceKind::kChallenge);
  absl::StatusOr<OrderResource> chal2 = store->FindOrderResource("https://ca.test/chal/2", "web1");
  ASSERT_TRUE(chal2.ok()) << chal2.status();
  EXPECT_EQ(chal2->agent, "web2");
  EXPECT_THAT(store->GetValue("challenge-owner:https://ca.test/chal/1"),
              IsOkAndHolds(std::optional<std::string>()));
  // Orders and inventory are untouched.
  absl::StatusOr<OrderRecord> order = store->FindOrder("https://ca.test/order/1");
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->agent, "web1");
  EXPECT_EQ(order->status, "valid");
  EXPECT_THAT(order->identifiers, ElementsAre(Identifier::Dns("a.test")));
  absl::StatusOr<std::optional<CertificateRecord>> cert =
      store->FindCertificateBySha256(std::string(64, 'c'));
  ASSERT_TRUE(cert.ok()) << cert.status();
  ASSERT_TRUE(cert->has_value());
  EXPECT_EQ((*cert)->serial, "0a");
  // The order URL itself is found as the order's resource.
  absl::StatusOr<OrderResource> as_resource =
      store->FindOrderResource("https://ca.test/order/1", "web2");
  ASSERT_TRUE(as_resource.ok());
  EXPECT_EQ(as_resource->agent, "web1");
  EXPECT_EQ(as_resource->kind, OrderResourceKind::kOrder);
  // And the upgrade is recorded.
  store.reset();
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db.get(), "PRAGMA user_version", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), StateStore::kSchemaVersion);
  sqlite3_finalize(stmt);
}

TEST_F(SqliteStateStoreTest, UpgradeFromSchema2KeepsDataAndAddsFrontDoorCredentials) {
  // A database exactly as the schema-2 signer left it, with an order, a resource, an intent
  // and a certificate.
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
    const std::string schema2 =
        "CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"
        "CREATE TABLE orders (order_url TEXT PRIMARY KEY NOT NULL, agent TEXT NOT NULL, "
        "identifiers TEXT NOT NULL, finalize_url TEXT NOT NULL, created TEXT NOT NULL, "
        "status TEXT NOT NULL);"
        "CREATE INDEX orders_by_finalize_url ON orders (finalize_url);"
        "CREATE TABLE inventory (serial TEXT PRIMARY KEY NOT NULL, agent TEXT NOT NULL, "
        "names TEXT NOT NULL, not_before TEXT NOT NULL, not_after TEXT NOT NULL, "
        "order_url TEXT NOT NULL, certificate_sha256 TEXT NOT NULL, "
        "revoked INTEGER NOT NULL DEFAULT 0, revocation_reason INTEGER NOT NULL DEFAULT 0, "
        "revoked_at TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX inventory_by_agent ON inventory (agent);"
        "CREATE TABLE order_resources (url TEXT NOT NULL, agent TEXT NOT NULL, "
        "order_url TEXT NOT NULL, kind TEXT NOT NULL, PRIMARY KEY (url, agent));"
        "CREATE INDEX order_resources_by_order ON order_resources (order_url);"
        "CREATE TABLE new_order_intents (id INTEGER PRIMARY KEY, agent TEXT NOT NULL, "
        "identifiers TEXT NOT NULL, signed_at TEXT NOT NULL);"
        "CREATE INDEX new_order_intents_by_agent ON new_order_intents (agent, identifiers);"
        "CREATE INDEX inventory_by_sha256 ON inventory (certificate_sha256);"
        "INSERT INTO kv VALUES ('account_url', 'https://ca.test/acct/1');"
        "INSERT INTO orders VALUES ('https://ca.test/order/1', 'web1', '[\"dns:a.test\"]', "
        "'https://ca.test/finalize/1', '2026-01-01T00:00:00.000000Z', 'valid');"
        "INSERT INTO order_resources VALUES ('https://ca.test/authz/1', 'web1', "
        "'https://ca.test/order/1', 'authorization');"
        "INSERT INTO inventory (serial, agent, names, not_before, not_after, order_url, "
        "certificate_sha256) VALUES ('0a', 'web1', '[\"a.test\"]', "
        "'2026-01-01T00:00:00.000000Z', '2026-04-01T00:00:00.000000Z', "
        "'https://ca.test/order/1', '" +
        std::string(64, 'c') + "');PRAGMA user_version = 2;";
    ASSERT_EQ(sqlite3_exec(db.get(), schema2.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db.get());
  }
  std::unique_ptr<StateStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->GetValue("account_url"),
              IsOkAndHolds(std::optional<std::string>("https://ca.test/acct/1")));
  absl::StatusOr<OrderRecord> order = store->FindOrder("https://ca.test/order/1");
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->agent, "web1");
  absl::StatusOr<OrderResource> authz = store->FindOrderResource("https://ca.test/authz/1", "web1");
  ASSERT_TRUE(authz.ok()) << authz.status();
  EXPECT_EQ(authz->kind, OrderResourceKind::kAuthorization);
  absl::StatusOr<std::optional<CertificateRecord>> cert =
      store->FindCertificateBySha256(std::string(64, 'c'));
  ASSERT_TRUE(cert.ok()) << cert.status();
  ASSERT_TRUE(cert->has_value());
  // The new table works.
  EXPECT_THAT(store->AddFrontDoorCredential("kid-after-upgrade", "web1", "default", absl::Now()),
              IsOk());
  absl::StatusOr<std::vector<FrontDoorCredential>> listed = store->ListFrontDoorCredentials("web1");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].kid, "kid-after-upgrade");
  store.reset();
  // The upgrade is recorded, and opening again is a no-op that keeps the credential.
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db.get(), "PRAGMA user_version", -1, &stmt, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(stmt, 0), StateStore::kSchemaVersion);
    sqlite3_finalize(stmt);
  }
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::optional<FrontDoorCredential>> found =
      store->FindFrontDoorCredential("kid-after-upgrade");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_TRUE(found->has_value());
}

TEST_P(StateStoreTest, FrontDoorCredentialsAreAddedFoundBoundOnceAndDisabledPerHost) {
  std::unique_ptr<StateStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  const absl::Time t0 = absl::FromUnixSeconds(1780000000);
  ASSERT_THAT(store->AddFrontDoorCredential("kid-a1", "web1", "default", t0), IsOk());
  ASSERT_THAT(store->AddFrontDoorCredential("kid-a2", "web1", "default", t0 + absl::Seconds(1)),
              IsOk());
  ASSERT_THAT(store->AddFrontDoorCredential("kid-b1", "web2", "default", t0), IsOk());
  EXPECT_THAT(store->AddFrontDoorCredential("kid-a1", "web2", "default", t0),
              StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));

  absl::StatusOr<std::optional<FrontDoorCredential>> a1 = store->FindFrontDoorCredential("kid-a1");
  ASSERT_TRUE(a1.ok()) << a1.status();
  ASSERT_TRUE(a1->has_value());
  EXPECT_EQ((*a1)->host, "web1");
  EXPECT_EQ((*a1)->created, t0);
  EXPECT_FALSE((*a1)->disabled);
  EXPECT_FALSE((*a1)->account_thumbprint.has_value());
  absl::StatusOr<std::optional<FrontDoorCredential>> missing =
      store->FindFrontDoorCredential("no-such-kid");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_FALSE(missing->has_value());

  // Bound once; a second binding (another account, or the same one again) is refused and
  // names the account it is bound to.
  ASSERT_THAT(store->BindFrontDoorCredential("kid-a1", "thumb-1", t0 + absl::Minutes(1)), IsOk());
  EXPECT_THAT(
      store->BindFrontDoorCredential("kid-a1", "thumb-2", t0 + absl::Minutes(2)),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               AllOf(HasSubstr("kid-a1"), HasSubstr("already bound"), HasSubstr("thumb-1"))));
  EXPECT_THAT(store->BindFrontDoorCredential("kid-a1", "thumb-1", t0 + absl::Minutes(2)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already bound")));
  EXPECT_THAT(store->BindFrontDoorCredential("no-such-kid", "thumb-1", t0),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  a1 = store->FindFrontDoorCredential("kid-a1");
  ASSERT_TRUE(a1.ok() && a1->has_value());
  EXPECT_EQ((*a1)->account_thumbprint, std::optional<std::string>("thumb-1"));
  EXPECT_EQ((*a1)->bound_at, t0 + absl::Minutes(1));

  // Host revocation disables that host's credentials only; a disabled one cannot be bound.
  EXPECT_THAT(store->DisableFrontDoorCredentials("web1"), IsOkAndHolds(2));
  EXPECT_THAT(store->DisableFrontDoorCredentials("web1"), IsOkAndHolds(0));
  EXPECT_THAT(store->BindFrontDoorCredential("kid-a2", "thumb-3", t0),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("disabled")));
  absl::StatusOr<std::vector<FrontDoorCredential>> web1 = store->ListFrontDoorCredentials("web1");
  ASSERT_TRUE(web1.ok()) << web1.status();
  ASSERT_EQ(web1->size(), 2u);
  EXPECT_EQ((*web1)[0].kid, "kid-a1");
  EXPECT_EQ((*web1)[1].kid, "kid-a2");
  EXPECT_TRUE((*web1)[0].disabled);
  EXPECT_TRUE((*web1)[1].disabled);
  absl::StatusOr<std::vector<FrontDoorCredential>> web2 = store->ListFrontDoorCredentials("web2");
  ASSERT_TRUE(web2.ok()) << web2.status();
  ASSERT_EQ(web2->size(), 1u);
  EXPECT_FALSE((*web2)[0].disabled);
  EXPECT_THAT(store->BindFrontDoorCredential("kid-b1", "thumb-4", t0), IsOk());
  absl::StatusOr<std::vector<FrontDoorCredential>> nobody =
      store->ListFrontDoorCredentials("nobody");
  ASSERT_TRUE(nobody.ok()) << nobody.status();
  EXPECT_THAT(*nobody, IsEmpty());
}

TEST_P(StateStoreTest, ACredentialAddedByAnotherConnectionIsSeenAtOnce) {
  // enroll-client writes through its own connection while serve has the store open.
  std::unique_ptr<StateStore> serve = OpenStore();
  ASSERT_NE(serve, nullptr);
  absl::StatusOr<std::optional<FrontDoorCredential>> before =
      serve->FindFrontDoorCredential("kid-live");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_FALSE(before->has_value());
  {
    std::unique_ptr<StateStore> enroll = OpenStore();
    ASSERT_NE(enroll, nullptr);
    ASSERT_THAT(enroll->AddFrontDoorCredential("kid-live", "web1", "default", absl::Now()), IsOk());
  }
  absl::StatusOr<std::optional<FrontDoorCredential>> found =
      serve->FindFrontDoorCredential("kid-live");
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->host, "web1");
}

TEST_P(StateStoreTest, AResourceMayBelongToSeveralAgentsOrders) {
  std::unique_ptr<StateStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string authz = "https://ca.test/authz/1";
  ASSERT_TRUE(store->RecordOrderResource({authz, "https://ca.test/o/1", "web1",
                                          OrderResourceKind::kAuthorization})
                  .ok());
  EXPECT_EQ(store->FindOrderResource(authz, "web2")->agent, "web1");  // not web2's: names web1
  ASSERT_TRUE(store->RecordOrderResource({authz, "https://ca.test/o/2", "web2",
                                          OrderResourceKind::kAuthorization})
                  .ok());
  EXPECT_EQ(store->FindOrderResource(authz, "web2")->agent, "web2");
  EXPECT_EQ(store->FindOrderResource(authz, "web2")->order_url, "https://ca.test/o/2");
  EXPECT_EQ(store->FindOrderResource(authz, "web1")->order_url, "https://ca.test/o/1");
  EXPECT_THAT(store->FindOrderResource("https://ca.test/authz/2", "web1").status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("")));
}

TEST_P(StateStoreTest, AnOrderIsAdoptedOnlyOnceAndOnlyWithASignedNewOrder) {
  std::unique_ptr<StateStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  const absl::Time now = absl::Now();
  AdoptedOrder order;
  order.order_url = "https://ca.test/o/1";
  order.agent = "web1";
  order.account = "default";
  order.identifiers = {Identifier::Dns("b.test"), Identifier::Dns("a.test")};
  order.finalize_url = "https://ca.test/o/1/finalize";
  order.resources = {{"https://ca.test/authz/1", order.order_url, "web1",
                      OrderResourceKind::kAuthorization}};
  // No newOrder was signed for web1.
  EXPECT_THAT(store->AdoptOrder(order),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no unused newOrder")));
  EXPECT_THAT(store->FindOrder(order.order_url).status(), StatusIs(absl::StatusCode::kNotFound, HasSubstr("")));
  // web2's newOrder does not count for web1; identifiers match in any order and case.
  ASSERT_TRUE(store->RecordNewOrderIntent("web2", "default", {Identifier::Dns("a.test"), Identifier::Dns("b.test")}, now,
                                          absl::Hours(1))
                  .ok());
  EXPECT_THAT(store->HasNewOrderIntent("web1", "default", order.identifiers, now - absl::Minutes(1)),
              IsOkAndHolds(false));
  ASSERT_TRUE(store->RecordNewOrderIntent("web1", "default", {Identifier::Dns("A.test"), Identifier::Dns("b.test")}, now,
                                          absl::Hours(1))
                  .ok());
  EXPECT_THAT(store->HasNewOrderIntent("web1", "default", order.identifiers, now - absl::Minutes(1)),
              IsOkAndHolds(true));
  EXPECT_THAT(store->HasNewOrderIntent("web1", "default", order.identifiers, now + absl::Minutes(1)),
              IsOkAndHolds(false));  // too old
  ASSERT_TRUE(store->AdoptOrder(order).ok());
  EXPECT_EQ(store->FindOrder(order.order_url)->agent, "web1");
  EXPECT_EQ(store->FindOrderResource("https://ca.test/authz/1", "web1")->kind,
            OrderResourceKind::kAuthorization);
  // The intent is used up; adopting again (a raced request) is fine and needs none.
  EXPECT_THAT(store->HasNewOrderIntent("web1", "default", order.identifiers, now - absl::Minutes(1)),
              IsOkAndHolds(false));
  EXPECT_TRUE(store->AdoptOrder(order).ok());
  // web2 has a matching intent but the order is web1's: refused, web2's intent kept.
  AdoptedOrder theirs = order;
  theirs.agent = "web2";
  EXPECT_THAT(store->AdoptOrder(theirs),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("belongs to agent \"web1\"")));
  EXPECT_THAT(store->HasNewOrderIntent("web2", "default", order.identifiers, now - absl::Minutes(1)),
              IsOkAndHolds(true));
}

TEST_P(StateStoreTest, OldNewOrderIntentsArePruned) {
  std::unique_ptr<StateStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  const absl::Time long_ago = absl::Now() - absl::Hours(48);
  ASSERT_TRUE(store->RecordNewOrderIntent("web1", "default", {Identifier::Dns("a.test")}, long_ago, absl::Hours(1)).ok());
  ASSERT_TRUE(
      store->RecordNewOrderIntent("web1", "default", {Identifier::Dns("b.test")}, absl::Now(), absl::Hours(1)).ok());
  EXPECT_THAT(store->HasNewOrderIntent("web1", "default", {Identifier::Dns("a.test")}, absl::InfinitePast()),
              IsOkAndHolds(false));
  EXPECT_THAT(store->HasNewOrderIntent("web1", "default", {Identifier::Dns("b.test")}, absl::InfinitePast()),
              IsOkAndHolds(true));
}

FrontDoorAccount TestAccount(std::string id, std::string kid, std::string thumbprint) {
  FrontDoorAccount account;
  account.id = std::move(id);
  account.host = "web1";
  account.eab_kid = std::move(kid);
  account.jwk = R"({"crv":"P-256","kty":"EC","x":"x","y":"y"})";
  account.thumbprint = std::move(thumbprint);
  account.contact = {"mailto:ops@example.org"};
  account.created = absl::FromUnixSeconds(1700000000);
  return account;
}

TEST_P(StateStoreTest, AFrontDoorAccountBindsItsCredentialOnceInTheSameTransaction) {
  auto store = OpenStore();
  ASSERT_THAT(store->AddFrontDoorCredential("kid-1", "web1", "default", absl::Now()), IsOk());
  ASSERT_THAT(store->AddFrontDoorCredential("kid-2", "web1", "default", absl::Now()), IsOk());
  ASSERT_THAT(store->CreateFrontDoorAccount(TestAccount("acct-1", "kid-1", "thumb-1")), IsOk());

  absl::StatusOr<std::optional<FrontDoorCredential>> bound = store->FindFrontDoorCredential("kid-1");
  ASSERT_THAT(bound, IsOk());
  ASSERT_TRUE(bound->has_value());
  EXPECT_EQ((*bound)->account_thumbprint, "thumb-1");
  absl::StatusOr<std::optional<FrontDoorAccount>> by_id = store->FindFrontDoorAccount("acct-1");
  ASSERT_THAT(by_id, IsOk());
  ASSERT_TRUE(by_id->has_value());
  EXPECT_EQ((*by_id)->host, "web1");
  EXPECT_EQ((*by_id)->status, "valid");
  EXPECT_EQ((*by_id)->contact, std::vector<std::string>{"mailto:ops@example.org"});
  absl::StatusOr<std::optional<FrontDoorAccount>> by_key =
      store->FindFrontDoorAccountByThumbprint("thumb-1");
  ASSERT_THAT(by_key, IsOk());
  ASSERT_TRUE(by_key->has_value());
  EXPECT_EQ((*by_key)->id, "acct-1");

  // The same key id again (another account key): refused, nothing recorded.
  EXPECT_THAT(store->CreateFrontDoorAccount(TestAccount("acct-2", "kid-1", "thumb-2")),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
  // The same account key with a fresh key id: refused, and the fresh key id stays unbound.
  EXPECT_THAT(store->CreateFrontDoorAccount(TestAccount("acct-3", "kid-2", "thumb-1")),
              StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));
  absl::StatusOr<std::optional<FrontDoorCredential>> unbound =
      store->FindFrontDoorCredential("kid-2");
  ASSERT_THAT(unbound, IsOk());
  EXPECT_FALSE((*unbound)->account_thumbprint.has_value());
  EXPECT_THAT(store->CreateFrontDoorAccount(TestAccount("acct-4", "kid-unknown", "thumb-4")),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  absl::StatusOr<std::optional<FrontDoorAccount>> none = store->FindFrontDoorAccount("acct-2");
  ASSERT_THAT(none, IsOk());
  EXPECT_FALSE(none->has_value());
}

TEST_F(SqliteStateStoreTest, UpgradeFromSchema5MovesEverythingToTheAccountDefault) {
  // A database exactly as the last single-account signer (schema 5) left it: its account URL
  // in the key/value table, an order, a certificate, a newOrder intent, and a front-door
  // credential with the account a client registered with it.
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
    const std::string schema5 =
        // schema 1
        "CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"
        "CREATE TABLE orders (order_url TEXT PRIMARY KEY NOT NULL, agent TEXT NOT NULL, "
        "identifiers TEXT NOT NULL, finalize_url TEXT NOT NULL, created TEXT NOT NULL, "
        "status TEXT NOT NULL);"
        "CREATE INDEX orders_by_finalize_url ON orders (finalize_url);"
        "CREATE TABLE inventory (serial TEXT PRIMARY KEY NOT NULL, agent TEXT NOT NULL, "
        "names TEXT NOT NULL, not_before TEXT NOT NULL, not_after TEXT NOT NULL, "
        "order_url TEXT NOT NULL, certificate_sha256 TEXT NOT NULL, "
        "revoked INTEGER NOT NULL DEFAULT 0, revocation_reason INTEGER NOT NULL DEFAULT 0, "
        "revoked_at TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX inventory_by_agent ON inventory (agent);"
        // schema 2
        "CREATE TABLE order_resources (url TEXT NOT NULL, agent TEXT NOT NULL, "
        "order_url TEXT NOT NULL, kind TEXT NOT NULL, PRIMARY KEY (url, agent));"
        "CREATE INDEX order_resources_by_order ON order_resources (order_url);"
        "CREATE TABLE new_order_intents (id INTEGER PRIMARY KEY, agent TEXT NOT NULL, "
        "identifiers TEXT NOT NULL, signed_at TEXT NOT NULL);"
        "CREATE INDEX new_order_intents_by_agent ON new_order_intents (agent, identifiers);"
        "CREATE INDEX inventory_by_sha256 ON inventory (certificate_sha256);"
        // schema 3
        "CREATE TABLE frontdoor_credentials (kid TEXT PRIMARY KEY NOT NULL, host TEXT NOT NULL, "
        "created TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, "
        "account_thumbprint TEXT, bound_at TEXT);"
        "CREATE INDEX frontdoor_credentials_by_host ON frontdoor_credentials (host);"
        // schema 4
        "CREATE TABLE frontdoor_accounts (id TEXT PRIMARY KEY NOT NULL, host TEXT NOT NULL, "
        "eab_kid TEXT NOT NULL, jwk TEXT NOT NULL, thumbprint TEXT NOT NULL UNIQUE, "
        "status TEXT NOT NULL, contact TEXT NOT NULL, created TEXT NOT NULL);"
        "CREATE INDEX frontdoor_accounts_by_host ON frontdoor_accounts (host);"
        "CREATE TABLE frontdoor_objects (kind TEXT NOT NULL, id TEXT NOT NULL, "
        "account TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, id));"
        // schema 5
        "CREATE TABLE agent_certificates (sha256 TEXT PRIMARY KEY NOT NULL, agent TEXT NOT NULL, "
        "serial TEXT NOT NULL, not_before TEXT NOT NULL, not_after TEXT NOT NULL, "
        "issued_at TEXT NOT NULL, source TEXT NOT NULL, renewed_from TEXT, "
        "revoked INTEGER NOT NULL DEFAULT 0, revoked_at TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX agent_certificates_by_agent ON agent_certificates (agent);"
        "CREATE TABLE enrollment_tokens (token_sha256 TEXT PRIMARY KEY NOT NULL, "
        "agent TEXT NOT NULL, created TEXT NOT NULL, expires TEXT NOT NULL, "
        "used_at TEXT NOT NULL DEFAULT '');"
        "CREATE TABLE agents_seen (agent TEXT PRIMARY KEY NOT NULL, at TEXT NOT NULL, "
        "peer TEXT NOT NULL);"
        // data
        "INSERT INTO kv VALUES ('acme.account_url', 'https://ca.test/acct/7');"
        "INSERT INTO orders VALUES ('https://ca.test/order/1', 'web1', '[\"dns:a.test\"]', "
        "'https://ca.test/finalize/1', '2026-01-01T00:00:00.000000Z', 'valid');"
        "INSERT INTO inventory (serial, agent, names, not_before, not_after, order_url, "
        "certificate_sha256) VALUES ('0a', 'web1', '[\"a.test\"]', "
        "'2026-01-01T00:00:00.000000Z', '2026-04-01T00:00:00.000000Z', "
        "'https://ca.test/order/1', '" +
        std::string(64, 'c') +
        "');"
        "INSERT INTO frontdoor_credentials (kid, host, created, account_thumbprint, bound_at) "
        "VALUES ('kid-old', 'web1', '2026-01-01T00:00:00.000000Z', 'thumb-old', "
        "'2026-01-01T00:00:00.000000Z');"
        "INSERT INTO frontdoor_accounts VALUES ('acct-old', 'web1', 'kid-old', '{}', "
        "'thumb-old', 'valid', '[]', '2026-01-01T00:00:00.000000Z');"
        "PRAGMA user_version = 5;";
    ASSERT_EQ(sqlite3_exec(db.get(), schema5.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db.get());
  }
  std::unique_ptr<StateStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  // The one account there was is `default`, with its URL; the key/value row is gone.
  absl::StatusOr<std::optional<AccountRecord>> account = store->FindAccount("default");
  ASSERT_TRUE(account.ok()) << account.status();
  ASSERT_TRUE(account->has_value());
  EXPECT_EQ((*account)->account_url, "https://ca.test/acct/7");
  EXPECT_THAT(store->GetValue("acme.account_url"), IsOkAndHolds(std::optional<std::string>()));
  absl::StatusOr<std::vector<AccountRecord>> accounts = store->ListAccounts();
  ASSERT_TRUE(accounts.ok()) << accounts.status();
  EXPECT_EQ(accounts->size(), 1u);
  // Orders, inventory and front-door credentials (and the accounts registered with them)
  // belong to `default`.
  absl::StatusOr<OrderRecord> order = store->FindOrder("https://ca.test/order/1");
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->account, "default");
  absl::StatusOr<std::optional<CertificateRecord>> cert =
      store->FindCertificateBySha256(std::string(64, 'c'));
  ASSERT_TRUE(cert.ok()) << cert.status();
  ASSERT_TRUE(cert->has_value());
  EXPECT_EQ((*cert)->account, "default");
  // Schema 8: recorded before the signer kept the time, it reads back its not_before.
  EXPECT_FALSE((*cert)->issued_at_recorded);
  EXPECT_EQ((*cert)->issued_at, (*cert)->not_before);
  absl::StatusOr<std::vector<CertificateRecord>> of_default =
      store->ListInventory(std::nullopt, std::string("default"));
  ASSERT_TRUE(of_default.ok()) << of_default.status();
  EXPECT_EQ(of_default->size(), 1u);
  absl::StatusOr<std::optional<FrontDoorCredential>> credential =
      store->FindFrontDoorCredential("kid-old");
  ASSERT_TRUE(credential.ok()) << credential.status();
  ASSERT_TRUE(credential->has_value());
  EXPECT_EQ((*credential)->account, "default");
  absl::StatusOr<std::optional<FrontDoorAccount>> client = store->FindFrontDoorAccount("acct-old");
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->has_value());
  EXPECT_EQ((*client)->signer_account, "default");
}

TEST_P(StateStoreTest, AFrontDoorAccountActsAsItsCredentialsSignerAccount) {
  auto store = OpenStore();
  ASSERT_THAT(store->AddFrontDoorCredential("kid-rsa", "web1", "rsa-ov", absl::Now()), IsOk());
  ASSERT_THAT(store->AddFrontDoorCredential("kid-ecc", "web1", "ecc-ov", absl::Now()), IsOk());
  ASSERT_THAT(store->CreateFrontDoorAccount(TestAccount("acct-rsa", "kid-rsa", "thumb-rsa")),
              IsOk());
  ASSERT_THAT(store->CreateFrontDoorAccount(TestAccount("acct-ecc", "kid-ecc", "thumb-ecc")),
              IsOk());
  absl::StatusOr<std::optional<FrontDoorAccount>> rsa = store->FindFrontDoorAccount("acct-rsa");
  ASSERT_THAT(rsa, IsOk());
  ASSERT_TRUE(rsa->has_value());
  EXPECT_EQ((*rsa)->signer_account, "rsa-ov");
  absl::StatusOr<std::optional<FrontDoorAccount>> ecc =
      store->FindFrontDoorAccountByThumbprint("thumb-ecc");
  ASSERT_THAT(ecc, IsOk());
  ASSERT_TRUE(ecc->has_value());
  EXPECT_EQ((*ecc)->signer_account, "ecc-ov");
  absl::StatusOr<std::optional<FrontDoorCredential>> credential =
      store->FindFrontDoorCredential("kid-ecc");
  ASSERT_THAT(credential, IsOk());
  EXPECT_EQ((*credential)->account, "ecc-ov");
}

TEST_P(StateStoreTest, FrontDoorAccountsChangeKeysAndAreRevokedWithTheirHost) {
  auto store = OpenStore();
  ASSERT_THAT(store->AddFrontDoorCredential("kid-1", "web1", "default", absl::Now()), IsOk());
  ASSERT_THAT(store->AddFrontDoorCredential("kid-2", "web1", "default", absl::Now()), IsOk());
  ASSERT_THAT(store->CreateFrontDoorAccount(TestAccount("acct-1", "kid-1", "thumb-1")), IsOk());
  ASSERT_THAT(store->CreateFrontDoorAccount(TestAccount("acct-2", "kid-2", "thumb-2")), IsOk());

  FrontDoorAccount rolled = TestAccount("acct-1", "kid-1", "thumb-new");
  ASSERT_THAT(store->UpdateFrontDoorAccount(rolled), IsOk());
  absl::StatusOr<std::optional<FrontDoorAccount>> old_key =
      store->FindFrontDoorAccountByThumbprint("thumb-1");
  ASSERT_THAT(old_key, IsOk());
  EXPECT_FALSE(old_key->has_value());
  // Another account's key cannot be taken over.
  EXPECT_THAT(store->UpdateFrontDoorAccount(TestAccount("acct-1", "kid-1", "thumb-2")),
              StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));
  EXPECT_THAT(store->UpdateFrontDoorAccount(TestAccount("acct-9", "kid-1", "thumb-9")),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));

  absl::StatusOr<int> revoked = store->RevokeFrontDoorAccounts("web1");
  ASSERT_THAT(revoked, IsOk());
  EXPECT_EQ(*revoked, 2);
  absl::StatusOr<std::optional<FrontDoorAccount>> after = store->FindFrontDoorAccount("acct-2");
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ((*after)->status, "revoked");
  EXPECT_THAT(store->RevokeFrontDoorAccounts("web1"), IsOkAndHolds(0));
}

TEST_P(StateStoreTest, FrontDoorObjectsKeepTheirOwner) {
  auto store = OpenStore();
  ASSERT_THAT(store->PutFrontDoorObject({"order", "o1", "acct-1", R"({"status":"pending"})"}),
              IsOk());
  ASSERT_THAT(store->PutFrontDoorObject({"order", "o1", "acct-1", R"({"status":"ready"})"}),
              IsOk());
  // Another account cannot overwrite (or adopt) it.
  EXPECT_THAT(store->PutFrontDoorObject({"order", "o1", "acct-2", R"({"status":"valid"})"}),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
  absl::StatusOr<std::optional<FrontDoorObject>> order = store->GetFrontDoorObject("order", "o1");
  ASSERT_THAT(order, IsOk());
  ASSERT_TRUE(order->has_value());
  EXPECT_EQ((*order)->account, "acct-1");
  EXPECT_EQ((*order)->body, R"({"status":"ready"})");
  // Kinds are separate name spaces.
  absl::StatusOr<std::optional<FrontDoorObject>> authz = store->GetFrontDoorObject("authz", "o1");
  ASSERT_THAT(authz, IsOk());
  EXPECT_FALSE(authz->has_value());

  // Listed by their JSON status (what serve resumes at start), only of that kind.
  ASSERT_THAT(store->PutFrontDoorObject({"order", "o2", "acct-1", R"({"status":"processing"})"}),
              IsOk());
  ASSERT_THAT(store->PutFrontDoorObject({"order", "o3", "acct-2", R"({"status":"processing"})"}),
              IsOk());
  ASSERT_THAT(store->PutFrontDoorObject({"authz", "a1", "acct-1", R"({"status":"processing"})"}),
              IsOk());
  ASSERT_THAT(store->PutFrontDoorObject({"order", "o4", "acct-1", "not json"}), IsOk());
  absl::StatusOr<std::vector<FrontDoorObject>> processing =
      store->ListFrontDoorObjectsWithStatus("order", "processing");
  ASSERT_THAT(processing, IsOk());
  ASSERT_EQ(processing->size(), 2u);
  EXPECT_EQ((*processing)[0].id, "o2");
  EXPECT_EQ((*processing)[1].id, "o3");
  EXPECT_EQ((*processing)[1].account, "acct-2");
}

}  // namespace

TEST_P(StateStoreTest, AgentCertificatesAreListedAndRevokedPerAgent) {
  std::unique_ptr<StateStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  AgentCertificateRecord first;
  first.sha256 = std::string(64, 'a');
  first.agent = "web1";
  first.serial = "01ab";
  first.not_before = absl::FromUnixSeconds(1700000000);
  first.not_after = absl::FromUnixSeconds(1702592000);
  first.issued_at = absl::FromUnixSeconds(1700000300);
  first.source = "enroll-agent";
  AgentCertificateRecord renewed = first;
  renewed.sha256 = std::string(64, 'b');
  renewed.serial = "02cd";
  renewed.issued_at = absl::FromUnixSeconds(1701000000);
  renewed.source = "renewal";
  renewed.renewed_from = first.sha256;
  AgentCertificateRecord other = first;
  other.sha256 = std::string(64, 'c');
  other.agent = "web2";
  ASSERT_THAT(store->RecordAgentCertificate(first), IsOk());
  ASSERT_THAT(store->RecordAgentCertificate(renewed), IsOk());
  ASSERT_THAT(store->RecordAgentCertificate(other), IsOk());
  EXPECT_THAT(store->RecordAgentCertificate(first), StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already")));

  absl::StatusOr<std::vector<AgentCertificateRecord>> web1 = store->ListAgentCertificates("web1");
  ASSERT_THAT(web1, IsOk());
  ASSERT_EQ(web1->size(), 2u);
  EXPECT_EQ((*web1)[0].sha256, first.sha256);
  EXPECT_FALSE((*web1)[0].renewed_from.has_value());
  EXPECT_EQ((*web1)[1].renewed_from, first.sha256);
  EXPECT_EQ((*web1)[1].not_after, renewed.not_after);
  EXPECT_EQ(store->ListAgentCertificates()->size(), 3u);

  EXPECT_THAT(store->RevokeAgentCertificates("web1", absl::FromUnixSeconds(1701500000)),
              IsOkAndHolds(2));
  EXPECT_THAT(store->RevokeAgentCertificates("web1", absl::FromUnixSeconds(1701500001)),
              IsOkAndHolds(0));
  absl::StatusOr<std::vector<std::string>> revoked = store->RevokedAgentCertificateFingerprints();
  ASSERT_THAT(revoked, IsOk());
  EXPECT_THAT(*revoked, ElementsAre(first.sha256, renewed.sha256));
  absl::StatusOr<std::optional<AgentCertificateRecord>> found =
      store->FindAgentCertificate(renewed.sha256);
  ASSERT_THAT(found, IsOk());
  ASSERT_TRUE(found->has_value());
  EXPECT_TRUE((*found)->revoked);
  EXPECT_EQ((*found)->revoked_at, absl::FromUnixSeconds(1701500000));
}

TEST_P(StateStoreTest, AnEnrollmentTokenIsRedeemedOnceAndNotAfterItExpires) {
  std::unique_ptr<StateStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  EnrollmentToken token;
  token.token_sha256 = std::string(64, '1');
  token.agent = "web2";
  token.created = now;
  token.expires = now + absl::Hours(1);
  ASSERT_THAT(store->AddEnrollmentToken(token), IsOk());
  EXPECT_THAT(store->AddEnrollmentToken(token), StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already")));
  EnrollmentToken expiring = token;
  expiring.token_sha256 = std::string(64, '2');
  ASSERT_THAT(store->AddEnrollmentToken(expiring), IsOk());

  EXPECT_THAT(store->RedeemEnrollmentToken(std::string(64, '3'), now),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown enrolment token")));
  absl::StatusOr<EnrollmentToken> used = store->RedeemEnrollmentToken(token.token_sha256, now);
  ASSERT_THAT(used, IsOk());
  EXPECT_EQ(used->agent, "web2");
  EXPECT_EQ(used->used_at, now);
  EXPECT_THAT(store->RedeemEnrollmentToken(token.token_sha256, now + absl::Seconds(1)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already used")));
  EXPECT_THAT(store->RedeemEnrollmentToken(expiring.token_sha256, now + absl::Hours(1)),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("expired")));
  // The refused redemption changed nothing: the expired token is still unused.
  absl::StatusOr<std::vector<EnrollmentToken>> tokens = store->ListEnrollmentTokens("web2");
  ASSERT_THAT(tokens, IsOk());
  ASSERT_EQ(tokens->size(), 2u);
  EXPECT_EQ((*tokens)[1].used_at, absl::InfinitePast());
}

TEST_P(StateStoreTest, LastSeenKeepsOneRowPerAgent) {
  std::unique_ptr<StateStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->NoteAgentSeen({"web1", absl::FromUnixSeconds(1700000000), "127.0.0.1"}),
              IsOk());
  ASSERT_THAT(store->NoteAgentSeen({"web1", absl::FromUnixSeconds(1700000600), "127.0.0.2"}),
              IsOk());
  absl::StatusOr<std::vector<AgentSeen>> seen = store->ListAgentsSeen();
  ASSERT_THAT(seen, IsOk());
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0].at, absl::FromUnixSeconds(1700000600));
  EXPECT_EQ((*seen)[0].peer, "127.0.0.2");
}

}  // namespace acme_signer::signer
