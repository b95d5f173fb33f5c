// End to end for certbot's safety habits in acme-agent (issue 14 §3), the REAL binary against a
// SignerLab (acme-signer serve, SoftHSM2, Pebble with EAB):
//  - --dry-run on certonly and renew (relay and direct mode): validation happens, the
//    authorizations are deactivated (DeactivateAuthorization, audited), nothing is finalized,
//    and every file under the config dir is byte-identical afterwards; pre/post hooks run,
//    deploy hooks do not;
//  - --expand and certbot's choice of lineage (NAME-0001);
//  - reconfigure (what changed, --no-pfx, a validation change tested with a dry run first);
//  - renew's per-run overrides (kept after a success, not after a failure);
//  - renewal-hooks/{pre,deploy,post}/ (lexical order, non-executables skipped with a note,
//    renew only);
//  - a slow hook's progress lines and a failed hook's stderr.
// Each test uses its own --config-dir, so they run in any order.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/child_process.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::SignerLab;

constexpr char kAgent[] = "web1";
constexpr char kBase[] = "flows.example.test";
constexpr absl::Duration kAgentTimeout = absl::Minutes(3);

std::string FileOrEmpty(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path, 16 << 20);
  return content.ok() ? *content : std::string();
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// Everything under `root` (but the run lock): each path with its type, mode and content (files)
// or target (links), so two snapshots are equal exactly when the tree is byte-identical.
std::map<std::string, std::string> Snapshot(const std::string& root) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::string path = it->path().string();
    const std::string rel = path.substr(root.size());
    if (rel == "/.lock") continue;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    std::string value = absl::StrCat(st.st_mode, ":");
    if (S_ISLNK(st.st_mode)) {
      absl::StrAppend(&value, std::filesystem::read_symlink(path, ec).string());
    } else if (S_ISREG(st.st_mode)) {
      absl::StrAppend(&value, FileOrEmpty(path));
    }
    out[rel] = value;
  }
  return out;
}

int CountRecords(const std::vector<nlohmann::json>& records, absl::string_view rpc,
                 absl::string_view decision) {
  return static_cast<int>(std::count_if(records.begin(), records.end(), [&](const auto& r) {
    return r.value("rpc", "") == rpc && r.value("decision", "") == decision;
  }));
}

