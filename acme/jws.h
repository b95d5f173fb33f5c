// JWS for ACME (RFC 7515 flattened JSON serialization, RFC 8555 §6.2).
//
// Split in two so the signer service can reuse the first half: BuildJwsSigningInput() is a
// pure function that builds the protected header and the exact bytes to sign; the caller
// signs them wherever the key lives (hsm::JwsSigner, an HSM MAC) and AssembleFlattenedJws()
// packs the result. SignJws() does all three with an hsm::JwsSigner.
// Pure functions; thread-safe.
#ifndef ACME_SIGNER_ACME_JWS_H_
#define ACME_SIGNER_ACME_JWS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hsm/jws_signer.h"

namespace acme_signer::acme {

// The protected header of one ACME JWS. Exactly one of `kid` (an account URL) and `jwk` (a
// public JWK as JSON text) is set: jwk for newAccount and revocation by certificate key,
// kid for everything else (RFC 8555 §6.2). `nonce` is absent only for inner JWSs (EAB,
// keyChange), which the server does not replay-check.
struct JwsHeader {
  std::string alg;
  std::optional<std::string> nonce;
  std::string url;
  std::string kid;
  std::string jwk;
};

struct JwsSigningInput {
  std::string protected_b64;  // base64url(protected header JSON)
  std::string payload_b64;    // base64url(payload); empty for POST-as-GET
  std::string signing_input;  // protected_b64 + "." + payload_b64: the bytes to sign
};

// Validates `header` and builds the signing input. `payload` is the JSON text of the request
// payload, or empty for POST-as-GET (RFC 8555 §6.3). InvalidArgument when alg/url is empty,
// alg is "none", both or neither of kid/jwk are set, the jwk is not a JSON object, or the
// payload is neither empty nor a JSON object.
absl::StatusOr<JwsSigningInput> BuildJwsSigningInput(const JwsHeader& header,
                                                     absl::string_view payload);

// The flattened JSON serialization {"protected","payload","signature"} as JSON text.
std::string AssembleFlattenedJws(const JwsSigningInput& input, absl::string_view signature);

// Builds, signs with `signer` and assembles. alg comes from the signer. An empty `kid` puts
// the signer's public JWK in the header (newAccount, revocation by certificate key); a
// non-empty one (the account URL) is used as kid. Errors: those of BuildJwsSigningInput and
// of signer.Sign.
absl::StatusOr<std::string> SignJws(const hsm::JwsSigner& signer, absl::string_view url,
                                    std::optional<std::string> nonce, absl::string_view kid,
                                    absl::string_view payload);

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_JWS_H_
