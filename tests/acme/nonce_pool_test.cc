#include "acme/nonce_pool.h"

#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace acme_signer::acme {
namespace {

TEST(NoncePoolTest, HandsOutEachNonceOnceNewestFirst) {
  NoncePool pool;
  EXPECT_TRUE(pool.Put("aaa"));
  EXPECT_TRUE(pool.Put("bbb"));
  EXPECT_EQ(pool.Take(), "bbb");
  EXPECT_EQ(pool.Take(), "aaa");
  EXPECT_EQ(pool.Take(), std::nullopt);
}

TEST(NoncePoolTest, RefusesNoncesThatAreNotBase64Url) {
  NoncePool pool;
  EXPECT_FALSE(pool.Put(""));
  EXPECT_FALSE(pool.Put("abc="));
  EXPECT_FALSE(pool.Put("a b"));
  EXPECT_FALSE(pool.Put(std::string(1000, 'a')));
  EXPECT_EQ(pool.size(), 0u);
}

TEST(NoncePoolTest, DropsTheOldestWhenFull) {
  NoncePool pool(2);
  pool.Put("n1");
  pool.Put("n2");
  pool.Put("n3");
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_EQ(pool.Take(), "n3");
  EXPECT_EQ(pool.Take(), "n2");
}

TEST(NoncePoolTest, ConcurrentTakersNeverGetTheSameNonce) {
  NoncePool pool(1000);
  for (int i = 0; i < 800; ++i) pool.Put(absl::StrCat("n", i));
  std::vector<std::vector<std::string>> taken(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      while (auto nonce = pool.Take()) taken[t].push_back(*nonce);
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::string> all;
  size_t count = 0;
  for (const auto& list : taken) {
    count += list.size();
    all.insert(list.begin(), list.end());
  }
  EXPECT_EQ(count, 800u);
  EXPECT_EQ(all.size(), 800u);
}

}  // namespace
}  // namespace acme_signer::acme
