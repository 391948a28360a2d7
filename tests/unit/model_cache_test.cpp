// Model cache: LRU by bytes, refcounts, coalesced loads, failure handling.
#include "mrt/core/model_cache.h"

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
  Cache make(uint64_t budget, std::chrono::milliseconds delay = {}) {
    return Cache(budget, [this, delay](const std::string& key) -> Result<std::shared_ptr<FakeModel>> {
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

}  // namespace
}  // namespace mrt
