// StateStore: the signer's durable state: small key/value settings (account URL, directory,
// audit checkpoint), which agent owns which ACME order, the inventory of issued certificates,
// accounts, front-door credentials and objects, agent identities and the rate counters.
//
// One class and one set of queries for both backends ([state] backend), through the SQL seam
// of signer/db/sql_database.h: one SQLite file (WAL, synchronous=FULL; one signer host), or a
// PostgreSQL database that several signer replicas share. Callers never see which.
//
// Identifiers are Identifier values in the API and "type:value" text in the database
// (signer/identifier_text.h); the conversion happens here and nowhere else in the store.
//
// Every write is a committed transaction that survives a crash before the call returns. All
// statements have bound parameters. The schema is versioned (signer/state_store_schema.h) and
// migrated only when Open is asked to (`acme-signer init` and `acme-signer migrate`); serve and
// the admin commands refuse a schema that is not current.
//
// Several processes may share the database: SQLite serializes writers on the file's write
// lock; on PostgreSQL every read-modify-write locks what it reads (a row FOR UPDATE, or a named
// advisory lock) inside a READ COMMITTED transaction, so what one replica decided (a finalize
// claim, a rate admission, a redeemed token, an adopted order) holds for the others.
//
// Errors: Unavailable while the database cannot be reached (busy file, lost PostgreSQL
// connection); the store reconnects by itself on the next call. Ping() probes it.
//
// Thread-safety: thread-safe; one connection guarded by a mutex. One connection is enough:
// every call is one short statement or transaction (no lock is held across a network call to
// the CA: the finalize claim is a leased column, not a held row lock), and a libpq connection
// cannot be shared between threads without one anyway.
#ifndef ACME_SIGNER_SIGNER_STATE_STORE_H_
#define ACME_SIGNER_SIGNER_STATE_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "signer/config.h"
#include "signer/db/sql_database.h"
#include "signer/name_policy.h"
#include "signer/order_resource.h"
#include "signer/state_store_schema.h"

