#include "signer/state_store.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "signer/db/sql_postgresql.h"
#include "signer/db/sql_sqlite.h"
#include "signer/identifier_text.h"

namespace acme_signer::signer {
namespace {

using db::SqlDatabase;
using db::SqlRows;
using db::SqlValue;

// The account of rows written without one (matches the schema 6 column default).
constexpr absl::string_view kDefaultAccountForRecords = "default";

std::string TimeText(absl::Time t) {
  if (t == absl::InfinitePast()) return "";
  // Fixed width, so text order is time order (ListInventory sorts on it).
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

absl::Time ParseTimeText(const std::string& text) {
  absl::Time t;
  if (text.empty() || !absl::ParseTime(absl::RFC3339_full, text, &t, nullptr)) {
    return absl::InfinitePast();
  }
  return t;
}

std::string StringsToJson(const std::vector<std::string>& values) {
  return nlohmann::json(values).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

std::vector<std::string> JsonToStrings(const std::string& text) {
  std::vector<std::string> out;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return out;
  for (const auto& item : j) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

// Whether `body` is a JSON object whose member "status" is the string `status`.
bool JsonStatusIs(const std::string& body, absl::string_view status) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  auto it = j.find("status");
  return it != j.end() && it->is_string() && it->get<std::string>() == status;
}

#define ACME_SIGNER_AGENT_CERT_SELECT                                                        \
  "SELECT sha256, agent, serial, not_before, not_after, issued_at, source, renewed_from, " \
  "revoked, revoked_at FROM agent_certificates "

AgentCertificateRecord ReadAgentCertificateRow(const SqlRows& rows, int r) {
  AgentCertificateRecord cert;
  cert.sha256 = rows.Text(r, 0);
  cert.agent = rows.Text(r, 1);
  cert.serial = rows.Text(r, 2);
  cert.not_before = ParseTimeText(rows.Text(r, 3));
  cert.not_after = ParseTimeText(rows.Text(r, 4));
  cert.issued_at = ParseTimeText(rows.Text(r, 5));
  cert.source = rows.Text(r, 6);
  cert.renewed_from = rows.Optional(r, 7);
  cert.revoked = rows.Int(r, 8) != 0;
  cert.revoked_at = ParseTimeText(rows.Text(r, 9));
  return cert;
}

#define ACME_SIGNER_TOKEN_SELECT \
  "SELECT token_sha256, agent, created, expires, used_at FROM enrollment_tokens "

EnrollmentToken ReadTokenRow(const SqlRows& rows, int r) {
  EnrollmentToken token;
  token.token_sha256 = rows.Text(r, 0);
  token.agent = rows.Text(r, 1);
  token.created = ParseTimeText(rows.Text(r, 2));
  token.expires = ParseTimeText(rows.Text(r, 3));
  token.used_at = ParseTimeText(rows.Text(r, 4));
  return token;
}

#define ACME_SIGNER_ACCOUNT_SELECT                                        \
  "SELECT id, host, eab_kid, jwk, thumbprint, status, contact, created, " \
  "COALESCE((SELECT c.account FROM frontdoor_credentials c "              \
  "WHERE c.kid = frontdoor_accounts.eab_kid), 'default') "                \
  "FROM frontdoor_accounts "

#define ACME_SIGNER_CREDENTIAL_SELECT                                           \
  "SELECT kid, host, created, disabled, account_thumbprint, bound_at, account " \
  "FROM frontdoor_credentials "

FrontDoorAccount ReadAccountRow(const SqlRows& rows, int r) {
  FrontDoorAccount account;
  account.id = rows.Text(r, 0);
  account.host = rows.Text(r, 1);
  account.eab_kid = rows.Text(r, 2);
  account.jwk = rows.Text(r, 3);
  account.thumbprint = rows.Text(r, 4);
  account.status = rows.Text(r, 5);
  account.contact = JsonToStrings(rows.Text(r, 6));
  account.created = ParseTimeText(rows.Text(r, 7));
  account.signer_account = rows.Text(r, 8);
  return account;
}

FrontDoorCredential ReadCredentialRow(const SqlRows& rows, int r) {
  FrontDoorCredential credential;
  credential.kid = rows.Text(r, 0);
  credential.host = rows.Text(r, 1);
  credential.created = ParseTimeText(rows.Text(r, 2));
  credential.disabled = rows.Int(r, 3) != 0;
  credential.account_thumbprint = rows.Optional(r, 4);
  credential.bound_at = ParseTimeText(rows.Text(r, 5));
  credential.account = rows.Text(r, 6);
  return credential;
}

absl::StatusOr<OrderResourceKind> KindFromText(const std::string& text) {
  for (OrderResourceKind kind :
       {OrderResourceKind::kOrder, OrderResourceKind::kAuthorization,
        OrderResourceKind::kChallenge, OrderResourceKind::kCertificate}) {
    if (OrderResourceKindName(kind) == text) return kind;
  }
  return absl::DataLossError(absl::StrCat("unknown order resource kind \"", text, "\""));
}

#define ACME_SIGNER_INVENTORY_SELECT                                \
  "SELECT serial, agent, names, not_before, not_after, order_url, " \
  "certificate_sha256, revoked, revocation_reason, revoked_at, account, issued_at FROM inventory "

CertificateRecord ReadCertificateRow(const SqlRows& rows, int r) {
  CertificateRecord cert;
  cert.serial = rows.Text(r, 0);
  cert.agent = rows.Text(r, 1);
  cert.names = JsonToStrings(rows.Text(r, 2));
  cert.not_before = ParseTimeText(rows.Text(r, 3));
  cert.not_after = ParseTimeText(rows.Text(r, 4));
  cert.order_url = rows.Text(r, 5);
  cert.certificate_sha256 = rows.Text(r, 6);
  cert.revoked = rows.Int(r, 7) != 0;
  cert.revocation_reason = static_cast<int>(rows.Int(r, 8));
  cert.revoked_at = ParseTimeText(rows.Text(r, 9));
  cert.account = rows.Text(r, 10);
  cert.issued_at = ParseTimeText(rows.Text(r, 11));
  if (cert.issued_at == absl::InfinitePast()) {
    // Recorded before schema 8: not_before is the CA's issuance time, the closest we know.
    cert.issued_at = cert.not_before;
    cert.issued_at_recorded = false;
  }
  return cert;
}

#define ACME_SIGNER_SIGNER_ACCOUNT_SELECT                                              \
  "SELECT name, directory_url, account_url, key_thumbprint, status, registered_at, " \
  "updated_at, rollover_new_key FROM accounts "

AccountRecord ReadSignerAccountRow(const SqlRows& rows, int r) {
  AccountRecord account;
  account.name = rows.Text(r, 0);
  account.directory_url = rows.Text(r, 1);
  account.account_url = rows.Text(r, 2);
  account.key_thumbprint = rows.Text(r, 3);
  account.status = rows.Text(r, 4);
  account.registered_at = ParseTimeText(rows.Text(r, 5));
  account.updated_at = ParseTimeText(rows.Text(r, 6));
  account.rollover_new_key = rows.Text(r, 7);
  return account;
}

// The identifiers column of new_order_intents, for matching a newOrder with the order the CA
// made of it: JSON of "type:value" texts in lower case, sorted, duplicates removed.
std::string NewOrderIntentKey(const std::vector<Identifier>& identifiers) {
  std::vector<std::string> texts = IdentifierTexts(identifiers);
  for (std::string& text : texts) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::sort(texts.begin(), texts.end());
  texts.erase(std::unique(texts.begin(), texts.end()), texts.end());
  return StringsToJson(texts);
}

#define ACME_SIGNER_ORDER_SELECT \
  "SELECT order_url, agent, identifiers, finalize_url, created, status, account FROM orders "
constexpr absl::string_view kOrderByUrl = ACME_SIGNER_ORDER_SELECT "WHERE order_url = ?1";
constexpr absl::string_view kOrderByFinalizeUrl =
    ACME_SIGNER_ORDER_SELECT "WHERE finalize_url = ?1";
#undef ACME_SIGNER_ORDER_SELECT

// The UPDATE that binds a front-door credential, once: two newAccounts racing with one key id
// (in this process or another replica) cannot both bind it, because the row's conditions are
// re-checked under its row lock.
constexpr absl::string_view kBindCredential =
    "UPDATE frontdoor_credentials SET account_thumbprint = ?2, bound_at = ?3 "
    "WHERE kid = ?1 AND disabled = 0 AND account_thumbprint IS NULL";

absl::StatusOr<std::unique_ptr<SqlDatabase>> OpenDatabase(const StateStoreOptions& options) {
  switch (options.backend) {
    case StateConfig::Backend::kSqlite: {
      absl::StatusOr<std::unique_ptr<db::SqliteDatabase>> db =
          db::SqliteDatabase::Open(options.sqlite_path, /*create=*/options.migrate);
      if (!db.ok() && db.status().code() == absl::StatusCode::kNotFound && !options.migrate) {
        return absl::FailedPreconditionError(absl::StrCat(
            db.status().message(), "; run `acme-signer init --config ",
            options.config_path.empty() ? "FILE" : options.config_path, "` first"));
      }
      if (!db.ok()) return db.status();
      return std::unique_ptr<SqlDatabase>(*std::move(db));
    }
    case StateConfig::Backend::kPostgresql: {
      ASSIGN_OR_RETURN(std::unique_ptr<db::PostgresDatabase> db,
                       db::PostgresDatabase::Connect(options.postgresql_url));
      return std::unique_ptr<SqlDatabase>(std::move(db));
    }
  }
  return absl::InvalidArgumentError("unknown state backend");
}

}  // namespace

StateStore::StateStore(std::unique_ptr<db::SqlDatabase> db, int schema_version_found)
    : where_(db->name()), schema_version_found_(schema_version_found), db_(std::move(db)) {}

StateStore::~StateStore() = default;

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(const StateStoreOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<SqlDatabase> db, OpenDatabase(options));
  int found = kSchemaVersion;
  if (options.migrate) {
    ASSIGN_OR_RETURN(found, MigrateStateSchema(*db));
  } else {
    RETURN_IF_ERROR(CheckStateSchemaIsCurrent(*db, options.config_path));
  }
  return std::unique_ptr<StateStore>(new StateStore(std::move(db), found));
}

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(const std::string& path) {
  StateStoreOptions options;
  options.sqlite_path = path;
  options.migrate = true;
  return Open(options);
}

absl::Status StateStore::Ping() {
  absl::MutexLock lock(&mu_);
  return db_->Ping();
}

absl::Status StateStore::SetValue(absl::string_view key, absl::string_view value) {
  absl::MutexLock lock(&mu_);
  return db_
      ->Exec(absl::StrCat("cannot store \"", key, "\" in ", where_),
             "INSERT INTO kv (key, value) VALUES (?1, ?2) "
             "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
             {key, value})
      .status();
}

absl::StatusOr<std::optional<std::string>> StateStore::GetValue(absl::string_view key) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows, db_->Exec(absl::StrCat("cannot read \"", key, "\" from ", where_),
                                           "SELECT value FROM kv WHERE key = ?1", {key}));
  if (rows.empty()) return std::nullopt;
  return rows.Text(0, 0);
}

