// acme-agent enroll: give this host its mTLS identity.
//
// Token route (--signer, --token, --ca-fingerprint): the operator ran `acme-signer enroll-agent
// --token`; this command pins the signer's agent CA by its fingerprint, sends a CSR with the
// token over TLS verified against that CA (agent/enrollment_client.h), and writes the
// certificate, the CA and (when missing) the config file.
//
// CSR route (no --signer; air-gapped sites): make the identity key (once) and a CSR for the
// operator, who turns it into the agent's client certificate with `acme-signer enroll-agent
// --csr`.
//
// The key is never replaced: a second enroll (e.g. to re-enroll after the certificate expired,
// or under another name) reuses it, so a running agent's identity does not change under it
// until the operator installs the new certificate.
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "acme/dns_names.h"
#include "agent/command_support.h"
#include "agent/commands.h"
#include "agent/csr.h"
#include "agent/enrollment_client.h"
#include "agent/identity.h"
#include "agent/private_key.h"
#include "agent/signer_target.h"
#include "common/files.h"
#include "common/secret.h"
#include "common/status_macros.h"
#include "common/toml_reader.h"
#include "common/x509.h"

namespace acme_signer::agent {
namespace {

constexpr char kCommand[] = "enroll";

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// The signer accepts agent names that are one DNS label (a-z, 0-9, '-'); checking with the same
// rule (acme/dns_names.h) means the operator's `acme-signer enroll-agent` does not fail on a name
// this command accepted.
absl::Status ValidateAgentName(absl::string_view name) {
  absl::Status status = acme::ValidateSingleLabelName("--name", name);
  if (status.ok()) return status;
  return absl::InvalidArgumentError(
      absl::StrCat(status.message(), " (the signer's rule for agent names)"));
}

// --name, else identity.name, else the first label of the host name (agent_config.h).
absl::StatusOr<std::string> ChooseName(const ArgParser& parser, const AgentConfig& config) {
  if (parser.Has("name")) return *parser.Get("name");
  if (!config.identity.name.empty()) return config.identity.name;
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    return absl::InvalidArgumentError("give --name NAME (or set identity.name in the config)");
  }
  std::vector<std::string> labels = absl::StrSplit(host, '.');
  return absl::AsciiStrToLower(labels.front());
}

// Creates `dir` with `mode` if it is missing; missing parents get 0755 (e.g. /etc/acme-agent
// also holds public files).
absl::Status MakeDirectory(const std::string& dir, mode_t mode) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(dir, " is not a directory"));
    }
    return absl::OkStatus();
  }
  if (errno != ENOENT) return ErrnoStatus(errno, absl::StrCat("cannot use directory ", dir));
  const std::string parent = DirName(dir);
  if (parent != dir) RETURN_IF_ERROR(MakeDirectory(parent, 0755));
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("cannot create directory ", dir));
  }
  return absl::OkStatus();
}

struct KeyResult {
  PrivateKey key;
  bool reused = false;
};

absl::StatusOr<PrivateKey> LoadExisting(const std::string& path) {
  absl::StatusOr<PrivateKey> key = PrivateKey::Load(path);
  if (!key.ok()) {
    return absl::Status(key.status().code(),
                        absl::StrCat(key.status().message(),
                                     "; enroll never replaces an existing identity key: move it "
                                     "away to make a new one"));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    std::cerr << "acme-agent enroll: warning: " << path
              << " is readable by other users; run: chmod 600 " << path << "\n";
  }
  return key;
}

// Reuses the key at `path`, or makes an EC P-256 key there. The new key is written to a
// temporary file and link()ed into place, so it is atomic AND never clobbers a key another
// enroll created meanwhile (link fails with EEXIST where rename would replace).
absl::StatusOr<KeyResult> LoadOrCreateKey(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    ASSIGN_OR_RETURN(PrivateKey key, LoadExisting(path));
    return KeyResult{std::move(key), true};
  }
  if (errno != ENOENT) return ErrnoStatus(errno, absl::StrCat("cannot use identity key ", path));
  const std::string dir = DirName(path);
  RETURN_IF_ERROR(MakeDirectory(dir, 0700));

  ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeySpec()));
  ASSIGN_OR_RETURN(Secret pem, key.ToPem());
  const std::string temp = absl::StrCat(path, ".new.", ::getpid());
  RETURN_IF_ERROR(WriteFileAtomically(temp, pem.reveal(), 0600));
  const int linked = ::link(temp.c_str(), path.c_str());
  const int link_errno = errno;
  ::unlink(temp.c_str());
  if (linked != 0) {
    if (link_errno == EEXIST) {
      ASSIGN_OR_RETURN(PrivateKey existing, LoadExisting(path));
      return KeyResult{std::move(existing), true};
    }
    return ErrnoStatus(link_errno, absl::StrCat("cannot create identity key ", path));
  }
  RETURN_IF_ERROR(SyncDirectory(dir));
  return KeyResult{std::move(key), false};
}

