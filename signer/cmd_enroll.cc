// acme-signer enroll-agent: enrol an agent. With --token: a one-time token the host redeems
// itself over the enrolment listener (signer/enrollment_service.h). With --csr/--out: issue the
// agent's mTLS client certificate from a CSR copied here (air-gapped sites).
#include <unistd.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/cli.h"
#include "common/files.h"
#include "common/secret.h"
#include "common/status_macros.h"
#include "http/host_port.h"
#include "nlohmann/json.hpp"
#include "signer/agent_ca.h"
#include "signer/agent_certificates.h"
#include "signer/agent_identity.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/enrollment_service.h"
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
  ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store, OpenStateStore(config));
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

// Where agents reach the enrolment listener: server.enroll_listen, with this host's name for a
// wildcard host ("0.0.0.0", "[::]") that means nothing on the agent's side.
std::string EnrollAddressForAgents(const std::string& listen) {
  absl::StatusOr<http::HostPort> address = http::SplitHostPort(listen);
  if (!address.ok()) return listen;  // LoadSignerConfig checked it; shown as written
  if (address->host == "0.0.0.0" || address->host == "::") {
    char name[256] = {};
    address->host =
        ::gethostname(name, sizeof(name) - 1) == 0 && name[0] != '\0' ? name : "SIGNER-HOST";
  }
  return address->ToString();
}

// enroll-agent --token: stores the token's SHA-256 and prints the token once.
absl::Status EnrollWithToken(const ArgParser& parser) {
  for (const char* csr_flag : {"csr", "out", "lifetime", "days"}) {
    if (parser.Has(csr_flag)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", csr_flag, " belongs to the CSR route; --token makes a token instead (the "
          "certificate lifetime is then server.agent_certificate_lifetime)"));
    }
  }
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  if (!config.server.enroll_listen.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "token enrolment is off on this signer: set enroll_listen = \"HOST:PORT\" in the "
        "[server] section of ", config.source,
        " (e.g. \"0.0.0.0:7444\"), restart acme-signer, then run this again; or use the CSR "
        "route (--csr, --out)"));
  }
  absl::Duration ttl = kDefaultEnrollmentTokenTtl;
  if (parser.Has("ttl")) {
    ASSIGN_OR_RETURN(ttl, ParseEnrollmentTokenTtl(*parser.Get("ttl")));
  }
  RETURN_IF_ERROR(HardenProcess(/*allow_root=*/true));
  const std::string name = *parser.Get("name");
  RETURN_IF_ERROR(ValidateAgentName(name));
  if (config.FindAgent(name) == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "agent ", name, " has no [[agents]] entry in ", config.source,
        ": add one (name, allowed_names), reload the signer, then make the token"));
  }
  ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(config.server.agent_ca_cert));
  ASSIGN_OR_RETURN(std::string ca_sha256, CaCertificateSha256(ca_pem));
  ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store, OpenStateStore(config));
  ASSIGN_OR_RETURN(std::string token_text, NewEnrollmentToken());
  const Secret token(std::move(token_text));
  EnrollmentToken record;
  record.token_sha256 = EnrollmentTokenHash(token.reveal());
  record.agent = name;
  record.created = absl::Now();
  record.expires = record.created + ttl;
  RETURN_IF_ERROR(store->AddEnrollmentToken(record));
  if (parser.Has("json")) {
    // Exactly these two keys (the token is the only secret; built by hand so that no copy of
    // it is left in a json object).
    Secret out(absl::StrCat("{\"token\":\"", token.reveal(), "\",\"ca_sha256\":\"",
                            ca_sha256, "\"}\n"));
    std::cout << out.reveal() << std::flush;
    return absl::OkStatus();
  }
  const std::string address = EnrollAddressForAgents(*config.server.enroll_listen);
  Secret text(absl::StrCat(
      "One-time enrolment token for agent ", name, " (", AgentUri(config.server.trust_domain, name),
      "), valid until ",
      absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", record.expires, absl::UTCTimeZone()),
      ", single use (token sha256 ", record.token_sha256.substr(0, 12), "... in the audit log):\n"
      "  ", token.reveal(), "\n"
      "Agent CA SHA-256 fingerprint:\n"
      "  ", ca_sha256, "\n"
      "On the agent host run (the token may also come from a file, --token-file, or stdin,\n"
      "--token -, to keep it out of the shell history):\n"
      "  acme-agent enroll --config /etc/acme-agent/agent.toml --signer ", address,
      " --token ", token.reveal(), " --ca-fingerprint ", ca_sha256, "\n"));
  std::cout << text.reveal() << std::flush;
  return absl::OkStatus();
}

}  // namespace

int RunEnrollAgent(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-signer enroll-agent --config FILE --name NAME --token [--ttl 1h] [--json]\n"
      "       acme-signer enroll-agent --config FILE --name NAME --csr PATH --out PATH\n"
      "                         [--lifetime 30d|12h|90m | --days N]");
  parser.Value("config", "FILE", "signer configuration (TOML)")
      .Value("name", "NAME", "agent name ([a-z0-9-], as in the [[agents]] policy)")
      .Value("csr", "PATH", "the agent's CSR (from `acme-agent enroll`), PEM or DER")
      .Value("out", "PATH", "where to write the agent's certificate (PEM)")
      .Value("lifetime", "DURATION",
             "validity, \"30d\", \"12h\" or \"90m\" (default: server.agent_certificate_lifetime)")
      .Value("days", "N", "validity in days (the same as --lifetime Nd)")
      .Bool("token",
            "make a one-time enrolment token for the host to redeem with `acme-agent enroll "
            "--signer` (needs server.enroll_listen) instead of taking a CSR")
      .Value("ttl", "DURATION", "--token: how long the token stays valid, 1m..7d (default 1h)")
      .Bool("json", "--token: print {\"token\", \"ca_sha256\"} as JSON")
      .Required("config")
      .Required("name");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer enroll-agent: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  if (parser.Has("token")) {
    if (absl::Status s = EnrollWithToken(parser); !s.ok()) {
      std::cerr << "acme-signer enroll-agent: " << s.message() << "\n";
      return s.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
    }
    return kExitOk;
  }
  for (const char* token_flag : {"ttl", "json"}) {
    if (parser.Has(token_flag)) {
      std::cerr << "acme-signer enroll-agent: --" << token_flag << " goes with --token\n";
      return kExitUsage;
    }
  }
  if (!parser.Has("csr") || !parser.Has("out")) {
    std::cerr << "acme-signer enroll-agent: give --token (one-time token for the host), or "
                 "--csr PATH and --out PATH (certificate from a copied CSR)\n";
    return kExitUsage;
  }
  if (absl::Status s = Enroll(parser); !s.ok()) {
    std::cerr << "acme-signer enroll-agent: " << s.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace acme_signer::signer
