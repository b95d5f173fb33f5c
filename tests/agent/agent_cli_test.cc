// End-to-end tests of the acme-agent subcommands enroll, certificates and revoke (and the
// usage errors every subcommand shares), running the real binary as a user would.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "agent/lineage.h"
#include "agent/private_key.h"
#include "agent/renewal_config.h"
#include "common/files.h"
#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/agent/status_matchers.h"
#include "tests/agent/test_certs.h"

extern char** environ;

namespace acme_signer::agent {
namespace {

using ::acme_signer::agent::testing::IsOk;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// The acme-agent binary of this build tree: tests/agent/<test> -> bin/acme-agent.
std::string AgentBinary() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const std::filesystem::path build = self.parent_path().parent_path().parent_path();
  for (const char* relative : {"bin/acme-agent", "agent/acme-agent"}) {
    const std::filesystem::path candidate = build / relative;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs acme-agent with `args`; stdout and stderr go to files in `dir` (no pipe to drain).
Result RunAgent(const std::string& dir, const std::vector<std::string>& args) {
  Result run;
  const std::string binary = AgentBinary();
  if (binary.empty()) {
    ADD_FAILURE() << "acme-agent binary not found next to this test (build target acme-agent)";
    return run;
  }
  const std::string out_path = dir + "/stdout", err_path = dir + "/stderr";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  std::vector<std::string> argv_strings = {binary};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "cannot run " << binary << ": " << strerror(rc);
    return run;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.out = ReadFile(out_path).value_or("");
  run.err = ReadFile(err_path).value_or("");
  return run;
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

// A loopback port nothing listens on: bound to find a free one, then closed.
int ClosedLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// The URI SANs of a PEM CSR.
std::vector<std::string> CsrUris(const std::string& pem, EVP_PKEY* expected_key) {
  std::vector<std::string> uris;
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  SslUniquePtr<X509_REQ> req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (req == nullptr) {
    ADD_FAILURE() << "not a PEM CSR";
    return uris;
  }
  EXPECT_EQ(X509_REQ_verify(req.get(), X509_REQ_get0_pubkey(req.get())), 1);
  if (expected_key != nullptr) {
    EXPECT_EQ(EVP_PKEY_eq(X509_REQ_get0_pubkey(req.get()), expected_key), 1)
        << "the CSR is not for the identity key";
  }
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req.get());
  for (int i = 0; exts != nullptr && i < sk_X509_EXTENSION_num(exts); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name) continue;
    SslUniquePtr<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext)));
    for (int j = 0; names != nullptr && j < sk_GENERAL_NAME_num(names.get()); ++j) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), j);
      if (name->type != GEN_URI) {
        ADD_FAILURE() << "CSR has a SAN that is not a URI";
        continue;
      }
      const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
      uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                        static_cast<size_t>(ASN1_STRING_length(uri)));
    }
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  return uris;
}

class AgentCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(AgentBinary().empty())
        << "acme-agent binary not found next to this test (build target acme-agent)";
    root_ = dir_.path();
    config_dir_ = root_ + "/etc";
    identity_dir_ = root_ + "/identity";
    key_path_ = identity_dir_ + "/agent.key";
    cert_path_ = identity_dir_ + "/agent.pem";
    ca_path_ = identity_dir_ + "/signer-ca.pem";
    WriteConfig(absl::StrCat("127.0.0.1:", ClosedLoopbackPort()));
  }

  void WriteConfig(const std::string& signer_address) {
    config_path_ = root_ + "/agent.toml";
    ASSERT_THAT(WriteFileAtomically(
                    config_path_,
                    absl::StrCat("config_dir = \"", config_dir_, "\"\n[signer]\naddress = \"",
                                 signer_address, "\"\nca = \"", ca_path_,
                                 // Every signer here is unreachable: retry briefly.
                                 "\"\nretry_seconds = 1"
                                 "\n[identity]\ntrust_domain = \"example.org\"\n"
                                 "name = \"web1\"\nkey = \"",
                                 key_path_, "\"\ncert = \"", cert_path_, "\"\n"),
                    0644),
                IsOk());
  }

  Result Agent(std::vector<std::string> args) {
    args.insert(args.begin() + 1, {"--config", config_path_});
    return RunAgent(root_, args);
  }

  // Installs a lineage with a test CA certificate valid until `not_after`.
  void InstallLineage(const std::string& name, const std::vector<std::string>& dns_names,
                      absl::Time not_after, long serial) {
    auto key = PrivateKey::Generate(KeySpec());
    ASSERT_THAT(key.status(), IsOk());
    auto key_pem = key->ToPem();
    ASSERT_THAT(key_pem.status(), IsOk());
    LineageFiles files;
    files.privkey_pem = Secret(std::string(key_pem->reveal()));
    files.cert_pem =
        ca_.Issue(key->get(), dns_names, absl::Now() - absl::Hours(24 * 60), not_after, serial);
    files.chain_pem = ca_.cert_pem();
    files.fullchain_pem = files.cert_pem + files.chain_pem;
    ASSERT_THAT(LineageStore(config_dir_).InstallNewVersion(name, files).status(), IsOk());
  }

  // A lineage due in a day, with renewal/NAME.conf (standalone), so renew gets as far as the
  // signer.
  void InstallLineageWithSettings(const std::string& name) {
    InstallLineage(name, {name}, absl::Now() + absl::Hours(24), 7);
    RenewalConfig config;
    config.version = "test";
    config.domains = {name};
    ASSERT_THAT(LineageStore(config_dir_).WriteRenewalConfig(name, config), IsOk());
  }

  // Writes an enrolled-looking identity (key, client certificate valid [not_before,
  // not_after], CA) so ConnectToSigner gets as far as the network.
  void WriteIdentity(absl::Time not_before = absl::Now() - absl::Hours(1),
                     absl::Time not_after = absl::Now() + absl::Hours(24)) {
    ASSERT_TRUE(::mkdir(identity_dir_.c_str(), 0700) == 0 || errno == EEXIST);
    auto key = PrivateKey::Generate(KeySpec());
    ASSERT_THAT(key.status(), IsOk());
    auto key_pem = key->ToPem();
    ASSERT_THAT(key_pem.status(), IsOk());
    ASSERT_THAT(WriteFileAtomically(key_path_, key_pem->reveal(), 0600), IsOk());
    ASSERT_THAT(
        WriteFileAtomically(
            cert_path_, ca_.Issue(key->get(), {"web1.example.org"}, not_before, not_after), 0644),
        IsOk());
    ASSERT_THAT(WriteFileAtomically(ca_path_, ca_.cert_pem(), 0644), IsOk());
  }

  testing::TempDir dir_;
  testing::TestCa ca_;
  std::string root_, config_dir_, identity_dir_, key_path_, cert_path_, ca_path_, config_path_;
};

