// SignerTarget: where the agent finds acme-signer ([signer] address, `enroll --signer`,
// `--signer-address`), validated once: one home for every host:port split in the agent.
//
// Accepted forms (all are gRPC target strings, handed to gRPC as written):
//   host:port, [v6]:port                      one signer, as before (gRPC resolves the host)
//   ipv4:10.0.0.1:7443,10.0.0.2:7443          several replicas by literal IPv4 address
//   ipv6:[fd00::1]:7443,[fd00::2]:7443        several replicas by literal IPv6 address
//   dns:///signer.dept.example:7443           every address the DNS name resolves to
// A port is always required. Other schemes (unix:, xds:, dns with a DNS-server authority)
// are refused with what to write instead.
//
// Which name the signer's certificate must carry (ServerName): [signer] tls_server_name when
// set; otherwise the host of a plain or dns:/// target, or the one host shared by every
// address of an ipv4:/ipv6: list (replicas on one machine). A list of different hosts has no
// single name, so it needs tls_server_name (every replica presents the same server name).
//
// Thread-safety: an immutable value.
#ifndef ACME_SIGNER_AGENT_SIGNER_TARGET_H_
#define ACME_SIGNER_AGENT_SIGNER_TARGET_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer::agent {

// One address of a target: a host (name or IP, IPv6 without brackets) and a port.
struct SignerEndpoint {
  std::string host;
  int port = 0;

  // "host:port", "[v6]:port".
  std::string ToString() const;
};

class SignerTarget {
 public:
  enum class Kind { kHostPort, kIpList, kDns };

  // At most this many addresses in an ipv4:/ipv6: list.
  static constexpr int kMaxAddresses = 32;

  // InvalidArgument saying what is wrong with `text` and which forms are accepted.
  static absl::StatusOr<SignerTarget> Parse(absl::string_view text);

  // The target as given: what gRPC is asked to connect to.
  const std::string& text() const { return text_; }
  Kind kind() const { return kind_; }
  // The addresses as written: one for host:port and dns:/// (a name gRPC resolves), each
  // listed address of an ipv4:/ipv6: target.
  const std::vector<SignerEndpoint>& endpoints() const { return endpoints_; }
  // Whether the target may name more than one replica (a list of several, or a DNS name).
  bool MayNameSeveral() const { return kind_ == Kind::kDns || endpoints_.size() > 1; }

  // The name to check in the signer's certificate (see the file comment). InvalidArgument
  // when `tls_server_name` is empty and the listed addresses are on different hosts.
  absl::StatusOr<std::string> ServerName(absl::string_view tls_server_name) const;

  // The same host(s) with every port replaced by `port`: the signer's mTLS target derived
  // from its enrolment listener's. FailedPrecondition for a list of several addresses (each
  // replica may listen on its own port: the caller must be told the target).
  absl::StatusOr<std::string> WithPort(int port) const;

 private:
  SignerTarget(std::string text, Kind kind, std::vector<SignerEndpoint> endpoints)
      : text_(std::move(text)), kind_(kind), endpoints_(std::move(endpoints)) {}

  std::string text_;
  Kind kind_;
  std::vector<SignerEndpoint> endpoints_;
};

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_SIGNER_TARGET_H_
