#include "agent/identity.h"

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/csr.h"
#include "agent/private_key.h"
#include "common/files.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/x509.h"

namespace acme_signer::agent {
namespace {

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// The agent name in the certificate's URI SAN ".../agent/<name>"; "" when there is none.
std::string AgentNameOf(X509& cert) {
  SslUniquePtr<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(&cert, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) return "";
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    const std::string text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                           static_cast<size_t>(ASN1_STRING_length(uri)));
    const size_t at = text.rfind("/agent/");
    if (absl::StartsWith(text, "spiffe://") && at != std::string::npos) {
      return text.substr(at + 7);
    }
  }
  return "";
}

absl::StatusOr<IdentityCertificate> ParseIdentity(const std::string& path, absl::string_view pem) {
  absl::StatusOr<SslUniquePtr<X509>> cert = ParseCertificatePem(pem);
  if (!cert.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a PEM certificate: ", cert.status().message()));
  }
  IdentityCertificate out;
  out.path = path;
  ASSIGN_OR_RETURN(out.not_before, NotBefore(**cert));
  ASSIGN_OR_RETURN(out.not_after, NotAfter(**cert));
  ASSIGN_OR_RETURN(out.sha256, CertificateSha256Hex(**cert));
  out.agent_name = AgentNameOf(**cert);
  return out;
}

absl::Status RenameFile(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("cannot rename ", from, " to ", to));
  }
  return absl::OkStatus();
}

// Whether `key_path` holds the private key of the certificate in `cert_pem`.
bool KeyMatches(const std::string& key_path, absl::string_view cert_pem) {
  absl::StatusOr<PrivateKey> key = PrivateKey::Load(key_path);
  absl::StatusOr<SslUniquePtr<X509>> cert = ParseCertificatePem(cert_pem);
  return key.ok() && cert.ok() && key->MatchesCertificate(cert->get());
}

// OK when `cert` chains to a certificate of the PEM file `ca_path`.
absl::Status VerifyUnderCa(X509& cert, const std::string& ca_path) {
  ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(ca_path));
  ASSIGN_OR_RETURN(std::vector<SslUniquePtr<X509>> anchors, ReadPemCertificates(ca_pem));
  SslUniquePtr<X509_STORE> store(X509_STORE_new());
  SslUniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (store == nullptr || ctx == nullptr) return absl::InternalError("out of memory");
  for (const SslUniquePtr<X509>& anchor : anchors) X509_STORE_add_cert(store.get(), anchor.get());
  if (X509_STORE_CTX_init(ctx.get(), store.get(), &cert, nullptr) != 1) {
    return absl::InternalError("X509_STORE_CTX_init failed");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the renewed certificate does not verify under ", ca_path, " ([signer] ca): ",
        X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()))));
  }
  return absl::OkStatus();
}

}  // namespace

std::string EnrolAgainHint(const AgentConfig& config, absl::string_view name) {
  const std::string agent = name.empty() ? "NAME" : std::string(name);
  const std::string agent_config =
      config.source.empty() ? std::string(kDefaultAgentConfigPath) : config.source;
  // Not [signer] address: token enrolment goes to the signer's separate enrolment listener
  // (server.enroll_listen), and the mTLS address may be a list of replicas. The signer prints
  // the right address with the token.
  return absl::StrCat(
      "enrol this host again: on the signer host run `acme-signer enroll-agent --config ",
      kSignerConfigHint, " --name ", agent,
      " --token`, then here run the `acme-agent enroll` line it prints, with --config ",
      agent_config, ": `acme-agent enroll --config ", agent_config,
      " --signer SIGNER:ENROLL_PORT --token TOKEN --ca-fingerprint SHA256` (SIGNER:ENROLL_PORT "
      "is the signer's enrolment listener, server.enroll_listen, not [signer] address; without "
      "network access to the signer: `acme-agent enroll --config ",
      agent_config, " --name ", agent, "` here, `acme-signer enroll-agent --config ",
      kSignerConfigHint, " --name ", agent,
      " --csr CSR --out CERT` on the signer host, and copy CERT to ", config.identity.cert, ")");
}

std::optional<std::string> IdentityExpiryWarning(const AgentConfig& config,
                                                 const IdentityCertificate& cert, absl::Time now) {
  if (now < cert.WarningTime() || now >= cert.not_after) return std::nullopt;
  const std::string name = cert.agent_name.empty() ? config.identity.name : cert.agent_name;
  return absl::StrCat("this agent's certificate (", cert.path, ") expires on ",
                      FormatUtc(cert.not_after),
                      " and has not been renewed: `acme-agent renew` renews it (so do renew and "
                      "run from two thirds of its lifetime); if that fails, ",
                      EnrolAgainHint(config, name));
}

