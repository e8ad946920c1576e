// Counters of the webhook pipeline, rendered in the Prometheus text format by /metrics.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace wavebot::webhook {

// Values read from the store at scrape time.
struct QueueGauges {
  int64_t pending = 0;     // pending + processing
  int64_t dead = 0;
  double oldest_pending_age_seconds = 0;
};

class Metrics {
 public:
  // Ingress answers: result is accepted, duplicate, ignored, ping, unauthorized, bad_request,
  // too_large, unsupported_media_type or error. Thread-safe.
  void CountIngress(const std::string& event, const std::string& result);
  // Dispatch outcomes: result is done, unrouted, retry, dead. Thread-safe.
  void CountProcessed(const std::string& event, const std::string& result);
  // One handler run of `seconds`. Thread-safe.
  void ObserveHandler(double seconds);

  // The Prometheus exposition text of everything above plus `gauges`. Thread-safe.
  std::string Render(const QueueGauges& gauges) const;

  // For tests: the current value of a counter (0 when never counted).
  int64_t IngressCount(const std::string& event, const std::string& result) const;
  int64_t ProcessedCount(const std::string& event, const std::string& result) const;

  static constexpr std::array<double, 10> kBuckets = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120};

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, int64_t> ingress_;    // guarded by mu_
  std::map<std::pair<std::string, std::string>, int64_t> processed_;  // guarded by mu_
  std::array<int64_t, kBuckets.size()> bucket_counts_{};             // guarded by mu_
  int64_t handler_count_ = 0;                                         // guarded by mu_
  double handler_sum_ = 0;                                            // guarded by mu_
};

}  // namespace wavebot::webhook
