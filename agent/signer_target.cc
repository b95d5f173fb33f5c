#include "agent/signer_target.h"

#include <arpa/inet.h>

#include <algorithm>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "acme/dns_names.h"
#include "common/status_macros.h"
#include "http/host_port.h"

namespace acme_signer::agent {
namespace {

constexpr absl::string_view kForms =
    "write host:port, or for several replicas ipv4:IP:PORT,IP:PORT, "
    "ipv6:[IP]:PORT,[IP]:PORT or dns:///NAME:PORT";

absl::Status Bad(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("\"", text, "\" is not a signer address (", why, "); ", kForms));
}

bool IsIp(int family, const std::string& host) {
  unsigned char buffer[16];
  return ::inet_pton(family, host.c_str(), buffer) == 1;
}

// A host the agent may name: an IPv4 literal or a host name by the signer's own rule for
// host names (acme::ValidateLdhName), compared without case as DNS compares names.
absl::Status CheckHost(const std::string& host) {
  if (IsIp(AF_INET, host)) return absl::OkStatus();
  return acme::ValidateLdhName("host name", absl::AsciiStrToLower(host));
}

// "host:port" or "[v6]:port" -> its endpoint; `whole` is the full target, for messages.
absl::StatusOr<SignerEndpoint> ParseHostPort(absl::string_view item, absl::string_view whole) {
  absl::StatusOr<http::HostPort> split = http::SplitHostPort(item);
  if (!split.ok()) return Bad(whole, absl::StrCat("\"", item, "\": ", split.status().message()));
  if (split->port == 0) return Bad(whole, "\"0\" is not a port (1..65535)");
  if (!split->bracketed) {
    if (absl::Status host = CheckHost(split->host); !host.ok()) {
      return Bad(whole, host.message());
    }
  }
  return SignerEndpoint{split->host, split->port};
}

// The addresses of an "ipv4:" / "ipv6:" list (after the scheme).
absl::StatusOr<std::vector<SignerEndpoint>> ParseIpList(absl::string_view list, int family,
                                                        absl::string_view whole) {
  std::vector<SignerEndpoint> endpoints;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    if (item.empty()) return Bad(whole, "an empty address in the list");
    if (endpoints.size() >= static_cast<size_t>(SignerTarget::kMaxAddresses)) {
      return Bad(whole, absl::StrCat("more than ", SignerTarget::kMaxAddresses, " addresses"));
    }
    if (family == AF_INET6 && !absl::StartsWith(item, "[")) {
      return Bad(whole, absl::StrCat("write the IPv6 address in \"", item, "\" in brackets"));
    }
    ASSIGN_OR_RETURN(SignerEndpoint endpoint, ParseHostPort(item, whole));
    if (!IsIp(family, endpoint.host)) {
      return Bad(whole, absl::StrCat("\"", endpoint.host, "\" is not an ",
                                     family == AF_INET ? "IPv4" : "IPv6", " address"));
    }
    endpoints.push_back(std::move(endpoint));
  }
  return endpoints;
}

}  // namespace

std::string SignerEndpoint::ToString() const {
  return http::HostPort{host, port}.ToString();
}

absl::StatusOr<SignerTarget> SignerTarget::Parse(absl::string_view text) {
  std::string whole(text);
  if (text.empty()) return Bad(text, "empty");
  for (char c : text) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
      return Bad(text, "contains white space");
    }
  }
  if (absl::ConsumePrefix(&text, "ipv4:")) {
    ASSIGN_OR_RETURN(std::vector<SignerEndpoint> endpoints, ParseIpList(text, AF_INET, whole));
    return SignerTarget(std::move(whole), Kind::kIpList, std::move(endpoints));
  }
  if (absl::ConsumePrefix(&text, "ipv6:")) {
    ASSIGN_OR_RETURN(std::vector<SignerEndpoint> endpoints, ParseIpList(text, AF_INET6, whole));
    return SignerTarget(std::move(whole), Kind::kIpList, std::move(endpoints));
  }
  if (absl::ConsumePrefix(&text, "dns:")) {
    if (!absl::ConsumePrefix(&text, "///")) {
      return Bad(whole, absl::StartsWith(text, "//")
                            ? "a DNS server in the target is not supported (the system resolver "
                              "is used)"
                            : "a DNS target is written dns:///NAME:PORT");
    }
    if (absl::StrContains(text, ',')) return Bad(whole, "a DNS target names one host");
    ASSIGN_OR_RETURN(SignerEndpoint endpoint, ParseHostPort(text, whole));
    return SignerTarget(std::move(whole), Kind::kDns, {std::move(endpoint)});
  }
  // A scheme gRPC knows but the agent does not take (unix:, xds:, ...): its own message.
  // "name:port" (digits after the colon) is a host, not a scheme.
  if (const size_t colon = text.find(':'); colon != absl::string_view::npos && colon > 0) {
    const absl::string_view rest = text.substr(colon + 1);
    const bool port_follows = !rest.empty() && absl::c_all_of(rest, [](char c) {
      return absl::ascii_isdigit(static_cast<unsigned char>(c));
    });
    const absl::string_view scheme = text.substr(0, colon);
    if (!port_follows &&
        absl::c_all_of(scheme,
                       [](char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)); }) &&
        text.front() != '[') {
      return Bad(whole, absl::StrCat("the scheme \"", scheme, ":\" is not supported"));
    }
  }
  if (absl::StrContains(text, ',')) {
    return Bad(whole, "a list of replicas needs the ipv4: or ipv6: prefix");
  }
  ASSIGN_OR_RETURN(SignerEndpoint endpoint, ParseHostPort(text, whole));
  return SignerTarget(std::move(whole), Kind::kHostPort, {std::move(endpoint)});
}

absl::StatusOr<std::string> SignerTarget::ServerName(absl::string_view tls_server_name) const {
  if (!tls_server_name.empty()) return std::string(tls_server_name);
  std::vector<std::string> hosts;
  for (const SignerEndpoint& endpoint : endpoints_) {
    if (std::find(hosts.begin(), hosts.end(), endpoint.host) == hosts.end()) {
      hosts.push_back(endpoint.host);
    }
  }
  if (hosts.size() == 1) return hosts.front();
  return absl::InvalidArgumentError(
      absl::StrCat("signer address \"", text_, "\" lists replicas on different hosts (",
                   absl::StrJoin(hosts, ", "),
                   "), so there is no one name to check in their certificates: set [signer] "
                   "tls_server_name to the server name every replica's certificate carries"));
}

absl::StatusOr<std::string> SignerTarget::WithPort(int port) const {
  if (endpoints_.size() != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "signer address \"", text_,
        "\" lists several replicas, whose ports cannot be derived from one: give the replicas' "
        "mTLS target (--signer-address)"));
  }
  SignerEndpoint endpoint = endpoints_.front();
  endpoint.port = port;
  switch (kind_) {
    case Kind::kHostPort:
      return endpoint.ToString();
    case Kind::kDns:
      return absl::StrCat("dns:///", endpoint.ToString());
    case Kind::kIpList:
      return absl::StrCat(absl::StrContains(endpoint.host, ':') ? "ipv6:" : "ipv4:",
                          endpoint.ToString());
  }
  return endpoint.ToString();
}

}  // namespace acme_signer::agent
