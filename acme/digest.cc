#include "acme/digest.h"

#include <openssl/evp.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/ssl_errors.h"

namespace acme_signer::acme {

absl::StatusOr<std::string> Sha256(absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &out_len, EVP_sha256(), nullptr) != 1) {
    return SslError(absl::StatusCode::kInternal, "SHA-256 failed");
  }
  return std::string(reinterpret_cast<const char*>(out), out_len);
}

std::string Base64Url(absl::string_view data) { return absl::WebSafeBase64Escape(data); }

absl::StatusOr<std::string> DecodeBase64Url(absl::string_view text, absl::string_view what) {
  std::string out;
  if (text.find('=') != absl::string_view::npos || !absl::WebSafeBase64Unescape(text, &out)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not base64url without padding"));
  }
  return out;
}

bool IsBase64UrlText(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

}  // namespace acme_signer::acme
