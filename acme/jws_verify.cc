#include "acme/jws_verify.h"

#include <openssl/evp.h>

#include <optional>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "acme/json_util.h"
#include "acme/jwk.h"
#include "acme/server_problem.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"

namespace acme_signer::acme {
namespace {

using internal::Json;
using internal::SanitizeForMessage;

// Header "jwk" sits one level below the header object; payloads nest at most
// object > array > object (newOrder identifiers) plus one level of slack.
constexpr int kMaxHeaderDepth = 3;
// A flattened JWS is one flat object; deep enough to read a general serialization (or an
// unprotected header) and say so.
constexpr int kMaxBodyDepth = 4;
constexpr int kMaxPayloadDepth = 4;
constexpr size_t kMaxUrlLength = 2048;
constexpr size_t kMaxKidLength = 2048;
constexpr size_t kMaxNonceLength = 256;
constexpr int kMaxRsaBits = 8192;

absl::Status Malformed(absl::string_view detail) {
  return ServerProblemStatus(problem_type::kMalformed, detail);
}
absl::Status Unauthorized(absl::string_view detail) {
  return ServerProblemStatus(problem_type::kUnauthorized, detail);
}
absl::Status BadPublicKey(absl::string_view detail) {
  return ServerProblemStatus(problem_type::kBadPublicKey, detail);
}
absl::Status BadSignatureAlgorithm(absl::string_view detail) {
  ServerProblem problem = MakeServerProblem(problem_type::kBadSignatureAlgorithm, detail);
  problem.algorithms = AcceptedJwsAlgorithms();
  return problem.ToStatus();
}
// A status from a caller's callback: passed on when it carries a problem, else serverInternal
// (its message stays in the status for the server's log, not in the document).
absl::Status FromCallback(const absl::Status& status, absl::string_view what) {
  if (GetServerProblem(status).has_value()) return status;
  ServerProblem problem = MakeServerProblem(problem_type::kServerInternal, "internal error");
  absl::Status internal(absl::StatusCode::kInternal, absl::StrCat(what, ": ", status.message()));
  internal.SetPayload(kServerProblemPayloadUrl, absl::Cord(problem.ToJson()));
  return internal;
}

// Malformed for a JSON/base64url error, with its message as the detail.
absl::Status AsMalformed(const absl::Status& status) {
  if (status.ok() || GetServerProblem(status).has_value()) return status;
  return Malformed(status.message());
}

// The three parts of a flattened JWS, decoded; the header parsed.
struct FlattenedJws {
  Json header;
  std::string signing_input;  // protected "." payload, as received
  std::string payload;
  std::string signature;
};

absl::StatusOr<std::string> Base64Member(const Json& jws, absl::string_view name,
                                         absl::string_view what, bool may_be_empty) {
  auto it = jws.find(std::string(name));
  if (it == jws.end()) {
    return Malformed(absl::StrCat(what, " has no \"", name, "\" member"));
  }
  if (!it->is_string()) {
    return Malformed(absl::StrCat(what, " member \"", name, "\" is not a string"));
  }
  const std::string& text = it->get_ref<const std::string&>();
  if (text.empty() && !may_be_empty) {
    return Malformed(absl::StrCat(what, " member \"", name, "\" is empty"));
  }
  absl::StatusOr<std::string> decoded =
      DecodeBase64Url(text, absl::StrCat(what, " member \"", name, "\""));
  if (!decoded.ok()) return Malformed(decoded.status().message());
  return decoded;
}

// `jws` must be a flattened JWS object: exactly protected, payload and signature.
absl::StatusOr<FlattenedJws> ParseFlattened(const Json& jws, absl::string_view what) {
  if (!jws.is_object()) return Malformed(absl::StrCat(what, " is not a JSON object"));
  if (jws.contains("signatures")) {
    return Malformed(absl::StrCat(what,
                                  " uses the general JWS serialization (\"signatures\"); "
                                  "ACME requires the flattened one with one signature"));
  }
  if (jws.contains("header")) {
    return Malformed(absl::StrCat(what,
                                  " has an unprotected header; ACME allows only the "
                                  "protected one"));
  }
  for (const auto& [name, value] : jws.items()) {
    if (name != "protected" && name != "payload" && name != "signature") {
      return Malformed(absl::StrCat(what, " has unexpected member \"", SanitizeForMessage(name, 40),
                                    "\" (allowed: protected, payload, signature)"));
    }
  }
  FlattenedJws out;
  ASSIGN_OR_RETURN(std::string header_json, Base64Member(jws, "protected", what, false));
  ASSIGN_OR_RETURN(out.payload, Base64Member(jws, "payload", what, true));
  ASSIGN_OR_RETURN(out.signature, Base64Member(jws, "signature", what, false));
  absl::StatusOr<Json> header = internal::ParseStrictJsonObject(
      header_json, absl::StrCat(what, " protected header"), kMaxHeaderDepth);
  if (!header.ok()) return AsMalformed(header.status());
  out.header = *std::move(header);
  out.signing_input =
      absl::StrCat(jws["protected"].get<std::string>(), ".", jws["payload"].get<std::string>());
  return out;
}

// Header member `name` as a string of at most `max_length`; nullopt when absent.
absl::StatusOr<std::optional<std::string>> HeaderString(const Json& header, absl::string_view name,
                                                        absl::string_view what, size_t max_length) {
  auto it = header.find(std::string(name));
  if (it == header.end()) return std::optional<std::string>();
  if (!it->is_string()) {
    return Malformed(absl::StrCat(what, " header \"", name, "\" is not a string"));
  }
  std::string value = it->get<std::string>();
  if (value.empty()) return Malformed(absl::StrCat(what, " header \"", name, "\" is empty"));
  if (value.size() > max_length) {
    return Malformed(absl::StrCat(what, " header \"", name, "\" is longer than ", max_length));
  }
  return std::optional<std::string>(std::move(value));
}

absl::Status RefuseDangerousMembers(const Json& header, absl::string_view what) {
  for (const char* name : {"crit", "b64", "jku", "x5u", "x5c", "x5t", "x5t#S256"}) {
    if (header.contains(name)) {
      return Malformed(absl::StrCat(what, " header has \"", name, "\", which is not allowed"));
    }
  }
  return absl::OkStatus();
}

// The alg from the header, which must be one of AcceptedJwsAlgorithms().
absl::StatusOr<std::string> RequestAlg(const Json& header, absl::string_view what) {
  ASSIGN_OR_RETURN(std::optional<std::string> alg, HeaderString(header, "alg", what, 32));
  if (!alg.has_value()) return Malformed(absl::StrCat(what, " header has no \"alg\""));
  for (const std::string& accepted : AcceptedJwsAlgorithms()) {
    if (*alg == accepted) return *alg;
  }
  return BadSignatureAlgorithm(absl::StrCat(what, " alg \"", SanitizeForMessage(*alg, 32),
                                            "\" is not accepted; use one of ",
                                            absl::StrJoin(AcceptedJwsAlgorithms(), ", ")));
}

// A public key checked for `alg`.
struct CheckedKey {
  std::string canonical_jwk;
  SslUniquePtr<EVP_PKEY> pkey;
};

// The JWS alg a key signs with, from its kty/crv; badPublicKey for a key type or curve the
// server does not accept, or private key members.
absl::StatusOr<std::string> AlgForKey(const Json& jwk) {
  if (!jwk.is_object()) return BadPublicKey("jwk is not a JSON object");
  for (const char* name : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    if (jwk.contains(name)) {
      return BadPublicKey(absl::StrCat("jwk has private or symmetric key member \"", name,
                                       "\"; send only the public key"));
    }
  }
  auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->is_string()) return BadPublicKey("jwk has no string \"kty\"");
  const std::string& type = kty->get_ref<const std::string&>();
  if (type == "RSA") return std::string("RS256");
  if (type == "EC") {
    auto crv = jwk.find("crv");
    if (crv == jwk.end() || !crv->is_string()) return BadPublicKey("EC jwk has no string \"crv\"");
    const std::string& curve = crv->get_ref<const std::string&>();
    if (curve == "P-256") return std::string("ES256");
    if (curve == "P-384") return std::string("ES384");
    if (curve == "P-521") return std::string("ES512");
    return BadPublicKey(absl::StrCat("EC curve \"", SanitizeForMessage(curve, 20),
                                     "\" is not accepted (P-256, P-384, P-521)"));
  }
  return BadPublicKey(
      absl::StrCat("key type \"", SanitizeForMessage(type, 20), "\" is not accepted (RSA, EC)"));
}

absl::StatusOr<CheckedKey> KeyForAlg(const Json& jwk, absl::string_view alg,
                                     absl::string_view whose) {
  ASSIGN_OR_RETURN(std::string key_alg, AlgForKey(jwk));
  if (key_alg != alg) {
    return BadSignatureAlgorithm(
        absl::StrCat("alg ", alg, " does not fit ", whose, " (it signs ", key_alg, ")"));
  }
  absl::StatusOr<PublicAccountKey> key = ParsePublicAccountKey(alg, internal::DumpJson(jwk));
  if (!key.ok()) {
    return BadPublicKey(absl::StrCat(whose, " is not accepted: ", key.status().message()));
  }
  absl::StatusOr<SslUniquePtr<EVP_PKEY>> pkey = ParsePublicKeyDer(key->spki_der, whose);
  if (!pkey.ok()) return BadPublicKey(pkey.status().message());
  if (EVP_PKEY_get_base_id(pkey->get()) == EVP_PKEY_RSA &&
      EVP_PKEY_get_bits(pkey->get()) > kMaxRsaBits) {
    return BadPublicKey(absl::StrCat(whose, " is an RSA key of ", EVP_PKEY_get_bits(pkey->get()),
                                     " bits; at most ", kMaxRsaBits, " are accepted"));
  }
  return CheckedKey{std::move(key->jwk), *std::move(pkey)};
}

absl::Status VerifySignature(const CheckedKey& key, absl::string_view alg, const FlattenedJws& jws,
                             absl::string_view what) {
  absl::Status verified = VerifyJwsSignature(key.pkey.get(), alg, jws.signing_input, jws.signature);
  if (verified.ok()) return verified;
  if (verified.code() == absl::StatusCode::kInternal) return FromCallback(verified, what);
  return Unauthorized(absl::StrCat(what, " signature does not verify with its key"));
}

absl::StatusOr<std::string> Thumbprint(absl::string_view canonical_jwk) {
  absl::StatusOr<std::string> thumbprint = JwkThumbprint(canonical_jwk);
  if (!thumbprint.ok()) return BadPublicKey(thumbprint.status().message());
  return thumbprint;
}

}  // namespace

