// SignerClient (agent/signer_client.h): every error of an RPC carries the signer's mark, errors
// reading this host's own files do not, and the mark survives added context.
#include "agent/signer_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/private_key.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"
#include "tests/agent/test_certs.h"

namespace acme_signer::agent {
namespace {

using ::testing::HasSubstr;
using testing::IsOk;
using testing::StatusIs;

// A loopback port nothing listens on: bound to find a free one, then closed.
int ClosedLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

class SignerClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    connection_.ca_cert = dir_.path() + "/ca.pem";
    connection_.client_cert = dir_.path() + "/agent.pem";
    connection_.client_key = dir_.path() + "/agent.key";
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(KeySpec());
    ASSERT_THAT(key.status(), IsOk());
    absl::StatusOr<Secret> key_pem = key->ToPem();
    ASSERT_THAT(key_pem.status(), IsOk());
    ASSERT_THAT(WriteFileAtomically(connection_.client_key, key_pem->reveal(), 0600), IsOk());
    ASSERT_THAT(
        WriteFileAtomically(connection_.client_cert,
                            ca_.Issue(key->get(), {"web1.example.org"},
                                      absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(24)),
                            0644),
        IsOk());
    ASSERT_THAT(WriteFileAtomically(connection_.ca_cert, ca_.cert_pem(), 0644), IsOk());
    const int port = ClosedLoopbackPort();
    ASSERT_GT(port, 0);
    connection_.address = absl::StrCat("127.0.0.1:", port);
    connection_.server_name = "signer.example.org";
    connection_.call_timeout = absl::Seconds(20);
  }

  testing::TempDir dir_;
  testing::TestCa ca_;
  SignerConnection connection_;
};

TEST_F(SignerClientTest, ASignerThatCannotBeReachedGivesAMarkedUnavailable) {
  absl::StatusOr<std::unique_ptr<SignerClient>> client = SignerClient::Connect(connection_);
  ASSERT_THAT(client.status(), IsOk());
  absl::StatusOr<pb::GetAccountResponse> account = (*client)->GetAccount();
  EXPECT_THAT(account.status(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("unreachable")));
  EXPECT_TRUE(IsFromSigner(account.status()));
}

TEST_F(SignerClientTest, AnUnreadableIdentityFileIsThisHostsErrorNotTheSigners) {
  connection_.client_key = dir_.path() + "/missing.key";
  absl::StatusOr<std::unique_ptr<SignerClient>> client = SignerClient::Connect(connection_);
  EXPECT_THAT(client.status(), StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.key")));
  EXPECT_FALSE(IsFromSigner(client.status()));
}

TEST(SignerOriginTest, MarkingLeavesCodeAndMessageAndIsRecognized) {
  const absl::Status marked = MarkFromSigner(absl::PermissionDeniedError("name not allowed"));
  EXPECT_THAT(marked, StatusIs(absl::StatusCode::kPermissionDenied, "name not allowed"));
  EXPECT_TRUE(IsFromSigner(marked));
  EXPECT_FALSE(IsFromSigner(absl::PermissionDeniedError("name not allowed")));
}

TEST(SignerOriginTest, AnOkStatusStaysOkAndUnmarked) {
  const absl::Status ok = MarkFromSigner(absl::OkStatus());
  EXPECT_TRUE(ok.ok());
  EXPECT_FALSE(IsFromSigner(ok));
}

TEST(SignerOriginTest, WithMessageKeepsCodeAndMarkAndReplacesTheMessage) {
  const absl::Status reworded =
      WithMessage(MarkFromSigner(absl::UnavailableError("failed to connect")),
                  "could not revoke a.example: failed to connect");
  EXPECT_THAT(reworded, StatusIs(absl::StatusCode::kUnavailable,
                                 "could not revoke a.example: failed to connect"));
  EXPECT_TRUE(IsFromSigner(reworded));
  EXPECT_FALSE(IsFromSigner(WithMessage(absl::UnavailableError("x"), "y")));
}

}  // namespace
}  // namespace acme_signer::agent
