#include "hsm/key_type.h"

#include "absl/strings/str_cat.h"

namespace acme_signer::hsm {
namespace {

struct NamedType {
  KeyType type;
  absl::string_view name;
};
constexpr NamedType kTypes[] = {
    {KeyType::kEcP256, "ec-p256"},   {KeyType::kEcP384, "ec-p384"},
    {KeyType::kRsa2048, "rsa-2048"}, {KeyType::kRsa3072, "rsa-3072"},
    {KeyType::kRsa4096, "rsa-4096"},
};

}  // namespace

absl::StatusOr<KeyType> ParseKeyType(absl::string_view name) {
  for (const NamedType& t : kTypes) {
    if (t.name == name) return t.type;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown key type '", name, "'; use ec-p256, ec-p384, rsa-2048, rsa-3072 or rsa-4096"));
}

std::string KeyTypeName(KeyType type) {
  for (const NamedType& t : kTypes) {
    if (t.type == type) return std::string(t.name);
  }
  return "unknown";
}

absl::string_view JwsAlgorithm(KeyType type) {
  switch (type) {
    case KeyType::kEcP256:
      return "ES256";
    case KeyType::kEcP384:
      return "ES384";
    default:
      return "RS256";
  }
}

}  // namespace acme_signer::hsm
