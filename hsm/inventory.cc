#include "hsm/inventory.h"

#include <p11-kit/uri.h>

#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "hsm/ck_status.h"
#include "hsm/objects.h"
#include "hsm/p11_kit_handles.h"
#include "hsm/pkcs11_uri.h"

namespace acme_signer::hsm {
namespace {

// Formats the URI with p11-kit so percent-encoding follows RFC 7512.
absl::StatusOr<std::string> Format(P11KitUri* uri, P11KitUriType type) {
  char* text = nullptr;
  const int rc = p11_kit_uri_format(uri, type, &text);
  const P11KitString owned(text);
  if (rc != P11_KIT_URI_OK) {
    return absl::InternalError(absl::StrCat("formatting a PKCS#11 URI: ", p11_kit_uri_message(rc)));
  }
  return std::string(owned.get());
}

std::string Label(const CK_TOKEN_INFO& info) {
  std::string label(reinterpret_cast<const char*>(info.label), sizeof(info.label));
  label.erase(label.find_last_not_of(' ') + 1);
  return label;
}

std::string ClassName(CK_OBJECT_CLASS object_class) {
  switch (object_class) {
    case CKO_PRIVATE_KEY:
      return "private-key";
    case CKO_PUBLIC_KEY:
      return "public-key";
    case CKO_SECRET_KEY:
      return "secret-key";
    case CKO_CERTIFICATE:
      return "cert";
    case CKO_DATA:
      return "data";
    default:
      return absl::StrCat("class-0x", absl::Hex(object_class));
  }
}

std::string KeyTypeName(CK_KEY_TYPE type) {
  switch (type) {
    case CKK_EC:
      return "ec";
    case CKK_RSA:
      return "rsa";
    case CKK_GENERIC_SECRET:
      return "generic";
    case CKK_SHA256_HMAC:
      return "sha256-hmac";
    case CKK_AES:
      return "aes";
    default:
      return absl::StrCat("type-0x", absl::Hex(type));
  }
}

}  // namespace

absl::StatusOr<std::vector<TokenEntry>> ListTokens(const Module& module) {
  ASSIGN_OR_RETURN(std::vector<CK_SLOT_ID> slots, module.SlotsWithToken());
  std::vector<TokenEntry> tokens;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info;
    if (module.functions()->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
    P11KitUriPtr uri(p11_kit_uri_new());
    std::memcpy(p11_kit_uri_get_token_info(uri.get()), &info, sizeof(info));
    ASSIGN_OR_RETURN(std::string text, Format(uri.get(), P11_KIT_URI_FOR_TOKEN));
    tokens.push_back({text, Label(info), (info.flags & CKF_LOGIN_REQUIRED) != 0});
  }
  return tokens;
}

absl::StatusOr<std::vector<ObjectEntry>> ListObjects(Token& token) {
  CK_TOKEN_INFO token_info;
  RETURN_IF_ERROR(CkStatus(token.module()->functions()->C_GetTokenInfo(token.slot(), &token_info),
                           "C_GetTokenInfo"));
  std::vector<ObjectEntry> entries;
  CK_FUNCTION_LIST* f = token.module()->functions();
  RETURN_IF_ERROR(token.WithSession([&](CK_SESSION_HANDLE session, uint64_t) -> absl::Status {
    entries.clear();
    ObjectQuery all;
    all.display = absl::StrCat("all objects on token ", token.label());
    ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> handles, FindObjects(f, session, all, 4096));
    for (CK_OBJECT_HANDLE handle : handles) {
      P11KitUriPtr uri(p11_kit_uri_new());
      std::memcpy(p11_kit_uri_get_token_info(uri.get()), &token_info, sizeof(token_info));
      ObjectEntry entry;
      ASSIGN_OR_RETURN(CK_ULONG object_class, GetUlongAttribute(f, session, handle, CKA_CLASS));
      entry.kind = ClassName(object_class);
      CK_ATTRIBUTE class_attr = {CKA_CLASS, &object_class, sizeof(object_class)};
      p11_kit_uri_set_attribute(uri.get(), &class_attr);
      for (CK_ATTRIBUTE_TYPE type : {CKA_LABEL, CKA_ID}) {
        absl::StatusOr<std::string> value = GetBytesAttribute(f, session, handle, type);
        if (value.ok() && !value->empty()) {
          CK_ATTRIBUTE attr = {type, value->data(), value->size()};
          p11_kit_uri_set_attribute(uri.get(), &attr);
        }
      }
      if (object_class == CKO_PRIVATE_KEY || object_class == CKO_PUBLIC_KEY ||
          object_class == CKO_SECRET_KEY) {
        absl::StatusOr<CK_ULONG> key_type = GetUlongAttribute(f, session, handle, CKA_KEY_TYPE);
        if (key_type.ok()) absl::StrAppend(&entry.kind, " ", KeyTypeName(*key_type));
      }
      if (object_class == CKO_PRIVATE_KEY || object_class == CKO_SECRET_KEY) {
        entry.sensitive = GetBoolAttribute(f, session, handle, CKA_SENSITIVE).value_or(false);
        entry.extractable = GetBoolAttribute(f, session, handle, CKA_EXTRACTABLE).value_or(true);
      }
      ASSIGN_OR_RETURN(entry.uri, Format(uri.get(), P11_KIT_URI_FOR_OBJECT_ON_TOKEN));
      entries.push_back(std::move(entry));
    }
    return absl::OkStatus();
  }));
  return entries;
}

}  // namespace acme_signer::hsm
