#include "signer/account_rollover.h"

#include <cstdlib>
#include <iostream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "acme/jwk.h"
#include "common/status_macros.h"
#include "hsm/pkcs11_uri.h"
#include "nlohmann/json.hpp"

namespace acme_signer::signer {
namespace {

constexpr char kAuditRpc[] = "AccountRollKey";
constexpr char kPauseEnv[] = "ACME_SIGNER_TEST_ROLLOVER_PAUSE";

// The test hook documented in the header: bounded (5 minutes), then the step goes on.
void PauseIfAsked(absl::string_view step) {
  const char* pause = std::getenv(kPauseEnv);
  if (pause == nullptr || step != pause) return;
  std::cerr << "rollover paused after " << step << std::endl;
  for (int i = 0; i < 300; ++i) absl::SleepFor(absl::Seconds(1));
}

// RFC 3986 percent-encoding of everything but unreserved characters (for object=).
std::string PercentEncode(absl::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      constexpr absl::string_view kHex = "0123456789ABCDEF";
      absl::StrAppend(&out, "%", kHex.substr(c >> 4, 1), kHex.substr(c & 15, 1));
    }
  }
  return out;
}

}  // namespace

std::string RolloverPlanKey(absl::string_view account) {
  return absl::StrCat("account.", account, ".rollover");
}
std::string RolloverResultKey(absl::string_view account) {
  return absl::StrCat("account.", account, ".rollover_result");
}

absl::StatusOr<std::optional<RolloverPlan>> LoadRolloverPlan(const StateStore& store,
                                                             absl::string_view account) {
  ASSIGN_OR_RETURN(std::optional<std::string> text, store.GetValue(RolloverPlanKey(account)));
  if (!text.has_value() || text->empty()) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.value("step", nlohmann::json()).is_string() ||
      !j.value("new_label", nlohmann::json()).is_string() ||
      !j.value("retired_label", nlohmann::json()).is_string()) {
    return absl::DataLossError(absl::StrCat("the state store's ", RolloverPlanKey(account),
                                            " is not a rollover plan; inspect the HSM's labels "
                                            "and remove it by hand"));
  }
  RolloverPlan plan;
  plan.step = j["step"];
  plan.new_label = j["new_label"];
  plan.retired_label = j["retired_label"];
  plan.destroy_old = j.value("destroy_old", false);
  plan.old_thumbprint = j.value("old_thumbprint", "");
  plan.requested = j.value("requested", false);
  return plan;
}

absl::Status StoreRolloverPlan(StateStore& store, absl::string_view account,
                               const RolloverPlan& plan) {
  nlohmann::json j = {{"step", plan.step},
                      {"new_label", plan.new_label},
                      {"retired_label", plan.retired_label},
                      {"destroy_old", plan.destroy_old},
                      {"old_thumbprint", plan.old_thumbprint},
                      {"requested", plan.requested}};
  return store.SetValue(RolloverPlanKey(account), j.dump());
}

AccountRollover::AccountRollover(hsm::Token& token, StateStore& store,
                                 const AccountConfig& account, http::HttpClient& http,
                                 AuditSink audit, std::string agent)
    : token_(token),
      store_(store),
      account_(account),
      http_(http),
      audit_(std::move(audit)),
      agent_(std::move(agent)) {}

std::string AccountRollover::Uri(absl::string_view label) const {
  return absl::StrCat("pkcs11:object=", PercentEncode(label));
}

absl::Status AccountRollover::Audit(absl::string_view step, absl::string_view detail,
                                    AuditDecision decision) {
  AuditRecord record;
  record.agent = agent_;
  record.account = account_.name;
  record.rpc = kAuditRpc;
  record.decision = decision;
  record.reason = absl::StrCat("rollover step ", step, ": ", detail);
  return audit_(record);
}

absl::Status AccountRollover::Record(RolloverPlan& plan, absl::string_view step,
                                     absl::string_view detail, AuditDecision decision) {
  plan.step = std::string(step);
  RETURN_IF_ERROR(StoreRolloverPlan(store_, account_.name, plan));
  RETURN_IF_ERROR(Audit(step, detail, decision));
  PauseIfAsked(step);
  return absl::OkStatus();
}

