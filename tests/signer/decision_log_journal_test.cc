// The decision log's native journal fields, against a real systemd-journald: the test runs
// itself again inside a private mount namespace (`unshare -m`) where a tmpfs covers
// /run/systemd/journal and /run/log and a journald of its own listens, sends one decision
// with DecisionLog's journal path (sd_journal_sendv) and reads it back with
// `journalctl -o json AGENT=...`. The host's journal is never touched.
//
// Needs root (mounts), util-linux unshare and systemd's journald/journalctl. Where they are
// missing or mount namespaces are not allowed (many CI containers), the test skips and says
// why: the issue pins the line format for CI (decision_log_test.cc) and the fields "where a
// journald runs".
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "signer/decision_log.h"
#include "tests/testing/child_process.h"
#include "tests/testing/private_journald.h"

namespace acme_signer::signer {
namespace {

constexpr char kInnerEnv[] = "ACME_SIGNER_DECISION_JOURNAL_INNER";
constexpr char kAgent[] = "journal-test-agent";

testing::ChildResult RunTool(const std::vector<std::string>& args,
                         const std::vector<std::string>& env = {}) {
  testing::ChildOptions options;
  options.scratch_dir = ::testing::TempDir();
  options.timeout = absl::Seconds(60);
  options.extra_env = env;
  return testing::RunChild(args, options);
}

// The inner run: journald is ours; send and read back.
void SendAndReadBack() {
  AuditRecord record;
  record.agent = kAgent;
  record.rpc = "FinalizeOrder";
  record.account = "default";
  record.request.identifiers = {Identifier::Dns("a.example.test"), Identifier::Dns("b.example.test")};
  record.decision = AuditDecision::kDeny;
  record.reason = "not allowed\nsecond line";
  DecisionLog log("r1", /*journal=*/true, /*fd=*/-1);
  log.OnAudited(record, 42);

  // journald writes asynchronously: poll (bounded) until the entry is readable.
  nlohmann::json entry;
  for (int attempt = 0; attempt < 50 && entry.is_null(); ++attempt) {
    testing::ChildResult read = RunTool({testing::kJournalctlPath, "--no-pager", "-o", "json",
                                     absl::StrCat("AGENT=", kAgent)});
    for (absl::string_view line : absl::StrSplit(read.out, '\n', absl::SkipEmpty())) {
      entry = nlohmann::json::parse(line, nullptr, false);
    }
    if (entry.is_discarded()) entry = nullptr;
    if (entry.is_null()) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_FALSE(entry.is_null()) << "journalctl found no entry with AGENT=" << kAgent;
  EXPECT_EQ(entry.value("SYSLOG_IDENTIFIER", ""), "acme-signer");
  EXPECT_EQ(entry.value("PRIORITY", ""), "5");
  EXPECT_EQ(entry.value("DECISION", ""), "deny");
  EXPECT_EQ(entry.value("RPC", ""), "FinalizeOrder");
  EXPECT_EQ(entry.value("NAMES", ""), "a.example.test,b.example.test");
  EXPECT_EQ(entry.value("ACCOUNT", ""), "default");
  EXPECT_EQ(entry.value("REPLICA", ""), "r1");
  EXPECT_EQ(entry.value("AUDIT_SEQ", ""), "42");
  // The field keeps the raw reason; the MESSAGE is the escaped one-line form.
  EXPECT_EQ(entry.value("REASON", ""), "not allowed\nsecond line");
  EXPECT_EQ(entry.value("MESSAGE", ""),
            FormatDecisionLine(DecisionFields(record, 42, "r1")));
}

TEST(DecisionLogJournalTest, NativeFieldsReachAPrivateJournald) {
  if (std::getenv(kInnerEnv) != nullptr) {
    SendAndReadBack();
    return;
  }
  if (std::optional<std::string> why = testing::PrivateJournaldUnavailable()) {
    GTEST_SKIP() << *why;
  }
  testing::ChildResult inner = testing::RerunUnderPrivateJournald(
      "DecisionLogJournalTest.NativeFieldsReachAPrivateJournald", kInnerEnv, absl::Seconds(60));
  EXPECT_EQ(inner.exit_code, 0) << inner;
  EXPECT_THAT(inner.out, ::testing::HasSubstr("[  PASSED  ] 1 test")) << inner;
}

}  // namespace
}  // namespace acme_signer::signer