class AgentFlowsTest : public testing::SignerLabSuite<AgentFlowsTest> {
 public:
  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    testing::LabAgentPolicy web1;
    web1.name = kAgent;
    web1.allowed_names = {kBase, absl::StrCat("**.", kBase)};
    web1.orders_per_hour = 500;
    web1.allow_sign_jws = true;  // the direct-mode dry run
    testing::LabAgentPolicy web2;
    web2.name = "web2";
    web2.allowed_names = {"web2.example.test"};
    options.agents = {web1, web2};
    options.enroll = {kAgent, "web2"};
    // Every order validates afresh: a dry run must really be validated by the CA.
    options.pebble_env = {{"PEBBLE_AUTHZREUSE", "0"}};
    return options;
  }

 protected:
  static void SetUpTestSuite() {
    SignerLabSuite::SetUpTestSuite();
    if (!lab_started()) return;
    std::string pattern = absl::StrCat(lab().dir(), "/flows-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) {
      FailSuiteSetUp(ErrnoStatus(errno, "mkdtemp for the agent"));
      return;
    }
    dir_ = new std::string(pattern);
    if (absl::Status s = WriteAgentConfig(); !s.ok()) FailSuiteSetUp(s);
  }

  static void TearDownTestSuite() {
    SignerLabSuite::TearDownTestSuite();
    delete dir_;
    dir_ = nullptr;
  }

  static const std::string& dir() { return *dir_; }
  static std::string config_path() { return absl::StrCat(dir(), "/agent.toml"); }

  // agent.toml for web1 (with [direct] trusting Pebble's TLS certificate).
  static absl::Status WriteAgentConfig() {
    absl::StatusOr<agent::SignerConnection> connection = lab().Connection(kAgent);
    if (!connection.ok()) return connection.status();
    auto quoted = [](absl::string_view s) { return absl::StrCat("\"", s, "\""); };
    std::string text = absl::StrCat("config_dir = ", quoted(absl::StrCat(dir(), "/etc")),
                                    "\n\n[signer]\naddress = ", quoted(lab().signer_address()),
                                    "\nca = ", quoted(connection->ca_cert), "\n");
    if (!connection->server_name.empty()) {
      absl::StrAppend(&text, "tls_server_name = ", quoted(connection->server_name), "\n");
    }
    absl::StrAppend(&text, "\n[identity]\ntrust_domain = ", quoted(lab().trust_domain()),
                    "\nname = ", quoted(kAgent), "\nkey = ", quoted(connection->client_key),
                    "\ncert = ", quoted(connection->client_cert),
                    "\n\n[direct]\nca_bundle = ", quoted(lab().pebble().ca_bundle_path()),
                    "\n\n[defaults]\nhook_timeout_seconds = 60\n");
    return WriteFileAtomically(config_path(), text, 0600);
  }

  // A config dir of the test's own (--config-dir), created empty.
  std::string NewConfigDir(absl::string_view name) {
    const std::string path = absl::StrCat(dir(), "/", name);
    std::filesystem::create_directories(path);
    return path;
  }

  // `acme-agent COMMAND --config agent.toml --config-dir CONFIG_DIR ARGS...`
  static testing::ChildResult Agent(absl::string_view command, const std::string& config_dir,
                                    const std::vector<std::string>& args) {
    std::vector<std::string> argv = {ACME_AGENT_BIN, std::string(command), "--config",
                                     config_path(),  "--config-dir",       config_dir};
    argv.insert(argv.end(), args.begin(), args.end());
    testing::ChildOptions options;
    options.scratch_dir = dir();
    options.timeout = kAgentTimeout;
    return testing::RunChild(argv, options);
  }

  static std::vector<std::string> Standalone() {
    return {"--standalone", "--http-01-address", "127.0.0.1", "--http-01-port",
            absl::StrCat(lab().http_port())};
  }

  static std::string Name(absl::string_view label) { return absl::StrCat(label, ".", kBase); }

  // certonly -d NAMES... --standalone [extra], asserting success.
  static void Issue(const std::string& config_dir, const std::vector<std::string>& names,
                    std::vector<std::string> extra = {}) {
    std::vector<std::string> args;
    for (const std::string& n : names) args.insert(args.end(), {"-d", n});
    for (const std::string& s : Standalone()) args.push_back(s);
    args.insert(args.end(), extra.begin(), extra.end());
    testing::ChildResult r = Agent("certonly", config_dir, args);
    ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  }

  // A shell script at `path` (0700).
  static void Script(const std::string& path, const std::string& body, mode_t mode = 0700) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    ASSERT_TRUE(WriteFileAtomically(path, absl::StrCat("#!/bin/sh\n", body), mode).ok()) << path;
  }

  static std::string* dir_;
};

std::string* AgentFlowsTest::dir_ = nullptr;

// ---------------------------------------------------------------------------------------------
// --dry-run

TEST_F(AgentFlowsTest, CertonlyDryRunValidatesDeactivatesAndSavesOrHooksNothing) {
  const std::string etc = NewConfigDir("dry-certonly");
  const std::string marks = absl::StrCat(dir(), "/dry-certonly-marks");
  const std::map<std::string, std::string> before = Snapshot(etc);
  const std::vector<nlohmann::json> audit_before = AuditRecords();
  std::vector<std::string> args = {"-d",
                                   Name("dry"),
                                   "--pre-hook",
                                   absl::StrCat("echo pre >> ", marks),
                                   "--post-hook",
                                   absl::StrCat("echo post >> ", marks),
                                   "--deploy-hook",
                                   absl::StrCat("echo deploy >> ", marks),
                                   "--dry-run"};
  for (const std::string& s : Standalone()) args.push_back(s);
  testing::ChildResult r = Agent("certonly", etc, args);
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_THAT(r.out, HasSubstr("The dry run was successful."));
  EXPECT_THAT(r.out, Not(HasSubstr("Successfully received certificate")));
  EXPECT_THAT(r.err, HasSubstr("authorization(s) deactivated, nothing finalized"));
  // Nothing written: no lineage, no renewal config.
  EXPECT_EQ(Snapshot(etc), before);
  EXPECT_FALSE(Exists(absl::StrCat(etc, "/live/", Name("dry"))));
  // certbot: pre- and post-hooks run in a dry run, deploy hooks do not.
  EXPECT_EQ(FileOrEmpty(marks), "pre\npost\n");
  // The signer validated and deactivated, and was never asked to finalize.
  const std::vector<nlohmann::json> audit = AuditRecords();
  EXPECT_EQ(CountRecords(audit, "DeactivateAuthorization", "allow") -
                CountRecords(audit_before, "DeactivateAuthorization", "allow"),
            1);
  EXPECT_EQ(CountRecords(audit, "AnswerChallenge", "allow") -
                CountRecords(audit_before, "AnswerChallenge", "allow"),
            1);
  EXPECT_EQ(CountRecords(audit, "FinalizeOrder", "allow"),
            CountRecords(audit_before, "FinalizeOrder", "allow"));
  for (size_t i = audit_before.size(); i < audit.size(); ++i) {
    if (audit[i].value("rpc", "") != "DeactivateAuthorization") continue;
    EXPECT_EQ(audit[i]["outcome"].value("status", ""), "deactivated") << audit[i].dump();
  }
}

