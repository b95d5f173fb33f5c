// Fuzzes the ACME front door's endpoints (signer/frontdoor/acme_server.h) as the network sees
// them: each input becomes one http::ServerRequest handed to AcmeServer::Handle, the function the
// HTTPS listener calls for every request. The server is real and built once per process: a
// SignerConfig parsed from TOML (host web1 with front_door = true, web2 without), a StateStore
// and an AuditLog in a temporary directory, the RefusalBudget, RateLimiter and NonceStore, a
// DnsResolver on 127.0.0.1:9 with the http-01/dns-01 validators, and an AcmeClient/UpstreamIssuer
// over an HttpClient that fails every request (nothing leaves the process). The store holds
// front-door accounts in each state (valid, deactivated, revoked, of a host without the front
// door, of a host no longer configured), all with a public key whose private key the harness
// does not have: no signature can be forged, so validation and the upstream CA are never
// reached. What is fuzzed is the routing, the JWS parsing and checking, the account lookup by
// kid and the refusal path (problem documents, audit through the refusal budget).
//
// Input layout:
//   byte 0   bits 0-1 the method (GET, HEAD, POST, PUT), bit 2 body_too_large, bits 3-4 the
//            peer address, bit 5 no Content-Type header at all
//   byte 1   the path: one of kPaths below (X = the first line), or the first line as is ("/"
//            when empty: a request line always has a target)
//   line 1   X (a '?' starts the query)
//   line 2   the Content-Type value
//   rest     the body
//
// Invariants checked on every response (a violation aborts, so libFuzzer keeps the input):
//   - the status is in 200..599;
//   - a response with status >= 400 is a problem document: Content-Type application/problem+json
//     and a JSON object body whose "type" starts with urn:ietf:params:acme:error:; a JSON
//     (application/json) body parses;
//   - every response to a POST carries Replay-Nonce (RFC 8555 §6.5), errors included;
//   - no POST succeeds (2xx): the harness holds no account key, so a success would be an
//     authentication bypass;
//   - no header name or value holds CR, LF or NUL; no body contains the temporary directory's
//     path or "PRIVATE KEY" (compared on letters and digits; not when the request carried it:
//     problem details quote the request).
#include <stdlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "acme/client.h"
#include "acme/problem.h"
#include "acme/server_problem.h"
#include "fuzz/fuzz_support.h"
#include "http/http_client.h"
#include "http/https_server.h"
#include "nlohmann/json.hpp"
#include "signer/audit_log.h"
#include "signer/config.h"
#include "signer/config_holder.h"
#include "signer/frontdoor/acme_server.h"
#include "signer/frontdoor/dns01_validator.h"
#include "signer/frontdoor/dns_resolver.h"
#include "signer/frontdoor/http01_validator.h"
#include "signer/frontdoor/network_allowlist.h"
#include "signer/frontdoor/nonce_store.h"
#include "signer/frontdoor/upstream_issuer.h"
#include "signer/rate_limiter.h"
#include "signer/refusal_budget.h"
#include "signer/state_store.h"

