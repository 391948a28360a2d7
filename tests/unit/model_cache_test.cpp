// Model cache: LRU by bytes, refcounts, coalesced loads, failure handling,
// owners' shares, invalidation.
#include "mrt/core/model_cache.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "test_support.h"

namespace mrt {
namespace {

struct FakeModel {
  FakeModel(std::string k, uint64_t b, std::atomic<int>* alive) : key(std::move(k)), bytes(b), alive_count(alive) { ++*alive_count; }
  ~FakeModel() { --*alive_count; }
  uint64_t resident_bytes() const { return bytes; }
  std::string key;
  uint64_t bytes;
  std::atomic<int>* alive_count;
};

// Sizes by key: "a100" is 100 bytes. Keys starting with "fail" fail.
class CacheTest : public ::testing::Test {
 protected:
  using Cache = ModelCache<FakeModel>;
  Cache make(uint64_t budget, std::chrono::milliseconds delay = {}) { return make(ModelCacheOptions{budget}, delay); }
  Cache make(ModelCacheOptions options, std::chrono::milliseconds delay = {}) {
    return Cache(std::move(options), [this, delay](const std::string& key) -> Result<std::shared_ptr<FakeModel>> {
      ++loads;
      std::this_thread::sleep_for(delay);
      if (key.rfind("fail", 0) == 0) return Status(MRT_CODE_DATA_LOSS, "corrupt " + key);
      return std::make_shared<FakeModel>(key, std::stoull(key.substr(1)), &alive);
    });
  }
  std::atomic<int> loads{0};
  std::atomic<int> alive{0};
};

TEST_F(CacheTest, HitDoesNotReload) {
  auto cache = make(0);
  { auto h = cache.acquire("a10"); ASSERT_TRUE(h); EXPECT_EQ((*h)->key, "a10"); }
  { auto h = cache.acquire("a10"); ASSERT_TRUE(h); }
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.stats().misses, 1u);
}

TEST_F(CacheTest, EvictsLeastRecentlyUsedByBytes) {
  auto cache = make(300);
  (void)cache.acquire("a100");
  (void)cache.acquire("b100");
  (void)cache.acquire("c100");
  (void)cache.acquire("a100");  // a is now most recent; b is the LRU
  (void)cache.acquire("d150");  // needs 150: evicts b then c
  std::vector<std::string> keys;
  for (const auto& e : cache.resident()) keys.push_back(e.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"a100", "d150"}));
  EXPECT_EQ(cache.stats().used_bytes, 250u);
  EXPECT_EQ(cache.stats().evictions, 2u);
  EXPECT_EQ(alive, 2);  // evicted models were destroyed
}

TEST_F(CacheTest, NeverEvictsAModelInUse) {
  auto cache = make(200);
  auto held = cache.acquire("a100");
  ASSERT_TRUE(held);
  (void)cache.acquire("b100");
  auto c = cache.acquire("c150");  // a is held, b alone is not enough room
  ASSERT_FALSE(c);
  EXPECT_EQ(c.status().code(), MRT_CODE_RESOURCE_EXHAUSTED);
  EXPECT_NE(c.status().message().find("in use"), std::string::npos) << c.status().message();
  EXPECT_EQ((*held)->key, "a100");  // still valid
  auto handle_copy = *held;
  held = Status(MRT_CODE_CANCELLED, "drop");
  EXPECT_EQ(cache.resident().at(0).users, 1);  // the copy still holds it
}

TEST_F(CacheTest, ModelLargerThanBudgetIsRefusedAndUnloaded) {
  auto cache = make(100);
  auto r = cache.acquire("a500");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), MRT_CODE_RESOURCE_EXHAUSTED);
  EXPECT_NE(r.status().message().find("more than the cache budget"), std::string::npos);
  EXPECT_EQ(alive, 0);
  EXPECT_TRUE(cache.resident().empty());
}

TEST_F(CacheTest, ConcurrentAcquiresCoalesceIntoOneLoad) {
  auto cache = make(0, std::chrono::milliseconds(100));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 16; ++i)
    threads.emplace_back([&] {
      auto h = cache.acquire("a10");
      if (h && (*h)->key == "a10") ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 16);
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(cache.stats().loads, 1u);
}

