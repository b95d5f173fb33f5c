#include "acme/problem.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/acme/status_matchers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

Problem MakeProblem(const std::string& type, const std::string& detail, int status = 400) {
  auto problem = ParseProblem(R"({"type":"urn:ietf:params:acme:error:)" + type + R"(","detail":")" +
                              detail + R"(","status":)" + std::to_string(status) + "}");
  EXPECT_TRUE(problem.ok()) << problem.status();
  return *problem;
}

TEST(ProblemTest, ParsesTypeDetailStatusAndSubproblems) {
  auto problem = ParseProblem(R"({
    "type": "urn:ietf:params:acme:error:malformed",
    "detail": "Some of the identifiers requested were rejected",
    "status": 400,
    "subproblems": [
      {"type": "urn:ietf:params:acme:error:malformed", "detail": "Invalid underscore",
       "identifier": {"type": "dns", "value": "_example.org"}},
      {"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "policy",
       "identifier": {"type": "dns", "value": "example.net"}}
    ]})");
  ASSERT_TRUE(problem.ok()) << problem.status();
  EXPECT_TRUE(problem->Is("malformed"));
  EXPECT_EQ(problem->ShortType(), "malformed");
  EXPECT_EQ(problem->status, 400);
  ASSERT_EQ(problem->subproblems.size(), 2u);
  EXPECT_EQ(problem->subproblems[1].identifier->value, "example.net");
}

TEST(ProblemTest, RejectsDocumentsWithWrongTypes) {
  EXPECT_THAT(ParseProblem(R"({"type": 5})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("problem.type")));
  EXPECT_THAT(ParseProblem(R"({"status": "400"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("problem.status")));
  EXPECT_THAT(ParseProblem(R"({"subproblems": {}})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("subproblems")));
  EXPECT_THAT(ParseProblem("<html>"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
}

TEST(ProblemToStatusTest, ExternalAccountRequiredTellsHowToProvideEab) {
  absl::Status status = ProblemToStatus(MakeProblem("externalAccountRequired", "no EAB"),
                                        "registering the ACME account");
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition,
                               AllOf(HasSubstr("registering the ACME account"),
                                     HasSubstr("this CA requires External Account Binding; run "
                                               "`acme-signer init` with --eab-kid and "
                                               "--eab-hmac-key-file"))));
}

TEST(ProblemToStatusTest, MapsErrorTypesToCodes) {
  struct Case {
    const char* type;
    absl::StatusCode code;
  } cases[] = {
      {"rateLimited", absl::StatusCode::kResourceExhausted},
      {"unauthorized", absl::StatusCode::kPermissionDenied},
      {"rejectedIdentifier", absl::StatusCode::kInvalidArgument},
      {"badCSR", absl::StatusCode::kInvalidArgument},
      {"malformed", absl::StatusCode::kInvalidArgument},
      {"serverInternal", absl::StatusCode::kUnavailable},
      {"accountDoesNotExist", absl::StatusCode::kNotFound},
      {"alreadyRevoked", absl::StatusCode::kAlreadyExists},
      {"orderNotReady", absl::StatusCode::kFailedPrecondition},
      {"incorrectResponse", absl::StatusCode::kFailedPrecondition},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ProblemToStatus(MakeProblem(c.type, "x"), "ctx").code(), c.code) << c.type;
  }
  Problem other;
  other.type = "https://ca.example/problems/weird";
  other.status = 503;
  EXPECT_EQ(ProblemCode(other), absl::StatusCode::kUnavailable);
  other.status = 404;
  EXPECT_EQ(ProblemCode(other), absl::StatusCode::kFailedPrecondition);
}

TEST(ProblemToStatusTest, RateLimitedMessageSaysWhenToRetry) {
  Problem problem = MakeProblem("rateLimited", "too many certificates", 429);
  problem.retry_after = absl::Seconds(3600);
  absl::Status status = ProblemToStatus(problem, "creating an order");
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("too many certificates"), HasSubstr("retry after 1h"))));
}

// gRPC carries only the message to the agent, so the retry time must be in it.
TEST(ProblemToStatusTest, ServerErrorMessageSaysWhenTheCaAsksToRetry) {
  Problem problem = MakeProblem("serverInternal", "maintenance", 503);
  problem.retry_after = absl::Seconds(90);
  EXPECT_THAT(ProblemToStatus(problem, "finalizing"),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("maintenance"), HasSubstr("retry after 1m30s"))));
  problem.retry_after.reset();
  EXPECT_THAT(ProblemToStatus(problem, "finalizing").message(),
              ::testing::Not(HasSubstr("retry after")));
}

TEST(ProblemToStatusTest, MessageListsSubproblemsWithTheirIdentifiers) {
  auto problem = ParseProblem(R"({"type":"urn:ietf:params:acme:error:rejectedIdentifier",
      "detail":"refused","subproblems":[{"type":"urn:ietf:params:acme:error:rejectedIdentifier",
      "detail":"blocked name","identifier":{"type":"dns","value":"bad.test"}}]})");
  ASSERT_TRUE(problem.ok());
  EXPECT_THAT(ProblemToStatus(*problem, "ordering"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bad.test: rejectedIdentifier (blocked name)")));
}

TEST(GetProblemTest, RecoversTheDocumentStatusAndRetryAfterFromTheStatus) {
  Problem problem = MakeProblem("rateLimited", "slow down", 429);
  problem.retry_after = absl::Seconds(30);
  absl::Status status = ProblemToStatus(problem, "ctx");
  std::optional<Problem> recovered = GetProblem(status);
  ASSERT_TRUE(recovered.has_value());
  EXPECT_EQ(recovered->type, problem.type);
  EXPECT_EQ(recovered->detail, "slow down");
  EXPECT_EQ(recovered->status, 429);
  EXPECT_EQ(recovered->retry_after, absl::Seconds(30));
  EXPECT_EQ(recovered->raw_json, problem.raw_json);
  EXPECT_FALSE(GetProblem(absl::InternalError("plain")).has_value());
}

TEST(ProblemToStatusTest, ControlCharactersFromTheServerDoNotReachTheMessage) {
  Problem problem = MakeProblem("malformed", "line1\\nline2\\u001b[31m");
  absl::Status status = ProblemToStatus(problem, "ctx");
  EXPECT_THAT(std::string(status.message()), ::testing::Not(HasSubstr("\n")));
  EXPECT_THAT(std::string(status.message()), ::testing::Not(HasSubstr("\x1b")));
}

}  // namespace
}  // namespace acme_signer::acme
