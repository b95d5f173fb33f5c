#include "acme/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <memory>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "acme/json_util.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"

namespace acme_signer::acme {
using internal::Json;

namespace {

constexpr absl::string_view kWhat = "the account JWK";

absl::StatusOr<std::string> Member(const internal::Json& jwk, absl::string_view name) {
  ASSIGN_OR_RETURN(std::string encoded, internal::RequiredString(jwk, name, kWhat));
  return DecodeBase64Url(encoded, absl::StrCat(kWhat, " member \"", name, "\""));
}

absl::StatusOr<SslUniquePtr<EVP_PKEY>> FromParams(const char* type, OSSL_PARAM_BLD* builder) {
  SslUniquePtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(builder));
  SslUniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    absl::StrCat(kWhat, " is not a valid ", type, " public key"));
  }
  SslUniquePtr<EVP_PKEY> pkey(raw);
  // EC: the point must be on the curve (cheap). RSA skips OpenSSL's public check, which tests
  // the modulus for primality (milliseconds); size is checked by the caller, and the key comes
  // from our own signer over mutual TLS.
  if (std::string_view(type) != "EC") return pkey;
  SslUniquePtr<EVP_PKEY_CTX> check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    absl::StrCat(kWhat, " fails the ", type, " public key check"));
  }
  return pkey;
}

absl::StatusOr<SslUniquePtr<EVP_PKEY>> EcKey(const internal::Json& jwk,
                                             absl::string_view algorithm) {
  ASSIGN_OR_RETURN(std::string crv, internal::RequiredString(jwk, "crv", kWhat));
  const char* group = nullptr;
  size_t size = 0;
  if (algorithm == "ES256" && crv == "P-256") {
    group = "prime256v1";
    size = 32;
  } else if (algorithm == "ES384" && crv == "P-384") {
    group = "secp384r1";
    size = 48;
  } else if (algorithm == "ES512" && crv == "P-521") {
    group = "secp521r1";
    size = 66;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(kWhat, " is an EC key on curve \"",
                                                   internal::SanitizeForMessage(crv, 20),
                                                   "\", which does not fit algorithm ", algorithm));
  }
  ASSIGN_OR_RETURN(std::string x, Member(jwk, "x"));
  ASSIGN_OR_RETURN(std::string y, Member(jwk, "y"));
  if (x.size() != size || y.size() != size) {
    return absl::InvalidArgumentError(absl::StrCat(kWhat, " has coordinates of ", x.size(), " and ",
                                                   y.size(), " bytes; ", crv, " needs ", size));
  }
  const std::string point = absl::StrCat("\x04", x, y);  // uncompressed (SEC 1 §2.3.3)
  SslUniquePtr<OSSL_PARAM_BLD> builder(OSSL_PARAM_BLD_new());
  if (builder == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return SslError(absl::StatusCode::kInternal, "building EC key parameters");
  }
  return FromParams("EC", builder.get());
}

absl::StatusOr<SslUniquePtr<EVP_PKEY>> RsaKey(const internal::Json& jwk) {
  ASSIGN_OR_RETURN(std::string n, Member(jwk, "n"));
  ASSIGN_OR_RETURN(std::string e, Member(jwk, "e"));
  SslUniquePtr<BIGNUM> bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                                      static_cast<int>(n.size()), nullptr));
  SslUniquePtr<BIGNUM> bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                                      static_cast<int>(e.size()), nullptr));
  SslUniquePtr<OSSL_PARAM_BLD> builder(OSSL_PARAM_BLD_new());
  if (bn_n == nullptr || bn_e == nullptr || builder == nullptr ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return SslError(absl::StatusCode::kInternal, "building RSA key parameters");
  }
  ASSIGN_OR_RETURN(SslUniquePtr<EVP_PKEY> pkey, FromParams("RSA", builder.get()));
  if (EVP_PKEY_get_bits(pkey.get()) < 2048) {
    return absl::InvalidArgumentError(absl::StrCat(kWhat, " is an RSA key of ",
                                                   EVP_PKEY_get_bits(pkey.get()),
                                                   " bits; at least 2048 are needed"));
  }
  return pkey;
}

}  // namespace


absl::StatusOr<std::string> CanonicalJwk(absl::string_view jwk_json) {
  ASSIGN_OR_RETURN(Json jwk, internal::ParseJsonObject(jwk_json, "JWK"));
  ASSIGN_OR_RETURN(std::string kty, internal::RequiredString(jwk, "kty", "JWK"));
  static constexpr const char* kEcMembers[] = {"crv", "kty", "x", "y"};
  static constexpr const char* kRsaMembers[] = {"e", "kty", "n"};
  static constexpr const char* kOkpMembers[] = {"crv", "kty", "x"};
  absl::Span<const char* const> members;
  if (kty == "EC") {
    members = kEcMembers;
  } else if (kty == "RSA") {
    members = kRsaMembers;
  } else if (kty == "OKP") {
    members = kOkpMembers;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("JWK has unsupported kty \"", internal::SanitizeForMessage(kty, 20), "\""));
  }
  // nlohmann::json keeps object members sorted and dumps without whitespace, which is
  // exactly the RFC 7638 canonical form for these all-ASCII members.
  Json canonical = Json::object();
  for (const char* member : members) {
    ASSIGN_OR_RETURN(std::string value, internal::RequiredString(jwk, member, "JWK"));
    canonical[member] = value;
  }
  return internal::DumpJson(canonical);
}

absl::StatusOr<std::string> JwkThumbprint(absl::string_view jwk_json) {
  ASSIGN_OR_RETURN(std::string canonical, CanonicalJwk(jwk_json));
  return Base64Url(Sha256(canonical));
}

absl::StatusOr<PublicAccountKey> ParsePublicAccountKey(absl::string_view algorithm,
                                                       absl::string_view public_jwk) {
  ASSIGN_OR_RETURN(std::string canonical, CanonicalJwk(public_jwk));
  ASSIGN_OR_RETURN(internal::Json jwk, internal::ParseJsonObject(canonical, kWhat));
  ASSIGN_OR_RETURN(std::string kty, internal::RequiredString(jwk, "kty", kWhat));
  SslUniquePtr<EVP_PKEY> pkey;
  if (kty == "EC" && (algorithm == "ES256" || algorithm == "ES384" || algorithm == "ES512")) {
    ASSIGN_OR_RETURN(pkey, EcKey(jwk, algorithm));
  } else if (kty == "RSA" && algorithm == "RS256") {
    ASSIGN_OR_RETURN(pkey, RsaKey(jwk));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        kWhat, " (kty \"", internal::SanitizeForMessage(kty, 20), "\") does not fit algorithm \"",
        internal::SanitizeForMessage(algorithm, 20), "\"; expected ES256, ES384, ES512 or RS256"));
  }
  ASSIGN_OR_RETURN(std::string spki_der, PublicKeyToDer(pkey.get()));
  return PublicAccountKey{std::string(algorithm), std::move(canonical), std::move(spki_der)};
}

}  // namespace acme_signer::acme