namespace acme_signer::signer {

struct OrderRecord {
  std::string order_url;
  std::string agent;
  std::string account;  // [[accounts]] name the order was made with
  std::vector<Identifier> identifiers;
  std::string finalize_url;
  absl::Time created;
  std::string status;  // ACME order status as last seen
};

// An order that an agent in direct mode created with a newOrder the signer signed, and now
// claims: the order, its resources and the newOrder it came from, recorded together.
struct AdoptedOrder {
  std::string order_url;
  std::string agent;
  std::string account;  // the account whose key signed its newOrder
  std::vector<Identifier> identifiers;  // as the CA lists them in the order
  std::string finalize_url;
  // Its authorizations and challenges (the order URL itself is found in the orders table).
  std::vector<OrderResource> resources;
};

struct CertificateRecord {
  std::string serial;  // lower-case hex, no separators
  std::string agent;
  std::string account;  // [[accounts]] name it was issued to
  std::vector<std::string> names;
  absl::Time not_before;
  absl::Time not_after;
  std::string order_url;
  std::string certificate_sha256;  // hex SHA-256 of the leaf certificate DER
  bool revoked = false;
  int revocation_reason = 0;  // RFC 5280 CRLReason
  absl::Time revoked_at = absl::InfinitePast();
  // When the signer recorded the certificate (RecordCertificate: this value if set, else the
  // time of the call). Certificates recorded before schema 8 have none stored and read back
  // their not_before with issued_at_recorded = false.
  absl::Time issued_at = absl::InfinitePast();
  bool issued_at_recorded = true;
};

// A front-door EAB credential (signer/frontdoor/credentials.h). Its HMAC key is not stored: it
// is derived from the key id inside the HSM.
struct FrontDoorCredential {
  std::string kid;   // base64url key id
  std::string host;  // the [[agents]] name it was issued for
  std::string account = "default";  // the [[accounts]] name its orders go to
  absl::Time created = absl::InfinitePast();
  bool disabled = false;
  // JWK thumbprint (RFC 7638, base64url) of the ACME account it was bound to, nullopt until a
  // newAccount binds it.
  std::optional<std::string> account_thumbprint;
  absl::Time bound_at = absl::InfinitePast();
};

// An ACME account a stock client registered at the front door with one of its host's EAB
// credentials.
struct FrontDoorAccount {
  std::string id;          // random base64url; the account URL is <external_url>/acct/<id>
  std::string host;        // the [[agents]] name of the credential's host
  std::string eab_kid;     // the credential that registered it
  // The [[accounts]] name of that credential (read from it): the account its orders go to.
  std::string signer_account = "default";
  std::string jwk;         // RFC 7638 canonical public JWK
  std::string thumbprint;  // RFC 7638 thumbprint of jwk (unique among accounts)
  std::string status = "valid";  // valid | deactivated | revoked
  std::vector<std::string> contact;
  absl::Time created = absl::InfinitePast();
};

// A front-door ACME object (order, authorization, certificate) as the front door's own JSON
// document; the store only keeps it with its owner.
struct FrontDoorObject {
  std::string kind;     // "order", "authz", "cert"
  std::string id;       // random base64url
  std::string account;  // FrontDoorAccount::id of the owner
  std::string body;     // JSON
};

// An agent mTLS client certificate the agent CA issued (enroll-agent, token enrolment, or a
// renewal through RenewAgentCertificate).
// An ACME account of the signer ([[accounts]]) as the CA knows it: written by `acme-signer init`
// at registration, updated by `account roll-key` and `account deactivate`.
struct AccountRecord {
  std::string name;
  std::string directory_url;
  std::string account_url;     // the kid
  std::string key_thumbprint;  // RFC 7638 thumbprint of the key the CA has for it
  std::string status = "valid";  // "valid" | "deactivated" (| the CA's other statuses)
  absl::Time registered_at = absl::InfinitePast();
  absl::Time updated_at = absl::InfinitePast();
  // A key rollover in progress (`account roll-key`): the PKCS#11 URI of the new key while the
  // CA may or may not have switched to it; empty otherwise.
  std::string rollover_new_key;
};

struct AgentCertificateRecord {
  std::string sha256;  // lowercase hex SHA-256 of the certificate DER (the fingerprint
                       // server.revoked_agent_certs uses)
  std::string agent;   // the [[agents]] name it identifies
  std::string serial;  // lowercase hex, no separators
  absl::Time not_before = absl::InfinitePast();
  absl::Time not_after = absl::InfinitePast();
  absl::Time issued_at = absl::InfinitePast();
  std::string source;  // "enroll-agent" | "token" | "renewal"
  // For a renewal: the fingerprint of the certificate that authenticated it.
  std::optional<std::string> renewed_from;
  bool revoked = false;
  absl::Time revoked_at = absl::InfinitePast();
};

// A one-time enrolment token (acme-signer enroll-agent --token). Only its SHA-256 is stored.
struct EnrollmentToken {
  std::string token_sha256;  // lowercase hex SHA-256 of the token text
  std::string agent;
  absl::Time created = absl::InfinitePast();
  absl::Time expires = absl::InfinitePast();
  absl::Time used_at = absl::InfinitePast();  // InfinitePast while unused
};

// When the signer last served an agent (a verified mTLS call).
struct AgentSeen {
  std::string agent;
  absl::Time at = absl::InfinitePast();
  std::string peer;  // address without port
};

// The outcome of StateStore::AdmitRateEvent.
struct RateDecision {
  bool admitted = false;
  // When refused: when the next event will be admitted (InfiniteFuture for a limit below 1).
  absl::Time next_free = absl::InfinitePast();
};

// How to open a StateStore.
struct StateStoreOptions {
  StateConfig::Backend backend = StateConfig::Backend::kSqlite;
  std::string sqlite_path;     // kSqlite: the database file
  std::string postgresql_url;  // kPostgresql: libpq conninfo ([state] url), no password
  // Create or upgrade the schema (acme-signer init, acme-signer migrate). Without it, the
  // SQLite file must exist and the schema must be current.
  bool migrate = false;
  // The config file, named in the advice of a refusal ("run `acme-signer migrate --config F`").
  std::string config_path;
};

class StateStore {
 public:
  // The schema version this code writes (signer/state_store_schema.h).
  static constexpr int kSchemaVersion = kStateSchemaVersion;

