#include "fuzz/fuzz_support.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"

namespace acme_signer::fuzz {
namespace {

// Fuzz-only throwaway key (see the header).
constexpr char kFixedKeyPem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgY3dx5/fYHHVHrTaA\n"
    "zZizN7cYfDmVhvFW/QYP7HsRnFWhRANCAATX3bYs5tdkMbERPTsF9y5vQjtw4jQg\n"
    "QV9OL5n0aV8faZzoUH4lRM5yt4gdXgfhlQtDIVm9TluQ7W/qEpLDVhr3\n"
    "-----END PRIVATE KEY-----\n";

EVP_PKEY* LoadFixedKey() {
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(kFixedKeyPem, -1));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) std::abort();  // the harness itself is broken
  return key;
}

std::string LoadSpkiDer() {
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(FixedKey(), &der);
  if (length <= 0) std::abort();
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owned(der);
  return std::string(reinterpret_cast<const char*>(der), static_cast<size_t>(length));
}

}  // namespace

EVP_PKEY* FixedKey() {
  static EVP_PKEY* const key = LoadFixedKey();
  return key;
}

const std::string& FixedKeySpkiDer() {
  static const std::string* const der = new std::string(LoadSpkiDer());
  return *der;
}

absl::StatusOr<std::string> FixedKeySigner::Sign(absl::string_view data) const {
  SslUniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  size_t length = 0;
  const auto* input = reinterpret_cast<const unsigned char*>(data.data());
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, FixedKey()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length, input, data.size()) != 1) {
    return absl::InternalError(absl::StrCat("signing a seed: ", SslErrors()));
  }
  std::string der(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &length, input,
                     data.size()) != 1) {
    return absl::InternalError(absl::StrCat("signing a seed: ", SslErrors()));
  }
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  SslUniquePtr<ECDSA_SIG> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(length)));
  if (sig == nullptr) return absl::InternalError("signing a seed: bad ECDSA signature");
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + 32, 32);
  return raw;
}

absl::StatusOr<std::string> FixedMacSigner::Sign(absl::string_view data) const {
  // Fuzz-only throwaway key (see the header).
  static constexpr char kFixedMacKey[] = "fuzz-only EAB master key, 32 B!!";
  static_assert(sizeof(kFixedMacKey) - 1 == 32);
  return Hmac("HS256", absl::string_view(kFixedMacKey, sizeof(kFixedMacKey) - 1), data);
}

}  // namespace acme_signer::fuzz
