#include "hsm/pkcs11_uri.h"

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace acme_signer::hsm {

std::string Pkcs11Uri::Redact(absl::string_view uri) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t hit = uri.find("pin-value=", pos);
    if (hit == absl::string_view::npos) {
      absl::StrAppend(&out, uri.substr(pos));
      return out;
    }
    absl::StrAppend(&out, uri.substr(pos, hit - pos), "pin-value=REDACTED");
    size_t end = uri.find_first_of(";?&", hit);
    if (end == absl::string_view::npos) return out;
    pos = end;
  }
}

absl::StatusOr<Pkcs11Uri> Pkcs11Uri::Parse(absl::string_view uri) {
  std::string display = Redact(uri);
  P11KitUriPtr parsed(p11_kit_uri_new());
  if (parsed == nullptr) return absl::ResourceExhaustedError("p11_kit_uri_new failed");
  const std::string text(uri);
  int rc = p11_kit_uri_parse(text.c_str(), P11_KIT_URI_FOR_ANY, parsed.get());
  if (rc != P11_KIT_URI_OK) {
    return absl::InvalidArgumentError(absl::StrCat("malformed PKCS#11 URI '", display,
                                                   "': ", p11_kit_uri_message(rc),
                                                   " (expected e.g. pkcs11:token=acme-signer;"
                                                   "object=account-key)"));
  }
  if (p11_kit_uri_any_unrecognized(parsed.get())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PKCS#11 URI '", display,
        "' has an attribute acme-signer does not understand (known: token, manufacturer, "
        "serial, model, slot-id, slot-description, object, id, type, pin-source, "
        "module-name, module-path)"));
  }
  if (p11_kit_uri_get_pin_value(parsed.get()) != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("PKCS#11 URI '", display,
                     "' carries a pin-value; put the PIN in a 0600 file and use "
                     "pin-source=file:/path or the pin file setting instead"));
  }
  return Pkcs11Uri(std::move(parsed), std::move(display));
}

bool Pkcs11Uri::MatchesToken(const CK_INFO& module_info, const CK_SLOT_INFO& slot_info,
                             const CK_TOKEN_INFO& token_info) const {
  // p11-kit's match functions take non-const pointers but do not modify the structs.
  return p11_kit_uri_match_module_info(uri_.get(), const_cast<CK_INFO*>(&module_info)) == 1 &&
         p11_kit_uri_match_slot_info(uri_.get(), const_cast<CK_SLOT_INFO*>(&slot_info)) == 1 &&
         p11_kit_uri_match_token_info(uri_.get(), const_cast<CK_TOKEN_INFO*>(&token_info)) == 1;
}

bool Pkcs11Uri::HasTokenAttributes() const {
  // p11-kit keeps unset token fields as all-zero (label, serial, model, manufacturer).
  P11KitUri* uri = uri_.get();
  const CK_TOKEN_INFO* info = p11_kit_uri_get_token_info(uri);
  static const CK_TOKEN_INFO kEmpty = {};
  bool has_token =
      std::memcmp(info->label, kEmpty.label, sizeof(info->label)) != 0 ||
      std::memcmp(info->serialNumber, kEmpty.serialNumber, sizeof(info->serialNumber)) != 0 ||
      std::memcmp(info->model, kEmpty.model, sizeof(info->model)) != 0 ||
      std::memcmp(info->manufacturerID, kEmpty.manufacturerID, sizeof(info->manufacturerID)) != 0;
  return has_token || p11_kit_uri_get_slot_id(uri) != static_cast<CK_SLOT_ID>(-1);
}

std::optional<std::string> Pkcs11Uri::AttributeBytes(CK_ATTRIBUTE_TYPE type) const {
  CK_ATTRIBUTE* attr = p11_kit_uri_get_attribute(uri_.get(), type);
  if (attr == nullptr) return std::nullopt;
  return std::string(static_cast<const char*>(attr->pValue), attr->ulValueLen);
}

std::optional<std::string> Pkcs11Uri::label() const { return AttributeBytes(CKA_LABEL); }
std::optional<std::string> Pkcs11Uri::id() const { return AttributeBytes(CKA_ID); }

std::optional<CK_OBJECT_CLASS> Pkcs11Uri::object_class() const {
  CK_ATTRIBUTE* attr = p11_kit_uri_get_attribute(uri_.get(), CKA_CLASS);
  if (attr == nullptr || attr->ulValueLen != sizeof(CK_OBJECT_CLASS)) return std::nullopt;
  CK_OBJECT_CLASS value;
  std::memcpy(&value, attr->pValue, sizeof(value));
  return value;
}

bool Pkcs11Uri::HasObjectAttributes() const {
  CK_ULONG count = 0;
  p11_kit_uri_get_attributes(uri_.get(), &count);
  return count > 0;
}

std::optional<std::string> Pkcs11Uri::pin_source() const {
  const char* source = p11_kit_uri_get_pin_source(uri_.get());
  if (source == nullptr) return std::nullopt;
  return std::string(source);
}

absl::StatusOr<std::string> Pkcs11Uri::PinSourcePath(absl::string_view pin_source) {
  absl::string_view path = pin_source;
  if (absl::ConsumePrefix(&path, "file://")) {
    // file:///etc/x.pin has an empty authority; anything else names a host.
    if (!absl::StartsWith(path, "/")) {
      return absl::InvalidArgumentError(
          absl::StrCat("pin-source '", pin_source, "' names a host; use file:/absolute/path"));
    }
  } else if (absl::ConsumePrefix(&path, "file:")) {
  } else if (absl::StrContains(path.substr(0, path.find('/')), ":")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pin-source '", pin_source, "' is not a file; only file:/path or /path are supported"));
  }
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("pin-source '", pin_source, "' is empty"));
  }
  return std::string(path);
}

}  // namespace acme_signer::hsm
