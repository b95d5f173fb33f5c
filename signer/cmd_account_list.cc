// PLACEHOLDER replaced by the helper implementing `acme-signer account list` (issue 15).
#include <iostream>

#include "signer/commands.h"

namespace acme_signer::signer {

int RunAccountList(const std::vector<std::string>&) {
  std::cerr << "acme-signer account list: not built yet\n";
  return kExitFailure;
}

}  // namespace acme_signer::signer