  // Opens the store. Errors: for SQLite they name the path (NotFound for a missing directory
  // when migrating, Unavailable/Internal for SQLite failures such as a file that is not a
  // database); InvalidArgument for a conninfo with a password; Unavailable when PostgreSQL
  // cannot be reached; FailedPrecondition for a schema newer than kSchemaVersion, and without
  // `migrate` for an older schema, none, or a missing SQLite file (naming the command to run:
  // `acme-signer migrate` or `acme-signer init`).
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(const StateStoreOptions& options);
  // A SQLite store at `path`, created (mode 0640) and migrated: for tests and tools that own
  // a private database. The signer's commands open through OpenStateStore (signer/runtime.h).
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(const std::string& path);

  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;
  ~StateStore();

  // The schema version the database had when it was opened (before a migration; 0 for a new
  // database): `acme-signer migrate` reports "schema version N -> 7".
  int schema_version_found() const { return schema_version_found_; }

  // A cheap round trip to the database (health checks): OK while it answers; Unavailable
  // while it does not (a lost PostgreSQL connection is re-established here too).
  absl::Status Ping();

  // Key/value settings. GetValue returns nullopt for an unset key.
  absl::Status SetValue(absl::string_view key, absl::string_view value);
  absl::StatusOr<std::optional<std::string>> GetValue(absl::string_view key) const;

  // Records that `agent` created `order_url`. Idempotent for the same agent (a retry); a
  // different agent gets AlreadyExists (one order, one owner).
  absl::Status RecordOrder(absl::string_view order_url, absl::string_view agent,
                           const std::vector<Identifier>& identifiers,
                           absl::string_view finalize_url, absl::string_view account);
  // Updates the status of a recorded order. NotFound for an unknown order.
  absl::Status SetOrderStatus(absl::string_view order_url, absl::string_view status);
  // Finalize of one order is serialized across replicas: a replica claims the order for
  // `lease` before it sends the CSR to the CA and releases it afterwards. OK when the order is
  // now claimed by `replica` (also when it already was, or another replica's claim ran out:
  // a replica that died mid-finalize does not block the order forever); FailedPrecondition
  // naming the holder while another replica's claim is live; NotFound for an unknown order.
  absl::Status ClaimOrderFinalize(absl::string_view order_url, absl::string_view replica,
                                  absl::Time now, absl::Duration lease);
  // Drops `replica`'s claim (no-op when it holds none).
  absl::Status ReleaseOrderFinalize(absl::string_view order_url, absl::string_view replica);

  // Per-agent sliding-window order limit (RateLimiter), shared by every signer on this store
  // and kept across restarts: in one transaction, forgets `agent`'s events older than
  // now - window and, when fewer than `limit` remain, records one at `now` (admitted).
  absl::StatusOr<RateDecision> AdmitRateEvent(absl::string_view agent, int limit,
                                              absl::Duration window, absl::Time now);

  // The order with this URL / finalize URL (its `agent` owns it); NotFound when none, Internal
  // when its stored identifiers are not "type:value" text.
  absl::StatusOr<OrderRecord> FindOrder(absl::string_view order_url) const;
  absl::StatusOr<OrderRecord> FindOrderByFinalizeUrl(absl::string_view finalize_url) const;

  // Records that `resource.url` is a resource of an order of `resource.agent`. Idempotent. One
  // URL may belong to several agents' orders (a CA that reuses authorizations).
  absl::Status RecordOrderResource(const OrderResource& resource);
  // The resource with this URL: `agent`'s own if it has one, else another agent's (so a refusal
  // can name the owner); the orders table (kind kOrder, one owner) when no resource row has
  // it. NotFound when no agent owns it.
  absl::StatusOr<OrderResource> FindOrderResource(absl::string_view url,
                                                  absl::string_view agent) const;

