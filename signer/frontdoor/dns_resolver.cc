#include "signer/frontdoor/dns_resolver.h"

#include <ares.h>
#include <poll.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "acme/dns_names.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "http/host_port.h"

namespace acme_signer::signer::frontdoor {
namespace {

// DNS class and record types (RFC 1035, RFC 3596).
constexpr int kClassIn = 1;
constexpr int kTypeA = 1;
constexpr int kTypeTxt = 16;
constexpr int kTypeAaaa = 28;
constexpr int kTypeCaa = 257;  // RFC 8659
// Addresses read from one answer; more are ignored (validation tries at most two).
constexpr int kMaxAddresses = 64;

const char* TypeName(int type) {
  switch (type) {
    case kTypeA:
      return "A";
    case kTypeAaaa:
      return "AAAA";
    case kTypeTxt:
      return "TXT";
    case kTypeCaa:
      return "CAA";
  }
  return "?";
}

absl::Status AresInit() {
  static std::once_flag once;
  static int result = ARES_SUCCESS;
  std::call_once(once, [] { result = ares_library_init(ARES_LIB_INIT_ALL); });
  if (result != ARES_SUCCESS) {
    return absl::InternalError(
        absl::StrCat("c-ares initialisation failed: ", ares_strerror(result)));
  }
  return absl::OkStatus();
}

struct ChannelDeleter {
  void operator()(ares_channeldata* channel) const { ares_destroy(channel); }
};
using Channel = std::unique_ptr<ares_channeldata, ChannelDeleter>;

struct AresDataDeleter {
  void operator()(void* data) const { ares_free_data(data); }
};

// One outstanding query and, once answered, its outcome.
struct Query {
  int type = 0;
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<unsigned char> answer;
};

void OnAnswer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* query = static_cast<Query*>(arg);
  query->done = true;
  query->status = status;
  if (abuf != nullptr && alen > 0) query->answer.assign(abuf, abuf + alen);
}

timeval WaitLimit(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(absl::ToInt64Seconds(d));
  tv.tv_usec = static_cast<suseconds_t>(absl::ToInt64Microseconds(d % absl::Seconds(1)));
  return tv;
}

}  // namespace

// "ip:port" entries normalised for ares_set_servers_ports_csv, or InvalidArgument naming
// the bad entry.
absl::StatusOr<std::string> NormaliseResolverServers(absl::string_view servers) {
  std::vector<std::string> out;
  for (absl::string_view raw : absl::StrSplit(servers, ',')) {
    absl::string_view entry = absl::StripAsciiWhitespace(raw);
    auto invalid = [entry](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("DNS resolver \"", absl::CHexEscape(entry.substr(0, 80)), "\": ", why,
                       " (expected \"ip:port\", \"[ipv6]:port\" or \"\" for the system resolver)"));
    };
    absl::StatusOr<http::HostPort> split = http::SplitHostOptionalPort(entry, 53);
    if (!split.ok()) return invalid(split.status().message());
    absl::StatusOr<IpAddress> address = IpAddress::Parse(split->host);
    if (!address.ok()) return invalid("not a numeric IP address");
    const int port = split->port;
    if (port < 1) return invalid("bad port");
    out.push_back(http::HostPort{address->ToString(), port}.ToString());
  }
  if (out.empty()) return absl::InvalidArgumentError("DNS resolver: empty server list");
  return absl::StrJoin(out, ",");
}

absl::StatusOr<std::unique_ptr<DnsResolver>> DnsResolver::Create(Options options) {
  if (options.try_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("DNS resolver: try_timeout must be positive");
  }
  if (options.lookup_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("DNS resolver: lookup_timeout must be positive");
  }
  if (options.tries < 1 || options.tries > 10) {
    return absl::InvalidArgumentError("DNS resolver: tries must be 1..10");
  }
  std::string csv;
  if (!absl::StripAsciiWhitespace(options.servers).empty()) {
    absl::StatusOr<std::string> normalised = NormaliseResolverServers(options.servers);
    if (!normalised.ok()) return normalised.status();
    csv = *std::move(normalised);
  }
  if (absl::Status init = AresInit(); !init.ok()) return init;
  return std::unique_ptr<DnsResolver>(new DnsResolver(std::move(options), std::move(csv)));
}

