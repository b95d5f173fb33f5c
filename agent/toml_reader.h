// Strict reading of TOML tables for the agent's configuration files: every key must be known,
// every value must have the right type and range, and each error names the file, line and key
// ("agent.toml:12: signer.address: expected a string"). Wraps toml++ so that its exceptions
// never leave this module.
// Not thread-safe; one reader per table being decoded.
#ifndef ACME_SIGNER_AGENT_TOML_READER_H_
#define ACME_SIGNER_AGENT_TOML_READER_H_

#include <toml++/toml.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer::agent {

// Parses TOML text. InvalidArgument "<source>:<line>:<column>: <parser message>" on bad syntax.
absl::StatusOr<toml::table> ParseToml(absl::string_view text, const std::string& source);

class TomlTableReader {
 public:
  // `section` is the dotted path of `table` ("" for the root), used in messages.
  TomlTableReader(const toml::table& table, std::string source, std::string section);
  TomlTableReader(const TomlTableReader&) = delete;
  TomlTableReader& operator=(const TomlTableReader&) = delete;

  // Each getter leaves `out` unchanged when the key is absent and returns InvalidArgument when
  // the key is present with the wrong type or out of range.
  absl::Status String(absl::string_view key, std::string* out);
  absl::Status NonEmptyString(absl::string_view key, std::string* out);
  absl::Status Bool(absl::string_view key, bool* out);
  absl::Status Int(absl::string_view key, int64_t min, int64_t max, int64_t* out);
  absl::Status StringArray(absl::string_view key, std::vector<std::string>* out);
  // Sets *out to the sub-table, or nullptr when absent.
  absl::Status Table(absl::string_view key, const toml::table** out);

  // InvalidArgument naming the first key that no getter asked for.
  absl::Status RejectUnknownKeys() const;

  // "<source>:<line>: <section.key>: <message>" for a value that parsed but is not acceptable.
  absl::Status ValueError(absl::string_view key, absl::string_view message) const;

 private:
  const toml::node* Find(absl::string_view key);
  std::string Where(const toml::node* node) const;
  std::string QualifiedKey(absl::string_view key) const;

  const toml::table& table_;
  std::string source_;
  std::string section_;
  absl::flat_hash_set<std::string> seen_;
};

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_TOML_READER_H_
