#include "signer/admin_identity.h"

#include <pwd.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace acme_signer::signer {

std::string AdminIdentity(uid_t uid) {
  struct passwd entry {};
  struct passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    return absl::StrCat("admin:", found->pw_name);
  }
  return absl::StrCat("admin:uid-", uid);
}

}  // namespace acme_signer::signer
