#include "http/url.h"

#include <curl/curl.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "http/curl_handles.h"

namespace acme_signer::http {
namespace {

// Our own words for curl's URL errors where they are clearer than curl's, else curl's.
std::string Reason(CURLUcode rc) {
  switch (rc) {
    case CURLUE_BAD_PORT_NUMBER:
      return "bad port (not a decimal number in 0..65535)";
    case CURLUE_NO_HOST:
      return "no usable host";
    case CURLUE_BAD_SCHEME:
      return "not an absolute URL (scheme://host/path)";
    case CURLUE_BAD_IPV6:
      return "bad IPv6 literal";
    case CURLUE_BAD_HOSTNAME:
      return "bad host name";
    default:
      return curl_url_strerror(rc);
  }
}

// The part, or nullopt when the URL has none (curl's CURLUE_NO_*).
absl::StatusOr<std::optional<std::string>> GetPart(CURLU* url, CURLUPart part,
                                                   unsigned int flags = 0) {
  char* raw = nullptr;
  const CURLUcode rc = curl_url_get(url, part, &raw, flags);
  CurlString owned(raw);
  switch (rc) {
    case CURLUE_OK:
      return std::optional<std::string>(raw);
    case CURLUE_NO_HOST:
    case CURLUE_NO_PORT:
    case CURLUE_NO_QUERY:
    case CURLUE_NO_ZONEID:
      return std::optional<std::string>();
    default:
      return absl::InvalidArgumentError(Reason(rc));
  }
}

// Whitespace, control characters and NUL: curl refuses most of them itself, but a NUL would
// silently end the string we hand it.
bool HasWhitespaceOrControl(absl::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return true;
  }
  return false;
}

// RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool IsScheme(absl::string_view text) {
  if (text.empty() || !absl::ascii_isalpha(static_cast<unsigned char>(text.front()))) return false;
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<CurlUrl> NewCurlUrl(absl::string_view text, unsigned int flags) {
  if (HasWhitespaceOrControl(text)) {
    return absl::InvalidArgumentError("contains whitespace or control characters");
  }
  CurlUrl handle(curl_url());
  if (handle == nullptr) return absl::ResourceExhaustedError("out of memory parsing a URL");
  const CURLUcode rc = curl_url_set(handle.get(), CURLUPART_URL, std::string(text).c_str(), flags);
  if (rc != CURLUE_OK) return absl::InvalidArgumentError(Reason(rc));
  return handle;
}

// The authority of a URL curl has accepted, split as written.
struct WrittenAuthority {
  std::optional<std::string> userinfo;
  std::string host;
  std::optional<std::string> port;
};

// `rest` is what follows "scheme://". curl ends the authority at the first of "/?#" too, and
// has checked that an IPv6 literal is terminated and that at most one '@' is there.
absl::StatusOr<WrittenAuthority> SplitAuthority(absl::string_view rest) {
  absl::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  WrittenAuthority out;
  if (const size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    out.userinfo = std::string(authority.substr(0, at));
    authority.remove_prefix(at + 1);
  }
  size_t host_end = authority.find(':');
  if (!authority.empty() && authority.front() == '[') {
    host_end = authority.find(']');
    if (host_end == absl::string_view::npos) {
      return absl::InvalidArgumentError(Reason(CURLUE_BAD_IPV6));
    }
    ++host_end;
  }
  out.host = std::string(authority.substr(0, host_end));
  if (host_end < authority.size()) {
    if (authority[host_end] != ':')
      return absl::InvalidArgumentError(Reason(CURLUE_BAD_PORT_NUMBER));
    out.port = std::string(authority.substr(host_end + 1));
  }
  return out;
}

}  // namespace

