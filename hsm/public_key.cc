#include "hsm/public_key.h"

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/ssl_errors.h"

namespace acme_signer::hsm {
namespace {

int CurveNid(KeyType type) {
  return type == KeyType::kEcP384 ? NID_secp384r1 : NID_X9_62_prime256v1;
}

std::string B64(absl::string_view bytes) { return absl::WebSafeBase64Escape(bytes); }

absl::string_view StripLeadingZeros(absl::string_view bytes) {
  while (bytes.size() > 1 && bytes.front() == '\0') bytes.remove_prefix(1);
  return bytes;
}

absl::StatusOr<std::string> SpkiDer(EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(pkey, &der);
  if (len <= 0) return SslError(absl::StatusCode::kInternal, "encoding public key");
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owned(der);
  return std::string(reinterpret_cast<char*>(der), len);
}

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

std::string EcParamsFor(KeyType type) {
  const ASN1_OBJECT* oid = OBJ_nid2obj(CurveNid(type));
  unsigned char* der = nullptr;
  int len = i2d_ASN1_OBJECT(oid, &der);
  if (len <= 0) return "";
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owned(der);
  return std::string(reinterpret_cast<char*>(der), len);
}

absl::StatusOr<PublicKey> EcPublicKey(absl::string_view ec_params, absl::string_view ec_point) {
  const unsigned char* p = Bytes(ec_params);
  std::unique_ptr<ASN1_OBJECT, decltype(&ASN1_OBJECT_free)> oid(
      d2i_ASN1_OBJECT(nullptr, &p, ec_params.size()), &ASN1_OBJECT_free);
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
  auto der = SpkiDer(key.pkey.get());
  if (!der.ok()) return der.status();
  key.der = *std::move(der);
  absl::string_view xy = absl::string_view(point).substr(1);
  key.jwk = absl::StrCat(R"({"crv":")", type == KeyType::kEcP256 ? "P-256" : "P-384",
                         R"(","kty":"EC","x":")", B64(xy.substr(0, field_bytes)), R"(","y":")",
                         B64(xy.substr(field_bytes)), R"("})");
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
  auto der = SpkiDer(key.pkey.get());
  if (!der.ok()) return der.status();
  key.der = *std::move(der);
  key.jwk =
      absl::StrCat(R"({"e":")", B64(exponent), R"(","kty":"RSA","n":")", B64(modulus), R"("})");
  return key;
}

absl::StatusOr<std::string> EcdsaRawToDer(absl::string_view raw) {
  if (raw.empty() || raw.size() % 2 != 0) {
    return absl::InvalidArgumentError("ECDSA signature r||s has an odd or zero length");
  }
  const size_t half = raw.size() / 2;
  SslUniquePtr<ECDSA_SIG> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(Bytes(raw), half, nullptr);
  BIGNUM* s = BN_bin2bn(Bytes(raw) + half, half, nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr || !ECDSA_SIG_set0(sig.get(), r, s)) {
    BN_free(r);
    BN_free(s);
    return SslError(absl::StatusCode::kInternal, "building ECDSA-Sig-Value");
  }
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return SslError(absl::StatusCode::kInternal, "encoding ECDSA-Sig-Value");
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owned(der);
  return std::string(reinterpret_cast<char*>(der), len);
}

absl::Status VerifyJwsSignature(const PublicKey& key, absl::string_view data,
                                absl::string_view signature) {
  std::string der_signature;
  const EVP_MD* md = EVP_sha256();
  switch (key.type) {
    case KeyType::kEcP256:
    case KeyType::kEcP384: {
      const size_t expected = key.type == KeyType::kEcP256 ? 64 : 96;
      if (signature.size() != expected) {
        return absl::InvalidArgumentError(
            absl::StrCat("ECDSA signature is ", signature.size(), " bytes, expected ", expected));
      }
      if (key.type == KeyType::kEcP384) md = EVP_sha384();
      auto der = EcdsaRawToDer(signature);
      if (!der.ok()) return der.status();
      der_signature = *std::move(der);
      signature = der_signature;
      break;
    }
    default:
      break;
  }
  SslUniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.pkey.get()) != 1) {
    return SslError(absl::StatusCode::kInternal, "initializing signature verification");
  }
  if (EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(), Bytes(data), data.size()) !=
      1) {
    return SslError(absl::StatusCode::kInvalidArgument, "signature does not verify");
  }
  return absl::OkStatus();
}

}  // namespace acme_signer::hsm
