// Token: one logged-in PKCS#11 token, chosen by an RFC 7512 URI, with a bounded pool of
// sessions so many threads can sign at once. This is the entry point to the HSM for the rest
// of acme-signer:
//
//   ASSIGN_OR_RETURN(auto module, hsm::Module::Load("softhsm2"));
//   ASSIGN_OR_RETURN(auto token, hsm::Token::Open(module, "pkcs11:token=acme-signer",
//                                                 "/etc/acme-signer/hsm.pin"));
//   ASSIGN_OR_RETURN(auto account, token->OpenSigningKey("pkcs11:object=account-key"));
//   ASSIGN_OR_RETURN(std::string sig, account->Sign(signing_input));
//
// The PIN is read from a file (pin_file, else the URI's pin-source); it is kept in memory
// (wiped on destruction) only to log in again after the token drops the login, and is never
// logged or put in an error message. A PIN the token rejects is reported at once and never
// retried, so a wrong PIN cannot lock the token.
//
// Object URIs ("pkcs11:object=account-key;id=%01;type=private") may leave out token
// attributes (this Token is already chosen); when they have them, they must match this token.
//
// Signers returned here keep the Token (and so the Module) alive.
//
// Thread-safety: all methods are thread-safe.
//
// When the token fails while in use (device removed, SoftHSM2's token directory gone:
// CKR_GENERAL_ERROR and the like), calls fail with Unavailable ("HSM token <label> is
// unavailable ...") and the module is reinitialized, at most once per
// Options.min_reinitialize_interval, so the first call after the token is back succeeds
// without restarting the process.
//
// Errors, common to all methods: InvalidArgument for a malformed URI (the message quotes the
// URI with any pin-value removed), PermissionDenied for PIN problems, Unavailable when the
// token stays unreachable after Options.max_retries reopenings or fails as a whole; the
// message has the CKR_ name.
#ifndef ACME_SIGNER_HSM_TOKEN_H_
#define ACME_SIGNER_HSM_TOKEN_H_

#include <p11-kit/pkcs11.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/secret.h"
#include "hsm/jws_signer.h"
#include "hsm/key_type.h"
#include "hsm/mac_signer.h"
#include "hsm/module.h"

namespace acme_signer::hsm {

class SessionPool;
struct ObjectQuery;

// The smallest EAB HMAC key ImportHmacKey accepts, in bytes. RFC 7518 §3.2 requires an HS256
// key at least as long as the hash output, and SoftHSM2 advertises the same minimum for
// CKM_SHA256_HMAC; a shorter key is refused rather than padded or truncated.
inline constexpr size_t kMinHmacKeyBytes = 32;

class Token : public std::enable_shared_from_this<Token> {
 public:
  struct Options {
    // Upper bound on concurrently open sessions; Sign() calls beyond it wait for a session.
    size_t max_sessions = 8;
    // Verify every signature with the public key (OpenSSL) before returning it. Costs a
    // verification per signature (see docs/benchmarks.md); guards against a faulty token.
    bool verify_every_signature = false;
    // Reopenings after a lost session/login/device before giving up with Unavailable.
    int max_retries = 3;
    // When the token fails as a whole (IsTokenFailure in hsm/ck_status.h), the module is
    // reinitialized (Module::Reinitialize) at most once per call and at most this often, so
    // an outage costs the HSM one C_Initialize per interval, not one per request.
    absl::Duration min_reinitialize_interval = absl::Seconds(1);
  };

  // Finds the one token matching `token_uri` in `module` and logs in as user. The PIN comes
  // from `pin_file` when given, else from the URI's pin-source (file:/path or /path); with
  // neither, InvalidArgument. NotFound when no token matches (the message lists the tokens
  // present), InvalidArgument when several match, PermissionDenied when the PIN is rejected or
  // locked (the message names the PIN file, never the PIN; the login is tried once), or the
  // PIN file is readable by group/others.
  static absl::StatusOr<std::shared_ptr<Token>> Open(std::shared_ptr<Module> module,
                                                     absl::string_view token_uri,
                                                     const std::optional<std::string>& pin_file,
                                                     Options options);
  static absl::StatusOr<std::shared_ptr<Token>> Open(std::shared_ptr<Module> module,
                                                     absl::string_view token_uri,
                                                     const std::optional<std::string>& pin_file) {
    return Open(std::move(module), token_uri, pin_file, Options());
  }

  ~Token();
  Token(const Token&) = delete;
  Token& operator=(const Token&) = delete;

  // Generates a key pair inside the token: private key CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE,
  // not CKA_EXTRACTABLE, CKA_SIGN only; public key with CKA_VERIFY. CKA_LABEL from object=
  // (required), CKA_ID from id= (optional). AlreadyExists when any object already has that
  // label/id. The new key is self-tested (sign + verify) before it is returned.
  absl::StatusOr<std::unique_ptr<JwsSigner>> GenerateSigningKey(absl::string_view object_uri,
                                                                KeyType type);

  // Opens an existing private key (EC P-256/P-384 or RSA >= 2048) and its public key object.
  // NotFound when absent; InvalidArgument when the URI matches several keys;
  // FailedPrecondition for a key that is extractable, not sensitive, of another type, or that
  // fails the sign + verify self-test.
  absl::StatusOr<std::unique_ptr<JwsSigner>> OpenSigningKey(absl::string_view object_uri);

