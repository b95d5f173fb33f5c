#include "hsm/token.h"

#include <sys/stat.h>

#include <cerrno>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/base64url.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "hsm/ck_status.h"
#include "hsm/objects.h"
#include "hsm/pkcs11_jws_signer.h"
#include "hsm/pkcs11_mac_signer.h"
#include "hsm/pkcs11_uri.h"
#include "hsm/public_key.h"
#include "hsm/session_pool.h"

namespace acme_signer::hsm {
namespace {

// CK_TOKEN_INFO text fields are space-padded, not NUL-terminated.
std::string Padded(const unsigned char* field, size_t size) {
  return std::string(absl::StripTrailingAsciiWhitespace(
      absl::string_view(reinterpret_cast<const char*>(field), size)));
}

// The PIN file must not be readable by anyone but its owner, like ssh's private keys: a PIN
// that others could read is refused rather than used.
absl::StatusOr<Secret> ReadPinFile(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("PIN file ", path));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(
        absl::StrFormat("PIN file %s is accessible by group or others (mode %04o); run chmod 600 "
                        "on it",
                        path, st.st_mode & 0777));
  }
  return ReadSecretFile(path);
}

// Template entries point at these; PKCS#11 wants non-const pointers.
CK_BBOOL kTrue = CK_TRUE;
CK_BBOOL kFalse = CK_FALSE;

void AddLabelAndId(std::vector<CK_ATTRIBUTE>& tmpl, ObjectQuery& query) {
  tmpl.push_back({CKA_LABEL, query.label->data(), query.label->size()});
  if (query.id) tmpl.push_back({CKA_ID, query.id->data(), query.id->size()});
}

}  // namespace

Token::Token(std::shared_ptr<Module> module, CK_SLOT_ID slot, const CK_INFO& module_info,
             const CK_SLOT_INFO& slot_info, const CK_TOKEN_INFO& token_info, Secret pin,
             Options options)
    : module_(std::move(module)),
      slot_(slot),
      module_info_(module_info),
      slot_info_(slot_info),
      token_info_(token_info),
      label_(Padded(token_info.label, sizeof(token_info.label))),
      pin_(std::move(pin)),
      options_(options),
      pool_(std::make_unique<SessionPool>(module_, slot, label_, &pin_, options.max_sessions)) {}

Token::~Token() = default;

