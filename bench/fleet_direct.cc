// The "direct" arm of bench/fleet.sh: N orders driven straight at an ACME CA (the lab's Pebble)
// by the ACME engine, with no signer in between: one process, one acme::AcmeClient (one
// account, an in-memory ES256 key, EAB-registered before the clock starts) shared by N threads,
// each running the agent's order flow (agent::RunOrderFlow over agent::DirectOrderBackend) for
// one fresh name with dns-01 answered by the same auth hook the fleet's agents run
// (agent::HookSolver, certbot's --manual-auth-hook variables), a fresh P-256 certificate key
// and CSR per order. That is the work acme-signer does for N relayed agents (the ACME requests,
// the JWS signatures) minus the signer: gRPC, mTLS, policy, the state store, the audit log, the
// HSM. The agents' own work (key, CSR, hook) is done here too.
//
//   fleet_direct --directory URL --ca-bundle PEM --eab-kid KID --eab-hmac-key-file FILE
//                --auth-hook PATH --orders N --name-prefix PREFIX --domain lab.test
//
// All threads start together after registration (a barrier), like the fleet's agents started
// at once. Prints one line per order to stdout ("order\tok\tstart_s\tend_s\terror", times in
// seconds after the start) and "wall_s <seconds>" on stderr at the end. Exit 0 when every order
// got its certificate, 1 otherwise (the per-order lines say which). Every request goes to the
// directory URL's host, which must be 127.0.0.1 (the bench refuses anything else).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/barrier.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "acme/client.h"
#include "agent/csr.h"
#include "agent/direct_issuer.h"
#include "agent/hook_solver.h"
#include "agent/order_flow.h"
#include "agent/private_key.h"
#include "common/base64url.h"
#include "common/status_macros.h"
#include "http/curl_http_client.h"
#include "tests/acme/openssl_signers.h"

namespace {

using namespace acme_signer;  // NOLINT: a bench main

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "fleet_direct: %s\n", message.c_str());
  std::exit(2);
}

struct Options {
  std::string directory;
  std::string ca_bundle;
  std::string eab_kid;
  std::string eab_key_file;
  std::string auth_hook;
  std::string name_prefix;
  std::string domain = "lab.test";
  int orders = 0;
};

Options ParseFlags(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) Fail("flag " + flag + " needs a value");
    std::string value = argv[++i];
    bool ok = true;
    if (flag == "--directory") {
      o.directory = value;
    } else if (flag == "--ca-bundle") {
      o.ca_bundle = value;
    } else if (flag == "--eab-kid") {
      o.eab_kid = value;
    } else if (flag == "--eab-hmac-key-file") {
      o.eab_key_file = value;
    } else if (flag == "--auth-hook") {
      o.auth_hook = value;
    } else if (flag == "--name-prefix") {
      o.name_prefix = value;
    } else if (flag == "--domain") {
      o.domain = value;
    } else if (flag == "--orders") {
      // Each order is a thread: bounded.
      ok = absl::SimpleAtoi(value, &o.orders) && o.orders >= 1 && o.orders <= 2000;
    } else {
      Fail("unknown flag " + flag);
    }
    if (!ok) Fail("bad value for " + flag + ": " + value);
  }
  if (o.directory.empty() || o.eab_kid.empty() || o.eab_key_file.empty() ||
      o.auth_hook.empty() || o.name_prefix.empty() || o.orders == 0) {
    Fail("usage: fleet_direct --directory URL --ca-bundle PEM --eab-kid KID "
         "--eab-hmac-key-file FILE --auth-hook PATH --orders N --name-prefix PREFIX "
         "[--domain lab.test]");
  }
  if (!absl::StartsWith(o.directory, "https://127.0.0.1:")) {
    Fail("--directory must be https://127.0.0.1:PORT/... (loopback only): " + o.directory);
  }
  return o;
}

