#include "signer/handshake_revocation.h"

#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "common/x509.h"
#include "signer/agent_identity.h"
#include "signer/audit_record.h"

namespace acme_signer::signer {
namespace {

class RevocationVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit RevocationVerifier(const RevokedCertificateCheck* check) : check_(check) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/,
              grpc::Status* sync_status) override {
    const grpc::string_ref pem = request->peer_cert();
    const grpc::string_ref chain = request->peer_cert_full_chain();
    absl::Status checked = check_->CheckPresented(absl::string_view(pem.data(), pem.size()),
                                                  absl::string_view(chain.data(), chain.size()));
    if (checked.ok()) {
      *sync_status = grpc::Status::OK;
    } else {
      // The client sees only a failed handshake; the refusal was logged and audited.
      *sync_status =
          grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                       absl::StrCat(kHandshakeVerifierMarker, ": ", checked.message()));
    }
    return true;  // synchronous: Cancel has nothing to cancel
  }

  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  const RevokedCertificateCheck* const check_;
};

// Subject (RFC 2253, one line), URI SANs and fingerprint of a presented certificate.
HandshakeFailure Describe(X509& cert) {
  HandshakeFailure failure;
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio != nullptr &&
      X509_NAME_print_ex(bio.get(), X509_get_subject_name(&cert), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    if (size > 0 && data != nullptr) failure.subject.assign(data, static_cast<size_t>(size));
  }
  std::vector<std::string> uris;
  SslUniquePtr<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(&cert, NID_subject_alt_name, nullptr, nullptr)));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()) && uris.size() < 4; ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
      if (name->type != GEN_URI) continue;
      const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
      uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                        static_cast<size_t>(ASN1_STRING_length(uri)));
    }
  }
  failure.identity = absl::StrJoin(uris, " ");
  absl::StatusOr<std::string> fingerprint = CertificateSha256Hex(cert);
  if (fingerprint.ok()) failure.cert_sha256 = *fingerprint;
  return failure;
}

}  // namespace

absl::Status RevokedCertificateCheck::SetTrustAnchor(absl::string_view agent_ca_pem) {
  ASSIGN_OR_RETURN(std::vector<SslUniquePtr<X509>> certs, ReadPemCertificates(agent_ca_pem));
  if (certs.empty()) {
    return absl::InvalidArgumentError("server.agent_ca_cert holds no PEM certificate");
  }
  SslUniquePtr<X509_STORE> store(X509_STORE_new());
  if (store == nullptr) return absl::ResourceExhaustedError("X509_STORE_new failed");
  for (const SslUniquePtr<X509>& cert : certs) {
    if (X509_STORE_add_cert(store.get(), cert.get()) != 1) {
      return absl::InvalidArgumentError("server.agent_ca_cert: cannot use a certificate of it");
    }
  }
  trust_ = std::move(store);
  return absl::OkStatus();
}

absl::Status RevokedCertificateCheck::CheckPresented(absl::string_view leaf_pem,
                                                     absl::string_view chain_pem) const {
  if (trust_ == nullptr) return Check(leaf_pem);
  absl::StatusOr<SslUniquePtr<X509>> leaf = ParseCertificatePem(leaf_pem);
  if (!leaf.ok()) {
    HandshakeFailure failure;
    failure.reason = "the client certificate cannot be parsed";
    if (failure_log_ != nullptr) failure_log_->Report(failure);
    return absl::UnauthenticatedError(failure.reason);
  }
  // The presented intermediates, if any (an agent sends its leaf only).
  X509Stack untrusted(sk_X509_new_null());
  if (untrusted == nullptr) return absl::ResourceExhaustedError("sk_X509_new_null failed");
  // Only a chain with more than the leaf is decoded (an agent sends its leaf only, and each
  // decode costs ~0.1 ms of the handshake with OpenSSL 3).
  constexpr absl::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  const size_t first = chain_pem.find(kBegin);
  if (first != absl::string_view::npos &&
      chain_pem.find(kBegin, first + kBegin.size()) != absl::string_view::npos) {
    absl::StatusOr<std::vector<SslUniquePtr<X509>>> chain = ReadPemCertificates(chain_pem);
    if (chain.ok()) {
      for (size_t i = 1; i < chain->size() && i < 10; ++i) {
        if (sk_X509_push(untrusted.get(), (*chain)[i].get()) > 0) (void)(*chain)[i].release();
      }
    }
  }
  SslUniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (ctx == nullptr ||
      X509_STORE_CTX_init(ctx.get(), trust_.get(), leaf->get(), untrusted.get()) != 1) {
    return absl::ResourceExhaustedError("cannot set up client certificate verification");
  }
  // What OpenSSL's TLS server does for a client certificate: purpose and trust "ssl_client",
  // and the security level of Debian's default configuration.
  X509_STORE_CTX_set_default(ctx.get(), "ssl_client");
  X509_VERIFY_PARAM_set_auth_level(X509_STORE_CTX_get0_param(ctx.get()), 2);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(ctx.get());
    HandshakeFailure failure = Describe(**leaf);
    failure.reason = absl::StrCat("client certificate verify failed: ",
                                  X509_verify_cert_error_string(error));
    if (error == X509_V_ERR_CERT_HAS_EXPIRED) {
      absl::StatusOr<absl::Time> not_after = NotAfter(**leaf);
      if (not_after.ok()) {
        absl::StrAppend(&failure.reason, " (expired ", FormatAuditTime(*not_after),
                        "; the agent needs a new certificate: acme-signer enroll-agent)");
      }
    }
    if (failure_log_ != nullptr) failure_log_->Report(failure);
    return absl::UnauthenticatedError(failure.reason);
  }
  return Check(leaf_pem);
}