TEST_F(CacheTest, FailedLoadReachesEveryWaiterAndIsRetried) {
  auto cache = make(0, std::chrono::milliseconds(100));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      auto h = cache.acquire("fail1");
      if (!h && h.status().message() == "corrupt fail1") ++failures;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 8);
  EXPECT_EQ(loads, 1);  // coalesced, too
  EXPECT_FALSE(cache.acquire("fail1"));
  EXPECT_EQ(loads, 2);  // not cached: retried on the next request
}

TEST_F(CacheTest, UnloadWhileInUseFreesAfterLastHandle) {
  auto cache = make(0);
  auto h = cache.acquire("a10");
  ASSERT_TRUE(h);
  EXPECT_TRUE(cache.unload("a10").is_ok());
  EXPECT_EQ(alive, 1);  // the request still holds it
  EXPECT_EQ(cache.stats().resident_models, 0u);
  h = Status(MRT_CODE_CANCELLED, "done");
  EXPECT_EQ(alive, 0);
  EXPECT_EQ(cache.unload("a10").code(), MRT_CODE_NOT_FOUND);
}

TEST_F(CacheTest, ManyThreadsManyKeysStayWithinBudget) {
  auto cache = make(1000);
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string key = std::string(1, static_cast<char>('a' + (i * 7 + t) % 12)) + "200";
        auto h = cache.acquire(key);
        if (!h) {
          // Only budget pressure from models held by other threads may refuse.
          if (h.status().code() != MRT_CODE_RESOURCE_EXHAUSTED) ++errors;
          continue;
        }
        if ((*h)->key != key) ++errors;
        EXPECT_LE(cache.stats().used_bytes, 1000u);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors, 0);
  EXPECT_LE(cache.stats().used_bytes, 1000u);
  EXPECT_EQ(static_cast<size_t>(alive), cache.resident().size());
}

// Keys of the resident models, in key order.
std::vector<std::string> keys_of(const ModelCache<FakeModel>& cache) {
  std::vector<std::string> keys;
  for (const auto& e : cache.resident()) keys.push_back(e.key);
  return keys;
}

ModelCacheOptions half_share(uint64_t budget) { return {budget, 0.5, "limits.per_aid.cache_share"}; }

TEST_F(CacheTest, OwnerLoadingManyModelsEvictsOnlyItsOwn) {
  auto cache = make(half_share(1000));
  ASSERT_TRUE(cache.acquire("s200"));        // a system model (no owner)
  ASSERT_TRUE(cache.acquire("b300", "B"));   // user B's
  // A loads model after model: at most 500 bytes of A's at a time, and
  // each load beyond that displaces A's own least recently used one.
  for (char c = 'c'; c <= 'r'; ++c) {
    std::string key = std::string(1, c) + "200";
    auto h = cache.acquire(key, "A");
    ASSERT_TRUE(h) << key << ": " << h.status().to_string();
    EXPECT_LE(cache.owner_bytes("A"), 500u);
    auto keys = keys_of(cache);
    EXPECT_NE(std::find(keys.begin(), keys.end(), "s200"), keys.end()) << key;
    EXPECT_NE(std::find(keys.begin(), keys.end(), "b300"), keys.end()) << key;
  }
  EXPECT_EQ(cache.owner_bytes("A"), 400u);
  EXPECT_EQ(cache.owner_bytes("B"), 300u);
  EXPECT_EQ(cache.stats().evictions, 14u);  // 16 loads, the last two stay
  EXPECT_EQ(keys_of(cache), (std::vector<std::string>{"b300", "q200", "r200", "s200"}));
}

TEST_F(CacheTest, OwnerTakesFromOthersAtMostItsShare) {
  auto cache = make(half_share(1000));
  ASSERT_TRUE(cache.acquire("s400"));
  ASSERT_TRUE(cache.acquire("b400", "B"));
  // The cache is full of idle models of others: A may take room up to its
  // share, least recently used first (the system model)...
  ASSERT_TRUE(cache.acquire("x300", "A"));
  EXPECT_EQ(keys_of(cache), (std::vector<std::string>{"b400", "x300"}));
  ASSERT_TRUE(cache.acquire("y200", "A"));
  // ...and no more, however often it loads.
  for (char c = 'c'; c <= 'k'; ++c) ASSERT_TRUE(cache.acquire(std::string(1, c) + "200", "A"));
  EXPECT_EQ(keys_of(cache), (std::vector<std::string>{"b400", "j200", "k200"}));
  EXPECT_EQ(cache.owner_bytes("B"), 400u);
  EXPECT_LE(cache.owner_bytes("A"), 500u);
}

