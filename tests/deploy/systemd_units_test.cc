// The systemd units in deploy/ meet the security targets: `systemd-analyze security
// --offline=yes` rates the signer at most 2.0 and the agent at most 4.0 (it binds port 80 and
// runs hooks), `systemd-analyze verify` accepts every unit without a single message, the signer
// stays down on exit code 78 and cannot restart often enough to hammer the HSM, it notifies
// readiness, has a watchdog and reloads through `acme-signer reload`, its audit log directory
// belongs to the auditors' group acme-audit (tmpfiles, setgid, UMask=0027), and the agent
// runs as its own user with CAP_NET_BIND_SERVICE only, handing root reloads to
// acme-agent-reload.{path,service} through a stamp file.
//
// Needs systemd-analyze (Debian package systemd): skipped when missing on a developer machine,
// a failure under CI=true. Nothing is installed or started; the units are only analysed.
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "toml++/toml.h"

extern char** environ;

namespace acme_signer::deploy {
namespace {

namespace fs = std::filesystem;

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// The signer's exit code for start-up errors a restart cannot fix (kExitConfig in
// signer/commands.h, EX_CONFIG from sysexits.h).
constexpr int kSignerConfigExitCode = 78;

fs::path DeployDir() { return fs::path(ACME_SIGNER_SOURCE_DIR) / "deploy"; }

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && absl::AsciiStrToLower(ci) == "true";
}

std::optional<std::string> FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

// What a finished child printed.
struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal or could not be started
  std::string out;
  std::string err;
};

