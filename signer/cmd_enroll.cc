// acme-signer enroll-agent: issue an agent's mTLS client certificate from the agent CA.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/cli.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "signer/agent_ca.h"
#include "signer/agent_identity.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/process_hardening.h"
#include "signer/runtime.h"

namespace acme_signer::signer {
namespace {

absl::Status Enroll(const ArgParser& parser, int days) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
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
  ASSIGN_OR_RETURN(std::string cert_pem,
                   IssueAgentCertificate(*ca_key, ca_pem, csr, name, config.server.trust_domain,
                                         days));
  RETURN_IF_ERROR(WriteFileAtomically(*parser.Get("out"), cert_pem, 0644));
  std::cout << "enrolled " << AgentUri(config.server.trust_domain, name) << " for " << days
            << " days: " << *parser.Get("out") << "\n"
            << "copy it and " << config.server.agent_ca_cert << " to the agent host\n";
  return absl::OkStatus();
}

}  // namespace

int RunEnrollAgent(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-signer enroll-agent --config FILE --name NAME --csr PATH --out PATH [--days N]");
  parser.Value("config", "FILE", "signer configuration (TOML)")
      .Value("name", "NAME", "agent name ([a-z0-9-], as in the [[agents]] policy)")
      .Value("csr", "PATH", "the agent's CSR (from `acme-agent enroll`), PEM or DER")
      .Value("out", "PATH", "where to write the agent's certificate (PEM)")
      .Value("days", "N", "validity in days (default 365)")
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
  absl::StatusOr<std::optional<long>> days = parser.GetInt("days", 1, kMaxLeafDays);
  if (!days.ok()) {
    std::cerr << "acme-signer enroll-agent: " << days.status().message() << "\n";
    return kExitUsage;
  }
  if (absl::Status s = Enroll(parser, static_cast<int>(days->value_or(365))); !s.ok()) {
    std::cerr << "acme-signer enroll-agent: " << s.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace acme_signer::signer
