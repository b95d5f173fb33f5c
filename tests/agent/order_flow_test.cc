// The one order flow (agent/order_flow.h) over a scripted OrderBackend: what it asks of the
// backend and the solver, in which order, and what it waits for. The backends themselves run
// against Pebble (tests/acme/acme_pebble_test.cc, tests/integration).
#include "agent/order_flow.h"

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"

namespace acme_signer::agent {
namespace {

using ::acme_signer::agent::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kOrderUrl[] = "https://ca.test/order/1";

OrderView Order(acme::OrderStatus status, std::optional<absl::Duration> retry_after = {},
                int authorizations = 1) {
  return OrderView{kOrderUrl, status, retry_after, authorizations};
}

ChallengeView Http01(acme::ChallengeStatus status = acme::ChallengeStatus::kPending,
                     const std::string& token = "tok") {
  return ChallengeView{"http-01", absl::StrCat("https://ca.test/chal/", token), status, token,
                       absl::StrCat(token, ".thumb"), absl::StrCat("txt-", token)};
}

AuthorizationView Authz(const std::string& name, acme::AuthorizationStatus status,
                        std::optional<ChallengeView> challenge,
                        std::vector<std::string> offered = {"http-01", "dns-01"}) {
  return AuthorizationView{name, status, std::move(offered), std::move(challenge), ""};
}

// Answers from scripts and records every call as one line ("get", "answer <url>", ...).
class ScriptedBackend : public OrderBackend {
 public:
  std::string Destination() const override { return " (scripted)"; }
  absl::StatusOr<OrderView> CreateOrder(const std::vector<std::string>& domains,
                                        const std::string& replaces) override {
    calls.push_back(absl::StrCat("create ", domains.size(), " ", replaces));
    return created;
  }
  absl::StatusOr<OrderView> GetOrder(const std::string& url) override {
    calls.push_back("get");
    EXPECT_EQ(url, kOrderUrl);
    if (polls.empty()) return absl::InternalError("no more scripted orders");
    absl::StatusOr<OrderView> next = std::move(polls.front());
    polls.pop_front();
    return next;
  }
  absl::StatusOr<std::vector<AuthorizationView>> Authorizations(
      const OrderView&, absl::string_view type) override {
    calls.push_back(absl::StrCat("authorizations ", type));
    if (authorization_calls++ > 0 && !later_authorizations.empty()) {
      authorizations = std::move(later_authorizations.front());
      later_authorizations.pop_front();
      return authorizations;
    }
    return authorizations;
  }
  absl::Status AnswerChallenge(const ChallengeView& challenge) override {
    calls.push_back(absl::StrCat("answer ", challenge.url));
    return answer_status;
  }
  absl::Status DeactivateAuthorization(const std::string& url) override {
    calls.push_back(absl::StrCat("deactivate ", url));
    return absl::OkStatus();
  }
  absl::StatusOr<OrderView> Finalize(const OrderView&, const std::string& csr_der) override {
    calls.push_back(absl::StrCat("finalize ", csr_der));
    return finalized;
  }
  std::string FailureReason(const OrderView&) override {
    calls.push_back("reason");
    return "urn:ietf:params:acme:error:badCSR: CSR names do not match";
  }
  absl::StatusOr<IssuedChain> Download(const OrderView& order,
                                       const std::string& preferred) override {
    calls.push_back(absl::StrCat("download ", preferred));
    IssuedChain chain;
    chain.order_url = order.url;
    chain.pem_chain = "PEM";
    return chain;
  }

  absl::StatusOr<OrderView> created = Order(acme::OrderStatus::kPending);
  std::vector<AuthorizationView> authorizations;
  // Each later Authorizations call takes the next of these (then keeps answering it).
  std::deque<std::vector<AuthorizationView>> later_authorizations;
  int authorization_calls = 0;
  absl::Status answer_status;
  std::deque<absl::StatusOr<OrderView>> polls;
  absl::StatusOr<OrderView> finalized = Order(acme::OrderStatus::kProcessing);
  std::vector<std::string> calls;
};

class RecordingSolver : public ChallengeSolver {
 public:
  absl::string_view ChallengeType() const override { return "http-01"; }
  absl::Status Start() override {
    events.push_back("start");
    return absl::OkStatus();
  }
  absl::Status Present(const ChallengeTask& task) override {
    events.push_back(absl::StrCat("present ", task.domain, " ", task.key_authorization, " ",
                                  task.dns01_txt_value, " remaining=", task.remaining, " all=",
                                  task.all_domains));
    return present_status;
  }
  void CleanUp() override { events.push_back("cleanup"); }