TEST_F(AgentFlowsTest, CertonlyDryRunJsonSaysSo) {
  const std::string etc = NewConfigDir("dry-json");
  std::vector<std::string> args = {"-d", Name("dryjson"), "--dry-run", "--json"};
  for (const std::string& s : Standalone()) args.push_back(s);
  testing::ChildResult r = Agent("certonly", etc, args);
  ASSERT_EQ(r.exit_code, 0) << r;
  nlohmann::json out = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(out.is_object()) << r.out;
  EXPECT_EQ(out["ok"], true);
  EXPECT_EQ(out["dry_run"], true);
  EXPECT_EQ(out["renewed"], false);
  EXPECT_EQ(out["authorizations_deactivated"], 1);
}

TEST_F(AgentFlowsTest, RenewDryRunSimulatesANotDueLineageAndLeavesEveryFileByteIdentical) {
  const std::string etc = NewConfigDir("dry-renew");
  const std::string marks = absl::StrCat(dir(), "/dry-renew-marks");
  Issue(etc, {Name("dryrenew")}, {"--deploy-hook", absl::StrCat("echo deploy >> ", marks)});
  Script(absl::StrCat(etc, "/renewal-hooks/pre/10-pre"), absl::StrCat("echo dir-pre >> ", marks));
  Script(absl::StrCat(etc, "/renewal-hooks/deploy/10-deploy"),
         absl::StrCat("echo dir-deploy >> ", marks));
  Script(absl::StrCat(etc, "/renewal-hooks/post/10-post"),
         absl::StrCat("echo dir-post >> ", marks));
  ASSERT_TRUE(WriteFileAtomically(marks, "", 0600).ok());
  const std::map<std::string, std::string> before = Snapshot(etc);
  const std::vector<nlohmann::json> audit_before = AuditRecords();

  // Per-run overrides are accepted, and not saved by a dry run.
  testing::ChildResult r = Agent("renew", etc,
                                 {"--dry-run", "--post-hook", absl::StrCat("echo post >> ", marks),
                                  "--deploy-hook", absl::StrCat("echo deploy2 >> ", marks)});
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_THAT(r.err, HasSubstr("but simulating renewal for the dry run"));
  EXPECT_THAT(r.out, HasSubstr("simulated renewal succeeded"));
  EXPECT_THAT(r.out, HasSubstr("The dry run was successful."));
  EXPECT_EQ(Snapshot(etc), before);
  EXPECT_EQ(FileOrEmpty(marks), "dir-pre\ndir-post\npost\n");
  const std::vector<nlohmann::json> audit = AuditRecords();
  EXPECT_EQ(CountRecords(audit, "DeactivateAuthorization", "allow") -
                CountRecords(audit_before, "DeactivateAuthorization", "allow"),
            1);
  EXPECT_EQ(CountRecords(audit, "FinalizeOrder", "allow"),
            CountRecords(audit_before, "FinalizeOrder", "allow"));
}

