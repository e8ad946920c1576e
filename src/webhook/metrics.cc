#include "webhook/metrics.h"

#include <cstdio>

namespace wavebot::webhook {
namespace {

// Label values come from GitHub's event names; escape anyway, as the format requires.
std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

void Counter(std::string& out, const char* name, const char* help,
             const std::map<std::pair<std::string, std::string>, int64_t>& values) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
  for (const auto& [key, n] : values) {
    out += std::string(name) + "{event=\"" + Escape(key.first) + "\",result=\"" + Escape(key.second) + "\"} " +
           std::to_string(n) + "\n";
  }
}

}  // namespace

void Metrics::CountIngress(const std::string& event, const std::string& result) {
  std::lock_guard lock(mu_);
  ++ingress_[{event, result}];
}

void Metrics::CountProcessed(const std::string& event, const std::string& result) {
  std::lock_guard lock(mu_);
  ++processed_[{event, result}];
}

void Metrics::ObserveHandler(double seconds) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++bucket_counts_[i];
  }
  ++handler_count_;
  handler_sum_ += seconds;
}

int64_t Metrics::IngressCount(const std::string& event, const std::string& result) const {
  std::lock_guard lock(mu_);
  auto it = ingress_.find({event, result});
  return it == ingress_.end() ? 0 : it->second;
}

int64_t Metrics::ProcessedCount(const std::string& event, const std::string& result) const {
  std::lock_guard lock(mu_);
  auto it = processed_.find({event, result});
  return it == processed_.end() ? 0 : it->second;
}

std::string Metrics::Render(const QueueGauges& gauges) const {
  std::lock_guard lock(mu_);
  std::string out;
  Counter(out, "wavebot_webhook_deliveries_total", "Webhook requests by event and ingress answer.", ingress_);
  Counter(out, "wavebot_webhook_processed_total", "Handler outcomes by event.", processed_);
  out += "# HELP wavebot_webhook_handler_duration_seconds Time a handler took per delivery.\n"
         "# TYPE wavebot_webhook_handler_duration_seconds histogram\n";
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    out += "wavebot_webhook_handler_duration_seconds_bucket{le=\"" + Num(kBuckets[i]) + "\"} " +
           std::to_string(bucket_counts_[i]) + "\n";
  }
  out += "wavebot_webhook_handler_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(handler_count_) + "\n";
  out += "wavebot_webhook_handler_duration_seconds_sum " + Num(handler_sum_) + "\n";
  out += "wavebot_webhook_handler_duration_seconds_count " + std::to_string(handler_count_) + "\n";
  out += "# HELP wavebot_webhook_queue_depth Deliveries stored and not yet processed.\n"
         "# TYPE wavebot_webhook_queue_depth gauge\n"
         "wavebot_webhook_queue_depth " + std::to_string(gauges.pending) + "\n";
  out += "# HELP wavebot_webhook_dead_deliveries Deliveries parked after too many handler failures.\n"
         "# TYPE wavebot_webhook_dead_deliveries gauge\n"
         "wavebot_webhook_dead_deliveries " + std::to_string(gauges.dead) + "\n";
  out += "# HELP wavebot_webhook_oldest_pending_age_seconds Age of the oldest unprocessed delivery.\n"
         "# TYPE wavebot_webhook_oldest_pending_age_seconds gauge\n"
         "wavebot_webhook_oldest_pending_age_seconds " + Num(gauges.oldest_pending_age_seconds) + "\n";
  return out;
}

}  // namespace wavebot::webhook
