#include "signer/identifier_text.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace acme_signer::signer {

std::string IdentifierText(const Identifier& identifier) {
  return absl::StrCat(identifier.type, ":", identifier.value);
}

std::vector<std::string> IdentifierTexts(const std::vector<Identifier>& identifiers) {
  std::vector<std::string> out;
  out.reserve(identifiers.size());
  for (const Identifier& identifier : identifiers) out.push_back(IdentifierText(identifier));
  return out;
}

absl::StatusOr<Identifier> ParseIdentifierText(absl::string_view text) {
  const size_t colon = text.find(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("identifier \"", EscapeForError(text), "\" is not of the form type:value"));
  }
  return Identifier{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

absl::StatusOr<std::vector<Identifier>> ParseIdentifierTexts(
    const std::vector<std::string>& texts) {
  std::vector<Identifier> out;
  out.reserve(texts.size());
  for (const std::string& text : texts) {
    ASSIGN_OR_RETURN(Identifier identifier, ParseIdentifierText(text));
    out.push_back(std::move(identifier));
  }
  return out;
}

}  // namespace acme_signer::signer
