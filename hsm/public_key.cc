#include "hsm/public_key.h"

#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "absl/strings/str_cat.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "common/ssl_errors.h"

namespace acme_signer::hsm {
namespace {

int CurveNid(KeyType type) {
  return type == KeyType::kEcP384 ? NID_secp384r1 : NID_X9_62_prime256v1;
}

absl::string_view StripLeadingZeros(absl::string_view bytes) {
  while (bytes.size() > 1 && bytes.front() == '\0') bytes.remove_prefix(1);
  return bytes;
}

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

std::string EcParamsFor(KeyType type) {
  return ToDer(OBJ_nid2obj(CurveNid(type)), i2d_ASN1_OBJECT, "the curve OID").value_or("");
}

absl::StatusOr<PublicKey> EcPublicKey(absl::string_view ec_params, absl::string_view ec_point) {
  const unsigned char* p = Bytes(ec_params);
  SslUniquePtr<ASN1_OBJECT> oid(d2i_ASN1_OBJECT(nullptr, &p, ec_params.size()));
  if (oid == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument, "CKA_EC_PARAMS is not a named-curve OID");
  }
  KeyType type;
  const char* group;
  size_t field_bytes;
  switch (OBJ_obj2nid(oid.get())) {
    case NID_X9_62_prime256v1:
      type = KeyType::kEcP256, group = SN_X9_62_prime256v1, field_bytes = 32;
      break;
    case NID_secp384r1:
      type = KeyType::kEcP384, group = SN_secp384r1, field_bytes = 48;
      break;
    default:
      return absl::InvalidArgumentError(
          "EC key is on a curve other than P-256/P-384, which ACME JWS cannot use");
  }
  // RFC-conformant tokens wrap the point in a DER OCTET STRING; some return it bare.
  std::string point(ec_point);
  const size_t point_size = 1 + 2 * field_bytes;
  if (point.size() != point_size) {
    const unsigned char* q = Bytes(ec_point);
    SslUniquePtr<ASN1_OCTET_STRING> octets(d2i_ASN1_OCTET_STRING(nullptr, &q, ec_point.size()));
    if (octets == nullptr) {
      return SslError(absl::StatusCode::kInvalidArgument, "CKA_EC_POINT is malformed");
    }
    point.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(octets.get())),
                 ASN1_STRING_length(octets.get()));
  }
  if (point.size() != point_size || point[0] != 0x04) {
    return absl::InvalidArgumentError("CKA_EC_POINT is not an uncompressed point of the curve");
  }

  SslUniquePtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size())) {
    return SslError(absl::StatusCode::kInternal, "building EC key parameters");
  }
  SslUniquePtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
  SslUniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return SslError(absl::StatusCode::kInvalidArgument, "EC public key from the token is invalid");
  }
  PublicKey key{type, SslUniquePtr<EVP_PKEY>(raw), "", ""};
  // fromdata does not check that the point is on the curve; a public check does.
  SslUniquePtr<EVP_PKEY_CTX> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.pkey.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "EC point from the token is not on the curve");
  }
  auto der = PublicKeyToDer(key.pkey.get());
  if (!der.ok()) return der.status();
  key.der = *std::move(der);
  absl::string_view xy = absl::string_view(point).substr(1);
  key.jwk = absl::StrCat(R"({"crv":")", type == KeyType::kEcP256 ? "P-256" : "P-384",
                         R"(","kty":"EC","x":")", Base64Url(xy.substr(0, field_bytes)),
                         R"(","y":")", Base64Url(xy.substr(field_bytes)), R"("})");
  return key;
}

absl::StatusOr<PublicKey> RsaPublicKey(absl::string_view modulus, absl::string_view exponent) {
  modulus = StripLeadingZeros(modulus);
  exponent = StripLeadingZeros(exponent);
  KeyType type;
  switch (modulus.size() * 8) {
    case 2048:
      type = KeyType::kRsa2048;
      break;
    case 3072:
      type = KeyType::kRsa3072;
      break;
    case 4096:
      type = KeyType::kRsa4096;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("RSA key has a ", modulus.size() * 8,
                                                     "-bit modulus; acme-signer uses 2048, 3072 "
                                                     "or 4096"));
  }
  SslUniquePtr<BIGNUM> n(BN_bin2bn(Bytes(modulus), modulus.size(), nullptr));
  SslUniquePtr<BIGNUM> e(BN_bin2bn(Bytes(exponent), exponent.size(), nullptr));
  SslUniquePtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (n == nullptr || e == nullptr || bld == nullptr ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get())) {
    return SslError(absl::StatusCode::kInternal, "building RSA key parameters");
  }
  SslUniquePtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
  SslUniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return SslError(absl::StatusCode::kInvalidArgument, "RSA public key from the token is invalid");
  }
  PublicKey key{type, SslUniquePtr<EVP_PKEY>(raw), "", ""};
  auto der = PublicKeyToDer(key.pkey.get());
  if (!der.ok()) return der.status();
  key.der = *std::move(der);
  key.jwk = absl::StrCat(R"({"e":")", Base64Url(exponent), R"(","kty":"RSA","n":")",
                         Base64Url(modulus), R"("})");
  return key;
}

}  // namespace acme_signer::hsm