absl::Status StateStore::RecordOrder(absl::string_view order_url, absl::string_view agent,
                                     const std::vector<Identifier>& identifiers,
                                     absl::string_view finalize_url, absl::string_view account) {
  absl::MutexLock lock(&mu_);
  return RecordOrderLocked(order_url, agent, identifiers, finalize_url, account);
}

absl::Status StateStore::RecordOrderLocked(absl::string_view order_url, absl::string_view agent,
                                           const std::vector<Identifier>& identifiers,
                                           absl::string_view finalize_url,
                                           absl::string_view account) {
  ASSIGN_OR_RETURN(
      SqlRows inserted,
      db_->Exec(absl::StrCat("cannot record order ", order_url),
                "INSERT INTO orders (order_url, agent, identifiers, finalize_url, "
                "created, status, account) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6) "
                "ON CONFLICT (order_url) DO NOTHING",
                {order_url, agent, StringsToJson(IdentifierTexts(identifiers)), finalize_url,
                 TimeText(absl::Now()), account}));
  if (inserted.affected() == 1) return absl::OkStatus();

  ASSIGN_OR_RETURN(SqlRows owner, db_->Exec(absl::StrCat("cannot read order ", order_url),
                                            "SELECT agent FROM orders WHERE order_url = ?1",
                                            {order_url}));
  if (owner.empty()) {
    return absl::InternalError(
        absl::StrCat("cannot read order ", order_url, ": it vanished while being recorded"));
  }
  const std::string& existing = owner.Text(0, 0);
  if (existing != agent) {
    return absl::AlreadyExistsError(absl::StrCat("order ", order_url, " belongs to agent \"",
                                                 existing, "\", not \"", agent, "\""));
  }
  return absl::OkStatus();
}