absl::Status RevokedCertificateCheck::Check(absl::string_view leaf_pem) const {
  std::shared_ptr<const SignerConfig> config = config_->Get();
  ASSIGN_OR_RETURN(std::string fingerprint, CertificatePemSha256Hex(leaf_pem));
  if (!IsRevoked(*config, fingerprint)) return absl::OkStatus();

  // A revoked certificate is refused whatever it names; the name is for the record.
  absl::StatusOr<PeerAgent> agent = IdentifyPeerAgentPem(leaf_pem, config->server.trust_domain);
  const std::string reason =
      absl::StrCat("client certificate ", fingerprint,
                   agent.ok() ? absl::StrCat(" of agent ", agent->name) : "",
                   " is revoked (refused in the TLS handshake)");
  if (failure_log_ != nullptr) {
    HandshakeFailure failure;
    absl::StatusOr<SslUniquePtr<X509>> leaf = ParseCertificatePem(leaf_pem);
    if (leaf.ok()) failure = Describe(**leaf);
    failure.cert_sha256 = fingerprint;
    failure.reason = reason;
    // Verified under the agent CA: it is this agent's certificate.
    failure.verified = true;
    failure.agent = agent.ok() ? agent->name : "";
    failure_log_->Report(failure);
    return absl::PermissionDeniedError(reason);
  }
  AuditRecord record;
  record.rpc = std::string(kHandshakeRpcName);
  record.client_cert_sha256 = fingerprint;
  if (agent.ok()) record.agent = agent->name;
  record.decision = AuditDecision::kDeny;
  record.reason = reason;
  if (refusals_ != nullptr) {
    if (absl::Status recorded = refusals_->Refuse(record); !recorded.ok()) {
      // Refused either way; the audit log's failure is the service's to report (fail closed).
      std::cerr << "acme-signer: cannot audit a refused TLS handshake: " << recorded.message()
                << std::endl;
    }
  }
  return absl::PermissionDeniedError(record.reason);
}

bool RevokedCertificateCheck::IsRevoked(const SignerConfig& config,
                                        absl::string_view cert_sha256_hex) const {
  if (config.server.IsRevoked(cert_sha256_hex)) return true;
  std::shared_ptr<const absl::flat_hash_set<std::string>> store_revoked;
  {
    absl::MutexLock lock(&mu_);
    store_revoked = store_revoked_;
  }
  return store_revoked->contains(cert_sha256_hex);
}

absl::StatusOr<size_t> RevokedCertificateCheck::RefreshFromStore(const StateStore& store) {
  ASSIGN_OR_RETURN(std::vector<std::string> fingerprints,
                   store.RevokedAgentCertificateFingerprints());
  auto loaded = std::make_shared<const absl::flat_hash_set<std::string>>(fingerprints.begin(),
                                                                         fingerprints.end());
  const size_t count = loaded->size();
  absl::MutexLock lock(&mu_);
  store_revoked_ = std::move(loaded);
  return count;
}

std::shared_ptr<grpc::experimental::CertificateVerifier> MakeRevocationVerifier(
    const RevokedCertificateCheck* check) {
  return grpc::experimental::ExternalCertificateVerifier::Create<RevocationVerifier>(check);
}

}  // namespace acme_signer::signer
