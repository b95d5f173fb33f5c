// Resource abuse against the real signer (SignerLab: the acme-signer binary, SoftHSM2, Pebble,
// gRPC over mutual TLS). Each attack is refused, the refusal is audited wherever an RPC
// identity exists, and the signer keeps serving other agents:
//  - a request larger than server.max_message_bytes: gRPC refuses it (RESOURCE_EXHAUSTED)
//    before the service runs, so there is no authenticated call to audit; a request just
//    under the limit carrying a huge CSR is refused by the service, naming the CSR, audited;
//  - thousands of identifiers, identifiers of 10 KB, a 300-character name: refused before
//    anything reaches the CA, and the audit record stays small (no log amplification);
//  - 200 TCP connections that never start TLS and 50 that finish TLS + HTTP/2 and then say
//    nothing: an enrolled agent is still served, and the server closes the silent TCP
//    connections after server.handshake_timeout_ms;
//  - one agent floods 2,000 RPCs from 16 threads on 16 connections: its order budget holds
//    exactly, calls beyond server.max_rpcs_in_flight_per_agent are refused, every refusal is
//    audited, and another agent is served throughout;
//  - an agent sending nothing but refused calls (identical, and each different) grows the log
//    by no more than its refusal budget, every refusal is counted in the records, and another
//    agent's allowed calls are each recorded at once;
//  - audit.min_free_bytes above the disk's free space refuses new orders (audited, with a
//    journal warning) while other calls are served.
// One SignerLab serves the suite; web1's order budget is spent only by the flood test.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "acmesigner/v1/signer.grpc.pb.h"
#include "agent/signer_client.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::SignerLab;
using testing::StatusIs;

namespace pb = ::acmesigner::v1;

constexpr int kMaxMessageBytes = 1 << 20;
constexpr int kHandshakeTimeoutMs = 2000;
constexpr int kWeb1OrdersPerHour = 20;
// Generous bound on any call a well-behaved agent makes while the signer is under attack:
// a correctness check (the call must complete), not a latency assertion.
constexpr absl::Duration kServedWithin = absl::Seconds(20);

// A RAII file descriptor for the raw sockets.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&&) = delete;
  Fd(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// A TCP connection to 127.0.0.1:`port` that sends nothing.
absl::StatusOr<Fd> ConnectSilently(uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return ErrnoStatus(errno, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(errno, absl::StrCat("connect to 127.0.0.1:", port));
  }
  return fd;
}

uint16_t PortOf(const std::string& address) {
  uint32_t port = 0;
  EXPECT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port)) << address;
  return static_cast<uint16_t>(port);
}

