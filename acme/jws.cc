#include "acme/jws.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "acme/json_util.h"
#include "common/base64url.h"
#include "common/status_macros.h"

namespace acme_signer::acme {

using internal::Json;

absl::StatusOr<JwsSigningInput> BuildJwsSigningInput(const JwsHeader& header,
                                                     absl::string_view payload) {
  if (header.alg.empty() || header.alg == "none") {
    return absl::InvalidArgumentError("JWS header needs a signature algorithm (alg)");
  }
  if (header.url.empty()) return absl::InvalidArgumentError("JWS header needs a url");
  if (header.kid.empty() == header.jwk.empty()) {
    return absl::InvalidArgumentError("JWS header needs exactly one of kid and jwk");
  }
  if (header.nonce.has_value() && header.nonce->empty()) {
    return absl::InvalidArgumentError("JWS header has an empty nonce");
  }
  Json protected_header = Json::object();
  protected_header["alg"] = header.alg;
  protected_header["url"] = header.url;
  if (header.nonce.has_value()) protected_header["nonce"] = *header.nonce;
  if (!header.kid.empty()) {
    protected_header["kid"] = header.kid;
  } else {
    ASSIGN_OR_RETURN(protected_header["jwk"], internal::ParseJsonObject(header.jwk, "JWS jwk"));
  }
  if (!payload.empty()) {
    RETURN_IF_ERROR(internal::ParseJsonObject(payload, "JWS payload").status());
  }
  JwsSigningInput input;
  input.protected_b64 = Base64Url(internal::DumpJson(protected_header));
  input.payload_b64 = Base64Url(payload);
  input.signing_input = absl::StrCat(input.protected_b64, ".", input.payload_b64);
  return input;
}

std::string AssembleFlattenedJws(const JwsSigningInput& input, absl::string_view signature) {
  Json jws = Json::object();
  jws["protected"] = input.protected_b64;
  jws["payload"] = input.payload_b64;
  jws["signature"] = Base64Url(signature);
  return jws.dump();
}

absl::StatusOr<std::string> SignJws(const hsm::JwsSigner& signer, absl::string_view url,
                                    std::optional<std::string> nonce, absl::string_view kid,
                                    absl::string_view payload) {
  JwsHeader header;
  header.alg = std::string(signer.Algorithm());
  header.nonce = std::move(nonce);
  header.url = std::string(url);
  if (kid.empty()) {
    header.jwk = signer.PublicJwk();
  } else {
    header.kid = std::string(kid);
  }
  ASSIGN_OR_RETURN(JwsSigningInput input, BuildJwsSigningInput(header, payload));
  ASSIGN_OR_RETURN(std::string signature, signer.Sign(input.signing_input));
  return AssembleFlattenedJws(input, signature);
}

}  // namespace acme_signer::acme
