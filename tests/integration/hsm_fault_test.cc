// HSM faults from the security review, driven through the real `acme-signer` processes
// (SignerLab: the acme-signer binary, SoftHSM2, Pebble, gRPC over mutual TLS):
//  - start-up with a wrong PIN, a PIN file others may read, or a token URI that matches no
//    token: `serve` exits at once with 78 (EX_CONFIG, which the systemd unit does not
//    restart), names the file / URI to fix, never prints the PIN, and logs in exactly once
//    (counted from p11-kit's own call log); `init` with a wrong PIN creates nothing;
//  - the token directory disappears while the signer serves: what SoftHSM2 does, what the
//    agent sees, what the audit log records, that the signer neither dies nor spins, and that
//    it recovers by itself when the directory comes back;
//  - SIGTERM in the middle of such an outage: the signer exits without a crash and the audit
//    log still verifies;
//  - a periodic audit checkpoint that falls in such an outage (HsmOutageCheckpointTest, a lab
//    with audit.checkpoint_every = 4): RPCs are refused while it cannot be signed, the
//    unsigned tail does not grow, and the signer resumes by itself once the token is back.
// One SignerLab serves the whole suite; every test leaves the signer running with the right
// PIN and the token in place.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/signer_client.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer {
namespace {

using ::testing::AllOf;
using ::testing::AnyOf;
using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;

namespace pb = ::acmesigner::v1;

constexpr int kExitConfig = 78;  // signer/commands.h

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Occurrences of `needle` in `haystack`.
int Count(absl::string_view haystack, absl::string_view needle) {
  int n = 0;
  for (size_t at = haystack.find(needle); at != absl::string_view::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// CPU time (user + system, in clock ticks) the process has used so far; -1 when unreadable.
long CpuTicks(pid_t pid) {
  std::string stat = Slurp(absl::StrCat("/proc/", pid, "/stat"));
  // Field 2 (comm) may hold spaces; the fields after its closing ')' are space-separated,
  // utime and stime are fields 14 and 15, i.e. the 12th and 13th after ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
  long utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return -1;
  }
  return utime + stime;
}

// The lab token's directory in SoftHSM2's token dir (SoftHSM2 names it by a UUID; the token's
// label is stored in its token.object).
std::string TokenDirOf(const testing::SignerLab& lab) {
  absl::StatusOr<std::string> dir = testing::SoftHsmDir();
  EXPECT_TRUE(dir.ok()) << dir.status();
  if (!dir.ok()) return "";
  for (const auto& entry : std::filesystem::directory_iterator(*dir + "/tokens")) {
    if (absl::StrContains(Slurp(entry.path() / "token.object"), lab.token().label)) {
      return entry.path();
    }
  }
  ADD_FAILURE() << "no SoftHSM2 directory holds token " << lab.token().label;
  return "";
}

// Where a test moves the token directory: out of SoftHSM2's token dir, not beside the
// original, because SoftHSM2 takes any directory in its token dir for a token.
std::string AwayPathOf(const testing::SignerLab& lab) {
  return absl::StrCat(lab.dir(), "/", lab.token().label, ".token-away");
}

class HsmFaultTest : public testing::SignerLabSuite<HsmFaultTest> {
 protected:
  // Every test leaves the right PIN, the original config and the token directory in place,
  // and the signer running.
  void TearDown() override {
    if (!saved_pin_.empty()) {
      ASSERT_TRUE(WriteFileAtomically(lab().token().pin_file, saved_pin_, 0600).ok());
      saved_pin_.clear();
    }
    if (!saved_config_.empty()) {
      ASSERT_TRUE(lab().WriteRawConfig(saved_config_).ok());
      saved_config_.clear();
    }
    if (!moved_token_dir_.empty()) RestoreTokenDir();
    if (!lab().signer_running()) {
      absl::Status started = lab().StartSigner();
      ASSERT_TRUE(started.ok()) << started;
    }
  }

  static std::string TokenDir() { return TokenDirOf(lab()); }

  static int ObjectFiles(const std::string& token_dir) {
    int n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(token_dir)) {
      n += entry.path().extension() == ".object" && entry.path().filename() != "token.object";
    }
    return n;
  }

  void ReplacePin(absl::string_view pin) {
    absl::StatusOr<std::string> saved = ReadFile(lab().token().pin_file);
    ASSERT_TRUE(saved.ok()) << saved.status();
    saved_pin_ = *saved;
    ASSERT_TRUE(WriteFileAtomically(lab().token().pin_file, pin, 0600).ok());
  }

  void ReplaceConfig(const std::string& from, const std::string& to) {
    absl::StatusOr<std::string> text = ReadFile(lab().config_path());
    ASSERT_TRUE(text.ok()) << text.status();
    saved_config_ = *text;
    std::string changed = *text;
    ASSERT_TRUE(absl::StrContains(changed, from)) << changed;
    changed.replace(changed.find(from), from.size(), to);
    ASSERT_TRUE(lab().WriteRawConfig(changed).ok());
  }

  // Moves the token directory out of SoftHSM2's token dir (TearDown moves it back).
  void RemoveTokenDir() {
    moved_token_dir_ = TokenDir();
    ASSERT_FALSE(moved_token_dir_.empty());
    ASSERT_EQ(::rename(moved_token_dir_.c_str(), AwayPath().c_str()), 0) << errno;
  }
  void RestoreTokenDir() {
    ASSERT_EQ(::rename(AwayPath().c_str(), moved_token_dir_.c_str()), 0) << errno;
    moved_token_dir_.clear();
  }
  static std::string AwayPath() { return AwayPathOf(lab()); }

  // The audit records after the first `skip`, for RPC `rpc`.
  static std::vector<nlohmann::json> AuditRecordsFor(size_t skip, absl::string_view rpc) {
    std::vector<nlohmann::json> all = AuditRecords();
    std::vector<nlohmann::json> out;
    for (size_t i = skip; i < all.size(); ++i) {
      if (all[i].value("rpc", "") == rpc) out.push_back(all[i]);
    }
    return out;
  }

  // `acme-signer serve` run to completion (it is expected to refuse to start).
  static CommandResult ServeOnce() { return Run({"serve", "--config", lab().config_path()}); }

  std::string saved_pin_;
  std::string saved_config_;
  std::string moved_token_dir_;
};

TEST_F(HsmFaultTest, WrongPinAtStartUpExitsWithExConfigNamingThePinFileAfterOneLogin) {
  ASSERT_TRUE(lab().StopSigner().ok());
  const std::string wrong_pin = "wrong-pin-4711";
  ReplacePin(wrong_pin);

  CommandResult run = ServeOnce();
  EXPECT_EQ(run.exit_code, kExitConfig) << run.err;
  EXPECT_THAT(run.err, AllOf(HasSubstr("hsm.pin_file"), HasSubstr(lab().token().pin_file),
                             HasSubstr("CKR_PIN_INCORRECT"), HasSubstr("not retried"),
                             HasSubstr("not retrying")));
  EXPECT_THAT(run.out + run.err, AllOf(Not(HasSubstr(wrong_pin)), Not(HasSubstr(saved_pin_))));
  EXPECT_EQ(Count(run.err, "PIN rejected"), 1) << run.err;
  EXPECT_THAT(run.out, Not(HasSubstr("serving on")));

  // The right PIN again: the same command serves.
  ASSERT_TRUE(WriteFileAtomically(lab().token().pin_file, saved_pin_, 0600).ok());
  saved_pin_.clear();
  absl::Status started = lab().StartSigner();
  ASSERT_TRUE(started.ok()) << started;
  std::unique_ptr<agent::SignerClient> client = Client("web1");
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->GetAccount().ok());
}