absl::StatusOr<std::shared_ptr<Token>> Token::Open(std::shared_ptr<Module> module,
                                                   absl::string_view token_uri,
                                                   const std::optional<std::string>& pin_file,
                                                   Options options) {
  if (module == nullptr) return absl::InvalidArgumentError("Token::Open needs a module");
  ASSIGN_OR_RETURN(Pkcs11Uri uri, Pkcs11Uri::Parse(token_uri));
  if (uri.HasObjectAttributes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token URI '", uri.display(),
                     "' names an object (object=, id= or type=); give only token attributes here"));
  }
  CK_FUNCTION_LIST* f = module->functions();
  ASSIGN_OR_RETURN(std::vector<CK_SLOT_ID> slots, module->SlotsWithToken());
  // Held for the scan only: the login below takes its own, and reader locks must not nest.
  std::optional<Module::Use> in_use;
  in_use.emplace(*module);
  CK_INFO module_info;
  RETURN_IF_ERROR(CkStatus(f->C_GetInfo(&module_info), "C_GetInfo"));

  struct Match {
    CK_SLOT_ID slot;
    CK_SLOT_INFO slot_info;
    CK_TOKEN_INFO token_info;
  };
  std::vector<Match> matches;
  std::vector<std::string> present;
  for (CK_SLOT_ID slot : slots) {
    Match m{slot, {}, {}};
    if (f->C_GetSlotInfo(slot, &m.slot_info) != CKR_OK ||
        f->C_GetTokenInfo(slot, &m.token_info) != CKR_OK) {
      continue;  // Removed meanwhile, or not ready: not a candidate.
    }
    if ((m.token_info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
    present.push_back(
        absl::StrCat("pkcs11:token=", Padded(m.token_info.label, sizeof(m.token_info.label))));
    if (uri.MatchesToken(module_info, m.slot_info, m.token_info)) matches.push_back(m);
  }
  if (matches.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "no token matches '", uri.display(), "' in PKCS#11 module ", module->name(),
        " (tokens present: ", present.empty() ? "none" : absl::StrJoin(present, ", "), ")"));
  }
  if (matches.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("token URI '", uri.display(), "' matches ",
                                                   matches.size(),
                                                   " tokens; add serial= to choose one"));
  }
  const Match& match = matches.front();
  const std::string label = Padded(match.token_info.label, sizeof(match.token_info.label));
  if ((match.token_info.flags & CKF_USER_PIN_LOCKED) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("the user PIN of token ", label,
                                                    " is locked; unlock it with the SO PIN first"));
  }
  if ((match.token_info.flags & CKF_USER_PIN_INITIALIZED) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("token ", label, " has no user PIN set; initialize it first"));
  }

  std::string pin_path;
  if (pin_file.has_value()) {
    pin_path = *pin_file;
  } else if (std::optional<std::string> source = uri.pin_source()) {
    ASSIGN_OR_RETURN(pin_path, Pkcs11Uri::PinSourcePath(*source));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("no PIN for token '", uri.display(),
                     "': set a PIN file or add ?pin-source=file:/path to the URI"));
  }
  ASSIGN_OR_RETURN(Secret pin, ReadPinFile(pin_path));
  in_use.reset();

  std::shared_ptr<Token> token(new Token(std::move(module), match.slot, module_info,
                                         match.slot_info, match.token_info, std::move(pin),
                                         options));
  // Log in now, so a wrong PIN fails here rather than at the first signature.
  absl::Status login = token->WithSession(
      [](CK_SESSION_HANDLE, uint64_t) -> absl::Status { return absl::OkStatus(); });
  if (login.code() == absl::StatusCode::kPermissionDenied) {
    return absl::PermissionDeniedError(
        absl::StrCat(login.message(), "; check the PIN file ", pin_path));
  }
  RETURN_IF_ERROR(login);
  return token;
}

absl::Status Token::WithSession(
    absl::FunctionRef<absl::Status(CK_SESSION_HANDLE session, uint64_t epoch)> fn) {
  enum class Next { kReturn, kRetry, kReinitialize };
  absl::Status last;
  bool reinitialized = false;
  int made = 0;
  const int attempts = 1 + (options_.max_retries < 0 ? 0 : options_.max_retries);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    ++made;
    uint64_t module_generation = 0;
    absl::Status status;
    Next next = Next::kReturn;
    {
      Module::Use in_use(*module_);
      module_generation = module_->generation();
      // Handles found before a reinitialization are meaningless: the epoch moves with it.
      const uint64_t epoch = epoch_.load() + module_generation;
      absl::StatusOr<SessionPool::Lease> lease = pool_->Acquire();
      status = lease.ok() ? fn(lease->handle(), epoch) : lease.status();
      if (status.ok()) return status;
      std::optional<CK_RV> rv = CkRvOf(status);
      if (status.code() == absl::StatusCode::kPermissionDenied) {
        next = Next::kReturn;  // PIN problems are never retried.
      } else if ((rv && IsTokenFailure(*rv)) || TokenFailed()) {
        // Also when the call failed otherwise (object handle invalid, key not found) but the
        // token itself no longer answers: the real problem is the token.
        if (lease.ok()) lease->Discard(/*still_open=*/false);
        next = Next::kReinitialize;
      } else if (rv && lease.ok() && IsSessionLost(*rv)) {
        lease->Discard(/*still_open=*/*rv == CKR_USER_NOT_LOGGED_IN);
        epoch_.fetch_add(1);
        next = Next::kRetry;
      } else if (rv && !lease.ok() && IsSessionLost(*rv)) {
        next = Next::kRetry;  // Token briefly absent while opening: try again, bounded.
      } else if (rv && lease.ok() &&
                 (*rv == CKR_KEY_HANDLE_INVALID || *rv == CKR_OBJECT_HANDLE_INVALID)) {
        // The cached handle is stale, or the token dropped the login so private objects are
        // invisible: reopen (which logs in again when needed) and find the object again.
        lease->Discard(/*still_open=*/true);
        epoch_.fetch_add(1);
        next = Next::kRetry;
      }
    }  // The lease is back in the pool and the module free for a reinitialization.
    if (next == Next::kReturn) return status;
    last = status;
    if (next == Next::kReinitialize) {
      if (reinitialized) break;
      reinitialized = true;
      absl::Status again =
          module_->Reinitialize(module_generation, options_.min_reinitialize_interval);
      if (!again.ok()) {
        last = absl::Status(status.code(), absl::StrCat(status.message(), "; ", again.message()));
        std::optional<CK_RV> rv = CkRvOf(status);
        if (rv && IsSessionLost(*rv)) continue;  // Plain reopening may still help.
        break;
      }
    }
  }
  absl::Status unavailable = absl::UnavailableError(absl::StrCat(
      "HSM token ", label_, " is unavailable (", made, made == 1 ? " attempt" : " attempts",
      reinitialized ? ", PKCS#11 module reinitialized" : "", "): ", last.message(),
      "; check the HSM and its token storage"));
  last.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    unavailable.SetPayload(url, payload);
  });
  return unavailable;
}

