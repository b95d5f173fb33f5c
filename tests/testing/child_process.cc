#include "tests/testing/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace acme_signer::testing {
namespace {

std::string FileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const ChildResult& r) {
  return os << "exit " << r.exit_code << "\n--- stdout:\n" << r.out << "\n--- stderr:\n" << r.err;
}

ChildResult RunChild(const std::vector<std::string>& args, const ChildOptions& options) {
  static std::atomic<int> count{0};
  const int n = count++;
  const std::string out_path = absl::StrCat(options.scratch_dir, "/run-", n, ".out");
  const std::string err_path = absl::StrCat(options.scratch_dir, "/run-", n, ".err");
  ChildResult result;
  // Everything the child needs is prepared before fork().
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  // extra_env overrides the inherited variable of the same name (glibc's getenv takes the
  // first match, so an inherited REQUESTS_CA_BUNDLE would otherwise win).
  auto overridden = [&options](const char* entry) {
    const absl::string_view text(entry);
    const absl::string_view name = text.substr(0, text.find('='));
    for (const std::string& e : options.extra_env) {
      if (absl::string_view(e).substr(0, e.find('=')) == name) return true;
    }
    return false;
  };
  for (char** e = environ; *e != nullptr; ++e) {
    if (!overridden(*e)) envp.push_back(*e);
  }
  for (const std::string& e : options.extra_env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (in < 0 || out < 0 || err < 0) {
    result.err = absl::StrCat("cannot open capture files: ", std::strerror(errno));
    for (int fd : {in, out, err}) {
      if (fd >= 0) ::close(fd);
    }
    return result;
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(127);
    if (options.before_exec && !options.before_exec()) ::_exit(126);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(in);
  ::close(out);
  ::close(err);
  if (pid < 0) {
    result.err = absl::StrCat("fork: ", std::strerror(errno));
    return result;
  }
  const absl::Time deadline = absl::Now() + options.timeout;
  int wait_status = 0;
  while (true) {
    const pid_t r = ::waitpid(pid, &wait_status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      result.err = absl::StrCat("waitpid: ", std::strerror(errno), "\n");
      return result;
    }
    if (absl::Now() >= deadline) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
      }
      result.err = "[killed: ran longer than the test's timeout]\n";
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  if (WIFEXITED(wait_status)) result.exit_code = WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) result.exit_code = 128 + WTERMSIG(wait_status);
  result.out = FileOrEmpty(out_path);
  result.err += FileOrEmpty(err_path);
  ::unlink(out_path.c_str());
  ::unlink(err_path.c_str());
  return result;
}

}  // namespace acme_signer::testing