  absl::Status present_status;
  std::vector<std::string> events;
};

class OrderFlowTest : public ::testing::Test {
 protected:
  OrderFlowTest() {
    options_.domains = {"a.test", "b.test"};
    options_.csr_der = "csr";
    options_.replaces = "ari-id";
    options_.preferred_chain = "Root X2";
    options_.progress = [this](const std::string& line) { progress_.push_back(line); };
    options_.sleep = [this](absl::Duration d) { sleeps_.push_back(d); };
  }

  absl::StatusOr<IssuedChain> Run() { return RunOrderFlow(backend_, solver_, options_); }

  ScriptedBackend backend_;
  RecordingSolver solver_;
  RelayIssueOptions options_;
  std::vector<std::string> progress_;
  std::vector<absl::Duration> sleeps_;
};

TEST_F(OrderFlowTest, PresentsEverythingFirstThenAnswersThenWaitsHonouringRetryAfter) {
  backend_.authorizations = {Authz("a.test", acme::AuthorizationStatus::kPending, Http01({}, "ta")),
                             Authz("b.test", acme::AuthorizationStatus::kPending, Http01({}, "tb"))};
  backend_.polls = {Order(acme::OrderStatus::kPending, absl::Seconds(3)),
                    Order(acme::OrderStatus::kReady),
                    Order(acme::OrderStatus::kProcessing, absl::Seconds(5)),
                    Order(acme::OrderStatus::kValid)};
  absl::StatusOr<IssuedChain> issued = Run();
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(issued->pem_chain, "PEM");
  EXPECT_EQ(issued->challenges_answered, 2);
  EXPECT_EQ(issued->authorizations_already_valid, 0);
  EXPECT_THAT(solver_.events,
              ElementsAre("start", "present a.test ta.thumb txt-ta remaining=1 all=a.test,b.test",
                          "present b.test tb.thumb txt-tb remaining=0 all=a.test,b.test",
                          "cleanup"));
  EXPECT_THAT(backend_.calls,
              ElementsAre("create 2 ari-id", "authorizations http-01",
                          "answer https://ca.test/chal/ta", "answer https://ca.test/chal/tb", "get",
                          "get", "finalize csr", "get", "get", "download Root X2"));
  // The CA's hints (3s, 5s) win over the back-off; the first wait after finalize has none.
  EXPECT_THAT(sleeps_,
              ElementsAre(absl::Seconds(3), absl::Milliseconds(250), absl::Seconds(5)));
  EXPECT_EQ(progress_.front(), "requesting a certificate for a.test, b.test (scripted)");
  EXPECT_THAT(progress_, ::testing::Contains("submitting the certificate signing request"));
}

AuthorizationView WithUrl(AuthorizationView authz) {
  authz.url = absl::StrCat("https://ca.test/authz/", authz.name);
  return authz;
}

TEST_F(OrderFlowTest, ADryRunValidatesThenDeactivatesEveryAuthorizationAndFinalizesNothing) {
  options_.dry_run = true;
  backend_.authorizations = {
      WithUrl(Authz("a.test", acme::AuthorizationStatus::kPending, Http01({}, "ta"))),
      WithUrl(Authz("b.test", acme::AuthorizationStatus::kValid, std::nullopt))};
  backend_.polls = {Order(acme::OrderStatus::kPending), Order(acme::OrderStatus::kReady)};
  absl::StatusOr<IssuedChain> issued = Run();
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_TRUE(issued->dry_run);
  EXPECT_TRUE(issued->pem_chain.empty());
  EXPECT_EQ(issued->authorizations_deactivated, 2);
  EXPECT_EQ(issued->challenges_answered, 1);
  EXPECT_THAT(
      backend_.calls,
      ElementsAre("create 2 ari-id", "authorizations http-01", "answer https://ca.test/chal/ta",
                  "get", "get", "authorizations http-01", "deactivate https://ca.test/authz/a.test",
                  "deactivate https://ca.test/authz/b.test"));
  EXPECT_THAT(solver_.events,
              ElementsAre("start", ::testing::StartsWith("present a.test"), "cleanup"));
}

TEST_F(OrderFlowTest, ADryRunWhoseOrderFailsValidationFailsAndDeactivatesNothing) {
  options_.dry_run = true;
  backend_.authorizations = {
      WithUrl(Authz("a.test", acme::AuthorizationStatus::kPending, Http01({}, "ta")))};
  backend_.polls = {Order(acme::OrderStatus::kInvalid)};
  absl::StatusOr<IssuedChain> issued = Run();
  EXPECT_THAT(issued, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("refused")));
  for (const std::string& call : backend_.calls) {
    EXPECT_FALSE(absl::StartsWith(call, "deactivate") || absl::StartsWith(call, "finalize"))
        << call;
  }
}

TEST_F(OrderFlowTest, AnOrderReadyAtCreationGoesStraightToFinalize) {
  backend_.created = Order(acme::OrderStatus::kReady, {}, /*authorizations=*/2);
  backend_.finalized = Order(acme::OrderStatus::kValid);
  absl::StatusOr<IssuedChain> issued = Run();
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(issued->authorizations_already_valid, 2);
  EXPECT_EQ(issued->challenges_answered, 0);
  EXPECT_THAT(solver_.events, IsEmpty());
  EXPECT_THAT(backend_.calls, ElementsAre("create 2 ari-id", "finalize csr", "download Root X2"));
}

TEST_F(OrderFlowTest, ValidAuthorizationsNeedNothingAndTheSolverIsNotStarted) {
  backend_.authorizations = {Authz("a.test", acme::AuthorizationStatus::kValid, std::nullopt),
                             Authz("b.test", acme::AuthorizationStatus::kValid, std::nullopt)};
  // Pre-validated names may still be checked for a moment: the order is polled until ready.
  backend_.polls = {Order(acme::OrderStatus::kReady)};
  backend_.finalized = Order(acme::OrderStatus::kValid);
  absl::StatusOr<IssuedChain> issued = Run();
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(issued->authorizations_already_valid, 2);
  EXPECT_THAT(solver_.events, IsEmpty());
  EXPECT_THAT(progress_, ::testing::Contains("a.test: already authorized, nothing to solve"));
}

TEST_F(OrderFlowTest, AChallengeThatIsNotPendingIsPublishedAndWaitedForButNotAnswered) {
  backend_.authorizations = {
      Authz("a.test", acme::AuthorizationStatus::kPending,
            Http01(acme::ChallengeStatus::kProcessing, "ta")),
      Authz("b.test", acme::AuthorizationStatus::kPending, Http01({}, "tb"))};
  backend_.polls = {Order(acme::OrderStatus::kReady), Order(acme::OrderStatus::kValid)};
  absl::StatusOr<IssuedChain> issued = Run();
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(issued->challenges_answered, 1);
  EXPECT_THAT(solver_.events, ::testing::Contains(HasSubstr("present a.test ta.thumb")));
  EXPECT_THAT(backend_.calls, ::testing::Contains("answer https://ca.test/chal/tb"));
  EXPECT_THAT(backend_.calls, ::testing::Not(::testing::Contains("answer https://ca.test/chal/ta")));
}

TEST_F(OrderFlowTest, AReadyThatLingersAfterFinalizeIsWaitedOut) {
  backend_.created = Order(acme::OrderStatus::kReady);
  backend_.finalized = Order(acme::OrderStatus::kReady);
  backend_.polls = {Order(acme::OrderStatus::kReady), Order(acme::OrderStatus::kValid)};
  absl::StatusOr<IssuedChain> issued = Run();
  ASSERT_TRUE(issued.ok()) << issued.status();
  // Finalized once only.
  EXPECT_THAT(backend_.calls, ElementsAre("create 2 ari-id", "finalize csr", "get", "get",
                                          "download Root X2"));
}

TEST_F(OrderFlowTest, NoSolvableChallengeListsWhatWasOfferedAndStartsNoSolver) {
  backend_.authorizations = {Authz("a.test", acme::AuthorizationStatus::kPending, std::nullopt,
                                   {"sectigo-email-01", "dns-01"})};
  EXPECT_THAT(Run(), StatusIs(absl::StatusCode::kFailedPrecondition,
                              AllOf(HasSubstr("the CA offers no http-01 challenge for a.test"),
                                    HasSubstr("(offered: sectigo-email-01, dns-01)"))));
  EXPECT_THAT(solver_.events, IsEmpty());
  backend_.authorizations = {Authz("a.test", acme::AuthorizationStatus::kPending, std::nullopt, {})};
  EXPECT_THAT(Run(), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("(offered: none)")));
}

