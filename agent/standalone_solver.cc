#include "agent/standalone_solver.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace acme_signer::agent {

StandaloneSolver::StandaloneSolver(std::string address, int port)
    : address_(std::move(address)), port_(port) {}

StandaloneSolver::~StandaloneSolver() { CleanUp(); }

absl::Status StandaloneSolver::Start() {
  if (port_ < 1 || port_ > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--http-01-port ", port_, " is not a port"));
  }
  http::Http01Responder::Options options;
  options.address = address_.empty() ? "0.0.0.0" : address_;
  options.port = static_cast<uint16_t>(port_);
  responder_ = std::make_unique<http::Http01Responder>(options);
  absl::Status started = responder_->Start();
  if (!started.ok()) {
    responder_.reset();
    return absl::Status(started.code(),
                        absl::StrCat(started.message(),
                                     " (is a web server using the port? stop it with --pre-hook, "
                                     "or use --webroot)"));
  }
  return absl::OkStatus();
}

absl::Status StandaloneSolver::Present(const ChallengeTask& task) {
  if (responder_ == nullptr) return absl::FailedPreconditionError("standalone server not started");
  RETURN_IF_ERROR(responder_->AddToken(task.token, task.key_authorization));
  tokens_.push_back(task.token);
  return absl::OkStatus();
}

void StandaloneSolver::CleanUp() {
  if (responder_ == nullptr) return;
  for (const std::string& token : tokens_) responder_->RemoveToken(token);
  tokens_.clear();
  responder_->Stop();
  responder_.reset();
}

}  // namespace acme_signer::agent