struct EnrollResult {
  std::string name;
  std::string spiffe_id;
  std::string key_path;
  bool key_reused = false;
  std::string csr_path;
  std::string operator_command;
};

absl::StatusOr<EnrollResult> Enroll(const ArgParser& parser, const AgentConfig& config) {
  EnrollResult result;
  ASSIGN_OR_RETURN(result.name, ChooseName(parser, config));
  RETURN_IF_ERROR(ValidateAgentName(result.name));
  const std::string trust_domain = parser.GetOr("trust-domain", config.identity.trust_domain);
  if (trust_domain.empty()) {
    return absl::InvalidArgumentError(
        "no trust domain: give --trust-domain TD or set identity.trust_domain in the config "
        "(the signer's server.trust_domain)");
  }
  ASSIGN_OR_RETURN(result.spiffe_id, AgentSpiffeId(trust_domain, result.name));

  result.key_path = config.identity.key;
  if (result.key_path.empty() || result.key_path.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("identity.key must be an absolute path, not \"", result.key_path, "\""));
  }
  ASSIGN_OR_RETURN(KeyResult key, LoadOrCreateKey(result.key_path));
  result.key_reused = key.reused;

  ASSIGN_OR_RETURN(std::string csr_der, BuildAgentCsrDer(key.key, trust_domain, result.name));
  ASSIGN_OR_RETURN(std::string csr_pem, CsrDerToPem(csr_der));
  result.csr_path = absl::StrCat(DirName(result.key_path), "/agent.csr");
  RETURN_IF_ERROR(WriteFileAtomically(result.csr_path, csr_pem, 0644));

  result.operator_command =
      absl::StrCat("acme-signer enroll-agent --config ", kSignerConfigHint, " --name ", result.name,
                   " --csr ", result.csr_path, " --out ", config.identity.cert);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Token route.

// The token from --token T, --token - (stdin) or --token-file PATH; never echoed.
absl::StatusOr<Secret> ReadToken(const ArgParser& parser) {
  if (parser.Has("token") == parser.Has("token-file")) {
    return absl::InvalidArgumentError(
        "give the enrolment token with --token TOKEN, --token - (read from stdin) or "
        "--token-file PATH (exactly one)");
  }
  Secret token;
  if (parser.Has("token-file")) {
    ASSIGN_OR_RETURN(token, ReadSecretFile(*parser.Get("token-file")));
  } else if (*parser.Get("token") == "-") {
    std::string& text = token.mutable_value();
    // A token is under 100 characters; one line, bounded.
    for (int c = std::getchar(); c != EOF && c != '\n' && text.size() < 4096; c = std::getchar()) {
      text.push_back(static_cast<char>(c));
    }
  } else {
    token = Secret(*parser.Get("token"));
  }
  std::string& text = token.mutable_value();
  while (!text.empty() && absl::ascii_isspace(static_cast<unsigned char>(text.back()))) {
    text.pop_back();
  }
  size_t start = 0;
  while (start < text.size() && absl::ascii_isspace(static_cast<unsigned char>(text[start]))) {
    ++start;
  }
  text.erase(0, start);
  if (text.empty()) return absl::InvalidArgumentError("the enrolment token is empty");
  return token;
}

std::string AbsolutePath(const std::string& path) {
  if (!path.empty() && path.front() == '/') return path;
  char cwd[4096] = {};
  if (::getcwd(cwd, sizeof(cwd) - 1) == nullptr) return path;
  return absl::StrCat(cwd, "/", path);
}

// The agent's config for the token route: F as it is when it exists; otherwise the defaults
// with every file in F's directory (identity/agent.key, identity/agent.pem,
// identity/signer-ca.pem; live/, archive/, renewal/ there too: /etc/acme-agent/agent.toml gives
// the packaged layout).
struct TokenConfig {
  AgentConfig config;
  std::string path;
  bool exists = false;
};