bool Token::TokenFailed() const {
  CK_TOKEN_INFO info;
  CK_RV rv = module_->functions()->C_GetTokenInfo(slot_, &info);
  return rv != CKR_OK && IsTokenFailure(rv);
}

absl::StatusOr<ObjectQuery> Token::QueryFor(absl::string_view object_uri,
                                            std::optional<CK_OBJECT_CLASS> allowed_class,
                                            bool require_label) const {
  ASSIGN_OR_RETURN(Pkcs11Uri uri, Pkcs11Uri::Parse(object_uri));
  if (uri.HasTokenAttributes() && !uri.MatchesToken(module_info_, slot_info_, token_info_)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "object URI '", uri.display(), "' names another token than the open one (", label_, ")"));
  }
  ObjectQuery query{uri.label(), uri.id(), uri.object_class(), uri.display()};
  if (require_label && !query.label) {
    return absl::InvalidArgumentError(
        absl::StrCat("object URI '", uri.display(), "' has no object= (the key's label)"));
  }
  if (!require_label && !query.label && !query.id) {
    return absl::InvalidArgumentError(
        absl::StrCat("object URI '", uri.display(), "' names no object; add object= or id="));
  }
  if (allowed_class) {
    if (query.object_class && *query.object_class != *allowed_class) {
      return absl::InvalidArgumentError(absl::StrCat(
          "object URI '", uri.display(), "' has a type= that does not fit this operation (",
          *allowed_class == CKO_SECRET_KEY ? "expected type=secret-key" : "expected type=private",
          ")"));
    }
    query.object_class = allowed_class;
  }
  return query;
}

