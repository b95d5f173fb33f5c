#include "tests/acme/openssl_signers.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/ssl_errors.h"
#include "nlohmann/json.hpp"

namespace acme_signer::acme::testing {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "test helper failure: %s: %s\n", what, SslErrors().c_str());
    std::abort();
  }
}

std::string BnToBytes(const BIGNUM* bn, int width) {
  std::string out(width > 0 ? width : BN_num_bytes(bn), '\0');
  Check(BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()),
                     static_cast<int>(out.size())) > 0,
        "BN_bn2binpad");
  return out;
}

std::string GetBnParam(EVP_PKEY* pkey, const char* name, int width) {
  BIGNUM* raw = nullptr;
  Check(EVP_PKEY_get_bn_param(pkey, name, &raw) == 1, name);
  SslUniquePtr<BIGNUM> bn(raw);
  return BnToBytes(bn.get(), width);
}

std::string Spki(EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(pkey, &der);
  Check(len > 0, "i2d_PUBKEY");
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owner(der);
  return std::string(reinterpret_cast<char*>(der), len);
}

// ES256/ES384/ES512: the curve's name in JWK and its coordinate size.
struct EcCurve {
  const char* crv;
  int size;
  const EVP_MD* md;
};
EcCurve CurveFor(absl::string_view alg) {
  if (alg == "ES384") return {"P-384", 48, EVP_sha384()};
  if (alg == "ES512") return {"P-521", 66, EVP_sha512()};
  return {"P-256", 32, EVP_sha256()};
}

std::string DigestSign(EVP_PKEY* pkey, absl::string_view data, const EVP_MD* md = EVP_sha256()) {
  SslUniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  Check(EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, pkey) == 1, "sign init");
  size_t len = 0;
  Check(EVP_DigestSign(ctx.get(), nullptr, &len,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1,
        "sign len");
  std::string sig(len, '\0');
  Check(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1,
        "sign");
  sig.resize(len);
  return sig;
}

std::string B64(absl::string_view s) { return absl::WebSafeBase64Escape(s); }

}  // namespace

std::unique_ptr<OpenSslJwsSigner> OpenSslJwsSigner::GenerateEs256() {
  SslUniquePtr<EVP_PKEY> pkey(EVP_EC_gen("P-256"));
  Check(pkey != nullptr, "EVP_EC_gen");
  return std::unique_ptr<OpenSslJwsSigner>(new OpenSslJwsSigner(std::move(pkey), "ES256"));
}

std::unique_ptr<OpenSslJwsSigner> OpenSslJwsSigner::GenerateEs384() {
  SslUniquePtr<EVP_PKEY> pkey(EVP_EC_gen("P-384"));
  Check(pkey != nullptr, "EVP_EC_gen");
  return std::unique_ptr<OpenSslJwsSigner>(new OpenSslJwsSigner(std::move(pkey), "ES384"));
}

std::unique_ptr<OpenSslJwsSigner> OpenSslJwsSigner::GenerateEs512() {
  SslUniquePtr<EVP_PKEY> pkey(EVP_EC_gen("P-521"));
  Check(pkey != nullptr, "EVP_EC_gen");
  return std::unique_ptr<OpenSslJwsSigner>(new OpenSslJwsSigner(std::move(pkey), "ES512"));
}

std::unique_ptr<OpenSslJwsSigner> OpenSslJwsSigner::GenerateRs256(int bits) {
  SslUniquePtr<EVP_PKEY> pkey(EVP_RSA_gen(static_cast<unsigned int>(bits)));
  Check(pkey != nullptr, "EVP_RSA_gen");
  return std::unique_ptr<OpenSslJwsSigner>(new OpenSslJwsSigner(std::move(pkey), "RS256"));
}

OpenSslJwsSigner::OpenSslJwsSigner() : OpenSslJwsSigner(SslUniquePtr<EVP_PKEY>(EVP_EC_gen("P-256")), "ES256") {}

