#include "agent/enrollment_client.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/signer_client.h"
#include "agent/signer_target.h"
#include "common/crypto.h"
#include "common/status_macros.h"
#include "common/x509.h"

namespace acme_signer::agent {
namespace {

absl::Status FromGrpc(const grpc::Status& status, const std::string& address) {
  if (status.ok()) return absl::OkStatus();
  std::string message = status.error_message();
  if (IsConnectionFailure(status)) {
    message = absl::StrCat("the signer's enrolment listener at ", address,
                           " is unreachable or refused the connection (is server.enroll_listen "
                           "set, and the port open?): ",
                           message);
  }
  return MarkFromSigner(absl::Status(static_cast<absl::StatusCode>(status.error_code()), message));
}

grpc::ChannelArguments Arguments(const std::string& server_name) {
  grpc::ChannelArguments args;
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  args.SetMaxReceiveMessageSize(1 << 20);
  return args;
}

}  // namespace

absl::StatusOr<pb::GetEnrollmentInfoResponse> FetchEnrollmentInfo(const std::string& address,
                                                                  absl::Duration timeout) {
  // No trust anchor yet: the certificate is not verified here, the CA it returns is checked
  // against the operator's fingerprint by the caller, and nothing secret is sent.
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_verify_server_certs(false);
  tls.set_check_call_host(false);
  tls.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::experimental::TlsCredentials(tls);
  if (credentials == nullptr) return absl::InternalError("cannot create TLS channel credentials");
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(address, credentials, Arguments(""));
  std::unique_ptr<pb::Enrollment::Stub> stub = pb::Enrollment::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  pb::GetEnrollmentInfoResponse response;
  RETURN_IF_ERROR(FromGrpc(
      stub->GetEnrollmentInfo(&context, pb::GetEnrollmentInfoRequest(), &response), address));
  return response;
}

absl::StatusOr<std::string> NormaliseCaFingerprint(absl::string_view text) {
  std::string hex;
  for (char c : text) {
    if (c == ':') continue;
    hex.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  if (!IsSha256Hex(hex)) {
    return absl::InvalidArgumentError(
        "--ca-fingerprint must be the agent CA's SHA-256: 64 hex digits (colons allowed), as "
        "`acme-signer enroll-agent --token` prints it");
  }
  return hex;
}

absl::Status CheckCaFingerprint(absl::string_view ca_pem, absl::string_view expected) {
  absl::StatusOr<SslUniquePtr<X509>> ca = ParseCertificatePem(ca_pem);
  if (!ca.ok()) {
    return MarkFromSigner(absl::InvalidArgumentError(
        absl::StrCat("the signer sent no usable CA certificate: ", ca.status().message())));
  }
  ASSIGN_OR_RETURN(std::string actual, CertificateSha256Hex(**ca));
  if (actual != expected) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the signer's CA has SHA-256 ", actual, ", not the expected ", expected,
        ": this is not the signer the fingerprint belongs to (or the fingerprint was mistyped); "
        "nothing was sent or written"));
  }
  return absl::OkStatus();
}

absl::StatusOr<pb::EnrollAgentResponse> Enroll(const EnrollmentTarget& target,
                                               const pb::EnrollAgentRequest& request) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = target.ca_pem;
  ASSIGN_OR_RETURN(const SignerTarget parsed, SignerTarget::Parse(target.address));
  ASSIGN_OR_RETURN(const std::string server_name, parsed.ServerName(target.server_name));
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(target.address, grpc::SslCredentials(ssl), Arguments(server_name));
  std::unique_ptr<pb::Enrollment::Stub> stub = pb::Enrollment::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + target.timeout));
  pb::EnrollAgentResponse response;
  RETURN_IF_ERROR(FromGrpc(stub->EnrollAgent(&context, request, &response), target.address));
  return response;
}

}  // namespace acme_signer::agent