absl::StatusOr<RolloverPlan> AccountRollover::NewPlan(bool destroy_old, bool requested) {
  ASSIGN_OR_RETURN(hsm::Pkcs11Uri uri, hsm::Pkcs11Uri::Parse(account_.key));
  if (!uri.label().has_value() || uri.id().has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "account ", account_.name, ": roll-key needs the key URI to name the key by object= "
        "only (it relabels the key pair); ", account_.key, " has ",
        uri.id().has_value() ? "an id=" : "no object="));
  }
  label_ = *uri.label();
  ASSIGN_OR_RETURN(std::optional<AccountRecord> record, store_.FindAccount(account_.name));
  if (!record.has_value() || record->account_url.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "account ", account_.name, " is not registered; run `acme-signer init` first"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<hsm::JwsSigner> current, token_.OpenSigningKey(account_.key));
  RolloverPlan plan;
  plan.new_label = absl::StrCat(label_, ".next");
  // Unique among the retired keys already in the token (two rollovers in one second).
  const std::string stamp = absl::StrCat(
      label_, ".retired-", absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(), absl::UTCTimeZone()));
  plan.retired_label = stamp;
  for (int n = 2;; ++n) {
    ASSIGN_OR_RETURN(bool taken, token_.HasObject(Uri(plan.retired_label)));
    if (!taken) break;
    if (n > 100) {
      return absl::FailedPreconditionError(
          absl::StrCat("account ", account_.name, ": too many retired keys named ", stamp,
                       "-N in the HSM; try again in a second"));
    }
    plan.retired_label = absl::StrCat(stamp, "-", n);
  }
  plan.destroy_old = destroy_old;
  plan.requested = requested;
  ASSIGN_OR_RETURN(plan.old_thumbprint, acme::JwkThumbprint(current->PublicJwk()));
  ASSIGN_OR_RETURN(std::optional<RolloverPlan> pending, LoadRolloverPlan(store_, account_.name));
  if (pending.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "account ", account_.name, ": a key rollover is already pending (step ", pending->step,
        ", new key ", pending->new_label, "); it is finished first"));
  }
  ASSIGN_OR_RETURN(bool stray, token_.HasObject(Uri(plan.new_label)));
  if (stray) {
    return absl::FailedPreconditionError(absl::StrCat(
        "account ", account_.name, ": an object labelled ", plan.new_label,
        " is already in the HSM but no rollover is recorded; remove it (or rename it) first"));
  }
  record->rollover_new_key = Uri(plan.new_label);
  record->updated_at = absl::Now();
  RETURN_IF_ERROR(store_.PutAccount(*record));
  return plan;
}

absl::Status AccountRollover::Request(bool destroy_old) {
  ASSIGN_OR_RETURN(RolloverPlan plan, NewPlan(destroy_old, /*requested=*/true));
  plan.step = "intent";
  // Not audited here: the process performing it (serve) audits every step.
  return StoreRolloverPlan(store_, account_.name, plan);
}

absl::StatusOr<RolloverOutcome> AccountRollover::Run(bool destroy_old, acme::AcmeClient& engine) {
  ASSIGN_OR_RETURN(RolloverPlan plan, NewPlan(destroy_old, /*requested=*/false));
  RETURN_IF_ERROR(Record(plan, "intent",
                         absl::StrCat("new key ", plan.new_label, ", old key ",
                                      plan.old_thumbprint, " to be ",
                                      destroy_old ? "destroyed" : "disabled as ",
                                      destroy_old ? "" : plan.retired_label)));
  return Continue(std::move(plan), engine);
}

