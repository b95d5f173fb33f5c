#include "signer/frontdoor/http01_validator.h"

#include <curl/curl.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "acme/dns_names.h"
#include "common/base64url.h"
#include "http/curl_handles.h"
#include "http/http01_responder.h"
#include "http/url.h"

namespace acme_signer::signer::frontdoor {
namespace {

constexpr size_t kMaxShownBody = 64;
constexpr size_t kMaxLocationBytes = 2048;

// `text` escaped (no control characters reach a problem document or log) and cut.
std::string Shown(absl::string_view text, size_t max = kMaxShownBody) {
  return absl::StrCat("\"", absl::CHexEscape(text.substr(0, max)),
                      text.size() > max ? "...\"" : "\"");
}

// What one GET found.
struct Fetch {
  CURLcode code = CURLE_OK;
  std::string curl_error;
  long status = 0;
  std::string body;
  bool body_too_large = false;
  std::string location;
  bool location_seen = false;
  std::string connected_to;  // CURLINFO_PRIMARY_IP
};

struct TransferState {
  size_t max_body = 0;
  Fetch* fetch = nullptr;
};

size_t OnBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* state = static_cast<TransferState*>(user);
  const size_t n = size * nmemb;
  if (state->fetch->body.size() + n > state->max_body) {
    state->fetch->body_too_large = true;
    return 0;  // Aborts the transfer (CURLE_WRITE_ERROR).
  }
  state->fetch->body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* state = static_cast<TransferState*>(user);
  const size_t n = size * nmemb;
  absl::string_view line(data, n);
  if (absl::StartsWith(line, "HTTP/")) {  // A new response (after 1xx): forget the old one.
    state->fetch->location.clear();
    state->fetch->location_seen = false;
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return n;
  if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(line.substr(0, colon)), "location")) {
    state->fetch->location_seen = true;
    state->fetch->location = std::string(
        absl::StripAsciiWhitespace(line.substr(colon + 1)).substr(0, kMaxLocationBytes + 1));
  }
  return n;
}

// One hop's target.
struct Target {
  std::string url;   // As sent (scheme://host[:port]/path[?query]).
  std::string host;  // DNS name or IP literal without brackets.
  int port = 0;
  bool https = false;
};

// "host" for a URL: IPv6 literals in brackets.
std::string UrlHost(absl::string_view host) {
  return host.find(':') != absl::string_view::npos ? absl::StrCat("[", host, "]")
                                                   : std::string(host);
}

