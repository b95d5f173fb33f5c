// The agent's channel to several signer replicas (agent/signer_channel.h), against in-process
// fake replicas on loopback: that Debian's gRPC (1.51) really does what the service config
// asks — round robin over every address, no calls to a replica whose health service says
// NOT_SERVING, a read retried on another replica when one answers UNAVAILABLE (and a
// non-idempotent call not), and a dead address that does not hold calls up. Plaintext: TLS is
// not what is tested here (the integration tests run the real mTLS channel).
#include "agent/signer_channel.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "acmesigner/v1/signer.grpc.pb.h"
#include "agent/signer_target.h"
#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace acme_signer::agent {
namespace {

namespace pb = ::acmesigner::v1;

// A replica: answers GetAccount with its name; GetOrder and CreateOrder likewise, or with
// UNAVAILABLE while `failing`.
class FakeReplica final : public pb::Signer::Service {
 public:
  explicit FakeReplica(std::string name) : name_(std::move(name)) {}

  grpc::Status GetAccount(grpc::ServerContext*, const pb::GetAccountRequest*,
                          pb::GetAccountResponse* response) override {
    ++calls;
    response->set_account(name_);
    return grpc::Status::OK;
  }
  grpc::Status GetOrder(grpc::ServerContext*, const pb::GetOrderRequest*,
                        pb::Order* response) override {
    ++calls;
    if (failing) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "replica failing");
    response->set_url(name_);
    return grpc::Status::OK;
  }
  grpc::Status CreateOrder(grpc::ServerContext*, const pb::CreateOrderRequest*,
                           pb::Order* response) override {
    ++calls;
    if (failing) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "replica failing");
    response->set_url(name_);
    return grpc::Status::OK;
  }

  std::atomic<int> calls{0};
  std::atomic<bool> failing{false};

 private:
  const std::string name_;
};

struct Replica {
  explicit Replica(const std::string& name) : service(name) {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
  }
  ~Replica() {
    if (server != nullptr) server->Shutdown(std::chrono::system_clock::now());
  }
  void SetServing(bool serving) { server->GetHealthCheckService()->SetServingStatus("", serving); }

  FakeReplica service;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

// A loopback socket that accepts TCP connections (the kernel does) but never answers.
struct SilentListener {
  SilentListener() : fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd.get() >= 0 && ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
        ::listen(fd.get(), 16) == 0 &&
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
  }
  UniqueFd fd;
  int port = 0;
};

// A loopback port nothing listens on: bound to find a free one, then closed.
int ClosedLoopbackPort() {
  SilentListener probe;
  const int port = probe.port;
  return port;  // closed when `probe` goes
}

std::string Target(std::initializer_list<int> ports) {
  std::string target = "ipv4:";
  for (int port : ports) {
    absl::StrAppend(&target, target.size() > 5 ? "," : "", "127.0.0.1:", port);
  }
  return target;
}

class SignerChannelTest : public ::testing::Test {
 protected:
  void Connect(const std::string& target_text) {
    absl::StatusOr<SignerTarget> target = SignerTarget::Parse(target_text);
    ASSERT_TRUE(target.ok()) << target.status();
    stub_ =
        pb::Signer::NewStub(CreateSignerChannel(*target, grpc::InsecureChannelCredentials(), ""));
  }