absl::Status Token::RefuseExisting(CK_SESSION_HANDLE session, const ObjectQuery& query) const {
  // Same label or same id is a clash: either would make later URIs ambiguous.
  std::vector<ObjectQuery> probes;
  if (query.label) probes.push_back({query.label, std::nullopt, std::nullopt, query.display});
  if (query.id) probes.push_back({std::nullopt, query.id, std::nullopt, query.display});
  for (const ObjectQuery& probe : probes) {
    ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> found,
                     FindObjects(module_->functions(), session, probe, 1));
    if (!found.empty()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "an object with the label or id of '", query.display, "' already exists on token ",
          label_, "; refusing to overwrite it (use another object= / id=)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<JwsSigner>> Token::GenerateSigningKey(absl::string_view object_uri,
                                                                     KeyType type) {
  ASSIGN_OR_RETURN(ObjectQuery query, QueryFor(object_uri, CKO_PRIVATE_KEY, true));
  CK_FUNCTION_LIST* f = module_->functions();
  const bool ec = type == KeyType::kEcP256 || type == KeyType::kEcP384;
  std::string ec_params = ec ? EcParamsFor(type) : "";
  CK_ULONG modulus_bits = type == KeyType::kRsa2048   ? 2048
                          : type == KeyType::kRsa3072 ? 3072
                                                      : 4096;
  unsigned char public_exponent[] = {0x01, 0x00, 0x01};
  CK_MECHANISM mechanism = {ec ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};

  std::vector<CK_ATTRIBUTE> public_tmpl = {
      {CKA_TOKEN, &kTrue, sizeof(kTrue)},  {CKA_PRIVATE, &kFalse, sizeof(kFalse)},
      {CKA_VERIFY, &kTrue, sizeof(kTrue)}, {CKA_ENCRYPT, &kFalse, sizeof(kFalse)},
      {CKA_WRAP, &kFalse, sizeof(kFalse)},
  };
  if (ec) {
    public_tmpl.push_back({CKA_EC_PARAMS, ec_params.data(), ec_params.size()});
  } else {
    public_tmpl.push_back({CKA_MODULUS_BITS, &modulus_bits, sizeof(modulus_bits)});
    public_tmpl.push_back({CKA_PUBLIC_EXPONENT, public_exponent, sizeof(public_exponent)});
  }
  // The private key can sign and nothing else, and can never leave the token.
  std::vector<CK_ATTRIBUTE> private_tmpl = {
      {CKA_TOKEN, &kTrue, sizeof(kTrue)},          {CKA_PRIVATE, &kTrue, sizeof(kTrue)},
      {CKA_SENSITIVE, &kTrue, sizeof(kTrue)},      {CKA_EXTRACTABLE, &kFalse, sizeof(kFalse)},
      {CKA_SIGN, &kTrue, sizeof(kTrue)},           {CKA_DECRYPT, &kFalse, sizeof(kFalse)},
      {CKA_UNWRAP, &kFalse, sizeof(kFalse)},       {CKA_DERIVE, &kFalse, sizeof(kFalse)},
      {CKA_SIGN_RECOVER, &kFalse, sizeof(kFalse)},
  };
  AddLabelAndId(public_tmpl, query);
  AddLabelAndId(private_tmpl, query);

  std::optional<PublicKey> public_key;
  RETURN_IF_ERROR(WithSession([&](CK_SESSION_HANDLE session, uint64_t) -> absl::Status {
    RETURN_IF_ERROR(RefuseExisting(session, query));
    CK_OBJECT_HANDLE public_handle = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE private_handle = CK_INVALID_HANDLE;
    RETURN_IF_ERROR(
        CkStatus(f->C_GenerateKeyPair(session, &mechanism, public_tmpl.data(), public_tmpl.size(),
                                      private_tmpl.data(), private_tmpl.size(), &public_handle,
                                      &private_handle),
                 absl::StrCat("generating ", KeyTypeName(type), " key ", query.display,
                              " on token ", label_)));
    absl::StatusOr<PublicKey> key;
    if (ec) {
      ASSIGN_OR_RETURN(std::string point,
                       GetBytesAttribute(f, session, public_handle, CKA_EC_POINT));
      key = EcPublicKey(ec_params, point);
    } else {
      ASSIGN_OR_RETURN(std::string modulus,
                       GetBytesAttribute(f, session, public_handle, CKA_MODULUS));
      ASSIGN_OR_RETURN(std::string exponent,
                       GetBytesAttribute(f, session, public_handle, CKA_PUBLIC_EXPONENT));
      key = RsaPublicKey(modulus, exponent);
    }
    if (!key.ok()) return key.status();
    public_key = *std::move(key);
    return absl::OkStatus();
  }));
  auto ref = std::make_unique<ObjectRef>(query);
  ASSIGN_OR_RETURN(auto signer, Pkcs11JwsSigner::Create(shared_from_this(), std::move(ref),
                                                        *std::move(public_key)));
  return std::unique_ptr<JwsSigner>(std::move(signer));
}

absl::StatusOr<std::unique_ptr<JwsSigner>> Token::OpenSigningKey(absl::string_view object_uri) {
  ASSIGN_OR_RETURN(ObjectQuery query, QueryFor(object_uri, CKO_PRIVATE_KEY, false));
  CK_FUNCTION_LIST* f = module_->functions();
  std::optional<PublicKey> public_key;
  RETURN_IF_ERROR(WithSession([&](CK_SESSION_HANDLE session, uint64_t) -> absl::Status {
    ASSIGN_OR_RETURN(CK_OBJECT_HANDLE key, FindUniqueObject(f, session, query, "private key"));
    ASSIGN_OR_RETURN(bool sensitive, GetBoolAttribute(f, session, key, CKA_SENSITIVE));
    ASSIGN_OR_RETURN(bool extractable, GetBoolAttribute(f, session, key, CKA_EXTRACTABLE));
    ASSIGN_OR_RETURN(bool can_sign, GetBoolAttribute(f, session, key, CKA_SIGN));
    if (!sensitive || extractable) {
      return absl::FailedPreconditionError(absl::StrCat(
          "private key ", query.display, " on token ", label_,
          " could leave the token (CKA_SENSITIVE false or CKA_EXTRACTABLE true); acme-signer "
          "only uses keys generated non-extractable in the token"));
    }
    if (!can_sign) {
      return absl::FailedPreconditionError(
          absl::StrCat("private key ", query.display, " does not allow signing (CKA_SIGN)"));
    }
    ASSIGN_OR_RETURN(CK_ULONG key_type, GetUlongAttribute(f, session, key, CKA_KEY_TYPE));
    absl::StatusOr<PublicKey> pub;
    if (key_type == CKK_EC) {
      ASSIGN_OR_RETURN(std::string params, GetBytesAttribute(f, session, key, CKA_EC_PARAMS));
      // The point lives on the public key object with the same label and id.
      ASSIGN_OR_RETURN(std::string label, GetBytesAttribute(f, session, key, CKA_LABEL));
      ASSIGN_OR_RETURN(std::string id, GetBytesAttribute(f, session, key, CKA_ID));
      ObjectQuery public_query{label, id, CKO_PUBLIC_KEY, query.display};
      ASSIGN_OR_RETURN(CK_OBJECT_HANDLE public_handle,
                       FindUniqueObject(f, session, public_query, "public key object"));
      ASSIGN_OR_RETURN(std::string point,
                       GetBytesAttribute(f, session, public_handle, CKA_EC_POINT));
      pub = EcPublicKey(params, point);
    } else if (key_type == CKK_RSA) {
      // RSA private key objects carry the public modulus and exponent themselves.
      ASSIGN_OR_RETURN(std::string modulus, GetBytesAttribute(f, session, key, CKA_MODULUS));
      ASSIGN_OR_RETURN(std::string exponent,
                       GetBytesAttribute(f, session, key, CKA_PUBLIC_EXPONENT));
      pub = RsaPublicKey(modulus, exponent);
    } else {
      return absl::FailedPreconditionError(absl::StrCat("private key ", query.display,
                                                        " is neither EC nor RSA (CKA_KEY_TYPE 0x",
                                                        absl::Hex(key_type), ")"));
    }
    if (!pub.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("key ", query.display, ": ", pub.status().message()));
    }
    public_key = *std::move(pub);
    return absl::OkStatus();
  }));
  auto ref = std::make_unique<ObjectRef>(query);
  ASSIGN_OR_RETURN(auto signer, Pkcs11JwsSigner::Create(shared_from_this(), std::move(ref),
                                                        *std::move(public_key)));
  return std::unique_ptr<JwsSigner>(std::move(signer));
}

