// The one strict reader of TOML configuration files (the signer's signer.toml, the agent's
// agent.toml and renewal/NAME.conf). Strict means: every key of a table must be known, every
// value must have the right type and range, and every problem names file, line and dotted key:
//
//   /etc/acme-signer/signer.toml:12: server.listen: expected a string, got an integer
//
// Problems are collected rather than returned one at a time, so one run shows the operator all
// of them. toml++ exceptions never leave this module.
//
// Thread-safety: TomlProblems and TomlTableReader are thread-compatible (one reader per table
// being decoded, one TomlProblems per file); ParseToml is thread-safe.
#ifndef ACME_SIGNER_COMMON_TOML_READER_H_
#define ACME_SIGNER_COMMON_TOML_READER_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "toml++/toml.h"

namespace acme_signer {

// Parses TOML text. InvalidArgument "invalid configuration:\n<source>:<line>:<column>: TOML
// syntax error: <what toml++ says>" on bad syntax.
absl::StatusOr<toml::table> ParseToml(absl::string_view text, const std::string& source);

// The problems found in one file, each rendered "<source>:<line>: <key>: <message>".
class TomlProblems {
 public:
  explicit TomlProblems(std::string source) : source_(std::move(source)) {}

  void At(int64_t line, absl::string_view key, absl::string_view message);
  // For a problem without a line (a missing table): "<source>: <key>: <message>".
  void AtFile(absl::string_view key, absl::string_view message);
  bool empty() const { return messages_.empty(); }
  size_t size() const { return messages_.size(); }
  // Every problem, rendered as above, in the order found.
  const std::vector<std::string>& messages() const { return messages_; }

  // OK when there is no problem; otherwise InvalidArgument "invalid configuration:\n" and one
  // problem per line (the first 50, then how many more: the first ones are fixed first).
  absl::Status ToStatus() const;

 private:
  const std::string source_;
  std::vector<std::string> messages_;
};

// Reads one TOML table: the constructor reports unknown keys, then each getter reports a
// missing required key, a wrong type or a bad value under the full dotted key and returns
// nullopt (or nullptr); an absent optional key also gives nullopt, without a problem.
class TomlTableReader {
 public:
  // `prefix` is the dotted path of `table` in messages ("" for the root, "server",
  // "agents[0]"); `known` lists the keys the table may have. Relative paths given to Path()
  // resolve against `base_dir`; when `base_dir` is empty only absolute paths are accepted.
  TomlTableReader(TomlProblems& problems, const toml::table& table, std::string prefix,
                  std::filesystem::path base_dir, std::initializer_list<absl::string_view> known);
  TomlTableReader(const TomlTableReader&) = delete;
  TomlTableReader& operator=(const TomlTableReader&) = delete;

  // "prefix.key" ("key" at the root).
  std::string Key(absl::string_view key) const;
  // The line of the table itself.
  int64_t line() const;

  // The node for `key`, or nullptr (reporting it when required).
  const toml::node* Find(absl::string_view key, bool required);
  // Reports a value that parsed but is not acceptable, at the line of `node`.
  void Bad(const toml::node& node, absl::string_view key, absl::string_view message);
  // Same, at the line of `key` (or of the table when `key` is absent: a default that does not
  // fit a value given elsewhere).
  void Bad(absl::string_view key, absl::string_view message);

  // A non-empty string without NUL characters.
  std::optional<std::string> String(absl::string_view key, bool required);
  // A string that may be empty ("" meaning "not set" in files the agent writes), without NUL.
  std::optional<std::string> StringOrEmpty(absl::string_view key);
  // A path ('~' is refused: nothing expands it), made absolute and normalised (see the
  // constructor).
  std::optional<std::string> Path(absl::string_view key, bool required);
  std::optional<bool> Bool(absl::string_view key);
  // An integer in [min, max].
  std::optional<int64_t> Int(absl::string_view key, int64_t min, int64_t max);

  // One element of a string array; problems with it are reported under `key` ("contact[1]").
  struct Element {
    std::string value;
    const toml::node* node;
    std::string key;
  };
  // An array of non-empty strings (nullopt when any element is not one).
  std::optional<std::vector<Element>> StringArray(absl::string_view key, bool required);

  // The sub-table `key` ([prefix.key]), or nullptr.
  const toml::table* Table(absl::string_view key, bool required);
  // The array of tables `key` ([[key]] sections), or nullptr.
  const toml::array* TableArray(absl::string_view key);

 private:
  bool TypeIs(const toml::node& node, absl::string_view key, toml::node_type want);
  std::optional<std::string> CheckString(const toml::node& node, absl::string_view key,
                                         const std::string& value, bool allow_empty);

  TomlProblems& problems_;
  const toml::table& table_;
  const std::string prefix_;
  const std::filesystem::path base_dir_;
};

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_TOML_READER_H_
