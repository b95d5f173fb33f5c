#include "signer/csr_checks.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/crypto.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/x509.h"

namespace acme_signer::signer {
namespace {

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("invalid CSR: ", what));
}

absl::Status Refused(const AgentPolicy& policy, absl::string_view why) {
  return absl::PermissionDeniedError(
      absl::StrCat("CSR from agent ", EscapeForError(policy.name), " refused: ", why));
}

std::string ObjectName(const ASN1_OBJECT* object) {
  char buffer[128];
  int length = OBJ_obj2txt(buffer, sizeof(buffer), object, /*no_name=*/0);
  if (length <= 0) return "(unreadable OID)";
  return EscapeForError(absl::string_view(buffer, std::min<size_t>(length, sizeof(buffer) - 1)));
}

absl::StatusOr<std::string> Asn1StringToUtf8(const ASN1_STRING* value, absl::string_view what) {
  unsigned char* raw = nullptr;
  int length = ASN1_STRING_to_UTF8(&raw, value);
  if (length < 0)
    return SslError(absl::StatusCode::kInvalidArgument, absl::StrCat("invalid CSR: ", what));
  OpenSslBytes owned(raw);
  return std::string(reinterpret_cast<const char*>(raw), static_cast<size_t>(length));
}

// Decodes an extension value with `item`, refusing trailing bytes inside the OCTET STRING so
// that we and the CA cannot disagree about what the extension says.
template <typename T>
absl::StatusOr<Asn1ItemPtr<T>> DecodeExtension(const X509_EXTENSION* extension,
                                               const ASN1_ITEM* item, absl::string_view name) {
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(const_cast<X509_EXTENSION*>(extension));
  const unsigned char* begin = ASN1_STRING_get0_data(data);
  const long length = ASN1_STRING_length(data);
  const unsigned char* cursor = begin;
  Asn1ItemPtr<T> value(reinterpret_cast<T*>(ASN1_item_d2i(nullptr, &cursor, length, item)),
                       Asn1ItemDeleter{item});
  if (value == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    absl::StrCat("invalid CSR: unreadable ", name, " extension"));
  }
  if (cursor != begin + length) {
    return Malformed(absl::StrCat("trailing bytes in the ", name, " extension"));
  }
  return value;
}

absl::StatusOr<SslUniquePtr<X509_REQ>> ParseDer(absl::string_view csr_der) {
  if (csr_der.empty()) return Malformed("empty");
  if (csr_der.size() > kMaxCsrDerSize) {
    return Malformed(
        absl::StrCat(csr_der.size(), " bytes, more than the limit of ", kMaxCsrDerSize));
  }
  absl::StatusOr<SslUniquePtr<X509_REQ>> parsed = ParseCsrDer(csr_der);
  if (!parsed.ok()) return Malformed(parsed.status().message());
  SslUniquePtr<X509_REQ> request = *std::move(parsed);
  // A BER (non-DER) encoding that OpenSSL tolerates could be read differently by the CA.
  absl::StatusOr<std::string> reencoded = CsrToDer(*request);
  if (!reencoded.ok() || *reencoded != csr_der) {
    return Malformed("not in canonical DER encoding");
  }
  if (X509_REQ_get_version(request.get()) != X509_REQ_VERSION_1) {
    return Malformed("unsupported PKCS#10 version (only v1 is defined)");
  }
  return request;
}

absl::Status CheckSignature(X509_REQ* request, EVP_PKEY* key, const AgentPolicy& policy) {
  const int signature_nid = X509_REQ_get_signature_nid(request);
  int digest_nid = NID_undef;
  int key_nid = NID_undef;
  if (!OBJ_find_sigid_algs(signature_nid, &digest_nid, &key_nid) ||
      (digest_nid != NID_sha256 && digest_nid != NID_sha384 && digest_nid != NID_sha512) ||
      (key_nid != NID_rsaEncryption && key_nid != NID_X9_62_id_ecPublicKey)) {
    return Refused(policy, absl::StrCat("signature algorithm ", OBJ_nid2sn(signature_nid),
                                        " is not allowed (use ECDSA or RSA PKCS#1 v1.5 with "
                                        "SHA-256, SHA-384 or SHA-512)"));
  }
  if (X509_REQ_verify(request, key) != 1) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "invalid CSR: signature does not verify with the CSR's public key");
  }
  return absl::OkStatus();
}

