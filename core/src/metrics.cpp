#include "mrt/core/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mrt {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) {
  size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micro_.fetch_add(static_cast<uint64_t>(std::max(0.0, v) * 1e6), std::memory_order_relaxed);
}

double Histogram::sum() const { return static_cast<double>(sum_micro_.load(std::memory_order_relaxed)) / 1e6; }

uint64_t Histogram::cumulative(size_t i) const {
  uint64_t n = 0;
  for (size_t k = 0; k <= i && k <= bounds_.size(); ++k) n += buckets_[k].load(std::memory_order_relaxed);
  return n;
}

Counter& CounterFamily::with(const std::string& label_value) {
  std::lock_guard lock(mutex_);
  auto& c = counters_[label_value];
  if (!c) c = std::make_unique<Counter>();
  return *c;
}

std::map<std::string, uint64_t> CounterFamily::snapshot() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, uint64_t> out;
  for (const auto& [k, c] : counters_) out[k] = c->value();
  return out;
}

namespace {
std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.12g", v);
  return buf;
}
}  // namespace

std::string escape_label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void PrometheusText::header(const std::string& name, const std::string& type, const std::string& help) {
  out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void PrometheusText::counter(const std::string& name, const std::string& help, uint64_t value) {
  header(name, "counter", help);
  out_ += name + " " + std::to_string(value) + "\n";
}

void PrometheusText::gauge(const std::string& name, const std::string& help, double value) {
  header(name, "gauge", help);
  out_ += name + " " + number(value) + "\n";
}

void PrometheusText::labelled(const std::string& name, const std::string& type, const std::string& help,
                              const std::string& label, const std::map<std::string, double>& values) {
  header(name, type, help);
  for (const auto& [k, v] : values) out_ += name + "{" + label + "=\"" + escape_label_value(k) + "\"} " + number(v) + "\n";
}

void PrometheusText::multi_labelled(const std::string& name, const std::string& type, const std::string& help,
                                    const std::vector<std::string>& labels,
                                    const std::map<std::vector<std::string>, double>& values) {
  header(name, type, help);
  for (const auto& [key, v] : values) {
    std::string set;
    for (size_t i = 0; i < labels.size() && i < key.size(); ++i)
      set += (i ? "," : "") + labels[i] + "=\"" + escape_label_value(key[i]) + "\"";
    out_ += name + "{" + set + "} " + number(v) + "\n";
  }
}

void PrometheusText::histogram(const std::string& name, const std::string& help, const Histogram& h) {
  header(name, "histogram", help);
  histogram_samples(name, "", h);
}

void PrometheusText::histograms(const std::string& name, const std::string& help, const std::string& label,
                                const std::map<std::string, const Histogram*>& by_value) {
  header(name, "histogram", help);
  for (const auto& [value, h] : by_value) histogram_samples(name, label + "=\"" + escape_label_value(value) + "\",", *h);
}

void PrometheusText::histogram_samples(const std::string& name, const std::string& labels, const Histogram& h) {
  for (size_t i = 0; i < h.bounds().size(); ++i)
    out_ += name + "_bucket{" + labels + "le=\"" + number(h.bounds()[i]) + "\"} " + std::to_string(h.cumulative(i)) + "\n";
  out_ += name + "_bucket{" + labels + "le=\"+Inf\"} " + std::to_string(h.count()) + "\n";
  std::string set = labels.empty() ? "" : "{" + labels.substr(0, labels.size() - 1) + "}";
  out_ += name + "_sum" + set + " " + number(h.sum()) + "\n";
  out_ += name + "_count" + set + " " + std::to_string(h.count()) + "\n";
}

}  // namespace mrt
