// Scheduler queues and deadlines; Prometheus text.
#include <atomic>
#include <chrono>
#include <thread>

#include "../unit/test_support.h"
#include "mrt/core/metrics.h"
#include "mrt/core/scheduler.h"

namespace mrt {
namespace {

using namespace std::chrono_literals;

TEST(Scheduler, FullQueueIsResourceExhaustedAtOnce) {
  Scheduler s({1, 2});
  std::atomic<bool> release{false};
  std::atomic<int> ran{0};
  auto blocker = [&] {
    while (!release) std::this_thread::sleep_for(1ms);
    ++ran;
  };
  ASSERT_TRUE(s.submit("m", nullptr, blocker, nullptr).is_ok());
  while (s.depth("m") != 0) std::this_thread::sleep_for(1ms);  // the worker took it
  ASSERT_TRUE(s.submit("m", nullptr, blocker, nullptr).is_ok());
  ASSERT_TRUE(s.submit("m", nullptr, blocker, nullptr).is_ok());
  auto t0 = std::chrono::steady_clock::now();
  Status full = s.submit("m", nullptr, blocker, nullptr);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms);
  EXPECT_EQ(full.code(), MRT_CODE_RESOURCE_EXHAUSTED);
  EXPECT_TRUE(s.submit("other-model", nullptr, blocker, nullptr).is_ok());  // queues are per model
  release = true;
  s.drain();
  EXPECT_EQ(ran, 4);
  EXPECT_EQ(s.submit("m", nullptr, blocker, nullptr).code(), MRT_CODE_UNAVAILABLE);
}

TEST(Scheduler, DeadlinesAtEnqueueAndDequeue) {
  Scheduler s({1, 8});
  auto expired = std::make_shared<CallControl>();
  expired->set_timeout(0us);
  EXPECT_EQ(s.submit("m", expired, [] {}, nullptr).code(), MRT_CODE_DEADLINE_EXCEEDED);

  std::atomic<bool> release{false};
  ASSERT_TRUE(s.submit("m", nullptr, [&] { while (!release) std::this_thread::sleep_for(1ms); }, nullptr).is_ok());
  auto soon = std::make_shared<CallControl>();
  soon->set_timeout(20ms);
  std::atomic<int> ran{0}, dropped{0};
  StatusCode why = MRT_CODE_OK;
  ASSERT_TRUE(s.submit("m", soon, [&] { ++ran; }, [&](const Status& st) { ++dropped; why = st.code(); }).is_ok());
  std::this_thread::sleep_for(50ms);  // expires while queued
  release = true;
  s.drain();
  EXPECT_EQ(ran, 0);
  EXPECT_EQ(dropped, 1);
  EXPECT_EQ(why, MRT_CODE_DEADLINE_EXCEEDED);
}

TEST(Scheduler, RoundRobinAcrossModels) {
  Scheduler s({1, 100});
  std::vector<std::string> order;
  std::mutex mu;
  std::atomic<bool> release{false};
  ASSERT_TRUE(s.submit("0", nullptr, [&] { while (!release) std::this_thread::sleep_for(1ms); }, nullptr).is_ok());
  while (s.depth("0") != 0) std::this_thread::sleep_for(1ms);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.submit("a", nullptr, [&] { std::lock_guard l(mu); order.push_back("a"); }, nullptr).is_ok());
  ASSERT_TRUE(s.submit("b", nullptr, [&] { std::lock_guard l(mu); order.push_back("b"); }, nullptr).is_ok());
  release = true;
  s.drain();
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order[1], "b");  // b is served before a's backlog is done
}

// A queue whose model batches (set_parallelism 3) runs three of its jobs at
// once on a single worker (the extra two on batch threads), never a fourth,
// and the worker is free again for another model once the batch's first
// job ends.
TEST(Scheduler, BatchingQueueRunsJobsTogether) {
  Scheduler s({1, 16});
  s.set_parallelism("llm", 3);
  std::atomic<int> running{0}, most{0}, ran{0};
  std::atomic<bool> release{false};
  auto job = [&] {
    int now = ++running;
    for (int m = most; now > m && !most.compare_exchange_weak(m, now);) {
    }
    while (!release) std::this_thread::sleep_for(1ms);
    --running;
    ++ran;
  };
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(s.submit("llm", nullptr, job, nullptr).is_ok());
  auto t0 = std::chrono::steady_clock::now();
  while (running < 3 && std::chrono::steady_clock::now() - t0 < 5s) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(running, 3);
  EXPECT_EQ(s.depth("llm"), 1u);
  std::atomic<bool> other{false};
  ASSERT_TRUE(s.submit("cnn", nullptr, [&] { other = true; }, nullptr).is_ok());
  release = true;
  s.drain();
  EXPECT_EQ(most, 3);
  EXPECT_EQ(ran, 4);
  EXPECT_TRUE(other);

  // Back to one at a time.
  s.set_parallelism("llm", 1);
}

// Without set_parallelism a model's jobs wait for the worker pool as before.
TEST(Scheduler, PlainQueueUsesWorkersOnly) {
  Scheduler s({1, 16});
  std::atomic<int> running{0}, most{0};
  std::atomic<bool> release{false};
  auto job = [&] {
    int now = ++running;
    for (int m = most; now > m && !most.compare_exchange_weak(m, now);) {
    }
    while (!release) std::this_thread::sleep_for(1ms);
    --running;
  };
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.submit("m", nullptr, job, nullptr).is_ok());
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(running, 1);
  release = true;
  s.drain();
  EXPECT_EQ(most, 1);
}

TEST(Metrics, PrometheusText) {
  Histogram h({1, 10});
  h.observe(0.5);
  h.observe(5);
  h.observe(50);
  PrometheusText t;
  t.counter("requests_total", "Requests.", 3);
  t.histogram("latency_ms", "Latency.", h);
  CounterFamily f;
  f.with("INVALID_ARGUMENT").add(2);
  std::map<std::string, double> v;
  for (auto& [k, n] : f.snapshot()) v[k] = static_cast<double>(n);
  t.labelled("failures_total", "counter", "Failures.", "reason", v);
  const std::string& s = t.text();
  EXPECT_NE(s.find("# TYPE requests_total counter\nrequests_total 3\n"), std::string::npos) << s;
  EXPECT_NE(s.find("latency_ms_bucket{le=\"1\"} 1\n"), std::string::npos) << s;
  EXPECT_NE(s.find("latency_ms_bucket{le=\"10\"} 2\n"), std::string::npos) << s;
  EXPECT_NE(s.find("latency_ms_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << s;
  EXPECT_NE(s.find("latency_ms_sum 55.5\n"), std::string::npos) << s;
  EXPECT_NE(s.find("latency_ms_count 3\n"), std::string::npos) << s;
  EXPECT_NE(s.find("failures_total{reason=\"INVALID_ARGUMENT\"} 2\n"), std::string::npos) << s;
  EXPECT_EQ(escape_label_value("a\"b\\c\n"), "a\\\"b\\\\c\\n");
}

}  // namespace
}  // namespace mrt
