// StateStore on PostgreSQL as several signer replicas use it: two StateStore instances (two
// "replicas", each with its own connection) on one database must agree on what only one of
// them may do — admit an agent's order under its rate limit, claim an order's finalize, redeem
// an enrolment token, adopt an order — also when they race. And the store's life around the
// database: versioned migrations, refusal of an unmigrated database, a server that goes away
// and comes back.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/barrier.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signer/state_store.h"
#include "tests/signer/state_store_backend.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer::signer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

using ::acme_signer::testing::IsOk;
using ::acme_signer::testing::IsOkAndHolds;
using ::acme_signer::testing::StatusIs;
using store_testing::Backend;
using store_testing::StoreBackend;

const absl::Time kNow = absl::FromUnixSeconds(1780000000);

class StateStoreReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ACME_SIGNER_CREATE_STORE_BACKEND(backend_, Backend::kPostgresql);
    a_ = Open();
    b_ = Open();
    ASSERT_NE(a_, nullptr);
    ASSERT_NE(b_, nullptr);
  }

  std::unique_ptr<StateStore> Open() {
    absl::StatusOr<std::unique_ptr<StateStore>> store = backend_->Open(/*migrate=*/true);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // Runs `per_thread(replica, i)` on `threads` threads, alternating between the two replicas,
  // all starting together.
  template <typename F>
  void Race(int threads, F per_thread) {
    absl::Barrier* start = new absl::Barrier(threads);
    std::vector<std::thread> running;
    for (int i = 0; i < threads; ++i) {
      running.emplace_back([&, i] {
        if (start->Block()) delete start;  // the last one out frees it
        per_thread(i % 2 == 0 ? *a_ : *b_, i);
      });
    }
    for (std::thread& t : running) t.join();
  }

  std::unique_ptr<StoreBackend> backend_;
  std::unique_ptr<StateStore> a_;  // replica A
  std::unique_ptr<StateStore> b_;  // replica B
};

TEST_F(StateStoreReplicasTest, TheRateLimitOfAnAgentIsSharedByTheReplicas) {
  ASSERT_THAT(a_->AdmitRateEvent("web1", 2, absl::Hours(1), kNow), IsOk());
  absl::StatusOr<RateDecision> second =
      b_->AdmitRateEvent("web1", 2, absl::Hours(1), kNow + absl::Minutes(1));
  ASSERT_THAT(second, IsOk());
  EXPECT_TRUE(second->admitted);
  absl::StatusOr<RateDecision> third =
      a_->AdmitRateEvent("web1", 2, absl::Hours(1), kNow + absl::Minutes(2));
  ASSERT_THAT(third, IsOk());
  EXPECT_FALSE(third->admitted);
  EXPECT_EQ(third->next_free, kNow + absl::Hours(1));
  // A replica that starts later (or restarts) sees the same counters.
  std::unique_ptr<StateStore> c = Open();
  ASSERT_NE(c, nullptr);
  absl::StatusOr<RateDecision> fourth =
      c->AdmitRateEvent("web1", 2, absl::Hours(1), kNow + absl::Minutes(3));
  ASSERT_THAT(fourth, IsOk());
  EXPECT_FALSE(fourth->admitted);
}