// The pinned GET of `target` at `address`, bounded by `deadline`.
Fetch Get(const Http01ValidatorOptions& options, const Target& target, const IpAddress& address,
          absl::Time deadline) {
  Fetch fetch;
  const absl::Duration remaining = deadline - absl::Now();
  if (remaining <= absl::ZeroDuration()) {
    fetch.code = CURLE_OPERATION_TIMEDOUT;
    fetch.curl_error = "no time left for this request";
    return fetch;
  }
  http::CurlEasyHandle easy(curl_easy_init());
  http::CurlSlist connect_to;
  http::CurlSlist headers;
  // Wildcard source ("::"): whatever the URL names, connect to the checked address.
  if (easy == nullptr ||
      !http::CurlSlistAppend(connect_to,
                             absl::StrCat("::", UrlHost(address.ToString()), ":", target.port)) ||
      !http::CurlSlistAppend(headers, "Accept: */*")) {
    fetch.code = CURLE_OUT_OF_MEMORY;
    fetch.curl_error = "out of memory";
    return fetch;
  }
  TransferState state{options.max_response_bytes, &fetch};
  char error_buffer[CURL_ERROR_SIZE] = {0};
  const int64_t total_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(remaining));
  const int64_t connect_ms =
      std::min(total_ms, std::max<int64_t>(1, absl::ToInt64Milliseconds(options.connect_timeout)));
  CURL* h = easy.get();
  CURLcode rc = CURLE_OK;
  auto set = [&rc](CURLcode r) {
    if (rc == CURLE_OK) rc = r;
  };
  set(http::SetBaseTransferOptions(h, target.url.c_str(), target.https ? "https" : "http",
                                   error_buffer));
  set(curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to.get()));
  set(curl_easy_setopt(h, CURLOPT_PROXY, ""));  // Never a proxy, whatever the environment says.
  set(curl_easy_setopt(h, CURLOPT_NOPROXY, "*"));
  set(curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L));
  set(curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L));
  set(curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1)));
  set(curl_easy_setopt(h, CURLOPT_HTTPGET, 1L));
  set(curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get()));
  set(curl_easy_setopt(h, CURLOPT_USERAGENT, options.user_agent.c_str()));
  set(curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_ms)));
  set(curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(total_ms)));
  set(curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
                       static_cast<curl_off_t>(options.max_response_bytes)));
  set(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody));
  set(curl_easy_setopt(h, CURLOPT_WRITEDATA, &state));
  set(curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader));
  set(curl_easy_setopt(h, CURLOPT_HEADERDATA, &state));
  if (target.https) {
    // The host is getting its first certificate: only the content is checked (as CAs do).
    set(curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L));
    set(curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L));
  }
  if (rc != CURLE_OK) {
    fetch.code = rc;
    fetch.curl_error = absl::StrCat("setting up the request: ", curl_easy_strerror(rc));
    return fetch;
  }
  fetch.code = curl_easy_perform(h);
  if (fetch.code != CURLE_OK) {
    fetch.curl_error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(fetch.code);
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &fetch.status);
  char* primary_ip = nullptr;
  if (curl_easy_getinfo(h, CURLINFO_PRIMARY_IP, &primary_ip) == CURLE_OK && primary_ip != nullptr) {
    fetch.connected_to = primary_ip;
  }
  return fetch;
}

// Connection-level failures after which the other address family is worth a try.
bool WorthFallback(const Fetch& fetch) {
  return fetch.code == CURLE_COULDNT_CONNECT || fetch.code == CURLE_OPERATION_TIMEDOUT;
}

ValidationResult Failure(absl::string_view type, std::string detail,
                         std::vector<ValidationRecord> records) {
  ValidationResult result;
  result.problem_type = std::string(type);
  result.detail = std::move(detail);
  result.records = std::move(records);
  return result;
}

// The next hop's target from a redirect, or the reason it is refused.
absl::StatusOr<Target> RedirectTarget(const Http01ValidatorOptions& options, const Target& current,
                                      absl::string_view location) {
  if (location.size() > kMaxLocationBytes) {
    return absl::InvalidArgumentError("the Location header is too long");
  }
  absl::StatusOr<std::string> absolute = http::ResolveReference(current.url, location);
  if (!absolute.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the Location header ", Shown(location), " is not a valid URL"));
  }
  absl::StatusOr<http::Url> url = http::Url::Parse(*absolute);
  if (!url.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the redirect target ", Shown(*absolute), " is not a valid URL: ", url.status().message()));
  }
  if (!url->is_http_or_https()) {
    return absl::InvalidArgumentError(absl::StrCat("redirect to ", Shown(*absolute),
                                                   ": only http and https are followed, not ",
                                                   url->scheme()));
  }
  if (url->userinfo().has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("redirect to ", Shown(*absolute), ": URLs with userinfo are not followed"));
  }
  std::string host = url->host();
  if (absl::StartsWith(host, "[")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "redirect to ", Shown(*absolute), ": only DNS names are followed, not IP addresses"));
  }
  if (IpAddress::Parse(host).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "redirect to ", Shown(*absolute), ": only DNS names are followed, not IP addresses"));
  }
  const int port = url->port();
  if (port != 80 && port != 443 && port != options.port && port != options.https_port) {
    return absl::InvalidArgumentError(absl::StrCat(
        "redirect to ", Shown(*absolute), ": port ", port, " is not followed (only 80 and 443",
        options.port != 80 ? absl::StrCat(", ", options.port) : "",
        options.https_port != 443 ? absl::StrCat(", ", options.https_port) : "", ")"));
  }
  if (url->has_fragment()) {
    // Never sent: cut it from the URL that goes to curl.
    absolute->resize(absolute->find('#'));
  }
  Target next;
  next.url = *std::move(absolute);
  next.host = std::move(host);
  next.port = port;
  next.https = url->is_https();
  return next;
}

