// SignerClient: the agent's connection to acme-signer, gRPC over mutual TLS.
// The agent presents its enrolled client certificate (key made on this host, 0600) and
// verifies the signer's certificate against the agent CA. The address may name several
// replicas (agent/signer_target.h): calls go round-robin to the healthy ones
// (agent/signer_channel.h) and are retried on another while none can serve, for up to
// `retry_window` (agent/signer_retry.h). Each attempt has a deadline; a gRPC
// error becomes an absl::Status with the same code and the signer's message (a policy denial
// names the refused name), marked as coming from the signer (IsFromSigner): the same absl
// code also comes from this host's own files (EACCES is PermissionDenied, like a policy
// refusal), and only the signer's statuses may exit 3 or 4.
// Thread-safety: thread-safe (gRPC stubs are).
#ifndef ACME_SIGNER_AGENT_SIGNER_CLIENT_H_
#define ACME_SIGNER_AGENT_SIGNER_CLIENT_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "acmesigner/v1/signer.grpc.pb.h"
#include "agent/signer_retry.h"

namespace acme_signer::agent {

namespace pb = ::acmesigner::v1;

// The absl::Status payload that marks a status as the signer's: its answer to an RPC, or
// gRPC's failure to reach it. Value kStatusOriginSigner.
inline constexpr absl::string_view kStatusOriginPayload = "acme-signer/origin";
inline constexpr absl::string_view kStatusOriginSigner = "signer";

// `status` marked as the signer's (an OK status stays OK and unmarked).
absl::Status MarkFromSigner(absl::Status status);

// Whether a failed call never reached the signer (no connection, refused, handshake failed), as
// opposed to an UNAVAILABLE the signer chose to answer (e.g. its audit log cannot be written).
bool IsConnectionFailure(const grpc::Status& status);

// Whether `status` carries the signer's mark.
bool IsFromSigner(const absl::Status& status);

// The same payload with this value marks a problem of this host's configuration found while
// talking to the signer (the agent's own certificate expired, [signer] ca is not the CA that
// signed the signer's certificate): exit 2, not "unreachable" (agent/commands.h).
inline constexpr absl::string_view kStatusOriginConfig = "config";

// `status` marked as a configuration problem (an OK status stays OK and unmarked).
absl::Status MarkConfigProblem(absl::Status status);

// Whether `status` carries the configuration-problem mark.
bool IsConfigProblem(const absl::Status& status);

// `status` with its code and payloads (among them the signer's mark) but `message`: for
// adding context to an error without changing whose error it is.
absl::Status WithMessage(const absl::Status& status, absl::string_view message);

struct SignerConnection {
  std::string address;      // the signer's target (agent/signer_target.h), e.g. host:port
  std::string ca_cert;      // PEM file: the agent CA that also signs the signer's certificate
  std::string client_cert;  // PEM file: this agent's enrolled certificate
  std::string client_key;   // PEM file (0600): this agent's key
  // Expected name in the signer's certificate; "" = SignerTarget::ServerName's default.
  std::string server_name;
  absl::Duration call_timeout = absl::Seconds(60);  // per attempt
  // How long calls keep being retried while no replica can serve (SignerRetry); zero = one
  // attempt per call. The agent's commands use [signer] retry_seconds (default 2 minutes).
  absl::Duration retry_window = absl::ZeroDuration();
  // Pauses between retries; tests may replace it. Empty = absl::SleepFor.
  std::function<void(absl::Duration)> retry_sleep;
};

class SignerClient {
 public:
  // Reads the three PEM files and creates the channel (connection is lazy). Errors name the
  // file that could not be read, or say what is wrong with the address; they are this
  // host's, not marked as the signer's.
  static absl::StatusOr<std::unique_ptr<SignerClient>> Connect(const SignerConnection& connection);

  // A call that fails with UNAVAILABLE, DEADLINE_EXCEEDED or ABORTED is tried again (on
  // whichever replica gRPC picks) until connection.retry_window of outage has passed; then
  // the last error comes back as UNAVAILABLE saying how long and how often it was tried
  // (exit 4). Every error of the RPCs below is marked as the signer's (IsFromSigner), except one:
  // when the connection fails in the TLS handshake because the signer's certificate does not verify
  // against connection.ca_cert (agent/signer_tls_check.h), the error says so and is marked as a
  // configuration problem (IsConfigProblem) instead; and when the signer refused this agent's
  // certificate in the handshake (revoked), the error is PermissionDenied saying so (still the
  // signer's: exit 3) rather than "unreachable".
  //
  // `account` (GetAccount, CreateOrder, GetRenewalInfo, SignJws) is the signer account
  // ([[accounts]] name) the request acts as; "" for this agent's default. The later calls on an
  // order act as the order's account (the signer knows it). PermissionDenied when the agent may
  // not use the account (the signer names the ones it may).
  absl::StatusOr<pb::GetAccountResponse> GetAccount(const std::string& account = "");
  absl::StatusOr<pb::Order> CreateOrder(const std::vector<std::string>& dns_names,
                                        const std::string& replaces,
                                        const std::string& account = "");
  absl::StatusOr<pb::Order> GetOrder(const std::string& order_url);
  absl::StatusOr<pb::Challenge> AnswerChallenge(const std::string& challenge_url);
  absl::StatusOr<pb::Authorization> DeactivateAuthorization(const std::string& authorization_url);
  absl::StatusOr<pb::Order> FinalizeOrder(const std::string& order_url, const std::string& csr_der);
  absl::StatusOr<pb::GetCertificateResponse> GetCertificate(const std::string& order_url,
                                                            const std::string& preferred_chain);
  absl::Status RevokeCertificate(const std::string& certificate_der, int reason_code);
  absl::StatusOr<pb::GetRenewalInfoResponse> GetRenewalInfo(const std::string& certificate_der,
                                                            const std::string& account = "");
  // Direct mode: the signer signs `payload` for `url` (kid form) if the agent's policy allows
  // it. `order_url` is required for a finalize (the signer fetches the order to check the CSR
  // against it) and ignored otherwise. PermissionDenied names what the policy refused.
  absl::StatusOr<pb::SignJwsResponse> SignJws(const std::string& url, const std::string& payload,
                                              const std::string& nonce,
                                              const std::string& order_url = "",
                                              const std::string& account = "");
  // A new client certificate for this agent (Signer.RenewAgentCertificate): `csr_der` carries
  // the public key of a new key pair made on this host.
  absl::StatusOr<pb::RenewAgentCertificateResponse> RenewAgentCertificate(
      const std::string& csr_der);

 private:
  SignerClient(std::unique_ptr<pb::Signer::Stub> stub, SignerConnection connection,
               SignerRetryOptions retry)
      : stub_(std::move(stub)), connection_(std::move(connection)), retry_(std::move(retry)) {}
  template <typename Request, typename Response, typename Method>
  absl::StatusOr<Response> Invoke(absl::string_view name, Method method, const Request& request);
  // After a connection failure: why, when it is this host's configuration or the signer's
  // refusal of this agent (agent/signer_tls_check.h); OK otherwise. Checked once per client.
  absl::Status ExplainConnectionFailure();

  std::unique_ptr<pb::Signer::Stub> stub_;
  const SignerConnection connection_;
  SignerRetry retry_;
  std::atomic<bool> certificate_checked_{false};
};

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_SIGNER_CLIENT_H_
