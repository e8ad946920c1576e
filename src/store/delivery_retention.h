// The retention job for delivered webhook payloads: a busy organisation's deliveries are ~14 KB each,
// 36,000 an hour, and kept forever they fill the disk. Bodies of deliveries processed successfully
// are dropped once older than the retention; the rows stay (redelivery and audits need the ids).
#pragma once

#include <chrono>
#include <cstdint>

#include "common/clock.h"
#include "common/result.h"
#include "store/delivery_store.h"

namespace wavebot::store {

struct DeliveryRetentionOptions {
  std::chrono::seconds retention{14 * 24 * 3600};  // 0: keep every body (Sweep drops nothing)
  int batch = 500;                                 // bodies dropped per transaction
};

// One sweep at `clock`'s now: drops, in transactions of `batch`, the bodies of every delivery that
// DeliveryStore::DropProcessedBodies would at cutoff now - retention. Returns how many were dropped;
// errors: the store's (what was dropped before stays dropped). Not owned: `store`, `clock`.
Result<int64_t> SweepDeliveryBodies(DeliveryStore* store, Clock* clock, const DeliveryRetentionOptions& options);

// How often `wavebot serve` sweeps: hourly, or as often as the retention when that is shorter.
std::chrono::seconds SweepInterval(std::chrono::seconds retention);

}  // namespace wavebot::store
