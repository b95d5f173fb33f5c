#include "agent/private_key.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/ssl_errors.h"
#include "common/status_macros.h"

namespace acme_signer::agent {
namespace {

// Private key files are small; a bigger file is not a key.
constexpr size_t kMaxKeyFileBytes = 64 * 1024;

absl::StatusOr<std::string> NormalizeCurve(absl::string_view curve) {
  std::string lower = absl::AsciiStrToLower(curve);
  if (lower == "secp256r1" || lower == "prime256v1" || lower == "p-256") return "secp256r1";
  if (lower == "secp384r1" || lower == "p-384") return "secp384r1";
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported elliptic curve \"", curve, "\": use secp256r1 or secp384r1"));
}

// OpenSSL's group name for our curve names.
const char* OpenSslGroupName(const std::string& curve) {
  return curve == "secp256r1" ? "prime256v1" : "secp384r1";
}

// Describes an existing key and refuses types certbot would not make.
absl::StatusOr<KeySpec> SpecOfKey(EVP_PKEY* key) {
  KeySpec spec;
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
      char group[64] = {0};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                         &len) != 1) {
        return SslError(absl::StatusCode::kInvalidArgument, "EC key without a named curve");
      }
      auto curve = NormalizeCurve(group);
      if (!curve.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "EC key on curve ", group, " is not supported (use secp256r1 or secp384r1)"));
      }
      spec.type = KeyType::kEcdsa;
      spec.elliptic_curve = *curve;
      return spec;
    }
    case EVP_PKEY_RSA: {
      int bits = EVP_PKEY_get_bits(key);
      if (bits < 2048) {
        return absl::InvalidArgumentError(
            absl::StrCat("RSA key of ", bits, " bits is too small (minimum 2048)"));
      }
      spec.type = KeyType::kRsa;
      spec.rsa_key_size = bits;
      return spec;
    }
    default:
      return absl::InvalidArgumentError("private key is neither EC nor RSA");
  }
}

}  // namespace

std::string KeySpec::KeyTypeName() const { return type == KeyType::kEcdsa ? "ecdsa" : "rsa"; }

std::string KeySpec::Describe() const {
  return type == KeyType::kEcdsa ? absl::StrCat("ECDSA ", elliptic_curve)
                                 : absl::StrCat("RSA ", rsa_key_size);
}

absl::StatusOr<KeySpec> ParseKeySpec(absl::string_view key_type, absl::string_view elliptic_curve,
                                     int rsa_key_size) {
  KeySpec spec;
  std::string type = absl::AsciiStrToLower(key_type);
  if (type == "ecdsa") {
    spec.type = KeyType::kEcdsa;
    ASSIGN_OR_RETURN(spec.elliptic_curve, NormalizeCurve(elliptic_curve));
  } else if (type == "rsa") {
    spec.type = KeyType::kRsa;
    if (rsa_key_size != 2048 && rsa_key_size != 3072 && rsa_key_size != 4096) {
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported RSA key size ", rsa_key_size, ": use 2048, 3072 or 4096"));
    }
    spec.rsa_key_size = rsa_key_size;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported key type \"", key_type, "\": use ecdsa or rsa"));
  }
  return spec;
}

absl::StatusOr<PrivateKey> PrivateKey::Generate(const KeySpec& spec) {
  SslUniquePtr<EVP_PKEY> key;
  if (spec.type == KeyType::kEcdsa) {
    ASSIGN_OR_RETURN(std::string curve, NormalizeCurve(spec.elliptic_curve));
    key.reset(EVP_EC_gen(OpenSslGroupName(curve)));
  } else {
    if (spec.rsa_key_size != 2048 && spec.rsa_key_size != 3072 && spec.rsa_key_size != 4096) {
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported RSA key size ", spec.rsa_key_size));
    }
    key.reset(EVP_RSA_gen(static_cast<unsigned int>(spec.rsa_key_size)));
  }
  if (key == nullptr) {
    return SslError(absl::StatusCode::kInternal,
                    absl::StrCat("cannot generate ", spec.Describe(), " key"));
  }
  ASSIGN_OR_RETURN(KeySpec actual, SpecOfKey(key.get()));
  return PrivateKey(std::move(key), std::move(actual));
}

absl::StatusOr<PrivateKey> PrivateKey::FromPem(const Secret& pem) {
  ASSIGN_OR_RETURN(SslUniquePtr<EVP_PKEY> key, ParsePrivateKeyPem(pem, "the key"));
  ASSIGN_OR_RETURN(KeySpec spec, SpecOfKey(key.get()));
  return PrivateKey(std::move(key), std::move(spec));
}

absl::StatusOr<PrivateKey> PrivateKey::Load(const std::string& path) {
  ASSIGN_OR_RETURN(std::string raw, ReadFile(path, kMaxKeyFileBytes));
  Secret pem(std::move(raw));
  auto key = FromPem(pem);
  if (!key.ok()) {
    return absl::Status(key.status().code(),
                        absl::StrCat("private key ", path, ": ", key.status().message()));
  }
  return key;
}

absl::StatusOr<Secret> PrivateKey::ToPem() const { return PrivateKeyToPem(key_.get()); }

bool PrivateKey::MatchesCertificate(X509* cert) const {
  if (cert == nullptr) return false;
  EVP_PKEY* cert_key = X509_get0_pubkey(cert);
  bool match = cert_key != nullptr && EVP_PKEY_eq(cert_key, key_.get()) == 1;
  ERR_clear_error();
  return match;
}

}  // namespace acme_signer::agent
