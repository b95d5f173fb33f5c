// `acme-signer audit query`, `audit checkpoint` and `audit verify --witness` (the real binary)
// over a real file log: written by AuditLog with a SoftHSM2 audit key and the signer's SQLite
// state store (the checkpoint reference), rotated into several files. Also the modes the
// auditor group relies on (log directory 0750, files 0640) and the rollback the witness
// exists for: an older copy of both the log and the state store restored. And `inventory
// --name/--expiring` with its issued-at and revoked columns, over the same kind of config.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/key_type.h"
#include "hsm/module.h"
#include "hsm/token.h"
#include "nlohmann/json.hpp"
#include "signer/audit_log.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/runtime.h"
#include "signer/state_store.h"
#include "tests/testing/child_process.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer::signer {
namespace {

namespace fs = std::filesystem;
using ::acme_signer::testing::ChildOptions;
using ::acme_signer::testing::ChildResult;
using ::acme_signer::testing::RunChild;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

void Write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

AuditRecord Event(const std::string& agent, AuditDecision decision, const std::string& rpc,
                  const std::vector<std::string>& names) {
  AuditRecord record;
  record.agent = agent;
  record.client_cert_sha256 = std::string(64, 'a');
  record.peer = "ipv4:127.0.0.1:40000";
  record.rpc = rpc;
  for (const std::string& name : names) record.request.identifiers.push_back(Identifier::Dns(name));
  record.decision = decision;
  record.reason = decision == AuditDecision::kAllow
                      ? "names allowed by policy"
                      : absl::StrCat("name ", names.empty() ? "" : names[0],
                                     " is not allowed for agent ", agent);
  if (rpc == "FinalizeOrder" && decision == AuditDecision::kAllow) {
    record.outcome.serial = absl::StrCat("0a", names.empty() ? "" : names[0].substr(0, 3));
    record.outcome.acme_status = "valid";
  }
  return record;
}

class CmdAuditQueryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(testing::SoftHsmAvailable().ok());
    auto token_info = testing::CreateSoftHsmToken("cmd-audit-query");
    ASSERT_TRUE(token_info.ok()) << token_info.status();
    token_info_ = new testing::SoftHsmToken(*token_info);
    auto module = hsm::Module::Load(testing::kSoftHsmModule);
    ASSERT_TRUE(module.ok()) << module.status();
    auto token = hsm::Token::Open(*module, token_info->uri, token_info->pin_file);
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new std::shared_ptr<hsm::Token>(*std::move(token));
    auto key = (*token_)->GenerateSigningKey("pkcs11:object=audit-key", hsm::KeyType::kEcP256);
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = key->release();
    std::string pattern = "/tmp/h4query-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = new std::string(pattern);
  }
  static void TearDownTestSuite() {
    delete key_;
    delete token_;
    delete token_info_;
    if (dir_ != nullptr) fs::remove_all(*dir_);
    delete dir_;
  }

  // A signer config whose state is DIR/NAME/state and audit log DIR/NAME/log/audit.log.
  static std::string Config(const std::string& name) {
    const std::string path = absl::StrCat(*dir_, "/", name, ".toml");
    fs::create_directory(absl::StrCat(*dir_, "/", name));  // the log dir is left to AuditLog
    Write(path, absl::StrCat(R"([server]
tls_cert = "tls/server.pem"
tls_key = "tls/server.key"
agent_ca_cert = "tls/agent-ca.pem"
trust_domain = "dept.example"

[acme]
directory_url = "https://ca.test/dir"

[hsm]
module = "softhsm2"
token_uri = ")",
                             token_info_->uri, R"("
pin_file = ")",
                             token_info_->pin_file, R"("

[state]
dir = ")",
                             *dir_, "/", name, R"(/state"

[audit]
log = ")",
                             LogPath(name), "\"\n"));
    return path;
  }
  static std::string LogPath(const std::string& name) {
    return absl::StrCat(*dir_, "/", name, "/log/audit.log");
  }

  // Appends `records` to the log of `config_path` through AuditLog with the config's state
  // store (as serve does), rotating every ~1500 bytes and checkpointing every 3 records; the
  // log is closed (shutdown checkpoint) before returning.
  static void Append(const std::string& config_path, const std::vector<AuditRecord>& records) {
    absl::StatusOr<SignerConfig> config = LoadSignerConfig(config_path);
    ASSERT_TRUE(config.ok()) << config.status();
    RuntimeParts parts;
    parts.migrate_store = true;
    absl::StatusOr<std::unique_ptr<SignerRuntime>> runtime = SignerRuntime::Open(*config, parts);
    ASSERT_TRUE(runtime.ok()) << runtime.status();
    AuditLogOptions options;
    options.path = config->audit.log;
    options.checkpoint_interval = 3;
    options.rotate_bytes = 1500;
    options.state_store = (*runtime)->store.get();
    options.replica = "solo";
    auto log = AuditLog::Open(options, key_);
    ASSERT_TRUE(log.ok()) << log.status();
    for (const AuditRecord& record : records) ASSERT_TRUE((*log)->Append(record).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }

  static ChildResult Run(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {ACME_SIGNER_BIN, "audit"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunArgv(argv);
  }
  static ChildResult RunArgv(const std::vector<std::string>& argv) {
    ChildOptions options;
    options.scratch_dir = *dir_;
    options.timeout = absl::Seconds(60);
    return RunChild(argv, options);
  }

  static testing::SoftHsmToken* token_info_;
  static std::shared_ptr<hsm::Token>* token_;
  static hsm::JwsSigner* key_;
  static std::string* dir_;
};

testing::SoftHsmToken* CmdAuditQueryTest::token_info_ = nullptr;
std::shared_ptr<hsm::Token>* CmdAuditQueryTest::token_ = nullptr;
hsm::JwsSigner* CmdAuditQueryTest::key_ = nullptr;
std::string* CmdAuditQueryTest::dir_ = nullptr;

std::vector<AuditRecord> History() {
  return {
      Event("web1", AuditDecision::kAllow, "CreateOrder", {"www.x.example"}),
      Event("web1", AuditDecision::kAllow, "FinalizeOrder", {"www.x.example"}),
      Event("web2", AuditDecision::kDeny, "CreateOrder", {"evil.example"}),
      Event("web2", AuditDecision::kAllow, "FinalizeOrder", {"api.x.example", "a.b.x.example"}),
      Event("web1", AuditDecision::kDeny, "CreateOrder", {"www.y.example"}),
      Event("web3", AuditDecision::kAllow, "FinalizeOrder", {"x.example"}),
      Event("web1", AuditDecision::kAllow, "SignJws", {}),
      Event("web2", AuditDecision::kDeny, "RevokeCertificate", {}),
  };
}

TEST_F(CmdAuditQueryTest, QueriesEveryRotatedFileByNameAgentDecisionRpcAndTime) {
  const std::string config = Config("query");
  Append(config, History());
  ASSERT_TRUE(fs::exists(LogPath("query") + ".2")) << "expected several files";

  ChildResult www = Run({"query", "--config", config, "--name", "WWW.X.example"});
  ASSERT_EQ(www.exit_code, kExitOk) << www;
  std::vector<std::string> lines = Lines(www.out);
  ASSERT_EQ(lines.size(), 2u) << www.out;
  EXPECT_THAT(lines[0],
              AllOf(HasSubstr(" web1 allow CreateOrder www.x.example"), Not(HasSubstr("serial="))));
  EXPECT_THAT(lines[1], HasSubstr(" web1 allow FinalizeOrder www.x.example serial=0awww"));
  EXPECT_THAT(lines[1], StartsWith("20"));  // the record's RFC 3339 time first

  ChildResult below = Run({"query", "--config", config, "--name", "*.x.example"});
  ASSERT_EQ(below.exit_code, kExitOk) << below;
  EXPECT_EQ(Lines(below.out).size(), 3u) << below.out;  // not x.example itself

  ChildResult denials = Run({"query", "--config", config, "--decision", "deny"});
  ASSERT_EQ(denials.exit_code, kExitOk) << denials;
  lines = Lines(denials.out);
  ASSERT_EQ(lines.size(), 3u) << denials.out;
  EXPECT_THAT(lines[0], HasSubstr(" web2 deny CreateOrder evil.example reason=\"name "
                                  "evil.example is not allowed for agent web2\""));
  EXPECT_THAT(lines[2], HasSubstr(" web2 deny RevokeCertificate - reason="));

  ChildResult web1_finalize =
      Run({"query", "--config", config, "--agent", "web1", "--rpc", "FinalizeOrder"});
  ASSERT_EQ(web1_finalize.exit_code, kExitOk) << web1_finalize;
  EXPECT_EQ(Lines(web1_finalize.out).size(), 1u) << web1_finalize.out;

  // --json: each record exactly as stored, checkpoints left out.
  ChildResult json = Run({"query", "--config", config, "--json"});
  ASSERT_EQ(json.exit_code, kExitOk) << json;
  lines = Lines(json.out);
  ASSERT_EQ(lines.size(), History().size());
  std::string all_files;
  for (const std::string& file :
       {LogPath("query"), LogPath("query") + ".1", LogPath("query") + ".2"}) {
    std::ifstream in(file);
    all_files.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  for (const std::string& line : lines) {
    EXPECT_THAT(all_files, HasSubstr(line + "\n"));
    nlohmann::json record = nlohmann::json::parse(line);
    EXPECT_EQ(record["kind"], "event");
  }

  // Time: --until the time of the 3rd record (inclusive) gives the first three; a date
  // --until covers its whole day; --since tomorrow gives nothing.
  const std::string third = nlohmann::json::parse(lines[2])["time"];
  ChildResult upto = Run({"query", "--config", config, "--until", third});
  ASSERT_EQ(upto.exit_code, kExitOk) << upto;
  EXPECT_EQ(Lines(upto.out).size(), 3u) << upto.out;
  ChildResult from = Run({"query", "--config", config, "--since", third, "--json"});
  ASSERT_EQ(from.exit_code, kExitOk) << from;
  EXPECT_EQ(Lines(from.out).size(), History().size() - 2) << from.out;
  const std::string today = third.substr(0, 10);
  ChildResult day = Run({"query", "--config", config, "--since", today, "--until", today});
  ASSERT_EQ(day.exit_code, kExitOk) << day;
  EXPECT_EQ(Lines(day.out).size(), History().size()) << day.out;
  const std::string tomorrow =
      absl::FormatTime("%Y-%m-%d", absl::Now() + absl::Hours(24), absl::UTCTimeZone());
  ChildResult none = Run({"query", "--config", config, "--since", tomorrow});
  ASSERT_EQ(none.exit_code, kExitOk) << none;
  EXPECT_EQ(none.out, "");
}

TEST_F(CmdAuditQueryTest, RejectsBadFlagsWithTheReason) {
  const std::string config = Config("badflags");
  ChildResult date = Run({"query", "--config", config, "--since", "last tuesday"});
  EXPECT_EQ(date.exit_code, kExitUsage) << date;
  EXPECT_THAT(date.err, HasSubstr("--since \"last tuesday\" is not a time: give an RFC 3339"));
  ChildResult decision = Run({"query", "--config", config, "--decision", "refused"});
  EXPECT_EQ(decision.exit_code, kExitUsage) << decision;
  EXPECT_THAT(decision.err, HasSubstr("--decision \"refused\" is neither allow nor deny"));
  ChildResult no_log = Run({"query", "--config", config});
  EXPECT_EQ(no_log.exit_code, kExitFailure) << no_log;
  EXPECT_THAT(no_log.err, HasSubstr("audit.log"));
}

TEST_F(CmdAuditQueryTest, SkipsATornLastLine) {
  const std::string config = Config("torn");
  Append(config, {Event("web1", AuditDecision::kAllow, "CreateOrder", {"a.example"})});
  // What a crash during write() leaves: a partial line with no '\n'.
  std::ofstream(LogPath("torn"), std::ios::app) << R"({"agent":"web1","decision":"allow","kin)";
  ChildResult all = Run({"query", "--config", config});
  ASSERT_EQ(all.exit_code, kExitOk) << all;
  EXPECT_EQ(Lines(all.out).size(), 1u) << all.out;
}

TEST_F(CmdAuditQueryTest, LogDirectoryAndFilesAreGroupReadableForAuditors) {
  const mode_t old_umask = ::umask(027);  // the unit's UMask
  const std::string config = Config("modes");
  Append(config, History());
  ::umask(old_umask);
  struct stat st;
  ASSERT_EQ(::stat((*dir_ + "/modes/log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  for (const std::string& file : {LogPath("modes"), LogPath("modes") + ".1"}) {
    ASSERT_EQ(::stat(file.c_str(), &st), 0) << file;
    EXPECT_EQ(st.st_mode & 07777, 0640u) << file;
  }
}

// The rollback the witness exists for: an older copy of BOTH the log and the state store put
// back. `audit verify --config` cannot tell (the restored reference matches the restored log);
// the checkpoint an auditor kept can.
TEST_F(CmdAuditQueryTest, WitnessCatchesARollbackOfLogAndStateTogether) {
  const std::string config = Config("witness");
  Append(config, History());
  const std::string copy = *dir_ + "/witness-backup";
  fs::copy(*dir_ + "/witness", copy, fs::copy_options::recursive);
  Append(config, History());

  ChildResult checkpoint = Run({"checkpoint", "--config", config});
  ASSERT_EQ(checkpoint.exit_code, kExitOk) << checkpoint;
  ASSERT_EQ(Lines(checkpoint.out).size(), 1u) << checkpoint.out;
  nlohmann::json line = nlohmann::json::parse(checkpoint.out);
  ASSERT_TRUE(line.is_object());
  for (const char* key : {"seq", "hash", "signature", "key_id", "time"}) {
    EXPECT_TRUE(line.contains(key)) << key;
  }
  EXPECT_EQ(line.size(), 5u) << checkpoint.out;
  EXPECT_EQ(line["key_id"], Sha256Hex(key_->PublicKeyDer()));
  const uint64_t seq = line["seq"];
  const std::string time = line["time"];
  const std::string witness = *dir_ + "/witness.jsonl";
  Write(witness, checkpoint.out);

  ChildResult ok = Run({"verify", "--config", config, "--witness", witness});
  EXPECT_EQ(ok.exit_code, kExitOk) << ok;
  EXPECT_THAT(ok.out, HasSubstr("witness: all 1 checkpoint(s)"));
  {
    // --witness -: the auditor's copy on stdin (ssh signer ... --witness - < witness.jsonl).
    ChildOptions options;
    options.scratch_dir = *dir_;
    const char* witness_c = witness.c_str();
    options.before_exec = [witness_c] {
      const int fd = ::open(witness_c, O_RDONLY);
      return fd >= 0 && ::dup2(fd, 0) == 0;
    };
    ChildResult piped = RunChild(
        {ACME_SIGNER_BIN, "audit", "verify", "--config", config, "--witness", "-"}, options);
    EXPECT_EQ(piped.exit_code, kExitOk) << piped;
    EXPECT_THAT(piped.out, HasSubstr("witness: all 1 checkpoint(s) of -"));
  }

  // The offline form: files + public key + witness, no state store at all.
  ChildResult pem = Run({"public-key", "--config", config});
  ASSERT_EQ(pem.exit_code, kExitOk) << pem;
  const std::string pem_path = *dir_ + "/audit.pub.pem";
  Write(pem_path, pem.out);
  ChildResult offline =
      Run({"verify", "--log", LogPath("witness"), "--public-key", pem_path, "--witness", witness});
  EXPECT_EQ(offline.exit_code, kExitOk) << offline;

  // Roll both back.
  fs::remove_all(*dir_ + "/witness");
  fs::rename(copy, *dir_ + "/witness");
  ChildResult blind = Run({"verify", "--config", config});
  EXPECT_EQ(blind.exit_code, kExitOk) << "the rollback is a shorter valid chain: " << blind;
  ChildResult caught = Run({"verify", "--config", config, "--witness", witness});
  EXPECT_EQ(caught.exit_code, kExitAuditBad) << caught;
  EXPECT_THAT(caught.out,
              HasSubstr(absl::StrCat("FAILED: witness ", witness, ": witnessed checkpoint seq ",
                                     seq, " (", time, ")")));
  EXPECT_THAT(caught.out, HasSubstr("rolled back"));
}

// The auditor's way in without the config or the state store (which may sit in directories
// only operators read): --log PATH for query, checkpoint and report (with --public-key).
TEST_F(CmdAuditQueryTest, AuditorUsesTheLogAloneForQueryCheckpointAndReport) {
  const std::string config = Config("auditor");
  Append(config, History());
  const std::string log = LogPath("auditor");

  ChildResult by_config = Run({"query", "--config", config, "--decision", "deny"});
  ChildResult by_log = Run({"query", "--log", log, "--decision", "deny"});
  ASSERT_EQ(by_log.exit_code, kExitOk) << by_log;
  EXPECT_EQ(by_log.out, by_config.out);
  EXPECT_EQ(Lines(by_log.out).size(), 3u) << by_log.out;

  ChildResult checkpoint_by_log = Run({"checkpoint", "--log", log});
  ASSERT_EQ(checkpoint_by_log.exit_code, kExitOk) << checkpoint_by_log;
  EXPECT_EQ(checkpoint_by_log.out, Run({"checkpoint", "--config", config}).out);

  ChildResult both = Run({"query", "--config", config, "--log", log});
  EXPECT_EQ(both.exit_code, kExitUsage) << both;
  EXPECT_THAT(both.err, HasSubstr("--config FILE"));
  EXPECT_THAT(both.err, HasSubstr("--log PATH"));
  EXPECT_EQ(Run({"checkpoint"}).exit_code, kExitUsage);

  ChildResult pem = Run({"public-key", "--config", config});
  ASSERT_EQ(pem.exit_code, kExitOk) << pem;
  const std::string pem_path = *dir_ + "/auditor.pub.pem";
  Write(pem_path, pem.out);
  const std::string html = *dir_ + "/auditor-report.html";
  ChildResult report =
      Run({"report", "--log", log, "--public-key", pem_path, "--out", html});
  EXPECT_EQ(report.exit_code, kExitOk) << report;
  std::ifstream in(html);
  const std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(page, HasSubstr("Audit chain intact"));
  EXPECT_THAT(page, HasSubstr("evil.example"));
  // Without the key the chain cannot be verified: the report says so (and exit 1).
  ChildResult unverified = Run({"report", "--log", log, "--out", html});
  EXPECT_EQ(unverified.exit_code, kExitFailure) << unverified;
  EXPECT_THAT(unverified.out, HasSubstr("--public-key"));
}

// A witnessed checkpoint the log holds under another hash: history rewritten (and re-signed
// with another key, or the witness is from another signer).
TEST_F(CmdAuditQueryTest, WitnessCatchesARewrittenCheckpointAndRejectsBadWitnessFiles) {
  const std::string config = Config("rewrite");
  Append(config, History());
  ChildResult checkpoint = Run({"checkpoint", "--config", config});
  ASSERT_EQ(checkpoint.exit_code, kExitOk) << checkpoint;
  nlohmann::json line = nlohmann::json::parse(checkpoint.out);
  line["hash"] = std::string(64, 'f');
  const std::string witness = *dir_ + "/rewrite.jsonl";
  Write(witness, absl::StrCat(checkpoint.out, line.dump(), "\n"));
  ChildResult caught = Run({"verify", "--config", config, "--witness", witness});
  EXPECT_EQ(caught.exit_code, kExitAuditBad) << caught;
  EXPECT_THAT(
      caught.out,
      AllOf(HasSubstr(absl::StrCat("witnessed checkpoint seq ", line["seq"].get<uint64_t>())),
            HasSubstr("rewritten")));

  Write(witness, "{\"seq\":1}\n");
  ChildResult bad = Run({"verify", "--config", config, "--witness", witness});
  EXPECT_EQ(bad.exit_code, kExitFailure) << bad;
  EXPECT_THAT(bad.err, HasSubstr(absl::StrCat(witness, ":1: key \"hash\" is missing")));
  Write(witness, "\n");
  ChildResult empty = Run({"verify", "--config", config, "--witness", witness});
  EXPECT_EQ(empty.exit_code, kExitFailure) << empty;
  EXPECT_THAT(empty.err, HasSubstr("holds no checkpoint"));
}

CertificateRecord Cert(const std::string& serial, const std::string& agent,
                       std::vector<std::string> names, absl::Duration expires_in) {
  CertificateRecord cert;
  cert.serial = serial;
  cert.agent = agent;
  cert.names = std::move(names);
  cert.not_before = absl::Now() - absl::Hours(24);
  cert.not_after = absl::Now() + expires_in;
  cert.order_url = "https://ca.test/order/" + serial;
  cert.certificate_sha256 = std::string(63, 'c') + serial.substr(0, 1);
  return cert;
}

TEST_F(CmdAuditQueryTest, InventoryFiltersByNameAndExpiryAndShowsIssuedAtAndRevocation) {
  const std::string config_path = Config("inventory");
  {
    absl::StatusOr<SignerConfig> config = LoadSignerConfig(config_path);
    ASSERT_TRUE(config.ok()) << config.status();
    RuntimeParts parts;
    parts.migrate_store = true;
    auto runtime = SignerRuntime::Open(*config, parts);
    ASSERT_TRUE(runtime.ok()) << runtime.status();
    StateStore& store = *(*runtime)->store;
    CertificateRecord www =
        Cert("1a", "web1", {"www.x.example", "x.example"}, absl::Hours(24 * 10));
    www.issued_at = absl::FromUnixSeconds(1714564800);  // 2024-05-01T12:00:00Z
    ASSERT_TRUE(store.RecordCertificate(www).ok());
    ASSERT_TRUE(
        store.RecordCertificate(Cert("2b", "web2", {"api.x.example"}, absl::Hours(24 * 60))).ok());
    ASSERT_TRUE(
        store.RecordCertificate(Cert("3c", "web2", {"www.x.example"}, absl::Hours(24 * 5))).ok());
    ASSERT_TRUE(store.MarkRevoked("3c", 1, absl::FromUnixSeconds(1714568400)).ok());
  }
  auto inventory = [&](std::vector<std::string> flags) {
    std::vector<std::string> argv = {ACME_SIGNER_BIN, "inventory", "--config", config_path};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return RunArgv(argv);
  };
  ChildResult www = inventory({"--name", "www.x.example"});
  ASSERT_EQ(www.exit_code, kExitOk) << www;
  EXPECT_THAT(www.out, HasSubstr("ISSUED_AT"));
  EXPECT_THAT(www.out, AllOf(HasSubstr("1a"), HasSubstr("3c"), Not(HasSubstr("2b ")),
                             HasSubstr("2 certificate(s)")));
  EXPECT_THAT(www.out, HasSubstr("2024-05-01T12:00:00Z"));                // 1a's issued-at
  EXPECT_THAT(www.out, HasSubstr("2024-05-01T13:00:00Z,keyCompromise"));  // 3c revoked

  ChildResult below = inventory({"--name", "*.x.example", "--agent", "web2"});
  ASSERT_EQ(below.exit_code, kExitOk) << below;
  EXPECT_THAT(below.out, HasSubstr("2 certificate(s)"));

  // Within 30 days and not revoked: only 1a (3c is revoked, 2b ends in 60 days).
  ChildResult expiring = inventory({"--expiring", "30", "--json"});
  ASSERT_EQ(expiring.exit_code, kExitOk) << expiring;
  nlohmann::json rows = nlohmann::json::parse(expiring.out);
  ASSERT_EQ(rows.size(), 1u) << expiring.out;
  EXPECT_EQ(rows[0]["serial"], "1a");
  EXPECT_EQ(rows[0]["issued_at"], "2024-05-01T12:00:00.000000Z");
  EXPECT_EQ(rows[0]["issued_at_source"], "recorded");
  EXPECT_EQ(rows[0]["revoked"], false);
  EXPECT_TRUE(rows[0]["revoked_at"].is_null());

  ChildResult revoked = inventory({"--name", "www.x.example", "--agent", "web2", "--json"});
  ASSERT_EQ(revoked.exit_code, kExitOk) << revoked;
  rows = nlohmann::json::parse(revoked.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["revoked_at"], "2024-05-01T13:00:00.000000Z");
  EXPECT_EQ(rows[0]["revocation_reason"], 1);

  ChildResult bad = inventory({"--expiring", "soon"});
  EXPECT_EQ(bad.exit_code, kExitUsage) << bad;
  EXPECT_THAT(bad.err, HasSubstr("--expiring"));
}

}  // namespace
}  // namespace acme_signer::signer
