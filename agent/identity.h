// The agent's own mTLS identity ([identity] key and cert in agent.toml): whether it can still
// be used, its renewal at two thirds of its lifetime through Signer.RenewAgentCertificate, and
// the replacement of the key and certificate as one pair.
//
// Replacement order (ReplaceIdentityFiles): KEY.new and CERT.new are written (0600 / 0644,
// fsynced), then KEY.new is renamed over KEY, then CERT.new over CERT. A crash between the two
// renames leaves a new KEY, the old CERT and CERT.new; FinishInterruptedIdentityReplacement
// (run before every use of the identity, ConnectToSigner) sees that KEY no longer matches CERT
// but matches CERT.new and completes the rename, so key and certificate never stay mismatched.
// Before the first rename the old pair is intact and the .new files are simply overwritten by
// the next renewal.
//
// Thread-safety: pure functions and file operations; callers hold the agent's RunLock when
// they replace files.
#ifndef ACME_SIGNER_AGENT_IDENTITY_H_
#define ACME_SIGNER_AGENT_IDENTITY_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/agent_config.h"
#include "agent/signer_client.h"
#include "common/secret.h"

namespace acme_signer::agent {

// Where the signer's config lives on a packaged install (deploy/acme-signer.service), for the
// commands this agent's messages tell an operator to run on the signer host.
inline constexpr char kSignerConfigHint[] = "/etc/acme-signer/acme-signer.toml";

// The agent's current certificate, as read from [identity] cert.
struct IdentityCertificate {
  std::string path;
  absl::Time not_before = absl::InfinitePast();
  absl::Time not_after = absl::InfinitePast();
  std::string sha256;      // lowercase hex SHA-256 of the DER (the signer's fingerprint)
  std::string agent_name;  // from its URI SAN spiffe://<trust domain>/agent/<name>; "" if none

  // Two thirds into the lifetime: from then on `run` and `renew` renew it.
  absl::Time RenewalTime() const;
  // One sixth of the lifetime before notAfter: from then on a failing renewal is warned about,
  // and every command that connects to the signer warns (IdentityExpiryWarning).
  absl::Time WarningTime() const;
};

// The commands that give this host a new identity, for messages: `acme-signer enroll-agent
// --token` on the signer host, then the `acme-agent enroll` line it prints (whose --signer is
// the signer's enrolment listener, server.enroll_listen, not [signer] address) with this
// config's path; or the CSR route for air-gapped hosts. `name` "" reads NAME.
std::string EnrolAgainHint(const AgentConfig& config, absl::string_view name);

// From cert.WarningTime() until it expires: the warning every command that connects to the
// signer prints once (the date and the fix: `acme-agent renew`, else EnrolAgainHint);
// nullopt before (and once it expired: CheckIdentityUsable refuses it then).
std::optional<std::string> IdentityExpiryWarning(const AgentConfig& config,
                                                 const IdentityCertificate& cert, absl::Time now);

// Reads and parses [identity] cert. Errors name the path (NotFound when it does not exist).
absl::StatusOr<IdentityCertificate> ReadIdentityCertificate(const AgentConfig& config);

// OK while `now` lies inside the certificate's validity. Otherwise FailedPrecondition, marked
// as a configuration problem (exit 2, IsConfigProblem), with the date and the exact commands
// that fix it (enrol again; for a not yet valid certificate, first check this host's clock).
absl::Status CheckIdentityUsable(const AgentConfig& config, const IdentityCertificate& cert,
                                 absl::Time now);

// Completes a replacement a crash interrupted (see the file comment). Returns whether it did.
absl::StatusOr<bool> FinishInterruptedIdentityReplacement(const AgentConfig& config);

// Installs a new key and certificate as one pair (see the file comment). The key file is 0600.
absl::Status ReplaceIdentityFiles(const AgentConfig& config, const Secret& key_pem,
                                  absl::string_view cert_pem);

// Renews the identity now: a new key of the current key's kind (ECDSA P-256 when the current
// key cannot be read) made on this host, a CSR for it, Signer.RenewAgentCertificate, checks
// that the answer is a certificate for the new key that verifies under [signer] ca and names
// the same agent, then ReplaceIdentityFiles. On any error the current key and certificate are
// left as they were. Returns the new certificate.
absl::StatusOr<IdentityCertificate> RenewIdentity(SignerClient& signer, const AgentConfig& config,
                                                  const IdentityCertificate& current);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_IDENTITY_H_