std::string DnsResolver::Describe() const {
  return servers_csv_.empty() ? "the system resolver" : absl::StrCat("resolver ", servers_csv_);
}

namespace {

// Sends `queries` for `name` and drives c-ares until all are answered or `deadline` passes
// (then they are cancelled and end with ARES_ECANCELLED). Errors here are local failures
// (channel set-up, poll); per-query outcomes are in the Query objects.
absl::Status RunQueries(const DnsResolverOptions& options, const std::string& servers_csv,
                        const std::string& name, std::vector<Query>& queries, absl::Time deadline) {
  ares_options ares_opts{};
  // NOCHECKRESP: a SERVFAIL or REFUSED answer is reported as such. Without it c-ares 1.18
  // moves on to the next server and, when none is left, reports "connection refused",
  // which would hide the real DNS problem from the host's administrator.
  ares_opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_NOCHECKRESP;
  ares_opts.timeout =
      static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(options.try_timeout)));
  ares_opts.tries = options.tries;
  ares_channel raw = nullptr;
  int rc =
      ares_init_options(&raw, &ares_opts, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
  Channel channel(raw);
  if (rc != ARES_SUCCESS) {
    return absl::UnavailableError(absl::StrCat("setting up the DNS resolver: ", ares_strerror(rc)));
  }
  if (!servers_csv.empty()) {
    rc = ares_set_servers_ports_csv(channel.get(), servers_csv.c_str());
    if (rc != ARES_SUCCESS) {
      return absl::UnavailableError(
          absl::StrCat("setting the DNS servers \"", servers_csv, "\": ", ares_strerror(rc)));
    }
  }
  for (Query& query : queries) {
    ares_query(channel.get(), name.c_str(), kClassIn, query.type, OnAnswer, &query);
  }
  auto pending = [&queries] {
    return std::any_of(queries.begin(), queries.end(), [](const Query& q) { return !q.done; });
  };
  // Each round waits at most until c-ares' next timeout or the deadline, and each c-ares
  // timeout consumes a try, so the loop ends after at most tries * servers rounds plus the
  // rounds with socket activity, and in any case at the deadline.
  while (pending()) {
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      ares_cancel(channel.get());  // Calls every pending callback with ARES_ECANCELLED.
      break;
    }
    std::array<ares_socket_t, ARES_GETSOCK_MAXNUM> sockets{};
    const int bits = ares_getsock(channel.get(), sockets.data(), ARES_GETSOCK_MAXNUM);
    std::vector<pollfd> fds;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
      if (events != 0) fds.push_back(pollfd{sockets[i], events, 0});
    }
    timeval max_wait = WaitLimit(deadline - now);
    timeval wait{};
    const timeval* next = ares_timeout(channel.get(), &max_wait, &wait);
    const int64_t wait_ms = static_cast<int64_t>(next->tv_sec) * 1000 +
                            (static_cast<int64_t>(next->tv_usec) + 999) / 1000;
    const int ready =
        ::poll(fds.data(), fds.size(), static_cast<int>(std::min<int64_t>(wait_ms, 60000)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ares_cancel(channel.get());
      return ErrnoStatus(saved, "waiting for DNS answers");
    }
    if (ready == 0) {
      ares_process_fd(channel.get(), ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // Timeouts.
      continue;
    }
    for (const pollfd& fd : fds) {
      const ares_socket_t read_fd =
          (fd.revents & (POLLIN | POLLERR | POLLHUP)) != 0 ? fd.fd : ARES_SOCKET_BAD;
      const ares_socket_t write_fd = (fd.revents & POLLOUT) != 0 ? fd.fd : ARES_SOCKET_BAD;
      if (read_fd != ARES_SOCKET_BAD || write_fd != ARES_SOCKET_BAD) {
        ares_process_fd(channel.get(), read_fd, write_fd);
      }
    }
  }
  return absl::OkStatus();
}

// Ranks failures so that the most telling one is reported for A+AAAA.
int Severity(const absl::Status& status) {
  if (absl::IsDeadlineExceeded(status)) return 4;
  if (absl::IsUnavailable(status)) return 3;
  if (absl::IsNotFound(status) && absl::StrContains(status.message(), "NXDOMAIN")) return 2;
  return 1;
}

}  // namespace