// The checks Validate makes before any I/O (see Http01Validator::Validate).
absl::Status CheckValidationRequest(absl::string_view name, absl::string_view token,
                                    absl::string_view key_authorization) {
  if (!IpAddress::Parse(name).ok()) {
    if (absl::Status dns = acme::ValidateDnsName(name); !dns.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("http-01 validation: ", dns.message(), " (nor an IP address)"));
    }
  }
  if (!IsBase64Url(token) || token.size() > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("http-01 validation: token ", Shown(token), " is not base64url"));
  }
  if (key_authorization.empty() ||
      std::any_of(key_authorization.begin(), key_authorization.end(),
                  [](char c) { return absl::ascii_iscntrl(static_cast<unsigned char>(c)); })) {
    return absl::InvalidArgumentError(
        "http-01 validation: the key authorization is empty or has control characters");
  }
  return absl::OkStatus();
}

// The challenge URL on `name` (a checked DNS name or IP address): the first hop.
Target ChallengeTarget(const Http01ValidatorOptions& options, absl::string_view name,
                       absl::string_view token) {
  Target target;
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(name);
  target.host = ip.ok() ? ip->ToString() : std::string(name);
  target.port = options.port;
  target.https = false;
  target.url = absl::StrCat("http://", UrlHost(target.host),
                            options.port == 80 ? "" : absl::StrCat(":", options.port),
                            http::kAcmeChallengePathPrefix, token);
  return target;
}

// What every hop of one validation shares. `records` gets one record per connection attempt
// and goes into the result.
struct Validation {
  const Http01ValidatorOptions& options;
  const DnsResolver& resolver;
  const NetworkAllowlist& allowlist;
  absl::Time deadline;
  std::vector<ValidationRecord> records;
};

// Step 1: the target's addresses (into `record`), checked against the allowlist before any
// connection. Sets `candidates` to the first allowed IPv6 and IPv4 address, in the order they
// are tried (IPv6 first); returns the failure when there is none.
std::optional<ValidationResult> AllowedAddresses(Validation& v, const Target& target,
                                                 ValidationRecord& record,
                                                 std::vector<IpAddress>& candidates) {
  std::vector<IpAddress> resolved;
  if (absl::StatusOr<IpAddress> literal = IpAddress::Parse(target.host); literal.ok()) {
    resolved.push_back(*literal);
  } else {
    absl::StatusOr<std::vector<IpAddress>> addresses =
        v.resolver.LookupAddresses(target.host, v.deadline);
    if (!addresses.ok()) {
      v.records.push_back(std::move(record));
      return Failure(
          kProblemDns,
          absl::StrCat("DNS problem fetching ", target.url, ": ", addresses.status().message()),
          std::move(v.records));
    }
    resolved = *std::move(addresses);
  }
  std::optional<IpAddress> first_v6;
  std::optional<IpAddress> first_v4;
  for (const IpAddress& address : resolved) {
    record.addresses_resolved.push_back(address.ToString());
    if (!v.allowlist.Allows(address)) {
      record.addresses_refused.push_back(address.ToString());
      continue;
    }
    std::optional<IpAddress>& slot = address.Unmapped().is_v4() ? first_v4 : first_v6;
    if (!slot.has_value()) slot = address;
  }
  if (!first_v4.has_value() && !first_v6.has_value()) {
    std::string refused = absl::StrJoin(record.addresses_refused, ", ");
    v.records.push_back(std::move(record));
    return Failure(kProblemConnection,
                   absl::StrCat("refusing to fetch ", target.url, ": ", target.host,
                                " resolves only to addresses the validator may not connect to (",
                                refused, ")"),
                   std::move(v.records));
  }
  if (first_v6.has_value()) candidates.push_back(*first_v6);
  if (first_v4.has_value()) candidates.push_back(*first_v4);
  return std::nullopt;
}

