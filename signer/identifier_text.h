// The text form of an ACME identifier at the signer's storage and log boundary: "type:value"
// (e.g. "dns:www.example.com"), as the state store's JSON columns and the audit log's
// "identifiers" arrays keep it. In memory the signer holds Identifier (signer/name_policy.h);
// only the state store and the audit record convert, through these functions.
// Pure functions; thread-safe.
#ifndef ACME_SIGNER_SIGNER_IDENTIFIER_TEXT_H_
#define ACME_SIGNER_SIGNER_IDENTIFIER_TEXT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "signer/name_policy.h"

namespace acme_signer::signer {

// "type:value".
std::string IdentifierText(const Identifier& identifier);
std::vector<std::string> IdentifierTexts(const std::vector<Identifier>& identifiers);

// The reverse of IdentifierText: the type is everything before the first ':'. InvalidArgument
// naming the text when it has no ':' or an empty type.
absl::StatusOr<Identifier> ParseIdentifierText(absl::string_view text);
absl::StatusOr<std::vector<Identifier>> ParseIdentifierTexts(const std::vector<std::string>& texts);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_IDENTIFIER_TEXT_H_
