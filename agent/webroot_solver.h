// WebrootSolver: http-01 through an existing web server's document root, like certbot
// --webroot --webroot-path DIR. Each challenge is published with WebrootChallenge (webroot.h:
// symlink-safe writes, RAII removal) as <DIR>/.well-known/acme-challenge/<token>; the web
// server must serve that path over plain HTTP on port 80 for every requested name.
// Not thread-safe (see challenge_solver.h).
#ifndef ACME_SIGNER_AGENT_WEBROOT_SOLVER_H_
#define ACME_SIGNER_AGENT_WEBROOT_SOLVER_H_

#include <string>
#include <vector>

#include "agent/challenge_solver.h"
#include "agent/webroot.h"

namespace acme_signer::agent {

class WebrootSolver final : public ChallengeSolver {
 public:
  explicit WebrootSolver(std::string webroot_path);
  ~WebrootSolver() override;
  WebrootSolver(const WebrootSolver&) = delete;
  WebrootSolver& operator=(const WebrootSolver&) = delete;

  absl::string_view ChallengeType() const override { return "http-01"; }
  // InvalidArgument when no path was given or it is not a directory; NotFound when it does
  // not exist. Messages name the path and --webroot-path.
  absl::Status Start() override;
  // Writes the key authorization; errors are WebrootChallenge::Publish's (they name the path).
  absl::Status Present(const ChallengeTask& task) override;
  // Removes every published file (and the directories it created). Never fails: a file that
  // cannot be removed is left behind silently, as certbot does.
  void CleanUp() override;

 private:
  std::string webroot_path_;
  std::vector<WebrootChallenge> published_;
};

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_WEBROOT_SOLVER_H_
