#include "store/delivery_retention.h"

#include <algorithm>

namespace wavebot::store {

Result<int64_t> SweepDeliveryBodies(DeliveryStore* store, Clock* clock, const DeliveryRetentionOptions& options) {
  if (options.retention.count() <= 0) return int64_t{0};
  const TimePoint now = clock->Now();
  // A retention longer than the clock's epoch (a typo like 100000d) keeps everything rather than overflow.
  if (options.retention >= std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch())) return int64_t{0};
  const TimePoint cutoff = now - options.retention;
  const int batch = std::max(1, options.batch);
  int64_t total = 0;
  while (true) {
    auto n = store->DropProcessedBodies(cutoff, batch);
    if (!n.ok()) return n.error();
    total += *n;
    if (*n < batch) return total;
  }
}

std::chrono::seconds SweepInterval(std::chrono::seconds retention) {
  return std::clamp(retention, std::chrono::seconds(60), std::chrono::seconds(3600));
}

}  // namespace wavebot::store
