// Fuzzes signer::CheckCsr on DER input with a fixed order (a.lab.test, b.lab.test) and a
// policy allowing **.lab.test with every key type; the account key is the fixed fuzz key.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "signer/csr_checks.h"
#include "signer/name_policy.h"

namespace acme_signer::signer {
namespace {

const AgentPolicy& Policy() {
  static const AgentPolicy* const policy = [] {
    auto* p = new AgentPolicy;
    p->name = "web1";
    p->allowed_names = {"**.lab.test", "exact.example"};
    p->allow_wildcard_certificates = true;
    p->key_types = {"ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"};
    return p;
  }();
  return *policy;
}

const std::vector<Identifier>& OrderIdentifiers() {
  static const std::vector<Identifier>* const ids =
      new std::vector<Identifier>{{"dns", "a.lab.test"}, {"dns", "b.lab.test"}};
  return *ids;
}

}  // namespace
}  // namespace acme_signer::signer

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace acme_signer;
  (void)signer::CheckCsr(fuzz::AsText(data, size), signer::OrderIdentifiers(), signer::Policy(),
                         fuzz::FixedKeySpkiDer());
  return 0;
}