absl::StatusOr<TokenConfig> LoadOrPlanConfig(const ArgParser& parser) {
  TokenConfig out;
  out.path = AbsolutePath(parser.GetOr("config", kDefaultAgentConfigPath));
  struct stat st;
  if (::stat(out.path.c_str(), &st) == 0) {
    ASSIGN_OR_RETURN(out.config, LoadAgentConfig(out.path));
    out.exists = true;
  } else if (errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("cannot use the config file ", out.path));
  } else {
    const std::string dir = DirName(out.path);
    out.config.config_dir = dir;
    out.config.identity.key = absl::StrCat(dir, "/identity/agent.key");
    out.config.identity.cert = absl::StrCat(dir, "/identity/agent.pem");
    out.config.signer.ca = absl::StrCat(dir, "/identity/signer-ca.pem");
  }
  if (parser.Has("config-dir")) out.config.config_dir = AbsolutePath(*parser.Get("config-dir"));
  return out;
}

// The new config file: the signer, the identity, and nothing else (defaults apply).
std::string ConfigFileText(const AgentConfig& config) {
  toml::table root{
      {"config_dir", config.config_dir},
      {"signer", toml::table{{"address", config.signer.address}, {"ca", config.signer.ca}}},
      {"identity", toml::table{{"trust_domain", config.identity.trust_domain},
                               {"name", config.identity.name},
                               {"key", config.identity.key},
                               {"cert", config.identity.cert}}},
  };
  if (!config.signer.tls_server_name.empty()) {
    root["signer"].as_table()->insert("tls_server_name", config.signer.tls_server_name);
  }
  std::ostringstream out;
  out << "# Written by `acme-agent enroll --signer` (one-token enrolment); docs/agent.md and\n"
         "# deploy/acme-agent.toml describe every key. Edit freely.\n"
      << root << "\n";
  return out.str();
}

// `status` (a bad address) said about `flag`: a usage error.
absl::Status WithFlag(absl::string_view flag, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat(flag, ": ", status.message()));
}

struct TokenEnrollResult {
  std::string name;
  std::string spiffe_id;
  std::string key_path;
  bool key_reused = false;
  std::string cert_path;
  std::string ca_path;
  std::string config_path;
  bool config_created = false;
  std::string signer_address;
  std::string not_after;
};

// What the token route's command line says, checked before anything is sent.
struct TokenPlan {
  std::string enroll_address;
  std::optional<SignerTarget> enroll_target;
  // The name the enrolment listener's certificate is checked against: all replicas present it.
  std::string enroll_server_name;
  std::string fingerprint;
  Secret token;
  std::string requested_name;  // "" lets the signer name the agent (the token's name)
  TokenConfig planned;
  std::optional<SignerTarget> mtls_target;  // --signer-address
};

// The flags of the token route and the config they go to (InvalidArgument: a usage error).
absl::StatusOr<TokenPlan> PlanTokenEnrollment(const ArgParser& parser) {
  if (!parser.Has("signer") || !parser.Has("ca-fingerprint")) {
    return absl::InvalidArgumentError(
        "token enrolment needs --signer HOST:PORT (the signer's enrolment listener), --token "
        "and --ca-fingerprint SHA256, as `acme-signer enroll-agent --token` printed them");
  }
  if (parser.Has("trust-domain")) {
    return absl::InvalidArgumentError(
        "--trust-domain is for the CSR route; with --signer the trust domain comes from the "
        "signer");
  }
  TokenPlan plan;
  plan.enroll_address = *parser.Get("signer");
  ASSIGN_OR_RETURN(plan.fingerprint, NormaliseCaFingerprint(*parser.Get("ca-fingerprint")));
  ASSIGN_OR_RETURN(plan.token, ReadToken(parser));
  plan.requested_name = parser.GetOr("name", "");
  if (!plan.requested_name.empty()) RETURN_IF_ERROR(ValidateAgentName(plan.requested_name));
  ASSIGN_OR_RETURN(plan.planned, LoadOrPlanConfig(parser));
  const AgentConfig& config = plan.planned.config;
  if (plan.planned.exists && parser.Has("signer-address")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--signer-address only applies when the config file is created; ",
                     plan.planned.path, " exists: edit signer.address there"));
  }
  if (plan.requested_name.empty() && plan.planned.exists) {
    plan.requested_name = config.identity.name;
  }
  absl::StatusOr<SignerTarget> enroll_target = SignerTarget::Parse(plan.enroll_address);
  if (!enroll_target.ok()) return WithFlag("--signer", enroll_target.status());
  plan.enroll_target = *std::move(enroll_target);
  ASSIGN_OR_RETURN(plan.enroll_server_name,
                   plan.enroll_target->ServerName(config.signer.tls_server_name));
  if (parser.Has("signer-address")) {
    absl::StatusOr<SignerTarget> parsed = SignerTarget::Parse(*parser.Get("signer-address"));
    if (!parsed.ok()) return WithFlag("--signer-address", parsed.status());
    plan.mtls_target = *std::move(parsed);
  } else if (!plan.planned.exists) {
    // Derived later from the listener's port; a list of replicas has no one port.
    RETURN_IF_ERROR(plan.enroll_target->WithPort(1).status());
  }
  for (const std::string* path : {&config.identity.key, &config.identity.cert, &config.signer.ca}) {
    if (path->empty() || path->front() != '/') {
      return absl::InvalidArgumentError(absl::StrCat(
          "identity.key, identity.cert and signer.ca must be absolute paths, not \"", *path,
          "\""));
    }
  }
  return plan;
}