absl::StatusOr<Url> Url::Parse(absl::string_view text) {
  if (HasWhitespaceOrControl(text)) {
    return absl::InvalidArgumentError("contains whitespace or control characters");
  }
  const size_t scheme_end = text.find("://");
  if (scheme_end == absl::string_view::npos || !IsScheme(text.substr(0, scheme_end))) {
    return absl::InvalidArgumentError(Reason(CURLUE_BAD_SCHEME));
  }
  // Any scheme, so that callers can say "not https" rather than curl's "unsupported scheme";
  // the path as written, so that strict callers see dot segments.
  absl::StatusOr<CurlUrl> handle = NewCurlUrl(text, CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS);
  if (!handle.ok()) return handle.status();
  CURLU* curl_url = handle->get();

  Url url;
  url.scheme_ = absl::AsciiStrToLower(text.substr(0, scheme_end));

  // curl reads "https:///x" as host "x"; we refuse that spelling.
  ASSIGN_OR_RETURN(const WrittenAuthority written, SplitAuthority(text.substr(scheme_end + 3)));
  if (written.host.empty() && url.scheme_ != "file") {
    return absl::InvalidArgumentError(Reason(CURLUE_NO_HOST));
  }
  url.userinfo_ = written.userinfo;
  url.host_as_written_ = written.host;
  url.port_as_written_ = written.port;

  ASSIGN_OR_RETURN(const std::optional<std::string> host, GetPart(curl_url, CURLUPART_HOST));
  url.host_ = absl::AsciiStrToLower(host.value_or(""));
  ASSIGN_OR_RETURN(const std::optional<std::string> zone, GetPart(curl_url, CURLUPART_ZONEID));
  if (zone.has_value() && absl::EndsWith(url.host_, "]")) {
    url.host_.insert(url.host_.size() - 1, absl::StrCat("%25", *zone));
  }
  ASSIGN_OR_RETURN(const std::optional<std::string> port,
                   GetPart(curl_url, CURLUPART_PORT, CURLU_DEFAULT_PORT));
  if (port.has_value() && !absl::SimpleAtoi(*port, &url.port_)) {
    return absl::InvalidArgumentError(Reason(CURLUE_BAD_PORT_NUMBER));
  }
  ASSIGN_OR_RETURN(const std::optional<std::string> path, GetPart(curl_url, CURLUPART_PATH));
  url.path_ = path.value_or("");
  if (url.path_.empty()) url.path_ = "/";
  ASSIGN_OR_RETURN(url.query_, GetPart(curl_url, CURLUPART_QUERY));
  url.has_fragment_ = text.find('#') != absl::string_view::npos;
  return url;
}

std::string Url::Origin() const { return absl::StrCat(scheme_, "://", host_, ":", port_); }

absl::StatusOr<Url> ParseHttpsUrl(absl::string_view text) {
  absl::StatusOr<Url> url = Url::Parse(text);
  if (!url.ok()) return url.status();
  if (!url->is_https()) {
    return absl::InvalidArgumentError(absl::StrCat("scheme is ", url->scheme(), ", not https"));
  }
  if (url->userinfo().has_value()) {
    return absl::InvalidArgumentError("it has userinfo before '@'");
  }
  return url;
}

absl::StatusOr<std::string> ResolveReference(absl::string_view base, absl::string_view reference) {
  auto cannot = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve \"", reference, "\" against \"", base, "\": ", why));
  };
  // Only schemes curl supports, and dot segments removed: the result is a URL to fetch.
  absl::StatusOr<CurlUrl> handle = NewCurlUrl(base, 0);
  if (!handle.ok()) return cannot(absl::StrCat("base URL: ", handle.status().message()));
  if (HasWhitespaceOrControl(reference)) {
    return cannot("the reference contains whitespace or control characters");
  }
  // Setting a URL on a handle that already holds one resolves it as relative to the old one.
  const CURLUcode rc =
      curl_url_set(handle->get(), CURLUPART_URL, std::string(reference).c_str(), 0);
  if (rc != CURLUE_OK) return cannot(Reason(rc));
  absl::StatusOr<std::optional<std::string>> resolved = GetPart(handle->get(), CURLUPART_URL);
  if (!resolved.ok()) return cannot(resolved.status().message());
  if (!resolved->has_value()) return cannot("no usable host");
  return **std::move(resolved);
}

}  // namespace acme_signer::http
