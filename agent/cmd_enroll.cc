// acme-agent enroll: make this host's mTLS identity key (once) and a CSR for the operator, who
// turns it into the agent's client certificate with `acme-signer enroll-agent`.
//
// The key is never replaced: a second enroll (e.g. to re-enroll after the certificate expired,
// or under another name) reuses it, so a running agent's identity does not change under it
// until the operator installs the new certificate.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "acme/dns_names.h"
#include "agent/command_support.h"
#include "agent/commands.h"
#include "agent/csr.h"
#include "agent/private_key.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace acme_signer::agent {
namespace {

constexpr char kCommand[] = "enroll";
constexpr char kSignerConfigHint[] = "/etc/acme-signer/signer.toml";

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

}  // namespace

int RunEnroll(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-agent enroll [--config FILE] [--name NAME] [--trust-domain TD]   (makes this "
      "host's identity key and a CSR for `acme-signer enroll-agent`)");
  AddCommonOptions(parser);
  parser
      .Value("name", "NAME",
             "agent name, one DNS label of a-z, 0-9, '-' (default: identity.name from the "
             "config, else the host name)")
      .Value("trust-domain", "TD", "SPIFFE trust domain (default: identity.trust_domain)");
  if (auto exit_code = ParseOrExit(parser, args, kCommand)) return *exit_code;
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
