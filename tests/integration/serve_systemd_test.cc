// `acme-signer serve` as systemd and journald see it (issue 17), with the real binary in a
// SignerLab (SoftHSM2, Pebble, gRPC over mutual TLS):
//  - one key=value decision line on serve's stderr per audited decision (a real allow and a
//    real deny), and no raw gRPC log line ("E1201 ...") anywhere in serve's output;
//  - sd_notify: with NOTIFY_SOCKET pointing at a datagram socket the test binds, READY=1 comes
//    once the gRPC port accepts connections, WATCHDOG=1 pings follow (WATCHDOG_USEC=2 s), and
//    SIGTERM brings STOPPING=1;
//  - `acme-signer check-config` accepts the lab's configuration.
//  - with JOURNAL_STREAM naming serve's stderr, the decisions go to a private systemd-journald
//    (this binary run again under `unshare -m`, tmpfs over the journal directories) with their
//    native fields, read back with `journalctl AGENT=web1 -o json`; skipped, saying why, where
//    mount namespaces or journald are not available.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"
#include "nlohmann/json.hpp"
#include "tests/testing/child_process.h"
#include "tests/testing/private_journald.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;

int CountLinesStartingWith(const std::string& log, absl::string_view prefix) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) n += absl::StartsWith(line, prefix);
  return n;
}

// gRPC's own format: severity letter, MMDD, a space ("E1201 04:07:21.123 1234 file.cc:12] ...").
bool IsRawGrpcLine(absl::string_view line) {
  if (line.size() < 6 || std::strchr("DIWE", line[0]) == nullptr) return false;
  for (size_t i = 1; i <= 4; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(line[i]))) return false;
  }
  return line[5] == ' ';
}

class ServeSystemdTest : public testing::SignerLabSuite<ServeSystemdTest> {
 protected:
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    if (lab_started() && !lab().signer_running()) {
      absl::Status started = lab().StartSigner();
      EXPECT_TRUE(started.ok()) << started;
    }
  }
};

TEST_F(ServeSystemdTest, EachDecisionIsOneKeyValueLineOnStderr) {
  std::unique_ptr<agent::SignerClient> client = Client("web1");
  ASSERT_NE(client, nullptr);
  absl::StatusOr<::acmesigner::v1::Order> allowed =
      client->CreateOrder({"web1.example.test"}, "");
  ASSERT_TRUE(allowed.ok()) << allowed.status() << lab().SignerLogTail();
  absl::StatusOr<::acmesigner::v1::Order> denied = client->CreateOrder({"web2.example.test"}, "");
  ASSERT_FALSE(denied.ok());

  // The records the lines stand for, with their sequence numbers.
  uint64_t allow_seq = 0;
  uint64_t deny_seq = 0;
  for (const nlohmann::json& event : AuditEvents()) {
    if (event.value("rpc", "") != "CreateOrder" || event.value("agent", "") != "web1") continue;
    (event.value("decision", "") == "allow" ? allow_seq : deny_seq) = event.value("seq", 0u);
  }
  ASSERT_NE(allow_seq, 0u);
  ASSERT_NE(deny_seq, 0u);

  const std::string log = lab().SignerLog();
  EXPECT_EQ(CountLinesStartingWith(
                log, absl::StrCat("acme-signer: decision=allow agent=web1 rpc=CreateOrder "
                                  "names=web1.example.test account=default replica=")),
            1)
      << log;
  EXPECT_EQ(CountLinesStartingWith(
                log, absl::StrCat("acme-signer: decision=deny agent=web1 rpc=CreateOrder "
                                  "names=web2.example.test account=default replica=")),
            1)
      << log;
  EXPECT_THAT(log, HasSubstr(absl::StrCat(" seq=", allow_seq, " ")));
  EXPECT_THAT(log, HasSubstr(absl::StrCat(" seq=", deny_seq, " ")));
  // One decision line per audited event so far (the lab's probe makes no RPC).
  EXPECT_EQ(CountLinesStartingWith(log, "acme-signer: decision="),
            static_cast<int>(AuditEvents().size()))
      << log;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    EXPECT_FALSE(IsRawGrpcLine(line)) << "gRPC's own log line reached serve's output: " << line;
  }
}

TEST_F(ServeSystemdTest, CheckConfigAcceptsTheLabConfiguration) {
  testing::CommandResult run = Run({"check-config", "--config", lab().config_path()});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr(absl::StrCat(lab().config_path(), ": OK\n")));
  EXPECT_THAT(run.out, HasSubstr("agents: 2 (web1, web2)"));
}

