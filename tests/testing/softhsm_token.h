// SoftHSM2 tokens for tests.
//
// SoftHSM2 reads SOFTHSM2_CONF once, at C_Initialize, and the PKCS#11 module is process-wide.
// So the first call in a process creates ONE temp dir with a softhsm2.conf (its own token
// directory, file object store, log.level ERROR), sets SOFTHSM2_CONF, and removes the dir at
// exit. Call CreateSoftHsmToken() before anything loads the module (hsm::Module::Load):
// SoftHSM2 sees tokens created later only after every Module reference is dropped and it is
// loaded again.
//
// Each token gets a fresh random user PIN and SO PIN. The token is initialized with
// `softhsm2-util --init-token`, which only takes PINs on its command line: these are throwaway
// test PINs of a token in a private temp dir, so that is acceptable here (never do it with
// real PINs). The user PIN is also written to a 0600 file, which is what the code under test
// reads.
//
// Usage (link the `softhsm_fixture` and `hsm` targets):
//   TEST(FooTest, SignsWithTheAccountKey) {
//     ACME_SIGNER_REQUIRE_SOFTHSM();  // skips on a dev box without SoftHSM2, fails under CI=true
//     auto token = acme_signer::testing::CreateSoftHsmToken("foo");  // labels unique per process
//     ASSERT_TRUE(token.ok()) << token.status();
//     auto module = hsm::Module::Load(acme_signer::testing::kSoftHsmModule);
//     auto opened = hsm::Token::Open(*module, token->uri, token->pin_file);
//     auto key = (*opened)->GenerateSigningKey("pkcs11:object=account-key", hsm::KeyType::kEcP256);
//   }
// Tests that need a token across several TESTs create it in SetUpTestSuite, before any Load.
//
// Thread-safety: the functions are thread-safe.
#ifndef ACME_SIGNER_TESTS_TESTING_SOFTHSM_TOKEN_H_
#define ACME_SIGNER_TESTS_TESTING_SOFTHSM_TOKEN_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace acme_signer::testing {

// The p11-kit module name of SoftHSM2 (Debian registers it in /usr/share/p11-kit/modules/).
inline constexpr char kSoftHsmModule[] = "softhsm2";

struct SoftHsmToken {
  std::string label;     // CKA token label, e.g. "foo"
  std::string uri;       // "pkcs11:token=foo"
  std::string pin_file;  // 0600 file holding the user PIN (no trailing newline)
};

// OK when softhsm2-util and the SoftHSM2 module are installed; FailedPrecondition naming what
// is missing otherwise.
absl::Status SoftHsmAvailable();

// True when the environment says we run in CI (CI=true): missing tools are then failures.
bool InCi();

// Creates a new initialized token labeled `label` (letters, digits, '-', '_', at most 32
// chars) in the per-process SoftHSM2 directory. AlreadyExists when the label was used in this
// process, FailedPrecondition when SoftHSM2 is missing, Internal when softhsm2-util fails.
absl::StatusOr<SoftHsmToken> CreateSoftHsmToken(absl::string_view label);

// The per-process directory holding softhsm2.conf, the tokens and the PIN files (created on
// first use). Tests may put other throwaway files (e.g. a wrong PIN file) there.
absl::StatusOr<std::string> SoftHsmDir();

}  // namespace acme_signer::testing

// In a TEST body: skip when SoftHSM2 is not installed, but FAIL under CI=true.
#define ACME_SIGNER_REQUIRE_SOFTHSM()                                                 \
  do {                                                                                \
    const ::absl::Status softhsm_status = ::acme_signer::testing::SoftHsmAvailable(); \
    if (!softhsm_status.ok()) {                                                       \
      if (::acme_signer::testing::InCi()) {                                           \
        FAIL() << "CI=true and SoftHSM2 is missing: " << softhsm_status;              \
      } else {                                                                        \
        GTEST_SKIP() << softhsm_status;                                               \
      }                                                                               \
    }                                                                                 \
  } while (0)

#endif  // ACME_SIGNER_TESTS_TESTING_SOFTHSM_TOKEN_H_