TEST_F(StateStoreReplicasTest, RacingReplicasAdmitExactlyTheLimit) {
  constexpr int kLimit = 5;
  constexpr int kThreads = 8;
  constexpr int kAttemptsEach = 4;
  std::atomic<int> admitted{0};
  std::atomic<int> errors{0};
  Race(kThreads, [&](StateStore& replica, int i) {
    for (int n = 0; n < kAttemptsEach; ++n) {
      absl::StatusOr<RateDecision> d = replica.AdmitRateEvent(
          "web1", kLimit, absl::Hours(1), kNow + absl::Milliseconds(i * kAttemptsEach + n));
      if (!d.ok()) {
        ADD_FAILURE() << d.status();
        ++errors;
      } else if (d->admitted) {
        ++admitted;
      }
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(admitted.load(), kLimit);
  EXPECT_THAT(backend_->Sql("SELECT count(*) FROM rate_events WHERE agent = 'web1'"),
              IsOkAndHolds(absl::StrCat(kLimit, "\n")));
}

TEST_F(StateStoreReplicasTest, OnlyOneReplicaClaimsAnOrdersFinalize) {
  constexpr int kOrders = 10;
  for (int o = 0; o < kOrders; ++o) {
    ASSERT_THAT(a_->RecordOrder(absl::StrCat("https://ca.test/o/", o), "web1", {}, "f", "default"),
                IsOk());
  }
  std::atomic<int> claimed[kOrders] = {};
  std::atomic<int> refused{0};
  std::atomic<int> errors{0};
  Race(6, [&](StateStore& replica, int i) {
    const std::string name = absl::StrCat("replica-", i);
    for (int o = 0; o < kOrders; ++o) {
      absl::Status s = replica.ClaimOrderFinalize(absl::StrCat("https://ca.test/o/", o), name,
                                                  kNow, absl::Minutes(5));
      if (s.ok()) {
        ++claimed[o];
      } else if (s.code() == absl::StatusCode::kFailedPrecondition &&
                 absl::StrContains(s.message(), "is being finalized by replica replica-")) {
        ++refused;
      } else {
        ADD_FAILURE() << s;
        ++errors;
      }
    }
  });
  EXPECT_EQ(errors.load(), 0);
  for (int o = 0; o < kOrders; ++o) EXPECT_EQ(claimed[o].load(), 1) << "order " << o;
  EXPECT_EQ(refused.load(), 5 * kOrders);
  // The holder releases; another replica may claim then.
  absl::StatusOr<std::string> holder = backend_->Sql(
      "SELECT finalize_claimed_by FROM orders WHERE order_url = 'https://ca.test/o/0'");
  ASSERT_THAT(holder, IsOk());
  const std::string holder_name(absl::StripTrailingAsciiWhitespace(*holder));
  EXPECT_THAT(b_->ClaimOrderFinalize("https://ca.test/o/0", "replica-x", kNow, absl::Minutes(5)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(holder_name)));
  ASSERT_THAT(a_->ReleaseOrderFinalize("https://ca.test/o/0", holder_name), IsOk());
  EXPECT_THAT(b_->ClaimOrderFinalize("https://ca.test/o/0", "replica-x", kNow, absl::Minutes(5)),
              IsOk());
}

TEST_F(StateStoreReplicasTest, AnEnrollmentTokenIsRedeemedOnceWhenReplicasRace) {
  EnrollmentToken token;
  token.token_sha256 = std::string(64, '7');
  token.agent = "web3";
  token.created = kNow;
  token.expires = kNow + absl::Hours(1);
  ASSERT_THAT(a_->AddEnrollmentToken(token), IsOk());
  std::atomic<int> redeemed{0};
  std::atomic<int> already_used{0};
  std::atomic<int> errors{0};
  Race(8, [&](StateStore& replica, int) {
    absl::StatusOr<EnrollmentToken> r = replica.RedeemEnrollmentToken(token.token_sha256, kNow);
    if (r.ok()) {
      ++redeemed;
    } else if (r.status().code() == absl::StatusCode::kFailedPrecondition) {
      ++already_used;
    } else {
      ADD_FAILURE() << r.status();
      ++errors;
    }
  });
  EXPECT_EQ(redeemed.load(), 1);
  EXPECT_EQ(already_used.load(), 7);
  EXPECT_EQ(errors.load(), 0);
}

TEST_F(StateStoreReplicasTest, RacingAdoptionsOfOneOrderUseOneIntent) {
  // Two newOrders with the same identifiers were signed; the order made of one is adopted by
  // several requests of its agent at once, on both replicas: one intent is used, one is left.
  for (int i = 0; i < 2; ++i) {
    ASSERT_THAT(a_->RecordNewOrderIntent("web1", "default", {Identifier::Dns("a.test")},
                                         kNow + absl::Seconds(i), absl::Hours(100000)),
                IsOk());
  }
  AdoptedOrder order;
  order.order_url = "https://ca.test/o/adopt";
  order.agent = "web1";
  order.account = "default";
  order.identifiers = {Identifier::Dns("a.test")};
  order.finalize_url = "https://ca.test/o/adopt/finalize";
  order.resources = {{"https://ca.test/authz/adopt", order.order_url, "web1",
                      OrderResourceKind::kAuthorization}};
  std::atomic<int> errors{0};
  Race(6, [&](StateStore& replica, int) {
    absl::Status s = replica.AdoptOrder(order);
    if (!s.ok()) {
      ADD_FAILURE() << s;
      ++errors;
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_THAT(backend_->Sql("SELECT count(*) FROM new_order_intents"), IsOkAndHolds("1\n"));
  absl::StatusOr<OrderRecord> adopted = b_->FindOrder(order.order_url);
  ASSERT_THAT(adopted, IsOk());
  EXPECT_EQ(adopted->agent, "web1");
}

TEST_F(StateStoreReplicasTest, RacingNewAccountsBindAKeyIdOnceAndAKeyOnce) {
  ASSERT_THAT(a_->AddFrontDoorCredential("kid-shared", "web1", "default", kNow), IsOk());
  for (int i = 0; i < 6; ++i) {
    ASSERT_THAT(a_->AddFrontDoorCredential(absl::StrCat("kid-", i), "web1", "default", kNow),
                IsOk());
  }
  const auto account = [](std::string id, std::string kid, std::string thumbprint) {
    FrontDoorAccount a;
    a.id = std::move(id);
    a.host = "web1";
    a.eab_kid = std::move(kid);
    a.jwk = "{}";
    a.thumbprint = std::move(thumbprint);
    a.created = kNow;
    return a;
  };
  // One key id, six account keys: one account.
  std::atomic<int> created{0};
  std::atomic<int> kid_bound{0};
  Race(6, [&](StateStore& replica, int i) {
    absl::Status s = replica.CreateFrontDoorAccount(
        account(absl::StrCat("acct-kid-", i), "kid-shared", absl::StrCat("thumb-kid-", i)));
    if (s.ok()) {
      ++created;
    } else if (s.code() == absl::StatusCode::kFailedPrecondition &&
               absl::StrContains(s.message(), "already bound")) {
      ++kid_bound;
    } else {
      ADD_FAILURE() << s;
    }
  });
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(kid_bound.load(), 5);
  // Six key ids, one account key: one account, and the other key ids stay unbound.
  std::atomic<int> created_with_key{0};
  std::atomic<int> key_taken{0};
  Race(6, [&](StateStore& replica, int i) {
    absl::Status s = replica.CreateFrontDoorAccount(
        account(absl::StrCat("acct-key-", i), absl::StrCat("kid-", i), "thumb-shared"));
    if (s.ok()) {
      ++created_with_key;
    } else if (s.code() == absl::StatusCode::kAlreadyExists) {
      ++key_taken;
    } else {
      ADD_FAILURE() << s;
    }
  });
  EXPECT_EQ(created_with_key.load(), 1);
  EXPECT_EQ(key_taken.load(), 5);
  EXPECT_THAT(backend_->Sql("SELECT count(*) FROM frontdoor_credentials "
                            "WHERE kid LIKE 'kid-_' AND account_thumbprint IS NOT NULL"),
              IsOkAndHolds("1\n"));
}

TEST_F(StateStoreReplicasTest, MigrationsAreRecordedOnceAndRacingMigratesTakeTurns) {
  // The baseline (7), then each migration after it up to the current schema.
  EXPECT_THAT(backend_->Sql("SELECT version FROM schema_migrations ORDER BY version"),
              IsOkAndHolds(absl::StrCat("7\n", StateStore::kSchemaVersion, "\n")));
  // A fresh database migrated by several replicas at once: one migrates, the others find it
  // done.
  std::unique_ptr<StoreBackend> fresh;
  ACME_SIGNER_CREATE_STORE_BACKEND(fresh, Backend::kPostgresql);
  std::atomic<int> from_zero{0};
  std::atomic<int> from_current{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      absl::StatusOr<std::unique_ptr<StateStore>> store = fresh->Open(/*migrate=*/true);
      if (!store.ok()) {
        ADD_FAILURE() << store.status();
        return;
      }
      if ((*store)->schema_version_found() == 0) ++from_zero;
      if ((*store)->schema_version_found() == StateStore::kSchemaVersion) ++from_current;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(from_zero.load(), 1);
  EXPECT_EQ(from_current.load(), 3);
  // The baseline (7) and each migration after it, once.
  EXPECT_THAT(fresh->Sql("SELECT count(*) FROM schema_migrations"), IsOkAndHolds("2\n"));
}

TEST_F(StateStoreReplicasTest, ServeRefusesAnOlderOrNewerSchemaNamingWhatToDo) {
  // An older database: what a version 8 signer would find after a version 7 baseline is
  // simulated by forgetting that 7 was applied.
  ASSERT_THAT(backend_->Sql("DELETE FROM schema_migrations; "
                            "INSERT INTO schema_migrations VALUES (6, 'then')"),
              IsOk());
  EXPECT_THAT(backend_->Open(/*migrate=*/false).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("PostgreSQL"), HasSubstr("schema version 6, older than"),
                             HasSubstr("run `acme-signer migrate --config "
                                       "/etc/acme-signer/signer.toml`"))));
  ASSERT_THAT(backend_->Sql("INSERT INTO schema_migrations VALUES (99, 'later')"), IsOk());
  EXPECT_THAT(backend_->Open(/*migrate=*/true).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("schema version 99, newer than this signer's")));
  EXPECT_THAT(backend_->Open(/*migrate=*/false).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("use a newer")));
}

TEST_F(StateStoreReplicasTest, AConnectionStringWithAPasswordIsRefused) {
  StateStoreOptions options = backend_->Options(/*migrate=*/false);
  options.postgresql_url += " password=hunter2";
  absl::Status s = StateStore::Open(options).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("passfile")));
  EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("hunter2")));
}