  // Direct mode. The signer signed a newOrder for `identifiers` on behalf of `agent` at `when`;
  // the order the CA made from it may be adopted once. Identifiers match regardless of case,
  // order and duplicates.
  // Intents older than `keep` are dropped on every insert.
  // `account` is the account whose key signed it; an order is adopted only under that account.
  absl::Status RecordNewOrderIntent(absl::string_view agent, absl::string_view account,
                                    const std::vector<Identifier>& identifiers, absl::Time when,
                                    absl::Duration keep);
  // Whether `agent` has an unused intent of `account` for exactly `identifiers` signed after
  // `since`.
  absl::StatusOr<bool> HasNewOrderIntent(absl::string_view agent, absl::string_view account,
                                         const std::vector<Identifier>& identifiers,
                                         absl::Time since) const;
  // In one transaction: records the order for `order.agent` (AlreadyExists when another agent
  // has it), its resources and uses up the
  // oldest matching intent (FailedPrecondition when there is none). Nothing is written on error.
  // A resource another agent's order also has is shared, not refused (RecordOrderResource).
  absl::Status AdoptOrder(const AdoptedOrder& order);

  // Adds an issued certificate. Idempotent on serial: the same serial with the same agent and
  // certificate hash is OK (a retry after a crash); the same serial with different contents is
  // AlreadyExists. The `revoked` fields of `cert` are ignored (use MarkRevoked).
  absl::Status RecordCertificate(const CertificateRecord& cert);
  // Marks a certificate revoked. NotFound for an unknown serial. Revoking twice keeps the first
  // reason and time.
  absl::Status MarkRevoked(absl::string_view serial, int reason, absl::Time when);
  // The certificate whose leaf DER has this SHA-256 (hex), or nullopt.
  absl::StatusOr<std::optional<CertificateRecord>> FindCertificateBySha256(
      absl::string_view certificate_sha256) const;
  // Certificates, optionally only those of `agent`, ordered by not_after then serial.
  absl::StatusOr<std::vector<CertificateRecord>> ListInventory(
      std::optional<std::string> agent = std::nullopt,
      std::optional<std::string> account = std::nullopt) const;

  // The signer's ACME accounts. PutAccount inserts or replaces the row of `record.name`.
  absl::Status PutAccount(const AccountRecord& record);
  absl::StatusOr<std::optional<AccountRecord>> FindAccount(absl::string_view name) const;
  absl::StatusOr<std::vector<AccountRecord>> ListAccounts() const;

  // Front-door EAB credentials. Every call reads the database (nothing is cached), so a
  // credential that `acme-signer enroll-client` adds while serve runs is seen at once.
  //
  // Records a new credential for `host`, enabled and unbound. AlreadyExists when `kid` is taken.
  absl::Status AddFrontDoorCredential(absl::string_view kid, absl::string_view host,
                                      absl::string_view account, absl::Time created);
  // The credential with this kid, or nullopt.
  absl::StatusOr<std::optional<FrontDoorCredential>> FindFrontDoorCredential(
      absl::string_view kid) const;
  // Binds credential `kid` to the account with `account_thumbprint`, once. NotFound for an
  // unknown kid; FailedPrecondition when it is disabled, or already bound (to any account, the
  // same one included: a key id registers one account, once; the message says to which).
  absl::Status BindFrontDoorCredential(absl::string_view kid, absl::string_view account_thumbprint,
                                       absl::Time when);
  // Disables every credential of `host` (host revocation). Returns how many were enabled.
  absl::StatusOr<int> DisableFrontDoorCredentials(absl::string_view host);
  // The credentials of `host`, oldest first.
  absl::StatusOr<std::vector<FrontDoorCredential>> ListFrontDoorCredentials(
      absl::string_view host) const;

  // Front-door accounts. In one transaction: binds credential account.eab_kid to the account
  // (as BindFrontDoorCredential, with its errors) and records the account. AlreadyExists when
  // another account has the same key thumbprint (nothing is bound then).
  absl::Status CreateFrontDoorAccount(const FrontDoorAccount& account);
  // The account with this id / key thumbprint, or nullopt.
  absl::StatusOr<std::optional<FrontDoorAccount>> FindFrontDoorAccount(absl::string_view id) const;
  absl::StatusOr<std::optional<FrontDoorAccount>> FindFrontDoorAccountByThumbprint(
      absl::string_view thumbprint) const;
  // Replaces status, contact, jwk and thumbprint of account `account.id`. NotFound for an
  // unknown id; AlreadyExists when the thumbprint is another account's (keyChange race).
  absl::Status UpdateFrontDoorAccount(const FrontDoorAccount& account);
  // Marks every valid account of `host` revoked (host revocation). Returns how many.
  absl::StatusOr<int> RevokeFrontDoorAccounts(absl::string_view host);