TEST_F(AgentFlowsTest, DirectModeDryRunDeactivatesThroughASignedJwsAndSavesNothing) {
  const std::string etc = NewConfigDir("dry-direct");
  const std::map<std::string, std::string> before = Snapshot(etc);
  const std::vector<nlohmann::json> audit_before = AuditRecords();
  std::vector<std::string> args = {"-d", Name("drydirect"), "--direct", "--dry-run"};
  for (const std::string& s : Standalone()) args.push_back(s);
  testing::ChildResult r = Agent("certonly", etc, args);
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_THAT(r.out, HasSubstr("The dry run was successful."));
  EXPECT_EQ(Snapshot(etc), before);
  const std::vector<nlohmann::json> audit = AuditRecords();
  // Distinct URLs: a badNonce answer (Pebble rejects ~5% of nonces) makes the agent sign the
  // same deactivation again with a fresh nonce.
  std::set<std::string> deactivated;
  int finalizes = 0;
  for (size_t i = audit_before.size(); i < audit.size(); ++i) {
    if (audit[i].value("rpc", "") != "SignJws") continue;
    const std::string reason = audit[i].value("reason", "");
    if (absl::StartsWith(reason, "allowed deactivateAuthorization")) {
      deactivated.insert(audit[i]["request"].value("url", ""));
    }
    finalizes += absl::StartsWith(reason, "allowed finalize");
  }
  EXPECT_EQ(deactivated.size(), 1u);
  EXPECT_EQ(finalizes, 0);
}

TEST_F(AgentFlowsTest, DeactivateAuthorizationIsOnlyForTheAgentsOwnOrdersAndIsAudited) {
  std::unique_ptr<agent::SignerClient> web1 = Client(kAgent);
  std::unique_ptr<agent::SignerClient> web2 = Client("web2");
  ASSERT_NE(web1, nullptr);
  ASSERT_NE(web2, nullptr);
  absl::StatusOr<agent::pb::Order> order = web1->CreateOrder({Name("own")}, "");
  ASSERT_TRUE(order.ok()) << order.status();
  ASSERT_EQ(order->authorizations_size(), 1);
  const std::string url = order->authorizations(0).url();
  absl::StatusOr<agent::pb::Authorization> stolen = web2->DeactivateAuthorization(url);
  EXPECT_EQ(stolen.status().code(), absl::StatusCode::kPermissionDenied) << stolen.status();
  EXPECT_THAT(std::string(stolen.status().message()), HasSubstr("does not belong"));
  absl::StatusOr<agent::pb::Authorization> own = web1->DeactivateAuthorization(url);
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->status(), agent::pb::AUTHORIZATION_STATUS_DEACTIVATED);
  const std::vector<nlohmann::json> audit = AuditRecords();
  bool denied = false, allowed = false;
  for (const nlohmann::json& r : audit) {
    if (r.value("rpc", "") != "DeactivateAuthorization") continue;
    if (r.value("agent", "") == "web2" && r.value("decision", "") == "deny") denied = true;
    if (r.value("agent", "") == kAgent && r["request"].value("url", "") == url) allowed = true;
  }
  EXPECT_TRUE(denied);
  EXPECT_TRUE(allowed);
}

// ---------------------------------------------------------------------------------------------
// --expand and the choice of lineage

TEST_F(AgentFlowsTest, MoreNamesNeedExpandWhichReplacesTheLineageInPlace) {
  const std::string etc = NewConfigDir("expand");
  const std::string a = Name("ex"), b = Name("ex2");
  Issue(etc, {a});
  // A superset of an existing lineage's names, without --expand: refused, nothing new.
  std::vector<std::string> args = {"-d", a, "-d", b, "--non-interactive"};
  for (const std::string& s : Standalone()) args.push_back(s);
  testing::ChildResult refused = Agent("certonly", etc, args);
  EXPECT_EQ(refused.exit_code, 2) << refused;
  EXPECT_THAT(refused.err, HasSubstr("--expand"));
  EXPECT_THAT(refused.err, HasSubstr(absl::StrCat("certificate ", a, " already covers ", a)));
  EXPECT_FALSE(Exists(absl::StrCat(etc, "/live/", a, "-0001")));
  // With --expand, the lineage gets the certificate for both names.
  args.push_back("--expand");
  testing::ChildResult expanded = Agent("certonly", etc, args);
  ASSERT_EQ(expanded.exit_code, 0) << expanded;
  EXPECT_THAT(FileOrEmpty(absl::StrCat(etc, "/renewal/", a, ".conf")), HasSubstr(b));
  EXPECT_TRUE(Exists(absl::StrCat(etc, "/archive/", a, "/cert2.pem")));
  EXPECT_FALSE(Exists(absl::StrCat(etc, "/live/", a, "-0001")));
  // Fewer names than a lineage has (no lineage is a subset): a new lineage, and since the
  // first name's lineage exists, certbot's NAME-0001.
  Issue(etc, {a});
  EXPECT_TRUE(Exists(absl::StrCat(etc, "/live/", a, "-0001/cert.pem")));
  EXPECT_THAT(FileOrEmpty(absl::StrCat(etc, "/renewal/", a, "-0001.conf")), Not(HasSubstr(b)));
}

