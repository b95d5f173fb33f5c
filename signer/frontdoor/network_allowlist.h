// NetworkAllowlist: the networks the front door may connect to when it validates a challenge
// (http-01 fetches; the DNS resolver itself is operator configuration and not subject to it).
// A host that controls its own DNS must not be able to turn validation into a request to the
// signer's own neighbourhood (loopback services, cloud metadata, link-local peers).
//
// Two forms:
//  - Default() (nothing configured): every address EXCEPT
//      IPv4  0.0.0.0/8 (unspecified / "this network"), 127.0.0.0/8 (loopback),
//            169.254.0.0/16 (link-local, includes the cloud metadata address 169.254.169.254),
//            100.100.100.200/32 (Alibaba Cloud metadata), 224.0.0.0/4 (multicast),
//            240.0.0.0/4 (reserved, includes the broadcast address 255.255.255.255);
//      IPv6  ::/128 (unspecified), ::1/128 (loopback), fe80::/10 (link-local),
//            fd00:ec2::254/128 (AWS metadata over IPv6), ff00::/8 (multicast).
//  - Parse(entries): ONLY the listed networks, e.g. {"10.0.0.0/8", "2001:db8::/32",
//    "192.0.2.7"}; a single address is a /32 or /128. The lab configures {"127.0.0.0/8"}.
// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is judged as the IPv4 address a.b.c.d in both
// forms, so it cannot slip past an IPv4 rule.
//
// Immutable after construction: thread-safe.
#ifndef ACME_SIGNER_SIGNER_FRONTDOOR_NETWORK_ALLOWLIST_H_
#define ACME_SIGNER_SIGNER_FRONTDOOR_NETWORK_ALLOWLIST_H_

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace acme_signer::signer::frontdoor {

// An IPv4 or IPv6 address (no zone id, no port). Value type.
class IpAddress {
 public:
  // Parses a numeric address: "192.0.2.1", "2001:db8::1", "[2001:db8::1]", "::ffff:192.0.2.1".
  // InvalidArgument "not an IP address: \"<text>\"" (text escaped, cut at 64 bytes) otherwise.
  static absl::StatusOr<IpAddress> Parse(absl::string_view text);
  static IpAddress FromV4(const std::array<uint8_t, 4>& bytes);
  static IpAddress FromV6(const std::array<uint8_t, 16>& bytes);

  bool is_v4() const { return v4_; }
  // 4 bytes for IPv4, 16 for IPv6.
  absl::Span<const uint8_t> bytes() const {
    return absl::MakeConstSpan(bytes_.data(), v4_ ? 4 : 16);
  }
  // The IPv4 address when this is IPv4 or IPv4-mapped IPv6 (::ffff:a.b.c.d); else itself.
  IpAddress Unmapped() const;
  // Canonical text: "192.0.2.1", "2001:db8::1" (inet_ntop; no brackets).
  std::string ToString() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  IpAddress() = default;
  bool v4_ = true;
  std::array<uint8_t, 16> bytes_{};
};

// A network: address plus prefix length. Value type.
struct IpNetwork {
  IpAddress base;
  int prefix_length = 0;

  // "10.0.0.0/8", "2001:db8::/32", or a single address ("/32" or "/128" implied). Host bits
  // below the prefix must be zero ("10.0.0.1/8" is refused: it is probably a typo). IPv4-mapped
  // IPv6 networks (::ffff:0:0/96 and longer) are stored as their IPv4 network.
  // InvalidArgument naming the entry: "invalid network \"10.0.0.0/33\": prefix length ...".
  static absl::StatusOr<IpNetwork> Parse(absl::string_view text);
  bool Contains(const IpAddress& address) const;
  std::string ToString() const;
};

class NetworkAllowlist {
 public:
  // The default policy described at the top of this file.
  static NetworkAllowlist Default();
  // Only the listed networks. InvalidArgument naming the first bad entry (with its index:
  // "validation allowlist entry 2 \"10.0.0.0/33\": ..."); an empty list is refused too (it
  // would make every validation fail; leave the setting out for the default instead).
  static absl::StatusOr<NetworkAllowlist> Parse(absl::Span<const std::string> entries);

  // True when the front door may connect to `address` for validation.
  bool Allows(const IpAddress& address) const;
  // Allows() for text; false for anything that is not a numeric address.
  bool Allows(absl::string_view address) const;

  // "default (everything except ...)" or "10.0.0.0/8, 2001:db8::/32", for messages and logs.
  std::string Describe() const;

 private:
  NetworkAllowlist(bool deny_mode, std::vector<IpNetwork> networks)
      : deny_mode_(deny_mode), networks_(std::move(networks)) {}

  // deny_mode_: networks_ is the deny list and everything else is allowed (the default).
  // Otherwise networks_ is the allow list.
  bool deny_mode_;
  std::vector<IpNetwork> networks_;
};

}  // namespace acme_signer::signer::frontdoor

#endif  // ACME_SIGNER_SIGNER_FRONTDOOR_NETWORK_ALLOWLIST_H_
