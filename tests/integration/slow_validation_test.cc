// The relay issuance flow (agent/relay_issuer.h) against a CA that validates late, as real CAs
// do: Pebble with its VA sleeping a random 0 or 1 s before each of its three validation requests
// per challenge. The challenge answer must stay served until the order leaves `pending`; a
// flow that cleans up right after asking the CA to validate fails here with "connection
// refused" from Pebble's VA (with two names and six draws, all but 1 in 64 runs), where the
// default no-sleep Pebble hit that race only under CPU load.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "agent/relay_issuer.h"
#include "agent/signer_client.h"
#include "agent/standalone_solver.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/lab_orders.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class SlowValidationTest : public testing::SignerLabSuite<SlowValidationTest> {
 public:
  static testing::SignerLab::Options LabOptions() {
    testing::SignerLab::Options options;
    options.enroll = {"web1"};
    options.pebble_env = {{"PEBBLE_VA_NOSLEEP", ""},
                          {"PEBBLE_VA_SLEEPTIME", "2"},
                          {"PEBBLE_AUTHZREUSE", "0"},
                          {"PEBBLE_WFE_NONCEREJECT", "0"}};
    return options;
  }
};

TEST_F(SlowValidationTest, RelayIssuanceServesTheChallengeUntilTheCaHasValidated) {
  std::unique_ptr<agent::SignerClient> client = Client("web1");
  ASSERT_NE(client, nullptr);
  const std::vector<std::string> names = {"web1.example.test", "slow.web1.example.test"};
  absl::StatusOr<std::string> csr = testing::NewCsrDer(names);
  ASSERT_TRUE(csr.ok()) << csr.status();

  agent::StandaloneSolver solver("127.0.0.1", lab().http_port());
  agent::RelayIssueOptions options;
  options.domains = names;
  options.csr_der = *csr;
  absl::StatusOr<agent::IssuedChain> issued = agent::IssueThroughSigner(*client, solver, options);
  ASSERT_TRUE(issued.ok()) << issued.status() << "\n" << lab().pebble().LogTail();
  EXPECT_THAT(issued->serial, Not(IsEmpty()));
  EXPECT_THAT(issued->pem_chain, HasSubstr("BEGIN CERTIFICATE"));
}

}  // namespace
}  // namespace acme_signer