class ResourceAbuseTest : public testing::SignerLabSuite<ResourceAbuseTest> {
 public:
  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    for (testing::LabAgentPolicy& agent : options.agents) {
      if (agent.name == "web1") {
        agent.orders_per_hour = kWeb1OrdersPerHour;
        agent.allow_sign_jws = true;  // direct-mode newOrders meet the free-space floor too
      }
    }
    // "flood" only ever makes refused calls (the refusal budget tests), so its budget is
    // untouched by the other tests.
    testing::LabAgentPolicy flood;
    flood.name = "flood";
    flood.allowed_names = {"flood.example.test"};
    options.agents.push_back(flood);
    options.enroll.push_back("flood");
    return options;
  }

 protected:
  // The lab's config plus the [server] limits under test and `audit_extra` in [audit].
  static std::string SuiteConfigText(absl::string_view audit_extra = "") {
    return absl::StrReplaceAll(
        lab().ConfigText(LabOptions().agents),
        {{"[server]\n", absl::StrCat("[server]\nmax_message_bytes = ", kMaxMessageBytes,
                                     "\nhandshake_timeout_ms = ", kHandshakeTimeoutMs, "\n")},
         {"[audit]\n", absl::StrCat("[audit]\n", audit_extra)}});
  }

  // The suite's config, once per suite (the [server] limits take effect only at start-up, so
  // the signer is restarted).
  void SetUp() override {
    SignerLabSuite::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!configured_) {
      std::string text = SuiteConfigText();
      ASSERT_TRUE(lab().WriteRawConfig(text).ok());
      ASSERT_TRUE(lab().StopSigner().ok());
      absl::Status started = lab().StartSigner();
      ASSERT_TRUE(started.ok()) << started;
      configured_ = true;
    }
  }

  // A gRPC stub for agent `name`, for requests SignerClient would never build. With
  // `own_connection` the channel gets a TCP connection of its own instead of sharing one with
  // every other channel of the same target and credentials.
  static std::unique_ptr<pb::Signer::Stub> Stub(absl::string_view name,
                                                bool own_connection = false) {
    std::shared_ptr<grpc::Channel> channel = Channel(name, own_connection);
    return channel == nullptr ? nullptr : pb::Signer::NewStub(channel);
  }

  static std::shared_ptr<grpc::Channel> Channel(absl::string_view name, bool own_connection) {
    absl::StatusOr<agent::SignerConnection> connection = lab().Connection(name);
    EXPECT_TRUE(connection.ok()) << connection.status();
    if (!connection.ok()) return nullptr;
    grpc::SslCredentialsOptions ssl;
    absl::StatusOr<std::string> ca = ReadFile(connection->ca_cert);
    absl::StatusOr<std::string> cert = ReadFile(connection->client_cert);
    absl::StatusOr<Secret> key = ReadSecretFile(connection->client_key);
    EXPECT_TRUE(ca.ok() && cert.ok() && key.ok());
    if (!ca.ok() || !cert.ok() || !key.ok()) return nullptr;
    ssl.pem_root_certs = *ca;
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = std::string(key->reveal());
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("127.0.0.1");
    args.SetMaxReceiveMessageSize(16 << 20);
    if (own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(connection->address, grpc::SslCredentials(ssl), args);
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + kServedWithin));
    return context;
  }

  static absl::Status ToAbsl(const grpc::Status& status) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }

  // A SignerClient whose calls give up after kServedWithin.
  static std::unique_ptr<agent::SignerClient> PatientClient(absl::string_view name) {
    absl::StatusOr<agent::SignerConnection> connection = lab().Connection(name);
    EXPECT_TRUE(connection.ok()) << connection.status();
    if (!connection.ok()) return nullptr;
    connection->call_timeout = kServedWithin;
    absl::StatusOr<std::unique_ptr<agent::SignerClient>> client =
        agent::SignerClient::Connect(*connection);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // The newest audit record; a test failure when there is none.
  static nlohmann::json LastRecord() {
    std::vector<nlohmann::json> records = AuditRecords();
    EXPECT_FALSE(records.empty());
    return records.empty() ? nlohmann::json::object() : records.back();
  }

  // How many requests Pebble has logged for its newOrder endpoint: an order that never
  // reached the CA leaves this unchanged.
  static size_t PebbleNewOrderRequests() {
    absl::StatusOr<std::string> log = ReadFile(lab().pebble().pebble_log_path(), 256 << 20);
    EXPECT_TRUE(log.ok()) << log.status();
    if (!log.ok()) return 0;
    size_t n = 0;
    for (size_t at = log->find("/order-plz"); at != std::string::npos;
         at = log->find("/order-plz", at + 1)) {
      ++n;
    }
    return n;
  }

  static bool IsInFlightRefusal(const absl::Status& s) {
    return s.code() == absl::StatusCode::kResourceExhausted &&
           absl::StrContains(s.message(), "calls in flight");
  }

  static std::string Garbage(size_t size) { return std::string(size, 'A'); }

  // How many refusals an audit record stands for: repeated.count when it folds several.
  static uint64_t RefusalsIn(const nlohmann::json& record) {
    if (record.value("decision", "") != "deny") return 0;
    if (!record.contains("repeated")) return 1;
    return record["repeated"].value("count", uint64_t{0});
  }

  // Polls `count` until it reaches `expected` or the folded records had time to be written
  // (fold window 5 s + flush period 1 s, with room for a loaded machine); returns the last.
  static uint64_t WaitForRefusals(const std::function<uint64_t()>& count, uint64_t expected) {
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    uint64_t n = count();
    while (n < expected && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(500));
      n = count();
    }
    return n;
  }

  static inline bool configured_ = false;
};

// --- oversized messages ---

TEST_F(ResourceAbuseTest, RequestsLargerThanTheMessageLimitAreRefusedByGrpcAndTheSignerServesOn) {
  std::unique_ptr<pb::Signer::Stub> stub = Stub("web1");
  ASSERT_NE(stub, nullptr);
  const size_t records_before = AuditRecords().size();
  const std::string oversized = Garbage(kMaxMessageBytes + 1024);

  pb::CreateOrderRequest create;
  pb::Identifier* id = create.add_identifiers();
  id->set_type(pb::IDENTIFIER_TYPE_DNS);
  id->set_value(oversized);
  pb::Order order;
  EXPECT_THAT(ToAbsl(stub->CreateOrder(Context().get(), create, &order)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("larger than max")));

  pb::FinalizeOrderRequest finalize;
  finalize.set_order_url("https://127.0.0.1/order/none");
  finalize.set_csr_der(oversized);
  EXPECT_THAT(ToAbsl(stub->FinalizeOrder(Context().get(), finalize, &order)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("larger than max")));

  pb::SignJwsRequest sign;
  sign.set_url("https://127.0.0.1/new-order");
  sign.set_payload(oversized);
  pb::SignJwsResponse signed_jws;
  EXPECT_THAT(ToAbsl(stub->SignJws(Context().get(), sign, &signed_jws)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("larger than max")));

  // gRPC drops the call before it is handed to the service (no handler, no interceptor
  // sees it), so the signer has no authenticated call to audit: the log is unchanged.
  EXPECT_EQ(AuditRecords().size(), records_before);

  // Same stub, same connection: the signer still serves.
  pb::GetAccountResponse account;
  EXPECT_THAT(ToAbsl(stub->GetAccount(Context().get(), pb::GetAccountRequest(), &account)),
              testing::IsOk());
  EXPECT_FALSE(account.account_url().empty());
  EXPECT_TRUE(lab().signer_running());
}