// Step 1: the signer's CA, untrusted until its fingerprint matches, and its trust domain,
// which an existing config must already name. Sets `exit_code` for an error.
absl::StatusOr<pb::GetEnrollmentInfoResponse> FetchPinnedCa(const TokenPlan& plan, int& exit_code) {
  exit_code = kExitFailure;
  absl::StatusOr<pb::GetEnrollmentInfoResponse> info =
      FetchEnrollmentInfo(plan.enroll_address, absl::Seconds(30));
  if (!info.ok()) {
    exit_code = ExitCodeFor(info.status());
    return info.status();
  }
  if (absl::Status pinned = CheckCaFingerprint(info->ca_certificate_pem(), plan.fingerprint);
      !pinned.ok()) {
    exit_code = pinned.code() == absl::StatusCode::kPermissionDenied ? kExitUsage : kExitFailure;
    return pinned;
  }
  const AgentConfig& config = plan.planned.config;
  if (plan.planned.exists && config.identity.trust_domain != info->trust_domain()) {
    exit_code = kExitUsage;
    return absl::FailedPreconditionError(absl::StrCat(
        plan.planned.path, " says identity.trust_domain = \"", config.identity.trust_domain,
        "\" but the signer's trust domain is \"", info->trust_domain(),
        "\"; fix the config (or enrol with a new --config file); nothing was sent"));
  }
  return info;
}

// Steps 2 and 3: a CSR for `key` and the token, over TLS verified against the pinned CA; the
// answer must be a certificate for this key from that CA. The signer takes only the public
// key from the CSR; the name in it is the one asked for, else a placeholder the signer
// ignores. Sets `exit_code` for an error.
absl::StatusOr<pb::EnrollAgentResponse> RedeemToken(const TokenPlan& plan,
                                                    const pb::GetEnrollmentInfoResponse& info,
                                                    const PrivateKey& key, int& exit_code) {
  exit_code = kExitFailure;
  const std::string csr_name = plan.requested_name.empty() ? "enrolling" : plan.requested_name;
  ASSIGN_OR_RETURN(std::string csr_der, BuildAgentCsrDer(key, info.trust_domain(), csr_name));
  EnrollmentTarget target;
  target.address = plan.enroll_address;
  target.ca_pem = info.ca_certificate_pem();
  target.server_name = plan.enroll_server_name;
  pb::EnrollAgentRequest request;
  request.set_token(std::string(plan.token.reveal()));
  request.set_csr_der(csr_der);
  request.set_name(plan.requested_name);
  absl::StatusOr<pb::EnrollAgentResponse> enrolled = Enroll(target, request);
  OPENSSL_cleanse(request.mutable_token()->data(), request.mutable_token()->size());
  if (!enrolled.ok()) {
    exit_code = ExitCodeFor(enrolled.status());
    return enrolled.status();
  }
  ASSIGN_OR_RETURN(SslUniquePtr<X509> cert, ParseCertificatePem(enrolled->certificate_pem()));
  if (!key.MatchesCertificate(cert.get())) {
    return absl::InternalError(
        "the signer returned a certificate for another key; nothing written");
  }
  if (enrolled->ca_certificate_pem() != info.ca_certificate_pem()) {
    return absl::InternalError(
        "the signer returned another CA than the one pinned; nothing written");
  }
  return enrolled;
}

