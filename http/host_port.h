// The one host:port splitter of the project, and the one reading of gRPC peer strings.
//
// SplitHostPort reads what configuration files and flags call an address: "host:port" or
// "[ipv6-address]:port". It only splits and checks the syntax every caller shares (brackets
// around exactly an IPv6 literal, a decimal port in 0..65535); what a host may be (a name, an
// IPv4 literal only, ...) and whether port 0 is usable is the caller's rule, because a listen
// address, a signer target and a DNS resolver differ there.
//
// PeerAddress and PeerWithoutPort read the peer strings gRPC (and the front door's HTTPS
// server, which writes the same form) put in every audit record: "ipv4:1.2.3.4:5555",
// "ipv6:[::1]:5555", "unix:/run/x.sock".
//
// Pure functions: thread-safe, safe on arbitrary input.
#ifndef ACME_SIGNER_HTTP_HOST_PORT_H_
#define ACME_SIGNER_HTTP_HOST_PORT_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer::http {

struct HostPort {
  // Without brackets: "signer.example", "127.0.0.1", "::1".
  std::string host;
  int port = 0;
  // The host was written in brackets, so it is an IPv6 literal.
  bool bracketed = false;

  // "host:port", or "[v6]:port" for a host with a ':' (brackets put back).
  std::string ToString() const;
};

// Splits "host:port" or "[ipv6-address]:port". InvalidArgument whose message is only the
// reason (the caller says which address it was and what it is for), one of:
//   "empty"; "has no ']'"; "\"X\" is not an IPv6 address" (inside brackets);
//   "has no :port" (also "[::1]7443"); "no host before :port";
//   "write the IPv6 address in brackets ([::1]:443)" (an unbracketed host with a ':');
//   "empty port"; "\"P\" is not a port (0..65535)" (not 1..5 decimal digits, or above 65535).
absl::StatusOr<HostPort> SplitHostPort(absl::string_view text);

// As SplitHostPort, but the port may be left out ("10.0.0.1", "[::1]"): then it is
// `default_port`. Without brackets a text with more than one ':' is then an IPv6 literal
// without port ("::1"), as resolv.conf-style server lists write them.
absl::StatusOr<HostPort> SplitHostOptionalPort(absl::string_view text, int default_port);

// The peer's address without scheme, brackets or port: "ipv4:1.2.3.4:5" -> "1.2.3.4",
// "ipv6:[::1]:5" -> "::1", "unix:/run/x.sock" -> "/run/x.sock". Text it cannot read (an
// escaped "ipv6:%5B::1%5D:5") comes back without its scheme, otherwise unchanged.
std::string PeerAddress(absl::string_view grpc_peer);

// The peer with its scheme but without the port, so that connections from one address
// compare equal: "ipv4:1.2.3.4:5" -> "ipv4:1.2.3.4", "ipv6:[::1]:5" -> "ipv6:[::1]";
// "unix:/run/x" and text it cannot read come back unchanged.
std::string PeerWithoutPort(absl::string_view grpc_peer);

}  // namespace acme_signer::http

#endif  // ACME_SIGNER_HTTP_HOST_PORT_H_
