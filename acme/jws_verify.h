// Server-side verification of ACME requests (RFC 8555 §6.2, §6.3, §6.5, §7.3.4, §7.3.5): what
// the front door checks before any endpoint reads a payload, as Boulder's WFE and Pebble do.
//
//  - VerifyJwsRequest: the POST body is one flattened JWS {"protected","payload","signature"}
//    (no unprotected "header", no "signatures", no other member; the general and compact
//    serialisations are refused), strict base64url, strict JSON (no duplicate or case-variant
//    member names), a size cap; the protected header has "alg" in {RS256, ES256, ES384, ES512}
//    fitting the key, "nonce", "url" equal to the endpoint's configured external URL, and
//    exactly one of "jwk" (only where the endpoint allows it) and "kid"; the signature verifies
//    with that key; the nonce is consumed last (so only a correctly signed request uses one).
//  - VerifyExternalAccountBinding: the newAccount payload's externalAccountBinding (§7.3.4).
//  - VerifyKeyChange: the inner JWS of a keyChange request (§7.3.5).
//
// Every refusal is an absl::Status carrying an acme::ServerProblem (acme/server_problem.h) of
// the RFC 8555 type a client expects:
//   malformed              structure, encoding, JSON, missing/extra members, url mismatch,
//                          jwk/kid where the endpoint does not allow it, oversized body (413)
//   badSignatureAlgorithm  alg outside the allowlist (with "algorithms"), or not fitting the key
//   badPublicKey           a key we do not accept (RSA < 2048 or > 8192 bits, another curve or
//                          kty, private members, not a valid point)
//   badNonce               missing nonce, or one the nonce store does not accept
//   accountDoesNotExist    a kid the account lookup does not know
//   unauthorized           a signature or MAC that does not verify, an unknown EAB key id
//                          (Pebble and Boulder answer malformed for a bad signature; the
//                          issue asks for unauthorized, which names the failure better)
//   externalAccountRequired  newAccount without externalAccountBinding
//   serverInternal         a lookup failed unexpectedly (its message is not sent)
// Details name what was wrong; they never contain key material.
//
// Protected header members other than alg/nonce/url/jwk/kid are ignored (clients add "typ"),
// except those that would change how the JWS is read or where the key comes from, which are
// refused: crit, b64, jku, x5u, x5c, x5t, x5t#S256.
//
// Pure functions over the callbacks given; thread-safe when the callbacks are.
#ifndef ACME_SIGNER_ACME_JWS_VERIFY_H_
#define ACME_SIGNER_ACME_JWS_VERIFY_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/secret.h"
#include "nlohmann/json.hpp"

namespace acme_signer::acme {

// The body cap unless the caller gives another: a finalize with a large RSA CSR or a
// revokeCert with a long certificate is a few KiB.
inline constexpr size_t kDefaultMaxJwsBodySize = 64 * 1024;

// The JWS algorithms the front door accepts for request signatures, in the order sent in
// badSignatureAlgorithm problems.
const std::vector<std::string>& AcceptedJwsAlgorithms();

// Which key reference an endpoint accepts (RFC 8555 §6.2): newAccount only "jwk", revokeCert
// either (revocation signed by the certificate's key), every other endpoint only "kid".
enum class JwsKeyForm { kKid, kJwk, kJwkOrKid };

struct JwsRequestRules {
  // The endpoint's URL under the configured external URL (never built from Host or
  // X-Forwarded-*); the header's "url" must equal it exactly (JwsUrlMatches). Empty is a
  // caller bug: serverInternal.
  std::string expected_url;
  JwsKeyForm key_form = JwsKeyForm::kKid;
  size_t max_body_size = kDefaultMaxJwsBodySize;
};

// The stored public JWK of the account whose URL is `kid`. NotFound → accountDoesNotExist; a
// status carrying a ServerProblem is passed on as it is (e.g. unauthorized for a deactivated
// account); any other error → serverInternal.
using AccountKeyLookup = std::function<absl::StatusOr<std::string>(absl::string_view kid)>;

// Consumes `nonce`: OK exactly once per nonce the server issued; otherwise a status carrying a
// badNonce ServerProblem (signer/frontdoor/nonce_store.h). Any other error → serverInternal.
using NonceConsumer = std::function<absl::Status(absl::string_view nonce)>;

// A request that passed every check.
struct VerifiedJws {
  std::string alg;
  std::string url;         // equal to rules.expected_url
  std::string nonce;       // consumed
  std::string kid;         // the account URL; empty when the request carried a jwk
  std::string jwk;         // RFC 7638 canonical JWK of the key that verified the signature
  std::string thumbprint;  // RFC 7638 thumbprint of `jwk`
  std::string payload;     // decoded payload; empty for POST-as-GET (§6.3)

