#include "signer/decision_log.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace acme_signer::signer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

AuditRecord Finalize() {
  AuditRecord record;
  record.agent = "web1";
  record.rpc = "FinalizeOrder";
  record.account = "default";
  record.request.identifiers = {Identifier::Dns("a.web1.example"),
                                Identifier::Dns("b.web1.example")};
  record.decision = AuditDecision::kAllow;
  record.reason = "names allowed by policy";
  record.outcome.serial = "04ab";
  // Present in the record, never in the line: digests and URLs are for the audit chain.
  record.request.csr_sha256 = "c5a";
  record.client_cert_sha256 = "cc1";
  return record;
}

std::string Line(const AuditRecord& record, uint64_t seq = 123) {
  return FormatDecisionLine(DecisionFields(record, seq, "r1"));
}

TEST(DecisionLogTest, AllowLineHasEveryKeyInOrder) {
  EXPECT_EQ(Line(Finalize()),
            "decision=allow agent=web1 rpc=FinalizeOrder names=a.web1.example,b.web1.example "
            "account=default replica=r1 seq=123 serial=04ab reason=\"names allowed by policy\"");
}

TEST(DecisionLogTest, LeavesEmptyFieldsOutButKeepsDecisionAgentAndRpc) {
  AuditRecord record;
  record.rpc = "GetAccount";
  record.decision = AuditDecision::kDeny;
  EXPECT_EQ(FormatDecisionLine(DecisionFields(record, 7, "")),
            "decision=deny agent=\"\" rpc=GetAccount seq=7");
}

TEST(DecisionLogTest, FoldedRefusalsSayHowMany) {
  AuditRecord record = Finalize();
  record.decision = AuditDecision::kDeny;
  record.reason = "name outside policy";
  record.outcome.serial.clear();
  record.repeated.count = 41;
  record.repeated.folded = "identical";
  EXPECT_THAT(Line(record), HasSubstr(" reason=\"name outside policy\" repeat=41 folded=identical"));
}

TEST(DecisionLogTest, OtherIdentifierTypesAndUnrecordedNamesAreShown) {
  AuditRecord record = Finalize();
  record.request.identifiers = {Identifier::Dns("a.x"), Identifier{"ip", "192.0.2.1"}};
  record.request.identifiers_not_recorded = 3;
  EXPECT_THAT(Line(record), HasSubstr(" names=a.x,ip:192.0.2.1 names_not_recorded=3 "));
}

TEST(DecisionLogTest, QuotesAndEscapesValuesSoNoValueStartsALine) {
  EXPECT_EQ(DecisionValueText("plain.value-1"), "plain.value-1");
  EXPECT_EQ(DecisionValueText(""), "\"\"");
  EXPECT_EQ(DecisionValueText("a b"), "\"a b\"");
  EXPECT_EQ(DecisionValueText("k=v"), "\"k=v\"");
  EXPECT_EQ(DecisionValueText("say \"hi\" \\ ok"), "\"say \\\"hi\\\" \\\\ ok\"");
  EXPECT_EQ(DecisionValueText("tab\there\r"), "\"tab\\there\\r\"");
  EXPECT_EQ(DecisionValueText("\x01\x7f\xc3\xa9"), "\"\\x01\\x7f\\xc3\\xa9\"");

  AuditRecord record = Finalize();
  record.decision = AuditDecision::kDeny;
  record.reason = "bad name\nacme-signer: decision=allow agent=evil";
  const std::string line = Line(record);
  EXPECT_THAT(line, Not(HasSubstr("\n")));
  EXPECT_THAT(line, HasSubstr("reason=\"bad name\\nacme-signer: decision=allow agent=evil\""));
}

TEST(DecisionLogTest, WritesExactlyOneLinePerDecisionToItsFd) {
  char path[] = "/tmp/decision_log_test.XXXXXX";
  UniqueFd fd(::mkstemp(path));
  ASSERT_TRUE(fd.valid());
  ::unlink(path);
  DecisionLog log("r1", /*journal=*/false, fd.get());
  AuditRecord allow = Finalize();
  AuditRecord deny = Finalize();
  deny.decision = AuditDecision::kDeny;
  deny.reason = "two\nlines";
  log.OnAudited(allow, 1);
  log.OnAudited(deny, 2);
  std::string written(4096, '\0');
  const ssize_t n = ::pread(fd.get(), written.data(), written.size(), 0);
  ASSERT_GT(n, 0);
  written.resize(static_cast<size_t>(n));
  const std::vector<std::string> lines = absl::StrSplit(written, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << written;
  EXPECT_EQ(lines[0], absl::StrCat("acme-signer: ", Line(allow, 1)));
  EXPECT_EQ(lines[1], absl::StrCat("acme-signer: ", Line(deny, 2)));
}

TEST(DecisionLogTest, JournalStreamMustNameTheFileOnTheFd) {
  char path[] = "/tmp/decision_log_test.XXXXXX";
  UniqueFd fd(::mkstemp(path));
  ASSERT_TRUE(fd.valid());
  ::unlink(path);
  struct stat st {};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(FdIsJournalStream(fd.get()));
  ::setenv("JOURNAL_STREAM", absl::StrCat(st.st_dev, ":", st.st_ino).c_str(), 1);
  EXPECT_TRUE(FdIsJournalStream(fd.get()));
  ::setenv("JOURNAL_STREAM", absl::StrCat(st.st_dev, ":", st.st_ino + 1).c_str(), 1);
  EXPECT_FALSE(FdIsJournalStream(fd.get()));
  ::setenv("JOURNAL_STREAM", "garbage", 1);
  EXPECT_FALSE(FdIsJournalStream(fd.get()));
  ::unsetenv("JOURNAL_STREAM");
}

}  // namespace
}  // namespace acme_signer::signer