OpenSslJwsSigner::OpenSslJwsSigner(SslUniquePtr<EVP_PKEY> pkey, std::string alg)
    : pkey_(std::move(pkey)), alg_(std::move(alg)) {
  nlohmann::json jwk = nlohmann::json::object();
  if (alg_ != "RS256") {
    const EcCurve curve = CurveFor(alg_);
    jwk["kty"] = "EC";
    jwk["crv"] = curve.crv;
    jwk["x"] = B64(GetBnParam(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_X, curve.size));
    jwk["y"] = B64(GetBnParam(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, curve.size));
  } else {
    jwk["kty"] = "RSA";
    jwk["n"] = B64(GetBnParam(pkey_.get(), OSSL_PKEY_PARAM_RSA_N, 0));
    jwk["e"] = B64(GetBnParam(pkey_.get(), OSSL_PKEY_PARAM_RSA_E, 0));
  }
  jwk_ = jwk.dump();
  spki_der_ = Spki(pkey_.get());
}

std::string OpenSslJwsSigner::PublicKeyPem() const {
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) == 1, "PEM_write_bio_PUBKEY");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

absl::StatusOr<std::string> OpenSslJwsSigner::Sign(absl::string_view data) const {
  const int call = sign_calls_++;
  const int fail_after = fail_after_;
  if (fail_after >= 0 && call >= fail_after) return absl::UnavailableError("test token removed");
  if (alg_ == "RS256") return DigestSign(pkey_.get(), data);
  const EcCurve curve = CurveFor(alg_);
  std::string sig = DigestSign(pkey_.get(), data, curve.md);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
  SslUniquePtr<ECDSA_SIG> ecdsa(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
  Check(ecdsa != nullptr, "d2i_ECDSA_SIG");
  return BnToBytes(ECDSA_SIG_get0_r(ecdsa.get()), curve.size) +
         BnToBytes(ECDSA_SIG_get0_s(ecdsa.get()), curve.size);
}

std::string HmacSha256(absl::string_view key, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  Check(
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len) != nullptr,
      "HMAC");
  return std::string(reinterpret_cast<char*>(out), len);
}

absl::StatusOr<std::string> OpenSslMacSigner::Sign(absl::string_view data) const {
  return HmacSha256(key_, data);
}

absl::Status VerifyJwsSignature(absl::string_view alg, absl::string_view spki_der,
                                absl::string_view signing_input, absl::string_view signature) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(spki_der.data());
  SslUniquePtr<EVP_PKEY> pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size())));
  if (pkey == nullptr) return absl::InvalidArgumentError("bad SPKI");
  std::string der_sig(signature);
  if (alg == "ES256") {
    if (signature.size() != 64)
      return absl::InvalidArgumentError("ES256 signature is not 64 bytes");
    SslUniquePtr<ECDSA_SIG> ecdsa(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()), 32, nullptr);
    BIGNUM* s =
        BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()) + 32, 32, nullptr);
    ECDSA_SIG_set0(ecdsa.get(), r, s);
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(ecdsa.get(), &der);
    std::unique_ptr<unsigned char, OpenSslFreeDeleter> owner(der);
    der_sig.assign(reinterpret_cast<char*>(der), len);
  }
  SslUniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey.get()) != 1 ||
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der_sig.data()),
                       der_sig.size(), reinterpret_cast<const unsigned char*>(signing_input.data()),
                       signing_input.size()) != 1) {
    return SslError(absl::StatusCode::kPermissionDenied, "signature does not verify");
  }
  return absl::OkStatus();
}

absl::StatusOr<DecodedJws> DecodeFlattenedJws(absl::string_view body) {
  nlohmann::json jws = nlohmann::json::parse(body, nullptr, false);
  if (jws.is_discarded() || !jws.is_object()) return absl::InvalidArgumentError("not JSON");
  for (const char* member : {"protected", "payload", "signature"}) {
    if (!jws.contains(member) || !jws[member].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("missing ", member));
    }
  }
  if (jws.size() != 3) return absl::InvalidArgumentError("extra members");
  DecodedJws out;
  const std::string protected_b64 = jws["protected"];
  const std::string payload_b64 = jws["payload"];
  const std::string signature_b64 = jws["signature"];
  if (!absl::WebSafeBase64Unescape(protected_b64, &out.protected_json) ||
      !absl::WebSafeBase64Unescape(payload_b64, &out.payload_json) ||
      !absl::WebSafeBase64Unescape(signature_b64, &out.signature)) {
    return absl::InvalidArgumentError("bad base64url");
  }
  out.signing_input = absl::StrCat(protected_b64, ".", payload_b64);
  return out;
}

