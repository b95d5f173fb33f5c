// The documentation against what the build and the binaries really do, so the docs cannot
// drift: the first line of docs/signer.md and docs/agent.md (apt install of this version's
// package), docs/signer.md's source install line and its exit codes, docs/hsm.md's key names, and
// docs/agent.md's coverage of every acme-agent option and its exit-code wording.
// (docs/agent.md's quick start is run against the lab by tests/integration/agent_docs_test.cc.)
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/version.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/frontdoor/credentials.h"

namespace acme_signer {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string ReadDoc(const std::string& relative) {
  std::ifstream in(fs::path(ACME_SIGNER_SOURCE_DIR) / relative);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_FALSE(text.str().empty()) << relative << " is missing or empty";
  return text.str();
}

// stdout of `binary args...` (no shell: the arguments are fixed words of this test).
std::string Output(const std::string& binary, const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe(fds) != 0) return "";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> argv;
    std::vector<std::string> words = {binary};
    words.insert(words.end(), args.begin(), args.end());
    for (std::string& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buffer[4096];
  ssize_t n;
  // Bounded by the child's output: --help text, a few KiB.
  while ((n = ::read(fds[0], buffer, sizeof(buffer))) > 0) out.append(buffer, n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return out;
}

TEST(SignerDocTest, InstallLineTakesEveryBinaryFromWhereTheBuildPutsIt) {
  const std::string doc = ReadDoc("docs/signer.md");
  std::smatch match;
  const std::regex install_line(R"(install -m 755 ((?:build/bin/[a-z-]+ ?)+) /usr/bin/)");
  ASSERT_TRUE(std::regex_search(doc, match, install_line)) << "no install line in docs/signer.md";
  std::vector<std::string> files = absl::StrSplit(match[1].str(), ' ', absl::SkipEmpty());
  EXPECT_THAT(files, ::testing::Contains("build/bin/acme-hsm"));
  for (const std::string& file : files) {
    const fs::path built =
        fs::path(ACME_SIGNER_BINARY_DIR) / file.substr(std::string("build/").size());
    EXPECT_EQ(::access(built.c_str(), X_OK), 0) << file << ": the build makes no " << built;
  }
}

// Both pages start with installing their package (scripts/package) of the version the build
// has, so a version bump cannot leave the first line of either page stale.
TEST(PackageDocTest, SignerAndAgentPagesStartWithTheAptInstallLineOfThisVersion) {
  const std::vector<std::pair<std::string, std::string>> pages = {
      {"docs/signer.md", "acme-signer"}, {"docs/agent.md", "acme-agent"}};
  for (const auto& [page, package] : pages) {
    SCOPED_TRACE(page);
    // The title, a blank line, then a code block whose first line installs the package.
    const std::vector<std::string> lines = absl::StrSplit(ReadDoc(page), '\n');
    ASSERT_GE(lines.size(), 4u);
    EXPECT_TRUE(absl::StartsWith(lines[0], "# ")) << lines[0];
    EXPECT_EQ(lines[1], "");
    EXPECT_EQ(lines[2], "```");
    EXPECT_TRUE(absl::StartsWith(
        lines[3], absl::StrCat("apt install ./", package, "_", ACME_SIGNER_VERSION, "-1_")))
        << lines[3];
  }
}

TEST(SignerDocTest, ExitCodesListEveryCodeTheSubcommandsReturn) {
  const std::string doc = ReadDoc("docs/signer.md");
  const size_t at = doc.find("Exit codes of every subcommand");
  ASSERT_NE(at, std::string::npos);
  const std::string paragraph = doc.substr(at, doc.find("\n\n", at) - at);
  for (int code : {signer::kExitOk, signer::kExitFailure, signer::kExitUsage, signer::kExitAuditBad,
                   signer::kExitConfig}) {
    EXPECT_THAT(paragraph, HasSubstr(absl::StrCat("`", code, "`"))) << paragraph;
  }
  EXPECT_THAT(paragraph, HasSubstr("`init`"));
}

TEST(HsmDocTest, NamesOnlyTheObjectsTheSignerConfigUsesByDefault) {
  const signer::HsmConfig defaults;
  std::set<std::string> known;
  for (const std::string& uri :
       {signer::DefaultAccountKeyUri(signer::kDefaultAccountName),
        signer::DefaultEabKeyUri(signer::kDefaultAccountName), defaults.agent_ca_key,
        defaults.audit_key, std::string(signer::frontdoor::kEabMasterKeyUri),
        // The per-account labels, written in docs/hsm.md as "acme-account-<name>".
        std::string("pkcs11:object=acme-account-"), std::string("pkcs11:object=eab-hmac-")}) {
    const std::string prefix = "pkcs11:object=";
    ASSERT_TRUE(absl::StartsWith(uri, prefix)) << uri;
    const std::string name = uri.substr(prefix.size());
    known.insert(name.substr(0, name.find(';')));
  }
  const std::string doc = ReadDoc("docs/hsm.md");
  const std::regex object(R"(pkcs11:object=([A-Za-z0-9_.-]+))");
  int seen = 0;
  for (std::sregex_iterator it(doc.begin(), doc.end(), object), end; it != end; ++it) {
    ++seen;
    EXPECT_EQ(known.count((*it)[1].str()), 1u)
        << "docs/hsm.md names object '" << (*it)[1].str()
        << "', which is no default of signer/config.h HsmConfig";
  }
  EXPECT_GE(seen, 4);
}

constexpr const char* kAgentCommands[] = {"enroll", "certonly",     "renew",   "run",
                                          "revoke", "delete",       "certificates", "account",
                                          "reconfigure"};

TEST(AgentDocTest, MentionsEveryOptionOfEveryCommand) {
  const std::string doc = ReadDoc("docs/agent.md");
  const std::string agent = (fs::path(ACME_SIGNER_BINARY_DIR) / "bin" / "acme-agent").string();
  const std::regex option(R"(--([a-z0-9][a-z0-9-]*))");
  // Every option the doc shows in code: `--name`, `-q/--quiet`, `acme-agent enroll --name N`.
  std::set<std::string> documented;
  const std::regex code_span("`([^`\n]+)`");
  for (std::sregex_iterator span(doc.begin(), doc.end(), code_span), end; span != end; ++span) {
    const std::string text = (*span)[1].str();
    for (std::sregex_iterator it(text.begin(), text.end(), option); it != end; ++it) {
      documented.insert((*it)[1].str());
    }
  }
  for (const char* command : kAgentCommands) {
    const std::string help = Output(agent, {"help", command});
    ASSERT_THAT(help, HasSubstr(absl::StrCat("usage: acme-agent ", command)));
    std::set<std::string> options;
    for (std::sregex_iterator it(help.begin(), help.end(), option), end; it != end; ++it) {
      options.insert((*it)[1].str());
    }
    for (const std::string& name : options) {
      // --help is every command's; the rest must each be in the doc (in backquotes).
      if (name == "help") continue;
      EXPECT_EQ(documented.count(name), 1u)
          << "acme-agent " << command << " --" << name << " is not in docs/agent.md";
    }
  }
}

TEST(AgentDocTest, ExitCodeOneSaysADeployHookMayHaveFailedAfterInstalling) {
  const std::string doc = ReadDoc("docs/agent.md");
  EXPECT_NE(doc.find("installed and made live but its deploy hook failed"), std::string::npos);
  const std::string agent = (fs::path(ACME_SIGNER_BINARY_DIR) / "bin" / "acme-agent").string();
  const std::string usage = Output(agent, {"help"});
  EXPECT_THAT(usage, HasSubstr("deploy hook"));
  EXPECT_THAT(usage, ::testing::Not(HasSubstr("1 failed (old certificate kept)")));
}

}  // namespace
}  // namespace acme_signer