absl::Status StateStore::SetOrderStatus(absl::string_view order_url, absl::string_view status) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows updated,
                   db_->Exec(absl::StrCat("cannot update order ", order_url),
                             "UPDATE orders SET status = ?2 WHERE order_url = ?1",
                             {order_url, status}));
  if (updated.affected() == 0) {
    return absl::NotFoundError(absl::StrCat("no recorded order ", order_url));
  }
  return absl::OkStatus();
}

absl::Status StateStore::ClaimOrderFinalize(absl::string_view order_url, absl::string_view replica,
                                            absl::Time now, absl::Duration lease) {
  absl::MutexLock lock(&mu_);
  const std::string context = absl::StrCat("cannot claim order ", order_url, " for finalize");
  const std::string read_sql =
      absl::StrCat("SELECT finalize_claimed_by, finalize_claimed_until FROM orders "
                   "WHERE order_url = ?1",
                   db_->ForUpdate());
  return db::RunInTransaction(
      *db_, context, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        // The order's row stays locked until the claim is written: two replicas finalizing
        // the same order take turns here, and the second sees the first one's claim.
        ASSIGN_OR_RETURN(SqlRows read, db_->Exec(context, read_sql, {order_url}));
        if (read.empty()) return absl::NotFoundError(absl::StrCat("no recorded order ", order_url));
        const std::string& holder = read.Text(0, 0);
        const absl::Time until = ParseTimeText(read.Text(0, 1));
        if (!holder.empty() && holder != replica && until > now) {
          return absl::FailedPreconditionError(
              absl::StrCat("order ", order_url, " is being finalized by replica ", holder,
                           " (claim held until ", absl::FormatTime(until), ")"));
        }
        return db_
            ->Exec(context,
                   "UPDATE orders SET finalize_claimed_by = ?2, finalize_claimed_until = ?3 "
                   "WHERE order_url = ?1",
                   {order_url, replica, TimeText(now + lease)})
            .status();
      });
}

absl::Status StateStore::ReleaseOrderFinalize(absl::string_view order_url,
                                              absl::string_view replica) {
  absl::MutexLock lock(&mu_);
  return db_
      ->Exec(absl::StrCat("cannot release order ", order_url),
             "UPDATE orders SET finalize_claimed_by = '', finalize_claimed_until = '' "
             "WHERE order_url = ?1 AND finalize_claimed_by = ?2",
             {order_url, replica})
      .status();
}

absl::StatusOr<RateDecision> StateStore::AdmitRateEvent(absl::string_view agent, int limit,
                                                        absl::Duration window, absl::Time now) {
  absl::MutexLock lock(&mu_);
  const std::string context = "cannot update the rate counters";
  RateDecision decision;
  RETURN_IF_ERROR(db::RunInTransaction(
      *db_, context, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        decision = RateDecision();
        // An agent's events are many rows, or none yet: a named lock stands for "this agent's
        // counter", so two replicas admitting for one agent count one after the other.
        RETURN_IF_ERROR(db_->LockName(context, absl::StrCat("rate:", agent)));
        RETURN_IF_ERROR(db_->Exec(context, "DELETE FROM rate_events WHERE agent = ?1 AND at <= ?2",
                                  {agent, TimeText(now - window)})
                            .status());
        // The limit-th newest admission is the one whose leaving the window frees a slot.
        ASSIGN_OR_RETURN(SqlRows events,
                         db_->Exec(context,
                                   "SELECT at FROM rate_events WHERE agent = ?1 "
                                   "ORDER BY at DESC",
                                   {agent}));
        const int count = events.size();
        if (limit < 1 || count >= limit) {
          decision.admitted = false;
          decision.next_free = limit < 1 ? absl::InfiniteFuture()
                                         : ParseTimeText(events.Text(limit - 1, 0)) + window;
          return absl::OkStatus();
        }
        RETURN_IF_ERROR(db_->Exec(context, "INSERT INTO rate_events (agent, at) VALUES (?1, ?2)",
                                  {agent, TimeText(now)})
                            .status());
        decision.admitted = true;
        return absl::OkStatus();
      }));
  return decision;
}

absl::StatusOr<OrderRecord> StateStore::FindOrder(absl::string_view order_url) const {
  return FindOrderWhere(kOrderByUrl, order_url);
}

absl::StatusOr<OrderRecord> StateStore::FindOrderByFinalizeUrl(
    absl::string_view finalize_url) const {
  return FindOrderWhere(kOrderByFinalizeUrl, finalize_url);
}

