// Owners for what p11-kit hands to its caller, in one place (as common/ssl_unique_ptr.h is for
// OpenSSL), so that nothing in hsm/ calls free(), p11_kit_uri_free or p11_kit_modules_release
// by hand. Plain owning pointers: not thread-safe, move-only.
#ifndef ACME_SIGNER_HSM_P11_KIT_HANDLES_H_
#define ACME_SIGNER_HSM_P11_KIT_HANDLES_H_

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include <cstdlib>
#include <memory>

namespace acme_signer::hsm {

// Memory p11-kit says to release with free(): the strings from p11_kit_module_get_name and
// p11_kit_uri_format, and the array from p11_kit_modules_load once its modules are released
// one by one.
struct P11KitFreeDeleter {
  void operator()(void* memory) const { std::free(memory); }
};
template <typename T>
using P11KitMemory = std::unique_ptr<T, P11KitFreeDeleter>;
using P11KitString = P11KitMemory<char>;

// The null-terminated module array from p11_kit_modules_load: every module is released and the
// array freed.
struct P11KitModuleListDeleter {
  void operator()(CK_FUNCTION_LIST** modules) const { p11_kit_modules_release(modules); }
};
using P11KitModuleList = std::unique_ptr<CK_FUNCTION_LIST*, P11KitModuleListDeleter>;

// A p11-kit URI object.
struct P11KitUriDeleter {
  void operator()(P11KitUri* uri) const { p11_kit_uri_free(uri); }
};
using P11KitUriPtr = std::unique_ptr<P11KitUri, P11KitUriDeleter>;

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_P11_KIT_HANDLES_H_
