#include "common/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/base64url.h"

namespace acme_signer {
namespace {

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

struct JwsScheme {
  const EVP_MD* md;
  int key_type;           // EVP_PKEY_EC or EVP_PKEY_RSA
  int ec_bits;            // the curve's size for EC, 0 for RSA
  size_t raw_ecdsa_size;  // r||s length for EC, 0 for RSA
};

absl::StatusOr<JwsScheme> SchemeFor(absl::string_view alg) {
  if (alg == "ES256") return JwsScheme{EVP_sha256(), EVP_PKEY_EC, 256, 64};
  if (alg == "ES384") return JwsScheme{EVP_sha384(), EVP_PKEY_EC, 384, 96};
  if (alg == "ES512") return JwsScheme{EVP_sha512(), EVP_PKEY_EC, 521, 132};
  if (alg == "RS256") return JwsScheme{EVP_sha256(), EVP_PKEY_RSA, 0, 0};
  return absl::InvalidArgumentError(absl::StrCat("JWS alg \"", absl::CHexEscape(alg.substr(0, 16)),
                                                 "\" is not ES256, ES384, ES512 or RS256"));
}

// OpenSSL's PEM passphrase callback that refuses: an encrypted key fails instead of prompting.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return -1; }

}  // namespace

std::string Sha256(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    std::fprintf(stderr, "fatal: OpenSSL cannot compute SHA-256: %s\n", SslErrors().c_str());
    std::abort();
  }
  return std::string(AsStringView(digest, size));
}

std::string Sha256Hex(absl::string_view data) { return absl::BytesToHexString(Sha256(data)); }

absl::StatusOr<std::string> RandomBase64Url(size_t bytes, absl::string_view what) {
  std::string raw(bytes, '\0');
  if (bytes > 0 &&
      RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    return absl::InternalError(absl::StrCat("the random generator failed while making ", what));
  }
  return Base64Url(raw);
}

bool IsSha256Hex(absl::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::StatusOr<SslUniquePtr<EVP_PKEY>> ParsePublicKeyDer(absl::string_view der,
                                                         absl::string_view what) {
  return FromDer<EVP_PKEY>(der, d2i_PUBKEY,
                           absl::StrCat(what, " is not a DER SubjectPublicKeyInfo"), what);
}

absl::StatusOr<SslUniquePtr<EVP_PKEY>> ParsePublicKeyPem(absl::string_view pem,
                                                         absl::string_view what) {
  return FromPem<EVP_PKEY>(pem, PEM_read_bio_PUBKEY,
                           absl::StrCat(what, " is not a PEM PUBLIC KEY"));
}

absl::StatusOr<std::string> PublicKeyToDer(const EVP_PKEY* key) {
  return ToDer(key, i2d_PUBKEY, "the public key");
}

absl::StatusOr<SslUniquePtr<EVP_PKEY>> ParsePrivateKeyPem(const Secret& pem,
                                                          absl::string_view what) {
  return FromPem<EVP_PKEY>(
      pem.reveal(),
      [](BIO* bio, EVP_PKEY** out, pem_password_cb* /*unused*/, void* /*unused*/) {
        return PEM_read_bio_PrivateKey(bio, out, NoPassphrase, nullptr);
      },
      absl::StrCat(what, " is not an unencrypted PEM private key (PKCS#8 or traditional EC/RSA)"));
}

absl::StatusOr<Secret> PrivateKeyToPem(const EVP_PKEY* key) {
  // BIO_s_secmem: the buffer, and every smaller one it outgrew, is wiped when freed.
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return SslError(absl::StatusCode::kInternal, "writing the private key as PEM");
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return Secret(std::string(data, static_cast<size_t>(length)));
}

absl::StatusOr<std::string> EcdsaRawToDer(absl::string_view raw) {
  if (raw.empty() || raw.size() % 2 != 0) {
    return absl::InvalidArgumentError("ECDSA signature r||s has an odd or zero length");
  }
  const int half = static_cast<int>(raw.size() / 2);
  SslUniquePtr<ECDSA_SIG> sig(ECDSA_SIG_new());
  SslUniquePtr<BIGNUM> r(BN_bin2bn(Bytes(raw), half, nullptr));
  SslUniquePtr<BIGNUM> s(BN_bin2bn(Bytes(raw) + half, half, nullptr));
  if (sig == nullptr || r == nullptr || s == nullptr ||
      ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return SslError(absl::StatusCode::kInternal, "building ECDSA-Sig-Value");
  }
  // set0 took ownership of both numbers.
  r.release();
  s.release();
  return ToDer(sig.get(), i2d_ECDSA_SIG, "ECDSA-Sig-Value");
}

absl::Status VerifyJwsSignature(EVP_PKEY* key, absl::string_view alg, absl::string_view data,
                                absl::string_view signature) {
  absl::StatusOr<JwsScheme> scheme = SchemeFor(alg);
  if (!scheme.ok()) return scheme.status();
  if (key == nullptr || EVP_PKEY_get_base_id(key) != scheme->key_type ||
      (scheme->ec_bits != 0 && EVP_PKEY_get_bits(key) != scheme->ec_bits)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the key cannot verify ", alg, " signatures (wrong key type or curve)"));
  }
  std::string der_signature;
  if (scheme->raw_ecdsa_size != 0) {
    if (signature.size() != scheme->raw_ecdsa_size) {
      return absl::InvalidArgumentError(absl::StrCat("ECDSA signature is ", signature.size(),
                                                     " bytes, expected ", scheme->raw_ecdsa_size));
    }
    absl::StatusOr<std::string> der = EcdsaRawToDer(signature);
    if (!der.ok()) return der.status();
    der_signature = *std::move(der);
    signature = der_signature;
  }
  SslUniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), nullptr, scheme->md, nullptr, key) != 1) {
    return SslError(absl::StatusCode::kInternal, "initializing signature verification");
  }
  if (EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(), Bytes(data), data.size()) !=
      1) {
    return SslError(absl::StatusCode::kInvalidArgument, "signature does not verify");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Hmac(absl::string_view alg, absl::string_view key,
                                 absl::string_view data) {
  const char* digest = nullptr;
  if (alg == "HS256") {
    digest = "SHA256";
  } else if (alg == "HS384") {
    digest = "SHA384";
  } else if (alg == "HS512") {
    digest = "SHA512";
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "HMAC alg \"", absl::CHexEscape(alg.substr(0, 16)), "\" is not HS256, HS384 or HS512"));
  }
  if (key.empty()) return absl::InvalidArgumentError("HMAC key is empty");
  SslUniquePtr<EVP_MAC> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  SslUniquePtr<EVP_MAC_CTX> ctx(mac == nullptr ? nullptr : EVP_MAC_CTX_new(mac.get()));
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest), 0),
      OSSL_PARAM_construct_end()};
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t out_size = 0;
  if (ctx == nullptr || EVP_MAC_init(ctx.get(), Bytes(key), key.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), Bytes(data), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out, &out_size, sizeof(out)) != 1) {
    return SslError(absl::StatusCode::kInternal, absl::StrCat("computing ", alg));
  }
  std::string result(AsStringView(out, out_size));
  OPENSSL_cleanse(out, sizeof(out));
  return result;
}

bool HmacEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace acme_signer
