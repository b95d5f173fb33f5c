#include "hsm/pkcs11_mac_signer.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "hsm/ck_status.h"
#include "hsm/sign_metrics.h"

namespace acme_signer::hsm {

absl::StatusOr<std::unique_ptr<Pkcs11MacSigner>> Pkcs11MacSigner::Create(
    std::shared_ptr<Token> token, std::unique_ptr<ObjectRef> key) {
  std::unique_ptr<Pkcs11MacSigner> signer(new Pkcs11MacSigner(std::move(token), std::move(key)));
  absl::StatusOr<std::string> mac = signer->Sign("acme-signer key self-test");
  if (!mac.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("self-test of HMAC key ",
                                                      signer->key_->query().display,
                                                      " failed: ", mac.status().message()));
  }
  return signer;
}

absl::StatusOr<std::string> Pkcs11MacSigner::Sign(absl::string_view data) const {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> mac = SignInToken(data);
  RecordHsmSign("hmac", absl::Now() - start, mac.status());
  return mac;
}

absl::StatusOr<std::string> Pkcs11MacSigner::SignInToken(absl::string_view data) const {
  CK_FUNCTION_LIST* f = token_->module()->functions();
  CK_MECHANISM mechanism = {CKM_SHA256_HMAC, nullptr, 0};
  std::string mac;
  RETURN_IF_ERROR(
      token_->WithSession([&](CK_SESSION_HANDLE session, uint64_t epoch) -> absl::Status {
        ASSIGN_OR_RETURN(CK_OBJECT_HANDLE handle, key_->Get(f, session, epoch));
        CK_RV rv = f->C_SignInit(session, &mechanism, handle);
        if (rv != CKR_OK)
          return CkStatus(rv, absl::StrCat("C_SignInit with ", key_->query().display));
        mac.assign(32, '\0');
        CK_ULONG size = mac.size();
        // The C API takes a non-const input buffer but only reads it.
        rv = f->C_Sign(session, reinterpret_cast<unsigned char*>(const_cast<char*>(data.data())),
                       data.size(), reinterpret_cast<unsigned char*>(mac.data()), &size);
        if (rv != CKR_OK) return CkStatus(rv, absl::StrCat("C_Sign with ", key_->query().display));
        mac.resize(size);
        return absl::OkStatus();
      }));
  if (mac.size() != 32) {
    return absl::InternalError(absl::StrCat("token ", token_->label(), " returned a ", mac.size(),
                                            "-byte HS256 MAC, expected 32"));
  }
  return mac;
}

}  // namespace acme_signer::hsm