// Step 2: the pinned GET, at each candidate in turn while a connection failure leaves time for
// the next. Records every attempt; `used` is the address of the last one.
Fetch FetchFromFirstReachable(Validation& v, const Target& target,
                              const std::vector<IpAddress>& candidates, ValidationRecord& record,
                              std::string& used) {
  Fetch fetch;
  for (size_t i = 0; i < candidates.size(); ++i) {
    used = candidates[i].ToString();
    record.address_used = used;
    fetch = Get(v.options, target, candidates[i], v.deadline);
    if (!WorthFallback(fetch) || i + 1 == candidates.size() || absl::Now() >= v.deadline) break;
    v.records.push_back(record);  // The failed attempt, then the fallback's own record.
  }
  v.records.push_back(record);
  return fetch;
}

// The problem type and text of a transfer curl could not complete.
std::pair<absl::string_view, std::string> TransferError(const Fetch& fetch) {
  switch (fetch.code) {
    case CURLE_OPERATION_TIMEDOUT:
      return {kProblemConnection, absl::StrCat("timed out (", fetch.curl_error, ")")};
    case CURLE_COULDNT_CONNECT:
      return {kProblemConnection, absl::StrCat("connection failed (", fetch.curl_error, ")")};
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CERTPROBLEM:
      return {kProblemTls, absl::StrCat("TLS handshake failed (", fetch.curl_error, ")")};
    case CURLE_GOT_NOTHING:
      return {kProblemConnection, "the server closed the connection without answering"};
    default:
      return {kProblemConnection, fetch.curl_error};
  }
}

// The failure when the GET at `used` (described by `where`) brought no usable response.
std::optional<ValidationResult> TransferFailure(Validation& v, const Fetch& fetch,
                                                const std::string& where, const std::string& used) {
  if (fetch.body_too_large || fetch.code == CURLE_FILESIZE_EXCEEDED) {
    return Failure(kProblemUnauthorized,
                   absl::StrCat("Invalid response from ", where, ": the body is larger than ",
                                v.options.max_response_bytes, " bytes"),
                   std::move(v.records));
  }
  if (fetch.code != CURLE_OK) {
    auto [type, what] = TransferError(fetch);
    return Failure(type, absl::StrCat("Fetching ", where, ": ", Shown(what, 200)),
                   std::move(v.records));
  }
  // Defence in depth: curl must have connected where we pinned it.
  if (absl::StatusOr<IpAddress> connected = IpAddress::Parse(fetch.connected_to);
      !connected.ok() || connected->ToString() != used) {
    return Failure(kProblemConnection,
                   absl::StrCat("Fetching ", where, ": connected to an unexpected address ",
                                Shown(fetch.connected_to)),
                   std::move(v.records));
  }
  return std::nullopt;
}

bool IsRedirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Step 3: a redirect, followed by hand: sets `target` to the next hop's, or returns why not.
std::optional<ValidationResult> FollowRedirect(Validation& v, const Fetch& fetch,
                                               const std::string& where, int hop, Target& target) {
  if (!fetch.location_seen || fetch.location.empty()) {
    return Failure(kProblemConnection,
                   absl::StrCat("Invalid response from ", where, ": HTTP ", fetch.status,
                                " without a Location header"),
                   std::move(v.records));
  }
  if (hop >= v.options.max_redirects) {
    return Failure(kProblemConnection,
                   absl::StrCat("Fetching ", where, ": too many redirects (more than ",
                                v.options.max_redirects, ")"),
                   std::move(v.records));
  }
  absl::StatusOr<Target> next = RedirectTarget(v.options, target, fetch.location);
  if (!next.ok()) {
    return Failure(kProblemConnection,
                   absl::StrCat("Fetching ", where, ": ", next.status().message()),
                   std::move(v.records));
  }
  target = *std::move(next);
  return std::nullopt;
}