absl::StatusOr<OrderRecord> StateStore::FindOrderWhere(absl::string_view sql,
                                                       absl::string_view value) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows,
                   db_->Exec(absl::StrCat("cannot read order for ", value), sql, {value}));
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("no recorded order for ", value));
  OrderRecord order;
  order.order_url = rows.Text(0, 0);
  order.agent = rows.Text(0, 1);
  absl::StatusOr<std::vector<Identifier>> identifiers =
      ParseIdentifierTexts(JsonToStrings(rows.Text(0, 2)));
  if (!identifiers.ok()) {
    return absl::InternalError(absl::StrCat("order ", order.order_url, " in ", where_,
                                            " has a malformed identifier: ",
                                            identifiers.status().message()));
  }
  order.identifiers = *std::move(identifiers);
  order.finalize_url = rows.Text(0, 3);
  order.created = ParseTimeText(rows.Text(0, 4));
  order.status = rows.Text(0, 5);
  order.account = rows.Text(0, 6);
  return order;
}

absl::Status StateStore::RecordOrderResource(const OrderResource& resource) {
  absl::MutexLock lock(&mu_);
  return RecordOrderResourceLocked(resource);
}

absl::Status StateStore::RecordOrderResourceLocked(const OrderResource& resource) {
  return db_
      ->Exec(absl::StrCat("cannot record ", resource.url),
             "INSERT INTO order_resources (url, order_url, agent, kind) "
             "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (url, agent) DO NOTHING",
             {resource.url, resource.order_url, resource.agent,
              OrderResourceKindName(resource.kind)})
      .status();
}

absl::StatusOr<OrderResource> StateStore::FindOrderResource(absl::string_view url,
                                                            absl::string_view agent) const {
  {
    absl::MutexLock lock(&mu_);
    // The caller's own row first; otherwise any owner's, so a refusal can say whose it is.
    ASSIGN_OR_RETURN(SqlRows rows,
                     db_->Exec(absl::StrCat("cannot read owner of ", url),
                               "SELECT url, order_url, agent, kind FROM order_resources "
                               "WHERE url = ?1 ORDER BY agent = ?2 DESC, agent LIMIT 1",
                               {url, agent}));
    if (!rows.empty()) {
      OrderResource resource;
      resource.url = rows.Text(0, 0);
      resource.order_url = rows.Text(0, 1);
      resource.agent = rows.Text(0, 2);
      ASSIGN_OR_RETURN(resource.kind, KindFromText(rows.Text(0, 3)));
      return resource;
    }
  }
  absl::StatusOr<OrderRecord> order = FindOrder(url);
  if (!order.ok()) return order.status();
  return OrderResource{order->order_url, order->order_url, order->agent,
                       OrderResourceKind::kOrder};
}

absl::Status StateStore::RecordNewOrderIntent(absl::string_view agent, absl::string_view account,
                                              const std::vector<Identifier>& identifiers,
                                              absl::Time when, absl::Duration keep) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(db_->Exec("cannot prune newOrder intents",
                            "DELETE FROM new_order_intents WHERE signed_at < ?1",
                            {TimeText(when - keep)})
                      .status());
  return db_
      ->Exec(absl::StrCat("cannot record a newOrder of ", agent),
             "INSERT INTO new_order_intents (agent, identifiers, signed_at, account) "
             "VALUES (?1, ?2, ?3, ?4)",
             {agent, NewOrderIntentKey(identifiers), TimeText(when), account})
      .status();
}

absl::StatusOr<bool> StateStore::HasNewOrderIntent(absl::string_view agent,
                                                   absl::string_view account,
                                                   const std::vector<Identifier>& identifiers,
                                                   absl::Time since) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows,
                   db_->Exec(absl::StrCat("cannot read newOrders of ", agent),
                             "SELECT 1 FROM new_order_intents WHERE agent = ?1 AND "
                             "identifiers = ?2 AND signed_at >= ?3 AND account = ?4 LIMIT 1",
                             {agent, NewOrderIntentKey(identifiers), TimeText(since), account}));
  return !rows.empty();
}

absl::Status StateStore::AdoptOrder(const AdoptedOrder& order) {
  absl::MutexLock lock(&mu_);
  const std::string context = absl::StrCat("cannot adopt order ", order.order_url);
  return db::RunInTransaction(
      *db_, context, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        // One adoption per agent at a time across replicas: two requests of one agent racing
        // for one order (or for two orders with the same identifiers) must not both take an
        // intent, nor both miss the other's. Another agent claiming the same order meets the
        // orders row (RecordOrderLocked: AlreadyExists).
        RETURN_IF_ERROR(db_->LockName(context, absl::StrCat("adopt:", order.agent)));
        ASSIGN_OR_RETURN(SqlRows owner, db_->Exec(context,
                                                  "SELECT agent FROM orders WHERE order_url = ?1",
                                                  {order.order_url}));
        // Adopted already by this agent (two requests raced): only the resources are new.
        const bool already_adopted = !owner.empty();
        if (!already_adopted) {
          ASSIGN_OR_RETURN(SqlRows used,
                           db_->Exec(context,
                                     "DELETE FROM new_order_intents WHERE id = (SELECT id FROM "
                                     "new_order_intents WHERE agent = ?1 AND identifiers = ?2 "
                                     "AND account = ?3 ORDER BY signed_at LIMIT 1)",
                                     {order.agent, NewOrderIntentKey(order.identifiers),
                                      order.account}));
          if (used.affected() != 1) {
            return absl::FailedPreconditionError(absl::StrCat(
                "the signer signed no unused newOrder for exactly these identifiers for agent ",
                order.agent));
          }
        }
        // AlreadyExists when another agent has the order.
        RETURN_IF_ERROR(RecordOrderLocked(order.order_url, order.agent, order.identifiers,
                                          order.finalize_url, order.account));
        for (const OrderResource& resource : order.resources) {
          RETURN_IF_ERROR(RecordOrderResourceLocked(resource));
        }
        return absl::OkStatus();
      });
}

