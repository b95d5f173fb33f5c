// Checked access to JSON that came from the network. nlohmann::json throws on wrong types;
// these helpers check first and turn every problem into an absl::Status that names the
// field, so a hostile or broken server never crashes the client.
// Internal to acme/; pure functions, thread-safe.
#ifndef ACME_SIGNER_ACME_JSON_UTIL_H_
#define ACME_SIGNER_ACME_JSON_UTIL_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace acme_signer::acme::internal {

using Json = nlohmann::json;

// No ACME object nests anywhere near this deep.
inline constexpr int kMaxJsonDepth = 32;

// Parses `body` as a JSON object. InvalidArgument "<what> is not valid JSON" /
// "<what> is not a JSON object" / "<what> is nested deeper than 32 levels".
absl::StatusOr<Json> ParseJsonObject(absl::string_view body, absl::string_view what);

// Parses `text` as one JSON object, refusing what nlohmann would silently accept but another
// reader (a CA, Go's encoding/json, a client) might read differently: duplicate member names
// (nlohmann keeps the last; others keep the first or fail), names equal ignoring ASCII case (Go
// matches fields case-insensitively), a UTF-8 byte order mark, nesting deeper than `max_depth`
// (the top-level object is depth 1). For JSON that comes from a peer we must agree with: the
// signer's SignJws payloads, the front door's JWS bodies, headers and payloads.
// InvalidArgument "<what> is not acceptable JSON: <why>" (why: "duplicate member \"x\"",
// "nested too deeply", "byte order mark", "the top level is not an object", or the parser's
// reason without the echoed input).
absl::StatusOr<Json> ParseStrictJsonObject(absl::string_view text, absl::string_view what,
                                           int max_depth);

// obj[field] as a string. InvalidArgument naming `what`.`field` when missing or not a string.
absl::StatusOr<std::string> RequiredString(const Json& obj, absl::string_view field,
                                           absl::string_view what);
// Like RequiredString, but a missing (or null) field yields std::nullopt.
absl::StatusOr<std::optional<std::string>> OptionalString(const Json& obj, absl::string_view field,
                                                          absl::string_view what);
// A field that must be an https:// URL with a host.
absl::StatusOr<std::string> RequiredHttpsUrl(const Json& obj, absl::string_view field,
                                             absl::string_view what);
absl::StatusOr<std::optional<std::string>> OptionalHttpsUrl(const Json& obj,
                                                            absl::string_view field,
                                                            absl::string_view what);
// An optional array of strings (missing → empty).
absl::StatusOr<std::vector<std::string>> OptionalStringArray(const Json& obj,
                                                             absl::string_view field,
                                                             absl::string_view what);
absl::StatusOr<bool> OptionalBool(const Json& obj, absl::string_view field, absl::string_view what,
                                  bool default_value);

// OK when `url` is an absolute https URL with a host and no userinfo (http::ParseHttpsUrl);
// InvalidArgument "<what> is not an https URL: "<url>" (<why>)".
absl::Status CheckHttpsUrl(absl::string_view url, absl::string_view what);

// Serialises server-supplied JSON without throwing (invalid UTF-8 is replaced).
std::string DumpJson(const Json& value);

// Server text made safe for an error message: control characters replaced, at most
// `max_chars` long.
std::string SanitizeForMessage(absl::string_view text, size_t max_chars = 300);

}  // namespace acme_signer::acme::internal

#endif  // ACME_SIGNER_ACME_JSON_UTIL_H_