// Step 4: the answer, after `hop` redirects: HTTP 200 with the key authorization (trailing
// whitespace allowed).
ValidationResult CheckAnswer(Validation& v, const Fetch& fetch, const std::string& where, int hop,
                             absl::string_view key_authorization) {
  if (fetch.status != 200) {
    return Failure(
        kProblemUnauthorized,
        absl::StrCat("Invalid response from ", where, ": HTTP ", fetch.status,
                     fetch.body.empty() ? "" : absl::StrCat(", body ", Shown(fetch.body))),
        std::move(v.records));
  }
  absl::string_view body = fetch.body;
  while (!body.empty() && (body.back() == ' ' || body.back() == '\t' || body.back() == '\r' ||
                           body.back() == '\n')) {
    body.remove_suffix(1);
  }
  if (body != key_authorization) {
    return Failure(kProblemUnauthorized,
                   absl::StrCat("The key authorization served at ", where, " is wrong: received ",
                                Shown(fetch.body), " (", fetch.body.size(), " bytes), expected ",
                                Shown(key_authorization, 128)),
                   std::move(v.records));
  }
  ValidationResult ok;
  ok.detail = absl::StrCat(where, " answered the expected key authorization",
                           hop > 0 ? absl::StrCat(" after ", hop, " redirect(s)") : "");
  ok.records = std::move(v.records);
  return ok;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Http01Validator>> Http01Validator::Create(
    Options options, std::shared_ptr<const DnsResolver> resolver, NetworkAllowlist allowlist) {
  if (resolver == nullptr) return absl::InvalidArgumentError("http-01 validator: no DNS resolver");
  if (options.port < 1 || options.port > 65535) {
    return absl::InvalidArgumentError("http-01 validator: port must be 1..65535");
  }
  if (options.https_port < 1 || options.https_port > 65535) {
    return absl::InvalidArgumentError("http-01 validator: https_port must be 1..65535");
  }
  if (options.connect_timeout <= absl::ZeroDuration() || options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("http-01 validator: timeouts must be positive");
  }
  if (options.max_response_bytes == 0) {
    return absl::InvalidArgumentError("http-01 validator: max_response_bytes must be positive");
  }
  if (options.max_redirects < 0 || options.max_redirects > 20) {
    return absl::InvalidArgumentError("http-01 validator: max_redirects must be 0..20");
  }
  if (options.user_agent.find_first_of("\r\n") != std::string::npos ||
      options.user_agent.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("http-01 validator: user_agent has a line break");
  }
  if (absl::Status init = http::CurlGlobalInit(); !init.ok()) return init;
  return std::unique_ptr<Http01Validator>(
      new Http01Validator(std::move(options), std::move(resolver), std::move(allowlist)));
}

absl::StatusOr<ValidationResult> Http01Validator::Validate(
    absl::string_view name, absl::string_view token, absl::string_view key_authorization) const {
  if (absl::Status checked = CheckValidationRequest(name, token, key_authorization);
      !checked.ok()) {
    return checked;
  }
  Validation v{options_, *resolver_, allowlist_, absl::Now() + options_.timeout, {}};
  Target target = ChallengeTarget(options_, name, token);
  for (int hop = 0;; ++hop) {
    ValidationRecord record;
    record.url = target.url;
    record.hostname = target.host;
    record.port = target.port;
    std::vector<IpAddress> candidates;
    if (std::optional<ValidationResult> failure = AllowedAddresses(v, target, record, candidates)) {
      return *std::move(failure);
    }
    std::string used;
    const Fetch fetch = FetchFromFirstReachable(v, target, candidates, record, used);
    const std::string where = absl::StrCat(target.url, " [", used, "]");
    if (std::optional<ValidationResult> failure = TransferFailure(v, fetch, where, used)) {
      return *std::move(failure);
    }
    if (!IsRedirect(fetch.status)) return CheckAnswer(v, fetch, where, hop, key_authorization);
    if (std::optional<ValidationResult> failure = FollowRedirect(v, fetch, where, hop, target)) {
      return *std::move(failure);
    }
  }
}

}  // namespace acme_signer::signer::frontdoor
