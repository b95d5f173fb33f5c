// Identifier: the ACME identifier object (RFC 8555 §7.1.3/§7.1.4), e.g.
// {"type":"dns","value":"a.example"}. A plain value type; thread-compatible.
#ifndef ACME_SIGNER_ACME_IDENTIFIER_H_
#define ACME_SIGNER_ACME_IDENTIFIER_H_

#include <string>

namespace acme_signer::acme {

struct Identifier {
  std::string type;  // "dns" (the only type this client orders) or whatever the CA reports
  std::string value;

  static Identifier Dns(std::string name) { return Identifier{"dns", std::move(name)}; }
  friend bool operator==(const Identifier&, const Identifier&) = default;
};

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_IDENTIFIER_H_
