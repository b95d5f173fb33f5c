#include "signer/handshake_revocation.h"

#include <functional>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
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
    absl::Status checked = check_->Check(absl::string_view(pem.data(), pem.size()));
    if (checked.ok()) {
      *sync_status = grpc::Status::OK;
    } else {
      // gRPC logs this on the server; the client sees only a failed handshake.
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(checked.message()));
    }
    return true;  // synchronous: Cancel has nothing to cancel
  }

  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  const RevokedCertificateCheck* const check_;
};

}  // namespace

absl::Status RevokedCertificateCheck::Check(absl::string_view leaf_pem) const {
  std::shared_ptr<const SignerConfig> config = config_->Get();
  ASSIGN_OR_RETURN(std::string fingerprint, CertificatePemSha256Hex(leaf_pem));
  if (!IsRevoked(*config, fingerprint)) return absl::OkStatus();

  AuditRecord record;
  record.rpc = std::string(kHandshakeRpcName);
  record.client_cert_sha256 = fingerprint;
  // A revoked certificate is refused whatever it names; the name is for the record.
  absl::StatusOr<PeerAgent> agent = IdentifyPeerAgentPem(leaf_pem, config->server.trust_domain);
  if (agent.ok()) record.agent = agent->name;
  record.decision = AuditDecision::kDeny;
  record.reason = absl::StrCat("client certificate ", fingerprint,
                               agent.ok() ? absl::StrCat(" of agent ", agent->name) : "",
                               " is revoked (refused in the TLS handshake)");
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
