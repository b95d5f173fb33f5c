// PLACEHOLDER replaced by the helper implementing `acme-signer account caa` (issue 15).
#include <iostream>

#include "signer/commands.h"

namespace acme_signer::signer {

int RunAccountCaa(const std::vector<std::string>&) {
  std::cerr << "acme-signer account caa: not built yet\n";
  return kExitFailure;
}

}  // namespace acme_signer::signer
