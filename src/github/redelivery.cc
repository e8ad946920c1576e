#include "github/redelivery.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <vector>

#include "common/clock.h"

namespace wavebot::github {

Redeliverer::Redeliverer(AppApi* api, Clock* clock, RedeliveryOptions options)
    : api_(api), clock_(clock), options_(options) {}

Result<RedeliveryStats> Redeliverer::RunOnce() {
  std::lock_guard lock(mu_);
  auto now = clock_->Now();
  auto since = std::chrono::duration_cast<std::chrono::seconds>((now - options_.window).time_since_epoch()).count();
  auto list = api_->ListDeliveries(since);
  if (!list.ok()) return list.error().Wrap("listing webhook deliveries");
  RedeliveryStats stats;
  stats.listed = static_cast<int>(list->size());
  std::set<std::string> ok_guids;
  std::map<std::string, int64_t> latest_failed;  // guid -> delivery id of its newest failed attempt
  for (const auto& d : *list) {
    if (d.status_code >= 200 && d.status_code < 300) {
      ok_guids.insert(d.guid);
    } else if (!latest_failed.count(d.guid) || latest_failed[d.guid] < d.id) {
      latest_failed[d.guid] = d.id;
    }
  }
  // Oldest first, so events reach wavebot in roughly their original order.
  std::vector<std::pair<int64_t, std::string>> order;
  for (const auto& [guid, id] : latest_failed) order.emplace_back(id, guid);
  std::sort(order.begin(), order.end());
  for (const auto& [id, guid] : order) {
    if (ok_guids.count(guid)) continue;
    ++stats.failed;
    auto it = asked_.find(guid);
    if (it != asked_.end() && it->second.times >= options_.max_asks) {
      ++stats.given_up;
      continue;
    }
    if (it != asked_.end() && now < it->second.next) {
      ++stats.already_asked;
      continue;
    }
    auto st = api_->RedeliverDelivery(id);
    if (!st.ok()) {
      spdlog::warn("webhook redelivery of {} failed: {}", guid, st.error().ToString());
      continue;
    }
    Asked& a = asked_[guid];
    if (a.times++ == 0) a.first = now;
    a.next = now + options_.first_backoff * (int64_t{1} << std::min(a.times - 1, 20));
    if (a.times == options_.max_asks) {
      spdlog::warn("webhook delivery {} failed again after {} redeliveries: not asking again (the resync will "
                   "catch up on what it said)", guid, a.times);
    }
    ++stats.redelivered;
  }
  // Forget guids that left the window, so memory stays bounded.
  for (auto it = asked_.begin(); it != asked_.end();) {
    it = (now - it->second.first > options_.window) ? asked_.erase(it) : std::next(it);
  }
  if (stats.redelivered > 0) spdlog::info("asked GitHub to redeliver {} failed webhook(s)", stats.redelivered);
  return stats;
}

}  // namespace wavebot::github
