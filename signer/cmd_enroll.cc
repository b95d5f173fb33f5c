// acme-signer enroll-agent: issue an agent's mTLS client certificate from the agent CA.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/cli.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "absl/time/clock.h"
#include "signer/agent_ca.h"
#include "signer/agent_certificates.h"
#include "signer/agent_identity.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/process_hardening.h"
#include "signer/runtime.h"
#include "signer/state_store.h"

namespace acme_signer::signer {
namespace {

// --lifetime, else --days, else server.agent_certificate_lifetime.
absl::StatusOr<absl::Duration> ChooseLifetime(const ArgParser& parser,
                                              const SignerConfig& config) {
  if (parser.Has("lifetime") && parser.Has("days")) {
    return absl::InvalidArgumentError("give --lifetime or --days, not both");
  }
  if (parser.Has("lifetime")) {
    absl::StatusOr<absl::Duration> lifetime = ParseAgentCertificateLifetime(*parser.Get("lifetime"));
    if (!lifetime.ok()) return absl::InvalidArgumentError(absl::StrCat("--lifetime: ", lifetime.status().message()));
    return *lifetime;
  }
  ASSIGN_OR_RETURN(std::optional<long> days, parser.GetInt("days", 1, kMaxLeafDays));
  if (days.has_value()) return absl::Hours(24) * *days;
  return config.server.agent_certificate_lifetime;
}

absl::Status Enroll(const ArgParser& parser) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  ASSIGN_OR_RETURN(absl::Duration lifetime, ChooseLifetime(parser, config));
  RETURN_IF_ERROR(HardenProcess(/*allow_root=*/true));
  const std::string name = *parser.Get("name");
  RETURN_IF_ERROR(ValidateAgentName(name));
  if (config.FindAgent(name) == nullptr) {
    std::cout << "warning: agent " << name
              << " has no [[agents]] entry yet; it will be refused until one is added\n";
  }
  ASSIGN_OR_RETURN(std::string csr, ReadFile(*parser.Get("csr"), 64 * 1024));
  ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(config.server.agent_ca_cert));
  ASSIGN_OR_RETURN(std::shared_ptr<hsm::Token> token, OpenConfiguredToken(config.hsm));
  ASSIGN_OR_RETURN(std::unique_ptr<hsm::JwsSigner> ca_key,
                   token->OpenSigningKey(config.hsm.agent_ca_key));
  ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store, StateStore::Open(StateDbPath(config)));
  AgentCertificateRequest request;
  request.csr = csr;
  request.agent_name = name;
  request.trust_domain = config.server.trust_domain;
  request.lifetime = lifetime;
  request.source = kAgentCertSourceEnroll;
  request.now = absl::Now();
  ASSIGN_OR_RETURN(IssuedAgentCertificate issued,
                   IssueAndRecordAgentCertificate(*ca_key, ca_pem, request, *store));
  RETURN_IF_ERROR(WriteFileAtomically(*parser.Get("out"), issued.certificate_pem, 0644));
  std::cout << "enrolled " << AgentUri(config.server.trust_domain, name) << " until "
            << absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", issued.record.not_after,
                                absl::UTCTimeZone())
            << " (sha256 " << issued.record.sha256 << "): " << *parser.Get("out") << "\n"
            << "copy it and " << config.server.agent_ca_cert << " to the agent host\n";
  return absl::OkStatus();
}

}  // namespace

int RunEnrollAgent(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-signer enroll-agent --config FILE --name NAME --csr PATH --out PATH\n"
      "                         [--lifetime 30d|12h|90m | --days N]");
  parser.Value("config", "FILE", "signer configuration (TOML)")
      .Value("name", "NAME", "agent name ([a-z0-9-], as in the [[agents]] policy)")
      .Value("csr", "PATH", "the agent's CSR (from `acme-agent enroll`), PEM or DER")
      .Value("out", "PATH", "where to write the agent's certificate (PEM)")
      .Value("lifetime", "DURATION",
             "validity, \"30d\", \"12h\" or \"90m\" (default: server.agent_certificate_lifetime)")
      .Value("days", "N", "validity in days (the same as --lifetime Nd)")
      .Required("config")
      .Required("name")
      .Required("csr")
      .Required("out");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer enroll-agent: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  if (absl::Status s = Enroll(parser); !s.ok()) {
    std::cerr << "acme-signer enroll-agent: " << s.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace acme_signer::signer
