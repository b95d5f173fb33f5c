#include "acme/json_util.h"

#include "absl/status/status.h"
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

}  // namespace

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
