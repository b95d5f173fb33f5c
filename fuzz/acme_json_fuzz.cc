// Fuzzes the parsers of what an ACME server sends back (acme/resources.h, acme/problem.h): a
// malicious or broken CA must get an error, never a crash. Every parser sees every input, so
// one corpus of directory/account/order/authz/challenge/problem documents serves them all.
#include <cstddef>
#include <cstdint>

#include "acme/problem.h"
#include "acme/resources.h"
#include "fuzz/fuzz_support.h"

namespace acme_signer::acme {
namespace {

void Exercise(absl::string_view json) {
  (void)ParseDirectory(json);
  (void)ParseAccount(json);
  if (auto order = ParseOrder(json); order.ok() && order->error.has_value()) {
    (void)ProblemToStatus(*order->error, "fuzzing");
  }
  if (auto authz = ParseAuthorization(json); authz.ok()) {
    (void)authz->Find(kHttp01);
  }
  if (auto challenge = ParseChallenge(json); challenge.ok()) {
    (void)challenge->IsKnownType();
  }
  if (auto problem = ParseProblem(json); problem.ok()) {
    // The status path is what the signer and agent show users: exercise it and the payload
    // round trip too.
    const absl::Status status = ProblemToStatus(*problem, "fuzzing");
    (void)GetProblem(status);
    (void)problem->ShortType();
  }
}

}  // namespace
}  // namespace acme_signer::acme

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  acme_signer::acme::Exercise(acme_signer::fuzz::AsText(data, size));
  return 0;
}