TEST_F(HsmFaultTest, PinFileReadableByOthersIsRefusedAtStartUpWithExConfig) {
  ASSERT_TRUE(lab().StopSigner().ok());
  ASSERT_EQ(::chmod(lab().token().pin_file.c_str(), 0644), 0);
  CommandResult run = ServeOnce();
  ASSERT_EQ(::chmod(lab().token().pin_file.c_str(), 0600), 0);
  EXPECT_EQ(run.exit_code, kExitConfig) << run.err;
  EXPECT_THAT(run.err, AllOf(HasSubstr(lab().token().pin_file), HasSubstr("mode 0644"),
                             HasSubstr("chmod 600")));
}

TEST_F(HsmFaultTest, TokenUriMatchingNoTokenIsRefusedAtStartUpWithExConfig) {
  ASSERT_TRUE(lab().StopSigner().ok());
  ReplaceConfig(absl::StrCat("token_uri = \"", lab().token().uri, "\""),
                "token_uri = \"pkcs11:token=no-such-token\"");
  CommandResult run = ServeOnce();
  EXPECT_EQ(run.exit_code, kExitConfig) << run.err;
  EXPECT_THAT(run.err, AllOf(HasSubstr("hsm.token_uri"), HasSubstr("pkcs11:token=no-such-token"),
                             HasSubstr(absl::StrCat("pkcs11:token=", lab().token().label))));
}

