#include "signer/frontdoor/network_allowlist.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace acme_signer::signer::frontdoor {
namespace {

// `text` escaped and cut for an error message.
std::string Quoted(absl::string_view text) {
  constexpr size_t kMax = 64;
  std::string shown = absl::CHexEscape(text.substr(0, kMax));
  return absl::StrCat("\"", shown, text.size() > kMax ? "...\"" : "\"");
}

constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool IsV4Mapped(absl::Span<const uint8_t> v6) {
  return v6.size() == 16 && std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), v6.begin());
}

// The default deny list (see the header).
constexpr const char* kDefaultDenied[] = {
    "0.0.0.0/8",   "127.0.0.0/8",       "169.254.0.0/16", "100.100.100.200/32",
    "224.0.0.0/4", "240.0.0.0/4",       "::/128",         "::1/128",
    "fe80::/10",   "fd00:ec2::254/128", "ff00::/8",
};

}  // namespace

absl::StatusOr<IpAddress> IpAddress::Parse(absl::string_view text) {
  absl::string_view inner = text;
  if (absl::ConsumePrefix(&inner, "[") && !absl::ConsumeSuffix(&inner, "]")) inner = text;
  // inet_pton needs a NUL-terminated string; anything that long is not an address.
  if (inner.empty() || inner.size() > INET6_ADDRSTRLEN ||
      inner.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("not an IP address: ", Quoted(text)));
  }
  const std::string buffer(inner);
  IpAddress address;
  if (inner.find(':') == absl::string_view::npos) {
    if (inner.size() != text.size() ||
        ::inet_pton(AF_INET, buffer.c_str(), address.bytes_.data()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("not an IP address: ", Quoted(text)));
    }
    address.v4_ = true;
    return address;
  }
  if (::inet_pton(AF_INET6, buffer.c_str(), address.bytes_.data()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("not an IP address: ", Quoted(text)));
  }
  address.v4_ = false;
  return address;
}

IpAddress IpAddress::FromV4(const std::array<uint8_t, 4>& bytes) {
  IpAddress address;
  address.v4_ = true;
  std::copy(bytes.begin(), bytes.end(), address.bytes_.begin());
  return address;
}

IpAddress IpAddress::FromV6(const std::array<uint8_t, 16>& bytes) {
  IpAddress address;
  address.v4_ = false;
  address.bytes_ = bytes;
  return address;
}

IpAddress IpAddress::Unmapped() const {
  if (v4_ || !IsV4Mapped(bytes())) return *this;
  IpAddress v4;
  v4.v4_ = true;
  std::copy(bytes_.begin() + 12, bytes_.end(), v4.bytes_.begin());
  return v4;
}

std::string IpAddress::ToString() const {
  char buffer[INET6_ADDRSTRLEN] = {0};
  if (::inet_ntop(v4_ ? AF_INET : AF_INET6, bytes_.data(), buffer, sizeof(buffer)) == nullptr) {
    return "?";
  }
  return buffer;
}

