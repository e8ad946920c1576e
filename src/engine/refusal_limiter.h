// How often wavebot answers a refused `/wave` command: at most once per (repository, issue, user) per
// interval, so that an outsider's comment spam costs one reply, not one per comment (each reply and
// reaction spends the App's rate limit). Holds a bounded number of entries. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace wavebot::engine {

class RefusalLimiter {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  // `interval` 0: every refusal is answered. At most `max_entries` (user, issue) pairs are remembered; past
  // that, expired ones are forgotten first, then the oldest (which can only mean one reply more).
  explicit RefusalLimiter(std::chrono::seconds interval, size_t max_entries = 4096);

  // True when the refusal of `comment_id` by `login` on `repo`#`number` may be answered at `now` (then it
  // is recorded as answered): the first of the interval, or the same comment again (a retried delivery
  // whose reply failed). False while another comment of theirs there was answered within the interval.
  bool Allow(const std::string& repo, int64_t number, const std::string& login, int64_t comment_id, TimePoint now);

  // Refusals not answered so far (for /metrics).
  int64_t suppressed() const;
  // Pairs remembered now (for tests).
  size_t size() const;

 private:
  struct Entry {
    TimePoint answered_at;
    int64_t comment_id = 0;
  };
  const std::chrono::seconds interval_;
  const size_t max_entries_;
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, int64_t, std::string>, Entry> answered_;  // guarded by mu_; login lower-case
  int64_t suppressed_ = 0;                                                  // guarded by mu_
};

}  // namespace wavebot::engine