TEST_F(HsmFaultTest, InitWithAWrongPinFailsClearlyAndCreatesNoKey) {
  ASSERT_TRUE(lab().StopSigner().ok());
  const std::string token_dir = TokenDir();
  ASSERT_FALSE(token_dir.empty());
  const int objects_before = ObjectFiles(token_dir);
  // New key names, so an init that got past the login would generate them.
  ReplaceConfig("[hsm]\n", "[hsm]\naccount_key = \"pkcs11:object=fresh-account-key\"\n");
  const std::string wrong_pin = "wrong-pin-0815";
  ReplacePin(wrong_pin);

  CommandResult run = Run({"init", "--config", lab().config_path()});
  EXPECT_EQ(run.exit_code, kExitConfig) << run.err;
  EXPECT_THAT(run.err, AllOf(HasSubstr("acme-signer init: hsm.pin_file"),
                             HasSubstr(lab().token().pin_file), HasSubstr("CKR_PIN_INCORRECT")));
  EXPECT_THAT(run.out + run.err, Not(HasSubstr(wrong_pin)));
  EXPECT_THAT(run.out, Not(HasSubstr("generated")));
  EXPECT_EQ(ObjectFiles(token_dir), objects_before) << "init created an object in the token";
}

TEST_F(HsmFaultTest, TokenDirectoryGoneWhileServingFailsSigningCallsAsUnavailableUntilItIsBack) {
  std::unique_ptr<agent::SignerClient> client = Client("web1");
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->GetAccount().ok());
  const pid_t pid = lab().signer_pid();
  const size_t audit_before = AuditRecords().size();

  RemoveTokenDir();
  // CreateOrder signs a JWS with the account key in the HSM.
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<pb::Order> order = client->CreateOrder({"web1.example.test"}, "");
    EXPECT_EQ(order.status().code(), absl::StatusCode::kUnavailable) << order.status();
    EXPECT_THAT(order.status().message(),
                AllOf(HasSubstr(absl::StrCat("HSM token ", lab().token().label, " is unavailable")),
                      HasSubstr("CKR_"), HasSubstr("check the HSM")))
        << order.status();
  }
  // GetAccount needs no HSM operation (the thumbprint comes from the public key read at
  // start-up), so it keeps answering.
  EXPECT_TRUE(client->GetAccount().ok());

  // Every refused call is audited with the HSM error as its outcome.
  std::vector<nlohmann::json> audited = AuditRecordsFor(audit_before, "CreateOrder");
  ASSERT_EQ(audited.size(), 2u);
  for (const nlohmann::json& record : audited) {
    EXPECT_THAT(record["outcome"].value("error", ""), HasSubstr("is unavailable")) << record;
  }

  // Alive, and idle means idle: no retry loop spinning on the failed token.
  EXPECT_TRUE(lab().signer_running());
  EXPECT_EQ(::kill(pid, 0), 0) << "the signer died during the outage";
  const long ticks_before = CpuTicks(pid);
  ASSERT_GE(ticks_before, 0);
  const absl::Duration idle = absl::Seconds(3);
  absl::SleepFor(idle);
  const long ticks_after = CpuTicks(pid);
  const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
  // A spinning thread would use ~100% of the idle time; allow a quarter for pollers.
  EXPECT_LT(ticks_after - ticks_before, absl::ToInt64Seconds(idle) * ticks_per_second / 4)
      << "the signer burns CPU while the HSM is out";

  // Back: calls succeed again without restarting the signer (same process). The module is
  // reinitialized at most once a second, and the health monitor's HSM probe (every second) may
  // have just used that turn while the token was still away, so allow a few seconds.
  RestoreTokenDir();
  absl::StatusOr<pb::Order> order = absl::UnavailableError("not tried");
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (true) {
    order = client->CreateOrder({"web1.example.test"}, "");
    if (order.ok() || absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(300));
  }
  ASSERT_TRUE(order.ok()) << order.status() << "\n" << lab().SignerLogTail();
  EXPECT_FALSE(order->url().empty());
  EXPECT_EQ(lab().signer_pid(), pid);
  EXPECT_EQ(::kill(pid, 0), 0);
  ExpectAuditVerifies();
}