absl::StatusOr<RolloverOutcome> AccountRollover::Continue(RolloverPlan plan,
                                                          acme::AcmeClient& engine) {
  RolloverOutcome outcome;
  const std::string next_uri = Uri(plan.new_label);
  std::unique_ptr<hsm::JwsSigner> next;
  ASSIGN_OR_RETURN(bool have_next, token_.HasObject(next_uri));
  if (have_next) {
    ASSIGN_OR_RETURN(next, token_.OpenSigningKey(next_uri));
  } else {
    ASSIGN_OR_RETURN(next, token_.GenerateSigningKey(next_uri, account_.key_type));
  }
  ASSIGN_OR_RETURN(std::string next_thumbprint, acme::JwkThumbprint(next->PublicJwk()));
  RETURN_IF_ERROR(Record(plan, "generated",
                         absl::StrCat(hsm::KeyTypeName(account_.key_type), " key ",
                                      plan.new_label, " thumbprint ", next_thumbprint,
                                      " generated in the HSM (non-extractable)")));
  absl::Status changed = engine.ChangeAccountKey(*next);
  if (!changed.ok()) {
    // The CA may have applied it before the answer was lost: ask it with the new key.
    ASSIGN_OR_RETURN(std::unique_ptr<acme::AcmeClient> probe, ClientFor(*next));
    absl::StatusOr<acme::Account> found = probe->FindAccount();
    if (found.status().code() == absl::StatusCode::kNotFound) {
      ASSIGN_OR_RETURN(RolloverOutcome rolled,
                       RollBack(plan, absl::StrCat("keyChange failed: ", changed.message())));
      return absl::Status(changed.code(),
                          absl::StrCat("account ", account_.name, ": keyChange failed (",
                                       changed.message(), "); rolled back: the old key stays"));
    }
    if (!found.ok()) {
      return absl::Status(changed.code(),
                          absl::StrCat("account ", account_.name, ": keyChange failed (",
                                       changed.message(),
                                       ") and the CA could not be asked which key it has (",
                                       found.status().message(),
                                       "); the rollover stays pending: run `acme-signer account "
                                       "roll-key` again (or restart serve) to finish it"));
    }
    RETURN_IF_ERROR(engine.UseAccountKey(*next));
  }
  RETURN_IF_ERROR(Record(plan, "key-changed",
                         absl::StrCat("the CA accepted keyChange to ", next_thumbprint)));
  outcome.keep_alive.push_back(std::move(next));
  return Finish(std::move(plan), &engine, std::move(outcome));
}

