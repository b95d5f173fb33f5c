#include "http/headers.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base64url.h"
#include "http/url.h"

namespace acme_signer::http {
namespace {

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

bool IsOws(char c) { return c == ' ' || c == '\t'; }

// A cursor over one Link header value.
class LinkLexer {
 public:
  explicit LinkLexer(absl::string_view text) : text_(text) {}

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  void SkipOws() {
    while (!AtEnd() && IsOws(text_[pos_])) ++pos_;
  }
  bool Consume(char c) {
    if (Peek() != c || AtEnd()) return false;
    ++pos_;
    return true;
  }
  // "<" URI-Reference ">"
  bool UriReference(std::string* out) {
    if (!Consume('<')) return false;
    const size_t end = text_.find('>', pos_);
    if (end == absl::string_view::npos) return false;
    absl::string_view uri = text_.substr(pos_, end - pos_);
    for (char c : uri) {
      // URI-Reference has no whitespace, controls, or angle brackets.
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '<') return false;
    }
    out->assign(uri.data(), uri.size());
    pos_ = end + 1;
    return true;
  }
  bool Token(std::string* out) {
    const size_t start = pos_;
    while (!AtEnd() && IsTokenChar(text_[pos_])) ++pos_;
    if (pos_ == start) return false;
    out->assign(text_.data() + start, pos_ - start);
    return true;
  }
  // quoted-string with quoted-pair unescaping.
  bool QuotedString(std::string* out) {
    if (!Consume('"')) return false;
    out->clear();
    while (!AtEnd()) {
      char c = text_[pos_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (AtEnd()) return false;
        c = text_[pos_++];
      }
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return false;
      out->push_back(c);
    }
    return false;  // Unterminated.
  }

 private:
  absl::string_view text_;
  size_t pos_ = 0;
};

absl::Status LinkSyntaxError(absl::string_view value, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed Link header \"", value, "\": ", what));
}

// Parses one header line into `links`.
absl::Status ParseLinkValue(absl::string_view value, absl::string_view base_url,
                            std::vector<Link>* links) {
  LinkLexer lex(value);
  lex.SkipOws();
  while (!lex.AtEnd()) {
    // #rule: empty list elements (",,") are allowed and ignored.
    if (lex.Consume(',')) {
      lex.SkipOws();
      continue;
    }
    std::string target;
    if (!lex.UriReference(&target)) {
      return LinkSyntaxError(value, "expected <URI-Reference>");
    }
    Link link;
    bool seen_rel = false;
    lex.SkipOws();
    while (lex.Consume(';')) {
      lex.SkipOws();
      std::string name;
      if (!lex.Token(&name)) return LinkSyntaxError(value, "expected parameter name");
      lex.SkipOws();
      std::string param_value;
      if (lex.Consume('=')) {
        lex.SkipOws();
        bool ok = lex.Peek() == '"' ? lex.QuotedString(&param_value) : lex.Token(&param_value);
        if (!ok) return LinkSyntaxError(value, "bad value for parameter \"" + name + "\"");
        lex.SkipOws();
      }
      // RFC 8288 section 3.3: only the first rel parameter counts.
      if (absl::EqualsIgnoreCase(name, "rel") && !seen_rel) {
        seen_rel = true;
        for (absl::string_view rel :
             absl::StrSplit(param_value, absl::ByAnyChar(" \t"), absl::SkipEmpty())) {
          link.rels.push_back(absl::AsciiStrToLower(rel));
        }
      }
    }
    if (!lex.AtEnd() && !lex.Consume(',')) {
      return LinkSyntaxError(value, "expected ',' or ';' after link");
    }
    lex.SkipOws();
    auto resolved = ResolveReference(base_url, target);
    if (!resolved.ok()) return LinkSyntaxError(value, resolved.status().message());
    link.url = *std::move(resolved);
    links->push_back(std::move(link));
  }
  return absl::OkStatus();
}

// HTTP-date formats of RFC 9110 section 5.6.7, preferred first. absl's %a/%A/%b accept names
// case-insensitively; the weekday is not cross-checked against the date.
constexpr const char* kHttpDateFormats[] = {
    "%a, %d %b %Y %H:%M:%S GMT",  // IMF-fixdate
    "%A, %d-%b-%y %H:%M:%S GMT",  // obsolete RFC 850
    "%a %b %e %H:%M:%S %Y",       // obsolete asctime
};

}  // namespace

absl::StatusOr<std::vector<Link>> ParseLinkHeaders(absl::Span<const std::string> values,
                                                   absl::string_view base_url) {
  std::vector<Link> links;
  for (const std::string& value : values) {
    absl::Status status = ParseLinkValue(value, base_url, &links);
    if (!status.ok()) return status;
  }
  return links;
}

std::vector<std::string> LinksWithRel(absl::Span<const Link> links, absl::string_view rel) {
  std::vector<std::string> out;
  for (const Link& link : links) {
    for (const std::string& r : link.rels) {
      if (absl::EqualsIgnoreCase(r, rel)) {
        out.push_back(link.url);
        break;
      }
    }
  }
  return out;
}

absl::StatusOr<absl::Duration> ParseRetryAfter(absl::string_view value, absl::Time now) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(value);
  if (trimmed.empty()) return absl::InvalidArgumentError("empty Retry-After header");
  if (std::all_of(trimmed.begin(), trimmed.end(),
                  [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); })) {
    uint64_t seconds = 0;
    // Anything beyond a century is nonsense; refusing it also keeps Duration arithmetic sane.
    if (!absl::SimpleAtoi(trimmed, &seconds) || seconds > 100ull * 366 * 24 * 3600) {
      return absl::InvalidArgumentError(
          absl::StrCat("Retry-After \"", trimmed, "\" is out of range"));
    }
    return absl::Seconds(static_cast<int64_t>(seconds));
  }
  for (const char* format : kHttpDateFormats) {
    absl::Time when;
    std::string error;
    if (absl::ParseTime(format, trimmed, absl::UTCTimeZone(), &when, &error)) {
      return std::max(when - now, absl::ZeroDuration());
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("Retry-After \"", trimmed, "\" is neither delta-seconds nor an HTTP-date"));
}

absl::Status ValidateReplayNonce(absl::string_view nonce) {
  if (nonce.empty()) return absl::InvalidArgumentError("empty Replay-Nonce");
  if (!IsBase64Url(nonce)) {
    // Nonces are not secret, but bound what goes into the message.
    return absl::InvalidArgumentError(absl::StrCat("Replay-Nonce \"", nonce.substr(0, 64),
                                                   nonce.size() > 64 ? "..." : "",
                                                   "\" has a non-base64url character"));
  }
  return absl::OkStatus();
}

std::string MediaType(absl::string_view content_type) {
  const size_t semicolon = content_type.find(';');
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(content_type.substr(0, semicolon)));
}

}  // namespace acme_signer::http
