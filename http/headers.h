// Parsers for the HTTP response headers the ACME engine depends on: Link (RFC 8288),
// Retry-After (RFC 9110 section 10.2.3), Replay-Nonce (RFC 8555 section 6.5.1) and Content-Type
// media types (URLs are http/url.h). Pure functions, safe on arbitrary input; thread-safe.
#ifndef ACME_SIGNER_HTTP_HEADERS_H_
#define ACME_SIGNER_HTTP_HEADERS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace acme_signer::http {

// One link-value of a Link header.
struct Link {
  // Target URL, resolved against the request URL (absolute).
  std::string url;
  // The relation types of the first "rel" parameter, lower-cased, in order
  // (rel="up index" gives {"up", "index"}). Empty when the link has no rel.
  std::vector<std::string> rels;
};

// Parses every value of the Link header field (each element of `values` is one header
// line, which may hold several comma-separated link-values) and resolves each target against
// `base_url` (the URL the response came from). InvalidArgument, quoting the offending value,
// when a value is not valid RFC 8288 syntax or a target cannot be resolved; a malformed
// header fails the whole call rather than being silently skipped.
absl::StatusOr<std::vector<Link>> ParseLinkHeaders(absl::Span<const std::string> values,
                                                   absl::string_view base_url);

// The URLs of the links in `links` that have relation type `rel` (case-insensitive), in order.
std::vector<std::string> LinksWithRel(absl::Span<const Link> links, absl::string_view rel);

// Parses a Retry-After value: delta-seconds ("120") or an HTTP-date in IMF-fixdate
// ("Sun, 06 Nov 1994 08:49:37 GMT") or the obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT")
// and asctime ("Sun Nov  6 08:49:37 1994") forms. Returns how long to wait from `now`; a date
// in the past gives zero. InvalidArgument for anything else (negative or fractional numbers,
// numbers that overflow, other date formats, trailing garbage); callers then fall back to
// their own back-off.
absl::StatusOr<absl::Duration> ParseRetryAfter(absl::string_view value, absl::Time now);

// OK when `nonce` is a syntactically valid Replay-Nonce: non-empty and only base64url
// characters [A-Za-z0-9_-] (no padding). InvalidArgument otherwise.
absl::Status ValidateReplayNonce(absl::string_view nonce);

// The media type of a Content-Type value, lower-cased, parameters and whitespace removed:
// "Application/Problem+JSON; charset=utf-8" -> "application/problem+json". Empty for empty
// input.
std::string MediaType(absl::string_view content_type);

}  // namespace acme_signer::http

#endif  // ACME_SIGNER_HTTP_HEADERS_H_
