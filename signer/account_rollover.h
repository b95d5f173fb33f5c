// AccountRollover: RFC 8555 §7.3.5 account key rollover with both keys in the HSM
// (`acme-signer account roll-key`), crash-safe. One implementation of the steps, used by the
// roll-key command when no serve runs and by serve itself (SIGHUP, and at start for a rollover
// a crash left pending).
//
// Labels: the account key is the object labelled L (the object= of the account's `key` URI,
// which must name it by object= only). The new key is generated as "L.next"; at the switch
// the old key's objects are relabelled "L.retired-<UTC YYYYmmddTHHMMSSZ of the intent>" and
// the new key's "L", so the configured key URI names the new key from then on (nothing in the
// config changes). The old key then gets CKA_SIGN = false (when the token allows it), or is
// destroyed with --destroy-old.
//
// Steps, each recorded in the state store before the next starts and audited (rpc
// "AccountRollKey", reason "rollover step <name>: ..."):
//   intent      the plan (new label, retired label, destroy_old, old thumbprint) is stored
//               (kv "account.<name>.rollover" and AccountRecord.rollover_new_key)
//   generated   the new key exists in the HSM (non-extractable, sensitive)
//   key-changed the CA accepted keyChange signed by both keys
//   old-relabelled  the old pair is labelled "L.retired-..."
//   switched    the new pair is labelled L (the configured URI names the new key)
//   old-key     the old key is disabled or destroyed
//   done        AccountRecord.key_thumbprint = the new key's, the plan is removed
// or, instead of the steps after "generated": rolled-back (decision deny; the new key destroyed).
// Resolve() finishes a plan found pending: at "intent" it rolls back (keyChange is sent only
// after "generated" is recorded); at "generated" it asks the CA which key it has (newAccount
// with onlyReturnExisting signed by the new key, and by the old one) and continues (switch) or
// rolls back (the new key destroyed, the plan removed); from "key-changed" on it continues. At every point one of the two keys works:
// the old key stays at L until the CA has the new one, and is relabelled only after that.
//
// Test hook: with ACME_SIGNER_TEST_ROLLOVER_PAUSE=<step> in the environment, the process
// prints "rollover paused after <step>" on stderr after recording that step and sleeps
// (at most 5 minutes), so a test can SIGKILL it there.
//
// Thread-safety: not thread-safe; one rollover at a time per state store (roll-key holds the
// serve pid file lock; serve runs it on its signal thread).
#ifndef ACME_SIGNER_SIGNER_ACCOUNT_ROLLOVER_H_
#define ACME_SIGNER_SIGNER_ACCOUNT_ROLLOVER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "acme/client.h"
#include "hsm/jws_signer.h"
#include "hsm/token.h"
#include "http/http_client.h"
#include "signer/audit_record.h"
#include "signer/config.h"
#include "signer/state_store.h"

namespace acme_signer::signer {

// The stored plan of a rollover in progress.
struct RolloverPlan {
  std::string step;  // the last step recorded ("intent", "generated", ...)
  std::string new_label;
  std::string retired_label;
  bool destroy_old = false;
  std::string old_thumbprint;
  // Set by `roll-key` while serve runs: serve performs the rollover at its next SIGHUP.
  bool requested = false;
};

// kv key of the plan and of the last outcome of `account`.
std::string RolloverPlanKey(absl::string_view account);
std::string RolloverResultKey(absl::string_view account);

absl::StatusOr<std::optional<RolloverPlan>> LoadRolloverPlan(const StateStore& store,
                                                             absl::string_view account);
absl::Status StoreRolloverPlan(StateStore& store, absl::string_view account,
                               const RolloverPlan& plan);

// What a finished (or rolled back) rollover did.
struct RolloverOutcome {
  bool rolled_back = false;
  std::string new_thumbprint;  // rolled_back: the (unchanged) current one
  std::string retired_label;   // empty when destroyed or rolled back
  bool old_destroyed = false;
  bool old_sign_disabled = false;
  std::string message;  // one line for the operator
  // Keys the engine was switched to (or signed with) that must outlive it.
  std::vector<std::unique_ptr<hsm::JwsSigner>> keep_alive;
};

class AccountRollover {
 public:
  using AuditSink = std::function<absl::Status(const AuditRecord&)>;

  // `http` reaches the account's CA; `audit` appends one record (returns its error). `agent`
  // is the audit record's agent ("operator" for roll-key, "serve" for the daemon).
  AccountRollover(hsm::Token& token, StateStore& store, const AccountConfig& account,
                  http::HttpClient& http, AuditSink audit, std::string agent);

  // Records the intent (FailedPrecondition when a plan is pending: Resolve it first), then
  // performs every step. `engine` is the account's client signing with the current key; it is
  // switched to the new key (ChangeAccountKey, then UseAccountKey on the relabelled key).
  absl::StatusOr<RolloverOutcome> Run(bool destroy_old, acme::AcmeClient& engine);

  // Records the intent only, marked requested (for serve to perform). FailedPrecondition when
  // a plan is pending.
  absl::Status Request(bool destroy_old);

  // Finishes the pending plan (nullopt when none): a `requested` plan still at "intent" is
  // performed when `perform_requested`, else rolled back; any other plan is resolved with the
  // CA as described above. `engine` (may be null) is switched when the new key wins.
  absl::StatusOr<std::optional<RolloverOutcome>> Resolve(acme::AcmeClient* engine,
                                                         bool perform_requested);

 private:
  absl::StatusOr<RolloverOutcome> Continue(RolloverPlan plan, acme::AcmeClient& engine);
  absl::StatusOr<RolloverOutcome> Finish(RolloverPlan plan, acme::AcmeClient* engine,
                                         RolloverOutcome outcome);
  absl::StatusOr<RolloverOutcome> RollBack(const RolloverPlan& plan, absl::string_view why);
  absl::Status Record(RolloverPlan& plan, absl::string_view step, absl::string_view detail,
                      AuditDecision decision = AuditDecision::kAllow);
  absl::Status Audit(absl::string_view step, absl::string_view detail, AuditDecision decision);
  absl::StatusOr<RolloverPlan> NewPlan(bool destroy_old, bool requested);
  // A client of the account for `key` (the account URL from the store).
  absl::StatusOr<std::unique_ptr<acme::AcmeClient>> ClientFor(const hsm::JwsSigner& key) const;
  std::string Uri(absl::string_view label) const;

  hsm::Token& token_;
  StateStore& store_;
  const AccountConfig& account_;
  http::HttpClient& http_;
  AuditSink audit_;
  std::string agent_;
  std::string label_;  // the configured key's object=
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_ACCOUNT_ROLLOVER_H_