  // Imports the EAB HMAC key as handed out by the CA (base64url, padding optional) as a
  // sensitive, non-extractable CKO_SECRET_KEY/CKK_GENERIC_SECRET token object usable only for
  // CKM_SHA256_HMAC signing. Every buffer that held the key is wiped. InvalidArgument (never
  // quoting the key) for bad base64url or a key shorter than kMinHmacKeyBytes;
  // AlreadyExists as for GenerateSigningKey.
  absl::StatusOr<std::unique_ptr<MacSigner>> ImportHmacKey(absl::string_view object_uri,
                                                           Secret base64url_key);

  // Generates a 256-bit HMAC key inside the token (C_GenerateKey, CKM_GENERIC_SECRET_KEY_GEN):
  // CKO_SECRET_KEY/CKK_GENERIC_SECRET, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not
  // CKA_EXTRACTABLE, CKA_SIGN only (no verify, encrypt, wrap or derive). Its value never exists
  // outside the token. CKA_LABEL from object= (required), CKA_ID from id= (optional).
  // AlreadyExists when any object already has that label/id. Self-tested (one MAC) before it is
  // returned.
  absl::StatusOr<std::unique_ptr<MacSigner>> GenerateHmacKey(absl::string_view object_uri);

  // Opens an existing HMAC key (CKO_SECRET_KEY). NotFound when absent.
  absl::StatusOr<std::unique_ptr<MacSigner>> OpenHmacKey(absl::string_view object_uri);

  // Whether any object matches `object_uri` (all classes unless the URI has type=).
  absl::StatusOr<bool> HasObject(absl::string_view object_uri);

  // Key rollover support (acme-signer account roll-key). Every object (private key, public
  // key, any class) whose label is `object_uri`'s object= gets CKA_LABEL `new_label`
  // (C_SetAttributeValue); returns how many. 0 when none matches. AlreadyExists when an
  // object labelled `new_label` exists already, unless `join_existing` (finishing a relabel
  // that was interrupted between the objects of a pair). `object_uri` must name the objects
  // by object= only (no id=, no type=): InvalidArgument otherwise.
  absl::StatusOr<int> RelabelObjects(absl::string_view object_uri, absl::string_view new_label,
                                     bool join_existing = false);
  // Sets CKA_SIGN = false on the private key(s) labelled by `object_uri`, so the key can sign
  // nothing any more. Unimplemented when the token refuses to change CKA_SIGN (then the
  // caller relies on the label alone). 0 when no private key matches.
  absl::StatusOr<int> DisableSigning(absl::string_view object_uri);
  // Destroys every object (all classes) labelled by `object_uri` (object= only, as for
  // RelabelObjects); returns how many. 0 when none matches.
  absl::StatusOr<int> DestroyObjects(absl::string_view object_uri);

  // The token label, as a human-readable name for messages.
  const std::string& label() const { return label_; }
  const std::shared_ptr<Module>& module() const { return module_; }
  CK_SLOT_ID slot() const { return slot_; }
  const Options& options() const { return options_; }

  // For hsm/ internals (signers). Runs `fn` with a pooled, logged-in session. `epoch` changes
  // whenever sessions were lost and reopened, so callers re-find object handles they cached.
  // When `fn` fails with a lost-session/login/device CKR_ (see IsSessionLost in
  // hsm/ck_status.h) the session is dropped, a new one is opened (logging in again) and `fn`
  // runs again, up to options().max_retries times. When the token failed as a whole (the
  // CKR_ is an IsTokenFailure one, or C_GetTokenInfo says so after any error) the module is
  // reinitialized once (rate-limited, see Options) and `fn` runs again; if that does not help,
  // Unavailable naming the token. PIN problems and other errors are returned as they are.
  absl::Status WithSession(
      absl::FunctionRef<absl::Status(CK_SESSION_HANDLE session, uint64_t epoch)> fn);

 private:
  Token(std::shared_ptr<Module> module, CK_SLOT_ID slot, const CK_INFO& module_info,
        const CK_SLOT_INFO& slot_info, const CK_TOKEN_INFO& token_info, Secret pin,
        Options options);

  // Parses an object URI, checks its token attributes (if any) against this token and
  // turns its object attributes into a query. `allowed_class` is the only type= accepted and
  // the class searched for; nullopt accepts any type= (HasObject).
  absl::StatusOr<ObjectQuery> QueryFor(absl::string_view object_uri,
                                       std::optional<CK_OBJECT_CLASS> allowed_class,
                                       bool require_label) const;
  // True when C_GetTokenInfo says the token failed as a whole (IsTokenFailure). Under Use.
  bool TokenFailed() const;
  // AlreadyExists when an object with the query's label or id exists.
  absl::Status RefuseExisting(CK_SESSION_HANDLE session, const ObjectQuery& query) const;

  const std::shared_ptr<Module> module_;
  const CK_SLOT_ID slot_;
  const CK_INFO module_info_;
  const CK_SLOT_INFO slot_info_;
  const CK_TOKEN_INFO token_info_;
  const std::string label_;
  const Secret pin_;
  const Options options_;
  std::unique_ptr<SessionPool> pool_;
  std::atomic<uint64_t> epoch_{0};
};

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_TOKEN_H_
