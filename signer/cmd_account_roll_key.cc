// PLACEHOLDER replaced by the helper implementing `acme-signer account roll-key` (issue 15).
#include <iostream>

#include "signer/commands.h"

namespace acme_signer::signer {

int RunAccountRollKey(const std::vector<std::string>&) {
  std::cerr << "acme-signer account roll-key: not built yet\n";
  return kExitFailure;
}

}  // namespace acme_signer::signer
