// ChallengeSolver: how the agent answers a CA challenge on this host. One solver per
// certificate request; it may be asked for several names. Implementations:
// standalone_solver.h (http-01 from a built-in server), webroot_solver.h (http-01 through an
// existing web server's document root) and hook_solver.h (a command, e.g. for dns-01).
// Not thread-safe: the order flow (agent/order_flow.h) drives it from one thread.
#ifndef ACME_SIGNER_AGENT_CHALLENGE_SOLVER_H_
#define ACME_SIGNER_AGENT_CHALLENGE_SOLVER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace acme_signer::agent {

// What a solver needs of one challenge.
struct ChallengeTask {
  std::string domain;             // the identifier (without "*." for wildcards)
  std::string token;              // the challenge token
  std::string key_authorization;  // token.thumbprint (http-01 body)
  std::string dns01_txt_value;    // base64url(SHA-256(key authorization)) for dns-01
  int remaining = 0;              // challenges still to present after this one
  std::string all_domains;        // comma-separated, for hooks (CERTBOT_ALL_DOMAINS)
};

class ChallengeSolver {
 public:
  virtual ~ChallengeSolver() = default;
  // The ACME challenge type this solver answers: "http-01" or "dns-01".
  virtual absl::string_view ChallengeType() const = 0;
  // Called once before any Present (e.g. to bind the port). Errors say what to fix.
  virtual absl::Status Start() { return absl::OkStatus(); }
  // Makes the answer to `task` available to the CA.
  virtual absl::Status Present(const ChallengeTask& task) = 0;
  // Removes everything Present made. Called once at the end, after success or failure.
  virtual void CleanUp() = 0;
};

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_CHALLENGE_SOLVER_H_
