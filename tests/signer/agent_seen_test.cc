// AgentSeenRecorder: last seen throttled to one write per agent and interval (and at once for
// a new peer address), against a real SQLite state store.
#include "signer/agent_seen.h"

#include <unistd.h>

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "signer/state_store.h"

namespace acme_signer::signer {
namespace {

TEST(AgentSeenTest, WritesAtMostOncePerAgentAndInterval) {
  const std::string db = ::testing::TempDir() + "/agent_seen_test.db";
  ::unlink(db.c_str());
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(db);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  AgentSeenRecorder recorder(store->get(), absl::Minutes(1), [&] { return now; });

  EXPECT_TRUE(recorder.Note("web1", "ipv4:127.0.0.1:5000"));
  now += absl::Seconds(10);
  EXPECT_FALSE(recorder.Note("web1", "ipv4:127.0.0.1:5001"));  // same address, throttled
  EXPECT_TRUE(recorder.Note("web2", "ipv4:127.0.0.1:5002"));   // another agent
  EXPECT_TRUE(recorder.Note("web1", "ipv4:10.0.0.7:5003"));    // moved: at once
  now += absl::Seconds(61);
  EXPECT_TRUE(recorder.Note("web1", "ipv4:10.0.0.7:5004"));

  absl::StatusOr<std::vector<AgentSeen>> seen = (*store)->ListAgentsSeen();
  ASSERT_TRUE(seen.ok()) << seen.status();
  ASSERT_EQ(seen->size(), 2u);
  for (const AgentSeen& s : *seen) {
    if (s.agent == "web1") {
      EXPECT_EQ(s.peer, "10.0.0.7");
      EXPECT_EQ(s.at, now);
    } else {
      EXPECT_EQ(s.agent, "web2");
      EXPECT_EQ(s.peer, "127.0.0.1");
    }
  }
}

}  // namespace
}  // namespace acme_signer::signer
