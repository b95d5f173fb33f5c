// docs/agent.md's promises, run against the lab with the real binaries:
//  - the quick start: every command line of the block marked `<!-- quick-start: ... -->` is
//    run as written (with the substitutions below, which only move /etc paths into the lab and
//    the standalone responder off port 80), and each command's outcome is checked, so the doc
//    cannot drift from what the agent does;
//  - the Output section: `renew -q` silent when nothing is due, `--json` errors as one object on
//    stdout, `-v` detail, one spelling of a serial across certonly, certificates and the signer;
//  - `--ccs-dir` (IIS Central Certificate Store): one PKCS#12 per name, kept in step with the
//    lineage through renewals and `delete`.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/ssl_unique_ptr.h"
#include "common/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/certificate_reading.h"
#include "tests/testing/child_process.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::SignerLab;

// The quick start enrolls "web1" itself; the other tests use "web2", which the lab enrolls.
constexpr char kDocAgent[] = "web1";
constexpr char kAgent[] = "web2";
constexpr char kDomain[] = "dept.example";

std::string FileOrEmpty(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path, 16 << 20);
  return content.ok() ? *content : std::string();
}

unsigned ModeOf(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// The serial of the first certificate of a PEM file, in the one spelling (SerialText).
std::string SerialOfPemFile(const std::string& path) {
  absl::StatusOr<SslUniquePtr<X509>> cert = ParseCertificatePem(FileOrEmpty(path));
  if (!cert.ok()) return "";
  absl::StatusOr<std::string> hex = SerialHex(**cert);
  return hex.ok() ? SerialText(*hex) : "";
}

// The command lines of docs/agent.md's quick-start block, continuation lines joined, comments
// and blank lines left out.
std::vector<std::string> QuickStartCommands() {
  std::ifstream in(std::string(ACME_SIGNER_SOURCE_DIR) + "/docs/agent.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const size_t marker = doc.find("<!-- quick-start:");
  if (marker == std::string::npos) return {};
  const size_t open = doc.find("```sh\n", marker);
  if (open == std::string::npos) return {};
  const size_t close = doc.find("\n```", open + 6);
  if (close == std::string::npos) return {};
  std::vector<std::string> commands;
  std::string pending;
  for (absl::string_view line : absl::StrSplit(doc.substr(open + 6, close - open - 6), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    if (absl::ConsumeSuffix(&line, "\\")) {
      absl::StrAppend(&pending, line, " ");
      continue;
    }
    commands.push_back(absl::StrCat(pending, line));
    pending.clear();
  }
  return commands;
}

class AgentDocsTest : public testing::SignerLabSuite<AgentDocsTest> {
 public:
  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    options.agents.clear();  // the defaults name web1 and web2 with other policies
    for (const char* name : {kDocAgent, kAgent}) {
      testing::LabAgentPolicy policy;
      policy.name = name;
      policy.allowed_names = {kDomain, absl::StrCat("**.", kDomain)};
      policy.orders_per_hour = 200;
      options.agents.push_back(policy);
    }
    options.enroll = {kAgent};
    options.enroll_listener = true;  // the quick start enrols with a one-time token
    return options;
  }

 protected:
  void SetUp() override {
    SignerLabSuite::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    std::string pattern = absl::StrCat(lab().dir(), "/docs-XXXXXX");
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }

  // An agent.toml for `agent` under root_/etc/acme-agent, the layout the doc assumes.
  std::string AgentDir() const { return root_ + "/etc/acme-agent"; }
  std::string ConfigPath() const { return AgentDir() + "/agent.toml"; }

  void WriteAgentConfig(const std::string& agent, const std::string& key, const std::string& cert) {
    std::error_code ec;
    std::filesystem::create_directories(AgentDir(), ec);
    ASSERT_FALSE(ec) << ec.message();
    const auto quoted = [](absl::string_view s) { return absl::StrCat("\"", s, "\""); };
    const std::string text =
        absl::StrCat("config_dir = ", quoted(AgentDir()),
                     "\n\n[signer]\naddress = ", quoted(lab().signer_address()),
                     "\nca = ", quoted(lab().agent_ca_path()),
                     "\n\n[identity]\ntrust_domain = ", quoted(lab().trust_domain()),
                     "\nname = ", quoted(agent), "\nkey = ", quoted(key), "\ncert = ", quoted(cert),
                     "\n\n[defaults]\nhook_timeout_seconds = 60\n");
    ASSERT_TRUE(WriteFileAtomically(ConfigPath(), text, 0600).ok());
  }

  // web2, enrolled by the lab.
  void UseLabAgent() {
    absl::StatusOr<agent::SignerConnection> connection = lab().Connection(kAgent);
    ASSERT_TRUE(connection.ok()) << connection.status();
    WriteAgentConfig(kAgent, connection->client_key, connection->client_cert);
  }

  testing::ChildResult Agent(std::vector<std::string> args,
                             std::vector<std::string> extra_env = {}) {
    args.insert(args.begin(), {ACME_AGENT_BIN, "--config", ConfigPath()});
    testing::ChildOptions options;
    options.scratch_dir = root_;
    options.timeout = absl::Minutes(3);
    options.extra_env = std::move(extra_env);
    return testing::RunChild(args, options);
  }

  std::vector<std::string> Standalone() const {
    return {"--standalone", "--http-01-address", "127.0.0.1", "--http-01-port",
            absl::StrCat(lab().http_port())};
  }

  std::string root_;
};

TEST_F(AgentDocsTest, QuickStartCommandsOfTheDocWorkAsWritten) {
  const std::vector<std::string> commands = QuickStartCommands();
  ASSERT_FALSE(commands.empty()) << "docs/agent.md has no quick-start block";
  const std::string live = AgentDir() + "/live/www." + std::string(kDomain);
  std::vector<std::string> ran;
  std::string token;
  std::string fingerprint;
  for (const std::string& line : commands) {
    SCOPED_TRACE(line);
    // The substitutions: /etc paths into the lab; the signer's config is the lab's.
    const std::string local =
        absl::StrReplaceAll(line, {{"/etc/acme-signer/acme-signer.toml", lab().config_path()},
                                   {"/etc/acme-agent", AgentDir()}});
    std::vector<std::string> words = absl::StrSplit(local, ' ', absl::SkipEmpty());
    ASSERT_GE(words.size(), 2u);
    const std::string command = absl::StrCat(words[0], " ", words[1]);
    ran.push_back(command);
    words.erase(words.begin());
    if (command == "acme-signer enroll-agent") {
      absl::StatusOr<testing::CommandResult> r = lab().RunSignerCommand(words);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->exit_code, 0) << r->out << r->err;
      // The line it prints for the host is the doc's next command with the real values.
      for (absl::string_view printed : absl::StrSplit(r->out, '\n')) {
        printed = absl::StripAsciiWhitespace(printed);
        if (!absl::StartsWith(printed, "acme-agent enroll ")) continue;
        std::vector<std::string> printed_words = absl::StrSplit(printed, ' ', absl::SkipEmpty());
        for (size_t i = 0; i + 1 < printed_words.size(); ++i) {
          if (printed_words[i] == "--token") token = printed_words[i + 1];
          if (printed_words[i] == "--ca-fingerprint") fingerprint = printed_words[i + 1];
        }
      }
      ASSERT_TRUE(absl::StartsWith(token, "acme-enroll-")) << r->out;
      ASSERT_EQ(fingerprint.size(), 64u) << r->out;
      continue;
    }
    ASSERT_TRUE(absl::StartsWith(line, "acme-agent "))
        << "the quick start runs only acme-agent and acme-signer";
    // The standalone responder listens where the lab's CA validates, not on port 80.
    if (std::find(words.begin(), words.end(), "--standalone") != words.end()) {
      const std::vector<std::string> standalone = Standalone();
      words.insert(words.end(), standalone.begin() + 1, standalone.end());
    }
    if (command == "acme-agent enroll") {
      // The doc's placeholders: the enrolment address, the token and the fingerprint printed.
      for (size_t i = 0; i + 1 < words.size(); ++i) {
        if (words[i] == "--signer") words[i + 1] = lab().enroll_address();
        if (words[i] == "--token") words[i + 1] = token;
        if (words[i] == "--ca-fingerprint") words[i + 1] = fingerprint;
      }
      words.insert(words.begin(), ACME_AGENT_BIN);
      testing::ChildOptions options;
      options.scratch_dir = root_;
      options.timeout = absl::Minutes(3);
      testing::ChildResult r = testing::RunChild(words, options);
      ASSERT_EQ(r.exit_code, 0) << r;
      EXPECT_EQ(ModeOf(AgentDir() + "/identity/agent.key"), 0600u);
      EXPECT_THAT(FileOrEmpty(AgentDir() + "/identity/agent.pem"), HasSubstr("BEGIN CERTIFICATE"));
      EXPECT_THAT(FileOrEmpty(ConfigPath()), HasSubstr("name = '" + std::string(kDocAgent) + "'"));
      continue;
    }
    testing::ChildResult r = Agent(words);
    ASSERT_EQ(r.exit_code, 0) << r;
    if (command == "acme-agent account") {
      EXPECT_THAT(r.out, HasSubstr("mutual TLS OK"));
    } else if (command == "acme-agent certonly") {
      EXPECT_THAT(r.out, AllOf(HasSubstr("Successfully received certificate."),
                               HasSubstr(live + "/fullchain.pem")));
      std::vector<SslUniquePtr<X509>> chain = testing::ParseChain(FileOrEmpty(live + "/cert.pem"));
      ASSERT_FALSE(chain.empty());
      EXPECT_EQ(testing::DnsSans(chain[0].get()),
                std::vector<std::string>{absl::StrCat("www.", kDomain)});
    } else if (command == "acme-agent certificates") {
      EXPECT_THAT(r.out, AllOf(HasSubstr(absl::StrCat("Certificate Name: www.", kDomain)),
                               HasSubstr(absl::StrCat(
                                   "Serial Number: ", SerialOfPemFile(live + "/cert.pem"), "\n")),
                               HasSubstr("VALID: ")));
    } else if (command == "acme-agent renew") {
      EXPECT_THAT(r.out, HasSubstr("No renewals were attempted"));
      // The doc's comment: with -q it prints nothing at all.
      words.push_back("-q");
      testing::ChildResult quiet = Agent(words);
      EXPECT_EQ(quiet.exit_code, 0);
      EXPECT_EQ(quiet.out + quiet.err, "");
    } else {
      ADD_FAILURE() << "the quick start has a command this test does not check yet: " << command;
    }
  }
  // The quick start still walks the whole way: enrol, check, obtain, list, renew.
  EXPECT_EQ(ran, (std::vector<std::string>{"acme-signer enroll-agent", "acme-agent enroll",
                                           "acme-agent account", "acme-agent certonly",
                                           "acme-agent certificates", "acme-agent renew"}));
}

TEST_F(AgentDocsTest, OneSerialSpellingInCertonlyCertificatesAndTheSignersInventory) {
  UseLabAgent();
  std::vector<std::string> args = {"certonly", "--json", "-d", absl::StrCat("serial.", kDomain)};
  const std::vector<std::string> standalone = Standalone();
  args.insert(args.end(), standalone.begin(), standalone.end());
  testing::ChildResult issued = Agent(args);
  ASSERT_EQ(issued.exit_code, 0) << issued;
  nlohmann::json result = nlohmann::json::parse(issued.out, nullptr, false);
  ASSERT_TRUE(result.is_object()) << issued.out;
  EXPECT_EQ(result["ok"], true);
  EXPECT_EQ(result["command"], "certonly");
  const std::string serial = result.value("serial", "");
  const std::string live = AgentDir() + "/live/serial." + std::string(kDomain);
  EXPECT_EQ(serial, SerialOfPemFile(live + "/cert.pem"));

  testing::ChildResult listed = Agent({"certificates", "--json"});
  nlohmann::json list = nlohmann::json::parse(listed.out, nullptr, false);
  ASSERT_TRUE(list.is_object()) << listed.out;
  EXPECT_EQ(list["certificates"][0]["serial"], serial);
  testing::ChildResult text = Agent({"certificates"});
  EXPECT_THAT(text.out, HasSubstr(absl::StrCat("Serial Number: ", serial, "\n")));

  absl::StatusOr<testing::CommandResult> inventory =
      lab().RunSignerCommand({"inventory", "--config", lab().config_path(), "--json"});
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  EXPECT_THAT(inventory->out, HasSubstr(absl::StrCat("\"", serial, "\"")))
      << "the signer spells it the same way";
}

TEST_F(AgentDocsTest, QuietRenewPrintsNothingWhenNothingIsDueAndVerboseShowsEachStep) {
  UseLabAgent();
  std::vector<std::string> args = {"certonly", "-v", "-d", absl::StrCat("quiet.", kDomain)};
  const std::vector<std::string> standalone = Standalone();
  args.insert(args.end(), standalone.begin(), standalone.end());
  testing::ChildResult issued = Agent(args);
  ASSERT_EQ(issued.exit_code, 0) << issued;
  EXPECT_THAT(issued.err,
              AllOf(HasSubstr("[verbose] connecting to the signer at " + lab().signer_address()),
                    HasSubstr("[verbose] made a new "),
                    HasSubstr(absl::StrCat("[verbose] CSR for quiet.", kDomain)),
                    HasSubstr("[verbose] saved version 1 in ")));

  testing::ChildResult quiet = Agent({"renew", "-q"});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.out, "");
  EXPECT_EQ(quiet.err, "");
  testing::ChildResult loud = Agent({"renew"});
  EXPECT_EQ(loud.exit_code, 0);
  EXPECT_THAT(loud.out, HasSubstr("No renewals were attempted"));
  EXPECT_THAT(loud.err, HasSubstr("not due until"));
}

