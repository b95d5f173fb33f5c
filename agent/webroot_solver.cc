#include "agent/webroot_solver.h"

#include <sys/stat.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace acme_signer::agent {

WebrootSolver::WebrootSolver(std::string webroot_path) : webroot_path_(std::move(webroot_path)) {}

WebrootSolver::~WebrootSolver() { CleanUp(); }

absl::Status WebrootSolver::Start() {
  if (webroot_path_.empty()) {
    return absl::InvalidArgumentError(
        "--webroot needs --webroot-path DIR (the document root your web server serves "
        "/.well-known/acme-challenge/ from)");
  }
  struct stat st;
  if (::stat(webroot_path_.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("webroot ", webroot_path_, " does not exist; check --webroot-path"));
    }
    return ErrnoStatus(err,
                       absl::StrCat("cannot use webroot ", webroot_path_, " (--webroot-path)"));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("webroot ", webroot_path_, " is not a directory; check --webroot-path"));
  }
  return absl::OkStatus();
}

absl::Status WebrootSolver::Present(const ChallengeTask& task) {
  ASSIGN_OR_RETURN(WebrootChallenge published,
                   WebrootChallenge::Publish(webroot_path_, task.token, task.key_authorization));
  published_.push_back(std::move(published));
  return absl::OkStatus();
}

void WebrootSolver::CleanUp() {
  // Newest first: directories a first challenge created are removed by its object, after the
  // later files in them are gone.
  while (!published_.empty()) {
    published_.back().Remove().IgnoreError();
    published_.pop_back();
  }
}

}  // namespace acme_signer::agent
