#include "acme/server_problem.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace acme_signer::acme {
namespace {

using ::testing::ElementsAre;
using Json = nlohmann::json;

TEST(ServerProblemTest, SerialisesAsAnRfc8555ProblemDocument) {
  ServerProblem problem = MakeServerProblem(problem_type::kRejectedIdentifier, "not yours");
  problem.subproblems.push_back(
      Subproblem{"rejectedIdentifier", "outside policy", Identifier{"dns", "evil.test"}});
  const Json doc = Json::parse(problem.ToJson());
  EXPECT_EQ(doc["type"], "urn:ietf:params:acme:error:rejectedIdentifier");
  EXPECT_EQ(doc["detail"], "not yours");
  EXPECT_EQ(doc["status"], 400);
  EXPECT_EQ(doc["subproblems"][0]["type"], "urn:ietf:params:acme:error:rejectedIdentifier");
  EXPECT_EQ(doc["subproblems"][0]["identifier"]["value"], "evil.test");
  EXPECT_FALSE(doc.contains("algorithms"));
}

TEST(ServerProblemTest, BadSignatureAlgorithmListsTheAlgorithms) {
  ServerProblem problem = MakeServerProblem(problem_type::kBadSignatureAlgorithm, "no");
  problem.algorithms = {"ES256", "RS256"};
  const Json doc = Json::parse(problem.ToJson());
  EXPECT_EQ(doc["algorithms"], Json::array({"ES256", "RS256"}));
}

TEST(ServerProblemTest, TravelsThroughAStatusAndBack) {
  ServerProblem sent = MakeServerProblem(problem_type::kBadSignatureAlgorithm, "use ES256");
  sent.algorithms = {"ES256"};
  sent.subproblems.push_back(Subproblem{"malformed", "sub", std::nullopt});
  absl::Status status = sent.ToStatus();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "badSignatureAlgorithm: use ES256");
  std::optional<ServerProblem> received = GetServerProblem(status);
  ASSERT_TRUE(received.has_value());
  EXPECT_EQ(received->type, "badSignatureAlgorithm");
  EXPECT_EQ(received->detail, "use ES256");
  EXPECT_EQ(received->http_status, 400);
  EXPECT_THAT(received->algorithms, ElementsAre("ES256"));
  ASSERT_EQ(received->subproblems.size(), 1u);
  EXPECT_EQ(received->subproblems[0].type, "malformed");
}

TEST(ServerProblemTest, StatusCodesFollowTheClientSideMapping) {
  EXPECT_EQ(ServerProblemStatus(problem_type::kUnauthorized, "x").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ServerProblemStatus(problem_type::kAccountDoesNotExist, "x").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ServerProblemStatus(problem_type::kBadNonce, "x").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(ServerProblemStatus(problem_type::kExternalAccountRequired, "x").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ServerProblemTest, DefaultHttpStatusesAreThoseOfProductionServers) {
  EXPECT_EQ(DefaultHttpStatus("malformed"), 400);
  EXPECT_EQ(DefaultHttpStatus("badNonce"), 400);
  EXPECT_EQ(DefaultHttpStatus("unauthorized"), 403);
  EXPECT_EQ(DefaultHttpStatus("urn:ietf:params:acme:error:unauthorized"), 403);
  EXPECT_EQ(DefaultHttpStatus("orderNotReady"), 403);
  EXPECT_EQ(DefaultHttpStatus("rateLimited"), 429);
  EXPECT_EQ(DefaultHttpStatus("serverInternal"), 500);
  absl::Status conflict = ServerProblemStatus(problem_type::kMalformed, "key in use", 409);
  EXPECT_EQ(GetServerProblem(conflict)->http_status, 409);
}

TEST(ServerProblemTest, AStatusWithoutAProblemBecomesServerInternalWithoutItsMessage) {
  ServerProblem problem = ProblemForStatus(absl::InternalError("/var/lib/acme-signer/x broke"));
  EXPECT_EQ(problem.type, "serverInternal");
  EXPECT_EQ(problem.http_status, 500);
  EXPECT_EQ(problem.detail, "internal error");
  EXPECT_EQ(GetServerProblem(absl::InternalError("x")), std::nullopt);
}

TEST(ServerProblemTest, ALocationTravelsWithTheStatusButNotInTheDocument) {
  ServerProblem problem = MakeServerProblem("malformed", "key in use");
  problem.http_status = 409;
  problem.location = "https://signer.example/acct/abc";
  const absl::Status status = problem.ToStatus();
  const ServerProblem back = ProblemForStatus(status);
  EXPECT_EQ(back.location, "https://signer.example/acct/abc");
  EXPECT_EQ(back.http_status, 409);
  EXPECT_EQ(back.ToJson().find("signer.example"), std::string::npos);
  EXPECT_EQ(ProblemForStatus(MakeServerProblem("malformed", "x").ToStatus()).location, "");
}

}  // namespace
}  // namespace acme_signer::acme
