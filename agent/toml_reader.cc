#include "agent/toml_reader.h"

#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"

namespace acme_signer::agent {

absl::StatusOr<toml::table> ParseToml(absl::string_view text, const std::string& source) {
  try {
    return toml::parse(std::string_view(text.data(), text.size()), source);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", e.source().begin.line, ":",
                                                   e.source().begin.column, ": ",
                                                   std::string(e.description())));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", e.what()));
  }
}

TomlTableReader::TomlTableReader(const toml::table& table, std::string source, std::string section)
    : table_(table), source_(std::move(source)), section_(std::move(section)) {}

const toml::node* TomlTableReader::Find(absl::string_view key) {
  seen_.insert(std::string(key));
  return table_.get(std::string_view(key.data(), key.size()));
}

std::string TomlTableReader::Where(const toml::node* node) const {
  if (node != nullptr && node->source().begin.line > 0) {
    return absl::StrCat(source_, ":", node->source().begin.line);
  }
  if (table_.source().begin.line > 0) return absl::StrCat(source_, ":", table_.source().begin.line);
  return source_;
}

std::string TomlTableReader::QualifiedKey(absl::string_view key) const {
  return section_.empty() ? std::string(key) : absl::StrCat(section_, ".", key);
}

absl::Status TomlTableReader::ValueError(absl::string_view key, absl::string_view message) const {
  const toml::node* node = table_.get(std::string_view(key.data(), key.size()));
  return absl::InvalidArgumentError(
      absl::StrCat(Where(node), ": ", QualifiedKey(key), ": ", message));
}

absl::Status TomlTableReader::String(absl::string_view key, std::string* out) {
  const toml::node* node = Find(key);
  if (node == nullptr) return absl::OkStatus();
  const auto* value = node->as_string();
  if (value == nullptr) return ValueError(key, "expected a string");
  *out = value->get();
  return absl::OkStatus();
}

absl::Status TomlTableReader::NonEmptyString(absl::string_view key, std::string* out) {
  std::string value = *out;
  if (absl::Status s = String(key, &value); !s.ok()) return s;
  if (Find(key) != nullptr && value.empty()) return ValueError(key, "must not be empty");
  *out = std::move(value);
  return absl::OkStatus();
}

absl::Status TomlTableReader::Bool(absl::string_view key, bool* out) {
  const toml::node* node = Find(key);
  if (node == nullptr) return absl::OkStatus();
  const auto* value = node->as_boolean();
  if (value == nullptr) return ValueError(key, "expected true or false");
  *out = value->get();
  return absl::OkStatus();
}

absl::Status TomlTableReader::Int(absl::string_view key, int64_t min, int64_t max, int64_t* out) {
  const toml::node* node = Find(key);
  if (node == nullptr) return absl::OkStatus();
  const auto* value = node->as_integer();
  if (value == nullptr) return ValueError(key, "expected an integer");
  if (value->get() < min || value->get() > max) {
    return ValueError(key,
                      absl::StrCat("must be between ", min, " and ", max, ", got ", value->get()));
  }
  *out = value->get();
  return absl::OkStatus();
}

absl::Status TomlTableReader::StringArray(absl::string_view key, std::vector<std::string>* out) {
  const toml::node* node = Find(key);
  if (node == nullptr) return absl::OkStatus();
  const auto* array = node->as_array();
  if (array == nullptr) return ValueError(key, "expected an array of strings");
  std::vector<std::string> values;
  for (const toml::node& element : *array) {
    const auto* s = element.as_string();
    if (s == nullptr) return ValueError(key, "expected an array of strings");
    values.push_back(s->get());
  }
  *out = std::move(values);
  return absl::OkStatus();
}

absl::Status TomlTableReader::Table(absl::string_view key, const toml::table** out) {
  const toml::node* node = Find(key);
  *out = nullptr;
  if (node == nullptr) return absl::OkStatus();
  *out = node->as_table();
  if (*out == nullptr) return ValueError(key, "expected a table");
  return absl::OkStatus();
}

absl::Status TomlTableReader::RejectUnknownKeys() const {
  for (const auto& [key, node] : table_) {
    std::string name(key.str());
    if (!seen_.contains(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(&node), ": unknown key ", QualifiedKey(name)));
    }
  }
  return absl::OkStatus();
}

}  // namespace acme_signer::agent