TEST_F(AgentDocsTest, JsonErrorOfARefusedNameIsOneObjectOnStdoutWithExitThree) {
  UseLabAgent();
  std::vector<std::string> args = {"certonly", "--json", "-d", "outside.example.org"};
  const std::vector<std::string> standalone = Standalone();
  args.insert(args.end(), standalone.begin(), standalone.end());
  testing::ChildResult refused = Agent(args);
  EXPECT_EQ(refused.exit_code, 3) << refused;
  EXPECT_EQ(refused.err, "");
  nlohmann::json out = nlohmann::json::parse(refused.out, nullptr, false);
  ASSERT_TRUE(out.is_object()) << refused.out;
  EXPECT_EQ(out["ok"], false);
  EXPECT_EQ(out["command"], "certonly");
  EXPECT_EQ(out["error"]["code"], "denied");
  EXPECT_EQ(out["error"]["exit_code"], 3);
  EXPECT_THAT(out["error"]["message"].get<std::string>(), HasSubstr("outside.example.org"));
}

TEST_F(AgentDocsTest, CcsDirHoldsOnePfxPerNameThroughRenewalsAndDelete) {
  UseLabAgent();
  const std::string ccs = root_ + "/ccs";
  ASSERT_EQ(::mkdir(ccs.c_str(), 0700), 0);
  const std::string a = absl::StrCat("a.", kDomain), b = absl::StrCat("b.", kDomain),
                    c = absl::StrCat("c.", kDomain);
  const std::string live_pfx = AgentDir() + "/live/iis/cert.pfx";
  const std::vector<std::string> standalone = Standalone();

  std::vector<std::string> first = {"certonly", "--cert-name", "iis", "-d", a, "-d",
                                    b,          "--ccs-dir",   ccs};
  first.insert(first.end(), standalone.begin(), standalone.end());
  testing::ChildResult issued = Agent(first);
  ASSERT_EQ(issued.exit_code, 0) << issued;
  const std::string pfx1 = FileOrEmpty(live_pfx);
  ASSERT_FALSE(pfx1.empty()) << "--ccs-dir implies --pfx";
  for (const std::string& name : {a, b}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(FileOrEmpty(ccs + "/" + name + ".pfx"), pfx1);
    EXPECT_EQ(ModeOf(ccs + "/" + name + ".pfx"), 0600u);
  }
  EXPECT_THAT(FileOrEmpty(AgentDir() + "/renewal/iis.conf"), HasSubstr(ccs));

  // New names with the same lineage: a kept, b dropped, c added, all of the new PKCS#12.
  std::vector<std::string> second = {"certonly", "--cert-name", "iis", "-d",
                                     a,          "-d",          c,     "--force-renewal"};
  second.insert(second.end(), standalone.begin(), standalone.end());
  testing::ChildResult changed = Agent(second);
  ASSERT_EQ(changed.exit_code, 0) << changed;
  const std::string pfx2 = FileOrEmpty(live_pfx);
  ASSERT_NE(pfx2, pfx1);
  EXPECT_EQ(FileOrEmpty(ccs + "/" + a + ".pfx"), pfx2);
  EXPECT_EQ(FileOrEmpty(ccs + "/" + c + ".pfx"), pfx2);
  EXPECT_FALSE(Exists(ccs + "/" + b + ".pfx")) << "the certificate no longer has that name";

  // A renewal (the stored setting) keeps them in step.
  testing::ChildResult renewed = Agent({"renew", "--cert-name", "iis", "--force-renewal"});
  ASSERT_EQ(renewed.exit_code, 0) << renewed;
  const std::string pfx3 = FileOrEmpty(live_pfx);
  EXPECT_NE(pfx3, pfx2);
  EXPECT_EQ(FileOrEmpty(ccs + "/" + a + ".pfx"), pfx3);
  EXPECT_EQ(FileOrEmpty(ccs + "/" + c + ".pfx"), pfx3);

  // delete takes its copies with it.
  testing::ChildResult deleted = Agent({"delete", "--cert-name", "iis"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted;
  EXPECT_FALSE(Exists(ccs + "/" + a + ".pfx"));
  EXPECT_FALSE(Exists(ccs + "/" + c + ".pfx"));

  // A missing directory costs no issuance: refused before the order.
  std::vector<std::string> missing = {"certonly",  "--cert-name",         "iis2", "-d", a,
                                      "--ccs-dir", root_ + "/no-such-dir"};
  missing.insert(missing.end(), standalone.begin(), standalone.end());
  testing::ChildResult refused = Agent(missing);
  EXPECT_EQ(refused.exit_code, 1) << refused;
  EXPECT_THAT(refused.err, HasSubstr("no-such-dir"));
  EXPECT_FALSE(Exists(AgentDir() + "/live/iis2"));
}

TEST_F(AgentDocsTest, CcsCopiesFollowOnlyWhatIsLiveAlsoWhenAnInstallIsFinishedLater) {
#ifdef NDEBUG
  GTEST_SKIP() << "release build: the agent's ACME_AGENT_TEST_KILL_AT seam is compiled out";
#endif
  UseLabAgent();
  const std::string ccs = root_ + "/ccs";
  ASSERT_EQ(::mkdir(ccs.c_str(), 0700), 0);
  const std::string name = absl::StrCat("f.", kDomain);
  const std::string copy = ccs + "/" + name + ".pfx";
  const std::string live_pfx = AgentDir() + "/live/fin/cert.pfx";
  std::vector<std::string> args = {"certonly", "--cert-name", "fin", "-d", name, "--ccs-dir", ccs};
  const std::vector<std::string> standalone = Standalone();
  args.insert(args.end(), standalone.begin(), standalone.end());
  testing::ChildResult first = Agent(args);
  ASSERT_EQ(first.exit_code, 0) << first;
  const std::string pfx1 = FileOrEmpty(live_pfx);
  ASSERT_EQ(FileOrEmpty(copy), pfx1);

  // Killed after saving version 2, before live/ switched: the copy still holds version 1,
  // which is what is live.
  args.push_back("--force-renewal");
  testing::ChildResult killed = Agent(args, {"ACME_AGENT_TEST_KILL_AT=live:switch"});
  ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << killed;
  EXPECT_EQ(FileOrEmpty(live_pfx), pfx1);
  EXPECT_EQ(FileOrEmpty(copy), pfx1);

  // The next renew finishes the install: live/ and the copy move to version 2 together.
  testing::ChildResult finished = Agent({"renew", "--cert-name", "fin"});
  ASSERT_EQ(finished.exit_code, 0) << finished;
  EXPECT_THAT(finished.out, HasSubstr("finished installing version 2"));
  const std::string pfx2 = FileOrEmpty(live_pfx);
  EXPECT_NE(pfx2, pfx1);
  EXPECT_EQ(FileOrEmpty(copy), pfx2);
}

}  // namespace
}  // namespace acme_signer
