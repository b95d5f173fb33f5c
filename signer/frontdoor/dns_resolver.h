// DnsResolver: the DNS lookups of the front door's challenge validation (A+AAAA for http-01,
// TXT for dns-01) and `acme-signer account caa --check` (CAA), on c-ares, against a configured resolver or the system's.
//
// Behaviour:
//  - Options::servers "" = the system resolver (nameservers of /etc/resolv.conf, read by
//    c-ares at each lookup); otherwise "ip:port" or a comma-separated list of them, IPv4 or
//    bracketed IPv6 ("127.0.0.1:8053", "[::1]:53"); the port defaults to 53. The lab points it
//    at pebble-challtestsrv's DNS port.
//  - Plain DNS queries (ares_query): no /etc/hosts, no search domains, names taken as absolute.
//    CNAMEs are followed by the recursive resolver and by c-ares' answer parsing.
//  - Each lookup is bounded: per-try timeout and number of tries (c-ares' retry schedule) and
//    an overall deadline (Options::lookup_timeout, or the caller's earlier deadline), after
//    which pending queries are cancelled. A truncated UDP answer is retried over TCP. A
//    SERVFAIL or REFUSED answer ends the lookup (it is not retried at another server), so
//    that the error says what the DNS said.
// Errors (each names the queried name and record type and the DNS outcome):
//  InvalidArgument    the name is not a DNS name (empty, too long, bad characters);
//  NotFound           "NXDOMAIN" (the name does not exist) or "no <type> records" (NOERROR
//                     with an empty answer);
//  Unavailable        SERVFAIL, REFUSED, a connection refused by the resolver, a malformed
//                     answer, or another resolver failure (c-ares' reason);
//  DeadlineExceeded   "timed out": no answer within the tries or before the deadline.
//
// Thread-safety: every method may be called concurrently; each lookup uses its own c-ares
// channel (c-ares 1.18 channels are not thread-safe), owned for the lookup's duration.
#ifndef ACME_SIGNER_SIGNER_FRONTDOOR_DNS_RESOLVER_H_
#define ACME_SIGNER_SIGNER_FRONTDOOR_DNS_RESOLVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "signer/frontdoor/network_allowlist.h"

namespace acme_signer::signer::frontdoor {

// The one parser of a resolver setting (DnsResolverOptions::servers, the config key
// [acme_server] validation_resolver): "ip", "ip:port" or "[ipv6]:port" entries, comma-separated,
// port 53 when omitted; addresses only (a resolver cannot be found by name). Returns the list
// normalised for c-ares, or InvalidArgument naming the bad entry.
absl::StatusOr<std::string> NormaliseResolverServers(absl::string_view servers);

// One CAA resource record (RFC 8659 §4.1).
struct CaaRecord {
  int flags = 0;      // the flags octet; 128 = issuer critical
  std::string tag;    // "issue", "issuewild", "iodef", ... as sent (compare case-insensitively)
  std::string value;  // the property value, as sent

  bool critical() const { return (flags & 0x80) != 0; }
};

struct DnsResolverOptions {
  // "" = system resolver; else "ip:port[,ip:port...]" (see the header comment).
  std::string servers;
  // Wait for one answer before c-ares tries again (it doubles on each round).
  absl::Duration try_timeout = absl::Seconds(2);
  // Attempts per server.
  int tries = 2;
  // Upper bound for one lookup (all record types, all tries).
  absl::Duration lookup_timeout = absl::Seconds(10);
};

class DnsResolver {
 public:
  using Options = DnsResolverOptions;

  // Validates `options`: InvalidArgument naming the bad server entry ("DNS resolver
  // \"1.2.3.4:99999\": bad port") or a non-positive timeout / try count. Initialises c-ares
  // once per process.
  static absl::StatusOr<std::unique_ptr<DnsResolver>> Create(Options options);

  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  // The A and AAAA records of `name` (queried in parallel), IPv6 first, each address once.
  // Succeeds when either type has records (a failure of the other type is then ignored, as
  // CAs do); otherwise the more telling error of the two (timeout / SERVFAIL before NXDOMAIN
  // before "no records").
  absl::StatusOr<std::vector<IpAddress>> LookupAddresses(
      absl::string_view name, absl::Time deadline = absl::InfiniteFuture()) const;

  // The TXT records of `name`, each record's character-strings concatenated (RFC 8555 §8.4
  // values are one string, but long ones may be split).
  absl::StatusOr<std::vector<std::string>> LookupTxt(
      absl::string_view name, absl::Time deadline = absl::InfiniteFuture()) const;

  // The CAA records at exactly `name` (no tree climbing: see signer/caa_policy.h), in answer
  // order. NotFound ("no CAA records" or NXDOMAIN) when there are none there.
  absl::StatusOr<std::vector<CaaRecord>> LookupCaa(
      absl::string_view name, absl::Time deadline = absl::InfiniteFuture()) const;

  // "system resolver" or the configured server list, for messages.
  std::string Describe() const;
  const Options& options() const { return options_; }

 private:
  DnsResolver(Options options, std::string servers_csv)
      : options_(std::move(options)), servers_csv_(std::move(servers_csv)) {}

  const Options options_;
  // Normalised for ares_set_servers_ports_csv; empty for the system resolver.
  const std::string servers_csv_;
};

}  // namespace acme_signer::signer::frontdoor

#endif  // ACME_SIGNER_SIGNER_FRONTDOOR_DNS_RESOLVER_H_