absl::StatusOr<RolloverOutcome> AccountRollover::Finish(RolloverPlan plan,
                                                        acme::AcmeClient* engine,
                                                        RolloverOutcome outcome) {
  const std::string next_uri = Uri(plan.new_label);
  const std::string label_uri = Uri(label_);
  const std::string retired_uri = Uri(plan.retired_label);
  // The CA has the new key. Old pair L -> retired, then new pair L.next -> L; each half is
  // recorded, and a relabel interrupted between the two objects of a pair is finished.
  if (plan.step == "key-changed") {
    RETURN_IF_ERROR(token_.RelabelObjects(label_uri, plan.retired_label, true).status());
    RETURN_IF_ERROR(Record(plan, "old-relabelled",
                           absl::StrCat("old key relabelled ", plan.retired_label)));
  }
  if (plan.step == "old-relabelled") {
    RETURN_IF_ERROR(token_.RelabelObjects(next_uri, label_, true).status());
    RETURN_IF_ERROR(Record(plan, "switched",
                           absl::StrCat("new key relabelled ", label_, " (the configured ",
                                        account_.key, ")")));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<hsm::JwsSigner> current, token_.OpenSigningKey(account_.key));
  ASSIGN_OR_RETURN(outcome.new_thumbprint, acme::JwkThumbprint(current->PublicJwk()));
  if (engine != nullptr) RETURN_IF_ERROR(engine->UseAccountKey(*current));
  outcome.keep_alive.push_back(std::move(current));

  std::string old_detail;
  if (plan.destroy_old) {
    ASSIGN_OR_RETURN(int destroyed, token_.DestroyObjects(retired_uri));
    outcome.old_destroyed = true;
    old_detail = absl::StrCat("old key ", plan.retired_label, " destroyed (", destroyed,
                              " object(s))");
  } else {
    outcome.retired_label = plan.retired_label;
    absl::StatusOr<int> disabled = token_.DisableSigning(retired_uri);
    if (disabled.ok()) {
      outcome.old_sign_disabled = true;
      old_detail = absl::StrCat("old key kept as ", plan.retired_label, ", CKA_SIGN=false");
    } else if (disabled.status().code() == absl::StatusCode::kUnimplemented) {
      old_detail = absl::StrCat("old key kept as ", plan.retired_label,
                                " (the token keeps CKA_SIGN; the signer never opens it)");
    } else {
      return disabled.status();
    }
  }
  RETURN_IF_ERROR(Record(plan, "old-key", old_detail));

  ASSIGN_OR_RETURN(std::optional<AccountRecord> record, store_.FindAccount(account_.name));
  if (record.has_value()) {
    record->key_thumbprint = outcome.new_thumbprint;
    record->rollover_new_key.clear();
    record->updated_at = absl::Now();
    RETURN_IF_ERROR(store_.PutAccount(*record));
  }
  outcome.message = absl::StrCat("account ", account_.name, ": key rolled over; thumbprint ",
                                 plan.old_thumbprint, " -> ", outcome.new_thumbprint, "; ",
                                 old_detail);
  RETURN_IF_ERROR(store_.SetValue(RolloverResultKey(account_.name),
                                  absl::StrCat("ok ", outcome.message)));
  RETURN_IF_ERROR(store_.SetValue(RolloverPlanKey(account_.name), ""));
  RETURN_IF_ERROR(Audit("done", absl::StrCat("key thumbprint ", outcome.new_thumbprint),
                        AuditDecision::kAllow));
  return outcome;
}

absl::StatusOr<RolloverOutcome> AccountRollover::RollBack(const RolloverPlan& plan,
                                                          absl::string_view why) {
  ASSIGN_OR_RETURN(int destroyed, token_.DestroyObjects(Uri(plan.new_label)));
  ASSIGN_OR_RETURN(std::optional<AccountRecord> record, store_.FindAccount(account_.name));
  if (record.has_value()) {
    record->rollover_new_key.clear();
    record->updated_at = absl::Now();
    RETURN_IF_ERROR(store_.PutAccount(*record));
  }
  RolloverOutcome outcome;
  outcome.rolled_back = true;
  outcome.new_thumbprint = plan.old_thumbprint;
  outcome.message = absl::StrCat("account ", account_.name,
                                 ": key rollover rolled back, the old key (thumbprint ",
                                 plan.old_thumbprint, ") stays: ", why);
  RETURN_IF_ERROR(store_.SetValue(RolloverResultKey(account_.name),
                                  absl::StrCat("rolled-back ", outcome.message)));
  RETURN_IF_ERROR(store_.SetValue(RolloverPlanKey(account_.name), ""));
  RETURN_IF_ERROR(Audit("rolled-back",
                        absl::StrCat(why, "; new key ", plan.new_label, " removed (", destroyed,
                                     " object(s))"),
                        AuditDecision::kDeny));
  return outcome;
}

absl::StatusOr<std::unique_ptr<acme::AcmeClient>> AccountRollover::ClientFor(
    const hsm::JwsSigner& key) const {
  acme::AcmeClientOptions options;
  options.directory_url = account_.directory_url;
  return acme::AcmeClient::Create(http_, key, options);
}