// Collects what serve sends to the notify socket, on its own thread; at READY=1 it connects
// to the port named in STATUS at once, to prove the listener was up when readiness came.
class NotifyListener {
 public:
  absl::Status Bind(const std::string& path) {
    fd_ = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd_.valid()) return absl::InternalError("socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) return absl::InternalError("path too long");
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return absl::InternalError(absl::StrCat("bind ", path, ": ", std::strerror(errno)));
    }
    timeval timeout{0, 200000};  // lets the thread see Stop()
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  ~NotifyListener() { Stop(); }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

  // Waits (at most `timeout`) until `count` messages containing `needle` arrived.
  bool WaitFor(absl::string_view needle, int count, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      int n = 0;
      for (const std::string& m : messages_) n += absl::StrContains(m, needle);
      return n >= count;
    };
    const absl::Time deadline = absl::Now() + timeout;
    while (!enough()) {
      if (mu_.AwaitWithDeadline(absl::Condition(&changed_), deadline) == false) return enough();
      changed_ = false;
    }
    return true;
  }

  std::vector<std::string> messages() {
    absl::MutexLock lock(&mu_);
    return messages_;
  }
  // The result of connecting to the port READY=1's STATUS named ("" = not tried).
  std::string connect_at_ready() {
    absl::MutexLock lock(&mu_);
    return connect_at_ready_;
  }

 private:
  void Run() {
    for (int round = 0; round < 3000; ++round) {  // 3000 * 200 ms: far beyond any test
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
      }
      char buffer[4096];
      const ssize_t n = ::recv(fd_.get(), buffer, sizeof(buffer), 0);
      if (n <= 0) continue;
      std::string message(buffer, static_cast<size_t>(n));
      std::string connected;
      if (absl::StrContains(message, "READY=1")) connected = ConnectToStatusPort(message);
      absl::MutexLock lock(&mu_);
      if (!connected.empty() && connect_at_ready_.empty()) connect_at_ready_ = connected;
      messages_.push_back(std::move(message));
      changed_ = true;
    }
  }

  static std::string ConnectToStatusPort(const std::string& message) {
    const size_t at = message.find("(port ");
    if (at == std::string::npos) return "no (port N) in STATUS";
    int port = 0;
    const size_t end = message.find(')', at);
    if (end == std::string::npos ||
        !absl::SimpleAtoi(message.substr(at + 6, end - at - 6), &port)) {
      return "bad port in STATUS";
    }
    UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return absl::StrCat("connect to port ", port, ": ", std::strerror(errno));
    }
    return "connected";
  }

  UniqueFd fd_;
  std::thread thread_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool changed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> messages_ ABSL_GUARDED_BY(mu_);
  std::string connect_at_ready_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ServeSystemdTest, NotifiesReadyAfterTheListenerPingsTheWatchdogAndSaysStopping) {
  absl::StatusOr<int> stopped = lab().StopSigner();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  const std::string socket_path = absl::StrCat(lab().dir(), "/notify.sock");
  NotifyListener listener;
  ASSERT_TRUE(listener.Bind(socket_path).ok());
  // serve inherits the test's environment (SignerLab); WATCHDOG_PID is left unset, which
  // sd_watchdog_enabled(3) takes as "this process".
  ::setenv("NOTIFY_SOCKET", socket_path.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  absl::Status started = lab().StartSigner();
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  ASSERT_TRUE(started.ok()) << started;

  ASSERT_TRUE(listener.WaitFor("READY=1", 1, absl::Seconds(30)))
      << ::testing::PrintToString(listener.messages());
  EXPECT_EQ(listener.connect_at_ready(), "connected");
  const std::vector<std::string> first = listener.messages();
  ASSERT_FALSE(first.empty());
  EXPECT_THAT(first.front(), HasSubstr("READY=1\nSTATUS=serving on 127.0.0.1:0 (port "));
  // Pings every second (half of 2 s); two within 10 s even on a loaded machine.
  EXPECT_TRUE(listener.WaitFor("WATCHDOG=1", 2, absl::Seconds(10)))
      << ::testing::PrintToString(listener.messages());

  stopped = lab().StopSigner();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(*stopped, 0) << lab().SignerLogTail();
  EXPECT_TRUE(listener.WaitFor("STOPPING=1", 1, absl::Seconds(10)))
      << ::testing::PrintToString(listener.messages());
  listener.Stop();
}

constexpr char kJournalInnerEnv[] = "ACME_SIGNER_SERVE_JOURNAL_INNER";
::acme_signer::testing::ChildResult RunTool(const std::vector<std::string>& args,
                                            const std::vector<std::string>& env = {}) {
  ::acme_signer::testing::ChildOptions options;
  options.scratch_dir = ::testing::TempDir();
  options.timeout = absl::Seconds(300);
  options.extra_env = env;
  return ::acme_signer::testing::RunChild(args, options);
}

// The journal entries with AGENT=`agent` (polled, bounded: journald writes asynchronously).
std::vector<nlohmann::json> JournalEntries(absl::string_view agent, size_t want) {
  std::vector<nlohmann::json> entries;
  for (int attempt = 0; attempt < 50; ++attempt) {
    entries.clear();
    ::acme_signer::testing::ChildResult read =
        RunTool({::acme_signer::testing::kJournalctlPath, "--no-pager", "-o", "json", absl::StrCat("AGENT=", agent)});
    for (absl::string_view line : absl::StrSplit(read.out, '\n', absl::SkipEmpty())) {
      nlohmann::json entry = nlohmann::json::parse(line, nullptr, false);
      if (!entry.is_discarded()) entries.push_back(std::move(entry));
    }
    if (entries.size() >= want) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return entries;
}

TEST_F(ServeSystemdTest, DecisionsGoToTheJournalWithNativeFieldsWhenStderrIsTheJournal) {
  if (std::getenv(kJournalInnerEnv) == nullptr) {
    // The outer run: start this test again where a private journald listens.
    if (std::optional<std::string> why = ::acme_signer::testing::PrivateJournaldUnavailable()) {
      GTEST_SKIP() << *why;
    }
    ::acme_signer::testing::ChildResult inner =
        ::acme_signer::testing::RerunUnderPrivateJournald(
            "ServeSystemdTest.DecisionsGoToTheJournalWithNativeFieldsWhenStderrIsTheJournal",
            kJournalInnerEnv, absl::Seconds(300));
    EXPECT_EQ(inner.exit_code, 0) << inner;
    EXPECT_THAT(inner.out, HasSubstr("[  PASSED  ] 1 test")) << inner;
    return;
  }
  // The inner run (its own lab): serve's stderr is the lab's log file; JOURNAL_STREAM naming
  // that file is what systemd would set for a unit whose stderr is the journal.
  absl::StatusOr<int> stopped = lab().StopSigner();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  struct stat st {};
  ASSERT_EQ(::stat(lab().signer_log_path().c_str(), &st), 0);
  ::setenv("JOURNAL_STREAM", absl::StrCat(st.st_dev, ":", st.st_ino).c_str(), 1);
  absl::Status started = lab().StartSigner();
  ::unsetenv("JOURNAL_STREAM");
  ASSERT_TRUE(started.ok()) << started;

  std::unique_ptr<agent::SignerClient> client = Client("web1");
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->CreateOrder({"web1.example.test"}, "").ok()) << lab().SignerLogTail();
  ASSERT_FALSE(client->CreateOrder({"web2.example.test"}, "").ok());

  const std::vector<nlohmann::json> entries = JournalEntries("web1", 2);
  ASSERT_EQ(entries.size(), 2u) << lab().SignerLogTail();
  EXPECT_EQ(entries[0].value("DECISION", ""), "allow");
  EXPECT_EQ(entries[0].value("PRIORITY", ""), "6");
  EXPECT_EQ(entries[0].value("NAMES", ""), "web1.example.test");
  EXPECT_EQ(entries[1].value("DECISION", ""), "deny");
  EXPECT_EQ(entries[1].value("PRIORITY", ""), "5");
  EXPECT_EQ(entries[1].value("NAMES", ""), "web2.example.test");
  EXPECT_THAT(entries[1].value("REASON", ""), HasSubstr("web2.example.test"));
  for (const nlohmann::json& entry : entries) {
    EXPECT_EQ(entry.value("SYSLOG_IDENTIFIER", ""), "acme-signer");
    EXPECT_EQ(entry.value("RPC", ""), "CreateOrder");
    EXPECT_EQ(entry.value("ACCOUNT", ""), "default");
    EXPECT_FALSE(entry.value("AUDIT_SEQ", "").empty());
    EXPECT_FALSE(entry.value("REPLICA", "").empty());
    EXPECT_THAT(entry.value("MESSAGE", ""), ::testing::StartsWith("decision="));
  }
  // In the journal instead of on stderr, not both.
  EXPECT_EQ(CountLinesStartingWith(lab().SignerLog(), "acme-signer: decision="), 0)
      << lab().SignerLog();
}

}  // namespace
}  // namespace acme_signer
