// Disk faults during an install, with the REAL `acme-agent` binary against a SignerLab (real
// `acme-signer serve`, SoftHSM2, Pebble with EAB): a file system that fills up halfway through
// writing a new version, a read-only config dir (all of it, or only live/), and a SIGKILL
// between writing the archive and switching live/. Each starts from a lineage whose version 1
// is installed and usable, and checks that version 1 stays live and usable, that nothing of
// the failed attempt is left behind, that the message names the path and the error, and that
// the next run (once the cause is gone) installs version 2.
//
// How the faults are made. As root with CAP_SYS_ADMIN (this machine, CI as root), a helper
// process holds a private mount namespace; the agent is run inside it (setns) over a small
// tmpfs (real ENOSPC) or a read-only bind mount (real EROFS), and the test looks into the
// namespace through /proc/<holder>/root. Without CAP_SYS_ADMIN the test says so and falls back
// to what needs no privilege: RLIMIT_FSIZE on the agent (the kernel's EFBIG, "File too large",
// for "the disk fills") and the agent run as `nobody` under a root-owned live/ (EACCES, for
// "cannot write"). ACME_SIGNER_TEST_NO_MOUNT_NS=1 forces the fallback, to test it here. The
// kill uses the agent's debug-build-only seam ACME_AGENT_TEST_KILL_AT=<lineage step>.
#include <fcntl.h>
#include <grp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/certificate_reading.h"
#include "tests/testing/child_process.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

extern char** environ;

namespace acme_signer {
namespace {

namespace fs = std::filesystem;

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::SignerLab;

constexpr char kAgent[] = "web1";
constexpr char kBase[] = "web1.example.test";
constexpr absl::Duration kAgentTimeout = absl::Minutes(3);
constexpr uid_t kNobody = 65534;

// ---------------------------------------------------------------------------------------------
// Files and certificates.

std::string FileOrEmpty(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path, 16 << 20);
  return content.ok() ? *content : std::string();
}

std::string ReadLink(const std::string& path) {
  char buffer[4096];
  const ssize_t n = ::readlink(path.c_str(), buffer, sizeof(buffer));
  return n < 0 ? std::string() : std::string(buffer, static_cast<size_t>(n));
}

std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Every path below `dir` whose name looks like a temporary file (WriteFileAtomically's
// NAME.tmp.XXXXXX, a stale .NAME.next link).
std::vector<std::string> TempFilesBelow(const std::string& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (absl::StrContains(name, ".tmp.") || absl::EndsWith(name, ".next")) {
      found.push_back(it->path().string());
    }
  }
  return found;
}

using testing::ParseChain;

// "" when `leaf` verifies against `root_pem` with `untrusted` as intermediates, else why not.
std::string VerifyChain(X509* leaf, const std::vector<X509*>& untrusted,
                        absl::string_view root_pem) {
  std::vector<SslUniquePtr<X509>> roots = ParseChain(root_pem);
  if (roots.empty()) return "root PEM holds no certificate";
  SslUniquePtr<X509_STORE> store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), roots[0].get());
  struct StackFree {  // the stack borrows the certificates
    void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
  };
  std::unique_ptr<STACK_OF(X509), StackFree> chain(sk_X509_new_null());
  for (X509* cert : untrusted) sk_X509_push(chain.get(), cert);
  SslUniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, chain.get());
  if (X509_verify_cert(ctx.get()) == 1) return "";
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