namespace {

// The attributes every HMAC key of ours has, imported or generated: a token object, private,
// sensitive, never extractable, usable for C_Sign and nothing else.
std::vector<CK_ATTRIBUTE> HmacKeyTemplate() {
  static CK_OBJECT_CLASS object_class = CKO_SECRET_KEY;
  static CK_KEY_TYPE key_type = CKK_GENERIC_SECRET;
  return {
      {CKA_CLASS, &object_class, sizeof(object_class)},
      {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
      {CKA_TOKEN, &kTrue, sizeof(kTrue)},
      {CKA_PRIVATE, &kTrue, sizeof(kTrue)},
      {CKA_SENSITIVE, &kTrue, sizeof(kTrue)},
      {CKA_EXTRACTABLE, &kFalse, sizeof(kFalse)},
      {CKA_SIGN, &kTrue, sizeof(kTrue)},
      {CKA_VERIFY, &kFalse, sizeof(kFalse)},
      {CKA_ENCRYPT, &kFalse, sizeof(kFalse)},
      {CKA_DECRYPT, &kFalse, sizeof(kFalse)},
      {CKA_WRAP, &kFalse, sizeof(kFalse)},
      {CKA_UNWRAP, &kFalse, sizeof(kFalse)},
      {CKA_DERIVE, &kFalse, sizeof(kFalse)},
  };
}

}  // namespace

absl::StatusOr<std::unique_ptr<MacSigner>> Token::ImportHmacKey(absl::string_view object_uri,
                                                                Secret base64url_key) {
  ASSIGN_OR_RETURN(ObjectQuery query, QueryFor(object_uri, CKO_SECRET_KEY, true));
  // CAs hand the key out as unpadded base64url; surrounding whitespace (a file's newline) and
  // padding are tolerated. The decoder's own message would quote a character of the key.
  absl::string_view text = absl::StripAsciiWhitespace(base64url_key.reveal());
  for (int i = 0; i < 2 && absl::ConsumeSuffix(&text, "="); ++i) {
  }
  absl::StatusOr<std::string> decoded = DecodeBase64Url(text, "EAB HMAC key");
  Secret key;
  if (decoded.ok()) key.mutable_value() = *std::move(decoded);
  if (!decoded.ok() || key.empty()) {
    return absl::InvalidArgumentError(
        "EAB HMAC key is not valid base64url (the CA gives it as base64url without padding)");
  }
  if (key.size() < kMinHmacKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EAB HMAC key is ", key.size(), " bytes after base64url decoding; at least ",
        kMinHmacKeyBytes,
        " are required: RFC 7518 section 3.2 requires an HS256 key at least as long as the "
        "SHA-256 output, and SoftHSM2 refuses shorter CKM_SHA256_HMAC keys. Ask the CA for a "
        "256-bit key"));
  }
  std::vector<CK_ATTRIBUTE> tmpl = HmacKeyTemplate();
  tmpl.push_back({CKA_VALUE, key.mutable_value().data(), key.size()});
  AddLabelAndId(tmpl, query);
  CK_FUNCTION_LIST* f = module_->functions();
  RETURN_IF_ERROR(WithSession([&](CK_SESSION_HANDLE session, uint64_t) -> absl::Status {
    RETURN_IF_ERROR(RefuseExisting(session, query));
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
    return CkStatus(f->C_CreateObject(session, tmpl.data(), tmpl.size(), &handle),
                    absl::StrCat("importing HMAC key ", query.display, " into token ", label_));
  }));
  auto ref = std::make_unique<ObjectRef>(query);
  ASSIGN_OR_RETURN(auto signer, Pkcs11MacSigner::Create(shared_from_this(), std::move(ref)));
  return std::unique_ptr<MacSigner>(std::move(signer));
}

