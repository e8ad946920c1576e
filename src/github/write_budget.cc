#include "github/write_budget.h"

#include <algorithm>
#include <iterator>

namespace wavebot::github {
namespace {

using std::chrono::system_clock;
constexpr std::chrono::minutes kMinute{1};
constexpr std::chrono::hours kHour{1};

}  // namespace

int64_t WriteBudget::CountSince(const Key& k, system_clock::time_point since) {
  return static_cast<int64_t>(std::distance(k.slots.upper_bound(since), k.slots.end()));
}

WriteBudget::Grant WriteBudget::Take(const std::string& key, system_clock::time_point now, WritePriority priority) {
  Key& k = keys_[key];
  // A slot taken at t counts while now < t + 1 h.
  k.slots.erase(k.slots.begin(), k.slots.upper_bound(now - kHour));
  Grant g;
  g.at = now;
  if (priority == WritePriority::kDeferrable) {
    // Counted with the reservations of writes waiting for their time: a deferrable write never goes
    // ahead of an urgent one that waits.
    const bool minute_low =
        limits_.per_minute > 0 && CountSince(k, now - kMinute) >= limits_.per_minute - limits_.MinuteReserve();
    const bool hour_low =
        limits_.per_hour > 0 && static_cast<int64_t>(k.slots.size()) >= limits_.per_hour - limits_.HourReserve();
    if (minute_low || hour_low) {
      ++k.deferred;
      g.deferred = true;
      return g;
    }
    k.slots.insert(now);
    return g;
  }
  // Urgent: the earliest time, not before any slot already given out (so waiting writes keep their
  // order), at which fewer than `limit` slots lie in the window ending there. With every slot at or
  // before that time, those are the latest ones: the limit-th latest must have left the window.
  system_clock::time_point at = now;
  if (!k.slots.empty()) at = std::max(at, *k.slots.rbegin());
  const int64_t n = static_cast<int64_t>(k.slots.size());
  auto nth_latest = [&k](int64_t i) { return *std::next(k.slots.rbegin(), i - 1); };
  if (limits_.per_minute > 0 && n >= limits_.per_minute) at = std::max(at, nth_latest(limits_.per_minute) + kMinute);
  if (limits_.per_hour > 0 && n >= limits_.per_hour) at = std::max(at, nth_latest(limits_.per_hour) + kHour);
  k.slots.insert(at);
  g.at = at;
  g.waits = at > now;
  if (g.waits) {
    ++k.waits;
    k.waited_ms += std::chrono::duration_cast<std::chrono::milliseconds>(at - now).count();
  }
  return g;
}

void WriteBudget::Release(const std::string& key, system_clock::time_point at, system_clock::time_point taken_at) {
  auto it = keys_.find(key);
  if (it == keys_.end()) return;
  Key& k = it->second;
  auto slot = k.slots.find(at);
  if (slot == k.slots.end()) return;
  k.slots.erase(slot);
  if (at > taken_at) {
    --k.waits;
    k.waited_ms -= std::chrono::duration_cast<std::chrono::milliseconds>(at - taken_at).count();
  }
}

void WriteBudget::Settle(const std::string& key, system_clock::time_point at, system_clock::time_point done) {
  if (done <= at) return;
  auto it = keys_.find(key);
  if (it == keys_.end()) return;
  auto slot = it->second.slots.find(at);
  if (slot == it->second.slots.end()) return;
  it->second.slots.erase(slot);
  it->second.slots.insert(done);
}

std::vector<WriteBudgetUsage> WriteBudget::Usage(system_clock::time_point now) const {
  std::vector<WriteBudgetUsage> out;
  for (const auto& [key, k] : keys_) {
    WriteBudgetUsage u;
    u.key = key;
    u.in_last_minute = CountSince(k, now - kMinute);
    u.in_last_hour = CountSince(k, now - kHour);
    u.waits = k.waits;
    u.waited_ms = k.waited_ms;
    u.deferred = k.deferred;
    out.push_back(u);
  }
  return out;
}

}  // namespace wavebot::github
