#include "acme/json_util.h"

#include <exception>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "http/url.h"

namespace acme_signer::acme::internal {
namespace {

const Json* Find(const Json& obj, absl::string_view field) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(std::string(field));
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string FieldName(absl::string_view what, absl::string_view field) {
  return absl::StrCat(what, ".", field);
}

// nlohmann's "[json.exception.parse_error.101] parse error at ...: <why>; last read: '<input>'"
// without the prefix and the echoed input, which may be long.
std::string DescribeParseError(absl::string_view what) {
  if (absl::StartsWith(what, "[json.exception.")) {
    const size_t close = what.find("] ");
    if (close != absl::string_view::npos) what.remove_prefix(close + 2);
  }
  what = what.substr(0, what.find("; last read"));
  return absl::CHexEscape(what.substr(0, 300));
}

std::string EscapeName(absl::string_view name) {
  if (name.size() > 100) return absl::StrCat(absl::CHexEscape(name.substr(0, 100)), "...");
  return absl::CHexEscape(name);
}

// The first pass of ParseStrictJsonObject: a SAX reader that refuses duplicate and
// case-variant member names and deep nesting.
class StrictJsonChecker final : public nlohmann::json_sax<Json> {
 public:
  explicit StrictJsonChecker(int max_depth) : max_depth_(max_depth) {}
  const std::string& error() const { return error_; }

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return Fail("binary values are not JSON"); }
  bool start_object(std::size_t) override {
    if (!Enter()) return false;
    keys_.emplace_back();
    return true;
  }
  bool key(string_t& name) override {
    // Hashing keeps a large object of tiny members linear rather than quadratic.
    if (!keys_.back().insert(absl::AsciiStrToLower(name)).second) {
      return Fail(absl::StrCat("duplicate member \"", EscapeName(name), "\""));
    }
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return Enter(); }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& error) override {
    return Fail(DescribeParseError(error.what()));
  }

 private:
  bool Enter() {
    if (++depth_ > max_depth_) return Fail("nested too deeply");
    return true;
  }
  bool Fail(std::string error) {
    if (error_.empty()) error_ = std::move(error);
    return false;
  }

  const int max_depth_;
  int depth_ = 0;
  std::vector<absl::flat_hash_set<std::string>> keys_;
  std::string error_;
};

}  // namespace

absl::StatusOr<Json> ParseStrictJsonObject(absl::string_view text, absl::string_view what,
                                           int max_depth) {
  auto bad = [what](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not acceptable JSON: ", why));
  };
  // nlohmann skips a UTF-8 byte order mark; RFC 8259 parsers need not, so refuse it.
  if (absl::StartsWith(text, "\xEF\xBB\xBF")) return bad("byte order mark");
  try {
    StrictJsonChecker checker(max_depth);
    if (!Json::sax_parse(text.begin(), text.end(), &checker)) {
      return bad(checker.error().empty() ? "unparsable" : checker.error());
    }
    Json value = Json::parse(text.begin(), text.end());
    if (!value.is_object()) return bad("the top level is not an object");
    return value;
  } catch (const std::exception& error) {
    return bad(DescribeParseError(error.what()));
  }
}

absl::StatusOr<Json> ParseJsonObject(absl::string_view body, absl::string_view what) {
  // nlohmann parses iteratively but serialises and copies recursively; a hostile body of a few
  // MiB of "[[[[..." would overflow the stack later, so deep values are refused here.
  bool too_deep = false;
  Json::parser_callback_t limit_depth = [&too_deep](int depth, Json::parse_event_t, Json&) {
    if (depth > kMaxJsonDepth) too_deep = true;
    return !too_deep;
  };
  Json parsed = Json::parse(body.begin(), body.end(), limit_depth, /*allow_exceptions=*/false);
  if (too_deep) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is nested deeper than ", kMaxJsonDepth, " levels"));
  }
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not valid JSON"));
  }
  if (!parsed.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not a JSON object"));
  }
  return parsed;
}

absl::StatusOr<std::string> RequiredString(const Json& obj, absl::string_view field,
                                           absl::string_view what) {
  const Json* value = Find(obj, field);
  if (value == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(FieldName(what, field), " is missing from the server's response"));
  }
  if (!value->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(FieldName(what, field), " in the server's response is not a string"));
  }
  return value->get<std::string>();
}

absl::StatusOr<std::optional<std::string>> OptionalString(const Json& obj, absl::string_view field,
                                                          absl::string_view what) {
  if (Find(obj, field) == nullptr) return std::optional<std::string>();
  auto value = RequiredString(obj, field, what);
  if (!value.ok()) return value.status();
  return std::optional<std::string>(*std::move(value));
}

absl::Status CheckHttpsUrl(absl::string_view url, absl::string_view what) {
  absl::StatusOr<http::Url> parsed = http::ParseHttpsUrl(url);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not an https URL: \"",
                                                   SanitizeForMessage(url, 200), "\" (",
                                                   parsed.status().message(), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RequiredHttpsUrl(const Json& obj, absl::string_view field,
                                             absl::string_view what) {
  auto value = RequiredString(obj, field, what);
  if (!value.ok()) return value.status();
  absl::Status status = CheckHttpsUrl(*value, FieldName(what, field));
  if (!status.ok()) return status;
  return value;
}

absl::StatusOr<std::optional<std::string>> OptionalHttpsUrl(const Json& obj,
                                                            absl::string_view field,
                                                            absl::string_view what) {
  if (Find(obj, field) == nullptr) return std::optional<std::string>();
  auto value = RequiredHttpsUrl(obj, field, what);
  if (!value.ok()) return value.status();
  return std::optional<std::string>(*std::move(value));
}

absl::StatusOr<std::vector<std::string>> OptionalStringArray(const Json& obj,
                                                             absl::string_view field,
                                                             absl::string_view what) {
  std::vector<std::string> out;
  const Json* value = Find(obj, field);
  if (value == nullptr) return out;
  if (!value->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(FieldName(what, field), " in the server's response is not an array"));
  }
  for (const Json& element : *value) {
    if (!element.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          FieldName(what, field), " in the server's response contains a non-string element"));
    }
    out.push_back(element.get<std::string>());
  }
  return out;
}

absl::StatusOr<bool> OptionalBool(const Json& obj, absl::string_view field, absl::string_view what,
                                  bool default_value) {
  const Json* value = Find(obj, field);
  if (value == nullptr) return default_value;
  if (!value->is_boolean()) {
    return absl::InvalidArgumentError(
        absl::StrCat(FieldName(what, field), " in the server's response is not a boolean"));
  }
  return value->get<bool>();
}

std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

std::string SanitizeForMessage(absl::string_view text, size_t max_chars) {
  std::string out;
  out.reserve(std::min(text.size(), max_chars) + 3);
  for (char c : text) {
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
    const unsigned char u = static_cast<unsigned char>(c);
    out.push_back((u < 0x20 || u == 0x7f) ? ' ' : c);
  }
  return out;
}

}  // namespace acme_signer::acme::internal