const std::vector<std::string>& AcceptedJwsAlgorithms() {
  static const std::vector<std::string>* const kAlgorithms =
      new std::vector<std::string>{"RS256", "ES256", "ES384", "ES512"};
  return *kAlgorithms;
}

absl::Status CheckJoseContentType(absl::string_view content_type) {
  if (absl::EqualsIgnoreCase(content_type, "application/jose+json")) return absl::OkStatus();
  return ServerProblemStatus(
      problem_type::kMalformed,
      absl::StrCat("Content-Type is \"", SanitizeForMessage(content_type, 100),
                   "\"; ACME requests must be application/jose+json"),
      415);
}

bool JwsUrlMatches(absl::string_view url, absl::string_view expected_url) {
  return !expected_url.empty() && url == expected_url;
}

absl::StatusOr<VerifiedJws> VerifyJwsRequest(absl::string_view body, const JwsRequestRules& rules,
                                             const AccountKeyLookup& lookup,
                                             const NonceConsumer& consume_nonce) {
  constexpr absl::string_view kWhat = "the request JWS";
  if (rules.expected_url.empty()) {
    return FromCallback(absl::InternalError("JwsRequestRules.expected_url is empty"), "rules");
  }
  if (body.size() > rules.max_body_size) {
    return ServerProblemStatus(problem_type::kMalformed,
                               absl::StrCat("request body of ", body.size(),
                                            " bytes is larger than ", rules.max_body_size),
                               413);
  }
  absl::StatusOr<Json> object =
      internal::ParseStrictJsonObject(body, "request body", kMaxBodyDepth);
  if (!object.ok()) {
    return Malformed(
        absl::StrCat(object.status().message(), " (ACME requests are flattened JSON JWS objects)"));
  }
  ASSIGN_OR_RETURN(FlattenedJws jws, ParseFlattened(*object, kWhat));
  const Json& header = jws.header;
  RETURN_IF_ERROR(RefuseDangerousMembers(header, kWhat));
  VerifiedJws verified;
  ASSIGN_OR_RETURN(verified.alg, RequestAlg(header, kWhat));

  const bool has_jwk = header.contains("jwk");
  ASSIGN_OR_RETURN(std::optional<std::string> kid,
                   HeaderString(header, "kid", kWhat, kMaxKidLength));
  if (has_jwk == kid.has_value()) {
    return Malformed(absl::StrCat(kWhat, " header must have exactly one of \"jwk\" and \"kid\""));
  }
  if (has_jwk && rules.key_form == JwsKeyForm::kKid) {
    return Malformed("this endpoint requires \"kid\" (the account URL), not \"jwk\"");
  }
  if (kid.has_value() && rules.key_form == JwsKeyForm::kJwk) {
    return Malformed("this endpoint requires \"jwk\" (newAccount), not \"kid\"");
  }

  ASSIGN_OR_RETURN(std::optional<std::string> nonce,
                   HeaderString(header, "nonce", kWhat, kMaxNonceLength));
  if (!nonce.has_value()) {
    return ServerProblemStatus(problem_type::kBadNonce, "the request JWS header has no \"nonce\"");
  }
  if (!IsBase64Url(*nonce)) {
    return ServerProblemStatus(problem_type::kBadNonce, "the nonce is not base64url");
  }
  ASSIGN_OR_RETURN(std::optional<std::string> url,
                   HeaderString(header, "url", kWhat, kMaxUrlLength));
  if (!url.has_value()) return Malformed("the request JWS header has no \"url\"");
  if (!JwsUrlMatches(*url, rules.expected_url)) {
    return Malformed(absl::StrCat("the request JWS header \"url\" is \"",
                                  SanitizeForMessage(*url, 200), "\"; this endpoint is \"",
                                  rules.expected_url, "\""));
  }

  CheckedKey key;
  if (has_jwk) {
    ASSIGN_OR_RETURN(key, KeyForAlg(header["jwk"], verified.alg, "the request's jwk"));
  } else {
    if (!lookup) return FromCallback(absl::InternalError("no account lookup"), "kid");
    absl::StatusOr<std::string> stored = lookup(*kid);
    if (absl::IsNotFound(stored.status())) {
      return ServerProblemStatus(
          problem_type::kAccountDoesNotExist,
          absl::StrCat("no account at \"", SanitizeForMessage(*kid, 200), "\""));
    }
    if (!stored.ok()) return FromCallback(stored.status(), "looking up the account key");
    absl::StatusOr<Json> stored_jwk = internal::ParseJsonObject(*stored, "stored account JWK");
    if (!stored_jwk.ok()) return FromCallback(stored_jwk.status(), "stored account key");
    ASSIGN_OR_RETURN(key, KeyForAlg(*stored_jwk, verified.alg, "the account key"));
    verified.kid = *std::move(kid);
  }
  RETURN_IF_ERROR(VerifySignature(key, verified.alg, jws, kWhat));

  if (!consume_nonce) return FromCallback(absl::InternalError("no nonce store"), "nonce");
  if (absl::Status consumed = consume_nonce(*nonce); !consumed.ok()) {
    return FromCallback(consumed, "consuming the nonce");
  }
  verified.nonce = *std::move(nonce);
  verified.url = *std::move(url);
  ASSIGN_OR_RETURN(verified.thumbprint, Thumbprint(key.canonical_jwk));
  verified.jwk = std::move(key.canonical_jwk);
  verified.payload = std::move(jws.payload);
  return verified;
}

