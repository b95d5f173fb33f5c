// StandaloneSolver: http-01 answered by the engine's built-in responder
// (http/http01_responder.h) on --http-01-address:--http-01-port, like certbot --standalone.
#ifndef ACME_SIGNER_AGENT_STANDALONE_SOLVER_H_
#define ACME_SIGNER_AGENT_STANDALONE_SOLVER_H_

#include <memory>
#include <string>
#include <vector>

#include "agent/challenge_solver.h"
#include "http/http01_responder.h"

namespace acme_signer::agent {

class StandaloneSolver final : public ChallengeSolver {
 public:
  // `address` "" listens on all addresses (0.0.0.0).
  StandaloneSolver(std::string address, int port);
  ~StandaloneSolver() override;
  absl::string_view ChallengeType() const override { return "http-01"; }
  absl::Status Start() override;
  absl::Status Present(const ChallengeTask& task) override;
  void CleanUp() override;

 private:
  std::string address_;
  int port_;
  std::unique_ptr<http::Http01Responder> responder_;
  std::vector<std::string> tokens_;
};

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_STANDALONE_SOLVER_H_