TEST_F(OrderFlowTest, AnAuthorizationNoLongerPendingEndsTheRequest) {
  backend_.authorizations = {
      Authz("a.test", acme::AuthorizationStatus::kExpired, Http01())};
  EXPECT_THAT(Run(), StatusIs(absl::StatusCode::kFailedPrecondition,
                              HasSubstr("authorization for a.test is expired; start a new request")));
  EXPECT_THAT(solver_.events, IsEmpty());
}

TEST_F(OrderFlowTest, AnInvalidOrderCarriesTheCasReasonAndTheSolverIsCleanedUp) {
  backend_.authorizations = {Authz("a.test", acme::AuthorizationStatus::kPending, Http01())};
  backend_.polls = {Order(acme::OrderStatus::kInvalid)};
  EXPECT_THAT(Run(), StatusIs(absl::StatusCode::kFailedPrecondition,
                              AllOf(HasSubstr("the CA refused the order"),
                                    HasSubstr("CSR names do not match"))));
  EXPECT_EQ(solver_.events.back(), "cleanup");
  EXPECT_THAT(backend_.calls, ::testing::Not(::testing::Contains(HasSubstr("finalize"))));
}

TEST_F(OrderFlowTest, AFailedPresentStopsBeforeAnyAnswerAndStillCleansUp) {
  backend_.authorizations = {Authz("a.test", acme::AuthorizationStatus::kPending, Http01())};
  solver_.present_status = absl::PermissionDeniedError("cannot write webroot");
  EXPECT_THAT(Run(), StatusIs(absl::StatusCode::kPermissionDenied, "cannot write webroot"));
  EXPECT_THAT(solver_.events, ElementsAre("start", HasSubstr("present a.test"), "cleanup"));
  EXPECT_THAT(backend_.calls, ::testing::Not(::testing::Contains(HasSubstr("answer"))));
}

