#include "tests/testing/softhsm_token.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"

extern char** environ;

namespace acme_signer::testing {
namespace {

constexpr char kModuleConfig[] = "/usr/share/p11-kit/modules/softhsm2.module";

struct State {
  std::mutex mutex;
  std::string dir;  // empty until created
  std::set<std::string> labels;
};

State& GetState() {
  static State* state = new State;
  return *state;
}

void RemoveDirAtExit() {
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mutex);
  if (state.dir.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(state.dir, ignored);
}

std::optional<std::string> FindInPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    std::string candidate = absl::StrCat(dir, "/", program);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

absl::StatusOr<std::string> EnsureDirLocked(State& state) {
  if (!state.dir.empty()) return state.dir;
  const char* tmp = std::getenv("TMPDIR");
  std::string templ =
      absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/acme-signer-softhsm-XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) return ErrnoStatus(errno, "mkdtemp for SoftHSM2");
  const std::string dir = templ;
  std::filesystem::create_directory(dir + "/tokens");
  const std::string conf = dir + "/softhsm2.conf";
  absl::Status written =
      WriteFileAtomically(conf,
                          absl::StrCat("directories.tokendir = ", dir,
                                       "/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
                                       "slots.removable = false\n"),
                          0600);
  if (!written.ok()) return written;
  // Must happen before anything in the process initializes the SoftHSM2 module.
  setenv("SOFTHSM2_CONF", conf.c_str(), 1);
  state.dir = dir;
  std::atexit(RemoveDirAtExit);
  return dir;
}

std::string RandomPin() {
  unsigned char bytes[12];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

// Runs softhsm2-util with stdout/stderr in `log`; returns its exit status.
absl::Status RunSoftHsmUtil(const std::string& program, const std::vector<std::string>& args,
                            const std::string& log) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid;
  int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return ErrnoStatus(rc, absl::StrCat("starting ", program));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoStatus(errno, "waitpid softhsm2-util");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    absl::StatusOr<std::string> output = ReadFile(log);
    return absl::InternalError(
        absl::StrCat("softhsm2-util --init-token failed: ", output.ok() ? *output : "(no output)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SoftHsmAvailable() {
  if (!FindInPath("softhsm2-util")) {
    return absl::FailedPreconditionError(
        "softhsm2-util is not installed (Debian package softhsm2)");
  }
  if (access(kModuleConfig, R_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("SoftHSM2 is not registered with p11-kit (", kModuleConfig, " missing)"));
  }
  return absl::OkStatus();
}

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && absl::AsciiStrToLower(ci) == "true";
}

absl::StatusOr<std::string> SoftHsmDir() {
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mutex);
  return EnsureDirLocked(state);
}

absl::StatusOr<SoftHsmToken> CreateSoftHsmToken(absl::string_view label) {
  if (absl::Status available = SoftHsmAvailable(); !available.ok()) return available;
  if (label.empty() || label.size() > 32) {
    return absl::InvalidArgumentError("token label must have 1 to 32 characters");
  }
  for (char c : label) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') {
      return absl::InvalidArgumentError(
          absl::StrCat("token label '", label, "' may only have letters, digits, - and _"));
    }
  }
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mutex);
  absl::StatusOr<std::string> dir = EnsureDirLocked(state);
  if (!dir.ok()) return dir.status();
  if (!state.labels.insert(std::string(label)).second) {
    return absl::AlreadyExistsError(absl::StrCat("SoftHSM2 token ", label, " already created"));
  }
  SoftHsmToken token;
  token.label = std::string(label);
  token.uri = absl::StrCat("pkcs11:token=", label);
  token.pin_file = absl::StrCat(*dir, "/", label, ".pin");
  const std::string pin = RandomPin();
  // Throwaway PINs of a token in a private temp dir: on softhsm2-util's argv (it has no other
  // non-interactive way to take them). Never do this with real PINs.
  absl::Status ran = RunSoftHsmUtil(
      *FindInPath("softhsm2-util"),
      {"--init-token", "--free", "--label", token.label, "--pin", pin, "--so-pin", RandomPin()},
      absl::StrCat(*dir, "/softhsm2-util.log"));
  if (!ran.ok()) return ran;
  absl::Status written = WriteFileAtomically(token.pin_file, pin, 0600);
  if (!written.ok()) return written;
  return token;
}

}  // namespace acme_signer::testing