// Owns a pipe's two ends.
class Pipe {
 public:
  Pipe() { ok_ = ::pipe2(fds_.data(), O_CLOEXEC) == 0; }
  ~Pipe() {
    CloseRead();
    CloseWrite();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  bool ok() const { return ok_; }
  int read_fd() const { return fds_[0]; }
  int write_fd() const { return fds_[1]; }
  void CloseRead() { Close(0); }
  void CloseWrite() { Close(1); }

 private:
  void Close(int i) {
    if (fds_[i] >= 0) ::close(fds_[i]);
    fds_[i] = -1;
  }
  std::array<int, 2> fds_ = {-1, -1};
  bool ok_ = false;
};

// Runs argv[0] (an absolute path) without a shell, stdin /dev/null, and collects stdout and
// stderr separately (both drained together, so neither pipe can fill up and block the child).
CommandResult RunCommand(const std::vector<std::string>& argv) {
  CommandResult result;
  Pipe out, err;
  if (!out.ok() || !err.ok()) {
    result.err = absl::StrCat("pipe2: ", std::strerror(errno));
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out.write_fd(), 1);
  posix_spawn_file_actions_adddup2(&actions, err.write_fd(), 2);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  out.CloseWrite();
  err.CloseWrite();
  if (spawned != 0) {
    result.err = absl::StrCat("posix_spawn ", argv[0], ": ", std::strerror(spawned));
    return result;
  }
  std::array<pollfd, 2> fds = {pollfd{out.read_fd(), POLLIN, 0}, pollfd{err.read_fd(), POLLIN, 0}};
  std::array<std::string*, 2> sinks = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

// A unit file as section -> key -> values, in order (a key may repeat: SystemCallFilter=,
// ExecStart=). Enough for the units in deploy/, which use no line continuations.
using UnitFile = std::map<std::string, std::map<std::string, std::vector<std::string>>>;

UnitFile ParseUnit(const fs::path& path) {
  UnitFile unit;
  std::string section;
  for (absl::string_view line : absl::StrSplit(ReadAll(path), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    EXPECT_FALSE(absl::EndsWith(line, "\\")) << path << ": line continuations are not parsed";
    if (line.front() == '[' && line.back() == ']') {
      section = std::string(line.substr(1, line.size() - 2));
      continue;
    }
    const size_t eq = line.find('=');
    EXPECT_NE(eq, absl::string_view::npos) << path << ": not key=value: " << line;
    if (eq == absl::string_view::npos) continue;
    unit[section][std::string(absl::StripAsciiWhitespace(line.substr(0, eq)))].emplace_back(
        absl::StripAsciiWhitespace(line.substr(eq + 1)));
  }
  return unit;
}

// The last value of section.key ("" when absent), as systemd uses for single-valued keys.
std::string Value(const UnitFile& unit, const std::string& section, const std::string& key) {
  auto s = unit.find(section);
  if (s == unit.end()) return "";
  auto k = s->second.find(key);
  if (k == s->second.end() || k->second.empty()) return "";
  return k->second.back();
}

// Whitespace-separated words of every occurrence of a list-valued key.
std::vector<std::string> Words(const UnitFile& unit, const std::string& section,
                               const std::string& key) {
  std::vector<std::string> words;
  auto s = unit.find(section);
  if (s == unit.end()) return words;
  auto k = s->second.find(key);
  if (k == s->second.end()) return words;
  for (const std::string& value : k->second) {
    for (absl::string_view word : absl::StrSplit(value, ' ', absl::SkipWhitespace())) {
      words.emplace_back(word);
    }
  }
  return words;
}

// A systemd time span ("600", "15s", "10min", "1h") in seconds; nullopt if not understood.
std::optional<int64_t> Seconds(absl::string_view span) {
  static const std::vector<std::pair<absl::string_view, int64_t>> kUnits = {
      {"min", 60}, {"s", 1}, {"h", 3600}, {"", 1}};
  for (const auto& [suffix, factor] : kUnits) {
    if (!absl::EndsWith(span, suffix)) continue;
    int64_t n = 0;
    if (absl::SimpleAtoi(span.substr(0, span.size() - suffix.size()), &n)) return n * factor;
  }
  return std::nullopt;
}

// deploy/acme-agent.toml; nullopt (and a test failure naming the line) if it does not parse.
std::optional<toml::table> LoadExampleAgentConfig() {
  const fs::path path = DeployDir() / "acme-agent.toml";
  try {
    return toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    ADD_FAILURE() << path << ":" << e.source().begin.line << ": " << e.description();
    return std::nullopt;
  }
}

// The path of `tool`, or nullopt after a failure (CI=true) or a note why the caller should
// skip (developer machine).
std::optional<std::string> RequireTool(const std::string& tool) {
  std::optional<std::string> path = FindOnPath(tool);
  if (!path.has_value() && InCi()) {
    ADD_FAILURE() << tool << " not found on PATH (Debian package systemd; scripts/install-deps "
                  << "installs it)";
  }
  return path;
}

// A temp dir per test, removed afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/systemd-units-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr) << std::strerror(errno);
    temp_dir_ = dir_template;
  }

  void TearDown() override {
    if (!temp_dir_.empty()) {
      std::error_code ignored;
      fs::remove_all(temp_dir_, ignored);
    }
  }

  fs::path temp_dir_;
};

// Tests that run systemd-analyze.
class SystemdAnalyzeTest : public TempDirTest {
 protected:
  void SetUp() override {
    std::optional<std::string> analyze = RequireTool("systemd-analyze");
    if (!analyze.has_value()) GTEST_SKIP() << "systemd-analyze not found (package systemd)";
    analyze_ = *analyze;
    TempDirTest::SetUp();
  }

  // "Overall exposure level for NAME: X.Y ..." from `systemd-analyze security --offline=yes`.
  double Exposure(const std::string& unit_file) {
    const std::vector<std::string> argv = {analyze_, "security", "--offline=yes",
                                           (DeployDir() / unit_file).string()};
    CommandResult run = RunCommand(argv);
    EXPECT_EQ(run.exit_code, 0) << absl::StrJoin(argv, " ") << "\n" << run.out << run.err;
    static const std::regex kOverall(R"(Overall exposure level for ([^:]+): ([0-9]+\.[0-9]+))");
    std::smatch match;
    if (!std::regex_search(run.out, match, kOverall)) {
      ADD_FAILURE() << "no \"Overall exposure level\" line in the output of "
                    << absl::StrJoin(argv, " ") << ":\n"
                    << run.out << run.err;
      return 99;
    }
    EXPECT_EQ(match[1].str(), unit_file);
    double exposure = 99;
    EXPECT_TRUE(absl::SimpleAtod(match[2].str(), &exposure)) << match[2].str();
    RecordProperty(unit_file, match[2].str());
    std::cout << unit_file << ": exposure " << match[2].str() << "\n";
    return exposure;
  }