TEST_F(ResourceAbuseTest, HugeCsrJustUnderTheMessageLimitIsRefusedNamingTheCsrAndAudited) {
  std::unique_ptr<agent::SignerClient> client = PatientClient("web2");
  ASSERT_NE(client, nullptr);
  absl::StatusOr<pb::Order> order = client->CreateOrder({"web2.example.test"}, "");
  ASSERT_TRUE(order.ok()) << order.status() << "\n" << lab().SignerLogTail();

  const std::string csr = Garbage(900 * 1024);
  EXPECT_THAT(client->FinalizeOrder(order->url(), csr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("invalid CSR"), HasSubstr("921600 bytes"),
                             HasSubstr("more than the limit"))));
  const nlohmann::json record = LastRecord();
  EXPECT_EQ(record.value("rpc", ""), "FinalizeOrder");
  EXPECT_EQ(record.value("agent", ""), "web2");
  EXPECT_EQ(record.value("decision", ""), "deny");
  EXPECT_THAT(record.value("reason", ""), HasSubstr("invalid CSR"));
  // Only a digest of a CSR is ever recorded; a refused one leaves none of its bytes.
  EXPECT_LT(record.dump().size(), 4096u) << record.dump();

  // The order is untouched and web2 can still use it.
  absl::StatusOr<pb::Order> still = client->GetOrder(order->url());
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_EQ(still->status(), pb::ORDER_STATUS_PENDING);
}

// --- thousands of identifiers ---

TEST_F(ResourceAbuseTest, FiveThousandIdentifiersAreRefusedBeforeTheCaWithASmallAuditRecord) {
  std::unique_ptr<agent::SignerClient> client = PatientClient("web1");
  ASSERT_NE(client, nullptr);
  std::vector<std::string> names;
  for (int i = 0; i < 5000; ++i) names.push_back(absl::StrCat("n", i, ".web1.example.test"));
  const size_t new_orders_before = PebbleNewOrderRequests();
  const absl::Time start = absl::Now();
  EXPECT_THAT(client->CreateOrder(names, ""),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("5000 identifiers"), HasSubstr("at most 10"))));
  std::cout << "5,000 identifiers refused in " << absl::Now() - start << "\n";

  const nlohmann::json record = LastRecord();
  EXPECT_EQ(record.value("rpc", ""), "CreateOrder");
  EXPECT_EQ(record.value("agent", ""), "web1");
  EXPECT_EQ(record.value("decision", ""), "deny");
  EXPECT_THAT(record.value("reason", ""), HasSubstr("5000 identifiers"));
  // No more names than the agent may order, plus one entry counting the rest.
  const nlohmann::json recorded = record["request"].value("identifiers", nlohmann::json::array());
  ASSERT_TRUE(recorded.is_array());
  ASSERT_EQ(recorded.size(), 11u);
  EXPECT_EQ(recorded.front(), "dns:n0.web1.example.test");
  EXPECT_EQ(recorded.back(), "(4990 more identifiers not recorded)");
  EXPECT_LT(record.dump().size(), 4096u);
  EXPECT_EQ(PebbleNewOrderRequests(), new_orders_before) << "a refused order reached the CA";
}