TEST_F(StateStoreReplicasTest, CallsFailUnavailableWhileTheServerIsDownAndRecoverAfter) {
  ASSERT_THAT(a_->SetValue("k", "before"), IsOk());
  ASSERT_THAT(backend_->cluster()->Stop(), IsOk());
  EXPECT_THAT(a_->Ping(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("PostgreSQL")));
  EXPECT_THAT(a_->SetValue("k", "during"), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("")));
  EXPECT_THAT(b_->AdmitRateEvent("web1", 1, absl::Hours(1), kNow).status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("rate counters")));
  EXPECT_THAT(b_->ClaimOrderFinalize("o", "r", kNow, absl::Minutes(1)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("")));
  ASSERT_THAT(backend_->cluster()->Restart(), IsOk());
  // Recovered by themselves: no new StateStore, no restart of the "replica".
  EXPECT_THAT(a_->Ping(), IsOk());
  EXPECT_THAT(a_->GetValue("k"), IsOkAndHolds(std::optional<std::string>("before")));
  EXPECT_THAT(b_->SetValue("k", "after"), IsOk());
  EXPECT_THAT(a_->GetValue("k"), IsOkAndHolds(std::optional<std::string>("after")));
  absl::StatusOr<RateDecision> admitted = b_->AdmitRateEvent("web1", 1, absl::Hours(1), kNow);
  ASSERT_THAT(admitted, IsOk());
  EXPECT_TRUE(admitted->admitted);
}

}  // namespace
}  // namespace acme_signer::signer
