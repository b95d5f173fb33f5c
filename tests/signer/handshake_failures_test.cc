// HandshakeFailureLog: one line per client and interval, every refusal audited, and gRPC's own
// handshake lines condensed (signer/handshake_failures.h).
#include "signer/handshake_failures.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/grpc_logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signer/handshake_revocation.h"
#include "signer/refusal_budget.h"

namespace acme_signer::signer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

class HandshakeFailuresTest : public ::testing::Test {
 protected:
  HandshakeFailuresTest()
      : refusals_(RefusalBudget::Options(), [this](const AuditRecord& r) {
          written_.push_back(r);
          return absl::OkStatus();
        }) {
    options_.clock = [this] { return now_; };
    options_.write_line = [this](const std::string& line) { lines_.push_back(line); };
  }

  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  std::vector<std::string> lines_;
  std::vector<AuditRecord> written_;
  RefusalBudget refusals_;
  HandshakeFailureLog::Options options_;
};

TEST_F(HandshakeFailuresTest, OneLinePerClientAndIntervalWithTheCountLeftOut) {
  HandshakeFailureLog log(options_, &refusals_);
  HandshakeFailure expired;
  expired.reason = "client certificate verify failed: certificate has expired";
  expired.subject = "CN=web1";
  expired.identity = "spiffe://dept.example/agent/web1";
  expired.cert_sha256 = std::string(64, 'a');
  for (int i = 0; i < 5; ++i) log.Report(expired);
  ASSERT_THAT(lines_, SizeIs(1));
  EXPECT_THAT(lines_[0], HasSubstr("TLS handshake refused: client certificate verify failed: "
                                   "certificate has expired; client certificate subject CN=web1, "
                                   "identity spiffe://dept.example/agent/web1, sha256 aaaa"));
  // Another client is logged at once.
  HandshakeFailure none;
  none.reason = "the client sent no certificate";
  log.Report(none);
  ASSERT_THAT(lines_, SizeIs(2));
  EXPECT_THAT(lines_[1], HasSubstr("the client sent no certificate"));
  // After the interval the first client gets its next line, with the count left out.
  now_ += absl::Seconds(61);
  log.Report(expired);
  ASSERT_THAT(lines_, SizeIs(3));
  EXPECT_THAT(lines_[2], HasSubstr("(4 more from this client since its last line)"));

  // Every refusal reached the audit budget: the first of each kind written, repeats folded.
  ASSERT_TRUE(refusals_.Close().ok());
  uint64_t refusals = 0;
  for (const AuditRecord& r : written_) {
    EXPECT_EQ(r.rpc, kHandshakeRpcName);
    EXPECT_EQ(r.agent, "");
    EXPECT_EQ(r.client_cert_sha256, "");
    refusals += r.repeated.count > 0 ? r.repeated.count : 1;
  }
  EXPECT_EQ(refusals, 7u);
}

TEST_F(HandshakeFailuresTest, ClientsBeyondTheBoundShareOneEntry) {
  options_.max_clients = 2;
  HandshakeFailureLog log(options_, nullptr);
  for (int i = 0; i < 10; ++i) {
    HandshakeFailure f;
    f.reason = "client certificate verify failed: self-signed certificate";
    f.cert_sha256 = std::string(64, static_cast<char>('a' + i));
    log.Report(f);
  }
  // Two tracked clients logged; the other eight share the overflow entry: one line.
  EXPECT_THAT(lines_, SizeIs(3));
}

TEST_F(HandshakeFailuresTest, GrpcHandshakeLinesAreCondensedAndTheVerifiersEchoDropped) {
  EXPECT_EQ(HandshakeFailureLog::ReasonFromGrpcLine(
                "Handshake failed with fatal error SSL_ERROR_SSL: error:0A0000C7:SSL "
                "routines::peer did not return a certificate."),
            "the client sent no certificate (an agent needs the certificate from its enrolment)");
  EXPECT_THAT(HandshakeFailureLog::ReasonFromGrpcLine(
                  "Handshake failed with fatal error SSL_ERROR_SSL: error:0A000102:SSL "
                  "routines::unsupported protocol."),
              HasSubstr("TLS 1.2 or newer"));
  EXPECT_EQ(HandshakeFailureLog::ReasonFromGrpcLine(
                "Handshake failed with fatal error SSL_ERROR_SSL: error:0A000126:SSL "
                "routines::unexpected eof while reading."),
            "TLS error: unexpected eof while reading");
  EXPECT_EQ(HandshakeFailureLog::ReasonFromGrpcLine(
                "Custom verification check failed with error: UNAUTHENTICATED: acme-signer "
                "refused the client certificate: client certificate verify failed"),
            "");

  HandshakeFailureLog log(options_, &refusals_);
  GrpcLogLine line;
  line.file = "ssl_transport_security.cc";
  line.message =
      "Handshake failed with fatal error SSL_ERROR_SSL: error:0A0000C7:SSL routines::peer did "
      "not return a certificate.";
  log.OnGrpcLogLine(line);
  log.OnGrpcLogLine(line);
  ASSERT_THAT(lines_, SizeIs(1));
  EXPECT_THAT(lines_[0], HasSubstr("the client sent no certificate"));
  EXPECT_THAT(lines_[0], Not(HasSubstr("E1201")));
  EXPECT_THAT(written_, SizeIs(1));
  EXPECT_THAT(written_[0].reason, HasSubstr("the client sent no certificate"));
}

TEST(GrpcLoggingTest, HandshakeLinesAreRecognisedAndOthersReworded) {
  GrpcLogLine handshake;
  handshake.file = "ssl_transport_security.cc";
  handshake.message = "Handshake failed with fatal error SSL_ERROR_SSL: ...";
  EXPECT_TRUE(IsHandshakeFailureLine(handshake));
  GrpcLogLine other;
  other.file = "chttp2_server.cc";
  other.message = "bind: address in use\n";
  EXPECT_FALSE(IsHandshakeFailureLine(other));
  EXPECT_EQ(FormatGrpcLogLine("acme-agent", other), "acme-agent: grpc: bind: address in use\\n");
}

}  // namespace
}  // namespace acme_signer::signer