namespace acme_signer::signer::frontdoor {
namespace {

constexpr char kExternalUrl[] = "https://fd.test";

// The config's directory is the temporary directory (relative paths resolve against it).
constexpr char kConfigText[] = R"([server]
tls_cert = "tls/server.pem"
tls_key = "tls/server.key"
agent_ca_cert = "tls/agent-ca.pem"
trust_domain = "dept.example"

[acme]
directory_url = "https://ca.test/dir"

[hsm]
module = "softhsm2"
pin_file = "hsm.pin"

[state]
dir = "state"

[audit]
log = "audit.log"

[[agents]]
name = "web1"
allowed_names = ["www.dept.example", "*.lab.test"]
front_door = true

[[agents]]
name = "web2"
allowed_names = ["web2.dept.example"]

[acme_server]
listen = "127.0.0.1:0"
external_url = "https://fd.test"
tls_certificate = "tls/front-door.pem"
tls_private_key = "tls/front-door.key"
validation_resolver = "127.0.0.1:9"
validation_http_port = 9
)";

// A valid P-256 public key (RFC 7638 canonical form) standing for the stored accounts' key; its
// private key is not in the harness.
constexpr char kAccountJwk[] =
    R"({"crv":"P-256","kty":"EC","x":"UhKerSCYVzEZCfZaDnZWnNhgg2jGT9gz9lWMmtfXKlo",)"
    R"("y":"4j3JUJ0JhFt2rq4wQuw3TmAAzZk95nrZs5-j96VjqS8"})";

// Accounts in the store (account URL https://fd.test/acct/<id>), so that kid lookups find one
// in each state the front door distinguishes before it checks the signature.
struct StoredAccount {
  const char* id;
  const char* host;
  const char* status;
};
constexpr StoredAccount kStoredAccounts[] = {
    {"fuzz-valid", "web1", "valid"},      {"fuzz-deactivated", "web1", "deactivated"},
    {"fuzz-revoked", "web1", "revoked"},  {"fuzz-web2", "web2", "valid"},  // front_door = false
    {"fuzz-gone", "gone", "valid"},  // a host no longer configured
};

// Every request fails: no byte leaves the process.
class UnreachableHttpClient : public http::HttpClient {
 public:
  absl::StatusOr<http::HttpResponse> Do(const http::HttpRequest& request) override {
    return absl::UnavailableError(
        absl::StrCat("fuzz harness: no network (", request.url.size(), "-byte URL)"));
  }
};

[[noreturn]] void Die(absl::string_view what) {
  std::fprintf(stderr, "front_door_fuzz: harness setup failed: %.*s\n",
               static_cast<int>(what.size()), what.data());
  std::abort();
}

void Must(const absl::Status& status, absl::string_view what) {
  if (!status.ok()) Die(absl::StrCat(what, ": ", status.ToString()));
}

template <typename T>
T Must(absl::StatusOr<T> value, absl::string_view what) {
  if (!value.ok()) Die(absl::StrCat(what, ": ", value.status().ToString()));
  return *std::move(value);
}

// Everything the server uses; built once, never destroyed (process lifetime, reachable from
// the static pointer below so LeakSanitizer does not count it).
struct Harness {
  std::string dir;
  std::unique_ptr<ConfigHolder> config;
  std::unique_ptr<StateStore> store;
  fuzz::FixedKeySigner audit_key;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<RefusalBudget> refusals;
  std::unique_ptr<RateLimiter> rate_limiter;  // counts in `store`
  fuzz::FixedMacSigner eab_master;
  std::unique_ptr<NonceStore> nonces;
  std::unique_ptr<Http01Validator> http01;
  std::unique_ptr<Dns01Validator> dns01;
  UnreachableHttpClient http;
  fuzz::FixedKeySigner account_key;
  std::unique_ptr<acme::AcmeClient> acme;
  std::unique_ptr<UpstreamIssuer> upstream;
  std::unique_ptr<AcmeServer> server;
};

Harness* harness_for_cleanup = nullptr;

void RemoveTemporaryDirectory() {
  if (harness_for_cleanup == nullptr) return;
  std::error_code ignored;
  std::filesystem::remove_all(harness_for_cleanup->dir, ignored);
}

Harness* BuildHarness() {
  auto* h = new Harness();
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp",
                                     "/front_door_fuzz.XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) Die("mkdtemp");
  h->dir = pattern;
  harness_for_cleanup = h;
  std::atexit(RemoveTemporaryDirectory);

  SignerConfig config =
      Must(ParseSignerConfig(kConfigText, absl::StrCat(h->dir, "/acme-signer.toml")), "config");
  if (!config.acme_server.has_value()) Die("config: no [acme_server]");
  const AcmeServerConfig server_config = *config.acme_server;
  h->config = std::make_unique<ConfigHolder>(std::move(config));
  h->store = Must(StateStore::Open(absl::StrCat(h->dir, "/state.db")), "state store");
  h->rate_limiter = std::make_unique<RateLimiter>(*h->store);
  for (const StoredAccount& stored : kStoredAccounts) {
    FrontDoorAccount account;
    account.id = stored.id;
    account.host = stored.host;
    account.eab_kid = absl::StrCat("eab-", stored.id);
    account.jwk = kAccountJwk;
    account.thumbprint = absl::StrCat("thumbprint-", stored.id);
    account.contact = {"mailto:admin@dept.example"};
    account.created = absl::Now();
    Must(
        h->store->AddFrontDoorCredential(account.eab_kid, account.host, "default", account.created),
        "EAB credential");
    Must(h->store->CreateFrontDoorAccount(account), "front-door account");
    account.status = stored.status;
    Must(h->store->UpdateFrontDoorAccount(account), "front-door account status");
  }
  // An unbound credential of web1 (the key id of the newAccount seeds).
  Must(h->store->AddFrontDoorCredential("eab-kid-1", "web1", "default", absl::Now()),
       "EAB credential");
  AuditLogOptions audit_options;
  audit_options.path = absl::StrCat(h->dir, "/audit.log");
  audit_options.state_store = h->store.get();
  h->audit = Must(AuditLog::Open(audit_options, &h->audit_key), "audit log");
  AuditLog* audit = h->audit.get();
  h->refusals = std::make_unique<RefusalBudget>(
      RefusalBudget::Options(),
      [audit](const AuditRecord& record) { return audit->Append(record).status(); });
  h->nonces = Must(NonceStore::Create(NonceStore::Options()), "nonce store");

  DnsResolver::Options resolver_options;
  resolver_options.servers = server_config.validation_resolver;
  std::shared_ptr<const DnsResolver> resolver =
      Must(DnsResolver::Create(resolver_options), "resolver");
  Http01Validator::Options http01_options;
  http01_options.port = static_cast<int>(server_config.validation_http_port);
  h->http01 = Must(Http01Validator::Create(http01_options, resolver, NetworkAllowlist::Default()),
                   "http-01 validator");
  h->dns01 = Must(Dns01Validator::Create(resolver), "dns-01 validator");

  acme::AcmeClientOptions acme_options;
  acme_options.directory_url = "https://ca.test/dir";
  acme_options.account_url = "https://ca.test/acct/1";
  acme_options.max_unavailable_retries = 0;
  acme_options.sleep = [](absl::Duration) {};
  h->acme = Must(acme::AcmeClient::Create(h->http, h->account_key, acme_options), "ACME client");
  h->upstream = Must(UpstreamIssuer::Create(h->acme.get(), UpstreamIssuer::Options()),
                     "upstream issuer");

  AcmeServer::Deps deps;
  deps.config = h->config.get();
  deps.store = h->store.get();
  deps.audit = h->audit.get();
  deps.refusals = h->refusals.get();
  deps.rate_limiter = h->rate_limiter.get();
  deps.eab_master = &h->eab_master;
  deps.nonces = h->nonces.get();
  deps.http01 = h->http01.get();
  deps.dns01 = h->dns01.get();
  deps.accounts.emplace(std::string(kDefaultAccountName),
                        UpstreamAccount{h->upstream.get(), h->acme.get()});
  h->server = Must(AcmeServer::Create(server_config.external_url, deps), "AcmeServer");
  if (server_config.external_url != kExternalUrl) Die("unexpected external_url");
  return h;
}

Harness& GetHarness() {
  static Harness* const harness = BuildHarness();
  return *harness;
}

constexpr const char* kMethods[] = {"GET", "HEAD", "POST", "PUT"};
constexpr const char* kPeers[] = {"ipv4:127.0.0.1:40000", "ipv4:127.0.0.2:40001",
                                  "ipv6:[::1]:40002", ""};
// {prefix, suffix} around X; the last entries take X as the whole path.
constexpr std::pair<const char*, const char*> kPaths[] = {
    {"/directory", ""},     {"/new-nonce", ""},        {"/new-account", ""},
    {"/new-order", ""},     {"/acct/", ""},            {"/order/", ""},
    {"/order/", "/finalize"}, {"/authz/", ""},         {"/chall/", "/0"},
    {"/cert/", ""},         {"/cert/", "/1"},          {"/revoke-cert", ""},
    {"/renewal-info/", ""}, {"/key-change", ""},       {"", ""},
    {"", ""},
};

// Splits off the text up to the next '\n' (dropped); all of it when there is none.
absl::string_view TakeLine(absl::string_view& rest) {
  const size_t end = rest.find('\n');
  absl::string_view line = rest.substr(0, end);
  rest.remove_prefix(end == absl::string_view::npos ? rest.size() : end + 1);
  return line;
}

http::ServerRequest Decode(absl::string_view input) {
  http::ServerRequest request;
  const uint8_t flags = input.empty() ? 0 : static_cast<uint8_t>(input[0]);
  const uint8_t path_kind = input.size() < 2 ? 0 : static_cast<uint8_t>(input[1]);
  input.remove_prefix(std::min<size_t>(input.size(), 2));
  request.method = kMethods[flags & 3];
  request.body_too_large = (flags & 4) != 0;
  request.peer = kPeers[(flags >> 3) & 3];
  absl::string_view x = TakeLine(input);
  const absl::string_view content_type = TakeLine(input);
  request.body = std::string(input);
  const auto& [prefix, suffix] = kPaths[path_kind % std::size(kPaths)];
  std::string target = absl::StrCat(prefix, x, suffix);
  // An HTTP request line always has a target: the listener never passes an empty one.
  if (target.empty() || target[0] == '?') target.insert(0, "/");
  if (const size_t q = target.find('?'); q != std::string::npos) {
    request.query = target.substr(q + 1);
    target.resize(q);
  }
  request.path = std::move(target);
  if ((flags & 32) == 0) request.headers.emplace_back("content-type", std::string(content_type));
  request.headers.emplace_back("host", "fd.test");
  return request;
}

std::string HeaderValue(const http::ServerResponse& response, absl::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

bool HasHeader(const http::ServerResponse& response, absl::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (absl::EqualsIgnoreCase(key, name)) return true;
  }
  return false;
}

[[noreturn]] void Violation(absl::string_view what, const http::ServerRequest& request,
                            const http::ServerResponse& response) {
  std::fprintf(stderr, "front_door_fuzz: invariant violated: %.*s\n", static_cast<int>(what.size()),
               what.data());
  std::fprintf(stderr, "request: %s %s (query %zu bytes, body %zu bytes, too large %d)\n",
               request.method.c_str(), request.path.c_str(), request.query.size(),
               request.body.size(), request.body_too_large ? 1 : 0);
  std::fprintf(stderr, "response: %d\n", response.status);
  for (const auto& [key, value] : response.headers) {
    std::fprintf(stderr, "  %s: %s\n", key.c_str(), value.c_str());
  }
  std::fprintf(stderr, "  body: %s\n", response.body.c_str());
  std::abort();
}

// Only the letters and digits of `text`: problem details quote parts of the request after
// replacing control characters, escaping and truncating them, so texts are compared on these.
std::string LettersAndDigits(absl::string_view text) {
  std::string out;
  for (char c : text) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) out.push_back(c);
  }
  return out;
}

