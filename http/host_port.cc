#include "http/host_port.h"

#include <arpa/inet.h>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace acme_signer::http {
namespace {

bool IsIpv6Literal(absl::string_view host) {
  unsigned char buffer[16];
  return ::inet_pton(AF_INET6, std::string(host).c_str(), buffer) == 1;
}

bool IsDigits(absl::string_view text) {
  return !text.empty() && absl::c_all_of(text, [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

// 1..5 decimal digits, at most 65535 ("+1", "-1", " 1" and "0x50" are not ports).
absl::StatusOr<int> ParsePort(absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty port");
  int port = 0;
  if (!IsDigits(text) || text.size() > 5 || !absl::SimpleAtoi(text, &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a port (0..65535)"));
  }
  return port;
}

// `default_port` < 0: the port is required.
absl::StatusOr<HostPort> Split(absl::string_view text, int default_port) {
  const bool port_optional = default_port >= 0;
  if (text.empty()) return absl::InvalidArgumentError("empty");
  HostPort out;
  absl::string_view port_text;
  bool has_port = true;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) return absl::InvalidArgumentError("has no ']'");
    out.host = std::string(text.substr(1, close - 1));
    out.bracketed = true;
    if (!IsIpv6Literal(out.host)) {
      return absl::InvalidArgumentError(absl::StrCat("\"", out.host, "\" is not an IPv6 address"));
    }
    absl::string_view rest = text.substr(close + 1);
    if (rest.empty() && port_optional) {
      has_port = false;
    } else if (!absl::ConsumePrefix(&rest, ":")) {
      return absl::InvalidArgumentError("has no :port");
    }
    port_text = rest;
  } else {
    const size_t colon = text.find(':');
    if (colon == absl::string_view::npos) {
      if (!port_optional) return absl::InvalidArgumentError("has no :port");
      has_port = false;
      out.host = std::string(text);
    } else if (text.find(':', colon + 1) != absl::string_view::npos) {
      if (!port_optional) {
        return absl::InvalidArgumentError("write the IPv6 address in brackets ([::1]:443)");
      }
      has_port = false;  // "::1": an IPv6 literal without a port
      out.host = std::string(text);
    } else {
      out.host = std::string(text.substr(0, colon));
      port_text = text.substr(colon + 1);
      if (out.host.empty()) return absl::InvalidArgumentError("no host before :port");
    }
  }
  if (!has_port) {
    out.port = default_port;
    return out;
  }
  absl::StatusOr<int> port = ParsePort(port_text);
  if (!port.ok()) return port.status();
  out.port = *port;
  return out;
}

}  // namespace

std::string HostPort::ToString() const {
  if (absl::StrContains(host, ':')) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<HostPort> SplitHostPort(absl::string_view text) { return Split(text, -1); }

absl::StatusOr<HostPort> SplitHostOptionalPort(absl::string_view text, int default_port) {
  return Split(text, default_port < 0 ? 0 : default_port);
}

std::string PeerWithoutPort(absl::string_view grpc_peer) {
  if (absl::StartsWith(grpc_peer, "unix:") || absl::StartsWith(grpc_peer, "unix-abstract:")) {
    return std::string(grpc_peer);
  }
  absl::string_view rest = grpc_peer;
  if (!absl::ConsumePrefix(&rest, "ipv4:")) absl::ConsumePrefix(&rest, "ipv6:");
  const size_t scheme_length = grpc_peer.size() - rest.size();
  // The port is the digits after the last ':', which must follow "]" or the only ':' of rest.
  const size_t colon = rest.rfind(':');
  if (colon == absl::string_view::npos || !IsDigits(rest.substr(colon + 1))) {
    return std::string(grpc_peer);
  }
  const bool after_bracket = absl::StartsWith(rest, "[") && colon > 0 && rest[colon - 1] == ']';
  if (!after_bracket && rest.find(':') != colon) return std::string(grpc_peer);
  return std::string(grpc_peer.substr(0, scheme_length + colon));
}

std::string PeerAddress(absl::string_view grpc_peer) {
  absl::string_view peer = grpc_peer;
  if (absl::ConsumePrefix(&peer, "unix:")) return std::string(peer);
  const std::string without_port = PeerWithoutPort(grpc_peer);
  absl::string_view address = without_port;
  if (!absl::ConsumePrefix(&address, "ipv4:")) absl::ConsumePrefix(&address, "ipv6:");
  if (absl::StartsWith(address, "[") && absl::EndsWith(address, "]")) {
    address = address.substr(1, address.size() - 2);
  }
  return std::string(address);
}

}  // namespace acme_signer::http