absl::StatusOr<nlohmann::json> ParseJwsPayloadObject(absl::string_view payload) {
  if (payload.empty()) return Malformed("this request needs a payload (not POST-as-GET)");
  absl::StatusOr<Json> parsed =
      internal::ParseStrictJsonObject(payload, "the payload", kMaxPayloadDepth);
  if (!parsed.ok()) return Malformed(parsed.status().message());
  return parsed;
}

absl::StatusOr<VerifiedEab> VerifyExternalAccountBinding(const nlohmann::json& new_account_payload,
                                                         const VerifiedJws& outer,
                                                         const EabKeyLookup& lookup) {
  constexpr absl::string_view kWhat = "externalAccountBinding";
  auto member = new_account_payload.is_object() ? new_account_payload.find("externalAccountBinding")
                                                : new_account_payload.end();
  if (!new_account_payload.is_object() || member == new_account_payload.end() ||
      member->is_null()) {
    return ServerProblemStatus(problem_type::kExternalAccountRequired,
                               "this server requires an External Account Binding: give the "
                               "client the EAB key id and HMAC key from `acme-signer "
                               "enroll-client`");
  }
  if (outer.has_kid()) {
    return Malformed("externalAccountBinding belongs in a newAccount request signed with jwk");
  }
  ASSIGN_OR_RETURN(FlattenedJws jws, ParseFlattened(*member, kWhat));
  const Json& header = jws.header;
  RETURN_IF_ERROR(RefuseDangerousMembers(header, kWhat));
  for (const char* name : {"nonce", "jwk"}) {
    if (header.contains(name)) {
      return Malformed(
          absl::StrCat(kWhat, " header must not have \"", name, "\" (RFC 8555 §7.3.4)"));
    }
  }
  ASSIGN_OR_RETURN(std::optional<std::string> alg, HeaderString(header, "alg", kWhat, 32));
  if (!alg.has_value() || (*alg != "HS256" && *alg != "HS384" && *alg != "HS512")) {
    return Malformed(absl::StrCat(kWhat, " alg must be HS256, HS384 or HS512, not \"",
                                  SanitizeForMessage(alg.value_or(""), 32), "\""));
  }
  ASSIGN_OR_RETURN(std::optional<std::string> kid,
                   HeaderString(header, "kid", kWhat, kMaxKidLength));
  if (!kid.has_value()) return Malformed(absl::StrCat(kWhat, " header has no \"kid\""));
  ASSIGN_OR_RETURN(std::optional<std::string> url,
                   HeaderString(header, "url", kWhat, kMaxUrlLength));
  if (!url.has_value() || !JwsUrlMatches(*url, outer.url)) {
    return Malformed(
        absl::StrCat(kWhat, " header \"url\" must be the newAccount URL \"", outer.url, "\""));
  }
  absl::StatusOr<std::string> bound_key = CanonicalJwk(jws.payload);
  if (!bound_key.ok() || *bound_key != outer.jwk) {
    return Malformed(absl::StrCat(kWhat, " payload is not the account key of the request"));
  }

  if (!lookup) return FromCallback(absl::InternalError("no EAB key lookup"), "EAB");
  absl::StatusOr<Secret> key = lookup(*kid);
  if (absl::IsNotFound(key.status())) {
    return Unauthorized(absl::StrCat(kWhat, " key id \"", SanitizeForMessage(*kid, 100),
                                     "\" is not known to this server"));
  }
  if (!key.ok()) return FromCallback(key.status(), "looking up the EAB key");
  if (key->empty()) return FromCallback(absl::InternalError("empty EAB key"), "EAB key");
  absl::StatusOr<std::string> expected = Hmac(*alg, key->reveal(), jws.signing_input);
  if (!expected.ok()) return FromCallback(expected.status(), "computing the EAB MAC");
  if (!HmacEquals(*expected, jws.signature)) {
    return Unauthorized(absl::StrCat(kWhat, " MAC does not verify with the key of key id \"",
                                     SanitizeForMessage(*kid, 100), "\""));
  }
  return VerifiedEab{*std::move(kid), *std::move(alg)};
}

