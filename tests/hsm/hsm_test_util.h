// Helpers for the hsm tests: StatusIs matcher and a fresh SoftHSM2 token opened as a Token.
#ifndef ACME_SIGNER_TESTS_HSM_HSM_TEST_UTIL_H_
#define ACME_SIGNER_TESTS_HSM_HSM_TEST_UTIL_H_

#include <openssl/evp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "tests/testing/status_matchers.h"
#include "hsm/module.h"
#include "hsm/token.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer::hsm::testing {

using ::acme_signer::testing::GetStatus;
using ::acme_signer::testing::IsOk;
using ::acme_signer::testing::IsOkAndHolds;
using ::acme_signer::testing::StatusIs;

// A new SoftHSM2 token (unique label) opened through p11-kit. The token is created before the
// module is loaded, as the fixture requires; tests must drop `module`/`token` when done.
struct OpenedToken {
  acme_signer::testing::SoftHsmToken info;
  std::shared_ptr<Module> module;
  std::shared_ptr<Token> token;
};

inline absl::StatusOr<OpenedToken> OpenFreshToken(const std::string& label,
                                                  Token::Options options = {}) {
  OpenedToken opened;
  auto info = acme_signer::testing::CreateSoftHsmToken(label);
  if (!info.ok()) return info.status();
  opened.info = *info;
  auto module = Module::Load(acme_signer::testing::kSoftHsmModule);
  if (!module.ok()) return module.status();
  opened.module = *module;
  auto token = Token::Open(opened.module, opened.info.uri, opened.info.pin_file, options);
  if (!token.ok()) return token.status();
  opened.token = *token;
  return opened;
}

// An EVP_PKEY from DER SubjectPublicKeyInfo (nullptr on error).
inline SslUniquePtr<EVP_PKEY> PublicKeyFromDer(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  return SslUniquePtr<EVP_PKEY>(d2i_PUBKEY(nullptr, &p, der.size()));
}

}  // namespace acme_signer::hsm::testing

#endif  // ACME_SIGNER_TESTS_HSM_HSM_TEST_UTIL_H_
