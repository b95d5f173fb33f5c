#include "common/base64url.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace acme_signer {
namespace {

bool IsBase64UrlChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

// The 6-bit value of a base64url character (the caller checked the alphabet).
uint8_t SextetOf(char c) {
  if (c >= 'A' && c <= 'Z') return static_cast<uint8_t>(c - 'A');
  if (c >= 'a' && c <= 'z') return static_cast<uint8_t>(c - 'a' + 26);
  if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0' + 52);
  return c == '-' ? 62 : 63;
}

}  // namespace

std::string Base64Url(absl::string_view data) { return absl::WebSafeBase64Escape(data); }

absl::StatusOr<std::string> DecodeBase64Url(absl::string_view text, absl::string_view what) {
  for (char c : text) {
    if (!IsBase64UrlChar(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " is not unpadded base64url (character '", absl::CHexEscape({&c, 1}), "')"));
    }
  }
  // A final group of 1 character cannot hold a byte; of 2 (3) characters it holds 1 (2) bytes
  // and 4 (2) bits that must be zero. Checked before decoding so that nothing decoded from a
  // refused text (it may be a secret) is left behind in a buffer.
  const size_t tail = text.size() % 4;
  if (tail == 1 || (tail == 2 && (SextetOf(text.back()) & 0x0f) != 0) ||
      (tail == 3 && (SextetOf(text.back()) & 0x03) != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not canonical base64url"));
  }
  std::string decoded;
  if (!absl::WebSafeBase64Unescape(text, &decoded)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not canonical base64url"));
  }
  return decoded;
}

bool IsBase64Url(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!IsBase64UrlChar(c)) return false;
  }
  return true;
}

}  // namespace acme_signer
