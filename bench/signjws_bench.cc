// SignJws throughput and latency over mutual-TLS gRPC against a running acme-signer (the lab of
// scripts/lab), with the audit log's guarantee on: every allowed SignJws is appended, written and
// fdatasync()ed before the reply (group commit).
//
// Each client is one thread with its own channel (and its own TCP/TLS connection: the channels
// use a local subchannel pool) calling SignJws in a loop for a POST-as-GET of one of the agent's
// own orders with an explicit nonce, so the signer never talks to the CA. The order is made once
// through the relay (CreateOrder for --order-name) before the clock starts: the signer signs
// POST-as-GET only for the caller's own resources. Concurrency levels are
// interleaved in rounds (1 8 64 1 8 64 ...) so drift in machine load hits every level alike;
// the summary gives per-level medians over the rounds. Prints numbers, never pass/fail.
//
//   signjws_bench --agent-config LAB/agent/agent.toml --order-name bench.lab.test
//                 [--signer-pid PID] [--clients 1,8,64] [--rounds 3] [--seconds 4]
//                 [--max-rpcs 2000000] [--health]
//
// --health also runs grpc.health.v1.Health/Check (the signer's default health service: no
// handler work, no audit, no HSM) at every level, interleaved with SignJws: the signer's gRPC +
// mTLS floor on the same channels, so the difference is what SignJws itself costs.
//
// --signer-pid adds the signer's CPU time per RPC (from /proc/PID/stat). Every request goes to
// the address in the agent config; the bench refuses a non-loopback address.
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/rpc_method.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "acmesigner/v1/signer.grpc.pb.h"
#include "agent/agent_config.h"
#include "agent/command_support.h"
#include "agent/signer_client.h"
#include "common/files.h"

namespace {

namespace pb = ::acmesigner::v1;
using Clock = std::chrono::steady_clock;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "signjws_bench: %s\n", what.c_str());
  std::exit(1);
}

struct Options {
  std::string agent_config;
  std::string order_name;
  std::string url;  // the order made for order_name
  long signer_pid = 0;
  std::vector<int> clients = {1, 8, 64};
  int rounds = 3;
  double seconds = 4;
  long max_rpcs = 2'000'000;  // per client level and round: the loop is bounded in count too
  bool health = false;
};

Options ParseFlags(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--health") {
      o.health = true;
      continue;
    }
    if (i + 1 >= argc) Fail("flag " + flag + " needs a value");
    std::string value = argv[++i];
    bool ok = true;
    if (flag == "--agent-config") {
      o.agent_config = value;
    } else if (flag == "--order-name") {
      o.order_name = value;
    } else if (flag == "--signer-pid") {
      ok = absl::SimpleAtoi(value, &o.signer_pid);
    } else if (flag == "--rounds") {
      ok = absl::SimpleAtoi(value, &o.rounds) && o.rounds >= 1 && o.rounds <= 50;
    } else if (flag == "--seconds") {
      ok = absl::SimpleAtod(value, &o.seconds) && o.seconds > 0 && o.seconds <= 120;
    } else if (flag == "--max-rpcs") {
      ok = absl::SimpleAtoi(value, &o.max_rpcs) && o.max_rpcs >= 1;
    } else if (flag == "--clients") {
      o.clients.clear();
      for (absl::string_view part : absl::StrSplit(value, ',')) {
        int n = 0;
        ok = ok && absl::SimpleAtoi(part, &n) && n >= 1 && n <= 256;
        o.clients.push_back(n);
      }
    } else {
      Fail("unknown flag " + flag);
    }
    if (!ok) Fail("bad value for " + flag + ": " + value);
  }
  if (o.agent_config.empty() || o.order_name.empty()) {
    Fail(
        "usage: signjws_bench --agent-config AGENT_TOML --order-name NAME [--signer-pid PID] "
        "[--clients 1,8,64] [--rounds 3] [--seconds 4] [--max-rpcs N] [--health]");
  }
  return o;
}

std::string ReadOrFail(const std::string& path) {
  absl::StatusOr<std::string> text = acme_signer::ReadFile(path);
  if (!text.ok()) Fail(std::string(text.status().message()));
  return *std::move(text);
}

struct Credentials {
  std::string address;
  std::string server_name;
  grpc::SslCredentialsOptions ssl;
};