absl::StatusOr<IpNetwork> IpNetwork::Parse(absl::string_view text) {
  auto invalid = [text](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid network ", Quoted(text), ": ", why));
  };
  absl::string_view address_text = text;
  std::optional<int> prefix;
  if (const size_t slash = text.find('/'); slash != absl::string_view::npos) {
    address_text = text.substr(0, slash);
    absl::string_view digits = text.substr(slash + 1);
    int value = -1;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || digits.size() > 3 ||
        !absl::ascii_isdigit(static_cast<unsigned char>(digits[0])) || error != std::errc() ||
        end != digits.data() + digits.size()) {
      return invalid("the prefix length after '/' is not a number");
    }
    prefix = value;
  }
  absl::StatusOr<IpAddress> address = IpAddress::Parse(address_text);
  if (!address.ok())
    return invalid("not an IPv4 or IPv6 address (CIDR \"a.b.c.d/n\" or \"x::/n\")");
  const int max_prefix = address->is_v4() ? 32 : 128;
  IpNetwork network{*address, prefix.value_or(max_prefix)};
  if (network.prefix_length < 0 || network.prefix_length > max_prefix) {
    return invalid(absl::StrCat("prefix length must be 0..", max_prefix));
  }
  // Host bits must be zero: "10.0.0.1/8" is more likely a typo than a network.
  absl::Span<const uint8_t> bytes = network.base.bytes();
  std::array<uint8_t, 16> masked{};
  std::copy(bytes.begin(), bytes.end(), masked.begin());
  bool host_bits = false;
  for (int bit = network.prefix_length; bit < max_prefix; ++bit) {
    const uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if (masked[bit / 8] & mask) host_bits = true;
    masked[bit / 8] &= static_cast<uint8_t>(~mask);
  }
  if (host_bits) {
    const IpAddress fixed = address->is_v4()
                                ? IpAddress::FromV4({masked[0], masked[1], masked[2], masked[3]})
                                : IpAddress::FromV6(masked);
    return invalid(absl::StrCat("address bits below the /", network.prefix_length,
                                " prefix are set (did you mean ", fixed.ToString(), "/",
                                network.prefix_length, "?)"));
  }
  if (!network.base.is_v4() && network.prefix_length >= 96 && IsV4Mapped(bytes)) {
    network = IpNetwork{network.base.Unmapped(), network.prefix_length - 96};
  }
  return network;
}

bool IpNetwork::Contains(const IpAddress& address) const {
  const IpAddress candidate = address.Unmapped();
  if (candidate.is_v4() != base.is_v4()) return false;
  absl::Span<const uint8_t> a = candidate.bytes();
  absl::Span<const uint8_t> b = base.bytes();
  const int full = prefix_length / 8;
  if (!std::equal(a.begin(), a.begin() + full, b.begin())) return false;
  const int rest = prefix_length % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

std::string IpNetwork::ToString() const {
  return absl::StrCat(base.ToString(), "/", prefix_length);
}

NetworkAllowlist NetworkAllowlist::Default() {
  std::vector<IpNetwork> denied;
  for (const char* entry : kDefaultDenied) {
    absl::StatusOr<IpNetwork> network = IpNetwork::Parse(entry);
    // The table is constant and covered by the unit tests.
    if (network.ok()) denied.push_back(*network);
  }
  return NetworkAllowlist(/*deny_mode=*/true, std::move(denied));
}

absl::StatusOr<NetworkAllowlist> NetworkAllowlist::Parse(absl::Span<const std::string> entries) {
  if (entries.empty()) {
    return absl::InvalidArgumentError(
        "validation allowlist is empty: no address could ever be validated (leave it out for "
        "the default: everything except loopback, link-local and cloud metadata addresses)");
  }
  std::vector<IpNetwork> networks;
  for (size_t i = 0; i < entries.size(); ++i) {
    absl::StatusOr<IpNetwork> network = IpNetwork::Parse(entries[i]);
    if (!network.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("validation allowlist entry ", i + 1, ": ", network.status().message()));
    }
    networks.push_back(*network);
  }
  return NetworkAllowlist(/*deny_mode=*/false, std::move(networks));
}

bool NetworkAllowlist::Allows(const IpAddress& address) const {
  const bool listed = std::any_of(networks_.begin(), networks_.end(),
                                  [&](const IpNetwork& n) { return n.Contains(address); });
  return deny_mode_ ? !listed : listed;
}

bool NetworkAllowlist::Allows(absl::string_view address) const {
  absl::StatusOr<IpAddress> parsed = IpAddress::Parse(address);
  return parsed.ok() && Allows(*parsed);
}

std::string NetworkAllowlist::Describe() const {
  std::string list = absl::StrJoin(
      networks_, ", ", [](std::string* out, const IpNetwork& n) { out->append(n.ToString()); });
  if (deny_mode_) return absl::StrCat("default (every address except ", list, ")");
  return list;
}

}  // namespace acme_signer::signer::frontdoor