absl::StatusOr<std::unique_ptr<MacSigner>> Token::GenerateHmacKey(absl::string_view object_uri) {
  ASSIGN_OR_RETURN(ObjectQuery query, QueryFor(object_uri, CKO_SECRET_KEY, true));
  // 256 bits: the SHA-256 block is larger, the output is not; RFC 2104 recommends at least L.
  CK_ULONG value_len = 32;
  std::vector<CK_ATTRIBUTE> tmpl = HmacKeyTemplate();
  tmpl.push_back({CKA_VALUE_LEN, &value_len, sizeof(value_len)});
  AddLabelAndId(tmpl, query);
  CK_MECHANISM mechanism = {CKM_GENERIC_SECRET_KEY_GEN, nullptr, 0};
  CK_FUNCTION_LIST* f = module_->functions();
  RETURN_IF_ERROR(WithSession([&](CK_SESSION_HANDLE session, uint64_t) -> absl::Status {
    RETURN_IF_ERROR(RefuseExisting(session, query));
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
    return CkStatus(f->C_GenerateKey(session, &mechanism, tmpl.data(), tmpl.size(), &handle),
                    absl::StrCat("generating HMAC key ", query.display, " in token ", label_));
  }));
  auto ref = std::make_unique<ObjectRef>(query);
  ASSIGN_OR_RETURN(auto signer, Pkcs11MacSigner::Create(shared_from_this(), std::move(ref)));
  return std::unique_ptr<MacSigner>(std::move(signer));
}