  // GetAccount; the name of the replica that answered, or "" with the failure recorded.
  std::string WhoAnswers(bool wait_for_ready = true) {
    grpc::ClientContext context;
    context.set_wait_for_ready(wait_for_ready);
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    pb::GetAccountResponse response;
    const grpc::Status status = stub_->GetAccount(&context, pb::GetAccountRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
    return response.account();
  }

  grpc::Status GetOrder() {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    pb::Order response;
    return stub_->GetOrder(&context, pb::GetOrderRequest(), &response);
  }

  grpc::Status CreateOrder() {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    pb::Order response;
    return stub_->CreateOrder(&context, pb::CreateOrderRequest(), &response);
  }

  std::unique_ptr<pb::Signer::Stub> stub_;
};

TEST_F(SignerChannelTest, ServiceConfigAsksForRoundRobinHealthChecksAndRetriesOfReads) {
  const std::string config = SignerServiceConfigJson();
  EXPECT_THAT(config, ::testing::HasSubstr(R"("round_robin")"));
  EXPECT_THAT(config, ::testing::HasSubstr(R"("healthCheckConfig":{"serviceName":""})"));
  EXPECT_THAT(config, ::testing::HasSubstr(R"("method":"GetOrder")"));
  EXPECT_THAT(config, ::testing::Not(::testing::HasSubstr(R"("method":"CreateOrder")")));
  EXPECT_THAT(config, ::testing::Not(::testing::HasSubstr(R"("method":"FinalizeOrder")")));
}

TEST_F(SignerChannelTest, CallsGoRoundRobinToEveryReplica) {
  Replica a("a"), b("b");
  ASSERT_NE(a.server, nullptr);
  ASSERT_NE(b.server, nullptr);
  Connect(Target({a.port, b.port}));
  for (int i = 0; i < 200 && (a.service.calls == 0 || b.service.calls == 0); ++i) WhoAnswers();
  EXPECT_GT(a.service.calls, 0);
  EXPECT_GT(b.service.calls, 0);
}

TEST_F(SignerChannelTest, AReplicaNotServingGetsNoCallsUntilItServesAgain) {
  Replica a("a"), b("b");
  ASSERT_NE(a.server, nullptr);
  ASSERT_NE(b.server, nullptr);
  Connect(Target({a.port, b.port}));
  for (int i = 0; i < 200 && (a.service.calls == 0 || b.service.calls == 0); ++i) WhoAnswers();
  ASSERT_GT(b.service.calls, 0);

  b.SetServing(false);
  // The health watch tells the channel soon; from then on only `a` answers.
  int only_a = 0;
  for (int i = 0; i < 400 && only_a < 20; ++i) only_a = WhoAnswers() == "a" ? only_a + 1 : 0;
  ASSERT_EQ(only_a, 20) << "calls still reach the replica that is NOT_SERVING";
  const int b_calls = b.service.calls;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(WhoAnswers(), "a");
  EXPECT_EQ(b.service.calls, b_calls);

  b.SetServing(true);
  for (int i = 0; i < 400 && b.service.calls == b_calls; ++i) WhoAnswers();
  EXPECT_GT(b.service.calls, b_calls) << "the replica serving again gets no calls";
}

TEST_F(SignerChannelTest, AReadThatMeetsAFailingReplicaIsRetriedOnAnotherButACreateIsNot) {
  Replica a("a"), b("b");
  ASSERT_NE(a.server, nullptr);
  ASSERT_NE(b.server, nullptr);
  Connect(Target({a.port, b.port}));
  for (int i = 0; i < 200 && (a.service.calls == 0 || b.service.calls == 0); ++i) WhoAnswers();
  ASSERT_GT(b.service.calls, 0);

  b.service.failing = true;
  const int b_before = b.service.calls;
  for (int i = 0; i < 100 && b.service.calls < b_before + 3; ++i) {
    const grpc::Status status = GetOrder();
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_GE(b.service.calls, b_before + 3) << "no GetOrder landed on the failing replica";

  // CreateOrder is not retried by gRPC: the failing replica's answer comes back (the agent's
  // own retry, agent/signer_retry.h, decides about it).
  int refused = 0;
  for (int i = 0; i < 100 && refused == 0; ++i) {
    if (CreateOrder().error_code() == grpc::StatusCode::UNAVAILABLE) ++refused;
  }
  EXPECT_EQ(refused, 1);
}

TEST_F(SignerChannelTest, DeadAddressesInTheTargetDoNotHoldCallsUp) {
  Replica a("a");
  ASSERT_NE(a.server, nullptr);
  SilentListener silent;
  ASSERT_GT(silent.port, 0);
  const int closed = ClosedLoopbackPort();
  ASSERT_GT(closed, 0);
  // pick_first would try the silent listener first and wait on it for the connect timeout.
  Connect(Target({silent.port, closed, a.port}));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(WhoAnswers(/*wait_for_ready=*/false), "a");
}

}  // namespace
}  // namespace acme_signer::agent