TEST_F(AgentFlowsTest, ExpandDryRunChangesNothing) {
  const std::string etc = NewConfigDir("expand-dry");
  const std::string a = Name("exd"), b = Name("exd2");
  Issue(etc, {a});
  const std::map<std::string, std::string> before = Snapshot(etc);
  std::vector<std::string> args = {"-d", a, "-d", b, "--expand", "--dry-run"};
  for (const std::string& s : Standalone()) args.push_back(s);
  testing::ChildResult r = Agent("certonly", etc, args);
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("The dry run was successful."));
  EXPECT_THAT(r.err, HasSubstr("dry run: renewal settings not saved: domains"));
  EXPECT_EQ(Snapshot(etc), before);
}

// ---------------------------------------------------------------------------------------------
// reconfigure

TEST_F(AgentFlowsTest, ReconfigureChangesStoredSettingsWithoutANewCertificate) {
  const std::string etc = NewConfigDir("reconfigure");
  const std::string name = Name("rc");
  Issue(etc, {name});
  const std::string conf_path = absl::StrCat(etc, "/renewal/", name, ".conf");
  const std::string cert_before = FileOrEmpty(absl::StrCat(etc, "/live/", name, "/cert.pem"));

  testing::ChildResult r = Agent(
      "reconfigure", etc,
      {"--cert-name", name, "--deploy-hook", "systemctl reload nginx", "--pfx", "--reuse-key"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("deploy_hook (none) → 'systemctl reload nginx'"));
  EXPECT_THAT(r.out, HasSubstr("pfx false → true"));
  EXPECT_THAT(r.out, HasSubstr("reuse_key false → true"));
  std::string conf = FileOrEmpty(conf_path);
  EXPECT_THAT(conf, HasSubstr("systemctl reload nginx"));
  EXPECT_THAT(conf, HasSubstr("pfx = true"));
  EXPECT_EQ(FileOrEmpty(absl::StrCat(etc, "/live/", name, "/cert.pem")), cert_before);
  EXPECT_FALSE(Exists(absl::StrCat(etc, "/archive/", name, "/cert2.pem")));

  // Stored booleans switch off; an empty value removes a hook; nothing else changes.
  r = Agent("reconfigure", etc,
            {"--cert-name", name, "--no-pfx", "--no-reuse-key", "--deploy-hook", ""});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("pfx true → false"));
  conf = FileOrEmpty(conf_path);
  EXPECT_THAT(conf, HasSubstr("pfx = false"));
  EXPECT_THAT(conf, HasSubstr("reuse_key = false"));
  EXPECT_THAT(conf, Not(HasSubstr("nginx")));

  r = Agent("reconfigure", etc, {"--cert-name", name, "--no-pfx"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("No changes"));

  r = Agent("reconfigure", etc, {"--cert-name", "no-such-lineage", "--pfx"});
  EXPECT_EQ(r.exit_code, 2) << r;
}

TEST_F(AgentFlowsTest, ReconfigureTestsAValidationChangeWithADryRunAndSavesOnlyOnSuccess) {
  const std::string etc = NewConfigDir("reconfigure-test");
  const std::string name = Name("rct");
  Issue(etc, {name});
  const std::string conf_path = absl::StrCat(etc, "/renewal/", name, ".conf");
  const std::string conf_before = FileOrEmpty(conf_path);
  const std::vector<nlohmann::json> audit_before = AuditRecords();

  // A dry run that fails (here the pre-hook given with the new settings, which the dry run
  // runs, as certbot's does): nothing is saved.
  testing::ChildResult r = Agent(
      "reconfigure", etc,
      {"--cert-name", name, "--http-01-address", "0.0.0.0", "--pre-hook", "echo no >&2; exit 1"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("the dry run with the new settings failed, so they were not saved"));
  EXPECT_THAT(r.err, HasSubstr("stderr: no"));
  EXPECT_EQ(FileOrEmpty(conf_path), conf_before);

  // The standalone server on all addresses: validated, then saved.
  r = Agent("reconfigure", etc, {"--cert-name", name, "--http-01-address", "0.0.0.0"});
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_THAT(r.err, HasSubstr("testing them with a dry run before saving"));
  EXPECT_THAT(r.out, HasSubstr("http01_address '127.0.0.1' → '0.0.0.0'"));
  EXPECT_THAT(FileOrEmpty(conf_path), HasSubstr("0.0.0.0"));
  const std::vector<nlohmann::json> audit = AuditRecords();
  EXPECT_EQ(CountRecords(audit, "FinalizeOrder", "allow"),
            CountRecords(audit_before, "FinalizeOrder", "allow"));
}

// ---------------------------------------------------------------------------------------------
// renew's per-run overrides

TEST_F(AgentFlowsTest, RenewOverridesApplyToThisRunAndAreKeptOnlyAfterASuccess) {
  const std::string etc = NewConfigDir("overrides");
  const std::string name = Name("ov");
  Issue(etc, {name});
  const std::string conf_path = absl::StrCat(etc, "/renewal/", name, ".conf");
  const std::string marks = absl::StrCat(dir(), "/overrides-marks");

  // A renewal that fails (here its own pre-hook): the overrides it was given are not kept.
  const std::string conf_before = FileOrEmpty(conf_path);
  testing::ChildResult r =
      Agent("renew", etc,
            {"--force-renewal", "--cert-name", name, "--http-01-port",
             absl::StrCat(lab().http_port() == 65535 ? 65534 : lab().http_port() + 1), "--pre-hook",
             absl::StrCat("echo pre1 >> ", marks, "; exit 1")});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("pre-hook"));
  EXPECT_EQ(FileOrEmpty(conf_path), conf_before);
  EXPECT_EQ(FileOrEmpty(marks), "pre1\n");

  // Hooks and a preferred chain given to renew: used now, kept for later renewals.
  r = Agent(
      "renew", etc,
      {"--force-renewal", "--cert-name", name, "--pre-hook", absl::StrCat("echo pre2 >> ", marks),
       "--post-hook", absl::StrCat("echo post2 >> ", marks), "--deploy-hook",
       absl::StrCat("echo \"deploy2 $RENEWED_DOMAINS\" >> ", marks), "--preferred-chain",
       "Pebble Root CA"});
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_EQ(FileOrEmpty(marks), absl::StrCat("pre1\npre2\ndeploy2 ", name, "\npost2\n"));
  const std::string conf = FileOrEmpty(conf_path);
  EXPECT_THAT(conf, HasSubstr("echo pre2"));
  EXPECT_THAT(conf, HasSubstr("echo post2"));
  EXPECT_THAT(conf, HasSubstr("deploy2"));
  EXPECT_THAT(conf, HasSubstr("Pebble Root CA"));
}

// renew --http-01-port, as certbot: the port given to renew is used for this renewal and saved
// in renewal/NAME.conf. The lineage is made with the options before the subcommand
// (`acme-agent --config F --config-dir D certonly ...`, certbot's order).
TEST_F(AgentFlowsTest, RenewHttp01PortOverrideFixesAStoredWrongPortAndIsSaved) {
  const std::string etc = NewConfigDir("port");
  const std::string name = Name("port");
  std::vector<std::string> argv = {ACME_AGENT_BIN, "--config", config_path(), "--config-dir", etc,
                                   "certonly",     "-d",       name};
  for (const std::string& s : Standalone()) argv.push_back(s);
  testing::ChildOptions options;
  options.scratch_dir = dir();
  options.timeout = kAgentTimeout;
  testing::ChildResult r = testing::RunChild(argv, options);
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  const std::string cert_path = absl::StrCat(etc, "/live/", name, "/cert.pem");
  const std::string first_cert = FileOrEmpty(cert_path);
  ASSERT_FALSE(first_cert.empty());

  // A port where nothing answers for the CA is stored (a moved web server, a typo).
  const std::string conf_path = absl::StrCat(etc, "/renewal/", name, ".conf");
  const std::string right = absl::StrCat("http01_port = ", lab().http_port());
  const std::string wrong =
      absl::StrCat("http01_port = ", lab().http_port() == 65535 ? 65534 : lab().http_port() + 1);
  std::string conf = FileOrEmpty(conf_path);
  const size_t at = conf.find(right + "\n");
  ASSERT_NE(at, std::string::npos) << conf;
  conf.replace(at, right.size(), wrong);
  ASSERT_TRUE(WriteFileAtomically(conf_path, conf, 0644).ok());

  r = Agent(
      "renew", etc,
      {"--force-renewal", "--cert-name", name, "--http-01-port", absl::StrCat(lab().http_port())});
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_NE(FileOrEmpty(cert_path), first_cert) << "not renewed";
  const std::string saved = FileOrEmpty(conf_path);
  EXPECT_THAT(saved, HasSubstr(right + "\n"));
  EXPECT_THAT(saved, Not(HasSubstr(wrong + "\n")));
}

// ---------------------------------------------------------------------------------------------
// renewal-hooks directories

TEST_F(AgentFlowsTest, RenewalHookDirectoriesRunInLexicalOrderOnRenewOnly) {
  const std::string etc = NewConfigDir("hookdirs");
  const std::string name = Name("hd");
  const std::string log = absl::StrCat(dir(), "/hookdirs.log");
  Issue(etc, {name});
  const std::string record = absl::StrCat(
      "echo \"$(basename \"$(dirname \"$0\")\")/$(basename \"$0\") hook=$ACME_AGENT_HOOK "
      "lineage=$RENEWED_LINEAGE domains=$RENEWED_DOMAINS\" >> ",
      log, "\n");
  for (const char* kind : {"pre", "deploy", "post"}) {
    Script(absl::StrCat(etc, "/renewal-hooks/", kind, "/20-second"), record);
    Script(absl::StrCat(etc, "/renewal-hooks/", kind, "/10-first"), record);
  }
  Script(absl::StrCat(etc, "/renewal-hooks/deploy/30-not-executable"), record, 0644);

  // certonly does not run them (certbot runs directory hooks on renew only).
  Issue(etc, {name}, {"--force-renewal"});
  EXPECT_EQ(FileOrEmpty(log), "");

  testing::ChildResult r = Agent("renew", etc, {"--force-renewal"});
  ASSERT_EQ(r.exit_code, 0) << r << "\nsigner log:\n" << lab().SignerLogTail();
  EXPECT_THAT(r.err, HasSubstr("renewal-hooks/deploy/30-not-executable: not executable, skipped"));
  const std::string live = absl::StrCat(etc, "/live/", name);
  EXPECT_EQ(FileOrEmpty(log),
            absl::StrCat("pre/10-first hook=pre lineage= domains=\n",
                         "pre/20-second hook=pre lineage= domains=\n",
                         "deploy/10-first hook=deploy lineage=", live, " domains=", name, "\n",
                         "deploy/20-second hook=deploy lineage=", live, " domains=", name, "\n",
                         "post/10-first hook=post lineage= domains=", name, "\n",
                         "post/20-second hook=post lineage= domains=", name, "\n"));

  // --no-directory-hooks leaves them out; nothing due runs none either.
  ASSERT_TRUE(WriteFileAtomically(log, "", 0600).ok());
  r = Agent("renew", etc, {"--force-renewal", "--no-directory-hooks"});
  ASSERT_EQ(r.exit_code, 0) << r;
  r = Agent("renew", etc, {});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(FileOrEmpty(log), "");
}

// ---------------------------------------------------------------------------------------------
// Hooks that are slow or fail

TEST_F(AgentFlowsTest, ASlowHookShowsProgressAndAFailedHookShowsItsStderr) {
  const std::string etc = NewConfigDir("hookfail");
  const std::string name = Name("hf");
  std::vector<std::string> args = {
      "-d", name, "--deploy-hook",
      "echo 'starting the reload' >&2; sleep 6; echo 'nginx: [emerg] bad certificate' >&2; "
      "exit 3"};
  for (const std::string& s : Standalone()) args.push_back(s);
  testing::ChildResult r = Agent("certonly", etc, args);
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("waiting for deploy-hook"));
  EXPECT_THAT(r.err, HasSubstr("(5s)"));
  EXPECT_THAT(r.err, HasSubstr("exited with status 3"));
  EXPECT_THAT(r.err, HasSubstr("stderr: starting the reload | nginx: [emerg] bad certificate"));
  // The certificate is installed all the same (certbot).
  EXPECT_TRUE(Exists(absl::StrCat(etc, "/live/", name, "/cert.pem")));
}

}  // namespace
}  // namespace acme_signer