absl::Status StateStore::RecordCertificate(const CertificateRecord& cert) {
  if (cert.serial.empty()) return absl::InvalidArgumentError("certificate serial is empty");
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(
      SqlRows inserted,
      db_->Exec(absl::StrCat("cannot record certificate ", cert.serial),
                "INSERT INTO inventory (serial, agent, names, not_before, not_after, "
                "order_url, certificate_sha256, account, issued_at) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (serial) DO NOTHING",
                {cert.serial, cert.agent, StringsToJson(cert.names), TimeText(cert.not_before),
                 TimeText(cert.not_after), cert.order_url, cert.certificate_sha256,
                 cert.account.empty() ? std::string(kDefaultAccountForRecords) : cert.account,
                 TimeText(cert.issued_at == absl::InfinitePast() ? absl::Now()
                                                                 : cert.issued_at)}));
  if (inserted.affected() == 1) return absl::OkStatus();

  ASSIGN_OR_RETURN(SqlRows existing,
                   db_->Exec(absl::StrCat("cannot read certificate ", cert.serial),
                             "SELECT agent, certificate_sha256 FROM inventory WHERE serial = ?1",
                             {cert.serial}));
  if (existing.empty()) {
    return absl::InternalError(absl::StrCat("cannot read certificate ", cert.serial,
                                            ": it vanished while being recorded"));
  }
  if (existing.Text(0, 0) != cert.agent || existing.Text(0, 1) != cert.certificate_sha256) {
    return absl::AlreadyExistsError(
        absl::StrCat("certificate serial ", cert.serial,
                     " is already recorded with a different agent or certificate hash"));
  }
  return absl::OkStatus();
}

absl::Status StateStore::MarkRevoked(absl::string_view serial, int reason, absl::Time when) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows updated,
                   db_->Exec(absl::StrCat("cannot mark ", serial, " revoked"),
                             "UPDATE inventory SET revoked = 1, revocation_reason = ?2, "
                             "revoked_at = ?3 WHERE serial = ?1 AND revoked = 0",
                             {serial, reason, TimeText(when)}));
  if (updated.affected() == 1) return absl::OkStatus();

  ASSIGN_OR_RETURN(SqlRows exists, db_->Exec(absl::StrCat("cannot read certificate ", serial),
                                             "SELECT 1 FROM inventory WHERE serial = ?1",
                                             {serial}));
  if (exists.empty()) {
    return absl::NotFoundError(absl::StrCat("no certificate with serial ", serial));
  }
  return absl::OkStatus();  // already revoked
}

absl::StatusOr<std::optional<CertificateRecord>> StateStore::FindCertificateBySha256(
    absl::string_view certificate_sha256) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows, db_->Exec(absl::StrCat("cannot read inventory in ", where_),
                                           ACME_SIGNER_INVENTORY_SELECT
                                           "WHERE certificate_sha256 = ?1 LIMIT 1",
                                           {certificate_sha256}));
  if (rows.empty()) return std::nullopt;
  return ReadCertificateRow(rows, 0);
}

absl::StatusOr<std::vector<CertificateRecord>> StateStore::ListInventory(
    std::optional<std::string> agent, std::optional<std::string> account) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows,
                   db_->Exec(absl::StrCat("cannot list inventory in ", where_),
                             ACME_SIGNER_INVENTORY_SELECT
                             // The casts give PostgreSQL the parameters' type where
                             // they are only tested for NULL.
                             "WHERE (CAST(?1 AS TEXT) IS NULL OR agent = ?1) AND "
                             "(CAST(?2 AS TEXT) IS NULL OR account = ?2) "
                             "ORDER BY not_after, serial",
                             {std::move(agent), std::move(account)}));
  std::vector<CertificateRecord> out;
  out.reserve(static_cast<size_t>(rows.size()));
  for (int r = 0; r < rows.size(); ++r) out.push_back(ReadCertificateRow(rows, r));
  return out;
}

absl::Status StateStore::PutAccount(const AccountRecord& record) {
  absl::MutexLock lock(&mu_);
  return db_
      ->Exec(absl::StrCat("cannot record account ", record.name, " in ", where_),
             "INSERT INTO accounts (name, directory_url, account_url, "
             "key_thumbprint, status, registered_at, updated_at, rollover_new_key) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (name) DO UPDATE "
             "SET directory_url = excluded.directory_url, "
             "account_url = excluded.account_url, "
             "key_thumbprint = excluded.key_thumbprint, status = excluded.status, "
             "registered_at = excluded.registered_at, "
             "updated_at = excluded.updated_at, "
             "rollover_new_key = excluded.rollover_new_key",
             {record.name, record.directory_url, record.account_url, record.key_thumbprint,
              record.status, TimeText(record.registered_at), TimeText(record.updated_at),
              record.rollover_new_key})
      .status();
}

absl::StatusOr<std::optional<AccountRecord>> StateStore::FindAccount(
    absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows,
                   db_->Exec(absl::StrCat("cannot read account ", name, " from ", where_),
                             ACME_SIGNER_SIGNER_ACCOUNT_SELECT "WHERE name = ?1", {name}));
  if (rows.empty()) return std::nullopt;
  return ReadSignerAccountRow(rows, 0);
}

absl::StatusOr<std::vector<AccountRecord>> StateStore::ListAccounts() const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows, db_->Exec(absl::StrCat("cannot list accounts in ", where_),
                                           ACME_SIGNER_SIGNER_ACCOUNT_SELECT "ORDER BY name"));
  std::vector<AccountRecord> out;
  for (int r = 0; r < rows.size(); ++r) out.push_back(ReadSignerAccountRow(rows, r));
  return out;
}