absl::StatusOr<std::unique_ptr<MacSigner>> Token::OpenHmacKey(absl::string_view object_uri) {
  ASSIGN_OR_RETURN(ObjectQuery query, QueryFor(object_uri, CKO_SECRET_KEY, false));
  CK_FUNCTION_LIST* f = module_->functions();
  RETURN_IF_ERROR(WithSession([&](CK_SESSION_HANDLE session, uint64_t) -> absl::Status {
    ASSIGN_OR_RETURN(CK_OBJECT_HANDLE key, FindUniqueObject(f, session, query, "secret key"));
    ASSIGN_OR_RETURN(bool sensitive, GetBoolAttribute(f, session, key, CKA_SENSITIVE));
    ASSIGN_OR_RETURN(bool extractable, GetBoolAttribute(f, session, key, CKA_EXTRACTABLE));
    if (!sensitive || extractable) {
      return absl::FailedPreconditionError(absl::StrCat(
          "HMAC key ", query.display, " on token ", label_,
          " could leave the token (CKA_SENSITIVE false or CKA_EXTRACTABLE true); import it "
          "again with acme-signer"));
    }
    return absl::OkStatus();
  }));
  auto ref = std::make_unique<ObjectRef>(query);
  ASSIGN_OR_RETURN(auto signer, Pkcs11MacSigner::Create(shared_from_this(), std::move(ref)));
  return std::unique_ptr<MacSigner>(std::move(signer));
}

absl::StatusOr<bool> Token::HasObject(absl::string_view object_uri) {
  ASSIGN_OR_RETURN(ObjectQuery query, QueryFor(object_uri, std::nullopt, false));
  bool found = false;
  RETURN_IF_ERROR(WithSession([&](CK_SESSION_HANDLE session, uint64_t) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> handles,
                     FindObjects(module_->functions(), session, query, 1));
    found = !handles.empty();
    return absl::OkStatus();
  }));
  return found;
}

namespace {
// The objects of every class labelled `label` (at most 16: a key pair and strays).
constexpr size_t kMaxLabelledObjects = 16;
}  // namespace