absl::StatusOr<VerifiedKeyChange> VerifyKeyChange(const VerifiedJws& outer) {
  constexpr absl::string_view kWhat = "the keyChange inner JWS";
  if (!outer.has_kid()) return Malformed("keyChange must be signed with kid (the account URL)");
  ASSIGN_OR_RETURN(Json inner_object, ParseJwsPayloadObject(outer.payload));
  ASSIGN_OR_RETURN(FlattenedJws jws, ParseFlattened(inner_object, kWhat));
  const Json& header = jws.header;
  RETURN_IF_ERROR(RefuseDangerousMembers(header, kWhat));
  for (const char* name : {"nonce", "kid"}) {
    if (header.contains(name)) {
      return Malformed(
          absl::StrCat(kWhat, " header must not have \"", name, "\" (RFC 8555 §7.3.5)"));
    }
  }
  ASSIGN_OR_RETURN(std::string alg, RequestAlg(header, kWhat));
  if (!header.contains("jwk")) return Malformed(absl::StrCat(kWhat, " header has no \"jwk\""));
  ASSIGN_OR_RETURN(std::optional<std::string> url,
                   HeaderString(header, "url", kWhat, kMaxUrlLength));
  if (!url.has_value() || !JwsUrlMatches(*url, outer.url)) {
    return Malformed(
        absl::StrCat(kWhat, " header \"url\" must be the keyChange URL \"", outer.url, "\""));
  }
  ASSIGN_OR_RETURN(CheckedKey new_key, KeyForAlg(header["jwk"], alg, "the new key"));
  RETURN_IF_ERROR(VerifySignature(new_key, alg, jws, kWhat));

  ASSIGN_OR_RETURN(Json payload, ParseJwsPayloadObject(jws.payload));
  for (const auto& [name, value] : payload.items()) {
    if (name != "account" && name != "oldKey") {
      return Malformed(absl::StrCat(kWhat, " payload has unexpected member \"",
                                    SanitizeForMessage(name, 40), "\" (allowed: account, oldKey)"));
    }
  }
  auto account = payload.find("account");
  if (account == payload.end() || !account->is_string()) {
    return Malformed(absl::StrCat(kWhat, " payload has no string \"account\""));
  }
  auto old_key = payload.find("oldKey");
  if (old_key == payload.end() || !old_key->is_object()) {
    return Malformed(absl::StrCat(kWhat, " payload has no \"oldKey\" object"));
  }
  if (account->get_ref<const std::string&>() != outer.kid) {
    return Malformed(absl::StrCat(kWhat, " names account \"",
                                  SanitizeForMessage(account->get<std::string>(), 200),
                                  "\", but the request is signed by \"", outer.kid, "\""));
  }
  absl::StatusOr<std::string> old_canonical = CanonicalJwk(internal::DumpJson(*old_key));
  if (!old_canonical.ok() || *old_canonical != outer.jwk) {
    return Malformed(absl::StrCat(kWhat, " oldKey is not the account's current key"));
  }
  if (new_key.canonical_jwk == outer.jwk) {
    return Malformed("the new key is the account's current key");
  }
  VerifiedKeyChange result;
  result.alg = std::move(alg);
  ASSIGN_OR_RETURN(result.thumbprint, Thumbprint(new_key.canonical_jwk));
  result.new_jwk = std::move(new_key.canonical_jwk);
  return result;
}

}  // namespace acme_signer::acme
