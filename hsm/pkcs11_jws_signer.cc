#include "hsm/pkcs11_jws_signer.h"

#include <openssl/evp.h>

#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/ssl_errors.h"
#include "common/status_macros.h"
#include "hsm/ck_status.h"
#include "hsm/sign_metrics.h"

namespace acme_signer::hsm {
namespace {

constexpr absl::string_view kSelfTestMessage = "acme-signer key self-test";

unsigned char* MutableBytes(const char* data) {
  // PKCS#11 input buffers are non-const in the C API but are only read.
  return reinterpret_cast<unsigned char*>(const_cast<char*>(data));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Pkcs11JwsSigner>> Pkcs11JwsSigner::Create(
    std::shared_ptr<Token> token, std::unique_ptr<ObjectRef> key, PublicKey public_key) {
  std::unique_ptr<Pkcs11JwsSigner> signer(
      new Pkcs11JwsSigner(std::move(token), std::move(key), std::move(public_key)));
  ASSIGN_OR_RETURN(std::string signature, signer->SignInToken(kSelfTestMessage));
  absl::Status verified =
      VerifyJwsSignature(signer->public_key_.pkey.get(), JwsAlgorithm(signer->public_key_.type),
                         kSelfTestMessage, signature);
  if (!verified.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("self-test of ", signer->key_->query().display,
                     " failed: its signature does not verify with the public key object (",
                     verified.message(), ")"));
  }
  return signer;
}

absl::StatusOr<std::string> Pkcs11JwsSigner::SignInToken(absl::string_view data) const {
  CK_MECHANISM mechanism = {CKM_SHA256_RSA_PKCS, nullptr, 0};
  std::string input;
  size_t signature_size = EVP_PKEY_get_size(public_key_.pkey.get());
  const bool ec = public_key_.type == KeyType::kEcP256 || public_key_.type == KeyType::kEcP384;
  if (ec) {
    // CKM_ECDSA signs a digest; hashing here keeps the data off the token (and is what every
    // token supports, unlike CKM_ECDSA_SHA256/384).
    const EVP_MD* md = public_key_.type == KeyType::kEcP256 ? EVP_sha256() : EVP_sha384();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_size = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &digest_size, md, nullptr) != 1) {
      return SslError(absl::StatusCode::kInternal, "hashing JWS signing input");
    }
    input.assign(reinterpret_cast<char*>(digest), digest_size);
    mechanism.mechanism = CKM_ECDSA;
    signature_size = public_key_.type == KeyType::kEcP256 ? 64 : 96;
  } else {
    input = std::string(data);
  }

  CK_FUNCTION_LIST* f = token_->module()->functions();
  std::string signature;
  RETURN_IF_ERROR(
      token_->WithSession([&](CK_SESSION_HANDLE session, uint64_t epoch) -> absl::Status {
        ASSIGN_OR_RETURN(CK_OBJECT_HANDLE handle, key_->Get(f, session, epoch));
        CK_RV rv = f->C_SignInit(session, &mechanism, handle);
        if (rv != CKR_OK)
          return CkStatus(rv, absl::StrCat("C_SignInit with ", key_->query().display));
        signature.assign(signature_size, '\0');
        CK_ULONG size = signature.size();
        rv = f->C_Sign(session, MutableBytes(input.data()), input.size(),
                       reinterpret_cast<unsigned char*>(signature.data()), &size);
        if (rv != CKR_OK) return CkStatus(rv, absl::StrCat("C_Sign with ", key_->query().display));
        signature.resize(size);
        return absl::OkStatus();
      }));
  if (ec && signature.size() != signature_size) {
    return absl::InternalError(absl::StrCat("token ", token_->label(), " returned a ",
                                            signature.size(), "-byte ECDSA signature, expected ",
                                            signature_size));
  }
  return signature;
}

absl::StatusOr<std::string> Pkcs11JwsSigner::Sign(absl::string_view data) const {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> signed_in_token = SignInToken(data);
  RecordHsmSign("jws", absl::Now() - start, signed_in_token.status());
  ASSIGN_OR_RETURN(std::string signature, std::move(signed_in_token));
  if (token_->options().verify_every_signature) {
    absl::Status verified =
        VerifyJwsSignature(public_key_.pkey.get(), JwsAlgorithm(public_key_.type), data, signature);
    if (!verified.ok()) {
      return absl::InternalError(absl::StrCat("token ", token_->label(),
                                              " produced a signature with ", key_->query().display,
                                              " that does not verify: ", verified.message()));
    }
  }
  return signature;
}

}  // namespace acme_signer::hsm