TEST_F(HsmFaultTest, SigtermDuringAnHsmOutageExitsWithoutCrashAndTheAuditLogVerifies) {
  std::unique_ptr<agent::SignerClient> client = Client("web1");
  ASSERT_NE(client, nullptr);
  RemoveTokenDir();
  absl::StatusOr<pb::Order> order = client->CreateOrder({"web1.example.test"}, "");
  ASSERT_EQ(order.status().code(), absl::StatusCode::kUnavailable) << order.status();

  // The shutdown checkpoint cannot be signed: the signer says so and exits 1 by itself (no
  // signal, no sanitizer report, no hang).
  const size_t log_before = lab().SignerLog().size();
  absl::StatusOr<int> exit_code = lab().StopSigner();
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 1) << lab().SignerLogTail();
  const std::string log = lab().SignerLog().substr(log_before);
  EXPECT_THAT(log, AllOf(HasSubstr("SIGTERM"), HasSubstr("cannot sign audit checkpoint"),
                         HasSubstr("is unavailable"), HasSubstr("\"startup\" checkpoint"),
                         Not(HasSubstr("AddressSanitizer")), Not(HasSubstr("runtime error"))));
  // Every record is on disk and chained; `audit verify` needs no HSM.
  ExpectAuditVerifies();

  // With the token back the signer starts, signs the unsigned tail ("startup" checkpoint)
  // and the log still verifies.
  RestoreTokenDir();
  absl::Status started = lab().StartSigner();
  ASSERT_TRUE(started.ok()) << started;
  ExpectAuditVerifies();
  std::vector<nlohmann::json> records = AuditRecords();
  ASSERT_FALSE(records.empty());
  bool startup_checkpoint = false;
  for (const nlohmann::json& record : records) {
    startup_checkpoint |= record.value("trigger", "") == "startup";
  }
  EXPECT_TRUE(startup_checkpoint);
}

// A lab whose audit log signs a checkpoint every 4 records, so one falls inside an outage.
class HsmOutageCheckpointTest : public testing::SignerLabSuite<HsmOutageCheckpointTest> {
 protected:
  static constexpr int kCheckpointEvery = 4;

  static testing::SignerLab::Options LabOptions() {
    testing::SignerLab::Options options;
    options.checkpoint_every = kCheckpointEvery;
    return options;
  }

  void TearDown() override {
    if (!lab_started()) return;
    if (token_away_) {
      ASSERT_EQ(::rename(AwayPathOf(lab()).c_str(), token_dir_.c_str()), 0) << errno;
      token_away_ = false;
    }
  }

  void RemoveTokenDir() {
    token_dir_ = TokenDirOf(lab());
    ASSERT_FALSE(token_dir_.empty());
    ASSERT_EQ(::rename(token_dir_.c_str(), AwayPathOf(lab()).c_str()), 0) << errno;
    token_away_ = true;
  }
  void RestoreTokenDir() {
    ASSERT_EQ(::rename(AwayPathOf(lab()).c_str(), token_dir_.c_str()), 0) << errno;
    token_away_ = false;
  }