TEST_F(ResourceAbuseTest, TenKilobyteIdentifiersAreRefusedAndRecordedShortened) {
  std::unique_ptr<agent::SignerClient> client = PatientClient("web1");
  ASSERT_NE(client, nullptr);
  const size_t new_orders_before = PebbleNewOrderRequests();
  const std::string long_label_name =
      absl::StrCat(std::string(10 * 1024, 'a'), ".web1.example.test");

  // Too many of them (50 x 10 KB, under the message limit): the count is refused first.
  std::vector<std::string> many(50, long_label_name);
  for (int i = 0; i < 50; ++i) many[i] = absl::StrCat(i, long_label_name);
  EXPECT_THAT(client->CreateOrder(many, ""),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("50 identifiers"), HasSubstr("at most 10"))));
  nlohmann::json record = LastRecord();
  EXPECT_EQ(record.value("decision", ""), "deny");
  EXPECT_LT(record.dump().size(), 8192u) << "500 KB of names were copied into the audit log";

  // Few enough, but each too long: the name length is refused, naming the limit.
  std::vector<std::string> few = {long_label_name, absl::StrCat("b", long_label_name)};
  EXPECT_THAT(client->CreateOrder(few, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 253")));
  record = LastRecord();
  EXPECT_EQ(record.value("rpc", ""), "CreateOrder");
  EXPECT_EQ(record.value("decision", ""), "deny");
  EXPECT_THAT(record.value("reason", ""), HasSubstr("longer than 253"));
  EXPECT_LT(record.dump().size(), 4096u) << "20 KB of names were copied into the audit log";

  // One 300-character name (labels of legal length).
  std::string name;
  while (name.size() < 300 - std::string(".web1.example.test").size()) {
    absl::StrAppend(&name, name.empty() ? "" : ".", std::string(40, 'c'));
  }
  absl::StrAppend(&name, ".web1.example.test");
  ASSERT_GT(name.size(), 253u);
  EXPECT_THAT(client->CreateOrder({name}, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 253")));
  record = LastRecord();
  EXPECT_EQ(record.value("decision", ""), "deny");
  EXPECT_THAT(record.value("reason", ""), HasSubstr("longer than 253"));
  EXPECT_EQ(PebbleNewOrderRequests(), new_orders_before) << "a refused order reached the CA";
}

TEST_F(ResourceAbuseTest, HugeOrderUrlIsRefusedAndRecordedCut) {
  std::unique_ptr<agent::SignerClient> client = PatientClient("web1");
  ASSERT_NE(client, nullptr);
  const std::string url = absl::StrCat("https://127.0.0.1/order/", Garbage(900 * 1024));
  // Refused with the signer's own reason: the message echoes the URL, and ToGrpcStatus cuts it
  // so that it still fits gRPC's metadata limit (otherwise the agent would see
  // RESOURCE_EXHAUSTED "metadata size exceeds limit" instead of the refusal).
  absl::Status refused = client->GetOrder(url).status();
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kPermissionDenied,
                                HasSubstr("more bytes not shown")));
  const nlohmann::json record = LastRecord();
  EXPECT_EQ(record.value("rpc", ""), "GetOrder");
  EXPECT_EQ(record.value("decision", ""), "deny");
  EXPECT_THAT(record["request"].value("order_url", ""), HasSubstr("cut for the audit log"));
  // The URL appears in the request and in the reason: each is cut to 2 KB.
  EXPECT_LT(record.dump().size(), 8192u) << "900 KB of URL were copied into the audit log";
}

// --- slow clients ---

TEST_F(ResourceAbuseTest, SilentConnectionsDoNotStopAnAgentAndUnfinishedHandshakesAreClosed) {
  const uint16_t port = PortOf(lab().signer_address());
  std::vector<Fd> silent;
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<Fd> fd = ConnectSilently(port);
    ASSERT_TRUE(fd.ok()) << fd.status();
    silent.push_back(*std::move(fd));
  }
  const absl::Time connected = absl::Now();
  // 50 connections that finish TLS (with an enrolled client certificate) and HTTP/2's
  // preface and settings, then make no call.
  std::vector<std::shared_ptr<grpc::Channel>> idle;
  for (int i = 0; i < 50; ++i) {
    std::shared_ptr<grpc::Channel> channel = Channel("web1", /*own_connection=*/true);
    ASSERT_NE(channel, nullptr);
    ASSERT_TRUE(channel->WaitForConnected(absl::ToChronoTime(absl::Now() + kServedWithin)))
        << "TLS + HTTP/2 connection " << i << " did not come up";
    idle.push_back(std::move(channel));
  }

  std::unique_ptr<agent::SignerClient> web2 = PatientClient("web2");
  ASSERT_NE(web2, nullptr);
  absl::StatusOr<pb::GetAccountResponse> account = web2->GetAccount();
  EXPECT_TRUE(account.ok()) << account.status();
  absl::StatusOr<pb::Order> order = web2->CreateOrder({"web2.example.test"}, "");
  EXPECT_TRUE(order.ok()) << order.status();

  // Every silent connection is closed by the server once the handshake timeout passes (gRPC's
  // default would hold each for 120 s). Wait well past the timeout; never 120 s.
  const absl::Time give_up =
      connected + absl::Milliseconds(kHandshakeTimeoutMs) * 5 + absl::Seconds(5);
  size_t closed = 0;
  std::vector<bool> done(silent.size(), false);
  while (closed < silent.size() && absl::Now() < give_up) {
    std::vector<pollfd> fds;
    std::vector<size_t> index;
    for (size_t i = 0; i < silent.size(); ++i) {
      if (done[i]) continue;
      fds.push_back(pollfd{silent[i].get(), POLLIN, 0});
      index.push_back(i);
    }
    ::poll(fds.data(), fds.size(), 200);
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      char byte;
      ssize_t n = ::recv(fds[k].fd, &byte, 1, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) {
        done[index[k]] = true;
        ++closed;
      } else {
        ADD_FAILURE() << "the server sent data on a connection that never spoke (" << n << ")";
        done[index[k]] = true;
      }
    }
  }
  std::cout << closed << " silent connections closed by the server " << absl::Now() - connected
            << " after connecting (handshake timeout " << kHandshakeTimeoutMs << " ms)\n";
  EXPECT_EQ(closed, silent.size());

  // The connections that finished their handshake are the agent's to keep; the signer serves
  // on regardless.
  account = web2->GetAccount();
  EXPECT_TRUE(account.ok()) << account.status();
  EXPECT_TRUE(lab().signer_running());
}

