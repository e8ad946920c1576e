#include "engine/refusal_limiter.h"

#include <algorithm>
#include <cctype>

namespace wavebot::engine {

RefusalLimiter::RefusalLimiter(std::chrono::seconds interval, size_t max_entries)
    : interval_(interval), max_entries_(std::max<size_t>(1, max_entries)) {}

bool RefusalLimiter::Allow(const std::string& repo, int64_t number, const std::string& login, int64_t comment_id,
                           TimePoint now) {
  if (interval_.count() <= 0) return true;
  std::string user = login, where = repo;
  for (auto* s : {&user, &where}) {  // GitHub names are case-insensitive
    std::transform(s->begin(), s->end(), s->begin(), [](unsigned char c) { return std::tolower(c); });
  }
  auto key = std::make_tuple(where, number, user);
  std::lock_guard lock(mu_);
  auto it = answered_.find(key);
  if (it != answered_.end() && it->second.comment_id != comment_id && now - it->second.answered_at < interval_) {
    ++suppressed_;
    return false;
  }
  answered_[key] = {now, comment_id};
  if (answered_.size() > max_entries_) {
    std::erase_if(answered_, [&](const auto& kv) { return now - kv.second.answered_at >= interval_; });
    while (answered_.size() > max_entries_) {
      auto oldest = std::min_element(answered_.begin(), answered_.end(), [](const auto& a, const auto& b) {
        return a.second.answered_at < b.second.answered_at;
      });
      answered_.erase(oldest);
    }
  }
  return true;
}

int64_t RefusalLimiter::suppressed() const {
  std::lock_guard lock(mu_);
  return suppressed_;
}

size_t RefusalLimiter::size() const {
  std::lock_guard lock(mu_);
  return answered_.size();
}

}  // namespace wavebot::engine