TEST_F(CacheTest, OverShareIsRefusedNamingTheLimit) {
  auto cache = make(half_share(1000));
  auto big = cache.acquire("a600", "A");
  ASSERT_FALSE(big);
  EXPECT_EQ(big.status().code(), MRT_CODE_RESOURCE_EXHAUSTED);
  std::string why = big.status().message();
  EXPECT_NE(why.find("limits.per_aid.cache_share 0.5"), std::string::npos) << why;
  EXPECT_NE(why.find("needs 600 bytes"), std::string::npos) << why;
  EXPECT_NE(why.find("500 bytes"), std::string::npos) << why;
  EXPECT_EQ(alive, 0);  // unloaded
  // A system model of the same size fits the budget.
  EXPECT_TRUE(cache.acquire("s600"));
  // A's share held by A's own models in use: refused, nothing evicted.
  auto held = cache.acquire("h300", "A");
  ASSERT_TRUE(held);
  auto more = cache.acquire("m300", "A");
  ASSERT_FALSE(more);
  EXPECT_EQ(more.status().code(), MRT_CODE_RESOURCE_EXHAUSTED);
  EXPECT_NE(more.status().message().find("in use hold 300 bytes"), std::string::npos) << more.status().message();
  EXPECT_NE(more.status().message().find("limits.per_aid.cache_share"), std::string::npos) << more.status().message();
  EXPECT_EQ(keys_of(cache), (std::vector<std::string>{"h300", "s600"}));
}

TEST_F(CacheTest, SystemLoadsEvictLeastRecentlyUsedAcrossOwners) {
  auto cache = make(half_share(1000));
  ASSERT_TRUE(cache.acquire("a400", "A"));
  ASSERT_TRUE(cache.acquire("b400", "B"));
  ASSERT_TRUE(cache.acquire("s300"));  // evicts A's (the LRU)
  EXPECT_EQ(keys_of(cache), (std::vector<std::string>{"b400", "s300"}));
  EXPECT_EQ(cache.owner_bytes("A"), 0u);
  ASSERT_TRUE(cache.acquire("t500"));  // evicts B's
  EXPECT_EQ(keys_of(cache), (std::vector<std::string>{"s300", "t500"}));
}

TEST_F(CacheTest, RefusedLoadEvictsNothing) {
  auto cache = make(300);
  auto held = cache.acquire("a100");
  ASSERT_TRUE(cache.acquire("b150"));
  auto c = cache.acquire("c250");  // b alone would not make room: b stays
  ASSERT_FALSE(c);
  EXPECT_EQ(keys_of(cache), (std::vector<std::string>{"a100", "b150"}));
  EXPECT_EQ(cache.stats().evictions, 0u);
}

TEST_F(CacheTest, InvalidateDropsTheEntryAndTheNextAcquireLoadsAgain) {
  auto cache = make(half_share(1000));
  auto h = cache.acquire("a100", "A");
  ASSERT_TRUE(h);
  EXPECT_TRUE(cache.invalidate("a100", *h));
  EXPECT_EQ(alive, 1);  // the holder finishes with it
  EXPECT_EQ(cache.owner_bytes("A"), 0u);
  auto again = cache.acquire("a100", "A");
  ASSERT_TRUE(again);
  EXPECT_EQ(loads, 2);
  EXPECT_NE(again->get(), h->get());
  EXPECT_FALSE(cache.invalidate("a100", *h));  // a stale handle drops nothing
  EXPECT_EQ(cache.stats().resident_models, 1u);
  EXPECT_EQ(cache.stats().invalidations, 1u);
  h = Status(MRT_CODE_CANCELLED, "done");
  EXPECT_EQ(alive, 1);
}

}  // namespace
}  // namespace mrt