namespace {

// The outcome of `query` as a Status (OK when c-ares reports success), naming what was asked.
absl::Status QueryStatus(const Query& query, absl::string_view name, absl::string_view server) {
  const std::string what = absl::StrCat("DNS lookup of ", TypeName(query.type), " records for ",
                                        name, " (", server, ")");
  switch (query.status) {
    case ARES_SUCCESS:
      return absl::OkStatus();
    case ARES_ENOTFOUND:
      return absl::NotFoundError(absl::StrCat(what, ": NXDOMAIN (the name does not exist)"));
    case ARES_ENODATA:
      return absl::NotFoundError(
          absl::StrCat(what, ": no ", TypeName(query.type), " records (NOERROR, empty answer)"));
    case ARES_ESERVFAIL:
      return absl::UnavailableError(absl::StrCat(what, ": SERVFAIL"));
    case ARES_EREFUSED:
      return absl::UnavailableError(absl::StrCat(what, ": REFUSED"));
    case ARES_ECONNREFUSED:
      return absl::UnavailableError(
          absl::StrCat(what, ": connection refused (is the resolver running?)"));
    case ARES_ETIMEOUT:
    case ARES_ECANCELLED:
      return absl::DeadlineExceededError(absl::StrCat(what, ": timed out"));
    case ARES_EBADRESP:
    case ARES_EFORMERR:
      return absl::UnavailableError(absl::StrCat(what, ": malformed answer"));
    default:
      return absl::UnavailableError(absl::StrCat(what, ": ", ares_strerror(query.status)));
  }
}

// One query of `type` for `query_name`, answered: the query with its answer bytes, or the
// error naming the name and `server` (the LookupTxt / LookupCaa start).
absl::StatusOr<Query> AnsweredQuery(const DnsResolverOptions& options,
                                    const std::string& servers_csv, const std::string& server,
                                    const std::string& query_name, int type, absl::Time deadline) {
  std::vector<Query> queries(1);
  queries[0].type = type;
  deadline = std::min(deadline, absl::Now() + options.lookup_timeout);
  RETURN_IF_ERROR(RunQueries(options, servers_csv, query_name, queries, deadline));
  RETURN_IF_ERROR(QueryStatus(queries[0], query_name, server));
  return std::move(queries[0]);
}

// The error for an answer c-ares could not parse (`rc`).
absl::Status ParseFailure(Query query, int rc, absl::string_view name, absl::string_view server) {
  query.status = rc;
  return QueryStatus(query, name, server);
}

}  // namespace

absl::StatusOr<std::vector<IpAddress>> DnsResolver::LookupAddresses(absl::string_view name,
                                                                    absl::Time deadline) const {
  if (absl::Status valid = acme::ValidateDnsQueryName(name); !valid.ok()) return valid;
  const std::string query_name(name);
  std::vector<Query> queries(2);
  queries[0].type = kTypeAaaa;
  queries[1].type = kTypeA;
  deadline = std::min(deadline, absl::Now() + options_.lookup_timeout);
  if (absl::Status run = RunQueries(options_, servers_csv_, query_name, queries, deadline);
      !run.ok()) {
    return run;
  }
  const std::string server = Describe();
  std::vector<IpAddress> addresses;
  std::vector<absl::Status> failures;
  for (const Query& query : queries) {
    absl::Status status = QueryStatus(query, query_name, server);
    if (status.ok()) {
      const unsigned char* answer = query.answer.data();
      const int length = static_cast<int>(query.answer.size());
      int count = kMaxAddresses;
      int rc = ARES_SUCCESS;
      if (query.type == kTypeA) {
        std::array<ares_addrttl, kMaxAddresses> records{};
        rc = ares_parse_a_reply(answer, length, nullptr, records.data(), &count);
        for (int i = 0; rc == ARES_SUCCESS && i < count; ++i) {
          std::array<uint8_t, 4> bytes;
          std::memcpy(bytes.data(), &records[i].ipaddr, 4);
          addresses.push_back(IpAddress::FromV4(bytes));
        }
      } else {
        std::array<ares_addr6ttl, kMaxAddresses> records{};
        rc = ares_parse_aaaa_reply(answer, length, nullptr, records.data(), &count);
        for (int i = 0; rc == ARES_SUCCESS && i < count; ++i) {
          std::array<uint8_t, 16> bytes;
          std::memcpy(bytes.data(), &records[i].ip6addr, 16);
          addresses.push_back(IpAddress::FromV6(bytes));
        }
      }
      if (rc != ARES_SUCCESS) {
        Query parsed = query;
        parsed.status = rc;
        status = QueryStatus(parsed, query_name, server);
      }
    }
    if (!status.ok()) failures.push_back(std::move(status));
  }
  // Each address once, in answer order (AAAA first).
  std::vector<IpAddress> unique;
  for (const IpAddress& a : addresses) {
    if (std::find(unique.begin(), unique.end(), a) == unique.end()) unique.push_back(a);
  }
  if (!unique.empty()) return unique;
  if (failures.size() == 2 && Severity(failures[0]) == 1 && Severity(failures[1]) == 1) {
    return absl::NotFoundError(
        absl::StrCat("DNS lookup of ", query_name, " (", server, "): no A or AAAA records"));
  }
  if (failures.empty()) {
    return absl::NotFoundError(
        absl::StrCat("DNS lookup of ", query_name, " (", server, "): no usable A or AAAA records"));
  }
  return *std::max_element(
      failures.begin(), failures.end(),
      [](const absl::Status& a, const absl::Status& b) { return Severity(a) < Severity(b); });
}