  // Copies every unit of deploy/ into the temp dir with /usr/bin/acme-agent and
  // /usr/bin/acme-signer pointed at stand-in executables there: verify insists that ExecStart
  // names an executable, and the test must not depend on what is installed in /usr/bin.
  // Returns the copied unit files.
  std::vector<fs::path> StageUnits() {
    const fs::path bin = temp_dir_ / "bin";
    fs::create_directories(bin);
    for (const char* name : {"acme-agent", "acme-signer"}) {
      fs::create_symlink("/bin/true", bin / name);
    }
    std::vector<fs::path> staged;
    for (const fs::directory_entry& entry : fs::directory_iterator(DeployDir())) {
      const std::string ext = entry.path().extension().string();
      if (ext != ".service" && ext != ".timer" && ext != ".path" && ext != ".socket") continue;
      std::string text = ReadAll(entry.path());
      for (const char* name : {"acme-agent", "acme-signer"}) {
        const std::string installed = absl::StrCat("/usr/bin/", name, " ");
        for (size_t at = text.find(installed); at != std::string::npos;
             at = text.find(installed, at)) {
          const std::string replacement = absl::StrCat((bin / name).string(), " ");
          text.replace(at, installed.size(), replacement);
          at += replacement.size();
        }
      }
      const fs::path copy = temp_dir_ / entry.path().filename();
      std::ofstream(copy, std::ios::binary) << text;
      staged.push_back(copy);
    }
    std::sort(staged.begin(), staged.end());
    return staged;
  }

  CommandResult Verify(const fs::path& unit) {
    return RunCommand({analyze_, "verify", "--man=no", unit.string()});
  }

  std::string analyze_;
};

TEST_F(SystemdAnalyzeTest, SignerUnitExposureIsAtMostTwo) {
  EXPECT_LE(Exposure("acme-signer.service"), 2.0);
}

TEST_F(SystemdAnalyzeTest, AgentUnitExposureIsAtMostFour) {
  EXPECT_LE(Exposure("acme-agent.service"), 4.0);
}

TEST_F(SystemdAnalyzeTest, RootReloadUnitIsSandboxedToAtMostTwo) {
  EXPECT_LE(Exposure("acme-agent-reload.service"), 2.0);
}

TEST_F(SystemdAnalyzeTest, VerifyAcceptsEveryUnitInDeployWithoutAMessage) {
  std::vector<fs::path> units = StageUnits();
  std::vector<std::string> names;
  for (const fs::path& unit : units) names.push_back(unit.filename().string());
  EXPECT_THAT(names, Contains("acme-signer.service"));
  EXPECT_THAT(names, Contains("acme-agent.service"));
  EXPECT_THAT(names, Contains("acme-agent.timer"));
  EXPECT_THAT(names, Contains("acme-agent-reload.path"));
  EXPECT_THAT(names, Contains("acme-agent-reload.service"));
  for (const fs::path& unit : units) {
    CommandResult run = Verify(unit);
    EXPECT_EQ(run.exit_code, 0) << unit.filename() << "\n" << run.out << run.err;
    // verify reports unknown keys and bad values as warnings with exit code 0.
    EXPECT_THAT(run.out + run.err, IsEmpty()) << unit.filename();
  }
}

// The control for the test above: a misspelt directive is reported, so an empty output means
// the units are clean rather than that verify checks nothing.
TEST_F(SystemdAnalyzeTest, VerifyReportsAMisspeltDirective) {
  StageUnits();
  const fs::path unit = temp_dir_ / "acme-agent.service";
  std::string text = ReadAll(unit);
  const size_t at = text.find("ProtectSystem=strict");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, std::string("ProtectSystem").size(), "ProtectSytem");
  std::ofstream(unit, std::ios::binary | std::ios::trunc) << text;
  CommandResult run = Verify(unit);
  EXPECT_THAT(run.out + run.err, HasSubstr("Unknown key 'ProtectSytem'"));
}