// --- a flood from one agent ---

TEST_F(ResourceAbuseTest, FloodFromOneAgentKeepsItsOrderBudgetExactAndOtherAgentsAreServed) {
  const size_t records_before = AuditRecords().size();
  constexpr int kThreads = 16;
  constexpr int kCallsPerThread = 125;  // 2,000 in all, half of them CreateOrder

  std::atomic<bool> flooding{true};
  absl::Mutex mu;
  int orders_allowed = 0;
  int orders_refused_by_rate = 0;
  int accounts_ok = 0;
  // 16 threads against server.max_rpcs_in_flight_per_agent (default 8): some calls find
  // web1 at its cap and are refused; how many depends on scheduling.
  int refused_in_flight = 0;
  std::vector<std::string> unexpected;  // guarded by mu

  std::vector<std::thread> flood;
  for (int t = 0; t < kThreads; ++t) {
    flood.emplace_back([&, t] {
      // Each thread has a connection of its own, as an attacker would.
      std::unique_ptr<pb::Signer::Stub> stub = Stub("web1", /*own_connection=*/true);
      if (stub == nullptr) return;
      for (int i = 0; i < kCallsPerThread; ++i) {
        if ((i + t) % 2 == 0) {
          pb::CreateOrderRequest request;
          pb::Identifier* id = request.add_identifiers();
          id->set_type(pb::IDENTIFIER_TYPE_DNS);
          id->set_value("web1.example.test");
          pb::Order order;
          absl::Status s = ToAbsl(stub->CreateOrder(Context().get(), request, &order));
          absl::MutexLock lock(&mu);
          if (s.ok()) {
            ++orders_allowed;
          } else if (s.code() == absl::StatusCode::kResourceExhausted &&
                     absl::StrContains(s.message(), "rate limit")) {
            ++orders_refused_by_rate;
          } else if (IsInFlightRefusal(s)) {
            ++refused_in_flight;
          } else {
            unexpected.push_back(s.ToString());
          }
        } else {
          pb::GetAccountResponse account;
          absl::Status s =
              ToAbsl(stub->GetAccount(Context().get(), pb::GetAccountRequest(), &account));
          absl::MutexLock lock(&mu);
          if (s.ok()) {
            ++accounts_ok;
          } else if (IsInFlightRefusal(s)) {
            ++refused_in_flight;
          } else {
            unexpected.push_back(s.ToString());
          }
        }
      }
    });
  }

  // web2 works while web1 floods: every call must succeed.
  std::unique_ptr<agent::SignerClient> web2 = PatientClient("web2");
  ASSERT_NE(web2, nullptr);
  int web2_calls = 0;
  std::vector<std::string> web2_failures;
  std::thread victim([&] {
    while (flooding.load()) {
      absl::StatusOr<pb::GetAccountResponse> account = web2->GetAccount();
      if (!account.ok()) web2_failures.push_back(account.status().ToString());
      ++web2_calls;
      if (web2_calls % 10 == 0) {
        absl::StatusOr<pb::Order> order = web2->CreateOrder({"web2.example.test"}, "");
        if (!order.ok()) web2_failures.push_back(order.status().ToString());
        ++web2_calls;
      }
    }
  });
  for (std::thread& t : flood) t.join();
  flooding = false;
  victim.join();

  std::cout << "flood: " << orders_allowed << " orders allowed, " << orders_refused_by_rate
            << " refused by the rate limit, " << accounts_ok << " GetAccount served, "
            << refused_in_flight << " refused at the in-flight cap; web2 made " << web2_calls
            << " calls meanwhile\n";
  EXPECT_EQ(orders_allowed, kWeb1OrdersPerHour);
  EXPECT_EQ(orders_allowed + orders_refused_by_rate + accounts_ok + refused_in_flight,
            kThreads * kCallsPerThread);
  EXPECT_THAT(unexpected, ::testing::IsEmpty());
  EXPECT_GT(web2_calls, 0);
  EXPECT_THAT(web2_failures, ::testing::IsEmpty());

  // Every allowed order has its own record at once; every refusal is accounted for in the
  // audit log: one record per refusal, or one record with "repeated" standing for
  // repeated.count of them (signer/refusal_budget.h), which appear within the fold window.
  int audited_allowed = 0;
  std::vector<nlohmann::json> records = AuditRecords();
  for (size_t i = records_before; i < records.size(); ++i) {
    const nlohmann::json& r = records[i];
    if (r.value("agent", "") == "web1" && r.value("rpc", "") == "CreateOrder" &&
        r.value("decision", "") == "allow") {
      ++audited_allowed;
    }
  }
  EXPECT_EQ(audited_allowed, kWeb1OrdersPerHour);
  const uint64_t refused = static_cast<uint64_t>(orders_refused_by_rate + refused_in_flight);
  auto audited_refusals = [&] {
    uint64_t n = 0;
    records = AuditRecords();
    for (size_t i = records_before; i < records.size(); ++i) {
      const nlohmann::json& r = records[i];
      const std::string reason = r.value("reason", "");
      if (r.value("agent", "") == "web1" && r.value("decision", "") == "deny" &&
          (absl::StrContains(reason, "rate limit") ||
           absl::StrContains(reason, "calls in flight"))) {
        n += RefusalsIn(r);
      }
    }
    return n;
  };
  EXPECT_EQ(WaitForRefusals(audited_refusals, refused), refused);
  ExpectAuditVerifies();
}