// Step 4: the CA and the certificate, then (when it does not exist) the config that points at
// them: the mTLS address is --signer-address, else the --signer host with the signer's port.
absl::Status WriteEnrolledFiles(TokenPlan& plan, const pb::GetEnrollmentInfoResponse& info,
                                const pb::EnrollAgentResponse& enrolled,
                                TokenEnrollResult& result) {
  AgentConfig& config = plan.planned.config;
  RETURN_IF_ERROR(MakeDirectory(DirName(config.signer.ca), 0755));
  RETURN_IF_ERROR(WriteFileAtomically(config.signer.ca, info.ca_certificate_pem(), 0644));
  RETURN_IF_ERROR(MakeDirectory(DirName(config.identity.cert), 0755));
  RETURN_IF_ERROR(WriteFileAtomically(config.identity.cert, enrolled.certificate_pem(), 0644));
  if (plan.planned.exists) return absl::OkStatus();
  if (plan.mtls_target.has_value()) {
    config.signer.address = plan.mtls_target->text();
    // Replicas on different hosts have no name of their own to check: they present the one
    // the enrolment listener presented.
    if (!plan.mtls_target->ServerName(config.signer.tls_server_name).ok()) {
      config.signer.tls_server_name = plan.enroll_server_name;
    }
  } else {
    ASSIGN_OR_RETURN(config.signer.address,
                     plan.enroll_target->WithPort(static_cast<int>(info.signer_port())));
  }
  config.identity.trust_domain = info.trust_domain();
  config.identity.name = result.name;
  const std::string text = ConfigFileText(config);
  // Parsed back before it is written: a file this command writes is one the agent reads.
  RETURN_IF_ERROR(ParseAgentConfig(text, plan.planned.path).status());
  RETURN_IF_ERROR(MakeDirectory(DirName(plan.planned.path), 0755));
  RETURN_IF_ERROR(WriteFileAtomically(plan.planned.path, text, 0644));
  result.config_created = true;
  return absl::OkStatus();
}

absl::StatusOr<TokenEnrollResult> EnrollWithToken(const ArgParser& parser, int& exit_code) {
  exit_code = kExitUsage;
  ASSIGN_OR_RETURN(TokenPlan plan, PlanTokenEnrollment(parser));
  ASSIGN_OR_RETURN(pb::GetEnrollmentInfoResponse info, FetchPinnedCa(plan, exit_code));
  // The key is reused when it exists.
  ASSIGN_OR_RETURN(KeyResult key, LoadOrCreateKey(plan.planned.config.identity.key));
  ASSIGN_OR_RETURN(pb::EnrollAgentResponse enrolled, RedeemToken(plan, info, key.key, exit_code));
  exit_code = kExitFailure;
  TokenEnrollResult result;
  result.name = enrolled.name();
  RETURN_IF_ERROR(ValidateAgentName(result.name));
  ASSIGN_OR_RETURN(result.spiffe_id, AgentSpiffeId(info.trust_domain(), result.name));
  ASSIGN_OR_RETURN(SslUniquePtr<X509> cert, ParseCertificatePem(enrolled.certificate_pem()));
  ASSIGN_OR_RETURN(absl::Time not_after, NotAfter(*cert));
  result.not_after = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", not_after, absl::UTCTimeZone());
  RETURN_IF_ERROR(WriteEnrolledFiles(plan, info, enrolled, result));
  const AgentConfig& config = plan.planned.config;
  result.key_path = config.identity.key;
  result.key_reused = key.reused;
  result.cert_path = config.identity.cert;
  result.ca_path = config.signer.ca;
  result.config_path = plan.planned.path;
  result.signer_address = config.signer.address;
  exit_code = kExitOk;
  return result;
}

int RunTokenEnroll(const ArgParser& parser) {
  CommandContext context;
  context.json = parser.Has("json");
  context.quiet = parser.Has("quiet");
  int exit_code = kExitFailure;
  absl::StatusOr<TokenEnrollResult> result = EnrollWithToken(parser, exit_code);
  if (!result.ok()) {
    Fail(&context, kCommand, result.status());
    return exit_code;
  }
  if (context.json) {
    PrintJsonResult(kCommand, {{"name", result->name},
                               {"spiffe_id", result->spiffe_id},
                               {"key", result->key_path},
                               {"key_reused", result->key_reused},
                               {"cert", result->cert_path},
                               {"not_after", result->not_after},
                               {"ca", result->ca_path},
                               {"config", result->config_path},
                               {"config_created", result->config_created},
                               {"signer_address", result->signer_address}});
    return kExitOk;
  }
  if (context.quiet) return kExitOk;
  context.Say(absl::StrCat("Enrolled ", result->spiffe_id, " (certificate valid until ",
                           result->not_after, ")"));
  context.Say(absl::StrCat(result->key_reused ? "  identity key (reused): " : "  identity key: ",
                           result->key_path));
  context.Say(absl::StrCat("  certificate:  ", result->cert_path));
  context.Say(absl::StrCat("  signer CA:    ", result->ca_path));
  context.Say(absl::StrCat(result->config_created ? "  config (new): " : "  config (kept): ",
                           result->config_path, ", signer at ", result->signer_address));
  context.Say(absl::StrCat("Check the connection with: acme-agent account --config ",
                           result->config_path));
  return kExitOk;
}

}  // namespace

