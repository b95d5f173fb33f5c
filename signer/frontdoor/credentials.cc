#include "signer/frontdoor/credentials.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "common/status_macros.h"

namespace acme_signer::signer::frontdoor {
namespace {

constexpr size_t kMaxKidChars = 128;

}  // namespace

absl::StatusOr<std::unique_ptr<hsm::MacSigner>> OpenEabMasterKey(hsm::Token& token) {
  return token.OpenHmacKey(kEabMasterKeyUri);
}

absl::StatusOr<std::unique_ptr<hsm::MacSigner>> OpenOrCreateEabMasterKey(hsm::Token& token,
                                                                         bool* created) {
  if (created != nullptr) *created = false;
  absl::StatusOr<std::unique_ptr<hsm::MacSigner>> existing = token.OpenHmacKey(kEabMasterKeyUri);
  if (existing.status().code() != absl::StatusCode::kNotFound) return existing;
  absl::StatusOr<std::unique_ptr<hsm::MacSigner>> generated =
      token.GenerateHmacKey(kEabMasterKeyUri);
  if (generated.status().code() == absl::StatusCode::kAlreadyExists) {
    // Another process created it between our find and our create: use theirs.
    return token.OpenHmacKey(kEabMasterKeyUri);
  }
  if (!generated.ok()) return generated.status();
  // Open by label again: if a concurrent creator also made one, this fails (several objects)
  // before any credential derived from either key is printed.
  ASSIGN_OR_RETURN(std::unique_ptr<hsm::MacSigner> reopened, token.OpenHmacKey(kEabMasterKeyUri));
  if (created != nullptr) *created = true;
  return reopened;
}

absl::StatusOr<Secret> DeriveEabHmacKey(const hsm::MacSigner& master, absl::string_view kid) {
  if (kid.empty() || kid.size() > kMaxKidChars || !IsBase64Url(kid)) {
    return absl::InvalidArgumentError(
        absl::StrCat("an EAB key id must be 1..", kMaxKidChars, " base64url characters"));
  }
  std::string input(kEabDerivationLabel);
  input.push_back('\0');
  input.append(kid.data(), kid.size());
  absl::StatusOr<std::string> mac = master.Sign(input);
  if (!mac.ok()) {
    return absl::Status(mac.status().code(),
                        absl::StrCat("cannot derive the front-door EAB key from ", kEabMasterKeyUri,
                                     ": ", mac.status().message()));
  }
  return Secret(*std::move(mac));
}

absl::StatusOr<std::string> NewEabKid() {
  return RandomBase64Url(kEabKidRandomBytes, "an EAB key id");
}

std::string DirectoryUrl(const AcmeServerConfig& server) {
  absl::string_view base = server.external_url;
  while (absl::ConsumeSuffix(&base, "/")) {
  }
  return absl::StrCat(base, "/directory");
}

absl::StatusOr<IssuedCredential> IssueCredential(const AcmeServerConfig& server,
                                                 const hsm::MacSigner& master, StateStore& store,
                                                 absl::string_view host,
                                                 absl::string_view account) {
  IssuedCredential issued;
  issued.directory_url = DirectoryUrl(server);
  ASSIGN_OR_RETURN(issued.kid, NewEabKid());
  // Derive first: a token that cannot derive leaves no unusable row behind.
  ASSIGN_OR_RETURN(issued.hmac_key, DeriveEabHmacKey(master, issued.kid));
  RETURN_IF_ERROR(store.AddFrontDoorCredential(issued.kid, host, account, absl::Now()));
  return issued;
}

}  // namespace acme_signer::signer::frontdoor