SslUniquePtr<EVP_PKEY> ParsePrivateKey(absl::string_view pem) {
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return SslUniquePtr<EVP_PKEY>(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

// The text after `marker` up to the next space ("" when absent).
std::string WordAfter(absl::string_view text, absl::string_view marker) {
  const size_t at = text.find(marker);
  if (at == absl::string_view::npos) return "";
  absl::string_view rest = text.substr(at + marker.size());
  return std::string(rest.substr(0, rest.find(' ')));
}

// ---------------------------------------------------------------------------------------------
// A private mount namespace held open by a helper process. Mounts made in it (through a
// short-lived child that joins it) are invisible to everyone else and disappear with it; the
// test sees its files through root() = /proc/<holder>/root.

class MountNamespace {
 public:
  static absl::StatusOr<std::unique_ptr<MountNamespace>> Create() {
    int report[2], hold[2];
    if (::pipe2(report, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
    if (::pipe2(hold, O_CLOEXEC) != 0) {
      const int saved = errno;
      ::close(report[0]);
      ::close(report[1]);
      return ErrnoStatus(saved, "pipe");
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
      // Async-signal-safe calls only: the test process has other threads.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::close(report[0]);
      ::close(hold[1]);
      int err = 0;
      if (::unshare(CLONE_NEWNS) != 0 ||
          ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        err = errno;
      }
      if (::write(report[1], &err, sizeof(err)) != sizeof(err)) ::_exit(127);
      if (err != 0) ::_exit(1);
      char byte;
      while (::read(hold[0], &byte, 1) != 0) {
      }
      ::_exit(0);
    }
    ::close(report[1]);
    ::close(hold[0]);
    if (pid < 0) {
      const int saved = errno;
      ::close(report[0]);
      ::close(hold[1]);
      return ErrnoStatus(saved, "fork");
    }
    int err = -1;
    const ssize_t n = ::read(report[0], &err, sizeof(err));
    ::close(report[0]);
    std::unique_ptr<MountNamespace> ns(new MountNamespace(pid, hold[1]));
    if (n != sizeof(err)) return absl::InternalError("the namespace holder died");
    if (err != 0) return ErrnoStatus(err, "unshare(CLONE_NEWNS) and a private /");
    ns->ns_fd_ = ::open(absl::StrCat("/proc/", pid, "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC);
    if (ns->ns_fd_ < 0) return ErrnoStatus(errno, "open /proc/PID/ns/mnt");
    return ns;
  }

  ~MountNamespace() {
    if (ns_fd_ >= 0) ::close(ns_fd_);
    ::close(hold_fd_);  // the holder reads EOF and exits; its namespace goes with it
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  MountNamespace(const MountNamespace&) = delete;
  MountNamespace& operator=(const MountNamespace&) = delete;

  int fd() const { return ns_fd_; }
  // `path` as seen inside the namespace.
  std::string Inside(const std::string& path) const {
    return absl::StrCat("/proc/", pid_, "/root", path);
  }

  // mount(2) inside the namespace.
  absl::Status Mount(const char* source, const std::string& target, const char* type,
                     unsigned long flags, const std::string& data) {
    const char* data_ptr = data.empty() ? nullptr : data.c_str();
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (::setns(ns_fd_, CLONE_NEWNS) != 0) ::_exit(errno);
      if (::mount(source, target.c_str(), type, flags, data_ptr) != 0) ::_exit(errno);
      ::_exit(0);
    }
    if (pid < 0) return ErrnoStatus(errno, "fork");
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status)) return absl::InternalError("the mount helper crashed");
    if (WEXITSTATUS(status) != 0) {
      return ErrnoStatus(WEXITSTATUS(status), absl::StrCat("mount ", type != nullptr ? type : "",
                                                           " ", data, " on ", target));
    }
    return absl::OkStatus();
  }

  absl::Status MountTmpfs(const std::string& target, uint64_t bytes) {
    return Mount("tmpfs", target, "tmpfs", 0, absl::StrCat("size=", bytes, ",mode=0755"));
  }
  absl::Status ResizeTmpfs(const std::string& target, uint64_t bytes) {
    return Mount(nullptr, target, nullptr, MS_REMOUNT, absl::StrCat("size=", bytes));
  }
  absl::Status BindReadOnly(const std::string& dir) {
    RETURN_IF_ERROR(Mount(dir.c_str(), dir, nullptr, MS_BIND, ""));
    return Mount(nullptr, dir, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, "");
  }

 private:
  MountNamespace(pid_t pid, int hold_fd) : pid_(pid), hold_fd_(hold_fd) {}
  pid_t pid_;
  int hold_fd_;
  int ns_fd_ = -1;
};

// Copies the tree `from` into the existing directory `to`: directories, regular files and
// symlinks, with their modes (what a config dir holds).
absl::Status CopyTree(const std::string& from, const std::string& to) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(from, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string source = it->path().string();
    const std::string target = to + source.substr(from.size());
    struct stat st;
    if (::lstat(source.c_str(), &st) != 0) return ErrnoStatus(errno, source);
    const mode_t mode = st.st_mode & 07777;
    if (S_ISLNK(st.st_mode)) {
      if (::symlink(ReadLink(source).c_str(), target.c_str()) != 0) {
        return ErrnoStatus(errno, target);
      }
    } else if (S_ISDIR(st.st_mode)) {
      if (::mkdir(target.c_str(), mode) != 0 || ::chmod(target.c_str(), mode) != 0) {
        return ErrnoStatus(errno, target);
      }
    } else {
      ASSIGN_OR_RETURN(std::string content, ReadFile(source, 16 << 20));
      RETURN_IF_ERROR(WriteFileAtomically(target, content, mode));
    }
  }
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("copying ", from));
  return absl::OkStatus();
}

absl::Status ChownTree(const std::string& dir, uid_t uid, gid_t gid) {
  if (::lchown(dir.c_str(), uid, gid) != 0) return ErrnoStatus(errno, dir);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (::lchown(it->path().c_str(), uid, gid) != 0) return ErrnoStatus(errno, it->path().string());
  }
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("listing ", dir));
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Running acme-agent.

using AgentResult = testing::ChildResult;

// Where and how the agent child runs; everything is prepared before fork().
struct Confinement {
  int mount_ns_fd = -1;                   // setns() into this mount namespace
  std::optional<rlim_t> file_size_limit;  // RLIMIT_FSIZE, with SIGXFSZ ignored (EFBIG)
  std::optional<uid_t> uid;               // run as this uid (and gid) instead of root
  std::vector<std::string> extra_env;     // NAME=value
};

AgentResult RunProcess(const std::vector<std::string>& args, const std::string& scratch_dir,
                       const Confinement& confinement) {
  testing::ChildOptions options;
  options.scratch_dir = scratch_dir;
  options.timeout = kAgentTimeout;
  options.extra_env = confinement.extra_env;
  // In the child: async-signal-safe calls only.
  options.before_exec = [&confinement] {
    if (confinement.mount_ns_fd >= 0 && ::setns(confinement.mount_ns_fd, CLONE_NEWNS) != 0) {
      return false;
    }
    if (confinement.file_size_limit.has_value()) {
      ::signal(SIGXFSZ, SIG_IGN);  // kept across execve: write() then fails with EFBIG
      const rlimit limit{*confinement.file_size_limit, *confinement.file_size_limit};
      if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return false;
    }
    if (confinement.uid.has_value()) {
      const gid_t group = static_cast<gid_t>(*confinement.uid);
      if (::setgroups(0, nullptr) != 0 || ::setresgid(group, group, group) != 0 ||
          ::setresuid(*confinement.uid, *confinement.uid, *confinement.uid) != 0) {
        return false;
      }
    }
    return true;
  };
  return testing::RunChild(args, options);
}

// ---------------------------------------------------------------------------------------------

class AgentDiskFaultTest : public testing::SignerLabSuite<AgentDiskFaultTest> {
 public:
  static SignerLab::Options LabOptions() {
    testing::LabAgentPolicy web1;
    web1.name = kAgent;
    web1.allowed_names = {kBase, absl::StrCat("*.", kBase)};
    web1.orders_per_hour = 200;
    SignerLab::Options options;
    options.agents = {web1};
    options.enroll = {kAgent};
    return options;
  }

 protected:
  static void SetUpTestSuite() {
    SignerLabSuite::SetUpTestSuite();
    if (!lab_started()) return;
    // Outside the lab's 0700 directory, so the fallback can run the agent as nobody.
    std::string pattern = absl::StrCat(fs::temp_directory_path().string(), "/disk-fault-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr || ::chmod(pattern.c_str(), 0755) != 0) {
      FailSuiteSetUp(ErrnoStatus(errno, "mkdtemp"));
      return;
    }
    dir_ = new std::string(pattern);
    if (absl::Status s = WriteAgentConfig(); !s.ok()) FailSuiteSetUp(s);
    ProbeMountNamespace();
    std::cout << "[ disk faults ] " << mechanism() << std::endl;
  }

  static void TearDownTestSuite() {
    if (dir_ != nullptr) {
      std::error_code ec;
      fs::remove_all(*dir_, ec);
    }
    delete dir_;
    dir_ = nullptr;
    SignerLabSuite::TearDownTestSuite();
  }

  void SetUp() override {
    SignerLabSuite::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    RecordProperty("fault_mechanism", mechanism());
  }

  // Can this process make mount namespaces? If not, say why once.
  static void ProbeMountNamespace() {
    if (const char* force = std::getenv("ACME_SIGNER_TEST_NO_MOUNT_NS");
        force != nullptr && std::string(force) == "1") {
      no_mount_ns_reason_ = new std::string("ACME_SIGNER_TEST_NO_MOUNT_NS=1");
      return;
    }
    absl::StatusOr<std::unique_ptr<MountNamespace>> ns = MountNamespace::Create();
    absl::Status mounted = ns.ok() ? (*ns)->MountTmpfs(dir(), 64 << 10) : ns.status();
    if (!mounted.ok()) no_mount_ns_reason_ = new std::string(mounted.ToString());
  }
  static bool mount_ns() { return no_mount_ns_reason_ == nullptr; }
  static std::string mechanism() {
    return mount_ns() ? "mechanism: mount namespace (tmpfs for ENOSPC, read-only bind for EROFS)"
                      : absl::StrCat("mechanism: no mount namespace (", *no_mount_ns_reason_,
                                     "): RLIMIT_FSIZE for a full disk (EFBIG), the agent as "
                                     "uid 65534 under a root-owned live/ for an unwritable dir");
  }

  static const std::string& dir() { return *dir_; }
  static std::string config_path() { return absl::StrCat(dir(), "/agent.toml"); }
  static std::string config_dir(absl::string_view name) {
    return absl::StrCat(dir(), "/etc-", name);
  }
  static std::string Domain(absl::string_view name) { return absl::StrCat(name, ".", kBase); }

  // agent.toml for web1; its files are copied next to it (readable by nobody for the fallback).
  static absl::Status WriteAgentConfig() {
    ASSIGN_OR_RETURN(agent::SignerConnection connection, lab().Connection(kAgent));
    auto copy = [](const std::string& from, absl::string_view name) -> absl::StatusOr<std::string> {
      ASSIGN_OR_RETURN(std::string content, ReadFile(from));
      const std::string to = absl::StrCat(dir(), "/", name);
      RETURN_IF_ERROR(WriteFileAtomically(to, content, 0600));
      if (::chown(to.c_str(), kNobody, kNobody) != 0) return ErrnoStatus(errno, to);
      return to;
    };
    ASSIGN_OR_RETURN(std::string ca, copy(connection.ca_cert, "signer-ca.pem"));
    ASSIGN_OR_RETURN(std::string key, copy(connection.client_key, "agent.key"));
    ASSIGN_OR_RETURN(std::string cert, copy(connection.client_cert, "agent.pem"));
    auto quoted = [](absl::string_view s) { return absl::StrCat("\"", s, "\""); };
    std::string text = absl::StrCat("# Written by tests/integration/agent_disk_fault_test.cc\n",
                                    "config_dir = ", quoted(config_dir("unused")),
                                    "\n\n[signer]\naddress = ", quoted(lab().signer_address()),
                                    "\nca = ", quoted(ca), "\n");
    if (!connection.server_name.empty()) {
      absl::StrAppend(&text, "tls_server_name = ", quoted(connection.server_name), "\n");
    }
    absl::StrAppend(&text, "\n[identity]\ntrust_domain = ", quoted(lab().trust_domain()),
                    "\nname = ", quoted(kAgent), "\nkey = ", quoted(key), "\ncert = ", quoted(cert),
                    "\n\n[defaults]\nhook_timeout_seconds = 60\n");
    RETURN_IF_ERROR(WriteFileAtomically(config_path(), text, 0644));
    return absl::OkStatus();
  }

  // `acme-agent COMMAND --config agent.toml --config-dir etc-NAME ARGS...`
  static AgentResult Agent(absl::string_view command, absl::string_view name,
                           const std::vector<std::string>& args,
                           const Confinement& confinement = Confinement()) {
    std::vector<std::string> argv = {ACME_AGENT_BIN, std::string(command), "--config",
                                     config_path(),  "--config-dir",       config_dir(name)};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, dir(), confinement);
  }

  // Version 1 of lineage `name` (domain NAME.web1.example.test) in its own config dir.
  static void IssueVersion1(const std::string& name) {
    AgentResult r = Agent(
        "certonly", name,
        {"--non-interactive", "--cert-name", name, "-d", Domain(name), "--standalone",
         "--http-01-address", "127.0.0.1", "--http-01-port", absl::StrCat(lab().http_port())});
    ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
    ExpectUsable(config_dir(name), name, 1);
  }

  // `renew` of one lineage; `force` renews although it is not due.
  static AgentResult Renew(const std::string& name, bool force,
                           const Confinement& confinement = Confinement()) {
    std::vector<std::string> args = {"--cert-name", name};
    if (force) args.push_back("--force-renewal");
    return Agent("renew", name, args, confinement);
  }

  static int LiveVersion(const std::string& etc, const std::string& name) {
    const std::string link = ReadLink(absl::StrCat(etc, "/live/", name));
    const std::string prefix = absl::StrCat(".", name, ".v");
    int version = 0;
    if (!absl::StartsWith(link, prefix) ||
        !absl::SimpleAtoi(link.substr(prefix.size()), &version)) {
      return 0;
    }
    return version;
  }

  // What a web server needs: live/NAME at `version`, four links of certbot's form, the key
  // belongs to the certificate, fullchain = cert + chain, and the chain verifies to Pebble's
  // root. `etc` may be a path through /proc/PID/root.
  static void ExpectUsable(const std::string& etc, const std::string& name, int version) {
    SCOPED_TRACE(absl::StrCat("lineage ", name, " in ", etc));
    const std::string live = absl::StrCat(etc, "/live/", name);
    ASSERT_EQ(LiveVersion(etc, name), version) << "live/" << name << " -> " << ReadLink(live);
    for (const char* file : {"cert", "chain", "fullchain", "privkey"}) {
      EXPECT_EQ(ReadLink(absl::StrCat(live, "/", file, ".pem")),
                absl::StrCat("../../archive/", name, "/", file, version, ".pem"));
    }
    const std::string fullchain = FileOrEmpty(live + "/fullchain.pem");
    std::vector<SslUniquePtr<X509>> chain = ParseChain(fullchain);
    ASSERT_GE(chain.size(), 2u) << fullchain;
    EXPECT_EQ(fullchain, FileOrEmpty(live + "/cert.pem") + FileOrEmpty(live + "/chain.pem"));
    absl::StatusOr<std::string> root = lab().PebbleRootPem();
    ASSERT_TRUE(root.ok()) << root.status();
    std::vector<X509*> intermediates;
    for (size_t i = 1; i < chain.size(); ++i) intermediates.push_back(chain[i].get());
    EXPECT_EQ(VerifyChain(chain[0].get(), intermediates, *root), "");
    SslUniquePtr<EVP_PKEY> key = ParsePrivateKey(FileOrEmpty(live + "/privkey.pem"));
    ASSERT_NE(key, nullptr);
    EXPECT_EQ(X509_check_private_key(chain[0].get(), key.get()), 1)
        << "the live key is not the live certificate's";
    ERR_clear_error();
  }

  // Version 1's four PEM files, for "unchanged" checks.
  static std::vector<std::string> LivePems(const std::string& etc, const std::string& name) {
    std::vector<std::string> files;
    for (const char* file : {"cert", "chain", "fullchain", "privkey"}) {
      files.push_back(FileOrEmpty(absl::StrCat(etc, "/live/", name, "/", file, ".pem")));
    }
    return files;
  }

  static std::vector<std::string> Version1Archive() {
    return {"cert1.pem", "chain1.pem", "fullchain1.pem", "privkey1.pem"};
  }

  // Nothing of a failed attempt in `etc`: the archive holds version 1 only, live/ holds the
  // link and version 1's link directory, and no temporary file anywhere.
  static void ExpectOnlyVersion1(const std::string& etc, const std::string& name) {
    SCOPED_TRACE(absl::StrCat("leftovers in ", etc));
    EXPECT_EQ(DirEntries(absl::StrCat(etc, "/archive/", name)), Version1Archive());
    EXPECT_EQ(DirEntries(absl::StrCat(etc, "/live")),
              (std::vector<std::string>{absl::StrCat(".", name, ".v1"), "README", name}));
    EXPECT_THAT(TempFilesBelow(etc), ::testing::IsEmpty());
  }

  static size_t InventorySize() { return Inventory().size(); }

  static inline std::string* dir_ = nullptr;
  static inline std::string* no_mount_ns_reason_ = nullptr;
};