  // Event records after the last checkpoint in the live log.
  static int UnsignedTail(const std::vector<nlohmann::json>& records) {
    int tail = 0;
    for (const nlohmann::json& record : records) {
      tail = record.value("kind", "") == "checkpoint" ? 0 : tail + 1;
    }
    return tail;
  }

  std::string token_dir_;
  bool token_away_ = false;
};

TEST_F(HsmOutageCheckpointTest,
       CheckpointDuringAnOutageRefusesCallsUntilTheTokenIsBackThenResumes) {
  std::unique_ptr<agent::SignerClient> client = Client("web1");
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->GetAccount().ok());
  const pid_t pid = lab().signer_pid();

  RemoveTokenDir();
  // GetAccount needs no HSM operation, so it keeps succeeding until its own audit record
  // makes the checkpoint due: that one record is written, but the call is refused.
  const int before_due = kCheckpointEvery - 1 - UnsignedTail(AuditRecords());
  ASSERT_GE(before_due, 0);
  for (int i = 0; i < before_due; ++i) {
    absl::Status status = client->GetAccount().status();
    ASSERT_TRUE(status.ok()) << status;
  }
  absl::Status due = client->GetAccount().status();
  EXPECT_EQ(due.code(), absl::StatusCode::kUnavailable) << due;
  EXPECT_THAT(
      due.message(),
      AllOf(HasSubstr("the audit log cannot be written"), HasSubstr("cannot sign audit checkpoint"),
            HasSubstr(absl::StrCat("HSM token ", lab().token().label, " is unavailable")),
            HasSubstr("was written"), HasSubstr("request is refused")))
      << due;
  const std::vector<nlohmann::json> at_due = AuditRecords();
  EXPECT_EQ(UnsignedTail(at_due), kCheckpointEvery);

  // Clients retrying through the outage, with and without HSM operations: refused, nothing
  // is written, the unsigned tail stays at checkpoint_every.
  for (int i = 0; i < 3; ++i) {
    absl::Status account = client->GetAccount().status();
    EXPECT_EQ(account.code(), absl::StatusCode::kUnavailable) << account;
    EXPECT_THAT(account.message(),
                AllOf(HasSubstr("cannot sign audit checkpoint"),
                      HasSubstr("this record was not written"), HasSubstr("resume by themselves")))
        << account;
    absl::Status order = client->CreateOrder({"web1.example.test"}, "").status();
    EXPECT_EQ(order.code(), absl::StatusCode::kUnavailable) << order;
  }
  EXPECT_EQ(AuditRecords().size(), at_due.size());
  // `audit verify` needs no HSM: what was written during the outage is a valid chain.
  ExpectAuditVerifies();

  // The token layer reinitializes the module at most once a second; let that interval pass
  // since the last refused call, so the first call after the restore finds the token.
  absl::SleepFor(absl::Milliseconds(1500));
  RestoreTokenDir();
  absl::StatusOr<pb::Order> order = client->CreateOrder({"web1.example.test"}, "");
  ASSERT_TRUE(order.ok()) << order.status() << "\n" << lab().SignerLogTail();
  EXPECT_FALSE(order->url().empty());
  EXPECT_TRUE(client->GetAccount().ok());
  EXPECT_EQ(lab().signer_pid(), pid) << "the signer was restarted";
  EXPECT_EQ(::kill(pid, 0), 0);

  // The owed checkpoint comes right after the record that made it due and covers exactly
  // checkpoint_every records; the calls after the restore follow it.
  std::vector<nlohmann::json> records = AuditRecords();
  ASSERT_GT(records.size(), at_due.size() + 1);
  const nlohmann::json& checkpoint = records[at_due.size()];
  EXPECT_EQ(checkpoint.value("kind", ""), "checkpoint") << checkpoint;
  EXPECT_EQ(checkpoint.value("trigger", ""), "interval") << checkpoint;
  EXPECT_EQ(checkpoint.value("count", 0), kCheckpointEvery) << checkpoint;
  EXPECT_EQ(checkpoint.value("prev", ""), at_due.back().value("hash", ""));
  EXPECT_EQ(records[at_due.size() + 1].value("rpc", ""), "CreateOrder");
  ExpectAuditVerifies();
}

}  // namespace
}  // namespace acme_signer
