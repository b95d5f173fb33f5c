// EnrollmentClient: the agent's side of one-token enrolment (acme-agent enroll --signer), the
// Enrollment service on the signer's enrolment listener (server.enroll_listen).
//
// Trust is built in two steps, as kubeadm does with its CA hash:
//   1. FetchEnrollmentInfo connects with TLS WITHOUT verifying the signer's certificate (the
//      host has no trust anchor yet) and asks for the agent CA certificate. Nothing from this
//      connection is trusted until the caller has compared the CA's SHA-256 with the
//      fingerprint the operator gave (CheckCaFingerprint).
//   2. Enroll connects again, now verifying the signer's certificate against that pinned CA
//      (and the server name), and only then sends the token and the CSR.
// Errors of both RPCs are marked as the signer's (agent/signer_client.h: IsFromSigner), so an
// unreachable signer exits 4 and a refused token 3.
//
// Thread-safety: the functions are thread-safe.
#ifndef ACME_SIGNER_AGENT_ENROLLMENT_CLIENT_H_
#define ACME_SIGNER_AGENT_ENROLLMENT_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "acmesigner/v1/signer.grpc.pb.h"

namespace acme_signer::agent {

namespace pb = ::acmesigner::v1;

// Step 1: the agent CA, trust domain and mTLS port from the enrolment listener at `address`
// (a SignerTarget: host:port, or replicas' listeners tried in turn), over TLS that does not verify
// the signer. The answer is untrusted until the CA passed CheckCaFingerprint.
absl::StatusOr<pb::GetEnrollmentInfoResponse> FetchEnrollmentInfo(const std::string& address,
                                                                  absl::Duration timeout);

// "AB:CD:..." or "abcd..." (64 hex digits, colons and case ignored) -> lowercase hex.
// InvalidArgument naming the flag when it is not a SHA-256.
absl::StatusOr<std::string> NormaliseCaFingerprint(absl::string_view text);

// OK when the first certificate of `ca_pem` has SHA-256 (of its DER) `expected` (normalised).
// PermissionDenied naming both fingerprints when it differs ("the signer's CA has SHA-256 X,
// not the expected Y: ..."); InvalidArgument when `ca_pem` holds no certificate.
absl::Status CheckCaFingerprint(absl::string_view ca_pem, absl::string_view expected);

struct EnrollmentTarget {
  std::string address;      // the enrolment listener (agent/signer_target.h)
  std::string ca_pem;       // the pinned agent CA (passed CheckCaFingerprint)
  // Name checked in the signer's certificate; "" = SignerTarget::ServerName's default.
  std::string server_name;
  absl::Duration timeout = absl::Seconds(60);
};

// Step 2: sends `request` (token, CSR, optional name) over TLS verified against
// target.ca_pem. The token is only sent on this verified connection.
absl::StatusOr<pb::EnrollAgentResponse> Enroll(const EnrollmentTarget& target,
                                               const pb::EnrollAgentRequest& request);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_ENROLLMENT_CLIENT_H_