  bool has_kid() const { return !kid.empty(); }
  bool is_post_as_get() const { return payload.empty(); }
};

// OK when `content_type` is application/jose+json (RFC 8555 §6.2; ASCII case-insensitive, no
// parameters); malformed with HTTP 415 otherwise.
absl::Status CheckJoseContentType(absl::string_view content_type);

// True when the header's `url` is exactly `expected_url` (byte for byte: RFC 8555 §6.4 asks
// the server to compare with the URL it serves the resource at; no normalisation, so two
// spellings of one URL cannot both pass).
bool JwsUrlMatches(absl::string_view url, absl::string_view expected_url);

// Verifies one request body as described in the file comment, in this order: size, structure,
// header, alg, key form, url, key (the jwk, or lookup(kid)), signature, then
// consume_nonce(nonce). `lookup` is needed only when the key form allows kid.
absl::StatusOr<VerifiedJws> VerifyJwsRequest(absl::string_view body, const JwsRequestRules& rules,
                                             const AccountKeyLookup& lookup,
                                             const NonceConsumer& consume_nonce);

// A request payload as a strict JSON object (no duplicate or case-variant members, not deeply
// nested); malformed otherwise, also for the empty payload of POST-as-GET.
absl::StatusOr<nlohmann::json> ParseJwsPayloadObject(absl::string_view payload);

// The HMAC key of an EAB key id, in wiped storage. NotFound → unauthorized ("unknown key
// id"); a status carrying a ServerProblem is passed on (e.g. unauthorized for a key id already
// bound to an account or a revoked host); any other error → serverInternal.
using EabKeyLookup = std::function<absl::StatusOr<Secret>(absl::string_view eab_kid)>;

struct VerifiedEab {
  std::string eab_kid;  // the EAB key id whose MAC verified
  std::string alg;      // HS256, HS384 or HS512
};

// RFC 8555 §7.3.4: `new_account_payload` is the parsed newAccount payload of `outer` (which
// must have used a jwk). Its "externalAccountBinding" must be a flattened JWS with protected
// header {"alg": HS256|HS384|HS512, "kid": EAB key id, "url": outer.url} (no nonce, no jwk),
// payload = the outer JWK (compared canonically), MAC'd with lookup(kid) (constant-time
// compare). Refusals: externalAccountRequired when the member is missing; unauthorized for an
// unknown key id or a wrong MAC; malformed otherwise. Binding each key id to one account only
// is the caller's (it owns the store): do it after this succeeds.
absl::StatusOr<VerifiedEab> VerifyExternalAccountBinding(const nlohmann::json& new_account_payload,
                                                         const VerifiedJws& outer,
                                                         const EabKeyLookup& lookup);

struct VerifiedKeyChange {
  std::string alg;         // of the inner JWS, fitting the new key
  std::string new_jwk;     // RFC 7638 canonical form
  std::string thumbprint;  // of new_jwk
};

// RFC 8555 §7.3.5: `outer` is a verified keyChange request (kid form, signed by the current
// key). Its payload must be a flattened JWS whose protected header has an accepted "alg", a
// "jwk" (the new key, which signs the inner JWS), "url" = outer.url, and no nonce or kid; its
// payload exactly {"account": outer.kid, "oldKey": the current key (canonical compare)}.
// Refusals: malformed for structure, url, another account, another old key, a new key equal
// to the old (as Pebble); badSignatureAlgorithm / badPublicKey for the new key as for any
// request; unauthorized for an inner signature that does not verify. That the new key is not
// another account's is the caller's to check (RFC: 409 Conflict with Location of that account:
// ServerProblemStatus(kMalformed, ..., 409)).
absl::StatusOr<VerifiedKeyChange> VerifyKeyChange(const VerifiedJws& outer);

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_JWS_VERIFY_H_
