#include "sandbox/sim_limits.h"

#include <algorithm>

namespace wavebot::sandbox::sim {

RateLimits::PrimaryWindow& RateLimits::Primary(const std::string& subject, TimePoint now) {
  auto [it, created] = primary_.try_emplace(subject);
  PrimaryWindow& w = it->second;
  if (created || now - w.start >= std::chrono::hours(1)) {
    w.start = now;
    w.used = 0;
  }
  return w;
}

int64_t RateLimits::TakeContentSlot(const std::string& subject, TimePoint now) {
  if (opt_.content_per_minute <= 0 && opt_.content_per_hour <= 0) return 0;
  std::deque<TimePoint>& q = content_[subject];
  // A request at t counts while now < t + window.
  while (!q.empty() && q.front() + std::chrono::hours(1) <= now) q.pop_front();
  TimePoint free_at = now;
  auto check = [&](int limit, std::chrono::seconds window) {
    if (limit <= 0) return;
    // The requests inside this window are the latest ones; the limit-th latest must leave it first.
    const int64_t inside = std::count_if(q.begin(), q.end(), [&](TimePoint t) { return t + window > now; });
    if (inside < limit) return;
    free_at = std::max(free_at, q[q.size() - static_cast<size_t>(limit)] + window);
  };
  check(opt_.content_per_minute, std::chrono::minutes(1));
  check(opt_.content_per_hour, std::chrono::hours(1));
  if (free_at == now) {
    q.push_back(now);
    return 0;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(free_at - now).count();
  return std::max<int64_t>(1, (ms + 999) / 1000);
}

int64_t RateLimits::TakePoints(const std::string& subject, TimePoint now, int points) {
  if (opt_.points_per_minute <= 0) return 0;
  Points& p = points_[subject];
  // A request at t counts while now < t + a minute.
  while (!p.taken.empty() && p.taken.front().first + std::chrono::minutes(1) <= now) {
    p.sum -= p.taken.front().second;
    p.taken.pop_front();
  }
  if (p.sum + points <= opt_.points_per_minute) {
    p.taken.emplace_back(now, points);
    p.sum += points;
    return 0;
  }
  // The oldest requests leave the minute first: room once enough of them have left.
  int64_t left = p.sum;
  TimePoint free_at = now;
  for (const auto& [t, n] : p.taken) {
    left -= n;
    free_at = t + std::chrono::minutes(1);
    if (left + points <= opt_.points_per_minute) break;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(free_at - now).count();
  return std::max<int64_t>(1, (ms + 999) / 1000);
}

}  // namespace wavebot::sandbox::sim