// True when the response body holds `secret` and the request did not already carry it.
bool Leaks(const http::ServerRequest& request, const http::ServerResponse& response,
           absl::string_view secret) {
  const std::string needle = LettersAndDigits(secret);
  if (!absl::StrContains(LettersAndDigits(response.body), needle)) return false;
  std::string sent = absl::StrCat(request.path, request.query, request.body);
  for (const auto& [key, value] : request.headers) absl::StrAppend(&sent, value);
  return !absl::StrContains(LettersAndDigits(sent), needle);
}

void Check(const Harness& h, const http::ServerRequest& request,
           const http::ServerResponse& response) {
  if (response.status < 200 || response.status > 599) {
    Violation("status outside 200..599", request, response);
  }
  for (const auto& [key, value] : response.headers) {
    if (key.empty() || absl::StrContains(key, '\r') || absl::StrContains(key, '\n') ||
        absl::StrContains(key, '\0') || absl::StrContains(value, '\r') ||
        absl::StrContains(value, '\n') || absl::StrContains(value, '\0')) {
      Violation("a header name or value is empty or holds CR, LF or NUL", request, response);
    }
  }
  const std::string content_type = HeaderValue(response, "content-type");
  if (response.status >= 400) {
    if (content_type != acme::kProblemContentType) {
      Violation("an error response is not application/problem+json", request, response);
    }
    const nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
    if (!body.is_object() || !body.contains("type") || !body["type"].is_string() ||
        !absl::StartsWith(body["type"].get<std::string>(), acme::kAcmeErrorPrefix)) {
      Violation("a problem document without an urn:ietf:params:acme:error: type", request,
                response);
    }
    if (body.contains("status") &&
        (!body["status"].is_number_integer() || body["status"].get<int>() != response.status)) {
      Violation("a problem document's status differs from the HTTP status", request, response);
    }
  } else if (content_type == acme::kProblemContentType) {
    Violation("a problem document with a success status", request, response);
  }
  if (content_type == "application/json" &&
      nlohmann::json::parse(response.body, nullptr, false).is_discarded()) {
    Violation("an application/json body that is not JSON", request, response);
  }
  if (request.method == "POST") {
    if (!HasHeader(response, "replay-nonce")) {
      Violation("a POST response without Replay-Nonce", request, response);
    }
    if (response.status < 300) {
      Violation("a POST succeeded although no account key is known to the harness", request,
                response);
    }
  }
  if (Leaks(request, response, h.dir)) {
    Violation("a response body names the signer's files (the temporary directory)", request,
              response);
  }
  if (Leaks(request, response, "PRIVATE KEY")) {
    Violation("a response body holds a PEM private key", request, response);
  }
}

}  // namespace
}  // namespace acme_signer::signer::frontdoor

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace frontdoor = acme_signer::signer::frontdoor;
  frontdoor::Harness& harness = frontdoor::GetHarness();
  const acme_signer::http::ServerRequest request =
      frontdoor::Decode(acme_signer::fuzz::AsText(data, size));
  const acme_signer::http::ServerResponse response = harness.server->Handle(request);
  frontdoor::Check(harness, request, response);
  return 0;
}