  // Front-door objects: insert or replace by (kind, id); the owner never changes (an existing
  // object of another account is FailedPrecondition). Get returns nullopt for an unknown one.
  absl::Status PutFrontDoorObject(const FrontDoorObject& object);
  absl::StatusOr<std::optional<FrontDoorObject>> GetFrontDoorObject(absl::string_view kind,
                                                                    absl::string_view id) const;
  // The objects of `kind` whose JSON member "status" is `status` (e.g. orders still
  // "processing" when serve stopped), in insertion order.
  absl::StatusOr<std::vector<FrontDoorObject>> ListFrontDoorObjectsWithStatus(
      absl::string_view kind, absl::string_view status) const;

  // Agent certificates. Recording the same fingerprint twice is AlreadyExists.
  absl::Status RecordAgentCertificate(const AgentCertificateRecord& cert);
  // The certificates of `agent` (all agents when empty), oldest issue first.
  absl::StatusOr<std::vector<AgentCertificateRecord>> ListAgentCertificates(
      absl::string_view agent = "") const;
  absl::StatusOr<std::optional<AgentCertificateRecord>> FindAgentCertificate(
      absl::string_view sha256) const;
  // Marks every not yet revoked certificate of `agent` revoked at `when`; returns how many.
  absl::StatusOr<int> RevokeAgentCertificates(absl::string_view agent, absl::Time when);
  // The fingerprints of every revoked agent certificate (for the handshake and per-call checks).
  absl::StatusOr<std::vector<std::string>> RevokedAgentCertificateFingerprints() const;

  // Enrolment tokens. AddEnrollmentToken: AlreadyExists for a hash already stored.
  absl::Status AddEnrollmentToken(const EnrollmentToken& token);
  // Marks the token with this hash used at `now`, in one transaction, if it exists, is unused
  // and has not expired; returns it (with used_at set). NotFound for an unknown hash,
  // FailedPrecondition "already used at …" for a used one, DeadlineExceeded "expired at …" for
  // an expired one. (Callers must not tell the caller which: see the Enrollment service.)
  absl::StatusOr<EnrollmentToken> RedeemEnrollmentToken(absl::string_view token_sha256,
                                                        absl::Time now);
  absl::StatusOr<std::vector<EnrollmentToken>> ListEnrollmentTokens(
      absl::string_view agent = "") const;

  // Last seen: replaces the agent's row. Callers throttle (one fsync'ed write per call would
  // be too much): see the signer's use.
  absl::Status NoteAgentSeen(const AgentSeen& seen);
  absl::StatusOr<std::vector<AgentSeen>> ListAgentsSeen() const;

 private:
  StateStore(std::unique_ptr<db::SqlDatabase> db, int schema_version_found);
  absl::StatusOr<OrderRecord> FindOrderWhere(absl::string_view sql,
                                             absl::string_view value) const;
  absl::Status RecordOrderLocked(absl::string_view order_url, absl::string_view agent,
                                 const std::vector<Identifier>& identifiers,
                                 absl::string_view finalize_url, absl::string_view account)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RecordOrderResourceLocked(const OrderResource& resource)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Why a credential could not be bound (NotFound / FailedPrecondition naming the holder).
  absl::Status CredentialBindRefusal(absl::string_view kid, absl::string_view context,
                                     bool name_thumbprint) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Where the data lives, for messages (the SQLite path, or "PostgreSQL ([state] url)").
  const std::string where_;
  const int schema_version_found_;
  mutable absl::Mutex mu_;
  // Queries are const in the API but run through the connection; the mutex makes that safe.
  const std::unique_ptr<db::SqlDatabase> db_ ABSL_PT_GUARDED_BY(mu_);
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_STATE_STORE_H_
