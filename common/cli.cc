#include "common/cli.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace acme_signer {

ArgParser& ArgParser::Add(Spec spec) {
  specs_.push_back(std::move(spec));
  return *this;
}

ArgParser& ArgParser::Value(std::string name, std::string value_name, std::string help,
                            char alias) {
  return Add({std::move(name), std::move(value_name), std::move(help), alias, Kind::kValue});
}

ArgParser& ArgParser::Repeated(std::string name, std::string value_name, std::string help,
                               char alias) {
  return Add({std::move(name), std::move(value_name), std::move(help), alias, Kind::kRepeated});
}

ArgParser& ArgParser::Bool(std::string name, std::string help, char alias) {
  return Add({std::move(name), "", std::move(help), alias, Kind::kBool});
}

ArgParser& ArgParser::Required(absl::string_view name) {
  for (Spec& spec : specs_) {
    if (spec.name == name) spec.required = true;
  }
  return *this;
}

const ArgParser::Spec* ArgParser::Find(absl::string_view name) const {
  for (const Spec& spec : specs_) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

const ArgParser::Spec* ArgParser::FindAlias(char alias) const {
  for (const Spec& spec : specs_) {
    if (alias != '\0' && spec.alias == alias) return &spec;
  }
  return nullptr;
}

absl::Status ArgParser::Parse(const std::vector<std::string>& args) {
  return ParseOptions(args, nullptr);
}

absl::StatusOr<size_t> ArgParser::ParseUntilPositional(const std::vector<std::string>& args) {
  size_t positional_at = args.size();
  RETURN_IF_ERROR(ParseOptions(args, &positional_at));
  return positional_at;
}

absl::Status ArgParser::ParseOptions(const std::vector<std::string>& args, size_t* positional_at) {
  values_.clear();
  help_requested_ = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    const Spec* spec = nullptr;
    std::optional<std::string> inline_value;
    std::string shown = arg;
    if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
      std::string body = arg.substr(2);
      size_t eq = body.find('=');
      if (eq != std::string::npos) {
        inline_value = body.substr(eq + 1);
        body.resize(eq);
      }
      shown = "--" + body;
      spec = Find(body);
    } else if (arg.size() == 2 && arg[0] == '-' && arg[1] != '-') {
      spec = FindAlias(arg[1]);
    } else if (positional_at != nullptr) {
      *positional_at = i;
      return absl::OkStatus();
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", arg, "' (options start with --; see --help)"));
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option ", shown, " (see --help)"));
    }
    if (spec->kind == Kind::kBool) {
      if (inline_value.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat("option --", spec->name, " takes no value"));
      }
      values_[spec->name].push_back("true");
      continue;
    }
    std::string value;
    if (inline_value.has_value()) {
      value = *inline_value;
    } else {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("option --", spec->name, " needs a value (", spec->value_name, ")"));
      }
      value = args[++i];
    }
    auto& slot = values_[spec->name];
    if (spec->kind == Kind::kValue && !slot.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("option --", spec->name, " given twice"));
    }
    slot.push_back(std::move(value));
  }
  if (!help_requested_ && positional_at == nullptr) {
    for (const Spec& spec : specs_) {
      if (spec.required && !Has(spec.name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("missing required option --", spec.name, " ", spec.value_name));
      }
    }
  }
  return absl::OkStatus();
}

bool ArgParser::Has(absl::string_view name) const { return values_.find(name) != values_.end(); }

std::optional<std::string> ArgParser::Get(absl::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string ArgParser::GetOr(absl::string_view name, std::string fallback) const {
  auto value = Get(name);
  return value.has_value() ? *value : std::move(fallback);
}

std::vector<std::string> ArgParser::GetAll(absl::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return {};
  return it->second;
}

absl::StatusOr<std::optional<long>> ArgParser::GetInt(absl::string_view name, long min,
                                                      long max) const {
  auto value = Get(name);
  if (!value.has_value()) return std::optional<long>();
  long parsed = 0;
  const char* end = value->data() + value->size();
  auto [ptr, ec] = std::from_chars(value->data(), end, parsed);
  if (ec != std::errc() || ptr != end || parsed < min || parsed > max) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "option --%s must be a whole number from %d to %d, got '%s'", name, min, max, *value));
  }
  return std::optional<long>(parsed);
}

std::string ArgParser::Help() const {
  std::string out = absl::StrCat("usage: ", usage_, "\n\noptions:\n");
  for (const Spec& spec : specs_) {
    std::string left = spec.alias ? absl::StrCat("-", std::string(1, spec.alias), ", ") : "    ";
    absl::StrAppend(&left, "--", spec.name);
    if (spec.kind != Kind::kBool) absl::StrAppend(&left, " ", spec.value_name);
    absl::StrAppend(&out, absl::StrFormat("  %-34s %s%s%s\n", left, spec.help,
                                          spec.required ? " (required)" : "",
                                          spec.kind == Kind::kRepeated ? " (repeatable)" : ""));
  }
  absl::StrAppend(&out, absl::StrFormat("  %-34s %s\n", "-h, --help", "show this help"));
  return out;
}

}  // namespace acme_signer
