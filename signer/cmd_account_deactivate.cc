// PLACEHOLDER replaced by the helper implementing `acme-signer account deactivate` (issue 15).
#include <iostream>

#include "signer/commands.h"

namespace acme_signer::signer {

int RunAccountDeactivate(const std::vector<std::string>&) {
  std::cerr << "acme-signer account deactivate: not built yet\n";
  return kExitFailure;
}

}  // namespace acme_signer::signer