// --- refused calls and the audit log (signer/refusal_budget.h) ---

// RefusalBudget::Options defaults, as cmd_serve uses them.
constexpr uint64_t kRefusalBurstBytes = 64 << 10;
constexpr uint64_t kRefusalBytesPerSecond = 2 << 10;
// Folded records (one per repeated kind, one summary per identity) are charged to the budget
// after they are written, so up to one window's worth of them can come on top of the rate.
constexpr uint64_t kFoldedRecordsSlack = 4 << 10;

// A CreateOrder for one name outside the agent's policy: refused before the CA.
absl::Status CreateRefusedOrder(pb::Signer::Stub& stub, const std::string& name,
                                absl::Duration deadline) {
  pb::CreateOrderRequest request;
  pb::Identifier* id = request.add_identifiers();
  id->set_type(pb::IDENTIFIER_TYPE_DNS);
  id->set_value(name);
  pb::Order order;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  grpc::Status s = stub.CreateOrder(&context, request, &order);
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

TEST_F(ResourceAbuseTest, RefusedCallFloodGrowsTheLogWithinTheBudgetAndEveryRefusalIsCounted) {
  std::unique_ptr<pb::Signer::Stub> flood = Stub("flood", /*own_connection=*/true);
  ASSERT_NE(flood, nullptr);
  std::unique_ptr<agent::SignerClient> web2 = PatientClient("web2");
  ASSERT_NE(web2, nullptr);
  const size_t records_before = AuditRecords().size();

  // web2 keeps making allowed calls during the flood: each must be served and recorded at
  // once (its record is durable before its reply), whatever flood's budget says.
  std::atomic<bool> flooding{true};
  int web2_calls = 0;
  std::vector<std::string> web2_failures;
  std::thread victim([&] {
    while (flooding.load()) {
      absl::StatusOr<pb::GetAccountResponse> account = web2->GetAccount();
      if (!account.ok()) web2_failures.push_back(account.status().ToString());
      ++web2_calls;
      absl::SleepFor(absl::Milliseconds(20));
    }
  });

  // 300 refusals that each differ (another name each time) interleaved with 300 identical.
  constexpr int kEach = 300;
  int refused = 0;
  std::vector<std::string> unexpected;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kEach; ++i) {
    for (const std::string& name :
         {absl::StrCat("n", i, ".outside.test"), std::string("same.outside.test")}) {
      absl::Status s = CreateRefusedOrder(*flood, name, kServedWithin);
      if (s.code() == absl::StatusCode::kPermissionDenied) {
        ++refused;
      } else {
        unexpected.push_back(s.ToString());
      }
    }
  }
  const absl::Duration elapsed = absl::Now() - start;
  flooding = false;
  victim.join();

  std::vector<nlohmann::json> records = AuditRecords();
  uint64_t flood_bytes = 0;
  int flood_records = 0;
  int web2_allowed = 0;
  for (size_t i = records_before; i < records.size(); ++i) {
    const nlohmann::json& r = records[i];
    if (r.value("agent", "") == "flood") {
      flood_bytes += r.dump().size() + 1;  // the canonical line and its newline
      ++flood_records;
    }
    web2_allowed += r.value("agent", "") == "web2" && r.value("rpc", "") == "GetAccount" &&
                    r.value("decision", "") == "allow";
  }
  const uint64_t bound =
      kRefusalBurstBytes +
      static_cast<uint64_t>(kRefusalBytesPerSecond * absl::ToDoubleSeconds(elapsed) + 1) +
      kFoldedRecordsSlack;
  std::cout << 2 * kEach << " refused calls in " << elapsed << ": " << flood_records
            << " records, " << flood_bytes << " bytes (bound " << bound << "); web2 made "
            << web2_calls << " allowed calls meanwhile\n";
  EXPECT_EQ(refused, 2 * kEach);
  EXPECT_THAT(unexpected, ::testing::IsEmpty());
  EXPECT_LE(flood_bytes, bound);
  EXPECT_GT(web2_calls, 0);
  EXPECT_THAT(web2_failures, ::testing::IsEmpty());
  EXPECT_EQ(web2_allowed, web2_calls) << "an allowed call was not recorded at once";

  // Nothing is lost: once the folded records are written, their counts and the single
  // records add up to every refused call.
  auto audited = [&] {
    uint64_t n = 0;
    records = AuditRecords();
    for (size_t i = records_before; i < records.size(); ++i) {
      if (records[i].value("agent", "") == "flood") n += RefusalsIn(records[i]);
    }
    return n;
  };
  EXPECT_EQ(WaitForRefusals(audited, 2 * kEach), static_cast<uint64_t>(2 * kEach));
  bool identical_folded = false;
  bool over_budget_folded = false;
  for (size_t i = records_before; i < records.size(); ++i) {
    const nlohmann::json& r = records[i];
    if (r.value("agent", "") != "flood" || !r.contains("repeated")) continue;
    const nlohmann::json& repeated = r["repeated"];
    EXPECT_TRUE(repeated.contains("first") && repeated.contains("last")) << r.dump();
    if (repeated.value("folded", "") == "identical") {
      identical_folded = true;
      EXPECT_THAT(r.dump(), HasSubstr("same.outside.test"));
    }
    if (repeated.value("folded", "") == "over_budget") {
      over_budget_folded = true;
      EXPECT_THAT(repeated.value("last_reason", ""), HasSubstr("outside.test"));
    }
  }
  EXPECT_TRUE(identical_folded) << "no record folds the identical refusals";
  EXPECT_TRUE(over_budget_folded) << "no summary of the refusals beyond the budget";
  ExpectAuditVerifies();
}

