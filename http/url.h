// The one URL parser of the project: absolute URLs split into their parts by libcurl's URL API
// (CURLU), the parser curl itself uses when it sends a request, so what a caller checks is what
// curl connects to.
//
// Url keeps both what curl made of the URL (lower-cased scheme and host, port with its default,
// raw path) and how the URL spelled its authority, because curl quietly normalises some
// spellings (":0443" -> 443, "ca%2Etest" -> "ca.test", "0x7f.1" -> "127.0.0.1", an empty port,
// an empty fragment). Lenient callers use the parts; strict callers (the signer's JWS request
// classifier) compare the spelling with the parts and refuse anything curl would rewrite.
//
// Pure value type and pure functions: thread-safe, safe on arbitrary input.
#ifndef ACME_SIGNER_HTTP_URL_H_
#define ACME_SIGNER_HTTP_URL_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer::http {

class Url {
 public:
  // Parses `text` as an absolute URL "scheme://authority[/path][?query][#fragment]" of any
  // scheme. Refused (InvalidArgument, the message is only the reason, e.g. "no usable host",
  // so that the caller can say which URL it was and what it was for):
  //  - whitespace, control characters or NUL anywhere;
  //  - no "scheme://" ("ca.test/x", "/relative", "https:/ca.test", "https:ca.test");
  //  - an empty authority ("https:///x": curl would take "x" for the host), except file:///;
  //  - what curl refuses: no host ("https://:443/"), bad host name, bad IPv6 literal, a port
  //    that is not a decimal number in 0..65535 (the reason then starts with "bad port").
  // Dot segments in the path are kept as written (not resolved).
  static absl::StatusOr<Url> Parse(absl::string_view text);

  // Lower-case: "https", "http", ...
  const std::string& scheme() const { return scheme_; }
  // As curl reads it, ASCII lower-cased: "ca.test", "127.0.0.1", "[::1]" (IPv6 literals keep
  // their brackets and any zone id, "[fe80::1%25eth0]"). A trailing dot is kept ("ca.test."
  // is another host than "ca.test"); internationalised names stay as written (no IDNA).
  // Empty only for file:/// URLs.
  const std::string& host() const { return host_; }
  // The explicit port, else the scheme's default (443 for https, 80 for http); 0 when the
  // scheme has no default and the URL names none.
  int port() const { return port_; }
  // Starts with '/' ("/" when the URL has no path); not decoded, dot segments kept.
  const std::string& path() const { return path_; }
  // Without the '?'; "" for a bare '?', nullopt when there is no '?'.
  const std::optional<std::string>& query() const { return query_; }
  // True when the URL has a '#', even an empty fragment (curl drops those).
  bool has_fragment() const { return has_fragment_; }

  // The userinfo as written before '@' ("user" or "user:password"), nullopt without '@'.
  const std::optional<std::string>& userinfo() const { return userinfo_; }
  // The host exactly as written, before curl's normalisation ("CA%2Etest", "0x7f.1", "[0::1]").
  const std::string& host_as_written() const { return host_as_written_; }
  // The port exactly as written after ':' ("0443", or "" for "host:"), nullopt without ':'.
  const std::optional<std::string>& port_as_written() const { return port_as_written_; }

  bool is_https() const { return scheme_ == "https"; }
  bool is_http_or_https() const { return scheme_ == "https" || scheme_ == "http"; }

  // The origin (RFC 6454: scheme, host, port) serialised with the port always explicit:
  // "https://ca.test:443". Every spelling of one origin ("HTTPS://CA.test", "https://ca.test:443/")
  // gives the same string, so origins compare as strings, and messages name the port.
  std::string Origin() const;

 private:
  Url() = default;

  std::string scheme_;
  std::string host_;
  int port_ = 0;
  std::string path_;
  std::optional<std::string> query_;
  bool has_fragment_ = false;
  std::optional<std::string> userinfo_;
  std::string host_as_written_;
  std::optional<std::string> port_as_written_;
};

// Url::Parse, and then the URL must be https (RFC 8555 section 6.1) and have no userinfo: curl
// would send it as credentials, and "https://ca.test@evil.test/" reads like the CA to a person.
// The rule for every URL the ACME side is configured with or handed by a CA. InvalidArgument
// with the reason only, as Parse: "scheme is http, not https", "it has userinfo before '@'".
absl::StatusOr<Url> ParseHttpsUrl(absl::string_view text);

// Resolves `reference` (absolute, or relative such as "/acme/cert/1" or "next") against the
// absolute URL `base`, as RFC 3986 section 5 says (dot segments removed). InvalidArgument
// "cannot resolve ..." naming both when either is malformed.
absl::StatusOr<std::string> ResolveReference(absl::string_view base, absl::string_view reference);

}  // namespace acme_signer::http

#endif  // ACME_SIGNER_HTTP_URL_H_
