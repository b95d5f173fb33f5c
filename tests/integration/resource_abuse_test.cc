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
//    audited, and another agent is served throughout.
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
#include <cstdint>
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
      if (agent.name == "web1") agent.orders_per_hour = kWeb1OrdersPerHour;
    }
    return options;
  }

 protected:
  // The lab's config plus the [server] limits under test, once per suite (they take effect
  // only at start-up, so the signer is restarted).
  void SetUp() override {
    SignerLabSuite::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!configured_) {
      std::string text = lab().ConfigText(LabOptions().agents);
      text = absl::StrReplaceAll(
          text,
          {{"[server]\n", absl::StrCat("[server]\nmax_message_bytes = ", kMaxMessageBytes,
                                       "\nhandshake_timeout_ms = ", kHandshakeTimeoutMs, "\n")}});
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

  // Every refusal is in the audit log, one record per call.
  std::vector<nlohmann::json> records = AuditRecords();
  int audited_allowed = 0;
  int audited_refused = 0;
  int audited_in_flight = 0;
  for (size_t i = records_before; i < records.size(); ++i) {
    const nlohmann::json& r = records[i];
    if (r.value("agent", "") == "web1" && r.value("decision", "") == "deny" &&
        absl::StrContains(r.value("reason", ""), "calls in flight")) {
      ++audited_in_flight;
    }
    if (r.value("agent", "") != "web1" || r.value("rpc", "") != "CreateOrder") continue;
    if (r.value("decision", "") == "allow") ++audited_allowed;
    if (r.value("decision", "") == "deny" &&
        absl::StrContains(r.value("reason", ""), "rate limit")) {
      ++audited_refused;
    }
  }
  EXPECT_EQ(audited_allowed, kWeb1OrdersPerHour);
  EXPECT_EQ(audited_refused, orders_refused_by_rate);
  EXPECT_EQ(audited_in_flight, refused_in_flight);
  ExpectAuditVerifies();
}

}  // namespace
}  // namespace acme_signer