absl::Status StateStore::AddFrontDoorCredential(absl::string_view kid, absl::string_view host,
                                                absl::string_view account, absl::Time created) {
  absl::MutexLock lock(&mu_);
  return db_
      ->Exec(absl::StrCat("cannot record front-door credential ", kid, " for host ", host, " in ",
                          where_),
             "INSERT INTO frontdoor_credentials (kid, host, created, account) "
             "VALUES (?1, ?2, ?3, ?4)",
             {kid, host, TimeText(created), account})
      .status();
}

absl::StatusOr<std::optional<FrontDoorCredential>> StateStore::FindFrontDoorCredential(
    absl::string_view kid) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows,
                   db_->Exec(absl::StrCat("cannot read front-door credentials from ", where_),
                             ACME_SIGNER_CREDENTIAL_SELECT "WHERE kid = ?1", {kid}));
  if (rows.empty()) return std::nullopt;
  return ReadCredentialRow(rows, 0);
}

absl::Status StateStore::CredentialBindRefusal(absl::string_view kid, absl::string_view context,
                                               bool name_thumbprint) const {
  // Why not: read the row as it is now.
  ASSIGN_OR_RETURN(SqlRows rows,
                   db_->Exec(context, ACME_SIGNER_CREDENTIAL_SELECT "WHERE kid = ?1", {kid}));
  if (rows.empty()) {
    return absl::NotFoundError(absl::StrCat("no front-door credential with key id ", kid));
  }
  const FrontDoorCredential credential = ReadCredentialRow(rows, 0);
  if (credential.disabled) {
    return absl::FailedPreconditionError(
        absl::StrCat("front-door credential ", kid, " of host ", credential.host, " is disabled"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "front-door credential ", kid, " of host ", credential.host, " is already bound to ",
      name_thumbprint ? absl::StrCat("the account with key thumbprint ",
                                     credential.account_thumbprint.value_or(""))
                      : std::string("an account"),
      " (since ", TimeText(credential.bound_at),
      "); a key id registers one account, once: issue another with acme-signer enroll-client"));
}

absl::Status StateStore::BindFrontDoorCredential(absl::string_view kid,
                                                 absl::string_view account_thumbprint,
                                                 absl::Time when) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows bound,
                   db_->Exec(absl::StrCat("cannot bind front-door credential ", kid, " in ", where_),
                             kBindCredential, {kid, account_thumbprint, TimeText(when)}));
  if (bound.affected() == 1) return absl::OkStatus();
  return CredentialBindRefusal(
      kid, absl::StrCat("cannot read front-door credentials from ", where_),
      /*name_thumbprint=*/true);
}

absl::StatusOr<int> StateStore::DisableFrontDoorCredentials(absl::string_view host) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(
      SqlRows updated,
      db_->Exec(absl::StrCat("cannot disable the front-door credentials of host ", host, " in ",
                             where_),
                "UPDATE frontdoor_credentials SET disabled = 1 WHERE host = ?1 AND disabled = 0",
                {host}));
  return static_cast<int>(updated.affected());
}

absl::StatusOr<std::vector<FrontDoorCredential>> StateStore::ListFrontDoorCredentials(
    absl::string_view host) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows,
                   db_->Exec(absl::StrCat("cannot list front-door credentials from ", where_),
                             ACME_SIGNER_CREDENTIAL_SELECT "WHERE host = ?1 ORDER BY created, kid",
                             {host}));
  std::vector<FrontDoorCredential> out;
  for (int r = 0; r < rows.size(); ++r) out.push_back(ReadCredentialRow(rows, r));
  return out;
}

absl::Status StateStore::CreateFrontDoorAccount(const FrontDoorAccount& account) {
  // BindFrontDoorCredential takes the lock; the binding and the insert must be one
  // transaction, so the bind runs here as the same conditional UPDATE.
  absl::MutexLock lock(&mu_);
  const std::string context =
      absl::StrCat("cannot record front-door account ", account.id, " in ", where_);
  return db::RunInTransaction(
      *db_, context, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        ASSIGN_OR_RETURN(SqlRows taken,
                         db_->Exec(context, ACME_SIGNER_ACCOUNT_SELECT "WHERE thumbprint = ?1",
                                   {account.thumbprint}));
        if (!taken.empty()) {
          return absl::AlreadyExistsError(
              absl::StrCat("the key with thumbprint ", account.thumbprint,
                           " is already the key of account ", taken.Text(0, 0)));
        }
        ASSIGN_OR_RETURN(SqlRows bound,
                         db_->Exec(context, kBindCredential,
                                   {account.eab_kid, account.thumbprint,
                                    TimeText(account.created)}));
        if (bound.affected() != 1) {
          return CredentialBindRefusal(account.eab_kid, context, /*name_thumbprint=*/false);
        }
        absl::Status inserted =
            db_->Exec(context,
                      "INSERT INTO frontdoor_accounts (id, host, eab_kid, jwk, thumbprint, "
                      "status, contact, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                      {account.id, account.host, account.eab_kid, account.jwk,
                       account.thumbprint, account.status, StringsToJson(account.contact),
                       TimeText(account.created)})
                .status();
        // Another replica registered the same key between our check and our insert.
        if (inserted.code() == absl::StatusCode::kAlreadyExists) {
          return absl::AlreadyExistsError(absl::StrCat(
              "the key with thumbprint ", account.thumbprint,
              " was registered for another account at the same time"));
        }
        return inserted;
      });
}

absl::StatusOr<std::optional<FrontDoorAccount>> StateStore::FindFrontDoorAccount(
    absl::string_view id) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows,
                   db_->Exec(absl::StrCat("cannot read front-door accounts from ", where_),
                             ACME_SIGNER_ACCOUNT_SELECT "WHERE id = ?1", {id}));
  if (rows.empty()) return std::nullopt;
  return ReadAccountRow(rows, 0);
}

