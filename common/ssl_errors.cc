#include "common/ssl_errors.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace acme_signer {

std::string SslErrors() {
  std::string out;
  unsigned long code;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error reported" : out;
}

absl::Status SslError(absl::StatusCode code, absl::string_view context) {
  return absl::Status(code, absl::StrCat(context, ": ", SslErrors()));
}

}  // namespace acme_signer