absl::StatusOr<std::vector<std::string>> DnsResolver::LookupTxt(absl::string_view name,
                                                                absl::Time deadline) const {
  if (absl::Status valid = acme::ValidateDnsQueryName(name); !valid.ok()) return valid;
  const std::string query_name(name);
  const std::string server = Describe();
  ASSIGN_OR_RETURN(Query query, AnsweredQuery(options_, servers_csv_, server, query_name,
                                              kTypeTxt, deadline));
  ares_txt_ext* raw = nullptr;
  const int rc = ares_parse_txt_reply_ext(query.answer.data(),
                                          static_cast<int>(query.answer.size()), &raw);
  std::unique_ptr<ares_txt_ext, AresDataDeleter> list(raw);
  if (rc != ARES_SUCCESS) return ParseFailure(query, rc, query_name, server);
  std::vector<std::string> records;
  for (const ares_txt_ext* part = list.get(); part != nullptr; part = part->next) {
    const absl::string_view text(reinterpret_cast<const char*>(part->txt), part->length);
    if (part->record_start || records.empty()) {
      records.emplace_back(text);
    } else {
      records.back().append(text.data(), text.size());
    }
  }
  if (records.empty()) {
    return absl::NotFoundError(absl::StrCat("DNS lookup of TXT records for ", query_name, " (",
                                            server, "): no TXT records"));
  }
  return records;
}

absl::StatusOr<std::vector<CaaRecord>> DnsResolver::LookupCaa(absl::string_view name,
                                                              absl::Time deadline) const {
  if (absl::Status valid = acme::ValidateDnsQueryName(name); !valid.ok()) return valid;
  const std::string query_name(name);
  const std::string server = Describe();
  ASSIGN_OR_RETURN(Query query, AnsweredQuery(options_, servers_csv_, server, query_name,
                                              kTypeCaa, deadline));
  ares_caa_reply* raw = nullptr;
  const int rc = ares_parse_caa_reply(query.answer.data(),
                                      static_cast<int>(query.answer.size()), &raw);
  std::unique_ptr<ares_caa_reply, AresDataDeleter> list(raw);
  if (rc != ARES_SUCCESS) return ParseFailure(query, rc, query_name, server);
  std::vector<CaaRecord> records;
  for (const ares_caa_reply* r = list.get(); r != nullptr; r = r->next) {
    CaaRecord record;
    record.flags = r->critical & 0xff;  // c-ares 1.18 keeps the whole flags octet here
    record.tag.assign(reinterpret_cast<const char*>(r->property), r->plength);
    record.value.assign(reinterpret_cast<const char*>(r->value), r->length);
    records.push_back(std::move(record));
  }
  if (records.empty()) {
    return absl::NotFoundError(absl::StrCat("DNS lookup of CAA records for ", query_name, " (",
                                            server, "): no CAA records"));
  }
  return records;
}

}  // namespace acme_signer::signer::frontdoor