absl::StatusOr<int> Token::RelabelObjects(absl::string_view object_uri,
                                          absl::string_view new_label, bool join_existing) {
  ASSIGN_OR_RETURN(ObjectQuery query, QueryFor(object_uri, std::nullopt, true));
  if (query.id || query.object_class) {
    return absl::InvalidArgumentError(absl::StrCat(
        "object URI '", query.display, "' must name the objects by object= only to relabel them"));
  }
  CK_FUNCTION_LIST* f = module_->functions();
  int changed = 0;
  RETURN_IF_ERROR(WithSession([&](CK_SESSION_HANDLE session, uint64_t) -> absl::Status {
    changed = 0;
    ObjectQuery target{std::string(new_label), std::nullopt, std::nullopt,
                       std::string(new_label)};
    ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> clash, FindObjects(f, session, target, 1));
    if (!clash.empty() && !join_existing) {
      return absl::AlreadyExistsError(absl::StrCat("an object labelled '", new_label,
                                                   "' already exists on token ", label_));
    }
    ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> handles,
                     FindObjects(f, session, query, kMaxLabelledObjects));
    for (CK_OBJECT_HANDLE handle : handles) {
      std::string value(new_label);
      CK_ATTRIBUTE attribute = {CKA_LABEL, value.data(), value.size()};
      CK_RV rv = f->C_SetAttributeValue(session, handle, &attribute, 1);
      if (rv != CKR_OK) {
        return CkStatus(rv, absl::StrCat("C_SetAttributeValue(CKA_LABEL) on ", query.display));
      }
      ++changed;
    }
    return absl::OkStatus();
  }));
  return changed;
}

absl::StatusOr<int> Token::DisableSigning(absl::string_view object_uri) {
  ASSIGN_OR_RETURN(ObjectQuery query, QueryFor(object_uri, CKO_PRIVATE_KEY, true));
  CK_FUNCTION_LIST* f = module_->functions();
  int changed = 0;
  RETURN_IF_ERROR(WithSession([&](CK_SESSION_HANDLE session, uint64_t) -> absl::Status {
    changed = 0;
    ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> handles,
                     FindObjects(f, session, query, kMaxLabelledObjects));
    for (CK_OBJECT_HANDLE handle : handles) {
      CK_BBOOL no = CK_FALSE;
      CK_ATTRIBUTE attribute = {CKA_SIGN, &no, sizeof(no)};
      CK_RV rv = f->C_SetAttributeValue(session, handle, &attribute, 1);
      if (rv == CKR_ATTRIBUTE_READ_ONLY || rv == CKR_ATTRIBUTE_VALUE_INVALID ||
          rv == CKR_ACTION_PROHIBITED) {
        return absl::UnimplementedError(absl::StrCat(
            "token ", label_, " does not let CKA_SIGN of ", query.display, " be changed"));
      }
      if (rv != CKR_OK) {
        return CkStatus(rv, absl::StrCat("C_SetAttributeValue(CKA_SIGN) on ", query.display));
      }
      ++changed;
    }
    return absl::OkStatus();
  }));
  return changed;
}

absl::StatusOr<int> Token::DestroyObjects(absl::string_view object_uri) {
  ASSIGN_OR_RETURN(ObjectQuery query, QueryFor(object_uri, std::nullopt, true));
  if (query.id || query.object_class) {
    return absl::InvalidArgumentError(absl::StrCat(
        "object URI '", query.display, "' must name the objects by object= only to destroy them"));
  }
  CK_FUNCTION_LIST* f = module_->functions();
  int destroyed = 0;
  RETURN_IF_ERROR(WithSession([&](CK_SESSION_HANDLE session, uint64_t) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> handles,
                     FindObjects(f, session, query, kMaxLabelledObjects));
    for (CK_OBJECT_HANDLE handle : handles) {
      CK_RV rv = f->C_DestroyObject(session, handle);
      if (rv != CKR_OK) return CkStatus(rv, absl::StrCat("C_DestroyObject on ", query.display));
      ++destroyed;
    }
    return absl::OkStatus();
  }));
  return destroyed;
}

}  // namespace acme_signer::hsm