Credentials LoadCredentials(const std::string& agent_config_path) {
  absl::StatusOr<acme_signer::agent::AgentConfig> config =
      acme_signer::agent::LoadAgentConfig(agent_config_path);
  if (!config.ok()) Fail(std::string(config.status().message()));
  Credentials c;
  c.address = config->signer.address;
  if (!absl::StartsWith(c.address, "127.") && !absl::StartsWith(c.address, "[::1]") &&
      !absl::StartsWith(c.address, "localhost:")) {
    Fail("signer address " + c.address +
         " is not a loopback address; this bench only runs locally");
  }
  c.server_name = config->signer.tls_server_name;
  if (c.server_name.empty()) {
    c.server_name = c.address[0] == '[' ? c.address.substr(1, c.address.find(']') - 1)
                                        : c.address.substr(0, c.address.rfind(':'));
  }
  c.ssl.pem_root_certs = ReadOrFail(config->signer.ca);
  c.ssl.pem_cert_chain = ReadOrFail(config->identity.cert);
  absl::StatusOr<acme_signer::Secret> key = acme_signer::ReadSecretFile(config->identity.key);
  if (!key.ok()) Fail(std::string(key.status().message()));
  c.ssl.pem_private_key = std::string(key->reveal());
  return c;
}

// One channel = one HTTP/2 connection (local subchannel pool: channels with equal arguments
// would otherwise share a connection).
std::shared_ptr<grpc::Channel> NewChannel(const Credentials& c) {
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(c.server_name);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(c.address, grpc::SslCredentials(c.ssl), args);
}

enum class Rpc { kSignJws, kHealth };

// utime + stime of a process, in seconds; 0 when unknown.
double ProcessCpuSeconds(long pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct RoundResult {
  Rpc rpc = Rpc::kSignJws;
  int clients = 0;
  long rpcs = 0;
  long errors = 0;
  double seconds = 0;
  double rpc_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  double client_cpu_us_per_rpc = 0;
  double signer_cpu_us_per_rpc = 0;
};

double Percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[static_cast<size_t>(p * static_cast<double>(sorted.size() - 1))];
}