// The EAB HMAC key (base64url, as scripts/lab writes pebble/eab.key), decoded.
std::string ReadEabKey(const std::string& path) {
  std::ifstream in(path);
  if (!in) Fail("cannot read --eab-hmac-key-file " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  absl::StatusOr<std::string> key =
      DecodeBase64Url(absl::StripAsciiWhitespace(text), "the EAB HMAC key");
  if (!key.ok()) Fail(std::string(key.status().message()));
  return *std::move(key);
}

struct Result {
  bool ok = false;
  double start_s = 0;
  double end_s = 0;
  std::string error;
};

// One agent's certificate: key, CSR, the order flow with dns-01 through the auth hook.
absl::Status IssueOne(acme::AcmeClient& client, const std::string& thumbprint,
                      const Options& o, const std::string& name) {
  ASSIGN_OR_RETURN(agent::KeySpec spec, agent::ParseKeySpec("ecdsa", "secp256r1", 2048));
  ASSIGN_OR_RETURN(agent::PrivateKey key, agent::PrivateKey::Generate(spec));
  std::vector<std::string> names = {name};
  ASSIGN_OR_RETURN(std::string csr_der, agent::BuildCsrDer(key, names));
  agent::DirectOrderBackend::Options backend_options;
  backend_options.directory_url = o.directory;
  agent::DirectOrderBackend backend(client, thumbprint, std::move(backend_options));
  agent::HookSolver solver("dns-01", name, o.auth_hook, /*cleanup_hook=*/"", absl::Seconds(30));
  agent::RelayIssueOptions flow;
  flow.domains = names;
  flow.csr_der = std::move(csr_der);
  flow.validation_timeout = absl::Minutes(5);
  flow.processing_timeout = absl::Minutes(5);
  ASSIGN_OR_RETURN(agent::IssuedChain chain, agent::RunOrderFlow(backend, solver, flow));
  if (chain.pem_chain.empty()) return absl::InternalError("no certificate downloaded");
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = ParseFlags(argc, argv);

  http::CurlHttpClient::Options http_options;
  http_options.ca_bundle_path = o.ca_bundle;
  absl::StatusOr<std::unique_ptr<http::CurlHttpClient>> http =
      http::CurlHttpClient::Create(std::move(http_options));
  if (!http.ok()) Fail(std::string(http.status().message()));

  std::unique_ptr<acme::testing::OpenSslJwsSigner> account_key = acme::testing::OpenSslJwsSigner::GenerateEs256();
  acme::testing::OpenSslMacSigner eab_mac(ReadEabKey(o.eab_key_file));
  acme::AcmeClientOptions client_options;
  client_options.directory_url = o.directory;
  absl::StatusOr<std::unique_ptr<acme::AcmeClient>> client =
      acme::AcmeClient::Create(**http, *account_key, std::move(client_options));
  if (!client.ok()) Fail(std::string(client.status().message()));
  acme::NewAccountOptions account_options;
  account_options.terms_of_service_agreed = true;
  account_options.eab_kid = o.eab_kid;
  account_options.eab_mac = &eab_mac;
  if (absl::StatusOr<acme::Account> account = (*client)->RegisterAccount(account_options);
      !account.ok()) {
    Fail("registering the account: " + std::string(account.status().message()));
  }
  absl::StatusOr<std::string> thumbprint = (*client)->AccountThumbprint();
  if (!thumbprint.ok()) Fail(std::string(thumbprint.status().message()));

  std::vector<Result> results(o.orders);
  absl::Barrier* start = new absl::Barrier(o.orders + 1);  // deleted by its last user
  absl::Time t0;
  std::vector<std::thread> threads;
  threads.reserve(o.orders);
  for (int i = 0; i < o.orders; ++i) {
    threads.emplace_back([&, i] {
      if (start->Block()) delete start;
      const std::string name = absl::StrCat(o.name_prefix, "-", i, ".", o.domain);
      Result& r = results[i];
      r.start_s = absl::ToDoubleSeconds(absl::Now() - t0);
      absl::Status s = IssueOne(**client, *thumbprint, o, name);
      r.end_s = absl::ToDoubleSeconds(absl::Now() - t0);
      r.ok = s.ok();
      if (!s.ok()) r.error = std::string(s.message());
    });
  }
  t0 = absl::Now();
  if (start->Block()) delete start;
  for (std::thread& t : threads) t.join();
  const double wall = absl::ToDoubleSeconds(absl::Now() - t0);

  int failed = 0;
  for (int i = 0; i < o.orders; ++i) {
    const Result& r = results[i];
    if (!r.ok) ++failed;
    std::string error = r.error;
    for (char& c : error) {
      if (c == '\t' || c == '\n') c = ' ';
    }
    std::printf("%d\t%d\t%.3f\t%.3f\t%s\n", i, r.ok ? 1 : 0, r.start_s, r.end_s, error.c_str());
  }
  std::fprintf(stderr, "wall_s %.3f failed %d\n", wall, failed);
  return failed == 0 ? 0 : 1;
}