absl::StatusOr<std::optional<FrontDoorAccount>> StateStore::FindFrontDoorAccountByThumbprint(
    absl::string_view thumbprint) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows,
                   db_->Exec(absl::StrCat("cannot read front-door accounts from ", where_),
                             ACME_SIGNER_ACCOUNT_SELECT "WHERE thumbprint = ?1", {thumbprint}));
  if (rows.empty()) return std::nullopt;
  return ReadAccountRow(rows, 0);
}

absl::Status StateStore::UpdateFrontDoorAccount(const FrontDoorAccount& account) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SqlRows> updated =
      db_->Exec(absl::StrCat("cannot update front-door account ", account.id, " in ", where_),
                "UPDATE frontdoor_accounts SET status = ?2, contact = ?3, "
                "jwk = ?4, thumbprint = ?5 WHERE id = ?1",
                {account.id, account.status, StringsToJson(account.contact), account.jwk,
                 account.thumbprint});
  if (updated.status().code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(absl::StrCat("the key with thumbprint ", account.thumbprint,
                                                 " is already another account's key"));
  }
  if (!updated.ok()) return updated.status();
  if (updated->affected() != 1) {
    return absl::NotFoundError(absl::StrCat("no front-door account ", account.id));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> StateStore::RevokeFrontDoorAccounts(absl::string_view host) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(
      SqlRows updated,
      db_->Exec(absl::StrCat("cannot revoke the front-door accounts of host ", host, " in ",
                             where_),
                "UPDATE frontdoor_accounts SET status = 'revoked' "
                "WHERE host = ?1 AND status = 'valid'",
                {host}));
  return static_cast<int>(updated.affected());
}

absl::Status StateStore::PutFrontDoorObject(const FrontDoorObject& object) {
  absl::MutexLock lock(&mu_);
  // The existing row's owner is named with its table: both engines read an unqualified column
  // in DO UPDATE differently.
  ASSIGN_OR_RETURN(SqlRows written,
                   db_->Exec(absl::StrCat("cannot store front-door ", object.kind, " ", object.id,
                                          " in ", where_),
                             "INSERT INTO frontdoor_objects (kind, id, account, body) "
                             "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (kind, id) DO UPDATE SET "
                             "body = excluded.body "
                             "WHERE frontdoor_objects.account = excluded.account",
                             {object.kind, object.id, object.account, object.body}));
  if (written.affected() != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "front-door ", object.kind, " ", object.id, " belongs to another account"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<FrontDoorObject>> StateStore::GetFrontDoorObject(
    absl::string_view kind, absl::string_view id) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows,
                   db_->Exec(absl::StrCat("cannot read front-door objects from ", where_),
                             "SELECT account, body FROM frontdoor_objects "
                             "WHERE kind = ?1 AND id = ?2",
                             {kind, id}));
  if (rows.empty()) return std::nullopt;
  FrontDoorObject object;
  object.kind = std::string(kind);
  object.id = std::string(id);
  object.account = rows.Text(0, 0);
  object.body = rows.Text(0, 1);
  return object;
}

absl::StatusOr<std::vector<FrontDoorObject>> StateStore::ListFrontDoorObjectsWithStatus(
    absl::string_view kind, absl::string_view status) const {
  absl::MutexLock lock(&mu_);
  // The JSON status is matched here rather than in SQL (the engines' JSON functions differ);
  // this runs once at serve start. rowid is insertion order on both engines (the PostgreSQL
  // schema names its identity column so).
  ASSIGN_OR_RETURN(SqlRows rows,
                   db_->Exec(absl::StrCat("cannot list front-door objects from ", where_),
                             "SELECT id, account, body FROM frontdoor_objects "
                             "WHERE kind = ?1 ORDER BY rowid",
                             {kind}));
  std::vector<FrontDoorObject> out;
  for (int r = 0; r < rows.size(); ++r) {
    if (!JsonStatusIs(rows.Text(r, 2), status)) continue;
    FrontDoorObject object;
    object.kind = std::string(kind);
    object.id = rows.Text(r, 0);
    object.account = rows.Text(r, 1);
    object.body = rows.Text(r, 2);
    out.push_back(std::move(object));
  }
  return out;
}

absl::Status StateStore::RecordAgentCertificate(const AgentCertificateRecord& cert) {
  if (cert.sha256.empty() || cert.agent.empty()) {
    return absl::InvalidArgumentError("agent certificate record without fingerprint or agent");
  }
  absl::MutexLock lock(&mu_);
  absl::Status status =
      db_->Exec(absl::StrCat("cannot record agent certificate ", cert.sha256, " of ", cert.agent,
                             " in ", where_),
                "INSERT INTO agent_certificates (sha256, agent, serial, not_before, "
                "not_after, issued_at, source, renewed_from) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                {cert.sha256, cert.agent, cert.serial, TimeText(cert.not_before),
                 TimeText(cert.not_after), TimeText(cert.issued_at), cert.source,
                 cert.renewed_from})
          .status();
  if (status.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(
        absl::StrCat("agent certificate ", cert.sha256, " is already recorded"));
  }
  return status;
}

absl::StatusOr<std::vector<AgentCertificateRecord>> StateStore::ListAgentCertificates(
    absl::string_view agent) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows,
                   db_->Exec(absl::StrCat("cannot list agent certificates in ", where_),
                             ACME_SIGNER_AGENT_CERT_SELECT
                             "WHERE ?1 = '' OR agent = ?1 ORDER BY issued_at, sha256",
                             {agent}));
  std::vector<AgentCertificateRecord> out;
  for (int r = 0; r < rows.size(); ++r) out.push_back(ReadAgentCertificateRow(rows, r));
  return out;
}

