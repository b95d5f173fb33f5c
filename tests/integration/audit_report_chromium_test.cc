// The auditor's report of a real signer's log, rendered by a real browser (issue 17): a lab
// (SoftHSM2, Pebble, `acme-signer serve`) where web1 and web2 get certificates, web1 is refused
// a name outside its policy and revokes one of its certificates; `acme-signer audit report`
// writes the page, and headless Chromium (Debian's `chromium`) takes a screenshot and dumps the
// DOM, whose text must hold the agents, serials, the revocation and the denial's reason. A
// copy of the log with one record altered gives a report whose first line says
// TAMPERED/DAMAGED.
//
// Chromium runs with --no-sandbox (CI runs as root), its HOME/XDG directories and profile in a
// temp dir, every host name resolving to nothing and a proxy on a closed loopback port, so it
// cannot reach any network even if the page asked (it does not: no script, CSP default-src
// 'none'); each run is bounded by 60 s. The screenshots are also kept in the build directory
// (audit-report.png, audit-report-tampered.png) and their paths printed.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "agent/csr.h"
#include "agent/private_key.h"
#include "agent/relay_issuer.h"
#include "agent/signer_client.h"
#include "agent/standalone_solver.h"
#include "common/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/child_process.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer {
namespace {

namespace fs = std::filesystem;

using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr int kExitAuditBad = 3;  // signer/commands.h
constexpr char kDeniedName[] = "evil.example.org";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The text a reader sees: tags dropped, the few entities the report uses decoded.
std::string VisibleText(const std::string& html) {
  std::string text;
  bool in_tag = false;
  for (const char c : html) {
    if (c == '<') {
      in_tag = true;
      text += ' ';
    } else if (c == '>') {
      in_tag = false;
    } else if (!in_tag) {
      text += c;
    }
  }
  return absl::StrReplaceAll(
      text, {{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}});
}

// The table row (<tr>...</tr>) of the DOM that holds `needle`; "" when none does.
std::string RowWith(const std::string& dom, const std::string& needle) {
  for (absl::string_view row : absl::StrSplit(dom, "<tr")) {
    const size_t end = row.find("</tr>");
    absl::string_view cells = row.substr(0, end);
    if (absl::StrContains(cells, needle)) return std::string(cells);
  }
  return "";
}

std::string ChromiumBinary() {
  for (const char* path : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

struct Issued {
  std::string serial;
  std::string leaf_der;
};

class AuditReportChromiumTest : public testing::SignerLabSuite<AuditReportChromiumTest> {
 protected:
  // Checkpoints every 8 records, so the log has some and the report names the audit key.
  static testing::SignerLab::Options LabOptions() {
    testing::SignerLab::Options options;
    options.checkpoint_every = 8;
    return options;
  }

  // The activity the report must show, made once: two certificates for web1 (one of them
  // revoked), one for web2, one refusal.
  static void SetUpTestSuite() {
    SignerLabSuite::SetUpTestSuite();
    if (!lab_started()) return;
    absl::Status made = MakeActivity();
    if (!made.ok())
      FailSuiteSetUp(
          absl::Status(made.code(), absl::StrCat(made.message(), "\n", lab().SignerLogTail())));
  }

  static void TearDownTestSuite() {
    SignerLabSuite::TearDownTestSuite();
    delete issued_;
    issued_ = nullptr;
  }

  void SetUp() override {
    SignerLabSuite::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    chromium_ = ChromiumBinary();
    if (chromium_.empty()) {
      if (testing::InCi()) GTEST_FAIL() << "CI=true and chromium is not installed";
      GTEST_SKIP() << "chromium is not installed (scripts/install-deps installs it)";
    }
  }

  static absl::StatusOr<Issued> Issue(const std::string& agent_name, const std::string& name) {
    absl::StatusOr<std::unique_ptr<agent::SignerClient>> client = lab().Client(agent_name);
    if (!client.ok()) return client.status();
    absl::StatusOr<agent::PrivateKey> key = agent::PrivateKey::Generate(agent::KeySpec());
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> csr = agent::BuildCsrDer(*key, {name});
    if (!csr.ok()) return csr.status();
    agent::StandaloneSolver solver("127.0.0.1", lab().http_port());
    agent::RelayIssueOptions options;
    options.domains = {name};
    options.csr_der = *csr;
    options.validation_timeout = absl::Minutes(2);
    options.processing_timeout = absl::Minutes(2);
    options.min_poll = absl::Milliseconds(200);
    options.max_poll = absl::Seconds(2);
    absl::StatusOr<agent::IssuedChain> chain = agent::IssueThroughSigner(**client, solver, options);
    if (!chain.ok()) return chain.status();
    absl::StatusOr<std::string> der = CertificatePemToDer(chain->pem_chain);
    if (!der.ok()) return der.status();
    return Issued{chain->serial, *der};
  }

  static absl::Status MakeActivity() {
    issued_ = new std::vector<Issued>();
    for (const auto& [agent_name, name] :
         std::vector<std::pair<std::string, std::string>>{{"web1", "web1.example.test"},
                                                          {"web1", "www.web1.example.test"},
                                                          {"web2", "web2.example.test"}}) {
      absl::StatusOr<Issued> issued = Issue(agent_name, name);
      if (!issued.ok()) {
        return absl::Status(
            issued.status().code(),
            absl::StrCat("issuing ", name, " to ", agent_name, ": ", issued.status().message()));
      }
      issued_->push_back(*issued);
    }
    absl::StatusOr<std::unique_ptr<agent::SignerClient>> web1 = lab().Client("web1");
    if (!web1.ok()) return web1.status();
    if ((*web1)->CreateOrder({kDeniedName}, "").ok()) {
      return absl::InternalError(absl::StrCat("web1 was given an order for ", kDeniedName));
    }
    // 4 = superseded.
    return (*web1)->RevokeCertificate(issued_->front().leaf_der, 4);
  }

  // Runs chromium headless on `html` with `mode_args`; its environment and profile in a temp
  // dir under the lab, bounded in time, no network (see the file comment).
  testing::ChildResult Chromium(const std::string& html,
                                const std::vector<std::string>& mode_args) {
    const std::string home = lab().dir() + "/chromium";
    for (const char* sub : {"", "/config", "/cache", "/run", "/profile"}) {
      fs::create_directories(home + sub);
    }
    ::chmod((home + "/run").c_str(), 0700);
    std::vector<std::string> args = {chromium_,
                                     "--headless",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--no-first-run",
                                     "--disable-background-networking",
                                     "--disable-component-update",
                                     "--disable-sync",
                                     "--disable-extensions",
                                     "--disable-default-apps",
                                     "--host-resolver-rules=MAP * ~NOTFOUND",
                                     "--proxy-server=127.0.0.1:9",
                                     "--user-data-dir=" + home + "/profile",
                                     "--window-size=1200,2000"};
    args.insert(args.end(), mode_args.begin(), mode_args.end());
    args.push_back("file://" + html);
    testing::ChildOptions options;
    options.scratch_dir = lab().dir();
    options.timeout = absl::Seconds(60);
    options.extra_env = {"HOME=" + home, "XDG_CONFIG_HOME=" + home + "/config",
                         "XDG_CACHE_HOME=" + home + "/cache", "XDG_RUNTIME_DIR=" + home + "/run"};
    return testing::RunChild(args, options);
  }

  // A PNG screenshot of `html` at `png` (kept in the build directory too, as `keep_as`).
  void ExpectScreenshot(const std::string& html, const std::string& png,
                        const std::string& keep_as) {
    testing::ChildResult shot = Chromium(html, {"--screenshot=" + png});
    ASSERT_EQ(shot.exit_code, 0) << shot;
    const std::string bytes = Slurp(png);
    ASSERT_GT(bytes.size(), 1000u) << png;
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << png;
    const std::string kept = absl::StrCat(ACME_SIGNER_BINARY_DIR, "/", keep_as);
    std::error_code error;
    fs::copy_file(png, kept, fs::copy_options::overwrite_existing, error);
    EXPECT_FALSE(error) << kept << ": " << error.message();
    std::cout << "audit report screenshot: " << kept << std::endl;
  }

  std::string DumpDom(const std::string& html) {
    testing::ChildResult dump = Chromium(html, {"--dump-dom"});
    EXPECT_EQ(dump.exit_code, 0) << dump;
    return dump.out;
  }

  // A copy of the lab's config, TLS files, state store and audit log in `dir` (the config's
  // paths are relative to it), for a report of a log the running signer does not write.
  static absl::Status CopySigner(const std::string& dir) {
    std::error_code error;
    const fs::path from = fs::path(lab().config_path()).parent_path();
    for (const char* sub : {"tls", "state", "audit"}) {
      // Regular files only: the state directory may also hold the running serve's socket.
      for (const fs::directory_entry& entry : fs::recursive_directory_iterator(from / sub)) {
        if (!entry.is_regular_file()) continue;
        const fs::path to = fs::path(dir) / fs::relative(entry.path(), from);
        fs::create_directories(to.parent_path(), error);
        if (!error) fs::copy_file(entry.path(), to, error);
        if (error)
          return absl::InternalError(
              absl::StrCat("copy ", entry.path().string(), ": ", error.message()));
      }
    }
    fs::copy_file(lab().config_path(), fs::path(dir) / "acme-signer.toml", error);
    if (error) return absl::InternalError(absl::StrCat("copy config: ", error.message()));
    return absl::OkStatus();
  }

  static inline std::vector<Issued>* issued_ = nullptr;
  std::string chromium_;
};

TEST_F(AuditReportChromiumTest, ReportOfTheLabLogShowsEveryRowInChromium) {
  ASSERT_NE(issued_, nullptr);
  ASSERT_EQ(issued_->size(), 3u);
  const std::string html = lab().dir() + "/report.html";
  CommandResult run = Run({"audit", "report", "--config", lab().config_path(), "--out", html});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("audit chain intact"));
  struct stat st {};
  ASSERT_EQ(::stat(html.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);

  ExpectScreenshot(html, lab().dir() + "/report.png", "audit-report.png");

  const std::string dom = DumpDom(html);
  const std::string text = VisibleText(dom);
  EXPECT_THAT(dom, HasSubstr("<title>Audit chain intact"));
  EXPECT_THAT(text, HasSubstr("Audit key id"));
  EXPECT_THAT(text, Not(HasSubstr("none: no verified checkpoint")));
  // Each certificate in its agent's table, the revoked one marked.
  const std::string revoked_row = RowWith(dom, (*issued_)[0].serial);
  EXPECT_THAT(VisibleText(revoked_row), HasSubstr("web1.example.test"));
  EXPECT_THAT(VisibleText(revoked_row), HasSubstr("yes"));
  const std::string web1_row = RowWith(dom, (*issued_)[1].serial);
  EXPECT_THAT(VisibleText(web1_row), HasSubstr("www.web1.example.test"));
  EXPECT_THAT(VisibleText(web1_row), HasSubstr(" no "));
  EXPECT_THAT(VisibleText(RowWith(dom, (*issued_)[2].serial)), HasSubstr("web2.example.test"));
  EXPECT_THAT(text, HasSubstr(" web1 (2) "));
  EXPECT_THAT(text, HasSubstr(" web2 (1) "));
  // The refusal with the signer's reason.
  const std::string denial = VisibleText(RowWith(dom, kDeniedName));
  EXPECT_THAT(denial, HasSubstr("web1"));
  EXPECT_THAT(denial, HasSubstr("CreateOrder"));
  EXPECT_THAT(denial, HasSubstr("not in its allowed names"));
  // The revocation with its reason code.
  const std::string revocation = VisibleText(RowWith(dom, "reason code 4"));
  EXPECT_THAT(revocation, HasSubstr("RevokeCertificate"));
  EXPECT_THAT(revocation, HasSubstr((*issued_)[0].serial));
}

TEST_F(AuditReportChromiumTest, TamperedCopySaysSoOnItsFirstLine) {
  ASSERT_NE(issued_, nullptr);
  const std::string dir = lab().dir() + "/tampered";
  const absl::Status copied = CopySigner(dir);
  ASSERT_TRUE(copied.ok()) << copied;
  // web2's certificate record now claims another name: its hash no longer matches.
  const std::string log = dir + "/audit/audit.log";
  std::vector<std::string> lines = absl::StrSplit(Slurp(log), '\n');
  bool altered = false;
  for (std::string& line : lines) {
    if (!altered && absl::StrContains(line, "\"rpc\":\"GetCertificate\"") &&
        absl::StrContains(line, (*issued_)[2].serial)) {
      line = absl::StrReplaceAll(line, {{"\"agent\":\"web2\"", "\"agent\":\"web9\""}});
      altered = true;
    }
  }
  ASSERT_TRUE(altered);
  {
    std::ofstream out(log, std::ios::binary | std::ios::trunc);
    out << absl::StrJoin(lines, "\n");
  }
  const std::string html = dir + "/report.html";
  CommandResult run =
      Run({"audit", "report", "--config", dir + "/acme-signer.toml", "--out", html});
  EXPECT_EQ(run.exit_code, kExitAuditBad) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("TAMPERED/DAMAGED"));

  ExpectScreenshot(html, dir + "/report.png", "audit-report-tampered.png");
  const std::string dom = DumpDom(html);
  EXPECT_THAT(dom, HasSubstr("<title>TAMPERED/DAMAGED"));
  // The first text of the page is the verdict, and the problem names the record.
  const std::string text = VisibleText(dom.substr(dom.find("<body")));
  EXPECT_THAT(std::string(absl::StripLeadingAsciiWhitespace(text)), StartsWith("TAMPERED/DAMAGED"));
  EXPECT_THAT(text, HasSubstr("audit.log:"));
  EXPECT_THAT(VisibleText(RowWith(dom, (*issued_)[2].serial)), HasSubstr("(unverified)"));
}

}  // namespace
}  // namespace acme_signer
