// Owning pointers for OpenSSL objects: SslUniquePtr<EVP_PKEY> frees with EVP_PKEY_free, etc.
// Nobody calls *_free by hand; add a specialisation here when a new type is needed.
#ifndef ACME_SIGNER_COMMON_SSL_UNIQUE_PTR_H_
#define ACME_SIGNER_COMMON_SSL_UNIQUE_PTR_H_

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/param_build.h>
#include <openssl/pkcs12.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace acme_signer {

template <typename T>
struct SslDeleter;

#define ACME_SIGNER_SSL_DELETER(type, free_fn) \
  template <>                                  \
  struct SslDeleter<type> {                    \
    void operator()(type* p) const { free_fn(p); } \
  }

ACME_SIGNER_SSL_DELETER(EVP_PKEY, EVP_PKEY_free);
ACME_SIGNER_SSL_DELETER(EVP_PKEY_CTX, EVP_PKEY_CTX_free);
ACME_SIGNER_SSL_DELETER(EVP_MD_CTX, EVP_MD_CTX_free);
ACME_SIGNER_SSL_DELETER(EVP_MAC, EVP_MAC_free);
ACME_SIGNER_SSL_DELETER(EVP_MAC_CTX, EVP_MAC_CTX_free);
ACME_SIGNER_SSL_DELETER(EVP_CIPHER_CTX, EVP_CIPHER_CTX_free);
ACME_SIGNER_SSL_DELETER(BIO, BIO_free_all);
ACME_SIGNER_SSL_DELETER(BIGNUM, BN_free);
ACME_SIGNER_SSL_DELETER(ECDSA_SIG, ECDSA_SIG_free);
ACME_SIGNER_SSL_DELETER(EC_GROUP, EC_GROUP_free);
ACME_SIGNER_SSL_DELETER(EC_POINT, EC_POINT_free);
ACME_SIGNER_SSL_DELETER(X509, X509_free);
ACME_SIGNER_SSL_DELETER(X509_REQ, X509_REQ_free);
ACME_SIGNER_SSL_DELETER(X509_CRL, X509_CRL_free);
ACME_SIGNER_SSL_DELETER(X509_NAME, X509_NAME_free);
ACME_SIGNER_SSL_DELETER(X509_EXTENSION, X509_EXTENSION_free);
ACME_SIGNER_SSL_DELETER(X509_STORE, X509_STORE_free);
ACME_SIGNER_SSL_DELETER(X509_STORE_CTX, X509_STORE_CTX_free);
ACME_SIGNER_SSL_DELETER(X509_ALGOR, X509_ALGOR_free);
// ASN1_INTEGER, ASN1_TIME, ASN1_OCTET_STRING (and every ASN1_STRING type) are the same C type,
// struct asn1_string_st, so one specialisation serves them all.
ACME_SIGNER_SSL_DELETER(ASN1_STRING, ASN1_STRING_free);
ACME_SIGNER_SSL_DELETER(ASN1_OBJECT, ASN1_OBJECT_free);
ACME_SIGNER_SSL_DELETER(GENERAL_NAME, GENERAL_NAME_free);
ACME_SIGNER_SSL_DELETER(GENERAL_NAMES, GENERAL_NAMES_free);
ACME_SIGNER_SSL_DELETER(PKCS12, PKCS12_free);
ACME_SIGNER_SSL_DELETER(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free);
ACME_SIGNER_SSL_DELETER(OSSL_PARAM, OSSL_PARAM_free);
ACME_SIGNER_SSL_DELETER(SSL_CTX, SSL_CTX_free);
ACME_SIGNER_SSL_DELETER(SSL, SSL_free);

#undef ACME_SIGNER_SSL_DELETER

// Stacks of certificates own their elements.
struct X509StackDeleter {
  void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }
};
using X509Stack = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;

// Stacks of extensions own their elements (X509_REQ_get_extensions hands one to the caller).
struct X509ExtensionStackDeleter {
  void operator()(STACK_OF(X509_EXTENSION) * p) const {
    sk_X509_EXTENSION_pop_free(p, X509_EXTENSION_free);
  }
};
using X509ExtensionStack = std::unique_ptr<STACK_OF(X509_EXTENSION), X509ExtensionStackDeleter>;

// Memory returned by OPENSSL_malloc: i2d_* with a null buffer, ASN1_STRING_to_UTF8 (bytes);
// BN_bn2hex, i2s_ASN1_INTEGER, X509_NAME_oneline with a null buffer (C strings).
struct OpenSslFreeDeleter {
  void operator()(void* p) const { OPENSSL_free(p); }
};
using OpenSslBytes = std::unique_ptr<unsigned char, OpenSslFreeDeleter>;
using OpenSslString = std::unique_ptr<char, OpenSslFreeDeleter>;

// Any ASN.1 value decoded with ASN1_item_d2i: the item says how to free it.
struct Asn1ItemDeleter {
  const ASN1_ITEM* item;
  void operator()(void* value) const { ASN1_item_free(static_cast<ASN1_VALUE*>(value), item); }
};
template <typename T>
using Asn1ItemPtr = std::unique_ptr<T, Asn1ItemDeleter>;

template <typename T>
using SslUniquePtr = std::unique_ptr<T, SslDeleter<T>>;

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_SSL_UNIQUE_PTR_H_