std::string MakeCertificateDer(const CertSpec& spec) {
  SslUniquePtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  Check(key != nullptr, "EVP_EC_gen");
  SslUniquePtr<X509> cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  BIGNUM* serial_raw = nullptr;
  Check(BN_hex2bn(&serial_raw, spec.serial_hex.c_str()) > 0, "BN_hex2bn");
  SslUniquePtr<BIGNUM> serial(serial_raw);
  Check(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) != nullptr, "serial");
  auto name = [](const std::string& cn) {
    SslUniquePtr<X509_NAME> n(X509_NAME_new());
    X509_NAME_add_entry_by_txt(n.get(), "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    return n;
  };
  X509_set_subject_name(cert.get(), name(spec.subject_cn).get());
  X509_set_issuer_name(cert.get(), name(spec.issuer_cn).get());
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), absl::ToInt64Seconds(spec.validity));
  X509_set_pubkey(cert.get(), key.get());
  if (!spec.dns_names.empty()) {
    std::string san;
    for (const std::string& dns : spec.dns_names) {
      absl::StrAppend(&san, san.empty() ? "" : ",", "DNS:", dns);
    }
    SslUniquePtr<X509_EXTENSION> ext(
        X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str()));
    Check(ext != nullptr, "SAN");
    X509_add_ext(cert.get(), ext.get(), -1);
  }
  if (!spec.aki_hex.empty()) {
    const std::string keyid = absl::HexStringToBytes(spec.aki_hex);
    struct AkidDeleter {
      void operator()(AUTHORITY_KEYID* p) const { AUTHORITY_KEYID_free(p); }
    };
    std::unique_ptr<AUTHORITY_KEYID, AkidDeleter> akid(AUTHORITY_KEYID_new());
    akid->keyid = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(akid->keyid, reinterpret_cast<const unsigned char*>(keyid.data()),
                          static_cast<int>(keyid.size()));
    Check(X509_add1_ext_i2d(cert.get(), NID_authority_key_identifier, akid.get(), 0, 0) == 1,
          "AKI");
  }
  Check(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "X509_sign");
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  Check(len > 0, "i2d_X509");
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owner(der);
  return std::string(reinterpret_cast<char*>(der), len);
}

std::string MakeCsrDer(EVP_PKEY* key, const std::vector<std::string>& dns_names) {
  SslUniquePtr<X509_REQ> req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  SslUniquePtr<X509_NAME> name(X509_NAME_new());
  X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(dns_names.at(0).c_str()), -1,
                             -1, 0);
  X509_REQ_set_subject_name(req.get(), name.get());
  X509_REQ_set_pubkey(req.get(), key);
  std::string san;
  for (const std::string& dns : dns_names)
    absl::StrAppend(&san, san.empty() ? "" : ",", "DNS:", dns);
  struct ExtStackDeleter {
    void operator()(STACK_OF(X509_EXTENSION) * p) const {
      sk_X509_EXTENSION_pop_free(p, X509_EXTENSION_free);
    }
  };
  std::unique_ptr<STACK_OF(X509_EXTENSION), ExtStackDeleter> exts(sk_X509_EXTENSION_new_null());
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  Check(ext != nullptr, "SAN");
  sk_X509_EXTENSION_push(exts.get(), ext);
  Check(X509_REQ_add_extensions(req.get(), exts.get()) == 1, "X509_REQ_add_extensions");
  Check(X509_REQ_sign(req.get(), key, EVP_sha256()) > 0, "X509_REQ_sign");
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req.get(), &der);
  Check(len > 0, "i2d_X509_REQ");
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owner(der);
  return std::string(reinterpret_cast<char*>(der), len);
}

std::string DerToPem(absl::string_view der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  SslUniquePtr<X509> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  Check(cert != nullptr, "d2i_X509");
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert.get());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

}  // namespace acme_signer::acme::testing
