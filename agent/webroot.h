// http-01 through an existing web server (certbot's --webroot): the key authorization is written
// to <webroot>/.well-known/acme-challenge/<token> and removed again when the challenge is done.
//
// The agent runs as root and writes into a tree the web server's user may control, so every
// path component below the webroot is opened with O_NOFOLLOW: a symlinked .well-known or token
// file planted by that user cannot redirect the write elsewhere. The token file is unlinked and
// recreated with O_EXCL (no writing through a hard link), mode 0644; directories the agent
// creates get 0755 and are removed again if they are empty at cleanup.
//
// Thread-safety: a WebrootChallenge is not thread-safe; distinct tokens may be handled by
// distinct objects concurrently.
#ifndef ACME_SIGNER_AGENT_WEBROOT_H_
#define ACME_SIGNER_AGENT_WEBROOT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/unique_fd.h"

namespace acme_signer::agent {

// InvalidArgument unless `token` is 1..256 characters of the base64url alphabet
// [A-Za-z0-9_-] (RFC 8555 §8.3 tokens); this excludes '/', '.', and so "..".
absl::Status ValidateChallengeToken(absl::string_view token);

// Owns one published challenge file. Destruction (or Remove()) deletes the file and the
// directories this object created, on every path including errors and exceptions.
class WebrootChallenge {
 public:
  // Publishes `key_authorization` for `token` under `webroot` (which must exist).
  // InvalidArgument for a bad token; NotFound when the webroot is missing;
  // FailedPrecondition when .well-known or acme-challenge is a symlink or not a directory;
  // other errno-derived codes naming the path.
  static absl::StatusOr<WebrootChallenge> Publish(const std::string& webroot,
                                                  absl::string_view token,
                                                  absl::string_view key_authorization);

  WebrootChallenge(WebrootChallenge&& other) noexcept;
  WebrootChallenge& operator=(WebrootChallenge&& other) noexcept;
  WebrootChallenge(const WebrootChallenge&) = delete;
  WebrootChallenge& operator=(const WebrootChallenge&) = delete;
  ~WebrootChallenge();

  // Full path of the published file.
  const std::string& path() const { return path_; }

  // Removes now and reports errors (the destructor ignores them). Idempotent.
  absl::Status Remove();

 private:
  WebrootChallenge() = default;

  std::string path_;
  std::string token_;
  UniqueFd webroot_fd_;
  UniqueFd well_known_fd_;
  UniqueFd challenge_fd_;
  bool created_well_known_ = false;
  bool created_challenge_dir_ = false;
  bool published_ = false;
};

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_WEBROOT_H_
