// Small crypto helpers shared by every component, in one place (in the manner of kmsp11's
// util/crypto_utils.h): DER and PEM to and from any OpenSSL object (ToDer/FromDer, ToPem/
// FromPem), SHA-256, public and private keys, and JWS-form (RFC 7518 §3.4 r||s) signature
// verification. X.509 certificates and CSRs are in common/x509.h, base64url in common/base64url.h.
//
// Free functions without shared state; thread-safe. OpenSSL errors become absl::Status through
// common/ssl_errors.h, and every OpenSSL object is owned through common/ssl_unique_ptr.h.
#ifndef ACME_SIGNER_COMMON_CRYPTO_H_
#define ACME_SIGNER_COMMON_CRYPTO_H_

#include <openssl/evp.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/secret.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"

namespace acme_signer {

// The bytes OpenSSL returned at `data`, as a string_view (no copy).
inline absl::string_view AsStringView(const unsigned char* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

// The DER encoding of `object` by its i2d function, e.g. ToDer(cert, i2d_X509, "the
// certificate") or ToDer(key, i2d_PUBKEY, "the public key"). Internal ("encoding <what>: ...")
// when OpenSSL cannot encode it.
template <typename T, typename I2d>
absl::StatusOr<std::string> ToDer(T* object, I2d i2d, absl::string_view what) {
  unsigned char* der = nullptr;
  const int length = i2d(object, &der);
  OpenSslBytes owner(der);
  if (length <= 0 || der == nullptr) {
    return SslError(absl::StatusCode::kInternal, absl::StrCat("encoding ", what));
  }
  return std::string(AsStringView(der, static_cast<size_t>(length)));
}

// The PEM encoding of `object` by its PEM_write_bio function, e.g. ToPem(cert,
// PEM_write_bio_X509, "the certificate"). Internal ("writing <what> as PEM: ...") on failure.
template <typename T, typename PemWrite>
absl::StatusOr<std::string> ToPem(T* object, PemWrite pem_write, absl::string_view what) {
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || pem_write(bio.get(), object) != 1) {
    return SslError(absl::StatusCode::kInternal, absl::StrCat("writing ", what, " as PEM"));
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

// Parses `der` with its d2i function, e.g. FromDer<X509>(der, d2i_X509, "not a DER X.509
// certificate", "the certificate"); the encoding must fill all of `der`. InvalidArgument:
// "<not_der>: <OpenSSL's reason>" or "N trailing bytes after <what>".
template <typename T, typename D2i>
absl::StatusOr<SslUniquePtr<T>> FromDer(absl::string_view der, D2i d2i, absl::string_view not_der,
                                        absl::string_view what) {
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* cursor = begin;
  SslUniquePtr<T> object(d2i(nullptr, &cursor, static_cast<long>(der.size())));
  if (object == nullptr) return SslError(absl::StatusCode::kInvalidArgument, not_der);
  if (cursor != begin + der.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(begin + der.size() - cursor, " trailing bytes after ", what));
  }
  return object;
}

// Parses the first PEM block of its type in `pem` with a PEM_read_bio_* function, e.g.
// FromPem<X509>(pem, PEM_read_bio_X509, "no PEM certificate"); text around it is ignored.
// InvalidArgument ("<not_found>: <OpenSSL's reason>") when there is none or it does not parse.
template <typename T, typename PemRead>
absl::StatusOr<SslUniquePtr<T>> FromPem(absl::string_view pem, PemRead pem_read,
                                        absl::string_view not_found) {
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return SslError(absl::StatusCode::kInternal, "BIO_new_mem_buf");
  SslUniquePtr<T> object(pem_read(bio.get(), nullptr, nullptr, nullptr));
  if (object == nullptr) return SslError(absl::StatusCode::kInvalidArgument, not_found);
  return object;
}

// SHA-256 of `data`: 32 raw bytes. SHA-256 of a memory buffer cannot fail unless OpenSSL has
// no SHA-256 at all, which leaves the process unable to do anything it exists for: that case
// aborts with OpenSSL's reason rather than return a digest that is not one.
std::string Sha256(absl::string_view data);

// Lower-case hex of Sha256(data): 64 characters. Used for fingerprints and audit hashes.
std::string Sha256Hex(absl::string_view data);

// `bytes` random bytes from OpenSSL's CSPRNG (RAND_bytes), base64url without padding: the
// one source of random identifiers (EAB key ids, nonces, front-door object ids). Internal,
// naming `what`, when the generator fails.
absl::StatusOr<std::string> RandomBase64Url(size_t bytes, absl::string_view what);

// True when `text` has the form Sha256Hex returns: 64 characters of [0-9a-f]. For digests that
// arrive from files and peers (audit hashes, certificate pins) before they are compared.
bool IsSha256Hex(absl::string_view text);

// Parses a DER SubjectPublicKeyInfo that must fill all of `der`. InvalidArgument: "<what> is
// not a DER SubjectPublicKeyInfo" or "N trailing bytes after <what>".
absl::StatusOr<SslUniquePtr<EVP_PKEY>> ParsePublicKeyDer(absl::string_view der,
                                                         absl::string_view what);

// Parses a PEM "PUBLIC KEY" block. InvalidArgument ("<what> is not a PEM PUBLIC KEY").
absl::StatusOr<SslUniquePtr<EVP_PKEY>> ParsePublicKeyPem(absl::string_view pem,
                                                         absl::string_view what);

// The DER SubjectPublicKeyInfo of `key`. Internal when OpenSSL cannot encode it.
absl::StatusOr<std::string> PublicKeyToDer(const EVP_PKEY* key);

// Parses the first PEM private key in `pem`: PKCS#8 ("PRIVATE KEY") or traditional EC/RSA.
// An encrypted key is refused, never prompted for (OpenSSL's default callback would ask on the
// terminal of an unattended service). InvalidArgument: "<what> is not an unencrypted PEM
// private key (PKCS#8 or traditional EC/RSA): <OpenSSL's reason>"; the message never quotes
// the input (OpenSSL's reasons name the failing step, not the bytes).
absl::StatusOr<SslUniquePtr<EVP_PKEY>> ParsePrivateKeyPem(const Secret& pem,
                                                          absl::string_view what);

// `key` as an unencrypted PKCS#8 PEM ("PRIVATE KEY" block), the form every key file the
// project writes has. Built in OpenSSL's secure memory, which is wiped when freed, and returned
// as a Secret. Internal when OpenSSL cannot encode it.
absl::StatusOr<Secret> PrivateKeyToPem(const EVP_PKEY* key);

// Converts a fixed-width JWS ECDSA signature r||s (RFC 7518 §3.4) to a DER ECDSA-Sig-Value.
// InvalidArgument for an empty or odd-length input.
absl::StatusOr<std::string> EcdsaRawToDer(absl::string_view raw);

// Verifies a JWS-form signature over `data` with `key` for the JWS `alg` "ES256" (P-256, r||s
// of 64 bytes), "ES384" (P-384, 96 bytes), "ES512" (P-521, 132 bytes) or "RS256" (PKCS#1 v1.5,
// SHA-256). InvalidArgument for another alg, a signature of the wrong size, or one that does not verify; Internal when
// OpenSSL cannot set up the verification. Leaves OpenSSL's error queue empty.
absl::Status VerifyJwsSignature(EVP_PKEY* key, absl::string_view alg, absl::string_view data,
                                absl::string_view signature);

// HMAC of `data` under `key` for the JWS `alg` "HS256", "HS384" or "HS512" (RFC 7518 §3.2;
// OpenSSL EVP_MAC): 32, 48 or 64 raw bytes. InvalidArgument for another alg or an empty key;
// Internal when OpenSSL fails. The key is never part of a message. To check a MAC received
// from a peer, compare with HmacEquals (constant time), never with ==.
absl::StatusOr<std::string> Hmac(absl::string_view alg, absl::string_view key,
                                 absl::string_view data);

// Constant-time equality of two MACs (CRYPTO_memcmp); false when the lengths differ (the length
// of a MAC is public).
bool HmacEquals(absl::string_view a, absl::string_view b);

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_CRYPTO_H_