// Returns the AgentPolicy key type name of `key`, or refuses it.
absl::StatusOr<std::string> CheckKey(EVP_PKEY* key, const AgentPolicy& policy) {
  std::string key_type;
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
      char group[64] = {};
      size_t group_length = 0;
      if (EVP_PKEY_get_group_name(key, group, sizeof(group), &group_length) != 1) {
        return Refused(policy, "EC key on an unnamed or explicit curve");
      }
      const absl::string_view group_name(group, group_length);
      if (group_name == SN_X9_62_prime256v1) {
        key_type = "ec-p256";
      } else if (group_name == SN_secp384r1) {
        key_type = "ec-p384";
      } else {
        return Refused(policy, absl::StrCat("EC curve ", EscapeForError(group_name),
                                            " is not supported (P-256 or P-384 only)"));
      }
      break;
    }
    case EVP_PKEY_RSA: {
      const int bits = EVP_PKEY_get_bits(key);
      if (bits != 2048 && bits != 3072 && bits != 4096) {
        return Refused(policy, absl::StrCat("RSA key of ", bits,
                                            " bits is not supported (2048, 3072 or 4096 only)"));
      }
      BIGNUM* raw_exponent = nullptr;
      if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &raw_exponent) != 1) {
        return SslError(absl::StatusCode::kInvalidArgument,
                        "invalid CSR: unreadable RSA public exponent");
      }
      SslUniquePtr<BIGNUM> exponent(raw_exponent);
      if (!BN_is_word(exponent.get(), RSA_F4)) {
        return Refused(policy, "RSA public exponent is not 65537");
      }
      key_type = absl::StrCat("rsa-", bits);
      break;
    }
    default:
      return Refused(policy, absl::StrCat("key algorithm ",
                                          EscapeForError(EVP_PKEY_get0_type_name(key)
                                                             ? EVP_PKEY_get0_type_name(key)
                                                             : "unknown"),
                                          " is not supported (EC P-256/P-384 or RSA only)"));
  }
  // EC: the point must be on the curve (cheap). RSA is not run through OpenSSL's public check:
  // it tests n for primality (about 8 ms for 2048 bits) and weak-modulus screening is the CA's
  // job; size and exponent were checked above.
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
    SslUniquePtr<EVP_PKEY_CTX> context(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (context == nullptr || EVP_PKEY_public_check_quick(context.get()) != 1) {
      return SslError(absl::StatusCode::kInvalidArgument,
                      "invalid CSR: EC public key is not valid");
    }
  }
  if (std::find(policy.key_types.begin(), policy.key_types.end(), key_type) ==
      policy.key_types.end()) {
    return Refused(policy, absl::StrCat("key type ", key_type,
                                        " is not allowed for this agent "
                                        "(allowed: ",
                                        absl::StrJoin(policy.key_types, ", "), ")"));
  }
  return key_type;
}

absl::Status CheckNotAccountKey(EVP_PKEY* key, absl::string_view account_public_key_der,
                                const AgentPolicy& policy) {
  if (account_public_key_der.empty()) {
    return absl::InvalidArgumentError("account public key not provided for the CSR check");
  }
  ASSIGN_OR_RETURN(SslUniquePtr<EVP_PKEY> account,
                   ParsePublicKeyDer(account_public_key_der, "account public key"));
  if (EVP_PKEY_eq(key, account.get()) == 1) {
    return Refused(policy, "its key is the ACME account key; use a separate certificate key");
  }
  return absl::OkStatus();
}

