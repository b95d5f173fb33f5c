// Fuzzes the front door's request authentication (acme/jws_verify.h), the first code an
// unauthenticated client on the network reaches: every input must end in a problem document or a
// verified request, never a crash, a hang or a leak. The same input is also fed to the EAB and
// keyChange checks as the payload of an outer request that already verified (ES256, a fixed
// key), so their inner-JWS parsing is reached without the fuzzer having to forge a signature.
#include <cstddef>
#include <cstdint>
#include <string>

#include "acme/jws_verify.h"
#include "acme/server_problem.h"
#include "common/secret.h"
#include "fuzz/fuzz_support.h"

namespace acme_signer::acme {
namespace {

constexpr char kAccountUrl[] = "https://fd.test/acme/acct/1";
constexpr char kNewOrderUrl[] = "https://fd.test/acme/new-order";

// A valid P-256 public key (RFC 7638 canonical form) standing for the account's stored key.
constexpr char kAccountJwk[] =
    R"({"crv":"P-256","kty":"EC","x":"UhKerSCYVzEZCfZaDnZWnNhgg2jGT9gz9lWMmtfXKlo",)"
    R"("y":"4j3JUJ0JhFt2rq4wQuw3TmAAzZk95nrZs5-j96VjqS8"})";

void Exercise(absl::string_view input) {
  const AccountKeyLookup lookup = [](absl::string_view kid) -> absl::StatusOr<std::string> {
    if (kid == kAccountUrl) return std::string(kAccountJwk);
    return absl::NotFoundError("no such account");
  };
  const NonceConsumer nonces = [](absl::string_view nonce) -> absl::Status {
    if (nonce.empty()) return ServerProblemStatus(problem_type::kBadNonce, "empty nonce");
    return absl::OkStatus();
  };
  const EabKeyLookup eab_keys = [](absl::string_view kid) -> absl::StatusOr<Secret> {
    if (kid == "kid-1") return Secret(std::string(32, '\x42'));
    return absl::NotFoundError("unknown key id");
  };
  for (JwsKeyForm form : {JwsKeyForm::kKid, JwsKeyForm::kJwk, JwsKeyForm::kJwkOrKid}) {
    JwsRequestRules rules{kNewOrderUrl, form, kDefaultMaxJwsBodySize};
    absl::StatusOr<VerifiedJws> verified = VerifyJwsRequest(input, rules, lookup, nonces);
    if (!verified.ok()) (void)ProblemForStatus(verified.status()).ToJson();
  }

  VerifiedJws outer;
  outer.alg = "ES256";
  outer.url = kNewOrderUrl;
  outer.nonce = "n";
  outer.kid = kAccountUrl;
  outer.jwk = kAccountJwk;
  outer.payload = std::string(input);
  if (absl::StatusOr<VerifiedKeyChange> change = VerifyKeyChange(outer); !change.ok()) {
    (void)ProblemForStatus(change.status()).ToJson();
  }
  outer.kid.clear();
  if (absl::StatusOr<nlohmann::json> payload = ParseJwsPayloadObject(input); payload.ok()) {
    absl::StatusOr<VerifiedEab> eab = VerifyExternalAccountBinding(*payload, outer, eab_keys);
    if (!eab.ok()) (void)ProblemForStatus(eab.status()).ToJson();
  }
}

}  // namespace
}  // namespace acme_signer::acme

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  acme_signer::acme::Exercise(acme_signer::fuzz::AsText(data, size));
  return 0;
}