// ---------------------------------------------------------------------------------------------

TEST_F(AgentDiskFaultTest, FullDiskDuringRenewalKeepsVersion1LiveAndLeavesNothingBehind) {
  const std::string name = "full";
  const std::string etc = config_dir(name);
  IssueVersion1(name);
  if (HasFatalFailure()) return;
  const std::vector<std::string> before = LivePems(etc, name);

  std::unique_ptr<MountNamespace> ns;
  Confinement confinement;
  std::string view = etc;  // where the test sees the agent's config dir
  if (mount_ns()) {
    // A tmpfs over the config dir holding a copy of it, with room for one more page: the new
    // key fits, the certificate does not.
    absl::StatusOr<std::unique_ptr<MountNamespace>> created = MountNamespace::Create();
    ASSERT_TRUE(created.ok()) << created.status();
    ns = std::move(*created);
    ASSERT_TRUE(ns->MountTmpfs(etc, 1 << 20).ok());
    view = ns->Inside(etc);
    ASSERT_TRUE(CopyTree(etc, view).ok()) << CopyTree(etc, view);
    struct statvfs vfs;
    ASSERT_EQ(::statvfs(view.c_str(), &vfs), 0) << std::strerror(errno);
    const uint64_t used = (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
    absl::Status resized = ns->ResizeTmpfs(etc, used + 4096);
    ASSERT_TRUE(resized.ok()) << resized;
    confinement.mount_ns_fd = ns->fd();
    ExpectUsable(view, name, 1);
  } else {
    // No mount namespace: the kernel's per-process file size limit stands in for the disk.
    confinement.file_size_limit = 1024;
  }
  const size_t issued_before = InventorySize();

  AgentResult r = Renew(name, /*force=*/true, confinement);
  EXPECT_EQ(r.exit_code, 1) << r;
  const std::string expected_error = mount_ns() ? "No space left on device" : "File too large";
  EXPECT_THAT(r.err, AllOf(HasSubstr(absl::StrCat(etc, "/archive/", name, "/")),
                           HasSubstr(expected_error), HasSubstr("the CA issued certificate"),
                           HasSubstr("still holds the previous certificate and key")))
      << r;
  // The certificate the CA issued is named, so an operator can find it in the inventory.
  const std::string serial = WordAfter(r.err, "the CA issued certificate ");
  EXPECT_FALSE(serial.empty()) << r.err;
  EXPECT_EQ(InventorySize(), issued_before + 1);

  ExpectUsable(view, name, 1);
  EXPECT_EQ(LivePems(view, name), before);
  ExpectOnlyVersion1(view, name);

  // Space again: the next renewal installs version 2.
  if (ns != nullptr) {
    ASSERT_TRUE(ns->ResizeTmpfs(etc, 1 << 20).ok());
    confinement.mount_ns_fd = ns->fd();
  }
  confinement.file_size_limit.reset();
  AgentResult again = Renew(name, /*force=*/true, confinement);
  ASSERT_EQ(again.exit_code, 0) << again;
  EXPECT_THAT(again.out, HasSubstr("renewed (version 2"));
  ExpectUsable(view, name, 2);
  EXPECT_NE(LivePems(view, name), before);
  EXPECT_THAT(TempFilesBelow(view), ::testing::IsEmpty());
}

TEST_F(AgentDiskFaultTest, ReadOnlyConfigDirFailsBeforeAnyRequestAndKeepsVersion1) {
  const std::string name = "rofs";
  const std::string etc = config_dir(name);
  IssueVersion1(name);
  if (HasFatalFailure()) return;
  const std::vector<std::string> before = LivePems(etc, name);
  std::unique_ptr<MountNamespace> ns;
  Confinement confinement;
  if (mount_ns()) {
    absl::StatusOr<std::unique_ptr<MountNamespace>> created = MountNamespace::Create();
    ASSERT_TRUE(created.ok()) << created.status();
    ns = std::move(*created);
    absl::Status bound = ns->BindReadOnly(etc);
    ASSERT_TRUE(bound.ok()) << bound;
    confinement.mount_ns_fd = ns->fd();
  } else {
    confinement.uid = kNobody;  // everything under etc-rofs belongs to root
  }
  const size_t issued_before = InventorySize();

  AgentResult r = Renew(name, /*force=*/true, confinement);
  // 1, not 3: the file system refused, not the signer's policy.
  EXPECT_EQ(r.exit_code, 1) << r;
  // The run lock is the first thing written: nothing was requested from the CA.
  const std::string expected_error = mount_ns() ? "Read-only file system" : "Permission denied";
  EXPECT_THAT(r.err, AllOf(HasSubstr(absl::StrCat(etc, "/.lock")), HasSubstr(expected_error))) << r;
  EXPECT_EQ(InventorySize(), issued_before);
  ExpectUsable(ns != nullptr ? ns->Inside(etc) : etc, name, 1);
  EXPECT_EQ(LivePems(etc, name), before);
  ExpectOnlyVersion1(etc, name);
}

TEST_F(AgentDiskFaultTest, UnwritableLiveDirSavesTheIssuedVersionAndTheNextRunFinishesIt) {
  const std::string name = "rolive";
  const std::string etc = config_dir(name);
  IssueVersion1(name);
  if (HasFatalFailure()) return;
  const std::vector<std::string> before = LivePems(etc, name);
  const std::string live_dir = absl::StrCat(etc, "/live");

  std::unique_ptr<MountNamespace> ns;
  Confinement confinement;
  if (mount_ns()) {
    absl::StatusOr<std::unique_ptr<MountNamespace>> created = MountNamespace::Create();
    ASSERT_TRUE(created.ok()) << created.status();
    ns = std::move(*created);
    absl::Status bound = ns->BindReadOnly(live_dir);
    ASSERT_TRUE(bound.ok()) << bound;
    confinement.mount_ns_fd = ns->fd();
  } else {
    // The agent as nobody: it owns everything but live/, which root keeps (0755).
    ASSERT_TRUE(ChownTree(etc, kNobody, kNobody).ok());
    ASSERT_EQ(::lchown(live_dir.c_str(), 0, 0), 0);
    ASSERT_EQ(::chmod(live_dir.c_str(), 0755), 0);
    confinement.uid = kNobody;
  }
  const size_t issued_before = InventorySize();

  AgentResult r = Renew(name, /*force=*/true, confinement);
  // Exit 1 ("failure, previous certificate unchanged"), not 3: EACCES on our own files is not
  // a refusal by the signer.
  EXPECT_EQ(r.exit_code, 1) << r;
  const std::string expected_error = mount_ns() ? "Read-only file system" : "Permission denied";
  EXPECT_THAT(r.err, AllOf(HasSubstr(live_dir), HasSubstr(expected_error),
                           HasSubstr("saved it as version 2"),
                           HasSubstr("still holds the previous certificate and key"),
                           HasSubstr("finishes installing version 2 without a new request")))
      << r;
  EXPECT_EQ(InventorySize(), issued_before + 1);
  ExpectUsable(etc, name, 1);
  EXPECT_EQ(LivePems(etc, name), before);
  EXPECT_EQ(DirEntries(live_dir),
            (std::vector<std::string>{absl::StrCat(".", name, ".v1"), "README", name}));
  EXPECT_THAT(TempFilesBelow(etc), ::testing::IsEmpty());
  EXPECT_THAT(
      DirEntries(absl::StrCat(etc, "/archive/", name)),
      ::testing::IsSupersetOf({"cert2.pem", "chain2.pem", "fullchain2.pem", "privkey2.pem"}));

  // live/ writable again: a plain renew (nothing is due) finishes the install of version 2
  // without asking the CA again.
  ns.reset();
  if (!mount_ns()) {
    ASSERT_TRUE(ChownTree(etc, 0, 0).ok());
  }
  AgentResult next = Renew(name, /*force=*/false);
  ASSERT_EQ(next.exit_code, 0) << next;
  EXPECT_THAT(next.out, HasSubstr("finished installing version 2"));
  EXPECT_EQ(InventorySize(), issued_before + 1) << "a new certificate was requested";
  ExpectUsable(etc, name, 2);
  EXPECT_NE(LivePems(etc, name), before);
}

TEST_F(AgentDiskFaultTest, KilledBetweenArchiveAndSwitchKeepsVersion1AndTheNextRunFinishes) {
#ifdef NDEBUG
  GTEST_SKIP() << "release build: the agent's ACME_AGENT_TEST_KILL_AT seam is compiled out "
                  "(tests/agent/lineage_test.cc covers the crash points at unit level)";
#else
  const std::string name = "killed";
  const std::string etc = config_dir(name);
  IssueVersion1(name);
  if (HasFatalFailure()) return;
  const std::vector<std::string> before = LivePems(etc, name);
  const size_t issued_before = InventorySize();
  Confinement kill_at_switch;
  kill_at_switch.extra_env = {"ACME_AGENT_TEST_KILL_AT=live:switch"};

  AgentResult r = Renew(name, /*force=*/true, kill_at_switch);
  ASSERT_EQ(r.exit_code, 128 + SIGKILL) << r;
  EXPECT_EQ(InventorySize(), issued_before + 1);
  // Until the next run: version 1 live and usable, version 2 complete in the archive.
  ExpectUsable(etc, name, 1);
  EXPECT_EQ(LivePems(etc, name), before);
  EXPECT_THAT(
      DirEntries(absl::StrCat(etc, "/archive/", name)),
      ::testing::IsSupersetOf({"cert2.pem", "chain2.pem", "fullchain2.pem", "privkey2.pem"}));

  AgentResult next = Renew(name, /*force=*/false);
  ASSERT_EQ(next.exit_code, 0) << next;
  EXPECT_THAT(next.out, HasSubstr("finished installing version 2"));
  EXPECT_EQ(InventorySize(), issued_before + 1) << "a new certificate was requested";
  ExpectUsable(etc, name, 2);
  EXPECT_NE(LivePems(etc, name), before);
  EXPECT_THAT(TempFilesBelow(etc), ::testing::IsEmpty());
  EXPECT_EQ(DirEntries(absl::StrCat(etc, "/live")),
            (std::vector<std::string>{absl::StrCat(".", name, ".v1"),
                                      absl::StrCat(".", name, ".v2"), "README", name}));
#endif
}

TEST_F(AgentDiskFaultTest, KilledWhileWritingTheArchiveLeavesAHalfVersionTheNextRunRemoves) {
#ifdef NDEBUG
  GTEST_SKIP() << "release build: the agent's ACME_AGENT_TEST_KILL_AT seam is compiled out";
#else
  const std::string name = "halfway";
  const std::string etc = config_dir(name);
  IssueVersion1(name);
  if (HasFatalFailure()) return;
  const std::vector<std::string> before = LivePems(etc, name);
  Confinement kill_at_chain;
  kill_at_chain.extra_env = {"ACME_AGENT_TEST_KILL_AT=archive:chain"};

  AgentResult r = Renew(name, /*force=*/true, kill_at_chain);
  ASSERT_EQ(r.exit_code, 128 + SIGKILL) << r;
  ExpectUsable(etc, name, 1);
  EXPECT_EQ(LivePems(etc, name), before);
  EXPECT_THAT(DirEntries(absl::StrCat(etc, "/archive/", name)),
              ::testing::IsSupersetOf({"cert2.pem", "privkey2.pem"}));

  // The next run removes the half version (it cannot go live) and, nothing being due, stops.
  AgentResult next = Renew(name, /*force=*/false);
  ASSERT_EQ(next.exit_code, 0) << next;
  EXPECT_THAT(next.err, HasSubstr("version 2 left by an interrupted run is not used"));
  EXPECT_THAT(next.out, Not(HasSubstr("finished installing")));
  ExpectUsable(etc, name, 1);
  ExpectOnlyVersion1(etc, name);

  AgentResult forced = Renew(name, /*force=*/true);
  ASSERT_EQ(forced.exit_code, 0) << forced;
  ExpectUsable(etc, name, 2);
#endif
}

}  // namespace
}  // namespace acme_signer
