#include "common/toml_reader.h"

#include <algorithm>
#include <exception>
#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace acme_signer {
namespace {

// More problems than this are summarised; the first ones are what the operator fixes first.
constexpr size_t kMaxReportedProblems = 50;

// This abseil build has its own string_view type; toml++ speaks std::string_view.
absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }
std::string_view AsStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }

int64_t LineOf(const toml::node& node) { return node.source().begin.line; }

absl::string_view TypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

}  // namespace

absl::StatusOr<toml::table> ParseToml(absl::string_view text, const std::string& source) {
  try {
    return toml::parse(AsStd(text), std::string_view(source));
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid configuration:\n", source, ":", e.source().begin.line, ":",
                     e.source().begin.column, ": TOML syntax error: ", AsAbsl(e.description())));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid configuration:\n", source, ": cannot parse: ", e.what()));
  }
}

void TomlProblems::At(int64_t line, absl::string_view key, absl::string_view message) {
  messages_.push_back(absl::StrCat(source_, ":", line, ": ", key, ": ", message));
}

void TomlProblems::AtFile(absl::string_view key, absl::string_view message) {
  messages_.push_back(absl::StrCat(source_, ": ", key, ": ", message));
}

absl::Status TomlProblems::ToStatus() const {
  if (messages_.empty()) return absl::OkStatus();
  const size_t shown_count = std::min(messages_.size(), kMaxReportedProblems);
  std::vector<std::string> shown(messages_.begin(),
                                 messages_.begin() + static_cast<ptrdiff_t>(shown_count));
  if (messages_.size() > shown_count) {
    shown.push_back(absl::StrCat("... and ", messages_.size() - shown_count, " more problems"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("invalid configuration:\n", absl::StrJoin(shown, "\n")));
}

TomlTableReader::TomlTableReader(TomlProblems& problems, const toml::table& table,
                                 std::string prefix, std::filesystem::path base_dir,
                                 std::initializer_list<absl::string_view> known)
    : problems_(problems),
      table_(table),
      prefix_(std::move(prefix)),
      base_dir_(std::move(base_dir)) {
  for (auto&& [key, node] : table_) {
    const absl::string_view name = AsAbsl(key.str());
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      problems_.At(key.source().begin.line, Key(name),
                   absl::StrCat("unknown key (known keys here: ", absl::StrJoin(known, ", "), ")"));
    }
  }
}

std::string TomlTableReader::Key(absl::string_view key) const {
  return prefix_.empty() ? std::string(key) : absl::StrCat(prefix_, ".", key);
}

int64_t TomlTableReader::line() const { return LineOf(table_); }

const toml::node* TomlTableReader::Find(absl::string_view key, bool required) {
  const toml::node* node = table_.get(AsStd(key));
  if (node == nullptr && required) {
    problems_.At(line(), Key(key),
                 prefix_.empty() ? std::string("missing required key")
                                 : absl::StrCat("missing required key (in [", prefix_, "])"));
  }
  return node;
}

void TomlTableReader::Bad(const toml::node& node, absl::string_view key,
                          absl::string_view message) {
  problems_.At(LineOf(node), Key(key), message);
}

void TomlTableReader::Bad(absl::string_view key, absl::string_view message) {
  const toml::node* node = table_.get(AsStd(key));
  problems_.At(node != nullptr ? LineOf(*node) : line(), Key(key), message);
}

bool TomlTableReader::TypeIs(const toml::node& node, absl::string_view key, toml::node_type want) {
  if (node.type() == want) return true;
  Bad(node, key, absl::StrCat("expected ", TypeName(want), ", got ", TypeName(node.type())));
  return false;
}

std::optional<std::string> TomlTableReader::CheckString(const toml::node& node,
                                                        absl::string_view key,
                                                        const std::string& value,
                                                        bool allow_empty) {
  if (value.empty() && !allow_empty) {
    Bad(node, key, "must not be empty");
    return std::nullopt;
  }
  if (value.find('\0') != std::string::npos) {
    Bad(node, key, "must not contain NUL characters");
    return std::nullopt;
  }
  return value;
}

std::optional<std::string> TomlTableReader::String(absl::string_view key, bool required) {
  const toml::node* node = Find(key, required);
  if (node == nullptr || !TypeIs(*node, key, toml::node_type::string)) return std::nullopt;
  return CheckString(*node, key, node->as_string()->get(), /*allow_empty=*/false);
}

std::optional<std::string> TomlTableReader::StringOrEmpty(absl::string_view key) {
  const toml::node* node = Find(key, false);
  if (node == nullptr || !TypeIs(*node, key, toml::node_type::string)) return std::nullopt;
  return CheckString(*node, key, node->as_string()->get(), /*allow_empty=*/true);
}

std::optional<std::string> TomlTableReader::Path(absl::string_view key, bool required) {
  std::optional<std::string> value = String(key, required);
  if (!value) return std::nullopt;
  if (absl::StartsWith(*value, "~")) {
    Bad(key, absl::StrCat("\"", *value, "\": '~' is not expanded; use an absolute path"));
    return std::nullopt;
  }
  std::filesystem::path path{*value};
  if (path.is_relative()) {
    if (base_dir_.empty()) {
      Bad(key, absl::StrCat("must be an absolute path, got \"", *value, "\""));
      return std::nullopt;
    }
    path = base_dir_ / path;
  }
  return path.lexically_normal().string();
}

std::optional<bool> TomlTableReader::Bool(absl::string_view key) {
  const toml::node* node = Find(key, false);
  if (node == nullptr || !TypeIs(*node, key, toml::node_type::boolean)) return std::nullopt;
  return node->as_boolean()->get();
}

std::optional<int64_t> TomlTableReader::Int(absl::string_view key, int64_t min, int64_t max) {
  const toml::node* node = Find(key, false);
  if (node == nullptr || !TypeIs(*node, key, toml::node_type::integer)) return std::nullopt;
  const int64_t value = node->as_integer()->get();
  if (value < min || value > max) {
    Bad(*node, key, absl::StrCat(value, " is out of range ", min, "..", max));
    return std::nullopt;
  }
  return value;
}

std::optional<std::vector<TomlTableReader::Element>> TomlTableReader::StringArray(
    absl::string_view key, bool required) {
  const toml::node* node = Find(key, required);
  if (node == nullptr || !TypeIs(*node, key, toml::node_type::array)) return std::nullopt;
  std::vector<Element> out;
  bool ok = true;
  const toml::array& array = *node->as_array();
  for (size_t i = 0; i < array.size(); ++i) {
    const std::string element_key = absl::StrCat(key, "[", i, "]");
    const toml::node& element = *array.get(i);
    if (!TypeIs(element, element_key, toml::node_type::string)) {
      ok = false;
      continue;
    }
    std::optional<std::string> value =
        CheckString(element, element_key, element.as_string()->get(), /*allow_empty=*/false);
    if (!value) {
      ok = false;
      continue;
    }
    out.push_back(Element{std::move(*value), &element, element_key});
  }
  if (!ok) return std::nullopt;
  return out;
}

const toml::table* TomlTableReader::Table(absl::string_view key, bool required) {
  const toml::node* node = table_.get(AsStd(key));
  if (node == nullptr) {
    if (required) {
      problems_.AtFile(Key(key), absl::StrCat("missing required table [", Key(key), "]"));
    }
    return nullptr;
  }
  if (!node->is_table()) {
    Bad(*node, key,
        absl::StrCat("expected a table ([", Key(key), "]), got ", TypeName(node->type())));
    return nullptr;
  }
  return node->as_table();
}

const toml::array* TomlTableReader::TableArray(absl::string_view key) {
  const toml::node* node = table_.get(AsStd(key));
  if (node == nullptr) return nullptr;
  const toml::array* array = node->as_array();
  if (array == nullptr || !array->is_array_of_tables()) {
    Bad(*node, key,
        absl::StrCat("expected an array of tables ([[", Key(key), "]] sections), got ",
                     TypeName(node->type())));
    return nullptr;
  }
  return array;
}

}  // namespace acme_signer