absl::Time IdentityCertificate::RenewalTime() const {
  return not_before + (not_after - not_before) * 2 / 3;
}

absl::Time IdentityCertificate::WarningTime() const {
  return not_after - (not_after - not_before) / 6;
}

absl::StatusOr<IdentityCertificate> ReadIdentityCertificate(const AgentConfig& config) {
  ASSIGN_OR_RETURN(std::string pem, ReadFile(config.identity.cert));
  return ParseIdentity(config.identity.cert, pem);
}

absl::Status CheckIdentityUsable(const AgentConfig& config, const IdentityCertificate& cert,
                                 absl::Time now) {
  const std::string name = cert.agent_name.empty() ? config.identity.name : cert.agent_name;
  if (now >= cert.not_after) {
    return MarkConfigProblem(absl::FailedPreconditionError(absl::StrCat(
        "this agent's certificate (", cert.path, ") expired on ", FormatUtc(cert.not_after),
        ", so the signer refuses it and it cannot be renewed; ", EnrolAgainHint(config, name))));
  }
  if (now < cert.not_before) {
    return MarkConfigProblem(absl::FailedPreconditionError(absl::StrCat(
        "this agent's certificate (", cert.path, ") is not valid until ",
        FormatUtc(cert.not_before), " and this host's clock says ", FormatUtc(now),
        "; check the clock (timedatectl) — if it is right, ", EnrolAgainHint(config, name))));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> FinishInterruptedIdentityReplacement(const AgentConfig& config) {
  const std::string new_cert = absl::StrCat(config.identity.cert, ".new");
  absl::StatusOr<std::string> pending = ReadFile(new_cert);
  if (!pending.ok()) return false;  // nothing was interrupted after the first rename
  absl::StatusOr<std::string> installed = ReadFile(config.identity.cert);
  if (installed.ok() && KeyMatches(config.identity.key, *installed)) return false;
  if (!KeyMatches(config.identity.key, *pending)) return false;
  RETURN_IF_ERROR(RenameFile(new_cert, config.identity.cert));
  RETURN_IF_ERROR(SyncDirectory(DirName(config.identity.cert)));
  return true;
}

absl::Status ReplaceIdentityFiles(const AgentConfig& config, const Secret& key_pem,
                                  absl::string_view cert_pem) {
  const std::string new_key = absl::StrCat(config.identity.key, ".new");
  const std::string new_cert = absl::StrCat(config.identity.cert, ".new");
  RETURN_IF_ERROR(WriteFileAtomically(new_key, key_pem.reveal(), 0600));
  RETURN_IF_ERROR(WriteFileAtomically(new_cert, cert_pem, 0644));
  RETURN_IF_ERROR(RenameFile(new_key, config.identity.key));
  RETURN_IF_ERROR(SyncDirectory(DirName(config.identity.key)));
  RETURN_IF_ERROR(RenameFile(new_cert, config.identity.cert));
  return SyncDirectory(DirName(config.identity.cert));
}

absl::StatusOr<IdentityCertificate> RenewIdentity(SignerClient& signer, const AgentConfig& config,
                                                  const IdentityCertificate& current) {
  const std::string name = current.agent_name.empty() ? config.identity.name : current.agent_name;
  KeySpec spec;
  if (absl::StatusOr<PrivateKey> old_key = PrivateKey::Load(config.identity.key); old_key.ok()) {
    spec = old_key->spec();
  }
  ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(spec));
  ASSIGN_OR_RETURN(std::string csr, BuildAgentCsrDer(key, config.identity.trust_domain, name));
  ASSIGN_OR_RETURN(pb::RenewAgentCertificateResponse answer, signer.RenewAgentCertificate(csr));
  absl::StatusOr<SslUniquePtr<X509>> cert = ParseCertificatePem(answer.certificate_pem());
  if (!cert.ok()) {
    return absl::InternalError(absl::StrCat("the signer's renewed certificate cannot be read: ",
                                            cert.status().message()));
  }
  if (!key.MatchesCertificate(cert->get())) {
    return absl::InternalError("the signer's renewed certificate is not for the new key");
  }
  RETURN_IF_ERROR(VerifyUnderCa(**cert, config.signer.ca));
  ASSIGN_OR_RETURN(IdentityCertificate renewed,
                   ParseIdentity(config.identity.cert, answer.certificate_pem()));
  if (renewed.agent_name != current.agent_name) {
    return absl::InternalError(absl::StrCat("the signer's renewed certificate names agent \"",
                                            renewed.agent_name, "\", not \"", current.agent_name,
                                            "\""));
  }
  ASSIGN_OR_RETURN(Secret key_pem, key.ToPem());
  RETURN_IF_ERROR(ReplaceIdentityFiles(config, key_pem, answer.certificate_pem()));
  return renewed;
}

}  // namespace acme_signer::agent
