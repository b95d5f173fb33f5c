// PKCS#12 (.pfx) bundles for `--pfx`: private key + leaf + chain, for servers (IIS, Java,
// appliances) that import a single file.
//
// kModern: PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC for key and certificates, SHA-256 MAC
//   (OpenSSL 3's `pkcs12 -export` default; Windows Server 2019+ / Windows 10 1709+).
// kLegacy: pbeWithSHA1And3-KeyTripleDES-CBC for key and certificates, SHA-1 MAC, for older
//   Windows and Java. 3DES is in OpenSSL's default provider, so no legacy provider is loaded
//   (RC2, OpenSSL 1.x's certificate default, is deliberately not offered).
// An empty password yields a file protected by the empty password, which is what Windows'
// import wizard expects when no password is typed.
//
// Thread-safe: pure function.
#ifndef ACME_SIGNER_AGENT_PKCS12_H_
#define ACME_SIGNER_AGENT_PKCS12_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/private_key.h"
#include "common/secret.h"

namespace acme_signer::agent {

enum class Pkcs12Mode { kModern, kLegacy };

// PBKDF / MAC iteration count for both modes (OpenSSL's default is 2048; more costs an
// attacker more and an import only milliseconds).
inline constexpr int kPkcs12Iterations = 10000;

// DER PKCS#12. `cert_pem` is the leaf; `chain_pem` holds zero or more CA certificates.
// `friendly_name` becomes the key/cert alias (Windows shows it; certbot uses none).
// InvalidArgument when the PEM does not parse or the key does not match the leaf;
// Internal on OpenSSL failure.
absl::StatusOr<std::string> BuildPkcs12(const PrivateKey& key, absl::string_view cert_pem,
                                        absl::string_view chain_pem, const Secret& password,
                                        Pkcs12Mode mode, absl::string_view friendly_name = "");

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_PKCS12_H_