int RunEnroll(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-agent enroll [--config FILE] --signer HOST:PORT --token TOKEN|- | --token-file PATH\n"
      "                  --ca-fingerprint SHA256 [--name NAME] [--signer-address TARGET]\n"
      "                  (one-time token from `acme-signer enroll-agent --token`)\n"
      "       acme-agent enroll [--config FILE] [--name NAME] [--trust-domain TD]\n"
      "                  (air-gapped: makes this host's identity key and a CSR for\n"
      "                  `acme-signer enroll-agent --csr`)");
  AddCommonOptions(parser);
  parser
      .Value("name", "NAME",
             "agent name, one DNS label of a-z, 0-9, '-' (default: identity.name from the "
             "config; with --signer, the name the token was made for; else the host name)")
      .Value("trust-domain", "TD", "SPIFFE trust domain (default: identity.trust_domain)")
      .Value("signer", "HOST:PORT", "the signer's enrolment listener (server.enroll_listen)")
      .Value("token", "TOKEN",
             "the one-time enrolment token; \"-\" reads it from stdin (keeps it out of the "
             "shell history and the process list)")
      .Value("token-file", "PATH", "read the enrolment token from this file")
      .Value("ca-fingerprint", "SHA256",
             "SHA-256 of the signer's agent CA certificate, as enroll-agent --token printed it "
             "(hex; colons and case ignored)")
      .Value("signer-address", "TARGET",
             "the signer's mTLS address written to a new config: host:port, or its replicas "
             "as ipv4:IP:PORT,IP:PORT, ipv6:[IP]:PORT,... or dns:///NAME:PORT (default: the "
             "--signer host with the signer's mTLS port)");
  if (auto exit_code = ParseOrExit(parser, args, kCommand)) return *exit_code;
  for (const char* flag : {"signer", "token", "token-file", "ca-fingerprint", "signer-address"}) {
    if (parser.Has(flag)) return RunTokenEnroll(parser);
  }
  absl::StatusOr<CommandContext> context = LoadContext(parser);
  if (!context.ok()) return UsageError(kCommand, context.status());
  absl::StatusOr<EnrollResult> result = Enroll(parser, context->config);
  if (!result.ok()) {
    if (absl::IsInvalidArgument(result.status())) return UsageError(kCommand, result.status());
    return Fail(&*context, kCommand, result.status());
  }
  const AgentConfig& config = context->config;
  if (context->json) {
    PrintJsonResult(kCommand, {{"name", result->name},
                               {"spiffe_id", result->spiffe_id},
                               {"key", result->key_path},
                               {"key_reused", result->key_reused},
                               {"csr", result->csr_path},
                               {"cert", config.identity.cert},
                               {"ca", config.signer.ca},
                               {"operator_command", result->operator_command}});
    return kExitOk;
  }
  if (context->quiet) return kExitOk;
  context->Say(result->key_reused
                   ? absl::StrCat("Reused the existing identity key ", result->key_path)
                   : absl::StrCat("Created identity key ", result->key_path,
                                  " (ECDSA secp256r1, mode 0600)"));
  context->Say(absl::StrCat("Wrote CSR for ", result->spiffe_id, " to ", result->csr_path));
  context->Say("");
  context->Say("Next: copy the CSR to the signer host; there the operator runs");
  context->Say(absl::StrCat("  ", result->operator_command));
  context->Say("Then install on this host:");
  context->Say(absl::StrCat("  the issued certificate as ", config.identity.cert));
  context->Say(absl::StrCat("  the signer's agent CA certificate as ", config.signer.ca));
  context->Say("and check the connection with: acme-agent account");
  return kExitOk;
}

}  // namespace acme_signer::agent
