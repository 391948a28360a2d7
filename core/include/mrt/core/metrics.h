// Metrics in the Prometheus text exposition format (version 0.0.4):
// counters, gauges, label families and histograms with _bucket/_sum/_count.
// Updates are lock-free atomics; rendering takes a snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mrt {

class Counter {
 public:
  void add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const;
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative count of observations <= bounds()[i].
  uint64_t cumulative(size_t i) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // per bucket, not cumulative
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micro_{0};  // sum × 1e6, to stay atomic
};

// A counter per label value ("reason" → count), created on first use.
class CounterFamily {
 public:
  Counter& with(const std::string& label_value);
  std::map<std::string, uint64_t> snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Counter>> counters_;
};

// Builds exposition text; each add_* writes HELP, TYPE and samples.
class PrometheusText {
 public:
  void counter(const std::string& name, const std::string& help, uint64_t value);
  void gauge(const std::string& name, const std::string& help, double value);
  void labelled(const std::string& name, const std::string& type, const std::string& help, const std::string& label,
                const std::map<std::string, double>& values);
  // Samples with several labels: each key holds one value per label name.
  void multi_labelled(const std::string& name, const std::string& type, const std::string& help,
                      const std::vector<std::string>& labels, const std::map<std::vector<std::string>, double>& values);
  void histogram(const std::string& name, const std::string& help, const Histogram& h);
  // One histogram per label value under one name (`name_bucket{label="v",le=…}`).
  void histograms(const std::string& name, const std::string& help, const std::string& label,
                  const std::map<std::string, const Histogram*>& by_value);
  const std::string& text() const { return out_; }

 private:
  void header(const std::string& name, const std::string& type, const std::string& help);
  // The _bucket, _sum and _count lines of `h`; `labels` is "" or `k="v",`.
  void histogram_samples(const std::string& name, const std::string& labels, const Histogram& h);
  std::string out_;
};

// Escapes a label value for the text format.
std::string escape_label_value(const std::string& v);

}  // namespace mrt
