// A small declarative command-line parser for the two binaries' subcommands.
// Flags are `--name VALUE`, `--name=VALUE`, boolean `--name`, and optional one-letter aliases
// (`-d VALUE`). Repeatable flags collect every occurrence (certbot's `-d a -d b`).
// Unknown flags, missing values, values given to boolean flags, stray positional arguments and
// repeats of non-repeatable flags are errors that name the flag, and never echo the argument
// after an unknown flag (it may be a secret, e.g. certbot's `--eab-hmac-key KEY`).
// Kept over CLI11 (Debian's libcli11-dev) because CLI11 reports unknown flags by listing every
// unexpected argument, values included, and because the texts are certbot-like and tested.
// Not thread-safe; used once per process in main().
#ifndef ACME_SIGNER_COMMON_CLI_H_
#define ACME_SIGNER_COMMON_CLI_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer {

class ArgParser {
 public:
  // `usage` is the first help line, e.g. "acme-signer init --config FILE [options]".
  explicit ArgParser(std::string usage) : usage_(std::move(usage)) {}

  // A flag taking a value. `value_name` appears in --help ("FILE").
  ArgParser& Value(std::string name, std::string value_name, std::string help,
                   char alias = '\0');
  // A flag taking a value that may be given many times.
  ArgParser& Repeated(std::string name, std::string value_name, std::string help,
                      char alias = '\0');
  // A boolean flag.
  ArgParser& Bool(std::string name, std::string help, char alias = '\0');
  // Marks a value flag as required: Parse fails naming it when absent.
  ArgParser& Required(absl::string_view name);

  // Parses args (without the program and subcommand names). `--help`/`-h` sets help_requested().
  absl::Status Parse(const std::vector<std::string>& args);
  // Parses the options in front of a subcommand (`acme-agent --config F certonly ...`, as
  // certbot allows): stops at the first argument that is not an option or an option's value
  // and returns its index (args.size() when there is none). Required options are not checked
  // here: the subcommand's own parser is given these options again and checks them.
  absl::StatusOr<size_t> ParseUntilPositional(const std::vector<std::string>& args);

  bool help_requested() const { return help_requested_; }
  bool Has(absl::string_view name) const;
  std::optional<std::string> Get(absl::string_view name) const;
  std::string GetOr(absl::string_view name, std::string fallback) const;
  std::vector<std::string> GetAll(absl::string_view name) const;
  // Parses the flag's value as an integer within [min, max]; the error names the flag.
  absl::StatusOr<std::optional<long>> GetInt(absl::string_view name, long min, long max) const;

  std::string Help() const;

 private:
  enum class Kind { kValue, kRepeated, kBool };
  struct Spec {
    std::string name;
    std::string value_name;
    std::string help;
    char alias;
    Kind kind;
    bool required = false;
  };
  ArgParser& Add(Spec spec);
  // Parse and ParseUntilPositional; `positional_at` is null for Parse (a positional argument
  // is then an error).
  absl::Status ParseOptions(const std::vector<std::string>& args, size_t* positional_at);
  const Spec* Find(absl::string_view name) const;
  const Spec* FindAlias(char alias) const;

  std::string usage_;
  std::vector<Spec> specs_;
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
  bool help_requested_ = false;
};

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_CLI_H_