TEST_F(ResourceAbuseTest, AuditFreeSpaceFloorRefusesNewOrdersWithAWarningAndServesTheRest) {
  // A floor above any disk's free space (2^50 bytes, the largest accepted): the check trips
  // without filling a disk. The config goes back whatever happens below.
  constexpr absl::string_view kFloor = "1125899906842624";
  struct RestoreConfig {
    ~RestoreConfig() {
      EXPECT_TRUE(lab().WriteRawConfig(SuiteConfigText()).ok());
      EXPECT_TRUE(lab().ReloadSigner().ok()) << lab().SignerLogTail();
    }
  };
  ASSERT_TRUE(lab().WriteRawConfig(SuiteConfigText(absl::StrCat("min_free_bytes = ", kFloor, "\n")))
                  .ok());
  const size_t log_before = lab().SignerLog().size();
  {
    RestoreConfig restore;
    absl::Status reloaded = lab().ReloadSigner();
    ASSERT_TRUE(reloaded.ok()) << reloaded;

    std::unique_ptr<agent::SignerClient> web2 = PatientClient("web2");
    ASSERT_NE(web2, nullptr);
    const size_t new_orders_before = PebbleNewOrderRequests();
    absl::StatusOr<pb::Order> order = web2->CreateOrder({"web2.example.test"}, "");
    EXPECT_THAT(order.status(),
                StatusIs(absl::StatusCode::kResourceExhausted,
                         AllOf(HasSubstr("bytes free"),
                               HasSubstr(absl::StrCat("audit.min_free_bytes = ", kFloor)),
                               HasSubstr("refuses new orders"))));
    EXPECT_EQ(PebbleNewOrderRequests(), new_orders_before) << "a refused order reached the CA";
    bool audited = false;
    for (const nlohmann::json& r : AuditRecords()) {
      audited = audited || (r.value("agent", "") == "web2" && r.value("rpc", "") == "CreateOrder" &&
                            r.value("decision", "") == "deny" &&
                            absl::StrContains(r.value("reason", ""), "audit.min_free_bytes"));
    }
    EXPECT_TRUE(audited) << "no audit deny record for the refused order";

    // A direct-mode newOrder (SignJws) meets the same floor: no signature leaves.
    std::unique_ptr<agent::SignerClient> web1 = PatientClient("web1");
    ASSERT_NE(web1, nullptr);
    const std::string directory = lab().pebble().directory_url();
    const std::string new_order =  // Pebble's newOrder endpoint
        directory.substr(0, directory.find('/', directory.find("://") + 3)) + "/order-plz";
    absl::StatusOr<pb::SignJwsResponse> signed_new_order = web1->SignJws(
        new_order, R"({"identifiers":[{"type":"dns","value":"web1.example.test"}]})", "", "");
    EXPECT_THAT(signed_new_order.status(),
                StatusIs(absl::StatusCode::kResourceExhausted,
                         HasSubstr(absl::StrCat("audit.min_free_bytes = ", kFloor))));

    // Everything but new orders is served.
    absl::StatusOr<pb::GetAccountResponse> account = web2->GetAccount();
    EXPECT_TRUE(account.ok()) << account.status();

    // The operator sees it in the journal, once, with the numbers.
    const std::string log = lab().SignerLog().substr(log_before);
    EXPECT_THAT(log, AllOf(HasSubstr("WARNING"), HasSubstr("bytes free"),
                           HasSubstr(absl::StrCat("audit.min_free_bytes = ", kFloor))));
  }
  // With the default floor (100 MiB) orders are no longer refused for space.
  std::unique_ptr<agent::SignerClient> web2 = PatientClient("web2");
  ASSERT_NE(web2, nullptr);
  absl::StatusOr<pb::Order> order = web2->CreateOrder({"web2.example.test"}, "");
  EXPECT_THAT(order.status().message(), ::testing::Not(HasSubstr("min_free_bytes")));
}