TEST(DeployUnitsTest, SignerStaysDownOnExitCode78AndCannotRestartInALoop) {
  const UnitFile unit = ParseUnit(DeployDir() / "acme-signer.service");
  EXPECT_EQ(Value(unit, "Service", "Restart"), "on-failure");
  EXPECT_THAT(Words(unit, "Service", "RestartPreventExitStatus"),
              Contains(std::to_string(kSignerConfigExitCode)));
  // Restarts RestartSec apart must reach the burst inside the interval, or the limit never
  // stops anything.
  const std::optional<int64_t> interval = Seconds(Value(unit, "Unit", "StartLimitIntervalSec"));
  const std::optional<int64_t> restart_sec = Seconds(Value(unit, "Service", "RestartSec"));
  int64_t burst = 0;
  ASSERT_TRUE(interval.has_value()) << "[Unit] StartLimitIntervalSec missing or not understood";
  ASSERT_TRUE(restart_sec.has_value()) << "[Service] RestartSec missing or not understood";
  ASSERT_TRUE(absl::SimpleAtoi(Value(unit, "Unit", "StartLimitBurst"), &burst))
      << "[Unit] StartLimitBurst missing";
  EXPECT_GE(burst, 1);
  EXPECT_LE(burst, 5) << "more than 5 start attempts would log in to the HSM again and again";
  EXPECT_LT((burst - 1) * *restart_sec, *interval);
  // In [Service] systemd ignores these (they belong to [Unit] since systemd 230).
  EXPECT_EQ(Value(unit, "Service", "StartLimitIntervalSec"), "");
  EXPECT_EQ(Value(unit, "Service", "StartLimitBurst"), "");
}

// systemd waits for READY=1 and kills a daemon that stops pinging; a reload reports the
// daemon's answer instead of kill's.
TEST(DeployUnitsTest, SignerNotifiesReadinessHasAWatchdogAndReloadsThroughTheSigner) {
  const UnitFile unit = ParseUnit(DeployDir() / "acme-signer.service");
  EXPECT_EQ(Value(unit, "Service", "Type"), "notify");
  EXPECT_EQ(Value(unit, "Service", "NotifyAccess"), "main");
  const std::optional<int64_t> watchdog = Seconds(Value(unit, "Service", "WatchdogSec"));
  ASSERT_TRUE(watchdog.has_value()) << "[Service] WatchdogSec missing or not understood";
  EXPECT_GE(*watchdog, 10) << "the daemon pings every WatchdogSec/2 from one thread";
  EXPECT_LE(*watchdog, 120);
  const std::vector<std::string> reload = Words(unit, "Service", "ExecReload");
  ASSERT_GE(reload.size(), 2u);
  EXPECT_EQ(reload[0], "/usr/bin/acme-signer");
  EXPECT_EQ(reload[1], "reload");
  // The same configuration as the daemon it asks.
  const std::vector<std::string> start = Words(unit, "Service", "ExecStart");
  const auto config = std::find(start.begin(), start.end(), "--config");
  ASSERT_NE(config, start.end());
  ASSERT_NE(config + 1, start.end());
  EXPECT_THAT(reload, Contains(*(config + 1)));
}

// Auditors (group acme-audit) read the audit log without root: the log directory is setgid
// acme-audit (tmpfiles), the unit writes it without taking it back (no LogsDirectory=, which
// would reset its group at every start), and its umask leaves the 0640 files group-readable.
TEST(DeployUnitsTest, AuditLogDirectoryBelongsToTheAuditorGroup) {
  const UnitFile unit = ParseUnit(DeployDir() / "acme-signer.service");
  EXPECT_EQ(Value(unit, "Service", "UMask"), "0027");
  EXPECT_EQ(Value(unit, "Service", "LogsDirectory"), "");
  EXPECT_THAT(Words(unit, "Service", "ReadWritePaths"), Contains("/var/log/acme-signer"));

  bool log_dir = false;
  for (absl::string_view line : absl::StrSplit(ReadAll(DeployDir() / "acme-signer.tmpfiles"), '\n')) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (fields.size() < 5 || fields[1] != "/var/log/acme-signer") continue;
    log_dir = true;
    EXPECT_EQ(fields[0], "d");
    EXPECT_EQ(fields[2], "2750");
    EXPECT_EQ(fields[3], Value(unit, "Service", "User"));
    EXPECT_EQ(fields[4], "acme-audit");
  }
  EXPECT_TRUE(log_dir) << "no line for /var/log/acme-signer in deploy/acme-signer.tmpfiles";
  EXPECT_THAT(ReadAll(DeployDir() / "acme-signer.sysusers"), HasSubstr("\ng acme-audit -"));
}