// A retried answer (its first reply lost with a signer replica) that the CA refuses because the
// first one reached it: the challenge has left pending, so the flow goes on.
TEST_F(OrderFlowTest, ARefusedAnswerToAChallengeAlreadyAnsweredCountsAsAnswered) {
  backend_.authorizations = {Authz("a.test", acme::AuthorizationStatus::kPending, Http01())};
  backend_.later_authorizations = {{Authz("a.test", acme::AuthorizationStatus::kPending,
                                          Http01(acme::ChallengeStatus::kProcessing))}};
  backend_.answer_status = absl::InvalidArgumentError("challenge is not pending");
  backend_.polls = {Order(acme::OrderStatus::kPending), Order(acme::OrderStatus::kReady),
                    Order(acme::OrderStatus::kValid)};
  absl::StatusOr<IssuedChain> issued = Run();
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_THAT(backend_.calls,
              ElementsAre("create 2 ari-id", "authorizations http-01",
                          "answer https://ca.test/chal/tok", "get", "authorizations http-01", "get",
                          "finalize csr", "get", "download Root X2"));
}

TEST_F(OrderFlowTest, ARefusedAnswerToAChallengeStillPendingEndsTheRequest) {
  backend_.authorizations = {Authz("a.test", acme::AuthorizationStatus::kPending, Http01())};
  backend_.answer_status = absl::InvalidArgumentError("the CA refused the answer");
  backend_.polls = {Order(acme::OrderStatus::kPending)};
  EXPECT_THAT(Run(), StatusIs(absl::StatusCode::kInvalidArgument, "the CA refused the answer"));
  EXPECT_THAT(solver_.events, ElementsAre("start", HasSubstr("present a.test"), "cleanup"));
}

TEST_F(OrderFlowTest, AnOrderThatIsNotValidAfterProcessingSaysHowItEnded) {
  backend_.created = Order(acme::OrderStatus::kReady);
  backend_.finalized = Order(acme::OrderStatus::kInvalid);
  EXPECT_THAT(Run(), StatusIs(absl::StatusCode::kFailedPrecondition,
                              AllOf(HasSubstr("order ended invalid"),
                                    HasSubstr("CSR names do not match"))));
}

TEST_F(OrderFlowTest, GivesUpWhenProcessingOutlastsTheTimeout) {
  backend_.created = Order(acme::OrderStatus::kReady);
  options_.processing_timeout = absl::ZeroDuration();
  // The clock is real: sleep for a moment so the second check is past the zero timeout.
  options_.sleep = [this](absl::Duration d) {
    sleeps_.push_back(d);
    absl::SleepFor(absl::Milliseconds(2));
  };
  backend_.polls = {Order(acme::OrderStatus::kProcessing), Order(acme::OrderStatus::kProcessing)};
  EXPECT_THAT(Run(), StatusIs(absl::StatusCode::kDeadlineExceeded,
                              AllOf(HasSubstr("gave up waiting for the CA to issue"),
                                    HasSubstr(kOrderUrl), HasSubstr("is still processing"),
                                    HasSubstr("the order continues at the CA"))));
}

TEST_F(OrderFlowTest, WaitsGrowFromMinPollToMaxPollAndARetryAfterIsCappedAtTenMinutes) {
  backend_.created = Order(acme::OrderStatus::kReady);
  options_.min_poll = absl::Seconds(1);
  options_.max_poll = absl::Seconds(3);
  backend_.polls = {Order(acme::OrderStatus::kProcessing), Order(acme::OrderStatus::kProcessing),
                    Order(acme::OrderStatus::kProcessing, absl::Hours(1)),
                    Order(acme::OrderStatus::kValid)};
  ASSERT_TRUE(Run().ok());
  EXPECT_THAT(sleeps_, ElementsAre(absl::Seconds(1), absl::Seconds(2), absl::Seconds(3),
                                   absl::Minutes(10)));
}

TEST_F(OrderFlowTest, RefusesAnOrderWithoutDomains) {
  options_.domains.clear();
  EXPECT_THAT(Run(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no --domain")));
  EXPECT_THAT(backend_.calls, IsEmpty());
}

}  // namespace
}  // namespace acme_signer::agent