// Returns the commonName if the subject has one; refuses any other subject attribute.
absl::StatusOr<std::optional<std::string>> CheckSubject(X509_REQ* request,
                                                        const AgentPolicy& policy) {
  const X509_NAME* subject = X509_REQ_get_subject_name(request);
  std::optional<std::string> common_name;
  for (int i = 0; i < X509_NAME_entry_count(subject); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(subject, i);
    const ASN1_OBJECT* object = X509_NAME_ENTRY_get_object(entry);
    if (OBJ_obj2nid(object) != NID_commonName) {
      return Refused(policy, absl::StrCat("subject attribute ", ObjectName(object),
                                          " is not allowed (only commonName)"));
    }
    if (common_name.has_value()) return Refused(policy, "subject has more than one commonName");
    ASSIGN_OR_RETURN(common_name,
                     Asn1StringToUtf8(X509_NAME_ENTRY_get_data(entry), "unreadable commonName"));
  }
  return common_name;
}

// The extensionRequest attribute is the only one a CA acts on; others (challengePassword, ...)
// have no meaning to ACME and are refused rather than ignored.
absl::Status CheckAttributes(X509_REQ* request, const AgentPolicy& policy) {
  int extension_requests = 0;
  for (int i = 0; i < X509_REQ_get_attr_count(request); ++i) {
    const ASN1_OBJECT* object = X509_ATTRIBUTE_get0_object(X509_REQ_get_attr(request, i));
    if (OBJ_obj2nid(object) != NID_ext_req) {
      return Refused(policy, absl::StrCat("attribute ", ObjectName(object),
                                          " is not allowed (only extensionRequest)"));
    }
    if (++extension_requests > 1) return Refused(policy, "more than one extensionRequest");
    if (X509_ATTRIBUTE_count(X509_REQ_get_attr(request, i)) != 1) {
      return Refused(policy, "extensionRequest attribute does not hold exactly one value");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> SanDnsNames(const X509_EXTENSION* extension,
                                                     const AgentPolicy& policy) {
  ASSIGN_OR_RETURN(auto names, DecodeExtension<GENERAL_NAMES>(
                                   extension, ASN1_ITEM_rptr(GENERAL_NAMES), "subjectAltName"));
  std::vector<std::string> out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    const char* type = nullptr;
    switch (name->type) {
      case GEN_DNS: {
        const ASN1_IA5STRING* dns = name->d.dNSName;
        out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                         static_cast<size_t>(ASN1_STRING_length(dns)));
        continue;
      }
      case GEN_OTHERNAME:
        type = "otherName";
        break;
      case GEN_EMAIL:
        type = "email address";
        break;
      case GEN_X400:
        type = "x400Address";
        break;
      case GEN_DIRNAME:
        type = "directoryName";
        break;
      case GEN_EDIPARTY:
        type = "ediPartyName";
        break;
      case GEN_URI:
        type = "URI";
        break;
      case GEN_IPADD:
        type = "IP address";
        break;
      case GEN_RID:
        type = "registeredID";
        break;
      default:
        type = "unknown";
        break;
    }
    return Refused(policy, absl::StrCat("subjectAltName contains an ", type,
                                        " entry; only DNS names are allowed"));
  }
  if (out.empty()) return Refused(policy, "subjectAltName contains no DNS names");
  return out;
}

absl::Status CheckKeyUsage(const X509_EXTENSION* extension, const AgentPolicy& policy) {
  ASSIGN_OR_RETURN(auto usage, DecodeExtension<ASN1_BIT_STRING>(
                                   extension, ASN1_ITEM_rptr(ASN1_BIT_STRING), "keyUsage"));
  static constexpr const char* kBitNames[] = {
      "digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement",
      "keyCertSign",      "cRLSign",        "encipherOnly",    "decipherOnly"};
  const int bits = ASN1_STRING_length(usage.get()) * 8;
  for (int bit = 0; bit < bits; ++bit) {
    if (!ASN1_BIT_STRING_get_bit(usage.get(), bit)) continue;
    if (bit == 0 || bit == 2 || bit == 4) continue;
    const std::string bit_name = bit < 9 ? kBitNames[bit] : absl::StrCat("bit ", bit);
    return Refused(policy, absl::StrCat("keyUsage ", bit_name,
                                        " is not allowed (digitalSignature, keyEncipherment, "
                                        "keyAgreement only)"));
  }
  return absl::OkStatus();
}

absl::Status CheckExtendedKeyUsage(const X509_EXTENSION* extension, const AgentPolicy& policy) {
  ASSIGN_OR_RETURN(auto usages,
                   DecodeExtension<EXTENDED_KEY_USAGE>(
                       extension, ASN1_ITEM_rptr(EXTENDED_KEY_USAGE), "extendedKeyUsage"));
  for (int i = 0; i < sk_ASN1_OBJECT_num(usages.get()); ++i) {
    const ASN1_OBJECT* usage = sk_ASN1_OBJECT_value(usages.get(), i);
    const int nid = OBJ_obj2nid(usage);
    if (nid != NID_server_auth && nid != NID_client_auth) {
      return Refused(policy, absl::StrCat("extendedKeyUsage ", ObjectName(usage),
                                          " is not allowed (serverAuth, clientAuth only)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckBasicConstraints(const X509_EXTENSION* extension, const AgentPolicy& policy) {
  ASSIGN_OR_RETURN(auto constraints,
                   DecodeExtension<BASIC_CONSTRAINTS>(extension, ASN1_ITEM_rptr(BASIC_CONSTRAINTS),
                                                      "basicConstraints"));
  if (constraints->ca) return Refused(policy, "basicConstraints CA:TRUE requested");
  if (constraints->pathlen != nullptr) return Refused(policy, "basicConstraints pathLen requested");
  return absl::OkStatus();
}

// Decodes the extensionRequest attribute (CheckAttributes ran first, so there is at most one,
// with one value). Unlike X509_REQ_get_extensions, refuses trailing bytes. Null: none requested.
absl::StatusOr<X509ExtensionStack> RequestedExtensions(X509_REQ* request) {
  X509ExtensionStack extensions;
  const int index = X509_REQ_get_attr_by_NID(request, NID_ext_req, -1);
  if (index < 0) return extensions;
  const ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(X509_REQ_get_attr(request, index), 0);
  if (value == nullptr || value->type != V_ASN1_SEQUENCE) {
    return Malformed("extensionRequest attribute is not a SEQUENCE of extensions");
  }
  const unsigned char* begin = ASN1_STRING_get0_data(value->value.sequence);
  const long length = ASN1_STRING_length(value->value.sequence);
  const unsigned char* cursor = begin;
  extensions.reset(reinterpret_cast<STACK_OF(X509_EXTENSION)*>(
      ASN1_item_d2i(nullptr, &cursor, length, ASN1_ITEM_rptr(X509_EXTENSIONS))));
  if (extensions == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "invalid CSR: unreadable extensionRequest attribute");
  }
  if (cursor != begin + length) return Malformed("trailing bytes in the extensionRequest");
  return extensions;
}

// Walks the requested extensions; returns the subjectAltName dNSNames.
absl::StatusOr<std::vector<std::string>> CheckExtensions(X509_REQ* request,
                                                         const AgentPolicy& policy) {
  ASSIGN_OR_RETURN(auto extensions, RequestedExtensions(request));
  std::optional<std::vector<std::string>> names;
  absl::flat_hash_set<int> seen;
  for (int i = 0; extensions != nullptr && i < sk_X509_EXTENSION_num(extensions.get()); ++i) {
    const X509_EXTENSION* extension = sk_X509_EXTENSION_value(extensions.get(), i);
    const ASN1_OBJECT* object = X509_EXTENSION_get_object(const_cast<X509_EXTENSION*>(extension));
    const int nid = OBJ_obj2nid(object);
    if (nid != NID_undef && !seen.insert(nid).second) {
      return Refused(policy, absl::StrCat("extension ", ObjectName(object), " appears twice"));
    }
    switch (nid) {
      case NID_subject_alt_name: {
        ASSIGN_OR_RETURN(names, SanDnsNames(extension, policy));
        break;
      }
      case NID_key_usage:
        RETURN_IF_ERROR(CheckKeyUsage(extension, policy));
        break;
      case NID_ext_key_usage:
        RETURN_IF_ERROR(CheckExtendedKeyUsage(extension, policy));
        break;
      case NID_basic_constraints:
        RETURN_IF_ERROR(CheckBasicConstraints(extension, policy));
        break;
      default:
        return Refused(policy, absl::StrCat("requested extension ", ObjectName(object),
                                            " is not allowed (subjectAltName, keyUsage, "
                                            "extendedKeyUsage, basicConstraints CA:FALSE only)"));
    }
  }
  if (!names.has_value()) {
    return Refused(policy, "no subjectAltName extension; list every name there");
  }
  return *std::move(names);
}

// The CSR's names must be exactly the order's: the CA issues for the CSR's names, and the
// order is what name policy approved.
absl::Status CheckNamesMatchOrder(const std::vector<std::string>& csr_names,
                                  const std::optional<std::string>& common_name,
                                  const std::vector<Identifier>& order_identifiers,
                                  const AgentPolicy& policy) {
  std::set<std::string> csr_set;
  for (const std::string& name : csr_names) {
    if (!csr_set.insert(name).second) {
      return Refused(policy, absl::StrCat("subjectAltName lists ", EscapeForError(name), " twice"));
    }
  }
  if (common_name.has_value() && !csr_set.contains(*common_name)) {
    return Refused(policy, absl::StrCat("commonName ", EscapeForError(*common_name),
                                        " is not one of the subjectAltName DNS names"));
  }
  std::set<std::string> order_set;
  for (const Identifier& identifier : order_identifiers) {
    if (identifier.type != "dns") {
      return Refused(policy, absl::StrCat("the order has a \"", EscapeForError(identifier.type),
                                          "\" identifier; only dns is supported"));
    }
    order_set.insert(identifier.value);
  }
  for (const std::string& name : csr_set) {
    if (!order_set.contains(name)) {
      return Refused(policy, absl::StrCat("CSR names ", EscapeForError(name),
                                          ", which is not an identifier of the order"));
    }
  }
  for (const std::string& name : order_set) {
    if (!csr_set.contains(name)) {
      return Refused(policy, absl::StrCat("CSR lacks the order identifier ", EscapeForError(name)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CsrSummary> CheckCsr(absl::string_view csr_der,
                                    const std::vector<Identifier>& order_identifiers,
                                    const AgentPolicy& policy,
                                    absl::string_view account_public_key_der) {
  ASSIGN_OR_RETURN(SslUniquePtr<X509_REQ> request, ParseDer(csr_der));
  EVP_PKEY* key = X509_REQ_get0_pubkey(request.get());
  if (key == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument, "invalid CSR: unreadable public key");
  }
  // Before the signature: a CSR carrying the account key cannot have a valid signature (that
  // key never leaves the HSM), and "signature does not verify" would hide what was attempted.
  RETURN_IF_ERROR(CheckNotAccountKey(key, account_public_key_der, policy));
  RETURN_IF_ERROR(CheckSignature(request.get(), key, policy));

  CsrSummary summary;
  ASSIGN_OR_RETURN(summary.key_type, CheckKey(key, policy));
  ASSIGN_OR_RETURN(std::optional<std::string> common_name, CheckSubject(request.get(), policy));
  RETURN_IF_ERROR(CheckAttributes(request.get(), policy));
  ASSIGN_OR_RETURN(summary.names, CheckExtensions(request.get(), policy));
  std::vector<Identifier> identifiers;
  for (const std::string& name : summary.names) identifiers.push_back({"dns", name});
  RETURN_IF_ERROR(CheckIdentifiers(policy, identifiers));
  RETURN_IF_ERROR(CheckNamesMatchOrder(summary.names, common_name, order_identifiers, policy));

  std::sort(summary.names.begin(), summary.names.end());
  summary.csr_sha256_hex = Sha256Hex(csr_der);
  absl::StatusOr<std::string> spki = PublicKeyToDer(key);
  if (!spki.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid CSR: cannot encode public key: ", spki.status().message()));
  }
  summary.spki_sha256_hex = Sha256Hex(*spki);
  return summary;
}

}  // namespace acme_signer::signer
