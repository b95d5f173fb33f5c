// Pkcs11Uri: an RFC 7512 "pkcs11:" URI parsed and matched with p11-kit's URI API.
//
// Only what acme-signer uses is exposed: token/slot/module matching, the object attributes
// (object= -> CKA_LABEL, id= -> CKA_ID, type= -> CKA_CLASS) and pin-source. A pin-value in the
// URI is refused (a PIN belongs in a 0600 file, not in config or argv), and every message
// quotes the URI with any pin-value removed.
//
// Thread-safety: const methods are thread-safe; the object is movable, not copyable.
#ifndef ACME_SIGNER_HSM_PKCS11_URI_H_
#define ACME_SIGNER_HSM_PKCS11_URI_H_

#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hsm/p11_kit_handles.h"  // P11KitUriPtr

namespace acme_signer::hsm {

class Pkcs11Uri {
 public:
  // InvalidArgument for anything p11-kit cannot parse, an unknown attribute (typo such as
  // "objekt="), or a pin-value.
  static absl::StatusOr<Pkcs11Uri> Parse(absl::string_view uri);

  // The URI for messages (pin-value never included).
  const std::string& display() const { return display_; }

  // True when the token, slot and module attributes of the URI (if any) match.
  bool MatchesToken(const CK_INFO& module_info, const CK_SLOT_INFO& slot_info,
                    const CK_TOKEN_INFO& token_info) const;
  // True when the URI names a token (token=, serial=, model=, manufacturer=) or slot.
  bool HasTokenAttributes() const;

  std::optional<std::string> label() const;             // object=
  std::optional<std::string> id() const;                // id= (raw bytes)
  std::optional<CK_OBJECT_CLASS> object_class() const;  // type=
  bool HasObjectAttributes() const;

  // The pin-source value as given ("file:/etc/x.pin" or "/etc/x.pin"), if any.
  std::optional<std::string> pin_source() const;

  // The file path a pin-source names: "file:/p", "file:///p" and "/p" give "/p". InvalidArgument
  // for other schemes (acme-signer only reads PINs from files).
  static absl::StatusOr<std::string> PinSourcePath(absl::string_view pin_source);

  // Removes "pin-value=..." from a URI string so it can be quoted in a message.
  static std::string Redact(absl::string_view uri);

 private:
  Pkcs11Uri(P11KitUriPtr uri, std::string display)
      : uri_(std::move(uri)), display_(std::move(display)) {}
  std::optional<std::string> AttributeBytes(CK_ATTRIBUTE_TYPE type) const;

  P11KitUriPtr uri_;
  std::string display_;
};

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_PKCS11_URI_H_