absl::StatusOr<std::optional<AgentCertificateRecord>> StateStore::FindAgentCertificate(
    absl::string_view sha256) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows,
                   db_->Exec(absl::StrCat("cannot read agent certificates in ", where_),
                             ACME_SIGNER_AGENT_CERT_SELECT "WHERE sha256 = ?1", {sha256}));
  if (rows.empty()) return std::nullopt;
  return ReadAgentCertificateRow(rows, 0);
}

absl::StatusOr<int> StateStore::RevokeAgentCertificates(absl::string_view agent,
                                                        absl::Time when) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows updated,
                   db_->Exec(absl::StrCat("cannot revoke the certificates of agent ", agent,
                                          " in ", where_),
                             "UPDATE agent_certificates SET revoked = 1, revoked_at = ?2 "
                             "WHERE agent = ?1 AND revoked = 0",
                             {agent, TimeText(when)}));
  return static_cast<int>(updated.affected());
}

absl::StatusOr<std::vector<std::string>> StateStore::RevokedAgentCertificateFingerprints() const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows,
                   db_->Exec(absl::StrCat("cannot read revoked agent certificates in ", where_),
                             "SELECT sha256 FROM agent_certificates WHERE revoked = 1 "
                             "ORDER BY sha256"));
  std::vector<std::string> out;
  for (int r = 0; r < rows.size(); ++r) out.push_back(rows.Text(r, 0));
  return out;
}

absl::Status StateStore::AddEnrollmentToken(const EnrollmentToken& token) {
  if (token.token_sha256.size() != 64 || token.agent.empty()) {
    return absl::InvalidArgumentError("enrolment token record without hash or agent");
  }
  absl::MutexLock lock(&mu_);
  absl::Status status =
      db_->Exec(absl::StrCat("cannot store an enrolment token for agent ", token.agent, " in ",
                             where_),
                "INSERT INTO enrollment_tokens (token_sha256, agent, created, expires) "
                "VALUES (?1, ?2, ?3, ?4)",
                {token.token_sha256, token.agent, TimeText(token.created),
                 TimeText(token.expires)})
          .status();
  if (status.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError("this enrolment token is already stored");
  }
  return status;
}

absl::StatusOr<EnrollmentToken> StateStore::RedeemEnrollmentToken(
    absl::string_view token_sha256, absl::Time now) {
  absl::MutexLock lock(&mu_);
  const std::string context = absl::StrCat("cannot redeem an enrolment token in ", where_);
  const std::string find_sql =
      absl::StrCat(ACME_SIGNER_TOKEN_SELECT "WHERE token_sha256 = ?1", db_->ForUpdate());
  EnrollmentToken token;
  // A refused token changes nothing, so its transaction is rolled back like a failed one.
  RETURN_IF_ERROR(db::RunInTransaction(
      *db_, context, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        // Locked until the end: a second redemption (another replica) waits here and then
        // reads the token as used.
        ASSIGN_OR_RETURN(SqlRows found, db_->Exec(context, find_sql, {token_sha256}));
        if (found.empty()) return absl::NotFoundError("unknown enrolment token");
        token = ReadTokenRow(found, 0);
        if (token.used_at != absl::InfinitePast()) {
          return absl::FailedPreconditionError(
              absl::StrCat("the enrolment token for agent ", token.agent, " was already used at ",
                           absl::FormatTime(token.used_at, absl::UTCTimeZone())));
        }
        if (now >= token.expires) {
          return absl::DeadlineExceededError(
              absl::StrCat("the enrolment token for agent ", token.agent, " expired at ",
                           absl::FormatTime(token.expires, absl::UTCTimeZone())));
        }
        ASSIGN_OR_RETURN(SqlRows used, db_->Exec(context,
                                                 "UPDATE enrollment_tokens SET used_at = ?2 "
                                                 "WHERE token_sha256 = ?1 AND used_at = ''",
                                                 {token_sha256, TimeText(now)}));
        if (used.affected() != 1) {
          return absl::FailedPreconditionError("the enrolment token was already used");
        }
        token.used_at = now;
        return absl::OkStatus();
      }));
  return token;
}

absl::StatusOr<std::vector<EnrollmentToken>> StateStore::ListEnrollmentTokens(
    absl::string_view agent) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows,
                   db_->Exec(absl::StrCat("cannot list enrolment tokens in ", where_),
                             ACME_SIGNER_TOKEN_SELECT
                             "WHERE ?1 = '' OR agent = ?1 ORDER BY created, token_sha256",
                             {agent}));
  std::vector<EnrollmentToken> out;
  for (int r = 0; r < rows.size(); ++r) out.push_back(ReadTokenRow(rows, r));
  return out;
}

absl::Status StateStore::NoteAgentSeen(const AgentSeen& seen) {
  absl::MutexLock lock(&mu_);
  return db_
      ->Exec(absl::StrCat("cannot note agent ", seen.agent, " as seen in ", where_),
             "INSERT INTO agents_seen (agent, at, peer) VALUES (?1, ?2, ?3) "
             "ON CONFLICT (agent) DO UPDATE SET at = excluded.at, peer = excluded.peer",
             {seen.agent, TimeText(seen.at), seen.peer})
      .status();
}

absl::StatusOr<std::vector<AgentSeen>> StateStore::ListAgentsSeen() const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqlRows rows, db_->Exec(absl::StrCat("cannot list agents seen in ", where_),
                                           "SELECT agent, at, peer FROM agents_seen "
                                           "ORDER BY agent"));
  std::vector<AgentSeen> out;
  for (int r = 0; r < rows.size(); ++r) {
    AgentSeen seen;
    seen.agent = rows.Text(r, 0);
    seen.at = ParseTimeText(rows.Text(r, 1));
    seen.peer = rows.Text(r, 2);
    out.push_back(std::move(seen));
  }
  return out;
}

}  // namespace acme_signer::signer