absl::StatusOr<std::optional<RolloverOutcome>> AccountRollover::Resolve(acme::AcmeClient* engine,
                                                                        bool perform_requested) {
  ASSIGN_OR_RETURN(std::optional<RolloverPlan> pending, LoadRolloverPlan(store_, account_.name));
  if (!pending.has_value()) return std::nullopt;
  RolloverPlan plan = *std::move(pending);
  ASSIGN_OR_RETURN(hsm::Pkcs11Uri uri, hsm::Pkcs11Uri::Parse(account_.key));
  if (!uri.label().has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("account ", account_.name, ": key URI ", account_.key, " has no object="));
  }
  label_ = *uri.label();
  ASSIGN_OR_RETURN(std::optional<AccountRecord> record, store_.FindAccount(account_.name));
  const std::string account_url = record.has_value() ? record->account_url : "";

  if (plan.step == "intent" && plan.requested && perform_requested) {
    RETURN_IF_ERROR(Audit("intent",
                          absl::StrCat("requested by `acme-signer account roll-key`: new key ",
                                       plan.new_label, ", old key ", plan.old_thumbprint,
                                       plan.destroy_old ? " to be destroyed" : " to be disabled"),
                          AuditDecision::kAllow));
    PauseIfAsked("intent");
    if (engine != nullptr) return Continue(std::move(plan), *engine);
    ASSIGN_OR_RETURN(std::unique_ptr<hsm::JwsSigner> old_key, token_.OpenSigningKey(account_.key));
    acme::AcmeClientOptions options;
    options.directory_url = account_.directory_url;
    options.account_url = account_url;
    ASSIGN_OR_RETURN(std::unique_ptr<acme::AcmeClient> client,
                     acme::AcmeClient::Create(http_, *old_key, options));
    ASSIGN_OR_RETURN(RolloverOutcome outcome, Continue(std::move(plan), *client));
    return outcome;
  }
  if (plan.step == "intent") {
    // keyChange comes only after "generated" is recorded: the CA has the old key.
    return RollBack(plan, plan.requested ? "the request was not performed (serve stopped)"
                                         : "interrupted before the new key was recorded");
  }

  RolloverOutcome outcome;
  if (plan.step != "generated") {
    // key-changed or later: the CA accepted the new key; only the switch and the old key's
    // step are left.
    return Finish(std::move(plan), engine, std::move(outcome));
  }
  // "generated": keyChange may or may not have reached the CA. Ask it with the new key.
  const std::string next_uri = Uri(plan.new_label);
  ASSIGN_OR_RETURN(bool have_next, token_.HasObject(next_uri));
  if (!have_next) return RollBack(plan, "the new key is not in the HSM");
  absl::StatusOr<std::unique_ptr<hsm::JwsSigner>> next = token_.OpenSigningKey(next_uri);
  if (!next.ok()) {
    return RollBack(plan, absl::StrCat("the new key is unusable: ", next.status().message()));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<acme::AcmeClient> probe, ClientFor(**next));
  absl::StatusOr<acme::Account> found = probe->FindAccount();
  if (found.ok() && (account_url.empty() || found->url == account_url)) {
    RETURN_IF_ERROR(Record(plan, "key-changed",
                           "the CA has the new key (newAccount onlyReturnExisting): continuing"));
    outcome.keep_alive.push_back(*std::move(next));
    return Finish(std::move(plan), engine, std::move(outcome));
  }
  if (found.ok() || found.status().code() == absl::StatusCode::kNotFound) {
    // Say whether the old key still works (for the operator and the auditor).
    std::string old_state = "the old key could not be opened";
    absl::StatusOr<std::unique_ptr<hsm::JwsSigner>> old_key = token_.OpenSigningKey(account_.key);
    if (old_key.ok()) {
      ASSIGN_OR_RETURN(std::unique_ptr<acme::AcmeClient> old_probe, ClientFor(**old_key));
      absl::StatusOr<acme::Account> old_found = old_probe->FindAccount();
      old_state = old_found.ok() ? "the CA has the old key"
                                 : absl::StrCat("the CA's answer for the old key: ",
                                                old_found.status().message());
    }
    return RollBack(plan, absl::StrCat("the CA does not have the new key (", old_state, ")"));
  }
  return absl::Status(found.status().code(),
                      absl::StrCat("account ", account_.name,
                                   ": a key rollover is pending and the CA could not be asked "
                                   "which key it has: ",
                                   found.status().message(),
                                   "; nothing was changed, try again when the CA answers"));
}

}  // namespace acme_signer::signer
