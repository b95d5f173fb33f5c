#include "signer/agent_identity.h"

#include <openssl/x509v3.h>

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "acme/dns_names.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/x509.h"

namespace acme_signer::signer {
namespace {

constexpr absl::string_view kScheme = "spiffe://";
// Longest piece of peer-controlled text echoed into an error.
constexpr size_t kMaxEcho = 120;

std::string Echo(absl::string_view text) {
  std::string out = absl::CHexEscape(text.substr(0, kMaxEcho));
  if (text.size() > kMaxEcho) out += "...";
  return out;
}

absl::Status Denied(absl::string_view uri, absl::string_view why) {
  return absl::PermissionDeniedError(absl::StrCat("client certificate URI SAN \"", Echo(uri),
                                                  "\" is not an agent identity: ", why));
}

}  // namespace

// The label rules are the ones every name shares (acme/dns_names.h), so the agent, which
// checks its own name and trust domain before enrolling, agrees with this side.
absl::Status ValidateAgentName(absl::string_view name) {
  return acme::ValidateSingleLabelName("agent name", name);
}

absl::Status ValidateTrustDomain(absl::string_view trust_domain) {
  return acme::ValidateLdhName("trust domain", trust_domain);
}

std::string AgentUri(absl::string_view trust_domain, absl::string_view agent_name) {
  return absl::StrCat(kScheme, trust_domain, "/agent/", agent_name);
}

absl::StatusOr<std::string> AgentNameFromUriSan(absl::string_view uri,
                                                absl::string_view trust_domain) {
  if (uri.empty()) return Denied(uri, "empty");
  if (!absl::StartsWith(uri, kScheme)) return Denied(uri, "scheme is not spiffe://");
  absl::string_view rest = uri.substr(kScheme.size());
  const size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) return Denied(uri, "no path");
  const absl::string_view authority = rest.substr(0, slash);
  // Exact, case-sensitive comparison: the agent CA only ever writes the lowercase domain.
  if (authority != trust_domain) {
    return Denied(uri, absl::StrCat("trust domain is not \"", Echo(trust_domain), "\""));
  }
  const absl::string_view path = rest.substr(slash);
  if (path.find_first_of("?#%") != absl::string_view::npos) {
    return Denied(uri, "query, fragment or percent-encoding in the path");
  }
  const std::vector<absl::string_view> segments = absl::StrSplit(path.substr(1), '/');
  if (segments.size() != 2 || segments[0] != "agent") {
    return Denied(uri, "path is not /agent/<name>");
  }
  if (absl::Status status = ValidateAgentName(segments[1]); !status.ok()) {
    return Denied(uri, status.message());
  }
  return std::string(segments[1]);
}

absl::StatusOr<PeerAgent> IdentifyPeerAgent(X509& certificate, absl::string_view trust_domain) {
  int crit = 0;
  SslUniquePtr<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(&certificate, NID_subject_alt_name, &crit, nullptr)));
  if (names == nullptr) {
    if (crit == -2) {
      return absl::PermissionDeniedError(
          "client certificate has several subjectAltName extensions");
    }
    return absl::PermissionDeniedError(
        "client certificate has no subjectAltName; agents need spiffe://<trust "
        "domain>/agent/<name>");
  }
  std::vector<std::string> uris;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                      static_cast<size_t>(ASN1_STRING_length(uri)));
  }
  if (uris.size() != 1) {
    return absl::PermissionDeniedError(
        absl::StrCat("client certificate has ", uris.size(),
                     " URI subjectAltNames; an agent certificate has exactly one"));
  }
  ASSIGN_OR_RETURN(std::string agent_name, AgentNameFromUriSan(uris[0], trust_domain));

  ASSIGN_OR_RETURN(std::string fingerprint, CertificateSha256Hex(certificate));
  return PeerAgent{.name = std::move(agent_name), .cert_sha256_hex = std::move(fingerprint)};
}

namespace {

absl::StatusOr<SslUniquePtr<X509>> ParsePem(absl::string_view certificate_pem) {
  absl::StatusOr<SslUniquePtr<X509>> cert = ParseCertificatePem(certificate_pem);
  if (!cert.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("client certificate is not valid PEM: ", cert.status().message()));
  }
  return cert;
}

}  // namespace

absl::StatusOr<PeerAgent> IdentifyPeerAgentPem(absl::string_view certificate_pem,
                                               absl::string_view trust_domain) {
  ASSIGN_OR_RETURN(SslUniquePtr<X509> cert, ParsePem(certificate_pem));
  return IdentifyPeerAgent(*cert, trust_domain);
}

absl::StatusOr<std::string> CertificatePemSha256Hex(absl::string_view certificate_pem) {
  ASSIGN_OR_RETURN(SslUniquePtr<X509> cert, ParsePem(certificate_pem));
  return CertificateSha256Hex(*cert);
}

}  // namespace acme_signer::signer