// A measurement, not a test: skipped unless ACME_SIGNER_REFUSAL_FLOOD_SECONDS is set (see
// docs/security.md for the command). For that many seconds each, "flood" sends nothing but
// refused calls from 4 connections, first identical, then each different, while web2 makes
// allowed calls; prints the audit log growth due to flood and web2's latency against a
// baseline without the flood. Calls per phase are bounded (50,000).
TEST_F(ResourceAbuseTest, MeasureRefusalFloodLogGrowthAndAnotherAgentsLatency) {
  const char* env = std::getenv("ACME_SIGNER_REFUSAL_FLOOD_SECONDS");
  int seconds = 0;
  if (env == nullptr || !absl::SimpleAtoi(env, &seconds) || seconds <= 0) {
    GTEST_SKIP() << "measurement only: set ACME_SIGNER_REFUSAL_FLOOD_SECONDS=10";
  }
  seconds = std::min(seconds, 60);
  const absl::Duration phase = absl::Seconds(seconds);
  std::unique_ptr<agent::SignerClient> web2 = PatientClient("web2");
  ASSERT_NE(web2, nullptr);

  // web2's GetAccount latencies until `stop`.
  auto victim_latencies = [&](const std::atomic<bool>& stop) {
    std::vector<absl::Duration> latencies;
    while (!stop.load() && latencies.size() < 100000) {
      const absl::Time t0 = absl::Now();
      absl::StatusOr<pb::GetAccountResponse> account = web2->GetAccount();
      latencies.push_back(absl::Now() - t0);
      EXPECT_TRUE(account.ok()) << account.status();
    }
    std::sort(latencies.begin(), latencies.end());
    return latencies;
  };
  auto percentile = [](const std::vector<absl::Duration>& sorted, double p) {
    if (sorted.empty()) return absl::ZeroDuration();
    return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
  };

  {
    std::atomic<bool> stop{false};
    std::thread timer([&] {
      absl::SleepFor(phase);
      stop = true;
    });
    std::vector<absl::Duration> baseline = victim_latencies(stop);
    timer.join();
    std::cout << "baseline: web2 " << baseline.size() << " GetAccount, p50 "
              << percentile(baseline, 0.5) << ", p99 " << percentile(baseline, 0.99) << "\n";
  }

  for (const bool identical : {true, false}) {
    const size_t records_before = AuditRecords().size();
    const uintmax_t file_before = std::filesystem::file_size(lab().audit_log_path());
    std::atomic<bool> stop{false};
    std::atomic<int> calls{0};
    const absl::Time start = absl::Now();
    std::vector<std::thread> flooders;
    for (int t = 0; t < 4; ++t) {
      flooders.emplace_back([&, t] {
        std::unique_ptr<pb::Signer::Stub> stub = Stub("flood", /*own_connection=*/true);
        if (stub == nullptr) return;
        for (int i = 0; !stop.load() && calls.load() < 50000; ++i) {
          const std::string name = identical ? std::string("same.outside.test")
                                             : absl::StrCat("t", t, "-", i, ".outside.test");
          CreateRefusedOrder(*stub, name, kServedWithin).IgnoreError();
          ++calls;
        }
      });
    }
    std::thread timer([&] {
      absl::SleepFor(phase);
      stop = true;
    });
    std::vector<absl::Duration> during = victim_latencies(stop);
    timer.join();
    for (std::thread& t : flooders) t.join();
    const absl::Duration elapsed = absl::Now() - start;
    const uintmax_t file_after_flood = std::filesystem::file_size(lab().audit_log_path());
    // Let the folded records of the last window arrive, and count them too.
    absl::SleepFor(absl::Seconds(7));
    uint64_t flood_bytes = 0;
    uint64_t counted = 0;
    std::vector<nlohmann::json> records = AuditRecords();
    for (size_t i = records_before; i < records.size(); ++i) {
      if (records[i].value("agent", "") != "flood") continue;
      flood_bytes += records[i].dump().size() + 1;
      counted += RefusalsIn(records[i]);
    }
    const double secs = absl::ToDoubleSeconds(elapsed);
    std::cout << (identical ? "identical" : "each different") << " refusals: " << calls.load()
              << " calls in " << elapsed << " (" << calls.load() / secs << "/s), "
              << counted << " accounted for; flood's records " << flood_bytes << " bytes = "
              << flood_bytes / 1024.0 / secs << " KiB/s; whole log grew "
              << (file_after_flood - file_before) / 1024.0 / secs
              << " KiB/s during the flood (web2's records included); web2 " << during.size()
              << " GetAccount, p50 " << percentile(during, 0.5) << ", p99 "
              << percentile(during, 0.99) << "\n";
  }
}

}  // namespace
}  // namespace acme_signer