TEST(DeployUnitsTest, AgentServiceRunsAsItsOwnUserNeverRoot) {
  const UnitFile unit = ParseUnit(DeployDir() / "acme-agent.service");
  EXPECT_EQ(Value(unit, "Service", "User"), "acme-agent");
  for (const char* key : {"User", "Group"}) {
    for (const std::string& value : Words(unit, "Service", key)) {
      EXPECT_NE(value, "root") << key;
      EXPECT_NE(value, "0") << key;
    }
  }
  EXPECT_EQ(Value(unit, "Service", "DynamicUser"), "");
}

// The shipped sysusers entries create the users the units run as: system users without a
// shell, with the home directory the docs name.
TEST_F(TempDirTest, SysusersEntriesCreateTheServiceUsers) {
  std::optional<std::string> tool = RequireTool("systemd-sysusers");
  if (!tool.has_value()) GTEST_SKIP() << "systemd-sysusers not found (package systemd)";
  for (const char* service : {"acme-agent", "acme-signer"}) {
    SCOPED_TRACE(service);
    const UnitFile unit = ParseUnit(DeployDir() / absl::StrCat(service, ".service"));
    EXPECT_EQ(Value(unit, "Service", "User"), service);
    const fs::path root = temp_dir_ / service;
    fs::create_directories(root / "etc");
    CommandResult run = RunCommand({*tool, absl::StrCat("--root=", root.string()),
                                    (DeployDir() / absl::StrCat(service, ".sysusers")).string()});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    std::vector<std::string> fields =
        absl::StrSplit(absl::StripTrailingAsciiWhitespace(ReadAll(root / "etc/passwd")), ':');
    ASSERT_EQ(fields.size(), 7u) << ReadAll(root / "etc/passwd");
    EXPECT_EQ(fields[0], service);
    int uid = -1;
    ASSERT_TRUE(absl::SimpleAtoi(fields[2], &uid));
    EXPECT_GT(uid, 0);
    EXPECT_LT(uid, 1000) << "a system user";
    EXPECT_EQ(fields[5], absl::StrCat("/var/lib/", service));
    EXPECT_EQ(fields[6], "/usr/sbin/nologin");
    if (std::string(service) == "acme-signer") {
      EXPECT_THAT("\n" + ReadAll(root / "etc/group"), HasSubstr("\nacme-audit:x:"))
          << "the auditors' group";
    }
  }
}

TEST(DeployUnitsTest, AgentServiceHoldsOnlyNetBindServiceAndWritesOnlyItsOwnTree) {
  const UnitFile unit = ParseUnit(DeployDir() / "acme-agent.service");
  EXPECT_THAT(Words(unit, "Service", "CapabilityBoundingSet"), ElementsAre("CAP_NET_BIND_SERVICE"));
  EXPECT_THAT(Words(unit, "Service", "AmbientCapabilities"), ElementsAre("CAP_NET_BIND_SERVICE"));
  EXPECT_EQ(Value(unit, "Service", "NoNewPrivileges"), "yes");
  EXPECT_EQ(Value(unit, "Service", "ProtectSystem"), "strict");
  EXPECT_EQ(Value(unit, "Service", "ProtectHome"), "read-only");
  EXPECT_EQ(Value(unit, "Service", "PrivateTmp"), "yes");
  EXPECT_THAT(Words(unit, "Service", "SystemCallFilter"), Contains("@system-service"));
  EXPECT_THAT(Words(unit, "Service", "RestrictAddressFamilies"), Not(Contains("AF_PACKET")));

  // The example configuration's directories are the writable ones.
  std::optional<toml::table> config = LoadExampleAgentConfig();
  ASSERT_TRUE(config.has_value());
  const std::string config_dir = (*config)["config_dir"].value_or(std::string());
  EXPECT_EQ(config_dir, "/etc/acme-agent");
  EXPECT_THAT(Words(unit, "Service", "ReadWritePaths"), Contains(config_dir));
  for (const char* key : {"key", "cert"}) {
    const std::string path = (*config)["identity"][key].value_or(std::string());
    EXPECT_TRUE(absl::StartsWith(path, config_dir + "/")) << "identity." << key << " = " << path;
  }
  // Standalone's default port is below 1024: exactly what the one capability is for.
  EXPECT_EQ((*config)["defaults"]["http01_port"].value_or(int64_t{0}), 80);
  // The webroot default must be writable too (the "-" prefix tolerates a missing /var/www).
  const std::string webroot = (*config)["defaults"]["webroot_path"].value_or(std::string());
  bool webroot_writable = false;
  for (const std::string& path : Words(unit, "Service", "ReadWritePaths")) {
    const std::string dir(absl::StripPrefix(path, "-"));
    if (webroot == dir || absl::StartsWith(webroot, dir + "/")) webroot_writable = true;
  }
  EXPECT_TRUE(webroot_writable) << "webroot_path " << webroot << " is not in ReadWritePaths";
}