// --- enroll ---

TEST_F(AgentCliTest, EnrollCreatesAPrivateKeyAndACsrForTheAgentSpiffeId) {
  Result run = Agent({"enroll"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(ModeOf(key_path_), 0600u);
  EXPECT_EQ(ModeOf(identity_dir_), 0700u);
  const std::string csr_path = identity_dir_ + "/agent.csr";
  EXPECT_EQ(ModeOf(csr_path), 0644u);

  auto key = PrivateKey::Load(key_path_);
  ASSERT_THAT(key.status(), IsOk());
  EXPECT_EQ(key->spec().type, KeyType::kEcdsa);
  EXPECT_EQ(key->spec().elliptic_curve, "secp256r1");
  auto csr = ReadFile(csr_path);
  ASSERT_THAT(csr.status(), IsOk());
  EXPECT_THAT(CsrUris(*csr, key->get()), ::testing::ElementsAre("spiffe://example.org/agent/web1"));

  EXPECT_THAT(run.out,
              AllOf(HasSubstr("Created identity key " + key_path_),
                    HasSubstr(absl::StrCat("acme-signer enroll-agent --config "
                                           "/etc/acme-signer/acme-signer.toml --name web1 --csr ",
                                           csr_path, " --out ", cert_path_)),
                    HasSubstr(cert_path_), HasSubstr(ca_path_)));
  EXPECT_THAT(run.out + run.err, Not(HasSubstr("PRIVATE KEY")));
}

TEST_F(AgentCliTest, TokenEnrollNeedsTheFingerprintAndExactlyOneTokenSource) {
  const std::string signer = absl::StrCat("127.0.0.1:", ClosedLoopbackPort());
  const std::string fingerprint(64, 'a');
  Result no_fingerprint = Agent({"enroll", "--signer", signer, "--token", "acme-enroll-x"});
  EXPECT_EQ(no_fingerprint.exit_code, 2);
  EXPECT_THAT(no_fingerprint.err, HasSubstr("--ca-fingerprint"));
  Result no_token = Agent({"enroll", "--signer", signer, "--ca-fingerprint", fingerprint});
  EXPECT_EQ(no_token.exit_code, 2);
  EXPECT_THAT(no_token.err, HasSubstr("--token TOKEN, --token - (read from stdin) or "
                                      "--token-file PATH (exactly one)"));
  Result bad_fingerprint =
      Agent({"enroll", "--signer", signer, "--token", "acme-enroll-x", "--ca-fingerprint", "abc"});
  EXPECT_EQ(bad_fingerprint.exit_code, 2);
  EXPECT_THAT(bad_fingerprint.err, HasSubstr("64 hex digits"));
  // Nothing was made for any of them.
  EXPECT_NE(::access(key_path_.c_str(), F_OK), 0);
}

TEST_F(AgentCliTest, TokenEnrollChecksTheAddressesBeforeSendingAnything) {
  const std::string fingerprint(64, 'a');
  Result bad = Agent({"enroll", "--signer", "unix:/run/signer.sock", "--token", "acme-enroll-x",
                      "--ca-fingerprint", fingerprint});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_THAT(bad.err, HasSubstr("--signer: \"unix:/run/signer.sock\" is not a signer address"));
  // A config to be created: several enrolment listeners give no mTLS target to derive from
  // one port, and a bad --signer-address is refused before anything is sent.
  const std::string new_config = root_ + "/new/agent.toml";
  Result several = RunAgent(root_, {"enroll", "--config", new_config, "--signer",
                                    "ipv4:127.0.0.1:1,127.0.0.1:2", "--token", "acme-enroll-x",
                                    "--ca-fingerprint", fingerprint});
  EXPECT_EQ(several.exit_code, 2) << several.err;
  EXPECT_THAT(several.err, HasSubstr("--signer-address"));
  Result bad_target = RunAgent(
      root_, {"enroll", "--config", new_config, "--signer", "127.0.0.1:1", "--signer-address",
              "ipv4:127.0.0.1", "--token", "acme-enroll-x", "--ca-fingerprint", fingerprint});
  EXPECT_EQ(bad_target.exit_code, 2) << bad_target.err;
  EXPECT_THAT(bad_target.err, HasSubstr("--signer-address: \"ipv4:127.0.0.1\""));
  EXPECT_NE(::access((root_ + "/new/identity/agent.key").c_str(), F_OK), 0);
  EXPECT_NE(::access(key_path_.c_str(), F_OK), 0);
}

TEST_F(AgentCliTest, TokenEnrollWithAnUnreachableSignerExits4AndWritesNothing) {
  const std::string signer = absl::StrCat("127.0.0.1:", ClosedLoopbackPort());
  Result run = Agent({"enroll", "--signer", signer, "--token", "acme-enroll-secret-value",
                      "--ca-fingerprint", std::string(64, 'a')});
  EXPECT_EQ(run.exit_code, 4) << run.err;
  EXPECT_THAT(run.err, HasSubstr(absl::StrCat("the signer's enrolment listener at ", signer,
                                              " is unreachable")));
  EXPECT_THAT(run.out + run.err, Not(HasSubstr("acme-enroll-secret-value")));
  EXPECT_NE(::access(key_path_.c_str(), F_OK), 0);
  EXPECT_NE(::access(cert_path_.c_str(), F_OK), 0);
}

TEST_F(AgentCliTest, SecondEnrollReusesTheKeyAndTakesNameAndTrustDomainFromFlags) {
  ASSERT_EQ(Agent({"enroll"}).exit_code, 0);
  auto first_key = ReadFile(key_path_);
  ASSERT_THAT(first_key.status(), IsOk());

  Result run = Agent({"enroll", "--name", "web2", "--trust-domain", "other.test"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("Reused the existing identity key " + key_path_));
  auto second_key = ReadFile(key_path_);
  ASSERT_THAT(second_key.status(), IsOk());
  EXPECT_EQ(*first_key, *second_key);

  auto key = PrivateKey::Load(key_path_);
  ASSERT_THAT(key.status(), IsOk());
  auto csr = ReadFile(identity_dir_ + "/agent.csr");
  ASSERT_THAT(csr.status(), IsOk());
  EXPECT_THAT(CsrUris(*csr, key->get()), ::testing::ElementsAre("spiffe://other.test/agent/web2"));
  EXPECT_THAT(run.out, HasSubstr("--name web2 "));
}

TEST_F(AgentCliTest, QuietEnrollPrintsNothingButStillEnrolls) {
  Result run = Agent({"enroll", "--quiet"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(ModeOf(key_path_), 0600u);
  EXPECT_EQ(ModeOf(identity_dir_ + "/agent.csr"), 0644u);
}

TEST_F(AgentCliTest, EnrollPrintsJson) {
  Result run = Agent({"enroll", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  nlohmann::json out = nlohmann::json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(out.is_object()) << run.out;
  EXPECT_EQ(out["ok"], true);
  EXPECT_EQ(out["key"], key_path_);
  EXPECT_EQ(out["csr"], identity_dir_ + "/agent.csr");
  EXPECT_EQ(out["key_reused"], false);
  EXPECT_EQ(out["spiffe_id"], "spiffe://example.org/agent/web1");
}

TEST_F(AgentCliTest, EnrollNeverReplacesAnUnreadableKey) {
  ASSERT_EQ(::mkdir(identity_dir_.c_str(), 0700), 0);
  ASSERT_THAT(WriteFileAtomically(key_path_, "not a key\n", 0600), IsOk());
  Result run = Agent({"enroll"});
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.err, AllOf(HasSubstr(key_path_), HasSubstr("never replaces")));
  EXPECT_EQ(ReadFile(key_path_).value_or(""), "not a key\n");
}

TEST_F(AgentCliTest, EnrollRejectsANameTheSignerWouldRefuse) {
  Result run = Agent({"enroll", "--name", "Web_1"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, AllOf(HasSubstr("--name"), HasSubstr("Web_1"), HasSubstr("a-z")));
  EXPECT_NE(::access(key_path_.c_str(), F_OK), 0) << "no key is made for a refused name";
}

TEST_F(AgentCliTest, EnrollWithAMissingConfigIsAUsageErrorNamingThePath) {
  Result run = RunAgent(root_, {"enroll", "--config", root_ + "/missing.toml"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr(root_ + "/missing.toml"));
}

// --- certificates ---

TEST_F(AgentCliTest, CertificatesSaysSoWhenThereAreNone) {
  Result run = Agent({"certificates"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("No certificates found."));
}

TEST_F(AgentCliTest, VersionPrintsTheAgentsVersion) {
  for (const char* flag : {"--version", "version"}) {
    Result run = RunAgent(root_, {flag});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_THAT(run.out, ::testing::MatchesRegex("acme-agent [0-9]+\\.[0-9]+\\.[0-9]+\n"));
  }
}

TEST_F(AgentCliTest, DeleteRemovesOnlyThatLineageWithoutTheSigner) {
  const absl::Time not_after = absl::Now() + absl::Hours(24 * 30);
  InstallLineage("gone.example", {"gone.example"}, not_after, 2000);
  InstallLineage("kept.example", {"kept.example"}, not_after, 2001);
  // No signer is needed: deleting files revokes nothing.
  Result run = Agent({"delete", "--cert-name", "gone.example"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("Deleted all files relating to certificate gone.example."));
  struct stat st;
  EXPECT_NE(::lstat((config_dir_ + "/live/gone.example").c_str(), &st), 0);
  EXPECT_NE(::lstat((config_dir_ + "/archive/gone.example").c_str(), &st), 0);
  EXPECT_EQ(::lstat((config_dir_ + "/live/kept.example").c_str(), &st), 0);
  Result list = Agent({"certificates"});
  EXPECT_THAT(list.out,
              AllOf(HasSubstr("kept.example"), ::testing::Not(HasSubstr("gone.example"))));
  // A lineage that does not exist, or a name that would leave the config dir: usage errors.
  Result again = Agent({"delete", "--cert-name", "gone.example"});
  EXPECT_EQ(again.exit_code, 2) << again.out << again.err;
  Result escape = Agent({"delete", "--cert-name", "../kept.example"});
  EXPECT_EQ(escape.exit_code, 2) << escape.out << escape.err;
  EXPECT_EQ(::lstat((config_dir_ + "/live/kept.example").c_str(), &st), 0);
}

TEST_F(AgentCliTest, CertificatesListsALineageLikeCertbot) {
  const absl::Time not_after = absl::Now() + absl::Hours(24 * 30 + 12);
  InstallLineage("example.com", {"example.com", "www.example.com"}, not_after, 1000);
  Result run = Agent({"certificates"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(
      run.out,
      AllOf(HasSubstr("Found the following certs:"), HasSubstr("  Certificate Name: example.com\n"),
            HasSubstr("    Serial Number: 03e8\n"), HasSubstr("    Key Type: ECDSA\n"),
            HasSubstr("    Domains: example.com www.example.com\n"),
            HasSubstr(absl::StrCat(
                "    Expiry Date: ",
                absl::FormatTime("%Y-%m-%d %H:%M:%S+00:00", not_after, absl::UTCTimeZone()),
                " (VALID: 30 days)\n")),
            HasSubstr("    Certificate Path: " + config_dir_ + "/live/example.com/fullchain.pem"),
            HasSubstr("    Private Key Path: " + config_dir_ + "/live/example.com/privkey.pem")));
}

TEST_F(AgentCliTest, CertificatesMarksAnExpiredCertificateInvalid) {
  InstallLineage("old.example", {"old.example"}, absl::Now() - absl::Hours(2), 7);
  Result run = Agent({"certificates"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("(INVALID: EXPIRED)"));
}

TEST_F(AgentCliTest, CertificatesFiltersByCertNameAndPrintsOneJsonObjectWithTheList) {
  InstallLineage("a.example", {"a.example"}, absl::Now() + absl::Hours(24 * 10), 1);
  InstallLineage("b.example", {"b.example", "www.b.example"}, absl::Now() + absl::Hours(24 * 10),
                 2);
  Result run = Agent({"certificates", "--cert-name", "b.example", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  nlohmann::json object = nlohmann::json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(object.is_object()) << run.out;
  EXPECT_EQ(object["ok"], true);
  EXPECT_EQ(object["command"], "certificates");
  nlohmann::json out = object["certificates"];
  ASSERT_TRUE(out.is_array()) << run.out;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["name"], "b.example");
  EXPECT_EQ(out[0]["ok"], true);
  EXPECT_EQ(out[0]["serial"], "02");
  EXPECT_EQ(out[0]["domains"], nlohmann::json({"b.example", "www.b.example"}));
  EXPECT_EQ(out[0]["expired"], false);
  EXPECT_EQ(out[0]["key_type"], "ECDSA");
}

TEST_F(AgentCliTest, CertificatesShowsABrokenLineageWithItsError) {
  InstallLineage("good.example", {"good.example"}, absl::Now() + absl::Hours(24 * 10), 1);
  InstallLineage("broken.example", {"broken.example"}, absl::Now() + absl::Hours(24 * 10), 2);
  ASSERT_EQ(::unlink((config_dir_ + "/archive/broken.example/privkey1.pem").c_str()), 0);
  Result run = Agent({"certificates"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, AllOf(HasSubstr("Certificate Name: broken.example\n    Error: "),
                             HasSubstr("Certificate Name: good.example\n    Serial Number: 01")));
  Result json = Agent({"certificates", "--json"});
  nlohmann::json out = nlohmann::json::parse(json.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(out.is_object()) << json.out;
  out = out["certificates"];
  ASSERT_TRUE(out.is_array()) << json.out;
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["name"], "broken.example");
  EXPECT_EQ(out[0]["ok"], false);
  EXPECT_TRUE(out[0]["error"].is_string());
}

TEST_F(AgentCliTest, CertificatesWorksWithOnlyAConfigDir) {
  InstallLineage("example.com", {"example.com"}, absl::Now() + absl::Hours(24 * 10), 1);
  // No --config and no /etc/acme-agent/agent.toml on a test machine: --config-dir suffices.
  if (::access("/etc/acme-agent/agent.toml", F_OK) == 0) GTEST_SKIP() << "host has a config";
  Result run = RunAgent(root_, {"certificates", "--config-dir", config_dir_});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("Certificate Name: example.com"));
}

// --- revoke ---

TEST_F(AgentCliTest, RevokeWithTheSignerUnreachableExitsFourAndSaysSo) {
  WriteIdentity();
  InstallLineage("example.com", {"example.com"}, absl::Now() + absl::Hours(24 * 10), 4242);
  Result run = Agent({"revoke", "--cert-name", "example.com", "--reason", "KEYCOMPROMISE"});
  EXPECT_EQ(run.exit_code, 4) << run.out << run.err;
  EXPECT_THAT(run.err, AllOf(HasSubstr("acme-agent revoke"), HasSubstr("unreachable"),
                             HasSubstr("1092")));  // serial 4242 in hex
}

TEST_F(AgentCliTest, RevokeByCertPathReachesTheSignerToo) {
  WriteIdentity();
  InstallLineage("example.com", {"example.com"}, absl::Now() + absl::Hours(24 * 10), 4242);
  Result run =
      Agent({"revoke", "--cert-path", config_dir_ + "/live/example.com/cert.pem", "--json"});
  EXPECT_EQ(run.exit_code, 4) << run.out << run.err;
  nlohmann::json out = nlohmann::json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(out.is_object()) << run.out;
  EXPECT_EQ(out["ok"], false);
  EXPECT_EQ(out["command"], "revoke");
  EXPECT_EQ(out["error"]["code"], "unreachable");
  EXPECT_EQ(out["error"]["exit_code"], 4);
  EXPECT_THAT(out["error"]["message"].get<std::string>(), HasSubstr("unreachable"));
  EXPECT_EQ(run.err, "") << "with --json the error is on stdout only";
}

TEST_F(AgentCliTest, RevokeThatFailsAtTheSignerNeitherDeletesNorMarksTheLineage) {
  WriteIdentity();
  InstallLineage("example.com", {"example.com"}, absl::Now() + absl::Hours(24 * 10), 4242);
  Result run = Agent({"revoke", "--cert-name", "example.com", "--delete-after-revoke"});
  EXPECT_EQ(run.exit_code, 4) << run.out << run.err;
  auto info = LineageStore(config_dir_).Get("example.com");
  ASSERT_THAT(info.status(), IsOk());
  EXPECT_THAT(info->status, IsOk());
  EXPECT_FALSE(info->revoked);
  EXPECT_TRUE(std::filesystem::exists(config_dir_ + "/archive/example.com/cert1.pem"));
  EXPECT_FALSE(std::filesystem::exists(config_dir_ + "/archive/example.com/revoked"));
}

TEST_F(AgentCliTest, RevokeTakesAtMostOneOfDeleteAndNoDeleteAfterRevoke) {
  Result run = Agent({"revoke", "--cert-name", "example.com", "--delete-after-revoke",
                      "--no-delete-after-revoke"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err,
              AllOf(HasSubstr("--delete-after-revoke"), HasSubstr("--no-delete-after-revoke")));
}

TEST_F(AgentCliTest, CertificatesShowsRevokedForTheRecordedSerialAsTextAndJson) {
  InstallLineage("example.com", {"example.com"}, absl::Now() + absl::Hours(24 * 10), 4242);
  InstallLineage("other.example", {"other.example"}, absl::Now() + absl::Hours(24 * 10), 77);
  ASSERT_THAT(
      LineageStore(config_dir_)
          .RecordRevocation("example.com", {"1092", absl::Now(), "keyCompromise"}),  // 4242 in hex
      IsOk());
  Result text = Agent({"certificates", "--cert-name", "example.com"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("(REVOKED)"));
  EXPECT_THAT(text.out, Not(HasSubstr("VALID")));
  Result all = Agent({"certificates", "--json"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  nlohmann::json listed = nlohmann::json::parse(all.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(listed.is_object()) << all.out;
  listed = listed["certificates"];
  ASSERT_TRUE(listed.is_array() && listed.size() == 2u) << all.out;
  EXPECT_EQ(listed[0]["name"], "example.com");
  EXPECT_EQ(listed[0]["revoked"], true);
  EXPECT_EQ(listed[1]["name"], "other.example");
  EXPECT_EQ(listed[1]["revoked"], false);
}

TEST_F(AgentCliTest, RevokeRejectsAnUnknownReasonListingCertbotsNames) {
  Result run = Agent({"revoke", "--cert-name", "example.com", "--reason", "stolen"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, AllOf(HasSubstr("--reason"), HasSubstr("stolen"), HasSubstr("keyCompromise"),
                             HasSubstr("cessationOfOperation")));
}

TEST_F(AgentCliTest, RevokeNeedsExactlyOneOfCertNameAndCertPath) {
  Result none = Agent({"revoke"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, AllOf(HasSubstr("--cert-name"), HasSubstr("--cert-path")));
  Result both = Agent({"revoke", "--cert-name", "a.example", "--cert-path", "/tmp/x.pem"});
  EXPECT_EQ(both.exit_code, 2);
}

TEST_F(AgentCliTest, RevokeOfAnUnknownLineageNamesIt) {
  Result run = Agent({"revoke", "--cert-name", "nothing.example"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, AllOf(HasSubstr("no certificate named nothing.example"),
                             HasSubstr("acme-agent certificates")));
}

TEST_F(AgentCliTest, RevokeOfAFileWithoutACertificateSaysSo) {
  const std::string path = root_ + "/notacert.pem";
  ASSERT_THAT(WriteFileAtomically(path, "hello\n", 0644), IsOk());
  Result run = Agent({"revoke", "--cert-path", path});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, AllOf(HasSubstr(path), HasSubstr("certificate")));
}

// --- global options before the command (as certbot allows) ---

TEST_F(AgentCliTest, GlobalOptionsMayComeBeforeTheCommand) {
  InstallLineage("example.com", {"example.com"}, absl::Now() + absl::Hours(24 * 10), 1);
  Result before = RunAgent(root_, {"--config", config_path_, "certificates"});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_THAT(before.out, HasSubstr("Certificate Name: example.com"));

  Result mixed =
      RunAgent(root_, {"-c", config_path_, "--json", "certificates", "--cert-name", "example.com"});
  ASSERT_EQ(mixed.exit_code, 0) << mixed.err;
  nlohmann::json out = nlohmann::json::parse(mixed.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(out.is_object()) << mixed.out;
  EXPECT_EQ(out["certificates"].size(), 1u);

  Result inline_value = RunAgent(root_, {"--config=" + config_path_, "-q", "enroll"});
  ASSERT_EQ(inline_value.exit_code, 0) << inline_value.err;
  EXPECT_EQ(inline_value.out, "");
  EXPECT_EQ(ModeOf(key_path_), 0600u);
}

TEST_F(AgentCliTest, OnlyGlobalOptionsMayComeBeforeTheCommand) {
  Result command_option =
      RunAgent(root_, {"--config", config_path_, "--cert-name", "a.example", "certificates"});
  EXPECT_EQ(command_option.exit_code, 2);
  EXPECT_THAT(command_option.err,
              AllOf(HasSubstr("--cert-name"), HasSubstr("only global options")));
  Result no_command = RunAgent(root_, {"--config", config_path_});
  EXPECT_EQ(no_command.exit_code, 2);
  EXPECT_THAT(no_command.err, HasSubstr("usage: acme-agent"));
  Result twice =
      RunAgent(root_, {"--config", config_path_, "certificates", "--config", config_path_});
  EXPECT_EQ(twice.exit_code, 2);
  EXPECT_THAT(twice.err, HasSubstr("--config given twice"));
  Result help = RunAgent(root_, {"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("global options"));
}

// --- renew takes certonly's options for this run ---

class AgentRenewOverridesTest : public AgentCliTest {
 protected:
  // Two lineages obtained with --standalone and no hooks, not yet due.
  void SetUp() override {
    AgentCliTest::SetUp();
    WriteIdentity();
    InstallStandaloneLineage("a.example", {"a.example"}, 1);
    InstallStandaloneLineage("b.example", {"b.example", "www.b.example"}, 2);
  }

  void InstallStandaloneLineage(const std::string& name, const std::vector<std::string>& domains,
                                long serial) {
    InstallLineage(name, domains, absl::Now() + absl::Hours(24 * 60), serial);
    RenewalConfig config;
    config.version = "test";
    config.domains = domains;
    ASSERT_THAT(LineageStore(config_dir_).WriteRenewalConfig(name, config), IsOk());
  }

  RenewalConfig Stored(const std::string& name) {
    absl::StatusOr<RenewalConfig> config = LineageStore(config_dir_).ReadRenewalConfig(name);
    EXPECT_THAT(config.status(), IsOk());
    return config.value_or(RenewalConfig());
  }
};

TEST_F(AgentRenewOverridesTest, HooksGivenToRenewRunForEveryLineageRenewed) {
  const std::string pre = root_ + "/pre", post = root_ + "/post";
  Result run = Agent({"renew", "--force-renewal", "--http-01-port", "8080", "--preferred-chain",
                      "Test Root", "--pre-hook", "echo pre >> " + pre, "--post-hook",
                      "echo \"$FAILED_DOMAINS\" > " + post});
  // The signer is unreachable, so both renewals fail, after the overrides were applied.
  EXPECT_NE(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.exit_code, 2) << "the overrides are valid" << run.err;
  EXPECT_THAT(run.err, AllOf(HasSubstr("a.example: "), HasSubstr("b.example: ")));
  EXPECT_EQ(ReadFile(pre).value_or(""), "pre\n") << "the pre-hook runs once per pass";
  EXPECT_THAT(ReadFile(post).value_or(""),
              AllOf(HasSubstr("a.example"), HasSubstr("b.example"), HasSubstr("www.b.example")));
  // Nothing was renewed, so nothing recorded: the next run renews as before.
  EXPECT_EQ(Stored("a.example").http01_port, 80);
  EXPECT_EQ(Stored("b.example").pre_hook, "");
}

TEST_F(AgentRenewOverridesTest, AnAuthenticatorGivenToRenewReplacesTheLineages) {
  // --webroot without a path turns the standalone lineages into webroot ones without a path:
  // refused per lineage, before anything runs.
  const std::string pre = root_ + "/pre";
  Result run = Agent({"renew", "--force-renewal", "--webroot", "--pre-hook", "touch " + pre});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_THAT(run.err, AllOf(HasSubstr("a.example: --webroot needs -w/--webroot-path DIR"),
                             HasSubstr("b.example: --webroot needs -w/--webroot-path DIR")));
  EXPECT_NE(::access(pre.c_str(), F_OK), 0) << "no renewal was attempted, so no pre-hook";
}

TEST_F(AgentRenewOverridesTest, BadOverridesAreUsageErrors) {
  Result port = Agent({"renew", "--http-01-port", "0"});
  EXPECT_EQ(port.exit_code, 2);
  EXPECT_THAT(port.err, HasSubstr("--http-01-port must be a whole number"));
  Result two = Agent({"renew", "--standalone", "--manual"});
  EXPECT_EQ(two.exit_code, 2);
  EXPECT_THAT(two.err, HasSubstr("choose one of"));
  Result domains = Agent({"renew", "-d", "c.example"});
  EXPECT_EQ(domains.exit_code, 2) << "renew renews lineages; new names are certonly's";
  EXPECT_THAT(domains.err, HasSubstr("-d"));
}

TEST_F(AgentRenewOverridesTest, OverridesAreAcceptedWhenNothingIsDue) {
  Result run = Agent({"renew", "-w", root_ + "/www", "--http-01-address", "127.0.0.1", "--key-type",
                      "rsa", "--rsa-key-size", "3072", "--reuse-key", "--deploy-hook", "true",
                      "--manual-cleanup-hook", "true"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("No renewals were attempted"));
}

// --- usage errors ---

TEST_F(AgentCliTest, UnknownFlagIsAUsageErrorNamingTheFlag) {
  for (const char* command : {"enroll", "certificates", "revoke"}) {
    Result run = Agent({command, "--frobnicate"});
    EXPECT_EQ(run.exit_code, 2) << command;
    EXPECT_THAT(run.err, HasSubstr("--frobnicate")) << command;
  }
}

TEST_F(AgentCliTest, CertonlyRefusesEabCredentialsAndExplainsTheyLiveInTheSigner) {
  Result run = Agent({"certonly", "-d", "example.com", "--eab-kid", "kid-1", "--eab-hmac-key",
                      "c2VjcmV0LWhtYWMta2V5LXZhbHVlLXRoYXQtaXMtbG9uZw"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, AllOf(HasSubstr("--eab-"), HasSubstr("acme-signer")));
  EXPECT_THAT(run.out + run.err, Not(HasSubstr("c2VjcmV0LWhtYWMta2V5")));
}

// --- help, -v, -q, --json: the same rules for every command ---

constexpr const char* kAllCommands[] = {"enroll", "certonly", "renew",        "run",
                                        "revoke", "delete",   "certificates", "account"};

TEST_F(AgentCliTest, HelpCommandPrintsThatCommandsHelpLikeCommandDashDashHelp) {
  for (const char* command : kAllCommands) {
    SCOPED_TRACE(command);
    Result help = RunAgent(root_, {"help", command});
    Result flag = RunAgent(root_, {command, "--help"});
    EXPECT_EQ(help.exit_code, 0) << help.err;
    EXPECT_EQ(flag.exit_code, 0) << flag.err;
    EXPECT_EQ(help.out, flag.out);
    EXPECT_THAT(help.out,
                AllOf(HasSubstr(absl::StrCat("usage: acme-agent ", command)), HasSubstr("--json"),
                      HasSubstr("-v, --verbose"), HasSubstr("-q, --quiet")));
  }
  Result overview = RunAgent(root_, {"help"});
  EXPECT_EQ(overview.exit_code, 0);
  EXPECT_THAT(overview.out, AllOf(HasSubstr("acme-agent help COMMAND"), HasSubstr("certificates")));
  Result unknown = RunAgent(root_, {"help", "frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("unknown command 'frobnicate'"));
}

TEST_F(AgentCliTest, UsageTextSaysExitOneMayMeanTheDeployHookFailedAfterInstalling) {
  Result overview = RunAgent(root_, {"help"});
  EXPECT_THAT(overview.out, AllOf(HasSubstr("deploy hook"), HasSubstr("WAS installed"),
                                  Not(HasSubstr("1 failed (old certificate kept)"))));
}

// Asserts that `run` printed exactly one JSON error object on stdout and nothing on stderr.
void ExpectJsonError(const Result& run, const std::string& command, const std::string& code,
                     int exit_code, const std::string& message_part) {
  EXPECT_EQ(run.exit_code, exit_code) << run.out << run.err;
  EXPECT_EQ(run.err, "");
  ASSERT_FALSE(run.out.empty());
  EXPECT_EQ(run.out.find('\n'), run.out.size() - 1) << "one line: " << run.out;
  nlohmann::json out = nlohmann::json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(out.is_object()) << run.out;
  EXPECT_EQ(out["ok"], false);
  if (!command.empty()) {
    EXPECT_EQ(out["command"], command);
  }
  ASSERT_TRUE(out["error"].is_object()) << run.out;
  EXPECT_EQ(out["error"]["code"], code);
  EXPECT_EQ(out["error"]["exit_code"], exit_code);
  EXPECT_THAT(out["error"]["message"].get<std::string>(), HasSubstr(message_part));
}

TEST_F(AgentCliTest, JsonUsageErrorsOfEveryCommandAreOneObjectOnStdout) {
  for (const char* command : kAllCommands) {
    SCOPED_TRACE(command);
    ExpectJsonError(Agent({command, "--json", "--no-such-flag"}), command, "usage", 2,
                    "unknown option --no-such-flag");
  }
  ExpectJsonError(RunAgent(root_, {"--json", "frobnicate"}), "", "usage", 2,
                  "unknown command 'frobnicate'");
  ExpectJsonError(Agent({"certonly", "--json", "--eab-hmac-key", "s3cret", "-d", "a.example"}),
                  "certonly", "usage", 2, "--eab-hmac-key");
  ExpectJsonError(Agent({"certonly", "--json", "-d", "a.example", "--webroot"}), "certonly",
                  "usage", 2, "--webroot needs -w/--webroot-path DIR");
  ExpectJsonError(Agent({"delete", "--json", "--cert-name", "nothing.example"}), "delete", "usage",
                  2, "nothing.example");
  ExpectJsonError(RunAgent(root_, {"certificates", "--json", "--config", root_ + "/missing.toml"}),
                  "certificates", "usage", 2, "missing.toml");
}

TEST_F(AgentCliTest, JsonErrorFromTheSignerSideCarriesItsExitCodeAndName) {
  WriteIdentity();
  InstallLineageWithSettings("example.com");
  Result renew = Agent({"renew", "--json"});
  ExpectJsonError(renew, "renew", "unreachable", 4, "unreachable");
  nlohmann::json out = nlohmann::json::parse(renew.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_EQ(out["failed"], 1) << "the partial result travels with the error";
  ASSERT_TRUE(out["certificates"].is_array());
  EXPECT_EQ(out["certificates"][0]["lineage"], "example.com");
  ExpectJsonError(Agent({"account", "--json"}), "account", "unreachable", 4, "unreachable");
  ExpectJsonError(Agent({"run", "--once", "--json"}), "run", "unreachable", 4, "unreachable");
}

TEST_F(AgentCliTest, JsonResultsAreOneObjectWithOkAndTheCommand) {
  Result renew = Agent({"renew", "--json"});
  ASSERT_EQ(renew.exit_code, 0) << renew.err;
  nlohmann::json out = nlohmann::json::parse(renew.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(out.is_object()) << renew.out;
  EXPECT_EQ(out["ok"], true);
  EXPECT_EQ(out["command"], "renew");
  EXPECT_EQ(out["renewed"], 0);

  Result run = Agent({"run", "--once", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  out = nlohmann::json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(out.is_object()) << run.out;
  EXPECT_EQ(out["command"], "run");
  EXPECT_TRUE(out["next_check"].is_string());

  InstallLineage("gone.example", {"gone.example"}, absl::Now() + absl::Hours(24), 9);
  Result deleted = Agent({"delete", "--cert-name", "gone.example", "--json"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  out = nlohmann::json::parse(deleted.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_EQ(out,
            nlohmann::json({{"ok", true}, {"command", "delete"}, {"deleted", "gone.example"}}));
}

// Asserts that `run` printed exactly one JSON object with "ok" and "command" on stdout and
// nothing on stderr; returns it.
nlohmann::json ExpectOneJsonObject(const Result& run, const std::string& command) {
  EXPECT_EQ(run.err, "") << command;
  EXPECT_FALSE(run.out.empty()) << command;
  EXPECT_EQ(run.out.find('\n'), run.out.size() - 1) << command << ": one line: " << run.out;
  nlohmann::json out = nlohmann::json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(out.is_object()) << command << ": " << run.out;
  if (!out.is_object()) return nlohmann::json::object();
  EXPECT_TRUE(out["ok"].is_boolean()) << run.out;
  EXPECT_EQ(out["ok"], run.exit_code == 0) << run.out;
  EXPECT_EQ(out["command"], command) << run.out;
  return out;
}

// Every command prints one JSON object with "ok" and "command", and nothing else: results and
// errors (without an enrolled identity, those that need the signer fail before connecting).
TEST_F(AgentCliTest, JsonOfEveryCommandIsExactlyOneObjectWithOkAndCommand) {
  InstallLineageWithSettings("due.example");
  InstallLineage("kept.example", {"kept.example"}, absl::Now() + absl::Hours(24 * 90), 3);
  RenewalConfig kept;
  kept.domains = {"kept.example"};
  ASSERT_THAT(LineageStore(config_dir_).WriteRenewalConfig("kept.example", kept), IsOk());
  InstallLineage("gone.example", {"gone.example"}, absl::Now() + absl::Hours(24), 9);
  const std::string signer = absl::StrCat("127.0.0.1:", ClosedLoopbackPort());
  const std::vector<std::pair<std::string, std::vector<std::string>>> runs = {
      {"check-config", {"check-config"}},
      {"enroll", {"enroll", "--name", "web1"}},
      {"enroll",
       {"enroll", "--signer", signer, "--token", "acme-enroll-x", "--ca-fingerprint",
        std::string(64, 'a')}},
      {"certificates", {"certificates"}},
      {"certonly", {"certonly", "-d", "kept.example", "--deploy-hook", "true"}},
      {"certonly", {"certonly", "-d", "kept.example", "--dry-run"}},
      {"reconfigure", {"reconfigure", "--cert-name", "kept.example", "--deploy-hook", "true"}},
      {"reconfigure", {"reconfigure", "--cert-name", "kept.example", "--deploy-hook", "true"}},
      {"renew", {"renew"}},
      {"renew", {"renew", "--dry-run", "--cert-name", "kept.example"}},
      {"run", {"run", "--once"}},
      {"account", {"account"}},
      {"revoke", {"revoke", "--cert-name", "kept.example"}},
      {"delete", {"delete", "--cert-name", "gone.example"}},
  };
  for (const auto& [command, args] : runs) {
    SCOPED_TRACE(absl::StrJoin(args, " "));
    std::vector<std::string> with_json = args;
    with_json.push_back("--json");
    ExpectOneJsonObject(Agent(with_json), command);
  }
}

TEST_F(AgentCliTest, CertonlyWithNothingDueIsQuietWithDashQAndOnlyTheObjectWithJson) {
  InstallLineage("kept.example", {"kept.example"}, absl::Now() + absl::Hours(24 * 90), 3);
  RenewalConfig kept;
  kept.domains = {"kept.example"};
  ASSERT_THAT(LineageStore(config_dir_).WriteRenewalConfig("kept.example", kept), IsOk());
  // A setting given now is not saved without a new certificate; that is said, but only as
  // progress (not with -q) or in the object (--json).
  Result loud = Agent({"certonly", "-d", "kept.example", "--deploy-hook", "true"});
  ASSERT_EQ(loud.exit_code, 0) << loud.err;
  EXPECT_THAT(loud.err, HasSubstr("renewal settings not changed"));
  EXPECT_THAT(loud.out, HasSubstr("Certificate not yet due for renewal"));
  Result quiet = Agent({"certonly", "-q", "-d", "kept.example", "--deploy-hook", "true"});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.out + quiet.err, "");
  Result json = Agent({"certonly", "--json", "-d", "kept.example", "--deploy-hook", "true"});
  nlohmann::json out = ExpectOneJsonObject(json, "certonly");
  EXPECT_EQ(out["renewed"], false);
  ASSERT_TRUE(out["settings_not_saved"].is_array()) << json.out;
  EXPECT_THAT(out["settings_not_saved"][0].get<std::string>(), HasSubstr("deploy_hook"));
}

// From the last sixth of its lifetime on, every command that connects to the signer warns
// once, with the date and the fix: also with -q; with --json inside the one object.
TEST_F(AgentCliTest, AnIdentityAboutToExpireIsWarnedAboutByEveryCommandThatConnects) {
  WriteIdentity(absl::Now() - absl::Hours(50), absl::Now() + absl::Hours(1));
  InstallLineage("example.com", {"example.com"}, absl::Now() + absl::Hours(24 * 10), 1);
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"account"}, {"revoke", "--cert-name", "example.com"}, {"account", "-q"}}) {
    SCOPED_TRACE(absl::StrJoin(args, " "));
    Result run = Agent(args);
    EXPECT_EQ(run.exit_code, 4) << run.err;
    const std::string warning = absl::StrCat("acme-agent: warning: this agent's certificate (",
                                             cert_path_, ") expires on ");
    EXPECT_THAT(run.err, HasSubstr(warning));
    EXPECT_EQ(run.err.find(warning), run.err.rfind(warning)) << "once: " << run.err;
    EXPECT_THAT(run.err, HasSubstr("acme-agent enroll --config " + config_path_ +
                                   " --signer SIGNER:ENROLL_PORT"));
  }
  Result json = Agent({"account", "--json"});
  EXPECT_EQ(json.exit_code, 4);
  nlohmann::json out = ExpectOneJsonObject(json, "account");
  ASSERT_TRUE(out["warnings"].is_array()) << json.out;
  EXPECT_THAT(out["warnings"][0].get<std::string>(), HasSubstr("expires on "));
  // Earlier in its life: no warning.
  WriteIdentity();
  Result fresh = Agent({"account"});
  EXPECT_EQ(fresh.exit_code, 4);
  EXPECT_THAT(fresh.err, Not(HasSubstr("warning")));
}

// reconfigure --ccs-dir moves the IIS Central Certificate Store copies at once; '' removes
// them; --no-pfx alone on such a lineage is refused naming --ccs-dir ''.
TEST_F(AgentCliTest, ReconfigureMovesAndRemovesTheCentralStoreCopies) {
  const std::string pfx = "PKCS12-BYTES-OF-THE-LIVE-VERSION";
  auto key = PrivateKey::Generate(KeySpec());
  ASSERT_THAT(key.status(), IsOk());
  auto key_pem = key->ToPem();
  ASSERT_THAT(key_pem.status(), IsOk());
  LineageFiles files;
  files.privkey_pem = Secret(std::string(key_pem->reveal()));
  files.cert_pem = ca_.Issue(key->get(), {"iis.example"}, absl::Now() - absl::Hours(24),
                             absl::Now() + absl::Hours(24 * 60), 5);
  files.chain_pem = ca_.cert_pem();
  files.fullchain_pem = files.cert_pem + files.chain_pem;
  files.pfx = pfx;
  LineageStore store(config_dir_);
  ASSERT_THAT(store.InstallNewVersion("iis.example", files).status(), IsOk());
  const std::string old_dir = root_ + "/ccs-old", new_dir = root_ + "/ccs-new";
  ASSERT_EQ(::mkdir(old_dir.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(new_dir.c_str(), 0755), 0);
  ASSERT_THAT(WriteFileAtomically(old_dir + "/iis.example.pfx", pfx, 0600), IsOk());
  RenewalConfig config;
  config.domains = {"iis.example"};
  config.pfx = true;
  config.ccs_dir = old_dir;
  ASSERT_THAT(store.WriteRenewalConfig("iis.example", config), IsOk());

  Result no_pfx = Agent({"reconfigure", "--cert-name", "iis.example", "--no-pfx"});
  EXPECT_EQ(no_pfx.exit_code, 2);
  EXPECT_THAT(no_pfx.err, AllOf(HasSubstr(old_dir), HasSubstr("--ccs-dir ''")));
  EXPECT_EQ(store.ReadRenewalConfig("iis.example")->ccs_dir, old_dir);

  Result moved = Agent({"reconfigure", "--cert-name", "iis.example", "--ccs-dir", new_dir});
  ASSERT_EQ(moved.exit_code, 0) << moved.err;
  EXPECT_EQ(store.ReadRenewalConfig("iis.example")->ccs_dir, new_dir);
  EXPECT_EQ(ReadFile(new_dir + "/iis.example.pfx").value_or(""), pfx);
  EXPECT_NE(::access((old_dir + "/iis.example.pfx").c_str(), F_OK), 0);

  Result removed =
      Agent({"reconfigure", "--cert-name", "iis.example", "--ccs-dir", "", "--no-pfx", "--json"});
  nlohmann::json out = ExpectOneJsonObject(removed, "reconfigure");
  EXPECT_EQ(out["changed"], true);
  absl::StatusOr<RenewalConfig> after = store.ReadRenewalConfig("iis.example");
  ASSERT_THAT(after.status(), IsOk());
  EXPECT_EQ(after->ccs_dir, "");
  EXPECT_FALSE(after->pfx);
  EXPECT_NE(::access((new_dir + "/iis.example.pfx").c_str(), F_OK), 0);
}

TEST_F(AgentCliTest, QuietRenewWithNothingToDoPrintsNothingAtAll) {
  Result loud = Agent({"renew"});
  ASSERT_EQ(loud.exit_code, 0) << loud.err;
  EXPECT_THAT(loud.out, HasSubstr("No renewals were attempted"));
  Result quiet = Agent({"renew", "-q"});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.out, "");
  EXPECT_EQ(quiet.err, "");
  Result before = RunAgent(root_, {"-q", "--config", config_path_, "renew"});
  EXPECT_EQ(before.exit_code, 0);
  EXPECT_EQ(before.out + before.err, "");
}

TEST_F(AgentCliTest, QuietStillPrintsErrorsOnStderr) {
  WriteIdentity();
  InstallLineageWithSettings("example.com");
  Result quiet = Agent({"renew", "-q", "--force-renewal"});
  EXPECT_EQ(quiet.exit_code, 4);
  EXPECT_EQ(quiet.out, "");
  EXPECT_THAT(quiet.err, AllOf(HasSubstr("example.com"), HasSubstr("unreachable")));
}

TEST_F(AgentCliTest, VerboseAddsDetailOnStderrOnly) {
  InstallLineage("example.com", {"example.com"}, absl::Now() + absl::Hours(24 * 10), 1);
  Result plain = Agent({"certificates"});
  Result verbose = Agent({"certificates", "-v"});
  ASSERT_EQ(verbose.exit_code, 0) << verbose.err;
  EXPECT_EQ(verbose.out, plain.out);
  EXPECT_EQ(plain.err, "");
  EXPECT_THAT(verbose.err, AllOf(HasSubstr("[verbose] config " + config_path_),
                                 HasSubstr("certificates in " + config_dir_)));
  WriteIdentity();
  Result revoke = Agent({"revoke", "--cert-name", "example.com", "--verbose"});
  EXPECT_EQ(revoke.exit_code, 4);
  EXPECT_THAT(revoke.err, AllOf(HasSubstr("[verbose] connecting to the signer at 127.0.0.1:"),
                                HasSubstr("client certificate " + cert_path_)));
}

TEST_F(AgentCliTest, SerialsAreSpelledOneWayInTextAndJson) {
  // 0x26c91fec54367ad: 15 hex digits, so the DER form has a leading zero nibble.
  InstallLineage("example.com", {"example.com"}, absl::Now() + absl::Hours(24 * 10),
                 0x26c91fec54367adL);
  Result text = Agent({"certificates"});
  EXPECT_THAT(text.out, HasSubstr("Serial Number: 026c91fec54367ad\n"));
  Result json = Agent({"certificates", "--json"});
  nlohmann::json out = nlohmann::json::parse(json.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(out.is_object()) << json.out;
  EXPECT_EQ(out["certificates"][0]["serial"], "026c91fec54367ad");
  WriteIdentity();
  Result revoke = Agent({"revoke", "--cert-name", "example.com"});
  EXPECT_THAT(revoke.err, HasSubstr("serial 026c91fec54367ad"));
}

}  // namespace
}  // namespace acme_signer::agent
