// Front-door EAB credentials: the per-host External Account Binding key ids and HMAC keys that
// stock ACME clients (certbot, win-acme, lego, ...) present to the signer's front door.
//
// Nothing secret is stored anywhere. The token holds one master key, kEabMasterKeyUri: a
// 256-bit CKK_GENERIC_SECRET generated inside the token, sensitive, non-extractable, usable for
// CKM_SHA256_HMAC signing only. The HMAC key of credential `kid` is
//
//   HMAC-SHA256(master, "acme-signer front-door EAB v1" || 0x00 || kid)      (32 bytes)
//
// computed by the token (C_Sign). `acme-signer enroll-client` prints it once (base64url); the
// front door computes it again to verify a client's EAB JWS. The state store keeps only the
// kid, the host it belongs to and the account it was bound to (signer/state_store.h).
// Disabling a credential is a row flag; the master key never changes (replacing it would
// invalidate every credential ever issued).
//
// Thread-safety: the functions are thread-safe (MacSigner and StateStore are).
#ifndef ACME_SIGNER_SIGNER_FRONTDOOR_CREDENTIALS_H_
#define ACME_SIGNER_SIGNER_FRONTDOOR_CREDENTIALS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/secret.h"
#include "hsm/mac_signer.h"
#include "hsm/token.h"
#include "signer/config.h"
#include "signer/state_store.h"

namespace acme_signer::signer::frontdoor {

// The master key's PKCS#11 URI (fixed: not configurable, so init, enroll-client and serve
// always agree).
inline constexpr absl::string_view kEabMasterKeyLabel = "acme-signer-frontdoor-eab-master";
inline constexpr absl::string_view kEabMasterKeyUri =
    "pkcs11:object=acme-signer-frontdoor-eab-master;type=secret-key";
// The domain-separation prefix of the derivation (followed by one 0x00 byte and the kid).
inline constexpr absl::string_view kEabDerivationLabel = "acme-signer front-door EAB v1";
// Random bytes in a key id (base64url: 22 characters).
inline constexpr size_t kEabKidRandomBytes = 16;

// Opens the master key; NotFound when the token has none.
absl::StatusOr<std::unique_ptr<hsm::MacSigner>> OpenEabMasterKey(hsm::Token& token);

// Opens the master key, generating it when the token has none. `created` (optional) tells
// which happened. Race: two processes creating it at the same instant could both generate
// one (PKCS#11 has no create-if-absent); the loser's C_GenerateKey still succeeds and both keys
// carry the label, after which opening fails with InvalidArgument "matches several objects".
// The window is one C_FindObjects..C_GenerateKey on an operator command (init, the first
// enroll-client of a signer initialised before the front door) and the key is created once in
// the signer's life; docs/signer.md says how to recover (delete the newer object: no
// credential derived from it was printed, since each process re-opens by label afterwards and
// fails).
absl::StatusOr<std::unique_ptr<hsm::MacSigner>> OpenOrCreateEabMasterKey(hsm::Token& token,
                                                                         bool* created = nullptr);

// The HMAC key of credential `kid` (32 bytes, raw), derived by the token from `master`.
// InvalidArgument for a kid that is empty, longer than 128 characters or not base64url (a
// client's kid is untrusted text; the front door looks it up in the store first anyway).
absl::StatusOr<Secret> DeriveEabHmacKey(const hsm::MacSigner& master, absl::string_view kid);

// A fresh key id: kEabKidRandomBytes from RAND_bytes, base64url without padding.
absl::StatusOr<std::string> NewEabKid();

// The front door's directory URL for `server`: external_url with any trailing '/' removed,
// then "/directory".
std::string DirectoryUrl(const AcmeServerConfig& server);

struct IssuedCredential {
  std::string directory_url;
  std::string kid;
  Secret hmac_key;  // raw bytes; print Base64Url(hmac_key.reveal()) once
};

// Issues one more credential for host `host` and signer account `account` (both already
// checked: an [[agents]] entry with front_door = true that may use that [[accounts]] name): a
// new kid recorded in `store` with its host and account, and its derived HMAC key. Every order
// of the ACME account a client registers with it goes upstream through `account`.
absl::StatusOr<IssuedCredential> IssueCredential(const AcmeServerConfig& server,
                                                 const hsm::MacSigner& master, StateStore& store,
                                                 absl::string_view host, absl::string_view account);

}  // namespace acme_signer::signer::frontdoor

#endif  // ACME_SIGNER_SIGNER_FRONTDOOR_CREDENTIALS_H_