RoundResult RunRound(const Options& o, const Credentials& creds, Rpc rpc, int clients,
                     std::string* first_error) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<pb::Signer::Stub>> stubs;
  for (int i = 0; i < clients; ++i) {
    channels.push_back(NewChannel(creds));
    stubs.push_back(pb::Signer::NewStub(channels.back()));
  }
  // grpc.health.v1.Health/Check with an empty HealthCheckRequest (service ""), as raw bytes.
  const grpc::internal::RpcMethod health_method("/grpc.health.v1.Health/Check",
                                                grpc::internal::RpcMethod::NORMAL_RPC);

  auto call = [&](int i, long n) -> grpc::Status {
    if (rpc == Rpc::kHealth) {
      grpc::Slice empty;  // a ByteBuffer must hold a slice, even an empty one
      grpc::ByteBuffer request(&empty, 1), response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
          channels[i].get(), health_method, &context, request, &response);
    }
    pb::Signer::Stub& stub = *stubs[i];
    pb::SignJwsRequest request;
    request.set_url(o.url);
    request.set_nonce("bench-nonce-" + std::to_string(n));
    pb::SignJwsResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub.SignJws(&context, request, &response);
  };
  // Connect (TLS handshake) before the clock starts: the bench measures steady-state calls.
  for (int i = 0; i < clients; ++i) {
    grpc::Status s = call(i, -1);
    if (!s.ok()) Fail("warm-up call failed: " + s.error_message());
  }

  std::atomic<long> issued{0};
  std::atomic<long> errors{0};
  std::vector<std::vector<uint32_t>> latencies(clients);
  std::vector<std::string> error_text(clients);
  const auto deadline =
      Clock::now() + std::chrono::microseconds(static_cast<long>(o.seconds * 1e6));
  const double cpu_before = SelfCpuSeconds();
  const double signer_before = ProcessCpuSeconds(o.signer_pid);
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      latencies[i].reserve(1 << 16);
      while (Clock::now() < deadline) {
        long n = issued.fetch_add(1, std::memory_order_relaxed);
        if (n >= o.max_rpcs) break;
        auto t0 = Clock::now();
        grpc::Status s = call(i, n);
        auto t1 = Clock::now();
        if (!s.ok()) {
          errors.fetch_add(1, std::memory_order_relaxed);
          if (error_text[i].empty()) error_text[i] = s.error_message();
          continue;
        }
        latencies[i].push_back(static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = SelfCpuSeconds() - cpu_before;
  const double signer_cpu = ProcessCpuSeconds(o.signer_pid) - signer_before;

  std::vector<uint32_t> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  for (const std::string& e : error_text) {
    if (!e.empty() && first_error->empty()) *first_error = e;
  }
  RoundResult r;
  r.rpc = rpc;
  r.clients = clients;
  r.rpcs = static_cast<long>(all.size());
  r.errors = errors.load();
  r.seconds = elapsed;
  r.rpc_per_s = static_cast<double>(r.rpcs) / elapsed;
  r.p50_us = Percentile(all, 0.50);
  r.p99_us = Percentile(all, 0.99);
  if (r.rpcs > 0) {
    r.client_cpu_us_per_rpc = cpu * 1e6 / static_cast<double>(r.rpcs);
    r.signer_cpu_us_per_rpc = signer_cpu * 1e6 / static_cast<double>(r.rpcs);
  }
  return r;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

// An order of the bench agent's, made through the relay: the URL every SignJws reads.
std::string CreateBenchOrder(const Options& o) {
  absl::StatusOr<acme_signer::agent::AgentConfig> config =
      acme_signer::agent::LoadAgentConfig(o.agent_config);
  if (!config.ok()) Fail(std::string(config.status().message()));
  absl::StatusOr<std::unique_ptr<acme_signer::agent::SignerClient>> client =
      acme_signer::agent::ConnectToSigner(*config);
  if (!client.ok()) Fail(std::string(client.status().message()));
  absl::StatusOr<pb::Order> order = (*client)->CreateOrder({o.order_name}, "");
  if (!order.ok()) Fail("CreateOrder for the bench order: " + std::string(order.status().message()));
  return order->url();
}

int main(int argc, char** argv) {
  Options o = ParseFlags(argc, argv);
  const Credentials creds = LoadCredentials(o.agent_config);
  o.url = CreateBenchOrder(o);
  std::printf("signjws_bench: signer %s, url %s, %d round(s) of %.1f s per level, levels:",
              creds.address.c_str(), o.url.c_str(), o.rounds, o.seconds);
  for (int c : o.clients) std::printf(" %d", c);
  std::printf(" (interleaved)\n");
  std::printf("%-5s %-7s %7s %9s %7s %9s %9s %9s %13s %13s\n", "round", "rpc", "clients", "rpcs",
              "errors", "rpc/s", "p50 µs", "p99 µs", "client µs/rpc", "signer µs/rpc");

  std::vector<Rpc> rpcs = {Rpc::kSignJws};
  if (o.health) rpcs.push_back(Rpc::kHealth);
  auto rpc_name = [](Rpc rpc) { return rpc == Rpc::kHealth ? "Health" : "SignJws"; };
  std::map<std::pair<Rpc, int>, std::vector<RoundResult>> by_level;
  std::string first_error;
  for (int round = 1; round <= o.rounds; ++round) {
    for (int clients : o.clients) {
      for (Rpc rpc : rpcs) {
        RoundResult r = RunRound(o, creds, rpc, clients, &first_error);
        by_level[{rpc, clients}].push_back(r);
        std::printf("%-5d %-7s %7d %9ld %7ld %9.0f %9.0f %9.0f %13.1f %13.1f\n", round,
                    rpc_name(rpc), r.clients, r.rpcs, r.errors, r.rpc_per_s, r.p50_us, r.p99_us,
                    r.client_cpu_us_per_rpc, r.signer_cpu_us_per_rpc);
        std::fflush(stdout);
      }
    }
  }
  if (!first_error.empty()) std::printf("first error: %s\n", first_error.c_str());

  std::printf("\nMedians over %d round(s):\n\n", o.rounds);
  std::printf(
      "| RPC | clients | RPC/s | p50 latency | p99 latency | client CPU/RPC | signer CPU/RPC | "
      "RPC/s vs %d client(s) |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
      o.clients.front());
  for (Rpc rpc : rpcs) {
    double base = 0;
    for (int clients : o.clients) {
      const std::vector<RoundResult>& rs = by_level[{rpc, clients}];
      auto median_of = [&](double RoundResult::*field) {
        std::vector<double> v;
        for (const RoundResult& r : rs) v.push_back(r.*field);
        return Median(v);
      };
      const double rate = median_of(&RoundResult::rpc_per_s);
      if (base == 0) base = rate;
      std::printf("| %s | %d | %.0f | %.2f ms | %.2f ms | %.0f µs | %s | %.2f |\n", rpc_name(rpc),
                  clients, rate, median_of(&RoundResult::p50_us) / 1000,
                  median_of(&RoundResult::p99_us) / 1000,
                  median_of(&RoundResult::client_cpu_us_per_rpc),
                  o.signer_pid > 0 ? (std::to_string(static_cast<long>(
                                          median_of(&RoundResult::signer_cpu_us_per_rpc) + 0.5)) +
                                      " µs")
                                         .c_str()
                                   : "n/a",
                  base > 0 ? rate / base : 0);
    }
  }
  return 0;
}