// The unprivileged agent asks for a reload by touching a stamp; root reloads. The stamp must be
// one the agent can write, the path unit must watch exactly it, and nothing the agent can write
// may decide what root runs.
TEST(DeployUnitsTest, AgentPostHookTouchesTheStampTheRootReloadUnitWatches) {
  const UnitFile agent = ParseUnit(DeployDir() / "acme-agent.service");
  const UnitFile path_unit = ParseUnit(DeployDir() / "acme-agent-reload.path");
  const UnitFile reload = ParseUnit(DeployDir() / "acme-agent-reload.service");

  const std::string stamp = Value(path_unit, "Path", "PathChanged");
  ASSERT_FALSE(stamp.empty()) << "acme-agent-reload.path has no PathChanged=";
  EXPECT_EQ(Value(path_unit, "Path", "Unit"), "acme-agent-reload.service");
  EXPECT_THAT(Words(path_unit, "Install", "WantedBy"), Not(IsEmpty()));

  const std::string state_dir = Value(agent, "Service", "StateDirectory");
  ASSERT_FALSE(state_dir.empty());
  EXPECT_EQ(fs::path(stamp).parent_path(), fs::path("/var/lib") / state_dir)
      << "the stamp must be in the agent's StateDirectory, which it may write";

  std::optional<toml::table> config = LoadExampleAgentConfig();
  ASSERT_TRUE(config.has_value());
  EXPECT_THAT((*config)["defaults"]["post_hook"].value_or(std::string()),
              HasSubstr(absl::StrCat("touch ", stamp)));
  // A root reload cannot happen from an unprivileged deploy hook.
  EXPECT_THAT((*config)["defaults"]["deploy_hook"].value_or(std::string()),
              Not(HasSubstr("systemctl")));

  EXPECT_EQ(Value(reload, "Service", "Type"), "oneshot");
  EXPECT_EQ(Value(reload, "Service", "User"), "");  // root, to reload other services
  EXPECT_EQ(Value(reload, "Service", "NoNewPrivileges"), "yes");
  EXPECT_EQ(Value(reload, "Service", "ProtectSystem"), "strict");
  std::vector<std::string> writable = Words(agent, "Service", "ReadWritePaths");
  writable.push_back(absl::StrCat("/var/lib/", state_dir));
  for (const std::string& file : Words(reload, "Service", "EnvironmentFile")) {
    const std::string path(absl::StripPrefix(file, "-"));
    for (const std::string& dir : writable) {
      const std::string d(absl::StripPrefix(dir, "-"));
      EXPECT_FALSE(absl::StartsWith(path, d + "/"))
          << "root reads " << path << ", which the agent can write (" << d << ")";
    }
  }
}

TEST(DeployUnitsTest, AgentTimerStartsTheServiceTwiceADay) {
  const UnitFile timer = ParseUnit(DeployDir() / "acme-agent.timer");
  EXPECT_EQ(Value(timer, "Timer", "OnCalendar"), "*-*-* 00,12:00:00");
  EXPECT_EQ(Value(timer, "Timer", "Persistent"), "true");
  EXPECT_EQ(Value(timer, "Timer", "Unit"), "");  // the default: acme-agent.service
  EXPECT_TRUE(fs::exists(DeployDir() / "acme-agent.service"));
}

}  // namespace
}  // namespace acme_signer::deploy
